r"""Plain numpy geometry shared by the readers and writers of :mod:`meshflow.io`.

* rotations: quaternions stored the glTF way, ``(x, y, z, w)``; translation /
  rotation / scale (TRS) to and from 4x4 matrices;
* welding: vertices a file splits (UV seams) merged by position
  (:func:`weld_vertices`), animations merged by position and trajectory
  (:func:`weld_animation`), triangles that collapse dropped
  (:func:`drop_degenerate_faces`);
* area-weighted face and vertex normals;
* shape and motion of an animation against its frame 0 (:func:`edge_length_change`,
  :func:`motion_amount`), in units of the original's normalisation scale.

This is the bottom of ``meshflow.io``: it imports nothing but numpy.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np


# ------------------------------------------------------------ quaternions ---
def quat_normalize(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions scaled to unit length; a zero quaternion becomes the identity ``(0, 0, 0, 1)``."""
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(n > 0, q / np.where(n > 0, n, 1.0), np.array([0.0, 0.0, 0.0, 1.0]))


def quat_slerp(q0: np.ndarray, q1: np.ndarray, u: np.ndarray) -> np.ndarray:
    r"""Spherical interpolation on the short arc: ``q1`` is negated where ``q0 . q1 < 0``.

    Shapes:
        - **input:** q0, q1 (M, 4) xyzw; u (M,) in [0, 1]
        - **output:** (M, 4) unit quaternions
    """
    q0, q1 = quat_normalize(q0), quat_normalize(q1)
    dot = np.sum(q0 * q1, axis=-1)
    q1 = np.where((dot < 0)[:, None], -q1, q1)
    dot = np.abs(dot)
    u = u[:, None]
    close = (dot > 0.9995)[:, None]
    theta = np.arccos(np.clip(dot, -1.0, 1.0))[:, None]
    sin = np.sin(theta)
    safe = np.where(close, 1.0, sin)
    a = np.where(close, 1 - u, np.sin((1 - u) * theta) / safe)
    b = np.where(close, u, np.sin(u * theta) / safe)
    return quat_normalize(a * q0 + b * q1)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions ``(x, y, z, w)`` -> (..., 3, 3) rotation matrices."""
    q = quat_normalize(np.asarray(q, dtype=np.float64))
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], axis=-1).reshape(q.shape[:-1] + (3, 3))


def compose_trs(t: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Translation (..., 3), rotation (..., 4) xyzw, scale (..., 3) -> (..., 4, 4) ``T @ R @ S``."""
    m = np.zeros(t.shape[:-1] + (4, 4))
    m[..., :3, :3] = quat_to_matrix(r) * s[..., None, :]
    m[..., :3, 3] = t
    m[..., 3, 3] = 1.0
    return m


