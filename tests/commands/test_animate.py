"""`meshflow animate` (and `meshflow preview` of its output) end to end on Spot with a tiny model directory."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import torch
import trimesh

from meshflow.commands.animate import sample_path
from meshflow.commands.main import main
from meshflow.errors import MeshflowError
from meshflow.io import read_mesh
from meshflow.io import load_animation
from meshflow.pipeline import AnimationPipeline

MESH = Path(__file__).resolve().parents[2] / "graphs" / "examples" / "quadruped.glb"


@pytest.fixture
def out_dir(tmp_path):
    path = tmp_path / "out"
    path.mkdir()
    return path


def animate(*args):
    return main(["animate", *map(str, args), "--steps", "3", "-q"])


def fails_cleanly(capsys, out_dir, rc, pattern):
    """rc 2, one error line naming the problem, nothing written."""
    import re

    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("meshflow animate: error: ") and re.search(pattern, err[0]), err
    assert os.listdir(out_dir) == []


def test_animate_spot_glb_and_preview(shared, model_dir, out_dir, capsys):
    spot = shared("data", "static", "spot.obj")
    out = out_dir / "cow.glb"
    rc = animate(spot, "--prompt", "the cow jumps", "-o", out, "--model", model_dir, "--seed", "0")
    stdout = capsys.readouterr().out
    assert rc == 0 and out.is_file()
    for key in ("3225 vertices, 2930 welded", "tokens", "device    cpu", "seed 0", "sample ", "decode ", "8 frames"):
        assert key in stdout, stdout
    assert os.listdir(out_dir) == ["cow.glb"]

    # A GLB that players accept: T morph targets, weights animated, Spot's UVs intact.
    gltf = pygltflib.GLTF2().load(str(out))
    prim = gltf.meshes[0].primitives[0]
    assert len(prim.targets) == 8 and len(gltf.meshes[0].weights) == 8
    assert gltf.animations[0].channels[0].target.path == "weights"
    mesh = read_mesh(spot)
    (geom,) = trimesh.load(str(out), force="scene", process=False).geometry.values()
    np.testing.assert_allclose(geom.visual.uv, mesh.parts[0].mesh.visual.uv, atol=1e-7)
    np.testing.assert_array_equal(geom.faces, mesh.faces)
    anim = load_animation(out)
    assert anim.vertices.shape == (8, 3225, 3) and anim.prompt == "the cow jumps"

    # Same seed, same animation (as npz this time).
    rc = animate(spot, "--prompt", "the cow jumps", "-o", out_dir / "cow.npz", "--model", model_dir, "--seed", "0")
    assert rc == 0
    np.testing.assert_allclose(load_animation(out_dir / "cow.npz").vertices, anim.vertices, atol=1e-5)

    from meshflow.errors import MeshflowError
    from meshflow.io.preview import create_context

    try:
        create_context().release()
    except MeshflowError as e:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise
        pytest.skip(str(e))
    capsys.readouterr()
    assert main(["preview", str(out), "-o", str(out_dir / "cow.gif"), "--size", "96"]) == 0
    assert "wrote" in capsys.readouterr().out and (out_dir / "cow.gif").stat().st_size > 0


def test_animate_obj_sequence_loop_and_notes(model_dir, out_dir, tmp_path, capsys):
    ball = tmp_path / "ball.ply"
    trimesh.creation.icosphere(1).export(ball)
    rc = animate(ball, "--prompt", "", "-o", str(out_dir / "frames") + "/", "--model", model_dir, "--loop",
                 "--frames", "6", "--fps", "12")
    stdout = capsys.readouterr().out
    assert rc == 0
    assert "note: empty prompt: sampled unconditionally" in stdout
    assert "note: loop: blended the last" in stdout
    assert sorted(f for f in os.listdir(out_dir / "frames") if f.endswith(".obj")) == \
        [f"frame_{t:04d}.obj" for t in range(6)]

    cloud = tmp_path / "cloud.ply"
    trimesh.PointCloud(np.random.default_rng(0).random((40, 3))).export(cloud)
    rc = animate(cloud, "--prompt", "it swirls", "-o", out_dir / "cloud.glb", "--model", model_dir, "--loop")
    stdout = capsys.readouterr().out
    assert rc == 0 and "animated as a point cloud" in stdout
    gltf = pygltflib.GLTF2().load(str(out_dir / "cloud.glb"))
    assert gltf.accessors[gltf.animations[0].samplers[0].input].count == 9  # 8 frames + the closing one


def test_animate_bad_input(model_dir, out_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MESHFLOW_MODEL", raising=False)
    ball = tmp_path / "ball.obj"
    trimesh.creation.icosphere(1).export(ball)
    out = out_dir / "x.glb"

    notes = tmp_path / "notes.obj"
    notes.write_text("this is not a mesh\n")
    fails_cleanly(capsys, out_dir, animate(notes, "-p", "x", "-o", out, "--model", model_dir),
                  r"notes\.obj: (contains no mesh vertices|cannot be read)")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    fails_cleanly(capsys, out_dir, animate(text, "-p", "x", "-o", out, "--model", model_dir),
                  r"unknown extension '\.txt'")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MESHFLOW_MODEL", raising=False)
        mp.setattr("meshflow.pipeline.BUNDLED_MODEL", tmp_path / "no-bundle")
        fails_cleanly(capsys, out_dir, animate(ball, "-p", "x", "-o", out),
                      r"this install has no bundled model: pass --model DIR")
    fails_cleanly(capsys, out_dir, animate(ball, "-p", "x", "-o", out_dir / "x.fbx", "--model", model_dir),
                  r"unknown output type '\.fbx'")
    fails_cleanly(capsys, out_dir, animate(ball, "-p", "x", "-o", out, "--model", tmp_path / "nowhere"),
                  r"model directory not found")
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "vae.safetensors").unlink()
    fails_cleanly(capsys, out_dir, animate(ball, "-p", "x", "-o", out, "--model", broken),
                  r"missing weight file vae\.safetensors")
    if not torch.cuda.is_available():
        fails_cleanly(capsys, out_dir, animate(ball, "-p", "x", "-o", out, "--model", model_dir, "--device", "cuda"),
                      r"no CUDA GPU is available")
    fails_cleanly(capsys, out_dir, animate(ball, "-p", "x", "-o", out, "--model", model_dir, "--tokens", "0"),
                  r"Expected 'tokens' to be an integer of at least 1 \(got 0\)")


CHECKED = [  # (arguments, the same value for AnimationPipeline.check_inputs)
    (["--steps", "0"], dict(steps=0)),
    (["--steps", "1"], dict(steps=1)),
    (["--guidance", "nan"], dict(guidance=float("nan"))),
    (["--guidance", "inf"], dict(guidance=float("inf"))),
    (["--frames", "0"], dict(frames=0)),
    (["--tokens", "0"], dict(tokens=0)),
    (["--seed", "-1"], dict(seed=-1)),
    (["--fps", "0"], dict(fps=0.0)),
    (["--fps", "nan"], dict(fps=float("nan"))),
    (["--device", "gpu0"], dict(device="gpu0")),
    (["--num-samples", "0"], dict(num_samples=0)),
    (["--rigidity", "-0.1"], dict(rigidity=-0.1)),
    (["--rigidity", "nan"], dict(rigidity=float("nan"))),
] + ([] if torch.cuda.is_available() else [(["--device", "cuda"], dict(device="cuda"))])


@pytest.mark.parametrize("argv, inputs", CHECKED, ids=[" ".join(a) for a, _ in CHECKED])
def test_animate_prints_the_pipeline_check(argv, inputs, out_dir, tmp_path, capsys):
    """The pipeline's message on one line, exit 2, before any model is loaded (--model does not exist)."""
    with pytest.raises(MeshflowError) as expected:
        AnimationPipeline.check_inputs("ball.obj", "x", **inputs)
    rc = main(["animate", str(tmp_path / "ball.obj"), "-p", "x", "-o", str(out_dir / "x.glb"),
               "--model", str(tmp_path / "nowhere"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"meshflow animate: error: {expected.value}"]
    assert os.listdir(out_dir) == []


def test_animate_refuses_bad_outputs_before_any_work(out_dir, tmp_path, capsys, monkeypatch):
    """Output problems are found before the model loads (--model does not exist, so any work would fail on it)."""
    ball = tmp_path / "ball.obj"
    trimesh.creation.icosphere(1).export(ball)
    before = ball.read_bytes()
    nowhere = tmp_path / "nowhere"
    (out_dir / "x.glb").mkdir()  # a folder where a file is expected
    rc = animate(ball, "-p", "x", "-o", out_dir / "x.glb", "--model", nowhere)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "Expected a file path for a .glb output (got an existing folder)" in err[0]
    assert os.listdir(out_dir / "x.glb") == []
    (out_dir / "x.glb").rmdir()

    glb = out_dir / "same.glb"  # the input itself
    trimesh.creation.icosphere(1).export(glb)
    glb_bytes = glb.read_bytes()
    rc = animate(glb, "-p", "x", "-o", glb, "--model", nowhere)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "Expected an output other than the input" in err[0] and "--overwrite" in err[0]
    assert glb.read_bytes() == glb_bytes
    rc = animate(glb, "-p", "x", "-o", glb, "--model", nowhere, "--overwrite")  # allowed: fails later, on the model
    assert rc == 2 and "model directory not found" in capsys.readouterr().err
    os.unlink(glb)

    parent_file = out_dir / "file"
    parent_file.write_text("")
    rc = animate(ball, "-p", "x", "-o", parent_file / "sub" / "x.glb", "--model", nowhere)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "Expected a folder at" in err[0] and "(got a file)" in err[0]
    parent_file.unlink()
    if os.path.isdir("/proc"):
        rc = animate(ball, "-p", "x", "-o", "/proc/x.glb", "--model", nowhere)
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and "Expected a writable folder (got /proc" in err[0]
    assert os.listdir(out_dir) == [] and ball.read_bytes() == before


def test_tokens_at_most_the_welded_vertex_count(model_dir, out_dir, tmp_path, capsys):
    ball = tmp_path / "ball.obj"
    trimesh.creation.icosphere(1).export(ball)  # 42 vertices
    fails_cleanly(capsys, out_dir, animate(ball, "-p", "x", "-o", out_dir / "x.glb", "--model", model_dir,
                                           "--tokens", "43"),
                  r"Expected 'tokens' to be at most the welded vertex count 42 \(got 43\)")
    pipe = AnimationPipeline.from_pretrained(model_dir)
    with pytest.raises(MeshflowError, match=r"at most the welded vertex count 42 \(got 99999\)"):
        pipe(str(ball), "x", steps=2, tokens=99999)
    assert pipe(str(ball), "x", steps=2, tokens=42, seed=0).tokens == 42


def test_a_run_leaves_tmpdir_as_it_was(model_dir, tmp_path):
    """No PyG template modules, no empty torchinductor folder: $TMPDIR is as it was after a run."""
    tmp, cache = tmp_path / "tmpdir", tmp_path / "cache"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "MESHFLOW_CACHE": str(cache)}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-m", "meshflow", "animate", str(MESH), "-p", "x", "-o",
                          str(tmp_path / "x.glb"), "--model", str(model_dir), "--steps", "2", "-q"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "x.glb").is_file() and os.listdir(tmp) == []


