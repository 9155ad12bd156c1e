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
from meshflow.data.graph import file_graph
from meshflow.io import Animation, load_animation
from meshflow.io.animation import loop_frames
from meshflow.pipeline import AnimationPipeline, SamplingConfig, resample_frames, resolve_device


def make_model_dir(path, frames: int = 8, seed: int = 0):
    """A complete model directory with small random weights and the MiniLM text encoder.

    Training initialises the decoder's output and the MMDiT's output projection to
    zero (no motion); every weight gets a little noise here so the result moves.
    """
    from meshflow.models.dymesh_vae import DyMeshVAE, DyMeshVAEConfig
    from meshflow.models.hub import save_model_dir
    from meshflow.models.mmdit import MMDiT, MMDiTConfig

    torch.manual_seed(seed)
    vae = DyMeshVAE(DyMeshVAEConfig(enc_depth=1, dec_depth=1, dim=32, output_dim=3 * frames, latent_dim=8, heads=2,
                                    dim_head=16, T=frames, num_traj=32, n_layers=1))
    mmdit = MMDiT(MMDiTConfig(input_channels=16, output_channels=16, width=32, layers=1, heads=2, text_dim=384))
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
    graph = file_graph(mesh)
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
    back = load_animation(path)
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
    assert resolve_device(None) == resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(MeshflowError, match=r"Expected 'device' to be auto, cpu, cuda or cuda:N \(got 'gpu0'\)"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(MeshflowError, match="no CUDA GPU is available"):
            resolve_device("cuda")


# ------------------------------------------------------- inputs, defaults ---
NAN, INF = float("nan"), float("inf")
BAD_INPUTS = [
    (dict(steps=0), r"Expected 'steps' to be an integer of at least 2 \(got 0\)"),
    (dict(steps=1), r"Expected 'steps' to be an integer of at least 2 \(got 1\)"),
    (dict(steps=2.5), r"Expected 'steps' to be an integer of at least 2 \(got 2\.5\)"),
    (dict(frames=0), r"Expected 'frames' to be an integer of at least 1 \(got 0\)"),
    (dict(tokens=0), r"Expected 'tokens' to be an integer of at least 1 \(got 0\)"),
    (dict(tokens=True), r"Expected 'tokens' to be an integer of at least 1 \(got True\)"),
    (dict(seed=-1), r"Expected 'seed' to be an integer of at least 0 \(got -1\)"),
    (dict(seed="7"), r"Expected 'seed' to be an integer of at least 0 \(got '7'\)"),
    (dict(guidance=NAN), r"Expected 'guidance' to be a finite number \(got nan\)"),
    (dict(guidance=INF), r"Expected 'guidance' to be a finite number \(got inf\)"),
    (dict(fps=0), r"Expected 'fps' to be a positive finite number \(got 0\)"),
    (dict(fps=NAN), r"Expected 'fps' to be a positive finite number \(got nan\)"),
    (dict(solver="rk4"), r"Expected 'solver' to be 'midpoint' or 'euler' \(got 'rk4'\)"),
    (dict(device="gpu0"), r"Expected 'device' to be auto, cpu, cuda or cuda:N \(got 'gpu0'\)"),
    (dict(mesh=["a.obj", "b.obj"], prompt=["x", "y", "z"]),
     r"Expected one mesh, one prompt, or as many meshes as prompts \(got 2 meshes and 3 prompts\)"),
    (dict(mesh=[], prompt="x"), r"Expected at least one mesh and one prompt \(got 0 meshes and 1 prompts\)"),
]


@pytest.mark.parametrize("inputs, message", BAD_INPUTS)
def test_check_inputs_errors(inputs, message):
    inputs = {"mesh": "ball.obj", "prompt": "a ball bounces", **inputs}
    with pytest.raises(MeshflowError, match=f"^{message}$"):
        AnimationPipeline.check_inputs(inputs.pop("mesh"), inputs.pop("prompt"), **inputs)


def test_check_inputs_accepts_good_values_and_defaults():
    AnimationPipeline.check_inputs()  # every input at its default
    AnimationPipeline.check_inputs("ball.obj", ["a", ""], frames=1, steps=2, guidance=0.0, seed=0, tokens=1,
                                   fps=0.5, solver="euler", device="cpu")
    AnimationPipeline.check_inputs(["a.obj", "b.obj"], ["x", "y"], steps=np.int64(3), guidance=np.float32(-1.5))
    with pytest.raises(TypeError, match=r"Expected 'prompt' to be a string or a list of strings \(got \['int'\]\)"):
        AnimationPipeline.check_inputs("ball.obj", [3])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where CUDA is absent")
def test_check_inputs_cuda_absent():
    message = r"^Expected a CUDA GPU for device 'cuda' \(got none: no CUDA GPU is available here; use 'cpu' or 'auto'\)$"
    for check in (lambda: resolve_device("cuda"), lambda: AnimationPipeline.check_inputs(device="cuda")):
        with pytest.raises(MeshflowError, match=message):
            check()


@pytest.mark.parametrize("inputs, message", BAD_INPUTS[:3] + BAD_INPUTS[8:9] + BAD_INPUTS[-2:-1])
def test_call_checks_its_inputs(pipe, ball, inputs, message):
    inputs = {"mesh": ball, "prompt": "a ball bounces", **inputs}
    with pytest.raises(MeshflowError, match=f"^{message}$"):
        pipe(inputs.pop("mesh"), inputs.pop("prompt"), **inputs)


def test_sampling_defaults(pipe, ball):
    assert SamplingConfig() == SamplingConfig(steps=64, guidance=3.0, solver="midpoint", fps=24.0)
    assert SamplingConfig.from_flow(None) == SamplingConfig()
    assert SamplingConfig.from_flow({"steps": 8, "solver": "euler", "guidance": None, "fps": 5, "other": 1}) == \
        SamplingConfig(steps=8, solver="euler")
    assert pipe.sampling == SamplingConfig(steps=4)  # the model directory's flow section
    assert pipe.sampling_options() == pipe.sampling
    assert pipe.sampling_options(steps=2, guidance=0.0, fps=12) == SamplingConfig(steps=2, guidance=0.0, fps=12)
    assert pipe(ball, "a ball bounces", steps=2, seed=0).fps == SamplingConfig.fps
