"""Plain numpy geometry (meshflow.io.geometry) against simple references."""
import math

import numpy as np
import pytest

from meshflow.io.geometry import (compose_trs, decompose_matrix, drop_degenerate_faces, face_normals,
                                  quat_from_matrix, quat_normalize, quat_slerp, quat_to_matrix, vertex_normals,
                                  weld_animation, weld_vertices)


def axis_angle(axis, angle):
    """Reference quaternion (x, y, z, w) of a rotation by ``angle`` about ``axis``."""
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    return np.concatenate([axis * math.sin(angle / 2), [math.cos(angle / 2)]])


def rodrigues(axis, angle):
    """Reference rotation matrix by Rodrigues' formula."""
    k = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


def random_rotations(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(3), rng.uniform(-math.pi, math.pi)) for _ in range(n)]


def test_quat_normalize_and_zero():
    q = quat_normalize(np.array([[0.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0]]))
    np.testing.assert_array_equal(q, [[0, 0, 0, 1], [0, 0, 0, 1]])


@pytest.mark.parametrize("axis,angle", random_rotations(6))
def test_quat_to_matrix_matches_rodrigues(axis, angle):
    np.testing.assert_allclose(quat_to_matrix(axis_angle(axis, angle)), rodrigues(axis, angle), atol=1e-12)


@pytest.mark.parametrize("axis,angle", random_rotations(6, seed=1) + [([1, 0, 0], math.pi), ([0, 1, 1], -math.pi)])
def test_quat_from_matrix_round_trip(axis, angle):
    q = quat_from_matrix(rodrigues(axis, angle))
    np.testing.assert_allclose(np.linalg.norm(q), 1.0, atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(q), rodrigues(axis, angle), atol=1e-12)  # q and -q: same rotation


def test_slerp_is_rotation_about_one_axis():
    axis = [0.3, -1.0, 0.5]
    q0, q1 = axis_angle(axis, 0.2), axis_angle(axis, 1.4)
    u = np.array([0.0, 0.25, 0.5, 1.0])
    out = quat_slerp(np.tile(q0, (4, 1)), np.tile(q1, (4, 1)), u)
    ref = np.stack([axis_angle(axis, 0.2 + 1.2 * x) for x in u])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    # The short arc: -q1 is the same rotation and gives the same path.
    np.testing.assert_allclose(quat_slerp(np.tile(q0, (4, 1)), -np.tile(q1, (4, 1)), u), ref, atol=1e-12)


def test_compose_and_decompose_trs():
    t, r, s = np.array([1.0, -2.0, 0.5]), axis_angle([1, 2, 3], 0.7), np.array([2.0, 0.5, 1.5])
    m = compose_trs(t, r, s)
    ref = np.eye(4)
    ref[:3, :3] = rodrigues([1, 2, 3], 0.7) @ np.diag(s)
    ref[:3, 3] = t
    np.testing.assert_allclose(m, ref, atol=1e-12)
    t2, r2, s2 = decompose_matrix(m)
    np.testing.assert_allclose(t2, t, atol=1e-12)
    np.testing.assert_allclose(s2, s, atol=1e-12)
    np.testing.assert_allclose(compose_trs(t2, r2, s2), m, atol=1e-12)


def test_weld_vertices_keeps_first_occurrence_order():
    v = np.array([[1, 0, 0], [0, 0, 0], [1, 0, 0], [0, -0.0, 0], [2, 2, 2]], dtype=np.float32)
    unique, src = weld_vertices(v)
    np.testing.assert_array_equal(unique, [[1, 0, 0], [0, 0, 0], [2, 2, 2]])
    np.testing.assert_array_equal(src, [0, 1, 0, 1, 2])
    np.testing.assert_array_equal(unique[src], v)  # -0.0 == 0.0


def test_drop_degenerate_faces():
    f = np.array([[0, 1, 2], [0, 0, 1], [2, 3, 3], [1, 2, 3]])
    kept, dropped = drop_degenerate_faces(f)
    np.testing.assert_array_equal(kept, [[0, 1, 2], [1, 2, 3]])
    assert dropped == 2


def test_weld_animation_merges_only_vertices_that_move_together():
    rest = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
    v = np.stack([rest, rest + 0.1, rest + 0.2])
    v[:, 4] += np.array([0, 0, 1.0])[None] * np.arange(3)[:, None]  # vertex 4 leaves vertex 2
    out, faces, src = weld_animation(v, np.array([[0, 1, 2], [0, 3, 4]]))
    np.testing.assert_array_equal(src, [0, 1, 2, 1, 3])
    np.testing.assert_array_equal(out[:, src], v)
    np.testing.assert_array_equal(faces, [[0, 1, 2], [0, 1, 3]])


def test_vertex_normals_of_a_tetrahedron_corner():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    np.testing.assert_allclose(face_normals(v, f)[0], [0, 0, -1])  # twice the area (1/2)
    n = vertex_normals(v, f)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(n[0], -np.ones(3) / math.sqrt(3), atol=1e-6)  # equal-area faces at the origin
    assert vertex_normals(v, np.zeros((0, 3), dtype=np.int64)).tolist() == np.zeros((4, 3)).tolist()
