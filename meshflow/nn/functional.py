r"""Attention kernels shared by the vertex-sized attention layers.

The functions compute :math:`\mathrm{softmax}(\mathbf{Q}\mathbf{K}^\top)\mathbf{V}`.
:func:`attention` (queries already scaled) is one fused
:func:`torch.nn.functional.scaled_dot_product_attention` call;
:func:`fused_attention` keeps that call on the fused, memory-efficient kernels
when the values are wider than the queries (the sync attentions' two value
streams side by side); :func:`chunked_attention` walks over key/value blocks
with an online (running-max) softmax, so that nothing larger than
``M x chunk`` scores is ever held, whatever the number of keys.
"""
from __future__ import annotations

from typing import Iterable, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def attention(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    r"""Softmax attention with pre-scaled queries (one fused SDPA call).

    Shapes:
        - **input:** query :math:`(*, M, D)`, key :math:`(*, n, D)`, value :math:`(*, n, D_v)`
        - **output:** :math:`(*, M, D_v)`
    """
    return F.scaled_dot_product_attention(query, key, value, scale=1.0)


def fused_attention(query: Tensor, key: Tensor, value: Tensor, scale: float) -> Tensor:
    r"""Softmax attention :math:`\mathrm{softmax}(s\,\mathbf{Q}\mathbf{K}^\top)\mathbf{V}` through the
    fused SDPA kernels (CPU flash attention; CUDA flash or memory-efficient), also when
    :math:`D_v > D`.

    Those kernels need one head size for queries, keys and values; otherwise SDPA
    falls back to its plain implementation, which materialises the :math:`M \times n`
    scores per head (20 GB for 8 heads over 25,000 tokens). Queries and keys are
    zero-padded to :math:`D_v` channels, which leaves every :math:`\mathbf{q}^\top\mathbf{k}`
    unchanged, so memory stays :math:`O((M + n) D_v)`.

    Shapes:
        - **input:** query :math:`(*, M, D)`, key :math:`(*, n, D)`, value :math:`(*, n, D_v)`
        - **output:** :math:`(*, M, D_v)`
    """
    pad = value.size(-1) - query.size(-1)
    if pad > 0:
        query = F.pad(query, (0, pad))
        key = F.pad(key, (0, pad))
    return F.scaled_dot_product_attention(query, key, value, scale=scale)


def chunked_attention(query: Tensor, blocks: Iterable[Tuple[Tensor, Tensor]]) -> Tensor:
    r"""Exact softmax attention of ``query`` over the concatenation of key/value blocks.

    The blocks are consumed one at a time (they may be produced lazily), with the
    running maximum :math:`m`, normaliser :math:`\ell` and accumulator
    :math:`\mathbf{a}` of an online softmax:

    .. math::
        m' = \max(m, \max_j s_j), \quad
        \ell' = e^{m - m'} \ell + \sum_j e^{s_j - m'}, \quad
        \mathbf{a}' = e^{m - m'} \mathbf{a} + \sum_j e^{s_j - m'} \mathbf{v}_j

    and the result is :math:`\mathbf{a} / \ell`. Works under autograd.

    Shapes:
        - **input:** query :math:`(M, D)`; blocks of key :math:`(n_b, D)` and value :math:`(n_b, D_v)`
        - **output:** :math:`(M, D_v)`
    """
    m = l = acc = None
    for key, value in blocks:
        scores = query @ key.transpose(0, 1)  # (M, n_b)
        # the running max only shifts the exponent (the result does not depend on it): no gradient
        block_max = scores.detach().amax(dim=1, keepdim=True)  # (M, 1)
        if m is None:
            p = scores.sub_(block_max).exp_()
            m, l, acc = block_max, p.sum(dim=1, keepdim=True), p @ value
            continue
        m_new = torch.maximum(m, block_max)
        rescale = torch.exp(m - m_new)  # (M, 1)
        p = scores.sub_(m_new).exp_()  # (M, n_b)
        l = l * rescale + p.sum(dim=1, keepdim=True)
        acc = torch.addmm(acc * rescale, p, value)  # (M, D_v)
        m = m_new
    if acc is None:
        raise ValueError("Expected at least one key/value block (got none)")
    return acc / l
