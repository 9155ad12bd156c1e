"""One Animation in and out: every format through meshflow.io.save_animation / load_animation, atomically."""
import os

import numpy as np
import pytest
import trimesh

from meshflow.data.shapes import icosphere
from meshflow.errors import MeshFileError
from meshflow.io import Animation, load_animation, read_mesh, save_animation, save_dymesh
from meshflow.io import export


@pytest.fixture
def ball(tmp_path):
    """An icosphere file and a 5-frame wobble of it (per file vertex)."""
    v, f = icosphere(1)
    path = tmp_path / "in" / "ball.obj"
    path.parent.mkdir()
    trimesh.Trimesh(v, f, process=False).export(path)
    mesh = read_mesh(path)
    t = np.linspace(0, 1, 5, dtype=np.float32)[:, None, None]
    vertices = (mesh.vertices[None] * (1 + 0.2 * t * mesh.vertices[None, :, 1:2]) + 0.1 * t).astype(np.float32)
    return Animation(vertices, mesh.faces, fps=12.0, prompt="a ball wobbles", mesh=mesh)


@pytest.mark.parametrize("name", ["anim.glb", "anim.gltf", "anim.npz", "frames/"])
def test_every_format_round_trips(ball, tmp_path, name):
    out = save_animation(f"{tmp_path}/out/{name}", ball)
    back = load_animation(out)
    assert isinstance(back, Animation)
    np.testing.assert_allclose(back.vertices, ball.vertices, atol=1e-5)
    np.testing.assert_array_equal(back.faces, ball.faces)
    if name != "frames/":  # an OBJ sequence keeps neither the prompt nor the rate
        assert back.prompt == "a ball wobbles" and back.fps == 12.0


def test_animation_without_a_scene_writes_every_format(ball, tmp_path):
    """An animation read from an npz (no input scene) still writes glTF and OBJ frames."""
    plain = load_animation(save_animation(tmp_path / "a.npz", ball))
    assert plain.mesh is None
    for name in ("b.glb", "c/"):
        back = load_animation(save_animation(f"{tmp_path}/{name}", plain))
        np.testing.assert_allclose(back.vertices, ball.vertices, atol=1e-5)
        np.testing.assert_array_equal(back.faces, ball.faces)


def test_reads_dymesh_pickles(ball, tmp_path):
    path = save_dymesh(tmp_path / "a.bin", ball.vertices, ball.faces, "a ball wobbles")
    back = load_animation(path)
    np.testing.assert_array_equal(back.vertices, ball.vertices)
    assert back.prompt == "a ball wobbles" and back.fps is None  # the original format records no rate


def test_save_method_and_loop(ball, tmp_path):
    looped = ball.looped()
    back = load_animation(looped.save(tmp_path / "l.npz", fps=30))
    np.testing.assert_array_equal(back.vertices, looped.vertices)
    assert back.fps == 30.0 and looped.loop and not ball.loop


def test_errors(tmp_path):
    with pytest.raises(MeshFileError, match="file not found"):
        load_animation(tmp_path / "missing.npz")
    with pytest.raises(MeshFileError, match=r"unknown animation type '\.fbx'"):
        load_animation(tmp_path / "a.fbx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MeshFileError, match="has no frame_"):
        load_animation(tmp_path / "empty")


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("name,target", [("anim.glb", "_write_glb"), ("anim.gltf", "base64"),
                                         ("anim.npz", "np"), ("frames/", "export_obj")])
def test_interrupted_write_leaves_nothing(ball, tmp_path, monkeypatch, name, target):
    out = tmp_path / "out"
    out.mkdir()
    if target == "np":
        monkeypatch.setattr(np, "savez_compressed", _interrupt)
    elif target == "base64":
        monkeypatch.setattr(export.base64, "b64encode", _interrupt)
    else:
        monkeypatch.setattr(export, target, _interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_animation(f"{out}/{name}", ball)
    assert os.listdir(out) == []
