"""The SSDR rig fit: known linear blend skinning recovered, rigid pieces exactly, real clips within target."""
import numpy as np
import pytest

from meshflow.errors import BoneCountError, MeshflowError
from meshflow.io import read_mesh, sample_animation
from meshflow.rig import fit_skinning, fit_vertex_count
from meshflow.rig.solvers import blend_skin
from meshflow.rig.ssdr import bone_tree
from tests.rig.conftest import lbs_animation, rigid_pieces


def check_weights(fit, influences=4):
    assert fit.weights.shape == (len(fit.rest), influences) and fit.joints.shape == fit.weights.shape
    assert np.all(fit.weights >= 0)
    np.testing.assert_allclose(fit.weights.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(np.diff(fit.weights, axis=1) <= 1e-12)  # largest first
    assert np.all(fit.joints[fit.weights == 0] == 0)
    assert fit.joints.max() < fit.bones
    zero = fit.weights == 0
    assert np.all((fit.joints[:, :, None] != fit.joints[:, None, :]) | zero[:, :, None] | zero[:, None, :]
                  | np.eye(influences, dtype=bool)[None])  # one influence per bone
    np.testing.assert_allclose(np.linalg.det(fit.rotations), 1.0, atol=1e-9)


def test_known_lbs_is_recovered(lbs_clip):
    rest, frames, faces, *_ = lbs_clip
    fit = fit_skinning(rest, frames, faces, bones=3, iterations=40, tolerance=0.0)
    check_weights(fit)
    assert fit.bones == 3
    assert fit.mean_error < 5e-5 and fit.max_error < 5e-4, fit.report()
    # The reported errors are those of the rig's own frames.
    dist = np.linalg.norm(fit.frames() - frames, axis=-1) / fit.extent
    assert dist.mean() == pytest.approx(fit.mean_error, rel=1e-6)
    assert dist.max() == pytest.approx(fit.max_error, rel=1e-6)


def test_rigid_pieces_fit_exactly():
    rest, frames, faces = rigid_pieces(pieces=4)
    fit = fit_skinning(rest, frames, faces, bones=4)
    check_weights(fit)
    assert fit.max_error < 2e-6  # exact up to the single-precision weight solve
    # Each piece follows one bone with all its weight, and the pieces' bones are all different.
    dominant = fit.joints[:, 0]
    n = len(rest) // 4
    assert np.all(fit.weights[:, 0] > 1 - 1e-6)
    assert len({int(dominant[k * n]) for k in range(4)}) == 4
    assert all(len(set(dominant[k * n:(k + 1) * n])) == 1 for k in range(4))


def test_more_bones_fit_no_worse_and_errors_shrink_with_iterations(lbs_clip):
    rest, frames, faces, *_ = lbs_clip
    one = fit_skinning(rest, frames, faces, bones=1)
    three = fit_skinning(rest, frames, faces, bones=3)
    assert three.mean_error < 0.2 * one.mean_error
    short = fit_skinning(rest, frames, faces, bones=3, iterations=1)
    assert three.mean_error <= short.mean_error


def test_rest_differs_from_frame_zero_and_welded_seams():
    rest, frames, faces, *_ = lbs_animation(bones=2, frames=5, seed=4)
    # Split every vertex of the first 20 faces (a UV seam): the copies must get the same weights.
    extra = np.unique(faces[:20])
    rest2 = np.concatenate([rest, rest[extra]])
    frames2 = np.concatenate([frames, frames[:, extra]], axis=1)
    faces2 = faces.copy()
    remap = {int(v): len(rest) + i for i, v in enumerate(extra)}
    faces2[:20] = np.vectorize(remap.get)(faces[:20])
    fit = fit_skinning(rest2, frames2, faces2, bones=2, iterations=30)
    np.testing.assert_array_equal(fit.joints[len(rest):], fit.joints[extra])
    np.testing.assert_allclose(fit.weights[len(rest):], fit.weights[extra])
    assert fit.mean_error < 1e-3
    pred = blend_skin(fit.rest, fit.joints, fit.weights, fit.rotations, fit.translations)
    np.testing.assert_allclose(pred, fit.frames())


@pytest.mark.parametrize("bones,match", [(0, r"Expected 'bones' to be an integer of at least 1 \(got 0\)"),
                                         (10 ** 6, r"Expected 'bones' to be at most the vertex count 386 \(got 1000000\)")])
def test_bad_bone_counts(lbs_clip, bones, match):
    rest, frames, faces, *_ = lbs_clip
    with pytest.raises(BoneCountError, match=match) as info:  # its own type, a MeshflowError (exit status 2)
        fit_skinning(rest, frames, faces, bones=bones)
    assert isinstance(info.value, MeshflowError)


def test_fit_vertex_count_is_the_count_the_fit_checks(lbs_clip):
    rest, frames, faces, *_ = lbs_clip
    n = len(rest)  # 386, no two at one position
    split_rest = np.concatenate([rest, rest])  # every vertex twice over
    split_frames = np.concatenate([frames, frames], axis=1)
    split_faces = np.concatenate([faces, faces + n])
    assert fit_vertex_count(split_rest, faces=split_faces) == fit_vertex_count(split_rest, split_frames) == n
    with pytest.raises(BoneCountError, match=f"at most the vertex count {n} "):
        fit_skinning(split_rest, split_frames, split_faces, bones=n + 1)
    moved = split_frames.copy()
    moved[:, n:n + 10] += 1.0  # ten copies leave their twins: the fit keeps them apart
    assert fit_vertex_count(split_rest, moved, split_faces) == n + 10


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"Expected 'frames' to have shape \(T, 4, 3\) \(got \(2, 5, 3\)\)"):
        fit_skinning(np.zeros((4, 3)), np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        fit_skinning(np.zeros((4, 3)), np.full((2, 4, 3), np.nan))


def test_point_cloud_without_faces():
    rest, frames, _ = rigid_pieces(pieces=2)
    fit = fit_skinning(rest, frames, None, bones=2)
    assert fit.max_error < 2e-6  # exact up to the single-precision weight solve


def test_bone_tree_is_a_tree_rooted_at_the_centre():
    # A chain of five bones 0-1-2-3-4 over a path graph, plus a lone bone 5 (another component).
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5])
    edges = np.array([[i, i + 1] for i in range(9)])
    parents = bone_tree(labels, edges, np.zeros((6, 6)))
    assert parents[2] == -1  # the most central bone of the chain
    assert list(parents) == [1, 2, -1, 2, 3, 2]  # the lone bone hangs from the root


def test_quaternius_clip_within_target(shared):
    path = shared("data", "quaternius", "animals_pack", "Fox.glb")
    mesh = read_mesh(path)
    anim = sample_animation(path, clip="Gallop", frames=16, fps=15.0)
    fit = fit_skinning(mesh.vertices, anim.vertices, mesh.faces, bones=32)
    check_weights(fit)
    assert fit.mean_error <= 0.01, fit.report()  # the target: 1% of the extent with 32 bones
