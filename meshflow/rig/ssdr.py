r"""Smooth Skinning Decomposition with Rigid Bones (Le and Deng 2012): a rig fitted to trajectories.

Given rest positions :math:`p_i` and frames :math:`v_{ti}`, :func:`fit_skinning` finds J bones
with per-frame rigid transforms :math:`(R_{tj}, t_{tj})` and per-vertex weights :math:`w_{ij}`
(at most K of them non-zero, non-negative, summing to one) minimising

.. math::
    E = \sum_{t,i} \Bigl\lVert \sum_j w_{ij} (R_{tj} p_i + t_{tj}) - v_{ti} \Bigr\rVert^2 .

1. **Bones as connected regions.** Seeds by farthest point sampling of the vertex trajectories
   :math:`(p_i, v_{1i}, \dots, v_{Ti})`; every vertex joins the seed nearest over the mesh graph
   (multi-source Dijkstra, an edge costing the distance between its ends' trajectories), so each
   region is connected. Then a few rounds of rigid k-means: one rigid fit per region
   (:func:`~meshflow.rig.solvers.kabsch`), each vertex moves to the bone that predicts it best;
   a bone left with fewer than ``min_bone_vertices`` vertices is re-seeded on the worst-fit
   vertex and its two-ring (SSDR's bone re-initialisation).
2. **Alternation.** (a) Weights: per vertex, the K bones that predict it best alone, then the
   exact least squares over the simplex (:func:`~meshflow.rig.solvers.simplex_lstsq`).
   (b) Transforms: bone by bone (Gauss-Seidel), the weighted Procrustes problem
   :math:`\min_{R,t} \sum_i \lVert w_{ij}(R p_i + t) - r_{ti} \rVert^2` on the residual
   :math:`r_{ti} = v_{ti} - \sum_{k \ne j} w_{ik}(R_{tk} p_i + t_{tk})`, for all frames at once.
   Until the RMS error improves by less than ``tolerance`` of itself.

The fit runs on the welded graph vertices (:func:`weld_rig_input`, :func:`fit_vertex_count`);
weights come back per input vertex. Bones that end with no weight are dropped; the rest get a
hierarchy (:func:`bone_tree`) for the glTF writer.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components, dijkstra, minimum_spanning_tree

from ..errors import BoneCountError, MeshflowError, check_integer
from ..io.geometry import mesh_edges, weld_animation
from .solvers import blend_skin, rotation_from_covariance, simplex_lstsq


@dataclass
class RigConfig:
    """Defaults of the rig fit (the one place they live)."""

    bones: int = 32  # J: enough for a character's clip, few enough for every engine
    influences: int = 4  # K: what JOINTS_0 / WEIGHTS_0 hold
    iterations: int = 12  # at most this many weight/transform alternations
    cluster_iterations: int = 4  # rigid k-means rounds of the initialisation
    tolerance: float = 2e-3  # stop when the RMS error improves by less than this fraction of itself
    min_bone_vertices: int = 3  # a smaller region is re-seeded (three points fix a rigid motion)


@dataclass
class SkinningFit:
    r"""A fitted linear blend skinning rig.

    Attributes:
        rest (numpy.ndarray): (N, 3) rest positions, per input vertex.
        joints (numpy.ndarray): (N, K) int64 bone of each influence (0 where the weight is 0).
        weights (numpy.ndarray): (N, K) float64 weights, non-negative, rows summing to 1, largest first.
        rotations (numpy.ndarray): (T, J, 3, 3) per-frame bone rotations.
        translations (numpy.ndarray): (T, J, 3) per-frame bone translations (:math:`x \mapsto R x + t`).
        centers (numpy.ndarray): (J, 3) rest centre of each bone (weighted mean of its vertices).
        parents (numpy.ndarray): (J,) parent bone, -1 for the root.
        extent (float): largest side of the rest bounding box: errors are fractions of it.
        mean_error, max_error (float): mean and largest vertex-frame distance to the frames / extent
            (over the welded vertices).
        iterations (int): alternations run. seconds (float): time of the fit.
    """

    rest: np.ndarray
    joints: np.ndarray
    weights: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray
    centers: np.ndarray
    parents: np.ndarray
    extent: float
    mean_error: float
    max_error: float
    iterations: int = 0
    seconds: float = 0.0

    @property
    def bones(self) -> int:
        return int(self.rotations.shape[1])

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    def frames(self) -> np.ndarray:
        """(T, N, 3) the rig's frames (:func:`~meshflow.rig.solvers.blend_skin` of :attr:`rest`)."""
        return blend_skin(self.rest, self.joints, self.weights, self.rotations, self.translations)

    def report(self) -> dict:
        return {"bones": self.bones, "mean_error": self.mean_error, "max_error": self.max_error,
                "iterations": self.iterations, "seconds": self.seconds}


