import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from meshflow.data import edge_index_from_faces, mesh_graph, normalization, weld_vertices
from meshflow.data.graph import (connected_components, denormalize, file_graph, first_file_vertices, inspect_mesh,
                                 to_file_vertices)
from meshflow.io import read_mesh
from meshflow.data.shapes import grid, icosphere, subdivide, tetrahedron


def reference_edges(faces, n):
    """Dense adjacency as the original builds it, turned back into a sorted edge list."""
    adj = np.zeros((n, n), dtype=bool)
    for a, b, c in faces:
        for i, j in ((a, b), (b, c), (c, a)):
            adj[i, j] = adj[j, i] = True
    np.fill_diagonal(adj, False)
    return np.stack(np.nonzero(adj))


@pytest.mark.parametrize("mesh", [tetrahedron(), grid(3, 5), icosphere(2)])
def test_edge_index_matches_dense_adjacency(mesh):
    v, f = mesh
    ei = edge_index_from_faces(torch.from_numpy(f.T), len(v))
    np.testing.assert_array_equal(ei.numpy(), reference_edges(f, len(v)))


def test_edge_index_properties_and_counts():
    v, f = icosphere(2)  # closed genus-0 surface: E = 3F / 2
    ei = edge_index_from_faces(torch.from_numpy(f.T), len(v))
    assert ei.size(1) == 2 * (3 * len(f) // 2)
    assert (ei[0] != ei[1]).all()
    key = ei[0] * len(v) + ei[1]
    assert (key[1:] > key[:-1]).all()  # sorted and unique
    rev = ei[1] * len(v) + ei[0]
    assert torch.equal(torch.sort(rev).values, key)  # symmetric


def test_edge_index_drops_self_loops_and_rejects_bad_shape():
    face = torch.tensor([[0, 1], [1, 1], [2, 2]])  # second face is degenerate (1, 1, 2)
    ei = edge_index_from_faces(face, 3)
    assert (ei[0] != ei[1]).all()
    with pytest.raises(ValueError, match=r"Expected 'face' to have shape \(3, F\) \(got \(2, 3\)\)"):
        edge_index_from_faces(torch.zeros(2, 3, dtype=torch.long), 3)


def test_weld_keeps_first_occurrence_order():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0], [1, 0, 0], [-0.0, 0, 0]], dtype=np.float32)
    uniq, src = weld_vertices(v)
    np.testing.assert_array_equal(uniq, [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(src, [0, 1, 0, 2, 1, 0])
    np.testing.assert_array_equal(uniq[src], v + 0.0)


def test_mesh_graph_welds_uv_seams_and_maps_back():
    # a quad split along a UV seam: the two triangles do not share vertex records
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32)
    f = np.array([[0, 1, 2], [3, 4, 5]])
    data = mesh_graph(v, f, normalize=False)
    assert data.num_nodes == 4 and data.face.shape == (3, 2)
    assert data.edge_index.size(1) == 2 * 5  # 4 sides + the diagonal
    torch.testing.assert_close(to_file_vertices(data.pos, data), torch.from_numpy(v))


def test_first_file_vertices_is_the_first_occurrence_of_each_welded_vertex():
    v, f = icosphere(1)
    split = np.concatenate([v, v[::3]])  # seam copies after the originals
    g = mesh_graph(split[np.r_[len(v):len(split), 0:len(v)]], f + len(split) - len(v))  # ... and before them
    src = g.source_index.numpy()
    ref = [min(i for i in range(len(src)) if src[i] == w) for w in range(g.num_nodes)]  # the simple loop
    np.testing.assert_array_equal(first_file_vertices(g), ref)
    assert (src[first_file_vertices(g)] == np.arange(g.num_nodes)).all()


def test_normalization_is_the_original():
    v = np.random.RandomState(0).randn(50, 3).astype(np.float32) * np.float32([1, 2, 3]) + np.float32([5, -1, 2])
    data = mesh_graph(v, None)
    pos = torch.from_numpy(v)
    center = (pos.max(0).values + pos.min(0).values) / 2
    scale = (pos - center).abs().max()
    torch.testing.assert_close(data.pos, (pos - center) / scale)
    assert data.pos.abs().max().item() == pytest.approx(1.0)
    torch.testing.assert_close(denormalize(data.pos, data), pos)
    c, s = normalization(torch.zeros(1, 3))
    assert s.item() == 1.0  # a single point does not divide by zero


def test_point_cloud_has_no_edges():
    data = mesh_graph(np.random.rand(10, 3), None)
    assert data.edge_index.shape == (2, 0) and data.face.shape == (3, 0)


def test_batching_offsets_every_index():
    a = mesh_graph(*tetrahedron())
    v, f = grid(3, 3)
    b = mesh_graph(np.concatenate([v, v[:2]]), f)  # two duplicate vertices -> source_index longer than N
    batch = Batch.from_data_list([a, b])
    assert torch.equal(batch.face[:, a.face.size(1):], b.face + a.num_nodes)
    assert torch.equal(batch.edge_index[:, a.edge_index.size(1):], b.edge_index + a.num_nodes)
    assert torch.equal(batch.source_index[len(a.source_index):], b.source_index + a.num_nodes)
    assert batch.center.shape == (2, 3) and batch.scale.shape == (2,)
    assert torch.equal(batch.pos[batch.source_index], torch.cat([a.pos[a.source_index], b.pos[b.source_index]]))


def test_subdivide_and_components():
    v, f = subdivide(*tetrahedron(), loops=2)
    assert len(f) == 4 * 16 and len(v) == 4 + 6 + 24  # V - E + F = 2 at every level
    data = mesh_graph(v, f)
    assert connected_components(data.edge_index, data.num_nodes) == 1
    v2, f2 = tetrahedron()
    two = mesh_graph(np.concatenate([v2, v2 + 5]), np.concatenate([f2, f2 + 4]))
    assert connected_components(two.edge_index, two.num_nodes) == 2


def test_mesh_graph_errors():
    with pytest.raises(ValueError, match=r"Expected 'vertices' to have shape \(N, 3\)"):
        mesh_graph(np.zeros((4, 2)), None)
    with pytest.raises(ValueError, match=r"Face indices must lie in \[0, 4\) \(got \[0, 7\]\)"):
        mesh_graph(np.zeros((4, 3)), np.array([[0, 1, 7]]))


# ---- mesh files as graphs (meshflow.load_mesh) ----
def test_spot_counts(shared):
    info = inspect_mesh(shared("data", "static", "spot.obj"))
    assert (info["vertices"], info["welded_vertices"], info["faces"]) == (3225, 2930, 5856)
    assert info["components"] == 1
    assert info["edges"] == 3 * 5856 // 2  # closed manifold


def test_spot_graph_keeps_uvs_and_maps_every_file_vertex(shared):
    mesh = read_mesh(shared("data", "static", "spot.obj"))
    assert mesh.parts[0].mesh.visual.uv.shape == (3225, 2)
    data = file_graph(mesh)
    assert data.pos.shape == (2930, 3) and data.source_index.shape == (3225,)
    back = data.pos[data.source_index] * data.scale + data.center
    torch.testing.assert_close(back, torch.from_numpy(mesh.vertices), atol=1e-6, rtol=0)
    assert data.pos.abs().max().item() == pytest.approx(1.0)
