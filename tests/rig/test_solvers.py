"""The batched solvers of the rig fit against plain loop references."""
import itertools

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.spatial.transform import Rotation

from meshflow.rig.solvers import blend_skin, kabsch, simplex_lstsq


def kabsch_loop(p, q, w):
    """One weighted Kabsch, written out."""
    pm = sum(wi * pi for wi, pi in zip(w, p)) / w.sum()
    qm = sum(wi * qi for wi, qi in zip(w, q)) / w.sum()
    h = np.zeros((3, 3))
    for wi, pi, qi in zip(w, p, q):
        h += wi * np.outer(qi - qm, pi - pm)
    u, _, vt = np.linalg.svd(h)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    return r, qm - r @ pm


def test_kabsch_matches_loop_and_recovers_motions():
    rng = np.random.default_rng(0)
    p = rng.standard_normal((5, 20, 3))
    rot = Rotation.random(5, random_state=1).as_matrix()
    shift = rng.standard_normal((5, 3))
    q = np.einsum("bij,bnj->bni", rot, p) + shift[:, None] + 0.01 * rng.standard_normal((5, 20, 3))
    w = rng.random((5, 20))
    r, t = kabsch(p, q, w)
    for b in range(5):
        r_ref, t_ref = kabsch_loop(p[b], q[b], w[b])
        np.testing.assert_allclose(r[b], r_ref, atol=1e-10)
        np.testing.assert_allclose(t[b], t_ref, atol=1e-10)
    exact_r, exact_t = kabsch(p, np.einsum("bij,bnj->bni", rot, p) + shift[:, None])
    np.testing.assert_allclose(exact_r, rot, atol=1e-10)
    np.testing.assert_allclose(exact_t, shift, atol=1e-10)
    assert np.allclose(np.linalg.det(r), 1.0)  # proper rotations, never reflections


def test_kabsch_without_weight_is_identity():
    r, t = kabsch(np.ones((2, 4, 3)), np.ones((2, 4, 3)), np.zeros((2, 4)))
    np.testing.assert_array_equal(r, np.tile(np.eye(3), (2, 1, 1)))


def brute_simplex(g, c):
    """Minimum over the simplex by SLSQP from every vertex (a reference, not fast)."""
    k = len(c)
    best = None
    for start in np.eye(k):
        res = minimize(lambda w: w @ g @ w - 2 * c @ w, start, jac=lambda w: 2 * g @ w - 2 * c,
                       bounds=[(0, None)] * k, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                       method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
        if best is None or res.fun < best.fun:
            best = res
    return best.x, best.fun


@pytest.mark.parametrize("k", [1, 2, 4])
def test_simplex_lstsq_matches_brute_force(k):
    rng = np.random.default_rng(k)
    a = rng.standard_normal((30, 12, k))
    b = rng.standard_normal((30, 12))
    g, c = np.einsum("bnk,bnl->bkl", a, a), np.einsum("bnk,bn->bk", a, b)
    w = simplex_lstsq(g, c, ridge=0.0)
    assert np.all(w >= 0) and np.allclose(w.sum(axis=1), 1.0)
    for i in range(30):
        ref_w, ref_f = brute_simplex(g[i], c[i])
        f = w[i] @ g[i] @ w[i] - 2 * c[i] @ w[i]
        assert f <= ref_f + 1e-7
        np.testing.assert_allclose(w[i], ref_w, atol=1e-4)


def test_simplex_lstsq_recovers_a_convex_combination():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((10, 9, 4))
    true = rng.dirichlet(np.ones(4), size=10)
    true[:, 3] = 0.0
    true /= true.sum(axis=1, keepdims=True)
    b = np.einsum("bnk,bk->bn", a, true)
    w = simplex_lstsq(np.einsum("bnk,bnl->bkl", a, a), np.einsum("bnk,bn->bk", a, b))
    np.testing.assert_allclose(w, true, atol=1e-6)


def test_simplex_lstsq_checks_shapes():
    with pytest.raises(ValueError, match=r"Expected 'gram' to have shape \(2, 3, 3\)"):
        simplex_lstsq(np.zeros((2, 2, 2)), np.zeros((2, 3)))


def test_blend_skin_matches_loop():
    rng = np.random.default_rng(0)
    rest = rng.standard_normal((7, 3))
    joints = np.array([list(c) for c in itertools.islice(itertools.permutations(range(5), 3), 7)])
    weights = rng.dirichlet(np.ones(3), size=7)
    rot = Rotation.random(4 * 5, random_state=2).as_matrix().reshape(4, 5, 3, 3)
    trans = rng.standard_normal((4, 5, 3))
    out = blend_skin(rest, joints, weights, rot, trans)
    for t in range(4):
        for i in range(7):
            ref = sum(weights[i, k] * (rot[t, joints[i, k]] @ rest[i] + trans[t, joints[i, k]]) for k in range(3))
            np.testing.assert_allclose(out[t, i], ref, atol=1e-12)