def quat_from_matrix(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions ``(x, y, z, w)``."""
    m = np.asarray(m, dtype=np.float64)
    # Largest-diagonal branch of the standard conversion, vectorised.
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cand = np.stack([tr, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], axis=-1)
    k = np.argmax(cand, axis=-1)
    q = np.empty(m.shape[:-2] + (4,))
    for branch in range(4):
        sel = k == branch
        if not np.any(sel):
            continue
        a = m[sel]
        if branch == 0:
            s = np.sqrt(1.0 + tr[sel]) * 2
            v = [(a[:, 2, 1] - a[:, 1, 2]) / s, (a[:, 0, 2] - a[:, 2, 0]) / s, (a[:, 1, 0] - a[:, 0, 1]) / s, s / 4]
        elif branch == 1:
            s = np.sqrt(1.0 + a[:, 0, 0] - a[:, 1, 1] - a[:, 2, 2]) * 2
            v = [s / 4, (a[:, 0, 1] + a[:, 1, 0]) / s, (a[:, 0, 2] + a[:, 2, 0]) / s, (a[:, 2, 1] - a[:, 1, 2]) / s]
        elif branch == 2:
            s = np.sqrt(1.0 + a[:, 1, 1] - a[:, 0, 0] - a[:, 2, 2]) * 2
            v = [(a[:, 0, 1] + a[:, 1, 0]) / s, s / 4, (a[:, 1, 2] + a[:, 2, 1]) / s, (a[:, 0, 2] - a[:, 2, 0]) / s]
        else:
            s = np.sqrt(1.0 + a[:, 2, 2] - a[:, 0, 0] - a[:, 1, 1]) * 2
            v = [(a[:, 0, 2] + a[:, 2, 0]) / s, (a[:, 1, 2] + a[:, 2, 1]) / s, s / 4, (a[:, 1, 0] - a[:, 0, 1]) / s]
        q[sel] = np.stack(v, axis=-1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def decompose_matrix(m: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 4x4 affine (no shear) -> translation (3,), rotation (4,) xyzw, scale (3,)."""
    m = np.asarray(m, dtype=np.float64).reshape(4, 4)
    t = m[:3, 3].copy()
    s = np.linalg.norm(m[:3, :3], axis=0)
    s[s == 0] = 1.0
    r = m[:3, :3] / s
    if np.linalg.det(r) < 0:
        s[0], r[:, 0] = -s[0], -r[:, 0]
    return t, quat_from_matrix(r), s


# ---------------------------------------------------------------- welding ---
def weld_vertices(vertices: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    r"""Merges vertices with identical coordinates.

    Welded vertices keep the order of their first occurrence in the file, so a
    mesh without duplicates keeps its vertex order exactly.

    Args:
        vertices (numpy.ndarray): file vertices, shape (N_file, 3).

    Returns:
        ``(unique_positions (N, 3), source_index (N_file,))`` with
        ``unique_positions[source_index] == vertices``.
    """
    vertices = np.ascontiguousarray(vertices)
    if len(vertices) == 0:
        return vertices.reshape(0, 3), np.zeros(0, dtype=np.int64)
    # -0.0 and 0.0 are the same position; normalise before comparing bytes.
    v = vertices + 0.0
    row_view = v.view(np.dtype((np.void, v.dtype.itemsize * v.shape[1]))).ravel()
    _, first, inverse = np.unique(row_view, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # unique id -> rank by first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    source_index = rank[inverse.ravel()].astype(np.int64)
    return vertices[first[order]], source_index


def drop_degenerate_faces(faces: np.ndarray) -> Tuple[np.ndarray, int]:
    """Removes triangles that use one vertex twice; returns (faces, number dropped)."""
    if len(faces) == 0:
        return faces, 0
    bad = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    return faces[~bad], int(bad.sum())


def weld_animation(vertices: np.ndarray, faces: np.ndarray, tol: float = 1e-6
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Merges vertices that coincide in frame 0 and stay together in every frame.

    Vertices with bit-identical frame-0 positions are grouped (as
    :func:`weld_vertices` does); a vertex whose trajectory
    leaves its group's by more than ``tol`` times the frame-0 extent keeps its own
    index. Triangles that collapse are dropped.

    Returns:
        ``(vertices (T, M, 3), faces (F', 3), source_index (N,))`` with
        ``vertices[:, source_index] ~= input vertices``.
    """
    vertices = np.asarray(vertices)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    n = vertices.shape[1]
    if n == 0:
        return vertices, faces, np.zeros(0, dtype=np.int64)
    _, group = weld_vertices(vertices[0])
    first = np.full(group.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, group, np.arange(n))
    rep = first[group]
    dup = np.flatnonzero(rep != np.arange(n))  # only these can leave their group (the others are it)
    keep = np.ones(n, dtype=bool)
    if dup.size:
        extent = float(np.ptp(vertices[0], axis=0).max()) or 1.0
        keep[dup] = np.abs(vertices[:, dup] - vertices[:, rep[dup]]).max(axis=(0, 2)) <= tol * extent
    owner = np.where(keep, rep, np.arange(n))  # file vertex -> representative file vertex
    reps, source_index = np.unique(owner, return_inverse=True)
    # np.unique sorts by representative index = first occurrence order, as weld_vertices does.
    out_v = np.ascontiguousarray(vertices[:, reps])
    out_f = source_index[faces] if faces.size else faces
    out_f, _ = drop_degenerate_faces(out_f)
    return out_v, out_f, source_index.astype(np.int64)


# ---------------------------------------------------------------- normals ---
def smoothstep(x: np.ndarray) -> np.ndarray:
    r""":math:`3x^2 - 2x^3` of ``x`` clipped to [0, 1]: an ease from 0 to 1 with zero slope at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted face normals (F, 3) in float64 (length = twice the area)."""
    v = vertices.astype(np.float64, copy=False)
    return np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])


def unit(x: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(length > 0, length, 1.0)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals, (N, 3); vertices in no face get (0, 0, 0)."""
    n = np.zeros((len(vertices), 3), dtype=np.float64)
    if len(faces) == 0:
        return n.astype(np.float32)
    fn = face_normals(vertices, faces)
    for k in range(3):
        n += np.stack([np.bincount(faces[:, k], weights=fn[:, d], minlength=len(vertices)) for d in range(3)], axis=1)
    return unit(n).astype(np.float32)


# ------------------------------------------------------ shape and motion ---
def frame_scale(points: np.ndarray) -> float:
    r"""The original's normalisation scale of one frame, :math:`s = \max_{i,d} |x_{id} - c_d|` with
    :math:`c` the bounding-box centre (half the largest side of the box; 1 for a single point or none).

    Shapes:
        - **input:** points (N, 3)
        - **output:** float
    """
    x = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(x) == 0:
        return 1.0
    center = (x.max(axis=0) + x.min(axis=0)) / 2
    scale = float(np.abs(x - center).max())
    return scale if scale > 0 else 1.0


def mesh_edges(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges (E, 2), ``i < j``, of triangles (F, 3)."""
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    e = e[e[:, 0] != e[:, 1]]
    return np.unique(e, axis=0) if len(e) else e.reshape(0, 2)


#: Edges shorter than this fraction of the frame scale join coincident vertices (:func:`edge_length_change`).
COINCIDENT = 1e-6


def edge_length_change(frames: np.ndarray, faces: np.ndarray) -> float:
    r"""Shape preservation: the mean relative change of the edge lengths against frame 0.

    .. math::
        E = \operatorname{mean}_{t \ge 1,\,(i,j)}
            \frac{\bigl|\,\lVert x_t^i - x_t^j\rVert - \ell_{ij}\bigr|}{\ell_{ij}},
        \qquad \ell_{ij} = \lVert x_0^i - x_0^j\rVert

    over the mesh edges: 0 for rigid motion, 0 when there is a single frame or no usable edge (a point
    cloud). Edges shorter than :data:`COINCIDENT` times the :func:`frame_scale` of frame 0 are left out:
    they join vertices meant to coincide (split at a UV or normal seam, stored with float32 rounding; the
    Quaternius Piranha has nine at about 1e-10 of its size), and any motion of one relative to the other
    would otherwise make a relative change of thousands and decide the mean of a whole mesh.

    Shapes:
        - **input:** frames (T, N, 3), faces (F, 3)
        - **output:** float
    """
    x = np.asarray(frames, dtype=np.float64)
    e = mesh_edges(faces)
    if x.shape[0] < 2 or len(e) == 0:
        return 0.0
    length = np.linalg.norm(x[:, e[:, 0]] - x[:, e[:, 1]], axis=-1)  # (T, E)
    keep = length[0] > COINCIDENT * frame_scale(x[0])
    if not keep.any():
        return 0.0
    return float((np.abs(length[1:, keep] - length[0, keep]) / length[0, keep]).mean())


def motion_amount(frames: np.ndarray) -> float:
    r"""Motion amount: the mean displacement from frame 0, :math:`\operatorname{mean}_{t,i}
    \lVert x_t^i - x_0^i\rVert / s` with :math:`s` the :func:`frame_scale` of frame 0 (0 for no vertices).

    Shapes:
        - **input:** frames (T, N, 3)
        - **output:** float
    """
    x = np.asarray(frames, dtype=np.float64)
    if x.shape[1] == 0:
        return 0.0
    return float(np.linalg.norm(x - x[:1], axis=-1).mean() / frame_scale(x[0]))


__all__ = ["compose_trs", "decompose_matrix", "drop_degenerate_faces", "edge_length_change", "face_normals",
           "frame_scale", "mesh_edges", "motion_amount", "quat_from_matrix", "quat_normalize", "quat_slerp",
           "quat_to_matrix", "unit", "vertex_normals", "weld_animation", "weld_vertices"]
