from typing import Optional

import torch
from torch import Tensor
from torch.nn import LayerNorm, Linear
from torch.nn.init import zeros_
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import softmax


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
    :math:`\mathbf{W}_o \mathbf{W}_v` are formed once per call, so per vertex
    only one :math:`C`-wide query is projected and every edge carries
    :math:`C`-wide keys and values instead of :math:`D`-wide ones. Memory and
    time are :math:`O(E)`; with :obj:`chunk_size` the edges are processed in
    blocks of target vertices, which bounds the per-edge buffers.

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
        w_k = self.lin_k.weight.view(H, D, C)
        w_v = self.lin_v.weight.view(H, D, C)
        w_o = self.lin_out.weight.view(C, H, D)
        qk = torch.einsum("hdc,hde->hce", w_q, w_k) * D ** -0.5  # (H, C, C)
        ov = torch.einsum("ohd,hdc->hoc", w_o, w_v)  # (H, C, C)

        query = torch.einsum("nc,hce->nhe", self.norm_q(x), qk)  # (N, H, C)
        key = self.norm_k(x)  # (N, C)
        value = self.norm_v(x)  # (N, C)

        if self.chunk_size is None or N <= self.chunk_size:
            agg = self.propagate(edge_index, query=query, key=key, value=value, size=(N, N))  # (N, H, C)
        else:
            agg = self._propagate_chunked(edge_index, query, key, value)

        out = torch.einsum("nhc,hoc->no", agg, ov) + self.lin_out.bias  # (N, C)
        has_neighbor = torch.bincount(edge_index[1], minlength=N) > 0
        return out * has_neighbor.unsqueeze(-1).to(out.dtype)

    def _propagate_chunked(self, edge_index: Tensor, query: Tensor, key: Tensor, value: Tensor) -> Tensor:
        N = query.size(0)
        dst, order = torch.sort(edge_index[1], stable=True)
        src = edge_index[0, order]
        starts = torch.arange(0, N, self.chunk_size, device=dst.device)
        bounds = torch.searchsorted(dst, torch.cat([starts, starts.new_tensor([N])])).tolist()
        agg = query.new_zeros(N, self.heads, key.size(-1))
        for c, a in enumerate(starts.tolist()):
            b = min(a + self.chunk_size, N)
            e0, e1 = bounds[c], bounds[c + 1]
            if e0 == e1:
                continue
            sub = torch.stack([src[e0:e1], dst[e0:e1] - a])
            agg[a:b] = self.propagate(sub, query=query[a:b], key=key, value=value, size=(N, b - a))
        return agg

    def message(self, query_i: Tensor, key_j: Tensor, value_j: Tensor, index: Tensor,
                ptr: Optional[Tensor], size_i: Optional[int]) -> Tensor:
        alpha = (query_i * key_j.unsqueeze(1)).sum(dim=-1)  # (E, H)
        alpha = softmax(alpha, index, ptr, size_i)
        return alpha.unsqueeze(-1) * value_j.unsqueeze(1)  # (E, H, C)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, heads={self.heads})"