def check_bones(bones, vertices: int) -> int:
    """``bones`` as an int in [1, vertices]; a :class:`~meshflow.errors.BoneCountError` otherwise (the one
    check of a bone count: :func:`fit_skinning` against the vertices it welds, the commands before their work)."""
    try:
        bones = check_integer("bones", bones, 1)
    except MeshflowError as e:
        raise BoneCountError(str(e)) from None
    if bones > vertices:
        raise BoneCountError(f"Expected 'bones' to be at most the vertex count {vertices} (got {bones})")
    return bones


def weld_rig_input(rest: np.ndarray, frames: np.ndarray, faces: np.ndarray):
    """What the fit runs on (the one place it welds): :func:`~meshflow.io.geometry.weld_animation` of the rest
    pose followed by the frames, ``(stacked (1 + T, M, 3), faces (F', 3), source_index (N,))``."""
    return weld_animation(np.concatenate([rest[None], frames]), faces)


def fit_vertex_count(rest: np.ndarray, frames: Optional[np.ndarray] = None,
                     faces: Optional[np.ndarray] = None) -> int:
    """M, the welded vertex count :func:`fit_skinning` checks the bones against (:func:`weld_rig_input`).
    Without ``frames`` (before the animation exists: ``animate --rig`` before the model runs), the rest
    pose alone: vertices at one position merged, as the pipeline's output keeps them (they share a graph
    vertex, so one trajectory)."""
    rest = np.asarray(rest, dtype=np.float64).reshape(-1, 3)
    frames = np.zeros((0,) + rest.shape) if frames is None else np.asarray(frames, dtype=np.float64)
    faces = np.zeros((0, 3), dtype=np.int64) if faces is None else np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    return int(weld_rig_input(rest, frames, faces)[0].shape[1])


# ---------------------------------------------------------------- helpers ---
def _residuals(P, Vm, R, t) -> np.ndarray:
    r"""(M, J) :math:`\sum_t \lVert R_{tj} p_i + t_{tj} - v_{ti} \rVert^2` by expanding the square into products."""
    T, J = t.shape[:2]
    M = len(P)
    vflat = Vm.reshape(M, T * 3)  # (M, 3T)
    rmat = R.transpose(0, 2, 1, 3).reshape(T * 3, J * 3)  # (t, a) x (j, b)
    cross = np.einsum("mjb,mb->mj", (vflat @ rmat).reshape(M, J, 3), P)  # sum_t v^T R p
    rt = np.einsum("tjab,tja->jb", R, t)  # sum_t R^T t
    r = (T * np.einsum("mc,mc->m", P, P)[:, None] + np.einsum("mc,mc->m", vflat, vflat)[:, None]
         + np.einsum("tjc,tjc->j", t, t)[None] + 2 * P @ rt.T
         - 2 * vflat @ t.transpose(0, 2, 1).reshape(T * 3, J) - 2 * cross)
    return np.maximum(r, 0.0)


def _bone_points(P, R, t, bones, dtype=np.float64) -> np.ndarray:
    r"""(M, K, T, 3) predictions :math:`R_{tj} p_i + t_{tj}` of the bones ``bones`` (M, K) of every vertex."""
    columns = np.ascontiguousarray(R.transpose(1, 3, 0, 2), dtype=dtype)  # (J, 3, T, 3): column b of every R_tj
    shifts = np.ascontiguousarray(t.transpose(1, 0, 2), dtype=dtype)  # (J, T, 3)
    P = P.astype(dtype)
    out = np.empty(bones.shape + (t.shape[0], 3), dtype=dtype)
    for k in range(bones.shape[1]):
        g = columns[bones[:, k]]  # (M, 3, T, 3)
        o = shifts[bones[:, k]]
        for b in range(3):
            o += g[:, b] * P[:, b, None, None]
        out[:, k] = o
    return out