@pytest.mark.parametrize("points", [1, 3])
def test_too_few_points_are_refused(points, model_dir, out_dir, tmp_path, capsys):
    obj = tmp_path / "dots.obj"
    obj.write_text("".join(f"v {i} {i * i} 0\n" for i in range(points)))
    fails_cleanly(capsys, out_dir, animate(obj, "-p", "x", "-o", out_dir / "x.glb", "--model", model_dir),
                  rf"dots\.obj: Expected a mesh with at least one face or a point cloud of at least 4 points "
                  rf"\(got {points} points?\)")


def test_four_points_animate(model_dir, out_dir, tmp_path):
    obj = tmp_path / "dots.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n")
    assert animate(obj, "-p", "x", "-o", out_dir / "x.npz", "--model", model_dir) == 0
    assert load_animation(out_dir / "x.npz").vertices.shape[1:] == (4, 3)


def test_num_samples_keep_all(model_dir, out_dir, tmp_path, capsys):
    ball = tmp_path / "ball.obj"
    trimesh.creation.icosphere(1).export(ball)
    rc = animate(ball, "-p", "a ball bounces", "-o", out_dir / "ball.npz", "--model", model_dir, "--seed", "5",
                 "--num-samples", "3", "--keep-all")
    stdout = capsys.readouterr().out
    assert rc == 0 and sorted(os.listdir(out_dir)) == ["ball.npz", "ball.sample2.npz", "ball.sample3.npz"]
    ranked = AnimationPipeline.from_pretrained(model_dir)(str(ball), "a ball bounces", steps=3, seed=5,
                                                          num_samples=3, return_all=True)
    for name, want in zip(["ball.npz", "ball.sample2.npz", "ball.sample3.npz"], ranked):  # ranked order
        np.testing.assert_allclose(load_animation(out_dir / name).vertices, want.vertices, atol=1e-6)
    best = ranked[0]
    assert f"3 seeds 5-7 in one batch; best: seed {best.seed}, score {best.score:.4f} (lower is better)" in stdout
    assert f"sample 2  {out_dir / 'ball.sample2.npz'} (seed {ranked[1].seed}, score {ranked[1].score:.4f})" in stdout
    assert "note: best of 3 samples by score" in stdout and "score " in stdout.split("time")[-1]

    # Without --keep-all only the best is written.
    rc = animate(ball, "-p", "a ball bounces", "-o", out_dir / "only.npz", "--model", model_dir, "--seed", "5",
                 "--num-samples", "2")
    assert rc == 0 and "2 seeds 5-6 in one batch" in capsys.readouterr().out
    assert not any(name.startswith("only.sample") for name in os.listdir(out_dir))


