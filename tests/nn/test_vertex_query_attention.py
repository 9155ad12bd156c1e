import pytest
import torch

from meshflow.nn import VertexQueryAttention


def _random_layer(*args, **kwargs):
    layer = VertexQueryAttention(*args, **kwargs).double()
    torch.nn.init.normal_(layer.lin_out.weight, std=0.3)
    torch.nn.init.normal_(layer.lin_out.bias, std=0.3)
    for norm in (layer.norm_q, layer.norm_k, layer.norm_v):
        torch.nn.init.normal_(norm.weight, 1.0, 0.2)
        torch.nn.init.normal_(norm.bias, 0.0, 0.2)
    return layer


def reference(layer, query, key, value):
    """The original's formulation for one mesh: per-head SDPA, then the output projection."""
    H, D = layer.heads, layer.head_channels
    q = layer.lin_q(layer.norm_q(query)).view(-1, H, D).transpose(0, 1)
    k = layer.lin_k(layer.norm_k(key)).view(-1, H, D).transpose(0, 1)
    v = layer.lin_v(layer.norm_v(value)).view(-1, H, D).transpose(0, 1)
    out = torch.softmax(q @ k.transpose(1, 2) / D ** 0.5, dim=-1) @ v
    return layer.lin_out(out.transpose(0, 1).reshape(query.size(0), H * D))


def test_repr_and_zero_init():
    layer = VertexQueryAttention(16, 8)
    assert repr(layer) == "VertexQueryAttention(16, 8, heads=1)"
    assert layer.head_channels == 16
    out = layer(torch.randn(5, 16), torch.randn(1, 3, 8), torch.randn(1, 3, 8), torch.tensor([0, 5]))
    assert torch.count_nonzero(out) == 0


@pytest.mark.parametrize("heads,head_channels", [(1, None), (2, 6)])
@pytest.mark.parametrize("chunk_size", [None, 3, 100])
def test_equals_reference_per_mesh(heads, head_channels, chunk_size):
    layer = _random_layer(10, 6, 6, heads=heads, head_channels=head_channels, chunk_size=chunk_size)
    ptr = torch.tensor([0, 7, 19])
    query = torch.randn(19, 10, dtype=torch.float64)
    key, value = torch.randn(2, 5, 6, dtype=torch.float64), torch.randn(2, 5, 6, dtype=torch.float64)
    out = layer(query, key, value, ptr)
    for b in range(2):
        s = slice(int(ptr[b]), int(ptr[b + 1]))
        torch.testing.assert_close(out[s], reference(layer, query[s], key[b], value[b]), rtol=1e-10, atol=1e-10)


def test_gradients_flow():
    layer = _random_layer(6, 4, chunk_size=2)
    query = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    key = torch.randn(1, 3, 4, dtype=torch.float64, requires_grad=True)
    layer(query, key, key, torch.tensor([0, 5])).square().sum().backward()
    assert query.grad is not None and key.grad is not None
    assert all(p.grad is not None for p in layer.parameters())


def test_errors():
    layer = VertexQueryAttention(4, 4)
    with pytest.raises(ValueError, match=r"Expected 'ptr' to have 2 entries for 1 token sets \(got 3\)"):
        layer(torch.randn(5, 4), torch.randn(1, 2, 4), torch.randn(1, 2, 4), torch.tensor([0, 2, 5]))
    with pytest.raises(ValueError, match=r"Expected 4 vertex queries from 'ptr' \(got 5\)"):
        layer(torch.randn(5, 4), torch.randn(1, 2, 4), torch.randn(1, 2, 4), torch.tensor([0, 4]))
