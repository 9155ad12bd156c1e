"""`meshflow rig` and `meshflow animate --rig` end to end; bad input is one line, exit 2, nothing written."""
import os
import re

import numpy as np
import pytest
import trimesh

from meshflow.commands import animate as animate_command
from meshflow.commands import rig as rig_command
from meshflow.commands.main import main
from meshflow.commands.rig import bones_option
from meshflow.errors import BoneCountError, MeshflowError
from meshflow.io import Animation, load_animation, read_mesh, save_animation
from meshflow.rig import check_bones, fit_vertex_count
from meshflow.rig.export import bind_pose, rig_animation
from tests.rig.conftest import lbs_animation


@pytest.fixture
def clip_npz(tmp_path):
    rest, frames, faces, *_ = lbs_animation(bones=3, frames=6, subdivisions=2)
    return save_animation(tmp_path / "bar.npz", Animation(frames.astype(np.float32), faces, fps=12.0))


@pytest.fixture
def out_dir(tmp_path):
    path = tmp_path / "out"
    path.mkdir()
    return path


def test_rig_command_prints_the_fit_and_sizes(clip_npz, out_dir, capsys):
    out = out_dir / "bar.glb"
    assert main(["rig", str(clip_npz), "-o", str(out), "--bones", "3"]) == 0
    stdout = capsys.readouterr().out
    for key in ("3 bones", "rig error  mean", "% of the extent", "MB skinned vs", "x smaller", "bind pose = frame 0"):
        assert key in stdout, stdout
    back = load_animation(out)
    frames = np.load(clip_npz)["vertices"]
    assert back.num_frames == 6 and back.fps == 12.0
    assert np.abs(back.vertices - frames).max() < 0.02 * np.ptp(frames[0], axis=0).max()
    assert os.listdir(out_dir) == ["bar.glb"]