def model_with_flow(model_dir, tmp_path, name, **flow):
    """A copy of ``model_dir`` whose config.json flow section also sets ``flow``, and a ball to animate."""
    import json

    copy = tmp_path / name
    shutil.copytree(model_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["flow"].update(flow)
    (copy / "config.json").write_text(json.dumps(config))
    ball = tmp_path / "ball.obj"
    trimesh.creation.icosphere(1).export(ball)
    return copy, ball


def test_model_default_num_samples(model_dir, out_dir, tmp_path, capsys):
    """A model whose config.json flow section sets num_samples: animate ranks that many without the option."""
    ranked_model, ball = model_with_flow(model_dir, tmp_path, "ranked", num_samples=3)
    assert AnimationPipeline.from_pretrained(ranked_model).sampling.num_samples == 3
    rc = animate(ball, "-p", "a ball bounces", "-o", out_dir / "ball.npz", "--model", ranked_model, "--seed", "5",
                 "--keep-all")
    assert rc == 0 and "3 seeds 5-7 in one batch" in capsys.readouterr().out
    assert sorted(os.listdir(out_dir)) == ["ball.npz", "ball.sample2.npz", "ball.sample3.npz"]
    assert animate(ball, "-p", "a ball bounces", "-o", out_dir / "one.npz", "--model", ranked_model, "--seed", "5",
                   "--num-samples", "1") == 0  # the option overrides the model's default
    assert "in one batch" not in capsys.readouterr().out


def test_model_default_rigidity(model_dir, out_dir, tmp_path, capsys):
    """A model whose flow section sets rigidity: animate refines with it, --rigidity 0 turns it off."""
    stiff_model, ball = model_with_flow(model_dir, tmp_path, "stiff", rigidity=0.05)
    runs = {}
    for name, extra in (("model", []), ("off", ["--rigidity", "0"]), ("given", ["--rigidity", "0.05"])):
        out = out_dir / f"{name}.npz"
        assert animate(ball, "-p", "a ball bounces", "-o", out, "--model", stiff_model, "--seed", "5", *extra) == 0
        runs[name] = np.load(out)["vertices"]
        time_row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("time"))
        assert (" refine " in time_row) == (name != "off"), time_row  # its own stage in the time row
    np.testing.assert_array_equal(runs["model"], runs["given"])
    assert np.abs(runs["model"] - runs["off"]).max() > 1e-4  # the refinement moved something


