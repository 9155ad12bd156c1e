"""The web demo's handlers without a browser (meshflow.demo.handlers), on a tiny random model."""
import os

import numpy as np
import pygltflib
import pytest

from meshflow.demo import Demo, DemoConfig, DemoRequest, handlers
from meshflow.errors import MeshFileError, MeshflowError
from meshflow.io import load_animation
from meshflow.io.mesh import read_mesh

EXAMPLE = handlers.EXAMPLE_DIR / "quadruped.glb"


def runs(demo):
    return sorted(os.listdir(demo.runs)) if demo.runs.exists() else []


def test_example_request_writes_its_outputs_in_the_app_folder(demo, tiny_pipe):
    steps = []
    result = demo.animate(DemoRequest(example="quadruped", prompt="the dog hops", seed=3, steps=2),
                          progress=lambda done, total, what: steps.append((done, total, what)))
    run = demo.runs / runs(demo)[0]
    assert [p.name for p in sorted(run.iterdir())] == ["quadruped.gif", "quadruped.glb", "quadruped.npz"]
    assert result.glb.parent == result.npz.parent == result.preview.parent == run
    assert str(run).startswith(str(demo.root)) and str(demo.root).startswith(demo.config.temp_dir)
    # Reference: the pipeline called directly with the same inputs, then looped (the page's default).
    expected = tiny_pipe(EXAMPLE, "the dog hops", steps=2, seed=3).looped()
    np.testing.assert_allclose(load_animation(result.npz).vertices, expected.vertices, atol=1e-6)
    gltf = pygltflib.GLTF2().load(str(result.glb))
    assert len(gltf.animations) == 1
    assert all(len(p.targets) == expected.num_frames for m in gltf.meshes for p in m.primitives)
    assert result.preview.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    assert (1, 1, "sampling") in steps  # 2 steps: one solver step
    for part in ("1006 vertices", f"- **tokens**: {expected.tokens}\n", "2 steps, guidance 3", "seed 3", "looping",
                 "'the dog hops'", "sample ", "decode ", "preview ", "total "):
        assert part in result.summary


def test_progress_reports_every_solver_step(demo):
    steps = []
    demo.animate(DemoRequest(example="fish", prompt="swim", steps=5), progress=lambda *a: steps.append(a))
    assert [s[:2] for s in steps if s[2] == "sampling"] == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_the_solver_reaches_the_pipeline(demo, tiny_pipe):
    assert demo.defaults().solver == "midpoint"  # the model's (its config.json), as sampling_options gives
    steps = []
    heun = demo.animate(DemoRequest(example="fish", prompt="swim", seed=1, steps=3, solver="heun", loop=False),
                        progress=lambda *a: steps.append(a))
    default = demo.animate(DemoRequest(example="fish", prompt="swim", seed=1, steps=3, loop=False))
    fish = handlers.EXAMPLE_DIR / "fish.glb"
    reference = tiny_pipe(fish, "swim", steps=3, seed=1, solver="heun")
    np.testing.assert_allclose(heun.animation.vertices, reference.vertices, atol=1e-6)
    np.testing.assert_allclose(default.animation.vertices, tiny_pipe(fish, "swim", steps=3, seed=1).vertices, atol=1e-6)
    # heun is not midpoint: on the tiny random model they differ by ~7e-5, far above the 1e-6 of a rerun
    assert np.abs(heun.animation.vertices - default.animation.vertices).max() > 2e-5
    assert "3 steps, guidance 3, heun, seed 1" in heun.summary and ", midpoint, seed 1" in default.summary
    assert [s[:2] for s in steps if s[2] == "sampling"] == [(1, 2), (2, 2)]  # heun: two model calls per step


def test_the_proxy_reaches_the_pipeline(demo, tiny_pipe):
    result = demo.animate(DemoRequest(example="quadruped", prompt="hop", seed=2, steps=2, proxy=300, loop=False))
    expected = tiny_pipe(EXAMPLE, "hop", steps=2, seed=2, proxy=300)
    assert result.animation.num_vertices == expected.num_vertices == 1006  # every vertex kept
    np.testing.assert_allclose(result.animation.vertices, expected.vertices, atol=1e-6)
    assert any(n.startswith("animated a proxy of ") for n in expected.notes)
    assert "- note: animated a proxy of " in result.summary
    whole = demo.animate(DemoRequest(example="quadruped", prompt="hop", seed=2, steps=2, proxy=0, loop=False))
    assert "proxy" not in whole.summary  # 0: every vertex (and the default for a mesh this small)
    np.testing.assert_allclose(whole.animation.vertices, tiny_pipe(EXAMPLE, "hop", steps=2, seed=2).vertices, atol=1e-6)


