r"""Farthest point sampling (FPS) of DyMeshVAE tokens.

The DyMeshVAE picks its :math:`K` tokens per mesh by greedy farthest point
sampling in the vertex-embedding space: start at the mesh's first vertex,
then repeatedly take the vertex with the largest squared Euclidean distance
to the set chosen so far (ties go to the lowest index). This is what
:func:`torch_cluster.fps` with ``random_start=False`` and pytorch3d's
``sample_farthest_points`` compute.

Three implementations give the same indices:

* ``"torch_cluster"``: :func:`torch_cluster.fps` (fast on a GPU; on a CPU it
  runs one thread per mesh and allocates an :math:`N \times C` buffer per step),
* ``"fast"``: :func:`fps_fast`, pure torch: a matrix-vector product bounds
  every distance from below and only the vertices whose distance may shrink
  are recomputed with torch_cluster's CPU arithmetic
  (``(x - x[i]).pow_(2).sum(1)``), so the indices agree bit for bit,
* ``"reference"``: :func:`fps_reference`, the plain algorithm (the test oracle).

``"auto"`` uses torch_cluster on a GPU when it has a kernel for it and
:func:`fps_fast` everywhere else.
"""
from __future__ import annotations

from typing import List

import torch
from torch import Tensor

BACKENDS = ("auto", "torch_cluster", "fast", "reference")


def fps_reference(x: Tensor, num_samples: int) -> Tensor:
    r"""Greedy farthest point sampling of one point set, as plainly as possible.

    Args:
        x (torch.Tensor): points :math:`(N, C)`.
        num_samples (int): :math:`K \le N`.

    Returns:
        indices :math:`(K,)`, starting with 0.
    """
    chosen = [0]
    dist = ((x - x[0]) ** 2).sum(dim=1)
    for _ in range(1, num_samples):
        i = int(dist.argmax())
        chosen.append(i)
        dist = torch.minimum(dist, ((x - x[i]) ** 2).sum(dim=1))
    return torch.tensor(chosen, dtype=torch.long, device=x.device)


def _exact_sq_dist(x: Tensor, center: Tensor) -> Tensor:
    """torch_cluster's arithmetic: ``(x - c).pow_(2).sum(1)`` row by row."""
    return (x - center).pow_(2).sum(dim=1)


def fps_fast(x: Tensor, num_samples: int, block_rows: int = 8192) -> Tensor:
    r"""Greedy farthest point sampling of one point set; the same indices as
    :func:`fps_reference` and torch_cluster, an order of magnitude faster on a CPU.

    Each step needs, for every point :math:`j`, :math:`d_j \leftarrow \min(d_j, \|x_j - c\|^2)`
    for the new centre :math:`c`. One matrix-vector product gives
    :math:`\|x_j\|^2 + \|c\|^2 - 2 x_j^\top c`, and lowering it by
    :math:`4 C \varepsilon (\|x_j\|^2 + \|c\|^2)` (:math:`\varepsilon` the dtype's machine
    epsilon) makes it a rigorous lower bound of the distance computed the exact
    way, whatever the rounding of either formula. Only the points whose bound is
    below their current :math:`d_j` (about :math:`N/k` at step :math:`k`) get the
    exact distance; for all others :math:`\min` provably keeps :math:`d_j`. So the
    distances, hence the arg-maxima and ties, are bit for bit those of the plain
    algorithm.

    Args:
        x (torch.Tensor): points :math:`(N, C)`.
        num_samples (int): :math:`K \le N`.
        block_rows (int, optional): rows per block of the first (full) distance pass.
            (default: :obj:`8192`)

    Returns:
        indices :math:`(K,)`, starting with 0.
    """
    x = x.detach().contiguous()
    if x.device.type == "cpu" and torch.get_num_threads() > 1:
        # memory-bound and a few hundred small ops per step: one thread is as fast as several,
        # and far faster when the cores are shared (no spinning on a descheduled worker)
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fps_fast(x, num_samples, block_rows)
        finally:
            torch.set_num_threads(previous)
    N, C = x.shape
    dist = torch.empty(N, dtype=x.dtype, device=x.device)
    for a in range(0, N, block_rows):
        dist[a:a + block_rows] = _exact_sq_dist(x[a:a + block_rows], x[0])
    sq = (x * x).sum(dim=1)
    sq_low = sq * (1.0 - 4 * C * torch.finfo(x.dtype).eps)  # (1 - slack) ||x_j||^2
    chosen = [0]
    for _ in range(num_samples - 1):
        i = int(dist.argmax())
        chosen.append(i)
        center = x[i]
        bound = torch.addmv(sq_low + sq_low[i], x, center, alpha=-2.0)  # (N,) lower bound of ||x_j - c||^2
        candidates = torch.nonzero(bound < dist).squeeze(1)
        if candidates.numel():
            exact = _exact_sq_dist(x.index_select(0, candidates), center)
            dist[candidates] = torch.minimum(dist[candidates], exact)
    return torch.tensor(chosen, dtype=torch.long, device=x.device)