def test_sample_path():
    assert sample_path("out/dog.glb", 2, "glb") == os.path.join("out", "dog.sample2.glb")
    assert sample_path("dog.v1.npz", 3, "npz") == "dog.v1.sample3.npz"
    assert sample_path("out/frames/", 2, "obj") == os.path.join("out", "frames.sample2") + "/"


def test_keep_all_is_checked_before_any_work(model_dir, out_dir, tmp_path, capsys):
    """Every refusal comes before sampling; with --num-samples given, before the model loads (--model nowhere)."""
    ball = tmp_path / "ball.obj"
    trimesh.creation.icosphere(1).export(ball)
    nowhere = tmp_path / "nowhere"
    # without --num-samples the model's default decides (the tiny model has none: 1)
    fails_cleanly(capsys, out_dir, animate(ball, "-p", "x", "-o", out_dir / "x.glb", "--model", model_dir, "--keep-all"),
                  r"--keep-all: Expected --num-samples of at least 2 \(got 1\)$")
    fails_cleanly(capsys, out_dir, animate(ball, "-p", "x", "-o", out_dir / "x.glb", "--model", nowhere, "--keep-all",
                                           "--num-samples", "1"),
                  r"--keep-all: Expected --num-samples of at least 2 \(got 1\)$")
    (out_dir / "x.sample3.glb").mkdir()  # the third sample's path is a folder
    rc = animate(ball, "-p", "x", "-o", out_dir / "x.glb", "--model", nowhere, "--num-samples", "3", "--keep-all")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "x.sample3.glb: Expected a file path for a .glb output (got an existing folder)" \
        in err[0]
    assert os.listdir(out_dir) == ["x.sample3.glb"] and os.listdir(out_dir / "x.sample3.glb") == []
    rc = animate(ball, "-p", "x", "-o", out_dir / "x.glb", "--model", nowhere, "--num-samples", "3")  # not written
    assert rc == 2 and "model directory not found" in capsys.readouterr().err