@pytest.mark.parametrize("argv,pattern", [
    (["--bones", "0"], r"--bones: Expected 'bones' to be an integer of at least 1 \(got 0\)"),
    (["--bones", "99"], r"--bones: .*bar.npz: Expected 'bones' to be at most the vertex count 98 \(got 99\)"),
    (["--rig-residual", "-1"], r"--rig-residual: Expected a threshold of at least 0 \(got -1\)"),
])
def test_rig_bad_input(clip_npz, out_dir, capsys, argv, pattern):
    rc = main(["rig", str(clip_npz), "-o", str(out_dir / "bar.glb"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("meshflow rig: error: ") and re.search(pattern, err[0]), err
    assert os.listdir(out_dir) == []


def test_rig_bone_count_is_checked_against_the_welded_vertices(clip_npz, out_dir, tmp_path, capsys):
    """A file whose vertices are split twice over (98 positions, 196 vertices): the fit's own count, one message."""
    anim = load_animation(clip_npz)
    split = save_animation(tmp_path / "split.npz", Animation(np.concatenate([anim.vertices, anim.vertices], axis=1),
                                                            np.concatenate([anim.faces, anim.faces + 98]), fps=12.0))
    rc = main(["rig", str(split), "-o", str(out_dir / "split.glb"), "--bones", "150"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"meshflow rig: error: --bones: {split}: Expected 'bones' to be at most the vertex "
                               f"count 98 (got 150)"], err
    assert os.listdir(out_dir) == []


def test_bones_option_prefixes_only_bone_count_errors():
    with pytest.raises(BoneCountError, match=r"^--bones: in.npz: Expected 'bones' to be at most the vertex count 4 "):
        with bones_option("in.npz"):
            check_bones(5, 4)
    other = MeshflowError("something else")
    with pytest.raises(MeshflowError) as info:
        with bones_option("in.npz"):
            raise other
    assert info.value is other and str(info.value) == "something else"


def test_rig_fit_errors_other_than_the_bone_count_pass_through(clip_npz, out_dir, capsys, monkeypatch):
    def failing_fit(anim, **kwargs):
        raise MeshflowError("bar.npz: Expected a fit that converges (got NaN)")

    monkeypatch.setattr(rig_command, "rig_animation", failing_fit)
    rc = main(["rig", str(clip_npz), "-o", str(out_dir / "bar.glb"), "--bones", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == ["meshflow rig: error: bar.npz: Expected a fit that converges (got NaN)"], err
    assert os.listdir(out_dir) == []


def split_sphere(path):
    """An icosphere with every face's corners its own vertices (960 in the file, 162 positions), as OBJ."""
    s = trimesh.creation.icosphere(2)
    v = np.asarray(s.vertices)[s.faces].reshape(-1, 3)
    with open(path, "w") as fh:
        fh.writelines(f"v {x:.17g} {y:.17g} {z:.17g}\n" for x, y, z in v)
        fh.writelines(f"f {3 * i + 1} {3 * i + 2} {3 * i + 3}\n" for i in range(len(s.faces)))
    return path


def test_animate_rig_checks_the_welded_count_the_fit_sees(model_dir, out_dir, tmp_path, capsys, monkeypatch):
    """animate --rig on a file of 960 vertices at 162 positions: the bones are checked against 162 before the
    model loads, and 162 is the count the fit then sees."""
    path = split_sphere(tmp_path / "split.obj")
    mesh = read_mesh(path)
    assert len(mesh.vertices) == 960 and fit_vertex_count(mesh.vertices, faces=mesh.faces) == 162
    real_load = animate_command.AnimationPipeline.from_pretrained

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the bone count was checked")

    monkeypatch.setattr(animate_command.AnimationPipeline, "from_pretrained", no_model)
    rc = main(["animate", str(path), "-p", "x", "-o", str(out_dir / "bad.glb"), "--model", str(model_dir),
               "--rig", "500"])  # at most the file's 960 vertices, more than the fit's 162
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err == [f"meshflow animate: error: --bones: {path}: Expected 'bones' to be at most the vertex "
                               f"count 162 (got 500)"], err
    assert os.listdir(out_dir) == []

    monkeypatch.setattr(animate_command.AnimationPipeline, "from_pretrained", real_load)
    seen = []

    def spy(anim, **kwargs):
        seen.append(fit_vertex_count(bind_pose(anim), anim.vertices, anim.faces))
        return rig_animation(anim, **kwargs)

    monkeypatch.setattr(animate_command, "rig_animation", spy)
    rc = main(["animate", str(path), "-p", "x", "-o", str(out_dir / "split.glb"), "--model", str(model_dir),
               "--steps", "2", "-q", "--seed", "0", "--rig", "4"])
    assert rc == 0, capsys.readouterr()
    assert seen == [162]


def test_rig_refuses_other_outputs_and_missing_inputs(clip_npz, out_dir, tmp_path, capsys):
    assert main(["rig", str(clip_npz), "-o", str(out_dir / "bar.npz")]) == 2
    assert "Expected a .glb or .gltf output for a rig (got '.npz')" in capsys.readouterr().err
    assert main(["rig", str(tmp_path / "missing.glb"), "-o", str(out_dir / "x.glb")]) == 2
    assert "missing.glb: file not found" in capsys.readouterr().err
    assert os.listdir(out_dir) == []


def test_animate_rig(model_dir, out_dir, tmp_path, capsys):
    ball = tmp_path / "ball.ply"
    trimesh.creation.icosphere(2).export(ball)
    out = out_dir / "ball.glb"
    rc = main(["animate", str(ball), "-p", "it wobbles", "-o", str(out), "--model", str(model_dir), "--steps", "3",
               "-q", "--seed", "0", "--rig", "8"])
    stdout = capsys.readouterr().out
    assert rc == 0, stdout
    assert "skinned glTF, " in stdout and "rig error" in stdout and "MB skinned vs" in stdout
    back = load_animation(out)
    assert back.num_frames == 8 and back.prompt == "it wobbles"
    # Bad bone counts before any sampling: one line, nothing written.
    for bones, pattern in (("0", "at least 1"),
                           ("100000", r"--bones: .*ball.ply: Expected 'bones' to be at most the vertex count 162 ")):
        rc = main(["animate", str(ball), "-p", "x", "-o", str(out_dir / "bad.glb"), "--model", str(model_dir),
                   "--rig", bones])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and re.search(pattern, err[0]), err
    assert main(["animate", str(ball), "-p", "x", "-o", str(out_dir / "bad.npz"), "--model", str(model_dir),
                 "--rig"]) == 2
    assert "for a rig (got '.npz')" in capsys.readouterr().err
    assert main(["animate", str(ball), "-p", "x", "-o", str(out_dir / "bad.glb"), "--model", str(model_dir),
                 "--rig-residual"]) == 2
    assert "--rig-residual: Expected --rig with it" in capsys.readouterr().err
    assert sorted(os.listdir(out_dir)) == ["ball.glb"]
