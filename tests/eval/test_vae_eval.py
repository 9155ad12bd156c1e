"""meshflow.eval.vae: reconstruction error per clip against a direct computation."""
import numpy as np
import pytest
import torch

from meshflow.errors import MeshflowError
from meshflow.eval.vae import evaluate_vae, open_eval_clips
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
    again = evaluate_vae(vae, ds, tokens=12, seed=3)
    assert [r["error_sample"] for r in again.rows] == [r["error_sample"] for r in result.rows]
    s = result.to_json()
    assert s["mean"] == pytest.approx(np.mean([r["error"] for r in result.rows]))
    assert s["p90"] == pytest.approx(np.percentile([r["error"] for r in result.rows], 90))
    assert s["num_clips"] == 6 and len(s["clips"]) == 6


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
