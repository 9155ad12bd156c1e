"""Small meshes built from nothing: for tests, examples, benchmarks.

Each function returns ``(vertices (N, 3) float32, faces (F, 3) int64)`` numpy arrays.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

Mesh = Tuple[np.ndarray, np.ndarray]


def tetrahedron() -> Mesh:
    v = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float32)
    f = np.array([[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]], dtype=np.int64)
    return v, f


def grid(rows: int = 4, cols: int = 4) -> Mesh:
    """A flat (rows x cols)-vertex grid in the xy-plane, two triangles per cell."""
    ys, xs = np.meshgrid(np.linspace(-1, 1, rows), np.linspace(-1, 1, cols), indexing="ij")
    v = np.stack([xs.ravel(), ys.ravel(), np.zeros(rows * cols)], axis=1).astype(np.float32)
    idx = np.arange(rows * cols).reshape(rows, cols)
    a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    f = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)]).astype(np.int64)
    return v, f


def subdivide(vertices: np.ndarray, faces: np.ndarray, loops: int = 1) -> Mesh:
    """Midpoint subdivision: every loop splits each triangle into four (shared edges share midpoints)."""
    v, f = np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    for _ in range(loops):
        edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
        edges.sort(axis=1)
        uniq, inv = np.unique(edges, axis=0, return_inverse=True)
        inv = inv.ravel()
        mids = (v[uniq[:, 0]] + v[uniq[:, 1]]) / 2
        m = inv.reshape(3, -1).T + len(v)  # (F, 3): midpoints of edges 01, 12, 20
        a, b, c = f[:, 0], f[:, 1], f[:, 2]
        m01, m12, m20 = m[:, 0], m[:, 1], m[:, 2]
        f = np.concatenate([
            np.stack([a, m01, m20], 1), np.stack([m01, b, m12], 1),
            np.stack([m20, m12, c], 1), np.stack([m01, m12, m20], 1),
        ])
        v = np.concatenate([v, mids])
    return v.astype(np.float32), f


def icosphere(subdivisions: int = 1) -> Mesh:
    """Unit icosphere: 12 vertices at 0 subdivisions, 42 at 1, 162 at 2, 10 * 4^n + 2 in general."""
    t = (1 + 5 ** 0.5) / 2
    v = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
                  [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], dtype=np.float64)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
                  [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
                  [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]], dtype=np.int64)
    v, f = subdivide(v, f, subdivisions)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float32), f
