"""AnimationPipeline end to end on a tiny random model directory (meshflow.pipeline)."""
import json
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
from meshflow.pipeline import (MIN_MOTION, STILL_PENALTY, AnimationPipeline, SamplingConfig, rank_samples,
                               resample_frames, resolve_device, score_sample)


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
    (dict(solver="rk5"), r"Expected 'solver' to be one of midpoint, euler, heun, rk4 \(got 'rk5'\)"),
    (dict(device="gpu0"), r"Expected 'device' to be auto, cpu, cuda or cuda:N \(got 'gpu0'\)"),
    (dict(num_samples=0), r"Expected 'num_samples' to be an integer of at least 1 \(got 0\)"),
    (dict(num_samples=2.5), r"Expected 'num_samples' to be an integer of at least 1 \(got 2\.5\)"),
    (dict(num_samples=True), r"Expected 'num_samples' to be an integer of at least 1 \(got True\)"),
    (dict(match_prompt="yes"), r"Expected 'match_prompt' to be True or False \(got 'yes'\)"),
    (dict(rigidity=-0.5), r"Expected 'rigidity' to be a finite number >= 0 \(got -0.5\)"),
    (dict(rigidity=NAN), r"Expected 'rigidity' to be a finite number \(got nan\)"),
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


@pytest.mark.parametrize("inputs, message", BAD_INPUTS[:3] + BAD_INPUTS[8:9] + BAD_INPUTS[-5:-4] + BAD_INPUTS[-2:-1])
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


def test_rigidity_refines_the_decoded_motion_before_ranking(pipe, ball):
    """rigidity=r is refine_shape on the welded, normalised graph of the rigidity-0 decode, then ranked."""
    from meshflow.data.rigidity import refine_shape

    assert SamplingConfig.from_flow({"rigidity": 0.02}).rigidity == 0.02 and SamplingConfig().rigidity == 0.0
    plain = pipe(ball, "a ball bounces", steps=3, seed=3, num_samples=2, return_all=True)
    stiff = pipe(ball, "a ball bounces", steps=3, seed=3, num_samples=2, return_all=True, rigidity=0.05)
    g = file_graph(read_mesh(ball))
    first = np.zeros(g.num_nodes, dtype=np.int64)
    first[g.source_index.numpy()] = np.arange(len(g.source_index))
    for a in stiff:
        raw = next(p for p in plain if p.seed == a.seed).vertices
        traj = (torch.from_numpy(raw[:, first]).permute(1, 0, 2) - g.center) / g.scale
        ref = refine_shape(g.pos, traj, g.edge_index, 0.05) * g.scale + g.center
        np.testing.assert_allclose(a.vertices, ref[g.source_index].permute(1, 0, 2).numpy(), atol=1e-4)
        assert a.score == score_sample(a.vertices, a.faces).score  # ranked on the refined motion
        assert "refine" in a.timings and any("rigidity 0.05" in n for n in a.notes)
    assert max(score_sample(a.vertices, a.faces).edge_change for a in stiff) < \
        max(score_sample(a.vertices, a.faces).edge_change for a in plain)
    assert not any("rigidity" in n for n in plain[0].notes) and "refine" not in plain[0].timings


def test_match_prompt_conditions_on_the_closest_trained_phrase(model_dir, ball, tmp_path):
    """match_prompt=True samples exactly as the matched phrase would, keeps the user's prompt and notes the reading;
    a phrase of the vocabulary reads as itself; save_pretrained keeps the vocabulary."""
    from meshflow.models.text.vocabulary import FEATURES_FILE, VOCABULARY_FILE, PromptVocabulary

    shutil.copytree(model_dir, tmp_path / "m")
    PromptVocabulary(["jumps", "walks forward", "spins around"]).save(tmp_path / "m")
    pipe = AnimationPipeline.from_pretrained(tmp_path / "m", device="cpu")
    read = pipe(ball, "the ball leaps into the air", steps=3, seed=2, match_prompt=True)
    ref = pipe(ball, "the ball jumps", steps=3, seed=2)
    np.testing.assert_array_equal(read.vertices, ref.vertices)
    assert read.prompt == "the ball leaps into the air"
    assert read.notes[-1].startswith('prompt read as "the ball jumps" (the closest phrase the model was trained on, '
                                     'similarity 0.')
    same = pipe(ball, "the ball jumps", steps=3, seed=2, match_prompt=True)
    np.testing.assert_array_equal(same.vertices, ref.vertices)
    assert not any("read as" in n for n in same.notes)
    assert pipe.sampling.match_prompt is False  # the original's default unless the model's flow section says so
    saved = pipe.save_pretrained(tmp_path / "saved")
    assert (saved / VOCABULARY_FILE).is_file() and (saved / FEATURES_FILE).is_file()
    assert AnimationPipeline.from_pretrained(saved).vocabulary.phrases == ["jumps", "walks forward", "spins around"]


