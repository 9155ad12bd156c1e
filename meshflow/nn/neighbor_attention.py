import os
import sys
import tempfile
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import LayerNorm, Linear
from torch.nn.init import zeros_
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import softmax


def _remove_template_files(cls) -> None:
    """Deletes the ``propagate`` module PyG renders into ``$TMPDIR`` for ``cls`` once it is imported.

    PyG writes one ``<module>_<Class>_propagate_*.py`` per class and process and never removes
    it; the module stays loaded, so the file is litter (hundreds of them after a few runs).
    """
    for kind in ("propagate", "edge_updater"):
        module = sys.modules.get(f"{cls.__module__}_{cls.__name__}_{kind}")
        path = getattr(module, "__file__", None)
        if path and os.path.dirname(path) == tempfile.gettempdir() and os.path.exists(path):
            try:
                os.unlink(path)
            except OSError:  # another process's file or a read-only TMPDIR: leave it
                pass


class NeighborAttention(MessagePassing):
    r"""The mesh neighbour attention from the `"AnimateAnyMesh: A Feed-Forward
    4D Foundation Model for Text-Driven Universal Mesh Animation"
    <https://arxiv.org/abs/2506.09982>`_ paper, as a sparse edge softmax: every
    vertex attends to its mesh neighbours :math:`\mathcal{N}(i)` only (the
    original builds a dense :math:`N \times N` mask for the same thing).

    .. math::
        \alpha_{ij} = \underset{j \in \mathcal{N}(i)}{\mathrm{softmax}}
        \left( \frac{(\mathbf{W}_q \mathrm{LN}_q(\mathbf{x}_i))^\top
        \mathbf{W}_k \mathrm{LN}_k(\mathbf{x}_j)}{\sqrt{D}} \right),
        \qquad
        \mathbf{r}_i = \mathbf{W}_o \sum_{j \in \mathcal{N}(i)} \alpha_{ij}\,
        \mathbf{W}_v \mathrm{LN}_v(\mathbf{x}_j) + \mathbf{b}_o

    per head (heads are concatenated before :math:`\mathbf{W}_o`). The layer
    returns the residual :math:`\mathbf{r}_i` (the caller adds it to
    :math:`\mathbf{x}_i`); a vertex without neighbours gets
    :math:`\mathbf{r}_i = \mathbf{0}`.

    The products :math:`\mathbf{W}_q^\top \mathbf{W}_k` and
    :math:`\mathbf{W}_o \mathbf{W}_v` (with the layer norms' scales) are
    formed once per call, so per vertex only one :math:`C`-wide query is
    projected, and every edge reads one :math:`C`-wide normalised neighbour
    feature that serves as key and value (the norms' shifts drop out of the
    softmax or become a constant). Memory and time are :math:`O(E)`; with
    :obj:`chunk_size` the edges are processed in blocks of target vertices,
    which bounds the per-edge and per-vertex buffers.

    Args:
        channels (int): Size :math:`C` of each vertex feature.
        heads (int, optional): Number of attention heads. (default: :obj:`1`)
        head_channels (int, optional): Size :math:`D` of each head; the
            original uses one head of width :math:`2C`. (default: :obj:`2 * channels`)
        chunk_size (int, optional): If set, the number of target vertices per
            message-passing block. (default: :obj:`None`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** vertex features :math:`(N, C)`, edge indices :math:`(2, E)`
          (both directions of every mesh edge, no self loops)
        - **output:** residual :math:`(N, C)`
    """

    def __init__(self, channels: int, heads: int = 1, head_channels: Optional[int] = None,
                 chunk_size: Optional[int] = None, **kwargs):
        kwargs.setdefault("aggr", "add")
        super().__init__(node_dim=0, **kwargs)
        _remove_template_files(type(self))
        self.channels = channels
        self.heads = heads
        self.head_channels = head_channels if head_channels is not None else 2 * channels
        self.chunk_size = chunk_size
        inner = heads * self.head_channels
        self.norm_q = LayerNorm(channels)
        self.norm_k = LayerNorm(channels)
        self.norm_v = LayerNorm(channels)
        self.lin_q = Linear(channels, inner, bias=False)
        self.lin_k = Linear(channels, inner, bias=False)
        self.lin_v = Linear(channels, inner, bias=False)
        self.lin_out = Linear(inner, channels)
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        for module in (self.norm_q, self.norm_k, self.norm_v, self.lin_q, self.lin_k, self.lin_v):
            module.reset_parameters()
        # As in the original: the output projection starts at zero, so the layer starts as a no-op.
        zeros_(self.lin_out.weight)
        zeros_(self.lin_out.bias)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"Expected 'edge_index' to have shape (2, E) (got {tuple(edge_index.shape)})")
        N, C = x.shape
        H, D = self.heads, self.head_channels
        w_q = self.lin_q.weight.view(H, D, C)
        w_k = self.lin_k.weight.view(H, D, C) * self.norm_k.weight  # LN_k's scale folded in
        w_v = self.lin_v.weight.view(H, D, C) * self.norm_v.weight  # LN_v's scale folded in
        w_o = self.lin_out.weight.view(C, H, D)
        qk = torch.einsum("hdc,hde->hce", w_q, w_k) * D ** -0.5  # (H, C, C)
        qb = torch.einsum("hdc,hde,e->hc", w_q, self.lin_k.weight.view(H, D, C), self.norm_k.bias) * D ** -0.5
        ov = torch.einsum("ohd,hde->hoe", w_o, w_v)  # (H, C, C)
        # LN_k's shift adds the same logit to every edge of a vertex (added per vertex, it keeps its exact
        # zero gradient); LN_v's shift adds a constant once the weights sum to one. So keys and values
        # are one normalised tensor.
        bias = torch.einsum("ohd,hdc,c->o", w_o, self.lin_v.weight.view(H, D, C), self.norm_v.bias) \
            + self.lin_out.bias  # (C,)
        if self.norm_v.eps != self.norm_k.eps:
            raise ValueError(f"Expected norm_k and norm_v to share eps (got {self.norm_k.eps}, {self.norm_v.eps})")
        unit = F.layer_norm(x, (C,), eps=self.norm_k.eps)  # (N, C), no affine

        out = x.new_empty(N, C)
        step = N if self.chunk_size is None else max(1, self.chunk_size)
        if step >= N:
            blocks = [(0, N, edge_index)]
        else:  # edges grouped by target vertex, cut into blocks of `step` targets
            dst, order = torch.sort(edge_index[1], stable=True)
            src = edge_index[0, order]
            starts = list(range(0, N, step))
            bounds = torch.searchsorted(dst, dst.new_tensor(starts + [N])).tolist()
            blocks = [(a, min(a + step, N), torch.stack([src[bounds[c]:bounds[c + 1]],
                                                         dst[bounds[c]:bounds[c + 1]] - a]))
                      for c, a in enumerate(starts)]
        for a, b, sub in blocks:
            x_q = self.norm_q(x[a:b])
            query = torch.einsum("nc,hce->nhe", x_q, qk)  # (n, H, C)
            shift = torch.einsum("nc,hc->nh", x_q, qb)  # LN_k's shift: the same logit on every edge
            agg = self.propagate(sub, query=query, key=unit, shift=shift, size=(N, b - a))  # (n, H, C)
            out[a:b] = torch.einsum("nhc,hoc->no", agg, ov) + bias
        has_neighbor = torch.bincount(edge_index[1], minlength=N) > 0
        return out * has_neighbor.unsqueeze(-1).to(out.dtype)

    def message(self, query_i: Tensor, key_j: Tensor, shift_i: Tensor, index: Tensor, ptr: Optional[Tensor],
                size_i: Optional[int]) -> Tensor:
        key_j = key_j.unsqueeze(1)  # (E, 1, C): normalised neighbour features, keys and values at once
        alpha = (query_i * key_j).sum(dim=-1) + shift_i  # (E, H)
        alpha = softmax(alpha, index, ptr, size_i)
        return alpha.unsqueeze(-1) * key_j  # (E, H, C)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, heads={self.heads})"
