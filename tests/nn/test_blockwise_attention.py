"""The memory-linear attention paths against dense references that hold every score.

* :func:`meshflow.nn.functional.fused_attention`: the decoder's K x K token self-attention
  (values twice as wide as the queries) through the fused, blockwise SDPA kernel;
* the encoder's ragged cross-attention (online softmax over vertex blocks) and its gradients.
"""
import pytest
import torch
from torch.profiler import profile, ProfilerActivity

from meshflow.nn.functional import fused_attention
from tests.nn.test_sync_attention import _random_layer, reference


def dense_attention(q, k, v, scale):
    """softmax(scale Q K^T) V with the full score matrix."""
    return torch.softmax(scale * q @ k.transpose(-1, -2), dim=-1) @ v


def sdpa_kernels(fn) -> set:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return {e.name for e in prof.events() if "scaled_dot_product" in e.name or "attention_math" in e.name}


@pytest.mark.parametrize("d,dv", [(4, 8), (12, 24), (8, 8)])
@pytest.mark.parametrize("n", [1, 17, 300])
def test_fused_attention_equals_dense(d, dv, n):
    g = torch.Generator().manual_seed(n)
    q = torch.randn(2, 3, 11, d, dtype=torch.float64, generator=g)
    k = torch.randn(2, 3, n, d, dtype=torch.float64, generator=g)
    v = torch.randn(2, 3, n, dv, dtype=torch.float64, generator=g)
    torch.testing.assert_close(fused_attention(q, k, v, scale=0.3), dense_attention(q, k, v, 0.3),
                               rtol=1e-12, atol=1e-12)


def test_fused_attention_gradients_equal_dense():
    g = torch.Generator().manual_seed(0)
    q, k = (torch.randn(1, 2, 9, 5, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(2))
    v = torch.randn(1, 2, 9, 10, dtype=torch.float64, generator=g, requires_grad=True)
    grads = torch.autograd.grad(fused_attention(q, k, v, 0.5).square().sum(), (q, k, v))
    expected = torch.autograd.grad(dense_attention(q, k, v, 0.5).square().sum(), (q, k, v))
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_fused_attention_stays_on_the_blockwise_kernel():
    # the plain SDPA path materialises (M, n) scores per head; with 64-wide queries and 128-wide values
    # (the decoder's layout) SDPA falls back to it unless the queries are padded
    q, k = torch.randn(1, 8, 256, 64), torch.randn(1, 8, 256, 64)
    v = torch.randn(1, 8, 256, 128)
    unpadded = sdpa_kernels(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v))
    assert "aten::_scaled_dot_product_attention_math" in unpadded  # the fallback this guards against
    ours = sdpa_kernels(lambda: fused_attention(q, k, v, 0.125))
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in ours
    assert "aten::_scaled_dot_product_attention_math" not in ours


def test_decoder_self_attention_blockwise_equals_dense():
    layer = _random_layer(16, heads=8, head_channels=4)  # values 2D wide: the padded fused path
    h0 = torch.randn(2, 300, 16, dtype=torch.float64)
    hT = torch.randn(2, 300, 16, dtype=torch.float64)
    r1, r2 = layer(h0, h0, h0, hT)
    for b in range(2):
        e1, e2 = reference(layer, h0[b], h0[b], h0[b], hT[b])
        torch.testing.assert_close(r1[b], e1, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(r2[b], e2, rtol=1e-10, atol=1e-10)
    assert "aten::_scaled_dot_product_attention_math" not in sdpa_kernels(lambda: layer(h0, h0, h0, hT))


def test_blockwise_encoder_attention_keeps_every_gradient():
    layer = _random_layer(8, heads=2, head_channels=4, chunk_size=7)
    ref = _random_layer(8, heads=2, head_channels=4)
    ref.load_state_dict(layer.state_dict())
    ptr = torch.tensor([0, 25])
    tokens = torch.randn(1, 5, 8, dtype=torch.float64)
    e0, eT = torch.randn(25, 8, dtype=torch.float64), torch.randn(25, 8, dtype=torch.float64)
    sum(r.square().sum() for r in layer(tokens, e0, e0, eT, ptr=ptr)).backward()
    sum(r.square().sum() for r in reference(ref, tokens[0], e0, e0, eT)).backward()
    for (name, p), q in zip(layer.named_parameters(), ref.parameters()):
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-8, atol=1e-10, msg=name)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.bfloat16, 5e-2)])
def test_cuda_fused_paths_equal_the_dense_reference(dtype, tol):
    layer = _random_layer(64, heads=8, head_channels=8)  # decoder layout: values 2 x 8 wide per head
    h0, hT = torch.randn(1, 700, 64, dtype=torch.float64), torch.randn(1, 700, 64, dtype=torch.float64)
    e1, e2 = reference(layer, h0[0], h0[0], h0[0], hT[0])
    cuda = layer.to("cuda", dtype)
    r1, r2 = cuda(h0.to("cuda", dtype), h0.to("cuda", dtype), h0.to("cuda", dtype), hT.to("cuda", dtype))
    scale = float(e1.abs().max())
    torch.testing.assert_close(r1[0].double().cpu(), e1, rtol=tol, atol=tol * scale)
    torch.testing.assert_close(r2[0].double().cpu(), e2, rtol=tol, atol=tol * scale)

    layer = _random_layer(64, heads=1)  # encoder layout: tokens over their mesh's vertices, one fused call each
    ptr = torch.tensor([0, 900, 2000])
    tokens = torch.randn(2, 50, 64, dtype=torch.float64)
    e0, eT = torch.randn(2000, 64, dtype=torch.float64), torch.randn(2000, 64, dtype=torch.float64)
    expected = layer(tokens, e0, e0, eT, ptr=ptr)
    cuda = layer.to("cuda", dtype)
    got = cuda(*(t.to("cuda", dtype) for t in (tokens, e0, e0, eT)), ptr=ptr.cuda())
    for a, b in zip(got, expected):
        torch.testing.assert_close(a.double().cpu(), b, rtol=tol, atol=tol * float(b.abs().max()))
