from typing import Iterator, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import LayerNorm, Linear, Module

from .functional import attention, chunked_attention, fused_attention


class SyncAttention(Module):
    r"""The synchronised attention from the `"AnimateAnyMesh: A Feed-Forward 4D
    Foundation Model for Text-Driven Universal Mesh Animation"
    <https://arxiv.org/abs/2506.09982>`_ paper: one set of attention weights,
    computed from the shape stream, averages two value streams (shape and
    motion), so that both stay aligned token by token.

    .. math::
        \mathbf{A} = \mathrm{softmax}\left( \frac{\mathbf{W}_q \mathrm{LN}_q(\mathbf{Q})
        \left(\mathbf{W}_k \mathrm{LN}_k(\mathbf{K})\right)^\top}{\sqrt{D}} \right),
        \quad
        \mathbf{r}_1 = \mathbf{W}_{o1} \mathbf{A} \mathbf{W}_{v1} \mathrm{LN}_{v1}(\mathbf{V}_1)
        + \mathbf{b}_{o1},
        \quad
        \mathbf{r}_2 = \mathbf{W}_{o2} \mathbf{A} \mathbf{W}_{v2} \mathrm{LN}_{v2}(\mathbf{V}_2)
        + \mathbf{b}_{o2}

    per head (the original concatenates both values per head and runs one
    scaled-dot-product attention with scale :math:`D^{-1/2}`). The layer
    returns the residuals :math:`(\mathbf{r}_1, \mathbf{r}_2)`.

    Two layouts:

    * dense (``ptr=None``): queries :math:`(B, K, C)` attend over keys
      :math:`(B, M, C)` of the same batch element (the decoder's token
      self-attention), one fused SDPA call;
    * ragged (``ptr`` given): the keys and values are the vertices of a PyG
      batch, :math:`(N, C)` with graph :math:`b` in rows
      ``ptr[b]:ptr[b+1]``, and the tokens of mesh :math:`b` attend over that
      mesh's vertices only (the encoder's cross-attention). Here
      :math:`\mathbf{W}_k` is folded into the queries and
      :math:`\mathbf{W}_{v1}, \mathbf{W}_{v2}` are applied after the
      averaging, so no vertex-sized projection is ever formed; on a CPU the
      vertices are visited in blocks of :obj:`chunk_size` rows with an online
      softmax (:func:`meshflow.nn.functional.chunked_attention`), on a GPU one
      fused SDPA call per mesh keeps memory linear in :math:`N`.

    Args:
        channels (int): Size :math:`C` of every input stream.
        heads (int, optional): Number of attention heads. (default: :obj:`1`)
        head_channels (int, optional): Size :math:`D` of each head.
            (default: :obj:`channels`)
        chunk_size (int, optional): Vertex rows per block in the ragged layout
            on devices without fused attention; :obj:`None` attends over a
            whole mesh at once. (default: :obj:`None`)

    Shapes:
        - **input:** query :math:`(B, K, C)`; key, value1, value2 :math:`(B, M, C)`
          (dense) or :math:`(N, C)` with ptr :math:`(B + 1,)` (ragged)
        - **output:** two residuals :math:`(B, K, C)`
    """

    def __init__(self, channels: int, heads: int = 1, head_channels: Optional[int] = None,
                 chunk_size: Optional[int] = None):
        super().__init__()
        self.channels = channels
        self.heads = heads
        self.head_channels = head_channels if head_channels is not None else channels
        self.chunk_size = chunk_size
        inner = heads * self.head_channels
        self.norm_q = LayerNorm(channels)
        self.norm_k = LayerNorm(channels)
        self.norm_v1 = LayerNorm(channels)
        self.norm_v2 = LayerNorm(channels)
        self.lin_q = Linear(channels, inner, bias=False)
        self.lin_k = Linear(channels, inner, bias=False)
        self.lin_v1 = Linear(channels, inner, bias=False)
        self.lin_v2 = Linear(channels, inner, bias=False)
        self.lin_out1 = Linear(inner, channels)
        self.lin_out2 = Linear(inner, channels)
        self.reset_parameters()

    def reset_parameters(self):
        for module in self.children():
            module.reset_parameters()

    def forward(self, query: Tensor, key: Tensor, value1: Tensor, value2: Tensor,
                ptr: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        if ptr is None:
            out1, out2 = self._dense(query, key, value1, value2)
        else:
            out1, out2 = self._ragged(query, key, value1, value2, ptr)
        return self.lin_out1(out1), self.lin_out2(out2)  # (B, K, C) each

    def _dense(self, query: Tensor, key: Tensor, value1: Tensor, value2: Tensor) -> Tuple[Tensor, Tensor]:
        B, K, _ = query.shape
        H, D = self.heads, self.head_channels

        def heads(t: Tensor) -> Tensor:
            return t.view(B, -1, H, D).transpose(1, 2)  # (B, H, *, D)

        q = heads(self.lin_q(self.norm_q(query)))
        k = heads(self.lin_k(self.norm_k(key)))
        v = torch.cat([heads(self.lin_v1(self.norm_v1(value1))),
                       heads(self.lin_v2(self.norm_v2(value2)))], dim=-1)  # (B, H, M, 2D)
        out = fused_attention(q, k, v, scale=D ** -0.5)  # (B, H, K, 2D), never (K, K) scores
        out = out.transpose(1, 2).reshape(B, K, H, 2 * D)
        return out[..., :D].reshape(B, K, H * D), out[..., D:].reshape(B, K, H * D)

    def _ragged(self, query: Tensor, key: Tensor, value1: Tensor, value2: Tensor,
                ptr: Tensor) -> Tuple[Tensor, Tensor]:
        B, K, C = query.shape
        H, D = self.heads, self.head_channels
        if ptr.numel() != B + 1:
            raise ValueError(f"Expected 'ptr' to have {B + 1} entries for {B} query sets (got {ptr.numel()})")
        q = self.lin_q(self.norm_q(query)).view(B, K, H, D)
        w_k = self.lin_k.weight.view(H, D, C)
        q = torch.einsum("bkhd,hdc->bhkc", q, w_k) * D ** -0.5  # (B, H, K, C): keys stay C-wide
        fused = query.is_cuda
        outs = []
        for b, (start, end) in enumerate(zip(ptr[:-1].tolist(), ptr[1:].tolist())):
            if end <= start:
                raise ValueError(f"Expected every mesh to have at least one vertex (mesh {b} has none)")
            q_b = q[b].reshape(H * K, C)
            step = end - start if (fused or self.chunk_size is None) else self.chunk_size
            blocks = self._blocks(key, value1, value2, start, end, step)
            if step >= end - start:
                k_b, v_b = next(blocks)
                outs.append(attention(q_b.unsqueeze(0), k_b.unsqueeze(0), v_b.unsqueeze(0))[0])
            else:
                outs.append(chunked_attention(q_b, blocks))  # (H K, 2C)
        avg = torch.stack(outs).view(B, H, K, 2 * C)  # attention-weighted LN(v1) | LN(v2)
        w_v1 = self.lin_v1.weight.view(H, D, C)
        w_v2 = self.lin_v2.weight.view(H, D, C)
        out1 = torch.einsum("bhkc,hdc->bkhd", avg[..., :C], w_v1).reshape(B, K, H * D)
        out2 = torch.einsum("bhkc,hdc->bkhd", avg[..., C:], w_v2).reshape(B, K, H * D)
        return out1, out2

    def _blocks(self, key: Tensor, value1: Tensor, value2: Tensor, start: int, end: int,
                step: int) -> Iterator[Tuple[Tensor, Tensor]]:
        for a in range(start, end, step):
            b = min(a + step, end)
            k = self.norm_k(key[a:b])  # (n, C)
            v = torch.cat([self.norm_v1(value1[a:b]), self.norm_v2(value2[a:b])], dim=-1)  # (n, 2C)
            yield k, v

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, heads={self.heads})"
