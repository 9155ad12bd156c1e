"""meshflow.eval.vae: reconstruction error per clip against a direct computation."""
import numpy as np
import pytest
import torch

from meshflow.errors import MeshflowError
from meshflow.data.dataset import clip_to_data
from meshflow.eval.vae import evaluate_vae, open_eval_clips, still_error
from meshflow.models.dymesh_vae import DyMeshVAE, DyMeshVAEConfig


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    model = DyMeshVAE(DyMeshVAEConfig(enc_depth=1, dec_depth=1, dim=32, output_dim=24, latent_dim=8, heads=2,
                                      dim_head=16, T=8, num_traj=16, n_layers=1))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))  # the output layer starts at zero: make it move
    return model.eval()


def test_errors_match_a_direct_forward(vae, clip_folder):
    ds = open_eval_clips(clip_folder, frames=8)
    result = evaluate_vae(vae, ds, tokens=12, seed=3)
    assert len(result.rows) == len(ds) == 6
    for row, i in zip(result.rows, range(len(ds))):
        data = ds[i]
        with torch.no_grad():
            out = vae(data, num_tokens=12, sample_posterior=False)
        target = data.pos.unsqueeze(1) + data.traj
        ref = (out.recon - target).norm(dim=-1).mean().item()
        assert row["error"] == pytest.approx(ref, rel=1e-5)
        assert row["tokens"] == 12 and row["vertices"] == data.num_nodes and row["seconds"] > 0
        assert row["source"] == data.source and row["caption"] == data.caption
        assert row["error_sample"] != row["error"]  # a posterior sample decodes differently
        assert row["error_still"] == pytest.approx((target - data.pos.unsqueeze(1)).norm(dim=-1).mean().item())
    again = evaluate_vae(vae, ds, tokens=12, seed=3)
    assert [r["error_sample"] for r in again.rows] == [r["error_sample"] for r in result.rows]
    s = result.to_json()
    assert s["mean"] == pytest.approx(np.mean([r["error"] for r in result.rows]))
    assert s["p90"] == pytest.approx(np.percentile([r["error"] for r in result.rows], 90))
    assert s["num_clips"] == 6 and len(s["clips"]) == 6
    assert s["mean_still"] == pytest.approx(np.mean([r["error_still"] for r in result.rows]))
    assert s["p90_still"] == pytest.approx(np.percentile([r["error_still"] for r in result.rows], 90))


def test_still_baseline_by_hand(vae):
    """A square whose vertices move by known offsets: the baseline is their mean length, and a
    VAE's error on the clip is read beside it (an untrained decoder that outputs almost no motion
    scores close to the baseline)."""
    rest = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32) - 0.5
    frames = np.repeat(rest[None], 8, axis=0)
    frames[:, 0] += np.linspace(0, 0.7, 8)[:, None] * np.array([3.0, 4.0, 0.0]) / 5  # |offset| = 0.1 t
    frames[:, 2, 2] -= np.linspace(0, 0.35, 8)  # |offset| = 0.05 t
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    data = clip_to_data(frames, faces, "a square moves", source="square")
    # per vertex mean over 8 frames: 0.35 and 0.175; vertices 1 and 3 still: (0.35 + 0.175) / 4
    assert still_error(data.traj) == pytest.approx(0.525 / 4, rel=1e-6)
    (row,) = evaluate_vae(vae, [data], tokens=4).rows
    assert row["error_still"] == pytest.approx(0.525 / 4, rel=1e-6)
    with torch.no_grad():
        recon = vae(data, num_tokens=4, sample_posterior=False).recon
    assert row["error"] == pytest.approx((recon - data.pos.unsqueeze(1) - data.traj).norm(dim=-1).mean().item(),
                                         rel=1e-5)
    assert row["error"] != pytest.approx(row["error_still"])  # the decoder's motion is not zero
    with pytest.raises(ValueError, match=r"Expected 'traj' to have shape \(N, T, 3\) \(got \(4, 3\)\)"):
        still_error(torch.zeros(4, 3))


def test_animation_files_give_the_same_clips(vae, labelled_anims, clip_folder):
    folder, _ = labelled_anims
    from_files = evaluate_vae(vae, open_eval_clips(folder, frames=8), tokens=12)
    from_clips = evaluate_vae(vae, open_eval_clips(clip_folder, frames=8), tokens=12)
    by_caption = {r["caption"]: r["error"] for r in from_clips.rows}
    assert sorted(by_caption) == sorted(r["caption"] for r in from_files.rows)
    for r in from_files.rows:  # welded and normalised alike (float32 storage in the shards)
        assert r["error"] == pytest.approx(by_caption[r["caption"]], rel=1e-4)


def test_open_eval_clips_errors(tmp_path, clip_folder):
    with pytest.raises(MeshflowError, match="nowhere: no such file"):
        open_eval_clips(tmp_path / "nowhere", frames=8)
    with pytest.raises(MeshflowError, match="has 8 frames|its clips have 8 frames, the model decodes 16"):
        open_eval_clips(clip_folder, frames=16)
    (tmp_path / "mesh.obj").write_text("v 0 0 0\n")
    with pytest.raises(MeshflowError, match="mesh.obj: not an animation file"):
        open_eval_clips(tmp_path / "mesh.obj", frames=8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MeshflowError, match="no clip folder .* and no animation files"):
        open_eval_clips(tmp_path / "empty", frames=8)
