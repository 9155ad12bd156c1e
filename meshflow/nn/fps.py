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
* ``"chunked"``: a pure-torch loop that updates the distances in row blocks
  that stay in cache, with the same arithmetic as torch_cluster's CPU kernel
  (``(x - x[i]).pow_(2).sum(1)``), so the indices agree bit for bit,
* ``"reference"``: :func:`fps_reference`, the plain algorithm (the test oracle).

``"auto"`` uses torch_cluster on a GPU when it has a kernel for it and the
chunked loop everywhere else.
"""
from __future__ import annotations

from typing import List

import torch
from torch import Tensor

BACKENDS = ("auto", "torch_cluster", "chunked", "reference")


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


def fps_chunked(x: Tensor, num_samples: int, block_rows: int = 2048) -> Tensor:
    r"""Greedy farthest point sampling of one point set, updating the distances in row blocks.

    Per step it reads :math:`\mathbf{X}` once and writes only the :math:`N`
    distances; the :math:`(\text{block\_rows}, C)` scratch buffer is reused.

    Args:
        x (torch.Tensor): points :math:`(N, C)`.
        num_samples (int): :math:`K \le N`.
        block_rows (int, optional): rows per block. (default: :obj:`2048`)

    Returns:
        indices :math:`(K,)`, starting with 0.
    """
    x = x.detach().contiguous()
    N = x.size(0)
    block_rows = max(1, min(block_rows, N))
    chosen = [0]
    dist = torch.empty(N, dtype=x.dtype, device=x.device)
    scratch = torch.empty(block_rows, x.size(1), dtype=x.dtype, device=x.device)
    update = torch.empty(block_rows, dtype=x.dtype, device=x.device)
    i = 0
    for step in range(num_samples - 1):
        center = x[i]
        for a in range(0, N, block_rows):
            b = min(a + block_rows, N)
            diff = torch.sub(x[a:b], center, out=scratch[:b - a])
            d = torch.sum(diff.pow_(2), dim=1, out=update[:b - a])
            if step == 0:
                dist[a:b] = d
            else:
                torch.minimum(dist[a:b], d, out=dist[a:b])
        i = int(dist.argmax())
        chosen.append(i)
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
        return bool(getattr(torch_cluster, "cuda_version", lambda: -1)() != -1)
    return x.device.type == "cpu"


def farthest_point_sampling(x: Tensor, ptr: Tensor, num_samples: int, backend: str = "auto",
                            block_rows: int = 2048) -> Tensor:
    r"""Farthest point sampling of :math:`K` points per graph of a PyG batch.

    Every graph gets exactly :math:`K` indices, the first being the graph's
    first vertex. A graph with fewer than :math:`K` vertices lists its full
    FPS order repeatedly (``order[j % N_b]``), so that all graphs share
    :math:`K`.

    Args:
        x (torch.Tensor): points :math:`(N, C)` of all graphs.
        ptr (torch.Tensor): graph boundaries :math:`(B + 1,)`.
        num_samples (int): :math:`K`.
        backend (str, optional): ``"auto"``, ``"torch_cluster"``, ``"chunked"``
            or ``"reference"``. (default: :obj:`"auto"`)
        block_rows (int, optional): row block of the ``"chunked"`` backend.
            (default: :obj:`2048`)

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
        backend = "torch_cluster" if x.is_cuda and _has_torch_cluster_kernel(x) else "chunked"
    if backend == "torch_cluster":
        if not _has_torch_cluster_kernel(x):
            raise RuntimeError(f"torch_cluster has no FPS kernel for device '{x.device}' "
                               f"(use backend='chunked')")
        local = _torch_cluster_fps(x, ptr, num_samples)
    else:
        local = []
        for start, n in zip(ptr[:-1].tolist(), counts):
            k = min(num_samples, n)
            xb = x[start:start + n]
            local.append(fps_chunked(xb, k, block_rows) if backend == "chunked" else fps_reference(xb, k))
    rows = []
    for start, n, idx in zip(ptr[:-1].tolist(), counts, local):
        if n < num_samples:
            idx = idx[torch.arange(num_samples, device=idx.device) % n]
        rows.append(idx + start)
    return torch.stack(rows)  # (B, K)