def test_rigidity_reaches_the_pipeline(demo, tiny_pipe):
    fish = handlers.EXAMPLE_DIR / "fish.glb"
    assert demo.defaults().rigidity == 0.0  # the model's: the tiny model sets none
    stiff = demo.animate(DemoRequest(example="fish", prompt="swim", seed=1, steps=2, rigidity=0.02, loop=False))
    np.testing.assert_allclose(stiff.animation.vertices,
                               tiny_pipe(fish, "swim", steps=2, seed=1, rigidity=0.02).vertices, atol=1e-6)
    plain = tiny_pipe(fish, "swim", steps=2, seed=1)
    assert np.abs(stiff.animation.vertices - plain.vertices).max() > 1e-4  # refined: not the plain decode
    assert "- note: shape refined towards as-rigid-as-possible motion (rigidity 0.02)" in stiff.summary
    off = demo.animate(DemoRequest(example="fish", prompt="swim", seed=1, steps=2, rigidity=0.0, loop=False))
    np.testing.assert_allclose(off.animation.vertices, plain.vertices, atol=1e-6)
    assert "rigidity" not in off.summary


def test_match_prompt_reaches_the_pipeline_and_the_summary_notes_the_reading(make_demo, vocab_pipe):
    """The vocabulary model's flow section turns matching on (rigidity 0.01): None is the model's, False turns it off."""
    demo, fish = make_demo(pipeline=vocab_pipe), handlers.EXAMPLE_DIR / "fish.glb"
    assert demo.has_vocabulary() and demo.defaults().match_prompt is True and demo.defaults().rigidity == 0.01
    read = demo.animate(DemoRequest(example="fish", prompt="the fish leaps up", seed=1, steps=2, loop=False))
    reference = vocab_pipe(fish, "the fish leaps up", steps=2, seed=1, match_prompt=True, rigidity=0.01)
    np.testing.assert_allclose(read.animation.vertices, reference.vertices, atol=1e-6)
    reading = next(n for n in reference.notes if n.startswith("prompt read as "))
    assert reading.startswith('prompt read as "the fish jumps" (the closest phrase the model was trained on')
    assert f"- note: {reading}" in read.summary and "- **prompt**: 'the fish leaps up'" in read.summary
    raw = demo.animate(DemoRequest(example="fish", prompt="the fish leaps up", seed=1, steps=2, match_prompt=False,
                                   rigidity=0.0, loop=False))
    np.testing.assert_allclose(raw.animation.vertices, vocab_pipe(fish, "the fish leaps up", steps=2, seed=1,
                                                                 match_prompt=False, rigidity=0.0).vertices, atol=1e-6)
    assert "read as" not in raw.summary and "rigidity" not in raw.summary
    assert np.abs(read.animation.vertices - raw.animation.vertices).max() > 1e-4


def test_match_prompt_without_a_vocabulary_is_one_line(demo, tiny_pipe):
    assert demo.has_vocabulary() is False
    message = (rf"^Expected a model with a prompt vocabulary \({tiny_pipe.model_dir}/vocabulary.json\) to match "
               r"prompts \(got none; run without prompt matching\)$")
    with pytest.raises(MeshflowError, match=message):
        demo.animate(DemoRequest(example="fish", prompt="swim", steps=2, match_prompt=True))
    assert runs(demo) == []
    assert demo.animate(DemoRequest(example="fish", prompt="swim", steps=2, match_prompt=False)).glb.is_file()


def test_upload_wins_over_the_example_and_samples_are_ranked(demo, tmp_path):
    upload = tmp_path / "upload" / "ball.obj"
    upload.parent.mkdir()
    upload.write_text(read_mesh_obj())
    result = demo.animate(DemoRequest(mesh=str(upload), example="quadruped", prompt="", steps=2, num_samples=2,
                                      frames=5, loop=False))
    assert result.glb.name == "ball.glb" and result.animation.num_frames == 5
    assert "- **prompt**: (empty: unconditional)" in result.summary
    assert "note: empty prompt: sampled unconditionally" in result.summary
    assert "2 seeds 0-1 in one batch; best: seed" in result.summary and "looping" not in result.summary


def read_mesh_obj() -> str:
    """An octahedron as OBJ text (6 vertices, 8 faces)."""
    v = ["1 0 0", "-1 0 0", "0 1 0", "0 -1 0", "0 0 1", "0 0 -1"]
    f = ["1 3 5", "3 2 5", "2 4 5", "4 1 5", "3 1 6", "2 3 6", "4 2 6", "1 4 6"]
    return "".join(f"v {x}\n" for x in v) + "".join(f"f {x}\n" for x in f)


