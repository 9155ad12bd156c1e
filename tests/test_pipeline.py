"""AnimationPipeline end to end on a tiny random model directory (meshflow.pipeline)."""
import shutil
from dataclasses import asdict

import numpy as np
import pytest
import torch
import trimesh

from meshflow.data.shapes import icosphere
from meshflow.errors import CheckpointError, MeshflowError
from meshflow.io import read_mesh
from meshflow.io.export import read_animation
from meshflow.pipeline import Animation, AnimationPipeline, loop_frames, resample_frames, resolve_device


def make_model_dir(path, frames: int = 8, seed: int = 0):
    """A complete model directory with small random weights and the MiniLM text encoder.

    Training initialises the decoder's output and the MMDiT's output projection to
    zero (no motion); every weight gets a little noise here so the result moves.
    """
    from meshflow.models.dymesh_vae import DyMeshVAE
    from meshflow.models.hub import save_model_dir
    from meshflow.models.mmdit import MMDiT

    torch.manual_seed(seed)
    vae = DyMeshVAE(enc_depth=1, dec_depth=1, dim=32, output_dim=3 * frames, latent_dim=8, heads=2, dim_head=16,
                    T=frames, num_traj=32, n_layers=1)
    mmdit = MMDiT(input_channels=16, output_channels=16, width=32, layers=1, heads=2, text_dim=384)
    with torch.no_grad():
        for p in list(vae.parameters()) + list(mmdit.parameters()):
            p.add_(0.05 * torch.randn_like(p))
    return save_model_dir(
        path,
        {"vae": asdict(vae.config), "mmdit": asdict(mmdit.config), "text_encoder": {"name": "minilm"}},
        {"vae": vae.state_dict(), "mmdit": mmdit.state_dict()},
        extras={"factors": {"f0_mean": 0.0, "f0_std": 1.0, "ft_mean": 0.0, "ft_std": 1.0},
                "flow": {"shape_channels": 8, "steps": 4, "guidance": 3.0, "solver": "midpoint"}},
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def pipe(model_dir):
    return AnimationPipeline.from_pretrained(model_dir, device="cpu")


@pytest.fixture
def ball(tmp_path):
    v, f = icosphere(1)
    path = tmp_path / "ball.obj"
    trimesh.Trimesh(v * np.array([1.0, 2.0, 1.0]) + 3.0, f, process=False).export(path)
    return path


def test_spot_end_to_end(pipe, shared):
    spot = shared("data", "static", "spot.obj")
    anim = pipe(spot, "the cow jumps", steps=3, seed=0)
    assert isinstance(anim, Animation)
    mesh = read_mesh(spot)
    assert anim.vertices.shape == (8, len(mesh.vertices), 3) and anim.vertices.dtype == np.float32
    assert np.isfinite(anim.vertices).all()
    assert anim.tokens == max(32, 2930 // 8) and anim.welded_vertices == 2930 and anim.seed == 0
    assert set(anim.timings) == {"read", "text", "encode", "sample", "decode"} and anim.notes == []
    # Vertices split at UV seams move together (one graph vertex each).
    graph = mesh.graph()
    src = graph.source_index.numpy()
    first = np.full(graph.num_nodes, -1)
    first[src[::-1]] = np.arange(len(src))[::-1]
    np.testing.assert_array_equal(anim.vertices, anim.vertices[:, first[src]])
    # The motion stays on the scale of the mesh (world units, not normalised ones).
    extent = np.ptp(mesh.vertices, axis=0).max()
    assert np.abs(anim.vertices - mesh.vertices[None]).max() < 5 * extent
    assert np.abs(anim.vertices.mean(axis=(0, 1)) - mesh.vertices.mean(axis=0)).max() < extent


def test_seed_and_batches(pipe, ball):
    a = pipe(ball, "a ball bounces", steps=3, seed=7)
    b = pipe(ball, "a ball bounces", steps=3, seed=7)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    assert not np.allclose(pipe(ball, "a ball bounces", steps=3, seed=8).vertices, a.vertices)

    both = pipe(ball, ["a ball bounces", "a ball spins"], steps=3, seed=7)
    assert isinstance(both, list) and [x.prompt for x in both] == ["a ball bounces", "a ball spins"]
    assert [x.seed for x in both] == [7, 8]
    np.testing.assert_allclose(both[0].vertices, a.vertices, atol=1e-4)
    single = pipe(ball, "a ball spins", steps=3, seed=8)
    np.testing.assert_allclose(both[1].vertices, single.vertices, atol=1e-4)

    pair = pipe([ball, ball], "a ball bounces", steps=3, seed=7)
    assert len(pair) == 2
    np.testing.assert_allclose(pair[0].vertices, a.vertices, atol=1e-4)
    with pytest.raises(MeshflowError, match="as many meshes as prompts"):
        pipe([ball, ball], ["a", "b", "c"], steps=3)


def test_text_cache(pipe, ball, monkeypatch):
    pipe.text_encoder.clear_cache()
    calls = []
    original = pipe.text_encoder._encode
    monkeypatch.setattr(pipe.text_encoder, "_encode", lambda texts: calls.append(list(texts)) or original(texts))
    pipe(ball, "a ball rolls", steps=2, seed=0)
    pipe(ball, ["a ball rolls", "a ball rolls"], steps=2, seed=0)
    assert calls == [["a ball rolls"]]


def test_unconditional_point_cloud_frames_tokens(pipe, ball, tmp_path):
    anim = pipe(ball, "", steps=3, seed=1)
    assert any("unconditional" in n for n in anim.notes)
    # Unconditional sampling ignores the text entirely.
    monkey = pipe(ball, "   ", steps=3, seed=1)
    np.testing.assert_allclose(monkey.vertices, anim.vertices, atol=1e-5)

    cloud = trimesh.PointCloud(np.random.default_rng(0).random((60, 3)))
    cloud.export(tmp_path / "cloud.ply")
    points = pipe(tmp_path / "cloud.ply", "it swirls", steps=2, seed=0)
    assert any("point cloud" in n for n in points.notes) and points.vertices.shape == (8, 60, 3)

    long = pipe(ball, "a ball bounces", steps=3, seed=1, frames=15, tokens=16)
    short = pipe(ball, "a ball bounces", steps=3, seed=1, tokens=16)
    assert long.tokens == 16 and long.vertices.shape[0] == 15
    np.testing.assert_allclose(long.vertices[[0, -1]], short.vertices[[0, -1]], atol=1e-5)
    np.testing.assert_allclose(long.vertices[2], short.vertices[1], atol=1e-5)  # t = 2 * 7/14 = 1


def test_save_and_loop(pipe, ball, tmp_path):
    anim = pipe(ball, "a ball bounces", steps=2, seed=3)
    looped = anim.looped()
    assert looped.loop and any("loop" in n for n in looped.notes)
    path = looped.save(tmp_path / "ball.glb")
    back = read_animation(path)
    np.testing.assert_allclose(back.vertices, looped.vertices, atol=1e-5)
    assert back.prompt == "a ball bounces"


def test_loop_frames():
    v = np.cumsum(np.ones((8, 2, 3), dtype=np.float32), axis=0)  # moves away steadily
    out, blend = loop_frames(v)
    assert blend == 2 and out.shape == v.shape
    np.testing.assert_array_equal(out[:6], v[:6])
    jump_before = np.abs(v[-1] - v[0]).max()
    jump_after = np.abs(out[-1] - out[0]).max()
    assert jump_after < 0.5 * jump_before
    np.testing.assert_array_equal(loop_frames(v[:2])[0], v[:2])


def test_resample_frames():
    traj = torch.arange(4, dtype=torch.float32).view(1, 4, 1).expand(2, 4, 3)
    out = resample_frames(traj, 7)
    assert out.shape == (2, 7, 3)
    torch.testing.assert_close(out[0, :, 0], torch.linspace(0, 3, 7))


def test_from_pretrained_errors(model_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("MESHFLOW_MODEL", raising=False)
    monkeypatch.setattr("meshflow.pipeline.BUNDLED_MODEL", tmp_path / "no-bundle")
    with pytest.raises(MeshflowError, match="this install has no bundled model: pass --model DIR"):
        AnimationPipeline.from_pretrained(None)
    with pytest.raises(CheckpointError, match="model directory not found"):
        AnimationPipeline.from_pretrained(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "mmdit.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing weight file mmdit.safetensors"):
        AnimationPipeline.from_pretrained(broken)
    (broken / "config.json").unlink()
    with pytest.raises(CheckpointError, match="missing config.json"):
        AnimationPipeline.from_pretrained(broken)


def test_converted_golden_model_without_clip(shared, tmp_path):
    from meshflow.models.convert import convert_original

    golden = shared("golden", "animateanymesh")
    out = convert_original(tmp_path / "golden", rf=golden / "official_rf_state_dict.pt",
                           config=golden / "training_config.json", factors=golden / "tiny_dvae_f.json",
                           vae=golden / "official_vae_state_dict.pt")
    # The converted directory is complete except for CLIP's weights, which cannot exist here.
    with pytest.raises(MeshflowError, match="(?i)clip"):
        AnimationPipeline.from_pretrained(out)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(MeshflowError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(MeshflowError, match="no CUDA GPU is available"):
            resolve_device("cuda")
