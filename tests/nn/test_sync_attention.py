import pytest
import torch

from meshflow.nn import SyncAttention


def _random_layer(channels, **kwargs):
    layer = SyncAttention(channels, **kwargs).double()
    for norm in (layer.norm_q, layer.norm_k, layer.norm_v1, layer.norm_v2):
        torch.nn.init.normal_(norm.weight, 1.0, 0.2)
        torch.nn.init.normal_(norm.bias, 0.0, 0.2)
    return layer


def reference(layer: SyncAttention, q_in, k_in, v1_in, v2_in):
    """The original's formulation for one batch element: per head, SDPA over [v1 | v2]
    with scale 1/sqrt(D)."""
    H, D = layer.heads, layer.head_channels

    def heads(t):
        return t.view(t.size(0), H, D).transpose(0, 1)  # (H, n, D)

    q = heads(layer.lin_q(layer.norm_q(q_in)))
    k = heads(layer.lin_k(layer.norm_k(k_in)))
    v = torch.cat([heads(layer.lin_v1(layer.norm_v1(v1_in))), heads(layer.lin_v2(layer.norm_v2(v2_in)))], -1)
    attn = torch.softmax(q @ k.transpose(1, 2) / D ** 0.5, dim=-1)
    out = (attn @ v).transpose(0, 1)  # (K, H, 2D)
    o1 = out[..., :D].reshape(q_in.size(0), H * D)
    o2 = out[..., D:].reshape(q_in.size(0), H * D)
    return layer.lin_out1(o1), layer.lin_out2(o2)


def test_repr():
    assert repr(SyncAttention(16, heads=4, head_channels=8)) == "SyncAttention(16, heads=4)"


@pytest.mark.parametrize("heads,head_channels", [(1, None), (4, 3), (2, 12)])
def test_dense_self_attention(heads, head_channels):
    layer = _random_layer(12, heads=heads, head_channels=head_channels)
    h0, hT = torch.randn(2, 7, 12, dtype=torch.float64), torch.randn(2, 7, 12, dtype=torch.float64)
    r1, r2 = layer(h0, h0, h0, hT)
    assert r1.shape == r2.shape == (2, 7, 12)
    for b in range(2):
        e1, e2 = reference(layer, h0[b], h0[b], h0[b], hT[b])
        torch.testing.assert_close(r1[b], e1, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(r2[b], e2, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("heads,head_channels", [(1, None), (3, 4)])
@pytest.mark.parametrize("chunk_size", [None, 4, 1000])
def test_ragged_cross_attention_per_mesh(heads, head_channels, chunk_size):
    layer = _random_layer(8, heads=heads, head_channels=head_channels, chunk_size=chunk_size)
    sizes = [13, 5, 22]
    ptr = torch.tensor([0, 13, 18, 40])
    tokens = torch.randn(3, 6, 8, dtype=torch.float64)
    e0, eT = torch.randn(40, 8, dtype=torch.float64), torch.randn(40, 8, dtype=torch.float64)
    r1, r2 = layer(tokens, e0, e0, eT, ptr=ptr)
    for b, n in enumerate(sizes):
        s = slice(int(ptr[b]), int(ptr[b]) + n)
        e1, e2 = reference(layer, tokens[b], e0[s], e0[s], eT[s])  # mesh b's vertices only
        torch.testing.assert_close(r1[b], e1, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(r2[b], e2, rtol=1e-10, atol=1e-10)


def test_ragged_gradients_with_chunks():
    layer = _random_layer(6, chunk_size=3)
    tokens = torch.randn(1, 4, 6, dtype=torch.float64, requires_grad=True)
    e0 = torch.randn(10, 6, dtype=torch.float64, requires_grad=True)
    r1, r2 = layer(tokens, e0, e0, e0 * 2, ptr=torch.tensor([0, 10]))
    (r1.sum() + r2.square().sum()).backward()
    grad_chunked = e0.grad.clone()
    e0.grad = None
    layer.chunk_size = None
    r1, r2 = layer(tokens, e0, e0, e0 * 2, ptr=torch.tensor([0, 10]))
    (r1.sum() + r2.square().sum()).backward()
    torch.testing.assert_close(grad_chunked, e0.grad)


def test_ragged_errors():
    layer = SyncAttention(4)
    with pytest.raises(ValueError, match=r"Expected 'ptr' to have 3 entries for 2 query sets \(got 2\)"):
        layer(torch.randn(2, 3, 4), torch.randn(5, 4), torch.randn(5, 4), torch.randn(5, 4), ptr=torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"at least one vertex \(mesh 1 has none\)"):
        layer(torch.randn(2, 3, 4), torch.randn(5, 4), torch.randn(5, 4), torch.randn(5, 4),
              ptr=torch.tensor([0, 5, 5]))
