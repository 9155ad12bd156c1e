"""The animation sampler on the real Quaternius files in ../shared/data/quaternius."""
import re

import numpy as np
import pytest

from meshflow.io.animation import AnimationSampler, list_clips, sample_animation

FAST = ["animals_pack/Fox.glb", "ultimate_space_pack/Enemy_Small-transformed.glb",
        "platformer_game_pack/Character_Gun.glb"]
GROUND_ANIMALS = ("animals_pack", "dinosaurs_pack")


def validate_file(path, fps=10.0):
    """Every clip finite, with a plausible size; ground animals keep their feet down when walking."""
    s = AnimationSampler(path)
    assert s.clips, f"{path}: no clips"
    rest = s.evaluate(None, np.zeros(1))[0]
    rest_diag = np.linalg.norm(np.ptp(rest, axis=0))
    ground, height = rest[:, 1].min(), np.ptp(rest[:, 1])
    assert rest_diag > 0
    for clip in s.clips:
        assert clip.duration > 0, f"{path}: {clip.name} has no duration"
        v = s.sample(clip.index, fps=fps).vertices
        assert np.all(np.isfinite(v)), f"{path}: {clip.name} has non-finite vertices"
        diag = np.linalg.norm(np.ptp(v, axis=1), axis=1)
        assert np.all((diag > 0.5 * rest_diag) & (diag < 2.0 * rest_diag)), f"{path}: {clip.name} size jumps"
        centre = (v.max(1) + v.min(1)) / 2
        assert np.abs(centre - centre[0]).max() < 5 * rest_diag, f"{path}: {clip.name} flies away"
        if any(p in str(path) for p in GROUND_ANIMALS) and re.match(r"(Walk|Idle)$", clip.short_name.split("_")[-1]):
            low = v[:, :, 1].min(axis=1)
            assert np.abs(low - ground).max() < 0.1 * height, f"{path}: {clip.name} lifts its feet off the ground"
    return s


@pytest.mark.parametrize("name", FAST)
def test_quaternius_files_sample_cleanly(shared, name):
    path = shared("data", "quaternius", *name.split("/"))
    s = validate_file(path)
    welded = s.sample(0, frames=4).welded()
    assert welded.num_vertices < s.num_vertices  # seams are welded
    assert welded.faces.max() < welded.num_vertices


def test_fox_clips_and_sampling(shared):
    path = shared("data", "quaternius", "animals_pack", "Fox.glb")
    clips = list_clips(path)
    assert len(clips) == 12
    names = {c.short_name for c in clips}
    assert {"Gallop", "Walk", "Idle"} <= names
    assert all(c.name.startswith("AnimalArmature|") for c in clips)
    walk = next(c for c in clips if c.short_name == "Walk")
    anim = sample_animation(path, "Walk", fps=15, frames=16, start=0.0, weld=True)
    assert anim.vertices.shape == (16, anim.num_vertices, 3) and anim.vertices.dtype == np.float32
    assert anim.clip == "AnimalArmature|Walk"
    # past the end the pose is held
    late = sample_animation(path, "Walk", fps=1.0, frames=2, start=walk.duration + 1.0)
    end = sample_animation(path, "Walk", fps=1.0, frames=1, start=walk.duration)
    np.testing.assert_allclose(late.vertices[0], end.vertices[0], atol=1e-6)
    np.testing.assert_allclose(late.vertices[1], end.vertices[0], atol=1e-6)


def test_draco_file_has_skinning_data(shared):
    path = shared("data", "quaternius", "ultimate_space_pack", "Enemy_Small-transformed.glb")
    s = AnimationSampler(path)
    prims = [p for _, _, _, ps, _ in s.instances for p in ps]
    assert all(p.joints is not None and p.weights is not None for p in prims)
    # the clips move it: different clips give different poses
    a = s.sample(0, frames=8).vertices
    assert np.abs(a - a[:1]).max() > 1e-3


@pytest.mark.slow
def test_every_quaternius_file(shared):
    root = shared("data", "quaternius")
    files = sorted(root.rglob("*.glb"))
    assert len(files) == 77
    clips = 0
    for path in files:
        clips += len(validate_file(path, fps=8.0).clips)
    assert clips == 655


def test_static_geometry_of_a_draco_file_for_read_mesh(shared):
    from meshflow.io.mesh import read_gltf_static

    path = shared("data", "quaternius", "ultimate_space_pack", "Astronaut_RaeTheRedPanda-transformed.glb")
    parts = read_gltf_static(path)
    assert [p.name for p in parts] == ["RaeTheRedPanda", "Pistol"]
    assert all(p.mesh.visual.uv is not None and len(p.mesh.visual.uv) == len(p.mesh.vertices) for p in parts)
    s = AnimationSampler(path)
    assert sum(len(p.mesh.vertices) for p in parts) == s.num_vertices
    assert sum(len(p.mesh.faces) for p in parts) == len(s.faces)


def test_static_geometry_agrees_with_trimesh(shared):
    trimesh = pytest.importorskip("trimesh")
    from meshflow.io.mesh import read_gltf_static

    path = shared("data", "quaternius", "animals_pack", "Fox.glb")
    mine = np.concatenate([p.mesh.vertices for p in read_gltf_static(path)])
    scene = trimesh.load(str(path), process=False, force="scene")
    theirs = np.concatenate([g.vertices for g in scene.dump()])
    assert mine.shape == theirs.shape
    np.testing.assert_allclose(mine, theirs, atol=1e-5)