def _cluster_fits(P, V, labels, J):
    """Rigid fits (T, J, 3, 3), (T, J, 3) of every region ``labels`` (M,) onto its frames."""
    M, T = len(P), V.shape[0]
    S = sp.csr_matrix((np.ones(M), (labels, np.arange(M))), shape=(J, M))
    n = np.asarray(S.sum(axis=1)).ravel()
    safe = np.where(n > 0, n, 1.0)
    p_mean = (S @ P) / safe[:, None]  # (J, 3)
    q_mean = (S @ V.transpose(1, 0, 2).reshape(M, T * 3)).reshape(J, T, 3) / safe[:, None, None]
    outer = np.einsum("tma,mb->mtab", V, P - p_mean[labels]).reshape(M, T * 9)
    h = (S @ outer).reshape(J, T, 3, 3).transpose(1, 0, 2, 3)  # sum (q - q_mean)(p - p_mean)^T
    return rotation_from_covariance(h, np.broadcast_to(p_mean, (T, J, 3)), q_mean.transpose(1, 0, 2),
                                    np.broadcast_to(n > 0, (T, J)))


def _seed_regions(X, edges, J) -> np.ndarray:
    """(M,) region of every vertex: FPS seeds over trajectories ``X`` (M, D), grown over the graph."""
    M = len(X)
    d = np.linalg.norm(X - X.mean(axis=0), axis=1)
    seeds = [int(np.argmax(d))]
    d = np.linalg.norm(X - X[seeds[0]], axis=1)
    for _ in range(J - 1):
        seeds.append(int(np.argmax(d)))
        d = np.minimum(d, np.linalg.norm(X - X[seeds[-1]], axis=1))
    seeds = np.array(seeds)
    if len(edges) == 0:
        return np.argmin(np.linalg.norm(X[:, None] - X[seeds][None], axis=2), axis=1)
    cost = np.linalg.norm(X[edges[:, 0]] - X[edges[:, 1]], axis=1) + 1e-9 * (np.ptp(X) or 1.0)
    graph = sp.csr_matrix((cost, (edges[:, 0], edges[:, 1])), shape=(M, M))
    _, _, sources = dijkstra(graph, directed=False, indices=seeds, min_only=True, return_predecessors=True)
    seed_of = np.full(M, -1)
    seed_of[seeds] = np.arange(J)
    labels = np.where(sources >= 0, seed_of[np.maximum(sources, 0)], -1)
    lost = np.flatnonzero(labels < 0)  # parts of the mesh no seed reaches: the nearest seed in trajectory
    for a in range(0, len(lost), 4096):
        chunk = lost[a:a + 4096]
        labels[chunk] = np.argmin(np.linalg.norm(X[chunk, None] - X[seeds][None], axis=2), axis=1)
    return labels


def _ring(adjacency, vertex: int, rings: int = 2) -> np.ndarray:
    near = np.zeros(adjacency.shape[0], dtype=bool)
    near[vertex] = True
    for _ in range(rings):
        near |= (adjacency @ near.astype(np.float64)) > 0
    return np.flatnonzero(near)


def bone_tree(labels: np.ndarray, edges: np.ndarray, coupling: np.ndarray) -> np.ndarray:
    r"""Parents (J,) of a bone hierarchy from the bones' adjacency on the mesh graph.

    Bones are adjacent as often as mesh edges join vertices they dominate (``labels``), plus
    ``coupling`` (J, J) (weights they share). The tree is the maximum spanning tree of that
    adjacency, rooted at the most central bone (least total hop distance to the others of its
    component); the roots of other components hang from the root of the largest.
    """
    J = len(coupling)
    a, b = labels[edges[:, 0]], labels[edges[:, 1]]
    keep = a != b
    adj = sp.coo_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(J, J)).toarray()
    adj = adj + adj.T + coupling + coupling.T
    np.fill_diagonal(adj, 0.0)
    strength = sp.csr_matrix(np.where(adj > 0, 1.0 / (1.0 + adj), 0.0))
    tree = minimum_spanning_tree(strength)
    hops = dijkstra(sp.csr_matrix(adj > 0, dtype=np.float64), directed=False, unweighted=True)
    count, comp = connected_components(sp.csr_matrix(adj > 0), directed=False)
    mass = np.bincount(labels, minlength=J)
    parents = np.full(J, -1)
    roots = []
    for c in sorted(range(count), key=lambda c: -mass[comp == c].sum()):
        members = np.flatnonzero(comp == c)
        far = np.where(np.isinf(hops[np.ix_(members, members)]), 0.0, hops[np.ix_(members, members)]).sum(axis=1)
        root = int(members[np.lexsort((-mass[members], far))[0]])
        order, pred = breadth_first_order(tree, root, directed=False, return_predecessors=True)
        parents[order[1:]] = pred[order[1:]]
        roots.append(root)
    for r in roots[1:]:
        parents[r] = roots[0]
    return parents


