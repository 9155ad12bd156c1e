r"""The two small solves of skinning decomposition, batched in numpy, and linear blend skinning.

* :func:`kabsch`: weighted rigid (rotation + translation) fits, many at once (Kabsch 1976,
  with the reflection fix);
* :func:`simplex_lstsq`: least squares over the probability simplex (non-negative weights
  summing to one) for a few unknowns, many problems at once, exact by enumerating the faces
  of the simplex;
* :func:`blend_skin`: linear blend skinning of rest positions by per-frame rigid bone transforms.

Plain numpy, float64: the rig fit (:mod:`meshflow.rig.ssdr`) calls them on every vertex and frame.
"""
from __future__ import annotations

import itertools
from typing import Optional, Tuple

import numpy as np


def kabsch(source: np.ndarray, target: np.ndarray, weight: Optional[np.ndarray] = None
           ) -> Tuple[np.ndarray, np.ndarray]:
    r"""Weighted rigid fits :math:`x \mapsto R x + t` of ``source`` points onto ``target`` points.

    .. math::
        (R, t) = \operatorname*{arg\,min}_{R \in SO(3),\, t} \sum_i w_i \lVert R p_i + t - q_i \rVert^2,
        \qquad R = U \operatorname{diag}(1, 1, \det U V^\top) V^\top

    with :math:`U \Sigma V^\top` the SVD of the weighted cross-covariance
    :math:`H = \sum_i w_i (q_i - \bar q)(p_i - \bar p)^\top` and :math:`t = \bar q - R \bar p`
    (weighted centroids). Problems without weight give the identity.

    Args:
        source: (..., n, 3) points :math:`p`.
        target: (..., n, 3) points :math:`q`.
        weight: (..., n) non-negative weights (default: all ones).

    Shapes:
        - **input:** source (..., n, 3), target (..., n, 3), weight (..., n)
        - **output:** rotations (..., 3, 3), translations (..., 3)
    """
    p = np.asarray(source, dtype=np.float64)
    q = np.asarray(target, dtype=np.float64)
    w = np.ones(q.shape[:-1]) if weight is None else np.broadcast_to(np.asarray(weight, dtype=np.float64),
                                                                      q.shape[:-1])
    total = w.sum(axis=-1)  # (...)
    safe = np.where(total > 0, total, 1.0)[..., None]
    p_mean = np.einsum("...n,...nc->...c", w, np.broadcast_to(p, q.shape)) / safe
    q_mean = np.einsum("...n,...nc->...c", w, q) / safe
    h = np.einsum("...n,...na,...nb->...ab", w, q - q_mean[..., None, :], p - p_mean[..., None, :])
    return rotation_from_covariance(h, p_mean, q_mean, total > 0)