@pytest.mark.parametrize("name, content, message", [
    ("notes.txt", b"hello", r"notes.txt: Expected a mesh file \(.glb, .gltf, .obj, .ply, .stl, .off\) \(got '.txt'\)"),
    ("noext", b"hello", r"got 'no extension'"),
    ("fake.glb", b"not a glb at all", r"^fake.glb: not a valid binary glTF \(GLB\) file$"),
    ("empty.obj", b"", r"^empty.obj: file is empty$"),
    ("bad.obj", b"v 0 0 0\nf 1 2 3\n", r"^bad.obj: line 2: face index 2 is out of range"),
])
def test_non_mesh_uploads_are_messages_and_leave_nothing(demo, tmp_path, name, content, message):
    upload = tmp_path / name
    upload.write_bytes(content)
    with pytest.raises(MeshflowError, match=message):
        demo.animate(DemoRequest(mesh=str(upload), prompt="x", steps=2))
    assert runs(demo) == []


def test_limits(make_demo, tmp_path):
    small = make_demo(max_vertices=100, max_upload_mb=0.05, max_steps=8, max_frames=20, max_samples=2)
    with pytest.raises(MeshFileError, match=r"^quadruped.glb: Expected a mesh of at most 100 vertices \(got 1006; "
                                            r"start the demo with --max-vertices to allow more\)$"):
        small.animate(DemoRequest(example="quadruped", steps=2))
    big = tmp_path / "big.obj"
    big.write_text(read_mesh_obj() + "# padding\n" * 10_000)  # 100 kB
    with pytest.raises(MeshFileError, match=r"^big.obj: Expected an upload of at most 0.05 MB \(got 0.1 MB; "
                                            r"start the demo with --max-upload-mb"):
        small.animate(DemoRequest(mesh=str(big), steps=2))
    for field, value in (("steps", 9), ("frames", 21), ("num_samples", 3)):
        with pytest.raises(MeshflowError, match=rf"^Expected '{field}' to be at most \d+ in this demo \(got {value}\)"):
            small.animate(DemoRequest(example="fish", **{field: value}))
    assert runs(small) == []


@pytest.mark.parametrize("request_, message", [
    (DemoRequest(example="fish", steps=1), r"^Expected 'steps' to be an integer of at least 2 \(got 1\)$"),
    (DemoRequest(example="fish", seed=-1), r"^Expected 'seed' to be an integer of at least 0 \(got -1\)$"),
    (DemoRequest(example="fish", guidance=float("nan")), r"^Expected 'guidance' to be a finite number \(got nan\)$"),
    (DemoRequest(example="fish", num_samples=0), r"^Expected 'num_samples' to be an integer of at least 1"),
    (DemoRequest(example="fish", solver="adams"),
     r"^Expected 'solver' to be one of midpoint, euler, heun, rk4 \(got 'adams'\)$"),
    (DemoRequest(example="fish", proxy=10),
     r"^Expected 'proxy' to be 0 \(off\) or an integer of at least 256 \(got 10\)$"),
    (DemoRequest(example="fish", proxy=300.5), r"^Expected 'proxy' to be 0 \(off\) or an integer of at least 256"),
    (DemoRequest(example="fish", rigidity=-0.5), r"^Expected 'rigidity' to be a finite number >= 0 \(got -0.5\)$"),
    (DemoRequest(example="fish", rigidity=float("inf")), r"^Expected 'rigidity' to be a finite number \(got inf\)$"),
    (DemoRequest(example="fish", match_prompt="yes"), r"^Expected 'match_prompt' to be True or False \(got 'yes'\)$"),
    (DemoRequest(example="cow"), r"^Expected an example mesh among quadruped, fish, plant \(got 'cow'\)$"),
    (DemoRequest(), r"^Expected a mesh: upload one or pick an example \(got neither\)$"),
])
def test_bad_values_are_the_pipeline_messages(demo, request_, message):
    with pytest.raises(MeshflowError, match=message):
        demo.animate(request_)
    assert runs(demo) == []