# -------------------------------------------------------------------- fit ---
def fit_skinning(rest: np.ndarray, frames: np.ndarray, faces: Optional[np.ndarray] = None,
                 config: Optional[RigConfig] = None, **overrides) -> SkinningFit:
    r"""Fits a linear blend skinning rig to an animation (see the module docstring).

    Args:
        rest: (N, 3) rest positions (the bind pose: an animation's input mesh, else its frame 0).
        frames: (T, N, 3) positions per frame.
        faces: (F, 3) triangles over the N vertices (the mesh graph; none for a point cloud).
        config (RigConfig, optional): the fit's settings; ``overrides`` replace its fields.

    Shapes:
        - **input:** rest (N, 3), frames (T, N, 3), faces (F, 3)
        - **output:** :class:`SkinningFit` with joints, weights (N, K), rotations (T, J, 3, 3)
    """
    start = time.perf_counter()
    cfg = RigConfig(**{**asdict(config or RigConfig()), **overrides})
    rest = np.asarray(rest, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.float64)
    if rest.ndim != 2 or rest.shape[1] != 3:
        raise ValueError(f"Expected 'rest' to have shape (N, 3) (got {rest.shape})")
    if frames.ndim != 3 or frames.shape[1:] != rest.shape or len(frames) < 1:
        raise ValueError(f"Expected 'frames' to have shape (T, {len(rest)}, 3) (got {frames.shape})")
    if not (np.isfinite(rest).all() and np.isfinite(frames).all()):
        raise ValueError("'rest' or 'frames' contains NaN or infinite values")
    faces = np.zeros((0, 3), dtype=np.int64) if faces is None else np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    stacked, wfaces, src = weld_rig_input(rest, frames, faces)
    M = stacked.shape[1]
    J = check_bones(cfg.bones, M)
    K = min(cfg.influences, J)
    center = (stacked[0].max(axis=0) + stacked[0].min(axis=0)) / 2
    P, V = stacked[0] - center, stacked[1:] - center  # centred: smaller numbers in the squares
    T = len(V)
    Vm = np.ascontiguousarray(V.transpose(1, 0, 2))  # (M, T, 3)
    extent = float(np.ptp(stacked[0], axis=0).max()) or 1.0
    edges = mesh_edges(wfaces)
    adjacency = sp.csr_matrix((np.ones(2 * len(edges)), (np.r_[edges[:, 0], edges[:, 1]],
                                                         np.r_[edges[:, 1], edges[:, 0]])), shape=(M, M))

    # 1. Regions, then rigid k-means.
    labels = _seed_regions(stacked.transpose(1, 0, 2).reshape(M, -1), edges, J)
    for _ in range(cfg.cluster_iterations):
        R, t = _cluster_fits(P, V, labels, J)
        res = _residuals(P, Vm, R, t)
        labels = np.argmin(res, axis=1)
        own = res[np.arange(M), labels]
        counts = np.bincount(labels, minlength=J)
        for j in np.flatnonzero(counts < cfg.min_bone_vertices):
            worst = int(np.argmax(own))
            ring = _ring(adjacency, worst)
            labels[ring] = j
            own[ring] = -1.0
    R, t = _cluster_fits(P, V, labels, J)

    # 2. Alternate weights and transforms (vertex-major arrays: (M, T, 3)).
    rows = np.arange(M)
    Vf32 = Vm.reshape(M, T * 3).astype(np.float32)
    previous, iterations = np.inf, 0
    for iterations in range(1, cfg.iterations + 1):
        res = _residuals(P, Vm, R, t)
        cand = np.argpartition(res, K - 1, axis=1)[:, :K] if K < J else np.tile(np.arange(J), (M, 1))
        q = _bone_points(P, R, t, cand, np.float32)  # (M, K, T, 3); single precision: half the memory traffic
        qf = q.reshape(M, K, T * 3)
        w = simplex_lstsq(qf @ qf.transpose(0, 2, 1), (qf @ Vf32[:, :, None])[..., 0])  # (M, K)
        Y = (w[:, None, :].astype(np.float32) @ qf)[:, 0].reshape(M, T, 3).astype(np.float64)
        flat = np.flatnonzero(w.ravel() > 0)
        flat = flat[np.argsort(cand.ravel()[flat], kind="stable")]
        bounds = np.searchsorted(cand.ravel()[flat], np.arange(J + 1))
        for j in range(J):
            m_idx, k_idx = np.divmod(flat[bounds[j]:bounds[j + 1]], K)
            if len(m_idx) == 0:
                continue
            a = w[m_idx, k_idx]  # (n,)
            p = P[m_idx]
            old = q[m_idx, k_idx]  # (n, T, 3): R_j p + t_j
            r = Vm[m_idx] - Y[m_idx] + a[:, None, None] * old
            a2 = float(a @ a)
            p_mean = (a * a) @ p / a2
            r_mean = np.tensordot(a, r, axes=(0, 0)) / a2  # (T, 3)
            h = np.tensordot(r - a[:, None, None] * r_mean[None], a[:, None] * (p - p_mean), axes=(0, 0))
            R[:, j], t[:, j] = rotation_from_covariance(h, np.broadcast_to(p_mean, (T, 3)), r_mean)
            new = np.tensordot(p, R[:, j], axes=(1, 2)) + t[None, :, j]  # (n, T, 3)
            Y[m_idx] += a[:, None, None] * (new - old)
            q[m_idx, k_idx] = new
        rms = float(np.sqrt(np.mean((Y - Vm) ** 2)))
        if previous - rms <= cfg.tolerance * rms:
            break
        previous = rms

    Y = np.einsum("mk,mktc->mtc", w, _bone_points(P, R, t, cand))  # the rig's frames, centred, in double
    dist = np.linalg.norm(Y - Vm, axis=-1) / extent

    # 3. Keep the bones that carry weight; order the influences; per input vertex.
    used = np.unique(cand[w > 0])
    remap = np.full(J, -1)
    remap[used] = np.arange(len(used))
    order = np.argsort(-w, axis=1)
    w = np.take_along_axis(w, order, axis=1)
    joints = np.where(w > 0, remap[np.take_along_axis(cand, order, axis=1)], 0)
    if K < cfg.influences:
        pad = cfg.influences - K
        w, joints = np.pad(w, ((0, 0), (0, pad))), np.pad(joints, ((0, 0), (0, pad)))
    R, t = R[:, used], t[:, used] + center - np.einsum("tjab,b->tja", R[:, used], center)
    J = len(used)
    sparse_w = sp.csr_matrix((w.ravel(), (np.repeat(rows, w.shape[1]), joints.ravel())), shape=(M, J))
    mass = np.asarray(sparse_w.sum(axis=0)).ravel()
    centers = (sparse_w.T @ stacked[0]) / np.where(mass > 0, mass, 1.0)[:, None]
    coupling = (sparse_w.T @ sparse_w).toarray()
    parents = bone_tree(joints[:, 0], edges, coupling - np.diag(np.diag(coupling)))
    return SkinningFit(rest=rest, joints=joints[src].astype(np.int64), weights=w[src], rotations=R,
                       translations=t, centers=centers, parents=parents, extent=extent,
                       mean_error=float(dist.mean()), max_error=float(dist.max()), iterations=iterations,
                       seconds=time.perf_counter() - start)


__all__ = ["RigConfig", "SkinningFit", "bone_tree", "check_bones", "fit_skinning", "fit_vertex_count",
           "weld_rig_input"]