def rotation_from_covariance(h: np.ndarray, p_mean: np.ndarray, q_mean: np.ndarray,
                             valid: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    r"""The proper rotation closest to the cross-covariance ``h`` (..., 3, 3) and the translation
    :math:`t = \bar q - R \bar p` (see :func:`kabsch`); identity where ``valid`` is False."""
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    d = np.where(d == 0, 1.0, d)
    u = u.copy()
    u[..., :, 2] *= d[..., None]
    r = u @ vt  # (..., 3, 3)
    if valid is not None:
        r = np.where(valid[..., None, None], r, np.eye(3))
    t = q_mean - np.einsum("...ab,...b->...a", r, p_mean)
    return r, t


#: (subset masks (S, k), for each number of unknowns k) reused between calls.
_FACES = {}


def _faces(k: int) -> np.ndarray:
    if k not in _FACES:
        _FACES[k] = np.array([m for m in itertools.product([0, 1], repeat=k) if any(m)], dtype=bool)
    return _FACES[k]


def simplex_lstsq(gram: np.ndarray, linear: np.ndarray, ridge: float = 1e-9) -> np.ndarray:
    r"""Exact minimisers over the probability simplex of many small convex quadratics.

    .. math::
        w^\star = \operatorname*{arg\,min}_{w \ge 0,\ \mathbf 1^\top w = 1} w^\top G w - 2 c^\top w

    (:math:`G = A^\top A`, :math:`c = A^\top b` for the least squares :math:`\lVert A w - b\rVert^2`).
    The minimiser lies in the relative interior of one face of the simplex, where it is the
    equality-constrained minimiser of that face, solved from its KKT system
    :math:`\begin{pmatrix} 2 G_{SS} & \mathbf 1 \\ \mathbf 1^\top & 0 \end{pmatrix}
    \begin{pmatrix} w_S \\ \lambda \end{pmatrix} = \begin{pmatrix} 2 c_S \\ 1 \end{pmatrix}`;
    every one of the :math:`2^k - 1` faces is solved, batched (vertices and edges in closed form),
    and the best feasible one kept.
    ``ridge`` times the mean diagonal of :math:`G` is added to the diagonal, so that
    rank-deficient problems have a unique answer.

    Args:
        gram: (B, k, k) symmetric positive semi-definite :math:`G`.
        linear: (B, k) :math:`c`.
        ridge: relative Tikhonov term. (default: :obj:`1e-9`)

    Shapes:
        - **input:** gram (B, k, k), linear (B, k)
        - **output:** (B, k) weights, non-negative, rows summing to 1
    """
    g = np.asarray(gram, dtype=np.float64)
    c = np.asarray(linear, dtype=np.float64)
    B, k = c.shape
    if g.shape != (B, k, k):
        raise ValueError(f"Expected 'gram' to have shape ({B}, {k}, {k}) (got {g.shape})")
    scale = np.einsum("bii->b", g) / k
    g = g + (ridge * np.where(scale > 0, scale, 1.0))[:, None, None] * np.eye(k)
    best = np.full(B, np.inf)
    out = np.zeros((B, k))
    for mask in _faces(k):
        idx = np.flatnonzero(mask)
        m = len(idx)
        if m == 1:  # a vertex of the simplex
            sol = np.ones((B, 1))
        elif m == 2:  # an edge: u = (G_bb - G_ab + c_a - c_b) / (G_aa - 2 G_ab + G_bb)
            i, j = idx
            den = g[:, i, i] - 2 * g[:, i, j] + g[:, j, j]
            u = np.divide(g[:, j, j] - g[:, i, j] + c[:, i] - c[:, j], den, out=np.full(B, -1.0), where=den > 0)
            sol = np.stack([u, 1 - u], axis=1)
        else:
            kkt = np.zeros((B, m + 1, m + 1))
            kkt[:, :m, :m] = 2 * g[:, idx[:, None], idx[None, :]]
            kkt[:, :m, m] = kkt[:, m, :m] = 1.0
            rhs = np.concatenate([2 * c[:, idx], np.ones((B, 1))], axis=1)
            sol = np.linalg.solve(kkt, rhs[..., None])[..., 0]
        w = np.zeros((B, k))
        w[:, idx] = sol[:, :m]
        feasible = np.all(sol[:, :m] >= -1e-12, axis=1)
        w = np.clip(w, 0.0, None)
        w /= w.sum(axis=1, keepdims=True)
        value = np.einsum("bi,bij,bj->b", w, g, w) - 2 * np.einsum("bi,bi->b", c, w)
        take = feasible & (value < best)
        best = np.where(take, value, best)
        out[take] = w[take]
    return out


def blend_skin(rest: np.ndarray, joints: np.ndarray, weights: np.ndarray, rotations: np.ndarray,
               translations: np.ndarray) -> np.ndarray:
    r"""Linear blend skinning :math:`v_{ti} = \sum_k w_{ik} (R_{t j_{ik}} p_i + t_{t j_{ik}})`.

    Args:
        rest: (N, 3) rest positions :math:`p`.
        joints: (N, K) bone of each influence.
        weights: (N, K) its weight.
        rotations: (T, J, 3, 3) per-frame bone rotations.
        translations: (T, J, 3) per-frame bone translations.

    Shapes:
        - **input:** rest (N, 3), joints (N, K), weights (N, K), rotations (T, J, 3, 3), translations (T, J, 3)
        - **output:** (T, N, 3) float64
    """
    p = np.asarray(rest, dtype=np.float64)
    joints = np.asarray(joints)
    w = np.asarray(weights, dtype=np.float64)
    out = np.zeros((len(rotations), len(p), 3))
    for k in range(joints.shape[1]):
        r = rotations[:, joints[:, k]]  # (T, N, 3, 3)
        out += w[None, :, k, None] * (np.einsum("tnab,nb->tna", r, p) + translations[:, joints[:, k]])
    return out


__all__ = ["blend_skin", "kabsch", "rotation_from_covariance", "simplex_lstsq"]