def test_a_model_that_fails_to_load(tiny_model_dir, tmp_path):
    import shutil

    missing = tmp_path / "model"
    with Demo(DemoConfig(model=str(missing), device="cpu", temp_dir=str(tmp_path))) as demo:
        assert "the model failed to load" in demo.model_status() and "the app keeps running" in demo.model_status()
        assert demo.defaults().steps == 64 and demo.model_frames() is None  # SamplingConfig's, until it loads
        assert demo.has_vocabulary() is None
        with pytest.raises(MeshflowError, match=rf"^the model failed to load: {missing}"):
            demo.animate(DemoRequest(example="fish", steps=2))
        assert runs(demo) == []
        shutil.copytree(tiny_model_dir, missing)  # fixed while the app runs: the next request loads it
        assert demo.animate(DemoRequest(example="fish", steps=2)).glb.is_file()
        assert demo.defaults().steps == 4 and demo.model_frames() == 8  # the model's own
        (missing / "vae.safetensors").write_bytes(b"garbage")
    with Demo(DemoConfig(model=str(missing), device="cpu", temp_dir=str(tmp_path))) as demo:
        with pytest.raises(MeshflowError, match="^the model failed to load: "):
            demo.pipeline()
    assert sorted(os.listdir(tmp_path)) == ["model"]  # both apps' folders are gone


def test_old_runs_are_removed_and_close_removes_everything(make_demo, tmp_path):
    demo = make_demo(keep_runs=2)
    done = [demo.animate(DemoRequest(example="fish", steps=2, seed=s)).glb for s in range(3)]
    assert len(runs(demo)) == 2 and not done[0].exists() and done[1].exists() and done[2].exists()
    demo.close()
    assert os.listdir(tmp_path / "app") == []


def test_examples_are_built_when_the_repository_has_none(demo, monkeypatch, tmp_path):
    monkeypatch.setattr(handlers, "EXAMPLE_DIR", tmp_path / "nowhere")
    path = demo.example_path("plant")
    assert path.parent == demo.root / "examples"
    assert len(read_mesh(path).vertices) == len(read_mesh(EXAMPLE.with_name("plant.glb")).vertices)


def test_config_from_env_and_checks():
    config = DemoConfig.from_env({"GRADIO_SERVER_PORT": "7861", "MESHFLOW_DEMO_MAX_VERTICES": "1000",
                                  "MESHFLOW_DEMO_MAX_UPLOAD_MB": "2.5", "GRADIO_SERVER_NAME": "0.0.0.0"})
    assert (config.port, config.max_vertices, config.max_upload_mb, config.host) == (7861, 1000, 2.5, "0.0.0.0")
    assert DemoConfig.from_env({}) == DemoConfig()
    with pytest.raises(MeshflowError, match=r"^\$MESHFLOW_DEMO_MAX_VERTICES: Expected an integer \(got 'many'\)$"):
        DemoConfig.from_env({"MESHFLOW_DEMO_MAX_VERTICES": "many"})
    with pytest.raises(MeshflowError, match=r"^\$GRADIO_SERVER_PORT: Expected an integer \(got '7860.5'\)$"):
        DemoConfig.from_env({"GRADIO_SERVER_PORT": "7860.5"})


@pytest.mark.parametrize("field, value, message", [
    ("port", 7860.5, r"^Expected 'port' to be an integer from 1 to 65535 \(got 7860.5\)$"),
    ("port", 7860.0, r"^Expected 'port' to be an integer from 1 to 65535 \(got 7860.0\)$"),
    ("port", 0, r"^Expected 'port' to be an integer from 1 to 65535 \(got 0\)$"),
    ("port", 65536, r"^Expected 'port' to be an integer from 1 to 65535 \(got 65536\)$"),
    ("port", True, r"^Expected 'port' to be an integer from 1 to 65535 \(got True\)$"),
    ("max_vertices", 0, r"^Expected 'max_vertices' to be an integer of at least 1 \(got 0\)$"),
    ("max_vertices", 1000.5, r"^Expected 'max_vertices' to be an integer of at least 1 \(got 1000.5\)$"),
    ("keep_runs", -1, r"^Expected 'keep_runs' to be an integer of at least 1 \(got -1\)$"),
    ("max_steps", 1, r"^Expected 'max_steps' to be an integer of at least 2 \(got 1\)$"),
    ("max_upload_mb", 0, r"^Expected 'max_upload_mb' to be a positive finite number \(got 0\)$"),
    ("max_upload_mb", float("inf"), r"^Expected 'max_upload_mb' to be a positive finite number \(got inf\)$"),
])
def test_config_checks_are_the_shared_ones(field, value, message):
    with pytest.raises(MeshflowError, match=message):
        DemoConfig(**{field: value}).checked()


def test_config_accepts_its_bounds():
    assert DemoConfig(port=1).checked().port == 1 and DemoConfig(port=65535).checked().port == 65535
    assert DemoConfig(max_upload_mb=2).checked().max_upload_mb == 2 and DemoConfig(max_steps=2).checked()
