"""Animations made by known linear blend skinning, for the rig tests."""
import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from meshflow.rig.solvers import blend_skin


def bar(subdivisions: int = 3):
    """A 4 x 0.5 x 0.5 box along x, subdivided (vertices all along its length)."""
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    for _ in range(subdivisions):
        box = box.subdivide()
    v = np.asarray(box.vertices) * [4.0, 0.5, 0.5]
    return v, np.asarray(box.faces)


def lbs_animation(bones: int = 3, frames: int = 8, seed: int = 0, influences: int = 2, subdivisions: int = 3):
    """``(rest (N, 3), frames (T, N, 3), faces, joints, weights, rotations, translations)``: a bar bent by
    ``bones`` bones along x with smooth weights (``influences`` per vertex) and random rigid motions."""
    rng = np.random.default_rng(seed)
    rest, faces = bar(subdivisions)
    centers = np.linspace(-1.5, 1.5, bones)
    d = np.abs(rest[:, :1] - centers[None])  # (N, J)
    w = np.exp(-(d / 0.6) ** 2)
    order = np.argsort(-w, axis=1)[:, :influences]
    weights = np.take_along_axis(w, order, axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    rot = Rotation.from_rotvec(0.6 * rng.standard_normal((frames * bones, 3))).as_matrix().reshape(frames, bones, 3, 3)
    trans = 0.3 * rng.standard_normal((frames, bones, 3))
    v = blend_skin(rest, order, weights, rot, trans)
    return rest, v.astype(np.float64), faces, order, weights, rot, trans


def rigid_pieces(pieces: int = 4, frames: int = 6, seed: int = 1):
    """Separate icospheres, each moved rigidly: ``(rest, frames, faces)`` that ``pieces`` bones fit exactly."""
    rng = np.random.default_rng(seed)
    vs, fs, n = [], [], 0
    for k in range(pieces):
        s = trimesh.creation.icosphere(1)
        vs.append(np.asarray(s.vertices) * 0.4 + [1.2 * k, 0.0, 0.0])
        fs.append(np.asarray(s.faces) + n)
        n += len(s.vertices)
    rest, faces = np.concatenate(vs), np.concatenate(fs)
    sizes = [len(v) for v in vs]
    label = np.repeat(np.arange(pieces), sizes)
    rot = Rotation.from_rotvec(0.8 * rng.standard_normal((frames * pieces, 3))).as_matrix().reshape(frames, pieces, 3, 3)
    trans = rng.standard_normal((frames, pieces, 3))
    v = np.einsum("tnab,nb->tna", rot[:, label], rest) + trans[:, label]
    return rest, v, faces


@pytest.fixture
def lbs_clip():
    return lbs_animation()
