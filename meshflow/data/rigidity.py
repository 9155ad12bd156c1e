r"""Shape-preserving refinement: pull decoded trajectories towards as-rigid-as-possible motion.

A sampled animation may stretch a mesh where its motion should have kept the
shape (a leg that lengthens, a body that sags into a sheet). :func:`refine_shape`
moves every frame :math:`y_t` (N, 3) to the positions :math:`x_t` that minimise

.. math::
    E(x_t, R) = \frac{r}{2} \sum_i \sum_{j \in \mathcal{N}(i)} w_{ij}
        \bigl\lVert (x_i - x_j) - R_i\,(p_i - p_j) \bigr\rVert^2
      + \sum_i \lVert x_i - y_i \rVert^2 ,
    \qquad w_{ij} = \frac{1}{\max(\lVert p_i - p_j\rVert^2,\ h^2)}

over the mesh graph's ``edge_index`` (its edges in both directions), with
:math:`p` the rest pose, :math:`R_i \in SO(3)` one rotation per vertex and frame,
and :math:`h` a tenth of the median edge length (so tiny edges do not dominate).
The first term is the as-rigid-as-possible energy (Sorkine and Alexa, 2007) with
edge weights :math:`1/\ell^2`: with them the graph Laplacian approximates the
continuous one on any tessellation, so the refinement does the same on a coarse
and on a fine mesh of one shape. The second keeps the decoded motion. ``rigidity``
:math:`r` (in squared units of the normalised mesh, whose half size is 1) trades
the two: deformation over lengths well below about :math:`2\pi\sqrt{1.5\,r}` is
made rigid, motion over longer ones is kept; rigid and articulated motion cost
nothing, so they pass unchanged. :math:`r = 0` returns the trajectories as they are.

It is minimised by local-global iterations (each lowers :math:`E`): the local step
sets :math:`R_i` to the rotation closest to :math:`S_i^\top`,
:math:`S_i = \sum_j w_{ij} (p_i - p_j)(x_i - x_j)^\top` (:func:`closest_rotations`);
the global step solves the sparse linear system

.. math::
    (r L + I)\,x = r\,b + y, \qquad
    b_i = \sum_{j \in \mathcal{N}(i)} \frac{w_{ij}}{2} (R_i + R_j)(p_i - p_j)

with :math:`L` the weighted graph Laplacian, factored once for all frames and
iterations (SuperLU). A point cloud (no edges) passes unchanged.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import splu
from torch import Tensor

from .graph import first_file_vertices

#: local-global iterations of :func:`refine_shape`: on a sampled walk (the README dog) 8 move no vertex by more
#: than 2.4e-4 of the size 4 give, and the edge-length change is the same to 4 digits
ITERATIONS = 4
#: edge-length floor of the weights, as a fraction of the median edge length
EDGE_FLOOR = 0.1
#: power-iteration steps of each local step (:func:`closest_rotations`), each from the last step's rotations
POWER_STEPS = 8


def _horn_matrices(S: Tensor) -> Tensor:
    r"""Horn's (1987) symmetric 4 x 4 matrices :math:`K(S)` with :math:`q^\top K q = \operatorname{tr}(R(q)\,S)`
    for unit quaternions :math:`q` (w, x, y, z) and their rotations :math:`R(q)` (:func:`quaternion_rotations`).

    Shapes:
        - **input:** S (M, 3, 3), entries :math:`S_{ab} = \sum e_a d_b`
        - **output:** K (M, 4, 4)
    """
    xx, xy, xz = S[:, 0, 0], S[:, 0, 1], S[:, 0, 2]
    yx, yy, yz = S[:, 1, 0], S[:, 1, 1], S[:, 1, 2]
    zx, zy, zz = S[:, 2, 0], S[:, 2, 1], S[:, 2, 2]
    K = torch.stack([
        xx + yy + zz, yz - zy, zx - xz, xy - yx,
        yz - zy, xx - yy - zz, xy + yx, zx + xz,
        zx - xz, xy + yx, yy - xx - zz, yz + zy,
        xy - yx, zx + xz, yz + zy, zz - xx - yy,
    ], dim=1)
    return K.view(-1, 4, 4)


def quaternion_rotations(q: Tensor) -> Tensor:
    """Rotation matrices of unit quaternions (w, x, y, z).

    Shapes:
        - **input:** q (M, 4)
        - **output:** R (M, 3, 3)
    """
    w, x, y, z = q.unbind(dim=1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=1).view(-1, 3, 3)


def closest_rotations(S: Tensor, start: Optional[Tensor] = None, steps: int = POWER_STEPS) -> Tensor:
    r"""Unit quaternions of the rotations :math:`R` maximising :math:`\operatorname{tr}(R S)` (those of
    :math:`V U^\top` for :math:`S = U \Sigma V^\top`, the smallest singular direction flipped where that
    would be a reflection).

    :math:`\operatorname{tr}(R(q) S) = q^\top K q` (:func:`_horn_matrices`), so the best :math:`q` is
    the top eigenvector of :math:`K`: found by power iteration on :math:`K + \sigma I`,
    :math:`\sigma = \sqrt{3}\,\lVert S \rVert_F` (at least the sum of the singular values, so the
    matrix is positive semi-definite), from ``start``. Each step raises :math:`q^\top K q`, so
    it never ends worse than it started; rank-deficient :math:`S` (flat neighbourhoods) and
    reflections need no special case, and a batch of 3 x 3 SVDs costs about 20 times as much on a CPU.

    Args:
        S: the matrices.
        start: quaternions to start from (default: the identity's).
        steps: power-iteration steps. (default: :data:`POWER_STEPS`)

    Shapes:
        - **input:** S (M, 3, 3), start (M, 4)
        - **output:** q (M, 4), unit length
    """
    sigma = (3 ** 0.5 * S.flatten(1).norm(dim=1)).clamp_min(1e-300).view(-1, 1, 1)
    K = _horn_matrices(S) / sigma + torch.eye(4, dtype=S.dtype, device=S.device)  # eigenvalues in [0, 2]
    if start is None:
        start = S.new_zeros(S.size(0), 4)
        start[:, 0] = 1
    q = start.unsqueeze(2)
    for k in range(steps):  # at most doubles the length a step: normalised every 64 steps, and at the end
        q = torch.bmm(K, q)
        if k % 64 == 63:
            q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-300)
    q = q.squeeze(2)
    length = q.norm(dim=1, keepdim=True)
    return torch.where(length > 1e-12, q / length.clamp_min(1e-300), start)  # S = 0: any rotation; keep start


class _Operators:
    """What :func:`refine_shape` needs of one mesh, built once: weights, the sums over neighbours as
    sparse matrices, and the factorised system matrix :math:`r L + I` (float64, SciPy)."""

    def __init__(self, rest: Tensor, edge_index: Tensor, rigidity: float):
        N = rest.size(0)
        row, col = edge_index
        e = rest[row] - rest[col]  # (E, 3) rest edges
        w = _weights(rest, row, col)  # (E,)
        r, c = row.numpy(), col.numpy()
        self.c = torch.zeros(N, 3, dtype=torch.float64).index_add_(0, row, w.view(-1, 1) * e)  # sum_j w e_ij
        # W_a[i, j] = w_ij e_ij[a], so (W_a v)_i = sum_j w_ij e_ij[a] v_j for every vertex at once
        self.W = [sp.csr_matrix(((w * e[:, a]).numpy(), (r, c)), shape=(N, N)) for a in range(3)]
        W = sp.csr_matrix((w.numpy(), (r, c)), shape=(N, N))
        L = sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W
        self.solve = splu((rigidity * L + sp.identity(N)).tocsc()).solve  # once for all frames and iterations

    def _apply(self, a: int, v: Tensor) -> Tensor:
        N = v.size(0)
        return torch.from_numpy(self.W[a] @ v.reshape(N, -1).numpy()).view(v.shape)

    def covariances(self, x: Tensor) -> Tensor:
        r""":math:`S_i = \sum_j w_{ij} e_{ij} (x_i - x_j)^\top` per vertex and frame: (N, T, 3, 3)."""
        N = x.size(0)
        rows = [self.c[:, a].view(N, 1, 1) * x - self._apply(a, x) for a in range(3)]
        return torch.stack(rows, dim=2)  # [..., a, :] = sum_j w e_ij[a] (x_i - x_j)

    def rotated_edges(self, R: Tensor) -> Tensor:
        r""":math:`b_i = \sum_j \frac{w_{ij}}{2} (R_i + R_j) e_{ij}`: (N, T, 3)."""
        own = torch.einsum("ntab,nb->nta", R, self.c)
        theirs = sum(self._apply(a, R[..., a].contiguous()) for a in range(3))  # column a of R_j times e_ij[a]
        return 0.5 * (own + theirs)


def _weights(rest: Tensor, row: Tensor, col: Tensor) -> Tensor:
    r"""Edge weights :math:`1 / \max(\ell^2, h^2)` (E,)."""
    length2 = (rest[row] - rest[col]).pow(2).sum(dim=1)
    h = EDGE_FLOOR * length2.sqrt().median()
    return 1.0 / length2.clamp_min(max(float(h) ** 2, 1e-24))


def arap_energy(rest: Tensor, traj: Tensor, target: Tensor, edge_index: Tensor, rigidity: float,
                rotations: Tensor) -> float:
    r""":math:`E(x, R)` of the module docstring for positions ``traj`` and per-vertex ``rotations``,
    summed over frames (the quantity each iteration of :func:`refine_shape` lowers). A plain per-edge
    sum: the reference the fast path is tested against.

    Shapes:
        - **input:** rest (N, 3), traj and target (N, T, 3), edge_index (2, E), rotations (N, T, 3, 3)
        - **output:** float
    """
    rest, traj, target, rotations = rest.double(), traj.double(), target.double(), rotations.double()
    row, col = edge_index
    w = _weights(rest, row, col)
    e = rest[row] - rest[col]  # (E, 3)
    d = traj[row] - traj[col]  # (E, T, 3)
    r = d - torch.einsum("etab,eb->eta", rotations[row], e)
    return float(rigidity / 2 * (w.view(-1, 1, 1) * r.pow(2)).sum() + (traj - target).pow(2).sum())


def _frame_rotations(rest: Tensor, traj: Tensor) -> Tensor:
    """One quaternion per frame: the rotation of the best rigid fit of the rest pose to the frame (T, 4)."""
    p = rest - rest.mean(0)
    y = traj - traj.mean(0, keepdim=True)  # (N, T, 3)
    S = torch.einsum("na,ntb->tab", p, y)  # (T, 3, 3)
    return closest_rotations(S, steps=200)


def refine_shape(rest: Tensor, traj: Tensor, edge_index: Tensor, rigidity: float,
                 iterations: int = ITERATIONS, return_rotations: bool = False):
    r"""Moves every frame of ``traj`` towards as-rigid-as-possible motion of ``rest`` (module docstring).

    The rotations start from each frame's best rigid fit, and every local step starts from the
    last one's.

    Args:
        rest: the rest pose :math:`p`, normalised (a mesh graph's ``pos``).
        traj: the decoded trajectories :math:`y`, in the same units.
        edge_index: the mesh graph's edges, both directions (:func:`~meshflow.data.graph.mesh_graph`).
        rigidity: :math:`r \ge 0`; 0 returns ``traj`` itself.
        iterations: local-global iterations. (default: :data:`ITERATIONS`)
        return_rotations: also return the last local step's rotations (N, T, 3, 3).

    Shapes:
        - **input:** rest (N, 3), traj (N, T, 3), edge_index (2, E)
        - **output:** (N, T, 3), in ``traj``'s dtype and device
    """
    if rigidity < 0 or not np.isfinite(rigidity):
        raise ValueError(f"Expected 'rigidity' to be a finite number >= 0 (got {rigidity})")
    N, T, _ = traj.shape
    if rigidity == 0 or edge_index.numel() == 0 or iterations < 1:
        return (traj, None) if return_rotations else traj
    p, y = rest.detach().double().cpu(), traj.detach().double().cpu()
    ops = _Operators(p, edge_index.cpu(), float(rigidity))
    q = _frame_rotations(p, y).unsqueeze(0).expand(N, T, 4).reshape(N * T, 4)
    x, R = y, None
    for _ in range(iterations):
        q = closest_rotations(ops.covariances(x).view(N * T, 3, 3), start=q)  # local step
        R = quaternion_rotations(q).view(N, T, 3, 3)
        rhs = (rigidity * ops.rotated_edges(R) + y).reshape(N, T * 3)  # global step
        x = torch.from_numpy(ops.solve(rhs.numpy())).view(N, T, 3)
    out = x.to(dtype=traj.dtype, device=traj.device)
    return (out, R) if return_rotations else out


def refine_frames(frames: np.ndarray, graph, rigidity: float, iterations: int = ITERATIONS) -> np.ndarray:
    r"""An animation's file vertices refined as the pipeline refines its decoded trajectories.

    Each welded vertex of ``graph`` takes the first file vertex it stands for, the frames are
    normalised as the graph is, :func:`refine_shape` runs on the graph, and the result goes back
    to every file vertex in the file's units.

    Args:
        frames: the animation (T, N_file, 3), in the file's units.
        graph: its rest pose's mesh graph (:func:`~meshflow.data.graph.mesh_graph` of frame 0 or of
            the rest pose): ``pos``, ``edge_index``, ``source_index``, ``center`` and ``scale``.
        rigidity: :math:`r \ge 0`; 0 returns ``frames`` itself.
        iterations: local-global iterations. (default: :data:`ITERATIONS`)

    Shapes:
        - **input:** frames (T, N_file, 3)
        - **output:** (T, N_file, 3), float32
    """
    if rigidity == 0:
        return frames
    first = first_file_vertices(graph)  # (N,) one file vertex per welded vertex
    scale, center = float(graph.scale), graph.center.view(1, 1, 3).double()
    traj = (torch.from_numpy(np.asarray(frames, dtype=np.float64)[:, first]).permute(1, 0, 2) - center) / scale
    traj = refine_shape(graph.pos, traj, graph.edge_index, rigidity, iterations=iterations)  # (N, T, 3)
    world = traj * scale + center
    return world[graph.source_index].permute(1, 0, 2).numpy().astype(np.float32)


__all__ = ["ITERATIONS", "arap_energy", "closest_rotations", "quaternion_rotations", "refine_frames",
           "refine_shape"]
