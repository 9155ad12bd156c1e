"""Headless previews (meshflow.io.preview): OpenGL through EGL, GIF/MP4/PNG output."""
import os

import numpy as np
import pytest

from meshflow.data.shapes import icosphere
from meshflow.errors import MeshflowError
from meshflow.io import Animation
from meshflow.io.preview import contact_sheet, frame_camera, render_frames, render_preview


@pytest.fixture(scope="module")
def gl():
    from meshflow.io.preview import create_context

    try:
        create_context().release()
    except MeshflowError as e:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(str(e))
        pytest.skip(str(e))


def bouncing_ball(frames=4, subdivisions=2):
    v, f = icosphere(subdivisions)
    v, f = np.asarray(v, dtype=np.float32), np.asarray(f, dtype=np.int64)
    if f.shape[0] == 3 and f.shape[1] != 3:
        f = f.T
    height = np.sin(np.linspace(0, np.pi / 2, frames))[:, None, None].astype(np.float32)
    return Animation(vertices=v[None] + height * np.array([0, 1.5, 0], dtype=np.float32), faces=f, fps=8)


def foreground(image):
    return (image < 250).any(axis=-1)


def test_frame_camera_sees_every_frame():
    anim = bouncing_ball(5)
    mvp, _ = frame_camera(anim.vertices)
    p = np.concatenate([anim.vertices.reshape(-1, 3), np.ones((anim.vertices[..., 0].size, 1))], axis=1) @ mvp.T
    ndc = p[:, :3] / p[:, 3:]
    assert (p[:, 3] > 0).all() and (np.abs(ndc) <= 1).all()
    assert np.abs(ndc[:, :2]).max() > 0.5  # framed, not a speck


def test_render_frames(gl):
    anim = bouncing_ball(4)
    images = render_frames(anim.vertices, anim.faces, size=64)
    assert images.shape == (4, 64, 64, 3) and images.dtype == np.uint8
    masks = foreground(images)
    assert all(m.sum() > 100 for m in masks)
    rows = [np.nonzero(m.any(axis=1))[0].mean() for m in masks]
    assert rows[1] < rows[0]  # the ball moved up the picture (image rows grow downwards)
    assert not masks[:, 0, :].any() and not masks[:, -1, :].any()  # nothing cut at the borders
    shade = images[0][masks[0]].astype(float).mean(axis=-1)
    assert shade.std() > 5  # lit, not a flat silhouette


def test_render_points_and_static(gl):
    anim = bouncing_ball(2)
    static = render_frames(np.repeat(anim.vertices[:1], 2, axis=0), anim.faces, size=48, samples=0)
    np.testing.assert_array_equal(static[0], static[1])
    points = render_frames(anim.vertices, np.zeros((0, 3)), size=48)
    assert foreground(points).sum() > 20


@pytest.mark.parametrize("ext", [".gif", ".png", ".mp4"])
def test_render_preview_files(gl, tmp_path, ext):
    import imageio.v3 as iio

    if ext == ".mp4":
        pytest.importorskip("imageio_ffmpeg")
    anim = bouncing_ball(4)
    np.savez(tmp_path / "anim.npz", vertices=anim.vertices, faces=anim.faces, fps=8.0)
    result = render_preview(tmp_path / "anim.npz", tmp_path / f"out{ext}", size=64)
    assert result.frames == 4 and result.fps == 8.0 and result.path.is_file()
    assert sorted(os.listdir(tmp_path)) == ["anim.npz", f"out{ext}"]  # no temporary left behind
    if ext == ".gif":
        frames = iio.imread(result.path, index=None)
        assert frames.shape[:3] == (4, 64, 64)
    elif ext == ".png":
        assert iio.imread(result.path).shape[:2] == (128, 128)  # 2 x 2 sheet


def test_contact_sheet():
    images = np.zeros((5, 2, 3, 3), dtype=np.uint8)
    assert contact_sheet(images).shape == (4, 9, 3)  # 3 columns, 2 rows


def test_preview_errors(gl, tmp_path):
    anim = bouncing_ball(2)
    with pytest.raises(MeshflowError, match=r"unknown preview type '\.avi'"):
        render_preview(anim, tmp_path / "x.avi")
    with pytest.raises(ValueError, match=r"Expected 'vertices' to have shape \(T, N, 3\)"):
        render_frames(np.zeros((2, 0, 3)), np.zeros((0, 3)))
    assert os.listdir(tmp_path) == []


def test_preview_of_a_20k_face_mesh(gl, tmp_path):
    """Renders 16 frames of a 20k-face mesh (its speed is measured by scripts/bench_preview.py, not here)."""
    v, f = icosphere(5)  # 20,480 faces
    v, f = np.asarray(v, dtype=np.float32), np.asarray(f)
    f = f.T if f.shape[0] == 3 and f.shape[1] != 3 else f
    assert len(f) >= 20000
    wobble = np.sin(np.linspace(0, 2 * np.pi, 16))[:, None, None].astype(np.float32)
    anim = Animation(vertices=v[None] * (1 + 0.2 * wobble * v[None, :, 1:2]), faces=f, fps=24)
    render_preview(anim, tmp_path / "ball.gif")
    import imageio.v3 as iio
    frames = iio.imread(tmp_path / "ball.gif", index=None)
    assert frames.shape[0] == 16 and frames.shape[1:3] == (512, 512)
    assert np.ptp(frames[0]) > 0  # something was drawn


def test_preview_of_a_static_glb(gl, tmp_path):
    """A scene without morph targets or animations (pygltflib nodes carry no 'weights') renders one frame."""
    from pathlib import Path

    from meshflow.io import load_animation

    path = Path(__file__).resolve().parents[2] / "graphs" / "examples" / "fish.glb"
    anim = load_animation(path)
    assert anim.vertices.shape[0] == 1 and anim.faces.size > 0
    result = render_preview(path, tmp_path / "fish.png", size=64)
    assert result.frames == 1 and result.path.is_file()