def test_match_prompt_reads_the_prompt_and_refuses_a_model_without_a_vocabulary(model_dir, out_dir, tmp_path, capsys):
    """A model whose flow section turns match_prompt on prints the reading; --no-match-prompt turns it off;
    --match-prompt on a model without vocabulary.json is one line, exit 2, nothing written."""
    from meshflow.models.text.vocabulary import PromptVocabulary

    matching, ball = model_with_flow(model_dir, tmp_path, "matching", match_prompt=True)
    PromptVocabulary(["jumps", "walks forward"]).save(matching)
    assert animate(ball, "-p", "the ball leaps up", "-o", out_dir / "read.npz", "--model", matching, "--seed", "1") == 0
    assert 'prompt read as "the ball jumps"' in capsys.readouterr().out
    assert animate(ball, "-p", "the ball leaps up", "-o", out_dir / "raw.npz", "--model", matching, "--seed", "1",
                   "--no-match-prompt") == 0
    assert "read as" not in capsys.readouterr().out
    assert animate(ball, "-p", "the ball jumps", "-o", out_dir / "ref.npz", "--model", matching, "--seed", "1") == 0
    np.testing.assert_array_equal(np.load(out_dir / "read.npz")["vertices"], np.load(out_dir / "ref.npz")["vertices"])
    empty = tmp_path / "empty-out"
    empty.mkdir()
    fails_cleanly(capsys, empty, animate(ball, "-p", "x", "-o", empty / "x.glb", "--model", model_dir, "--match-prompt"),
                  r"Expected a model with a prompt vocabulary \(.*vocabulary\.json\) to match prompts \(got none; "
                  r"run without prompt matching\)$")