def _torch_cluster_fps(x: Tensor, ptr: Tensor, num_samples: int) -> List[Tensor]:
    import torch_cluster

    counts = (ptr[1:] - ptr[:-1]).to(torch.float64)
    # ceil(N_b * ratio_b) = K + 1 when K < N_b (never K because of rounding), N_b otherwise;
    # FPS is greedy, so the first K of a longer run are the K-run.
    ratio = ((num_samples + 0.5) / counts).clamp(max=1.0).to(device=x.device, dtype=torch.float32)
    index = torch_cluster.fps(x.detach(), ptr=ptr, ratio=ratio, random_start=False)
    got = torch.ceil(counts.float() * ratio).long()
    out_ptr = torch.cat([got.new_zeros(1), got.cumsum(0)]).tolist()
    starts = ptr[:-1].tolist()
    return [index[out_ptr[b]:out_ptr[b + 1]][:num_samples] - starts[b] for b in range(len(starts))]


def _has_torch_cluster_kernel(x: Tensor) -> bool:
    try:
        import torch_cluster  # noqa: F401
    except ImportError:
        return False
    if x.is_cuda:
        version = getattr(torch_cluster, "cuda_version", -1)  # an int (-1: built without CUDA)
        return (version() if callable(version) else version) != -1
    return x.device.type == "cpu"


def farthest_point_sampling(x: Tensor, ptr: Tensor, num_samples: int, backend: str = "auto") -> Tensor:
    r"""Farthest point sampling of :math:`K` points per graph of a PyG batch.

    Every graph gets exactly :math:`K` indices, the first being the graph's
    first vertex. A graph with fewer than :math:`K` vertices lists its full
    FPS order repeatedly (``order[j % N_b]``), so that all graphs share
    :math:`K`.

    Args:
        x (torch.Tensor): points :math:`(N, C)` of all graphs.
        ptr (torch.Tensor): graph boundaries :math:`(B + 1,)`.
        num_samples (int): :math:`K`.
        backend (str, optional): ``"auto"``, ``"torch_cluster"``, ``"fast"``
            or ``"reference"``. (default: :obj:`"auto"`)

    Returns:
        global vertex indices :math:`(B, K)` (rows of :obj:`x`).
    """
    if backend not in BACKENDS:
        raise ValueError(f"Expected 'backend' to be one of {', '.join(BACKENDS)} (got {backend!r})")
    if num_samples < 1:
        raise ValueError(f"Expected at least one sample per graph (got num_samples={num_samples})")
    ptr = ptr.to(device=x.device, dtype=torch.long)
    counts = (ptr[1:] - ptr[:-1]).tolist()
    if any(n < 1 for n in counts):
        raise ValueError(f"Expected every graph to have at least one point (got sizes {counts})")
    if backend == "auto":
        backend = "torch_cluster" if x.is_cuda and _has_torch_cluster_kernel(x) else "fast"
    if backend == "torch_cluster":
        if not _has_torch_cluster_kernel(x):
            raise RuntimeError(f"torch_cluster has no FPS kernel for device '{x.device}' "
                               f"(use backend='fast')")
        local = _torch_cluster_fps(x, ptr, num_samples)
    else:
        local = []
        for start, n in zip(ptr[:-1].tolist(), counts):
            k = min(num_samples, n)
            xb = x[start:start + n]
            local.append(fps_fast(xb, k) if backend == "fast" else fps_reference(xb, k))
    rows = []
    for start, n, idx in zip(ptr[:-1].tolist(), counts, local):
        if n < num_samples:
            idx = idx[torch.arange(num_samples, device=idx.device) % n]
        rows.append(idx + start)
    return torch.stack(rows)  # (B, K)

