import pytest
import torch

from meshflow.data.graph import edge_index_from_faces
from meshflow.data.shapes import grid, icosphere
from meshflow.nn import NeighborAttention


def _mesh_edges(name: str, perm_seed=None):
    v, f = icosphere(1) if name == "icosphere" else grid(5, 6)
    face = torch.from_numpy(f).T.contiguous()
    n = len(v)
    if perm_seed is not None:  # relabel the vertices at random
        g = torch.Generator().manual_seed(perm_seed)
        face = torch.randperm(n, generator=g)[face]
    return edge_index_from_faces(face, n), n


def _random_layer(channels, **kwargs):
    layer = NeighborAttention(channels, **kwargs).double()
    torch.nn.init.normal_(layer.lin_out.weight, std=0.3)  # the layer starts at zero; make it do something
    torch.nn.init.normal_(layer.lin_out.bias, std=0.3)
    for norm in (layer.norm_q, layer.norm_k, layer.norm_v):
        torch.nn.init.normal_(norm.weight, 1.0, 0.2)
        torch.nn.init.normal_(norm.bias, 0.0, 0.2)
    return layer


def dense_reference(layer: NeighborAttention, x, edge_index):
    """The original's formulation: dense N x N boolean mask, per-head SDPA, output projection."""
    N, H, D = x.size(0), layer.heads, layer.head_channels
    mask = torch.zeros(N, N, dtype=torch.bool)
    mask[edge_index[1], edge_index[0]] = True  # row i (target) may attend to column j (source)
    q = layer.lin_q(layer.norm_q(x)).view(N, H, D).transpose(0, 1)
    k = layer.lin_k(layer.norm_k(x)).view(N, H, D).transpose(0, 1)
    v = layer.lin_v(layer.norm_v(x)).view(N, H, D).transpose(0, 1)
    scores = (q @ k.transpose(1, 2)) * D ** -0.5
    attn = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1).nan_to_num(0.0)
    out = layer.lin_out((attn @ v).transpose(0, 1).reshape(N, H * D))
    return out * mask.any(dim=1, keepdim=True)


def test_repr_and_zero_init():
    layer = NeighborAttention(16)
    assert repr(layer) == "NeighborAttention(16, heads=1)"
    assert layer.head_channels == 32 and layer.lin_q.out_features == 32
    edge_index, n = _mesh_edges("grid")
    assert torch.count_nonzero(layer(torch.randn(n, 16), edge_index)) == 0


@pytest.mark.parametrize("name", ["icosphere", "grid"])
@pytest.mark.parametrize("perm_seed", [None, 1])
@pytest.mark.parametrize("heads,head_channels", [(1, None), (2, 8), (3, 5)])
def test_sparse_equals_dense_masked_softmax(name, perm_seed, heads, head_channels):
    edge_index, n = _mesh_edges(name, perm_seed)
    layer = _random_layer(12, heads=heads, head_channels=head_channels)
    x = torch.randn(n, 12, dtype=torch.float64)
    expected = dense_reference(layer, x, edge_index)
    torch.testing.assert_close(layer(x, edge_index), expected, rtol=1e-10, atol=1e-10)
    layer.chunk_size = 7  # message passing in blocks of target vertices
    torch.testing.assert_close(layer(x, edge_index), expected, rtol=1e-10, atol=1e-10)


def test_vertex_without_neighbors_gets_zero_residual():
    edge_index, n = _mesh_edges("grid")
    layer = _random_layer(8)
    x = torch.randn(n + 2, 8, dtype=torch.float64)  # two isolated vertices at the end
    out = layer(x, edge_index)
    assert torch.equal(out[n:], torch.zeros(2, 8, dtype=torch.float64))
    torch.testing.assert_close(out[:n], layer(x[:n], edge_index))
    layer.chunk_size = 4
    torch.testing.assert_close(layer(x, edge_index), out)
    assert torch.count_nonzero(layer(x, torch.empty(2, 0, dtype=torch.long))) == 0


def test_batch_of_two_meshes_equals_each_alone():
    ei1, n1 = _mesh_edges("icosphere")
    ei2, n2 = _mesh_edges("grid")
    layer = _random_layer(8)
    x1, x2 = torch.randn(n1, 8, dtype=torch.float64), torch.randn(n2, 8, dtype=torch.float64)
    out = layer(torch.cat([x1, x2]), torch.cat([ei1, ei2 + n1], dim=1))
    torch.testing.assert_close(out[:n1], layer(x1, ei1))
    torch.testing.assert_close(out[n1:], layer(x2, ei2))


def test_permutation_equivariance():
    edge_index, n = _mesh_edges("icosphere")
    layer = _random_layer(8)
    x = torch.randn(n, 8, dtype=torch.float64)
    perm = torch.randperm(n)  # new vertex a is old vertex perm[a]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    out = layer(x[perm], inv[edge_index])
    torch.testing.assert_close(out, layer(x, edge_index)[perm])


def test_gradients_flow():
    edge_index, n = _mesh_edges("grid")
    layer = _random_layer(8)
    x = torch.randn(n, 8, dtype=torch.float64, requires_grad=True)
    layer.chunk_size = 5
    layer(x, edge_index).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in layer.parameters())  # norm_k.bias too (DDP needs every one)
    assert layer.norm_k.bias.grad.abs().max() < 1e-12  # a shift of all logits of a vertex: zero gradient


def test_rejects_bad_edge_index():
    with pytest.raises(ValueError, match=r"Expected 'edge_index' to have shape \(2, E\) \(got \(5, 2\)\)"):
        NeighborAttention(4)(torch.randn(3, 4), torch.zeros(5, 2, dtype=torch.long))
