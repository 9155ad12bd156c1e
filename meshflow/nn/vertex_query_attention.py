from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import LayerNorm, Linear, Module
from torch.nn.init import zeros_

from .functional import attention


class VertexQueryAttention(Module):
    r"""The final cross-attention of the DyMeshVAE decoder from the
    `"AnimateAnyMesh: A Feed-Forward 4D Foundation Model for Text-Driven
    Universal Mesh Animation" <https://arxiv.org/abs/2506.09982>`_ paper: every
    vertex query of a mesh reads the :math:`K` decoded tokens of that mesh.

    .. math::
        \mathbf{y}_i = \mathbf{W}_o \, \mathrm{softmax}\left(
        \frac{\mathbf{W}_q \mathrm{LN}_q(\mathbf{u}_i)\,
        (\mathbf{W}_k \mathrm{LN}_k(\mathbf{H}_k))^\top}{\sqrt{D}} \right)
        \mathbf{W}_v \mathrm{LN}_v(\mathbf{H}_v) + \mathbf{b}_o

    per head (heads are concatenated before :math:`\mathbf{W}_o`). There is no
    residual connection. Queries are vertices of a PyG batch: rows
    ``ptr[b]:ptr[b+1]`` of the query belong to mesh :math:`b`.

    :math:`\mathbf{W}_q` is folded into the keys and :math:`\mathbf{W}_o`
    into the values once per mesh (both are :math:`K`-sized), so the only
    vertex-sized work is the layer norm, the scores and the weighted sum. On a
    CPU the vertices go through in blocks of :obj:`chunk_size` rows (scores
    never exceed ``chunk_size x K``); on a GPU one fused SDPA call per mesh.

    Args:
        query_channels (int): Size :math:`C_q` of each vertex query (and of the output).
        key_channels (int): Size of each key token.
        value_channels (int, optional): Size of each value token.
            (default: :obj:`key_channels`)
        heads (int, optional): Number of attention heads. (default: :obj:`1`)
        head_channels (int, optional): Size :math:`D` of each head.
            (default: :obj:`query_channels`)
        chunk_size (int, optional): Vertex rows per block on devices without
            fused attention; :obj:`None` takes a whole mesh at once.
            (default: :obj:`None`)

    Shapes:
        - **input:** query :math:`(N, C_q)`, key :math:`(B, K, C_k)`,
          value :math:`(B, K, C_v)`, ptr :math:`(B + 1,)`
        - **output:** :math:`(N, C_q)`
    """

    def __init__(self, query_channels: int, key_channels: int, value_channels: Optional[int] = None,
                 heads: int = 1, head_channels: Optional[int] = None, chunk_size: Optional[int] = None):
        super().__init__()
        value_channels = value_channels if value_channels is not None else key_channels
        self.query_channels = query_channels
        self.key_channels = key_channels
        self.value_channels = value_channels
        self.heads = heads
        self.head_channels = head_channels if head_channels is not None else query_channels
        self.chunk_size = chunk_size
        inner = heads * self.head_channels
        self.norm_q = LayerNorm(query_channels)
        self.norm_k = LayerNorm(key_channels)
        self.norm_v = LayerNorm(value_channels)
        self.lin_q = Linear(query_channels, inner, bias=False)
        self.lin_k = Linear(key_channels, inner, bias=False)
        self.lin_v = Linear(value_channels, inner, bias=False)
        self.lin_out = Linear(inner, query_channels)
        self.reset_parameters()

    def reset_parameters(self):
        for module in self.children():
            module.reset_parameters()
        # As in the original: the output projection starts at zero.
        zeros_(self.lin_out.weight)
        zeros_(self.lin_out.bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, ptr: Tensor) -> Tensor:
        return self.attend(query, self.fold(key, value), ptr)

    def fold(self, key: Tensor, value: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Projected tokens with :math:`\mathbf{W}_q` folded into the keys and
        :math:`\mathbf{W}_o` into the values, both :math:`(B, H, K, C_q)`; computed once
        and reused by :meth:`attend` for any number of vertex blocks."""
        B, K, _ = key.shape
        H, D, Cq = self.heads, self.head_channels, self.query_channels
        k = self.lin_k(self.norm_k(key)).view(B, K, H, D)
        v = self.lin_v(self.norm_v(value)).view(B, K, H, D)
        w_q = self.lin_q.weight.view(H, D, Cq)
        w_o = self.lin_out.weight.view(Cq, H, D)
        k = torch.einsum("bkhd,hdc->bhkc", k, w_q) * D ** -0.5  # (B, H, K, Cq)
        v = torch.einsum("bkhd,chd->bhkc", v, w_o)  # (B, H, K, Cq)
        return k, v

    def attend(self, query: Tensor, folded: Tuple[Tensor, Tensor], ptr: Tensor) -> Tensor:
        r"""Vertex queries :math:`(n, C_q)` against :meth:`fold`-ed tokens; rows
        ``ptr[b]:ptr[b+1]`` of ``query`` belong to mesh :math:`b` (a block of a larger
        batch may pass ``(ptr - start).clamp(0, n)``)."""
        k, v = folded
        B = k.size(0)
        if ptr.numel() != B + 1:
            raise ValueError(f"Expected 'ptr' to have {B + 1} entries for {B} token sets (got {ptr.numel()})")
        if int(ptr[-1]) != query.size(0):
            raise ValueError(f"Expected {int(ptr[-1])} vertex queries from 'ptr' (got {query.size(0)})")
        out = query.new_empty(query.size(0), self.query_channels)
        fused = query.is_cuda
        for b, (start, end) in enumerate(zip(ptr[:-1].tolist(), ptr[1:].tolist())):
            step = end - start if (fused or self.chunk_size is None) else self.chunk_size
            for a in range(start, end, max(step, 1)):
                e = min(a + step, end)
                q = self.norm_q(query[a:e]).unsqueeze(0).expand(self.heads, -1, -1)  # (H, n, Cq)
                out[a:e] = attention(q, k[b], v[b]).sum(dim=0)  # (n, Cq)
        return out + self.lin_out.bias

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.query_channels}, {self.key_channels}, "
                f"heads={self.heads})")