def test_a_flow_section_can_turn_prompt_matching_on(model_dir, ball, tmp_path):
    """A model directory whose flow section sets match_prompt matches by default (the bundled model does); without a
    vocabulary.json it fails to load, naming the file, instead of failing at the first prompt."""
    from meshflow.models.text.vocabulary import PromptVocabulary

    shutil.copytree(model_dir, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["flow"]["match_prompt"] = True
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    message = (rf"^{tmp_path / 'm'}/config.json: its flow section turns match_prompt on but the directory has no "
               r"vocabulary.json \(write one with scripts/caption_vocabulary.py\)$")
    with pytest.raises(CheckpointError, match=message):
        AnimationPipeline.from_pretrained(tmp_path / "m", device="cpu")
    PromptVocabulary(["jumps", "spins around"]).save(tmp_path / "m")
    pipe = AnimationPipeline.from_pretrained(tmp_path / "m", device="cpu")
    assert pipe.sampling.match_prompt is True
    read = pipe(ball, "the ball leaps into the air", steps=3, seed=1)
    np.testing.assert_array_equal(read.vertices, pipe(ball, "the ball jumps", steps=3, seed=1).vertices)
    plain = pipe(ball, "the ball leaps into the air", steps=3, seed=1, match_prompt=False)
    assert not np.array_equal(plain.vertices, read.vertices) and not any("read as" in n for n in plain.notes)


def test_match_prompt_without_a_vocabulary_says_so(pipe, ball):
    assert pipe.vocabulary is None
    message = (rf"^Expected a model with a prompt vocabulary \({pipe.model_dir}/vocabulary.json\) to match prompts "
               r"\(got none; run without prompt matching\)$")
    with pytest.raises(MeshflowError, match=message):
        pipe(ball, "a ball bounces", steps=3, match_prompt=True)


# ------------------------------------------------------- ranked samples ---
def _moving(scale_of_t, shift_of_t, T: int = 9):
    """(T, N, 3) frames of an icosphere: frame t is ``scale_of_t(t) * R_t x + shift_of_t(t)`` (R_t about z)."""
    v, f = icosphere(1)
    v = v * np.array([1.0, 2.0, 0.5])  # frame-0 scale s = 2
    frames = []
    for t in range(T):
        a = 0.3 * t
        R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        frames.append(scale_of_t(t) * v @ R.T + shift_of_t(t))
    return np.stack(frames), f


def test_score_sample_hand_reference():
    T, s = 9, 2.0
    # Rigid motion (rotation + translation) that moves plenty: no edge change, no penalty.
    rigid, faces = _moving(lambda t: 1.0, lambda t: np.array([0.5 * t, 0, 0]), T)
    r = score_sample(rigid, faces)
    assert r.edge_change == pytest.approx(0, abs=1e-12) and r.motion > MIN_MOTION and r.score == pytest.approx(0, abs=1e-12)
    # Shrinking about the centre by c_t = 1 - 0.05 t: every edge changes by |c_t - 1|, so E = mean_t>=1 0.05 t.
    shrink, _ = _moving(lambda t: 1 - 0.05 * t, lambda t: np.zeros(3), T)
    c = score_sample(shrink, faces)
    assert c.edge_change == pytest.approx(np.mean([0.05 * t for t in range(1, T)]), rel=1e-5)
    assert c.motion > MIN_MOTION and c.score == pytest.approx(c.edge_change) and c.score > r.score
    # A still mesh scores the full penalty; one that drifts d < m_min * s a part of it (linear ramp).
    still = np.repeat(rigid[:1], T, axis=0)
    assert score_sample(still, faces) == score_sample(still, faces, MIN_MOTION, STILL_PENALTY)
    assert score_sample(still, faces).score == pytest.approx(STILL_PENALTY) and score_sample(still, faces).motion == 0
    d = 0.5 * MIN_MOTION * s * T / (T - 1)  # mean over all T frames (frame 0 does not move) = m_min * s / 2
    drift = rigid[:1] + np.array([[[0.0, 0.0, 0.0]]] + [[[d, 0, 0]]] * (T - 1))
    h = score_sample(drift, faces)
    assert h.motion == pytest.approx(MIN_MOTION / 2, rel=1e-5) and h.score == pytest.approx(STILL_PENALTY / 2, rel=1e-4)
    # Huge motion earns nothing beyond m_min: a far-flying rigid mesh scores as the rigid one.
    far, _ = _moving(lambda t: 1.0, lambda t: np.array([100.0 * t, 0, 0]), T)
    assert score_sample(far, faces).score == pytest.approx(r.score, abs=1e-12)
    # A point cloud has no edges: the motion penalty alone.
    assert score_sample(still, np.zeros((0, 3), np.int64)).score == pytest.approx(STILL_PENALTY)
    assert score_sample(rigid, np.zeros((0, 3), np.int64)).score == 0


def test_score_parts_are_the_eval_metrics():
    from meshflow.eval.metrics import edge_length_change, motion_amount

    v, f = icosphere(1)
    frames = (v[None] * 3 + np.random.default_rng(0).normal(0, 0.2, (6,) + v.shape) + 5).astype(np.float32)
    got = score_sample(frames, f)
    assert got.edge_change == pytest.approx(edge_length_change(frames, f), rel=1e-12)
    assert got.motion == pytest.approx(motion_amount(frames), rel=1e-12)


def test_rank_samples():
    rigid, faces = _moving(lambda t: 1.0, lambda t: np.array([0.5 * t, 0, 0]))
    shrink, _ = _moving(lambda t: 1 - 0.05 * t, lambda t: np.zeros(3))
    still = np.repeat(rigid[:1], len(rigid), axis=0)
    cands = [Animation(vertices=v, faces=faces, seed=3 + n) for n, v in enumerate([still, shrink, rigid])]
    ranked = rank_samples(cands)
    assert [a.seed for a in ranked] == [5, 3, 4]  # rigid, still (penalised), shrinking (worst)
    assert [a.score for a in ranked] == sorted(a.score for a in ranked) and ranked[1].score == pytest.approx(0.1)
    note = ranked[0].notes[-1]
    assert note.startswith("best of 3 samples by score, lower is better: seed 5 0.0000 (edge change 0.0000, motion ")
    assert note.endswith("seed 3 0.1000 (edge change 0.0000, motion 0.000), seed 4 0.2250 (edge change 0.2250, "
                         f"motion {score_sample(shrink, faces).motion:.3f})")  # E = mean_t 0.05 t = 0.225
    assert all(a.notes == [] for a in ranked[1:]) and all(a.score is None for a in cands)  # inputs untouched
    tie = rank_samples([Animation(vertices=rigid, faces=faces, seed=9), Animation(vertices=rigid, faces=faces, seed=8)])
    assert [a.seed for a in tie] == [9, 8]  # ties keep the sample order


def test_num_samples_one_batch(pipe, ball):
    ticks = []
    ranked = pipe(ball, "a ball bounces", steps=3, seed=7, num_samples=3, return_all=True,
                  progress=lambda total: ticks.append(total) or (lambda: ticks.append(0)))
    assert ticks == [4] + [0] * 4  # one batched solve: (steps - 1) x 2 midpoint calls, as for one sample
    assert sorted(a.seed for a in ranked) == [7, 8, 9]
    assert [a.score for a in ranked] == sorted(a.score for a in ranked)
    for a in ranked:  # each candidate is the single call with its seed, scored on its own vertices
        np.testing.assert_allclose(a.vertices, pipe(ball, "a ball bounces", steps=3, seed=a.seed).vertices, atol=1e-4)
        assert a.score == score_sample(a.vertices, a.faces).score and "score" in a.timings
    best = pipe(ball, "a ball bounces", steps=3, seed=7, num_samples=3)
    assert isinstance(best, Animation) and best.seed == ranked[0].seed and best.score == ranked[0].score
    np.testing.assert_array_equal(best.vertices, ranked[0].vertices)
    assert any(n.startswith("best of 3 samples") for n in best.notes)
    one = pipe(ball, "a ball bounces", steps=3, seed=7)
    assert one.score is None and "score" not in one.timings and one.notes == []
    assert pipe(ball, "a ball bounces", steps=3, seed=7, return_all=True)[0].score is None


def test_num_samples_with_several_pairs(pipe, ball):
    prompts = ["a ball bounces", "a ball spins"]
    plain = pipe(ball, prompts, steps=3, seed=7)
    ranked = pipe(ball, prompts, steps=3, seed=7, num_samples=2, return_all=True)
    assert [len(r) for r in ranked] == [2, 2] and [r[0].prompt for r in ranked] == prompts
    assert [sorted(a.seed for a in r) for r in ranked] == [[7, 9], [8, 10]]  # sample n of pair p: seed + p + 2n
    for p, r in enumerate(ranked):  # sample 0 of each pair is what the call without num_samples gives
        first = next(a for a in r if a.seed == 7 + p)
        np.testing.assert_allclose(first.vertices, plain[p].vertices, atol=1e-4)
    best = pipe(ball, prompts, steps=3, seed=7, num_samples=2)
    assert [b.seed for b in best] == [r[0].seed for r in ranked]


def test_score_is_not_saved(pipe, ball, tmp_path):
    anim = pipe(ball, "a ball bounces", steps=2, seed=0, num_samples=2)
    assert anim.score is not None
    for name in ("best.npz", "best.glb"):
        back = load_animation(anim.save(tmp_path / name))
        assert back.score is None and back.seed is None  # provenance is not written, score as seed
        np.testing.assert_allclose(back.vertices, anim.vertices, atol=1e-5)
