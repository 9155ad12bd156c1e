"""Shape-preserving refinement (meshflow.data.rigidity) against plain references."""
import numpy as np
import pytest
import torch

from meshflow.data.graph import mesh_graph
from meshflow.data.rigidity import (_Operators, _weights, arap_energy, closest_rotations, quaternion_rotations,
                                    refine_frames, refine_shape)
from meshflow.data.shapes import icosphere
from meshflow.io.geometry import edge_length_change


def svd_rotations(S):
    """The textbook answer: V U^T from S = U diag(s) V^T, the smallest singular direction flipped on a reflection."""
    U, _, Vh = torch.linalg.svd(S)
    V = Vh.transpose(1, 2)
    U = U.clone()
    flip = torch.linalg.det(V @ U.transpose(1, 2)) < 0
    U[flip, :, 2] = -U[flip, :, 2]
    return V @ U.transpose(1, 2)


def trace(R, S):
    return torch.einsum("mab,mba->m", R, S)


def test_closest_rotations_match_svd():
    g = torch.Generator().manual_seed(0)
    S = torch.randn(500, 3, 3, generator=g, dtype=torch.float64)  # about half would be reflections
    flat = torch.randn(100, 3, 2, generator=g, dtype=torch.float64) @ torch.randn(100, 2, 3, generator=g,
                                                                                   dtype=torch.float64)
    S = torch.cat([S, flat])  # rank 2: the flat neighbourhoods of a surface mesh
    R = quaternion_rotations(closest_rotations(S, steps=3000))
    ref = svd_rotations(S)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=R.dtype).expand_as(R), atol=1e-12)
    assert torch.allclose(torch.linalg.det(R), torch.ones(len(R), dtype=R.dtype), atol=1e-12)
    assert (trace(R, S) >= trace(ref, S) - 1e-9).all()  # as good as the SVD's, everywhere
    assert torch.allclose(R, ref, atol=1e-5)


def test_closest_rotations_never_worse_than_the_start():
    g = torch.Generator().manual_seed(1)
    S = torch.randn(300, 3, 3, generator=g, dtype=torch.float64)
    start = torch.nn.functional.normalize(torch.randn(300, 4, generator=g, dtype=torch.float64), dim=1)
    before = trace(quaternion_rotations(start), S)
    for steps in (1, 2, 5):
        after = trace(quaternion_rotations(closest_rotations(S, start=start, steps=steps)), S)
        assert (after >= before - 1e-12).all()
    zero = closest_rotations(torch.zeros(2, 3, 3, dtype=torch.float64), start=start[:2])
    assert torch.allclose(zero, start[:2], atol=1e-15)  # nothing to align: the start is kept


def _ball(subdivisions=3):
    v, f = icosphere(subdivisions)
    return mesh_graph(v * np.array([1.0, 0.6, 0.8]), f)


def _spin(pos, T=6):
    angle = torch.linspace(0, 1.2, T, dtype=torch.float64)
    c, s = angle.cos(), angle.sin()
    R = torch.zeros(T, 3, 3, dtype=torch.float64)
    R[:, 0, 0], R[:, 0, 2], R[:, 2, 0], R[:, 2, 2], R[:, 1, 1] = c, s, -s, c, 1
    return torch.einsum("tab,nb->nta", R, pos.double()) + torch.tensor([0.1, 0.3, 0.0], dtype=torch.float64)


def test_operators_match_per_edge_sums():
    g = _ball(2)
    p = g.pos.double()
    gen = torch.Generator().manual_seed(2)
    x = _spin(p, 4) + 0.05 * torch.randn(g.num_nodes, 4, 3, generator=gen, dtype=torch.float64)
    R = quaternion_rotations(torch.nn.functional.normalize(
        torch.randn(g.num_nodes * 4, 4, generator=gen, dtype=torch.float64), dim=1)).view(g.num_nodes, 4, 3, 3)
    ops = _Operators(p, g.edge_index, 0.05)
    row, col = g.edge_index
    w = _weights(p, row, col)
    S_ref = torch.zeros(g.num_nodes, 4, 3, 3, dtype=torch.float64)
    b_ref = torch.zeros(g.num_nodes, 4, 3, dtype=torch.float64)
    for k in range(len(row)):  # one edge at a time
        i, j = int(row[k]), int(col[k])
        e = p[i] - p[j]
        for t in range(4):
            S_ref[i, t] += w[k] * torch.outer(e, x[i, t] - x[j, t])
            b_ref[i, t] += 0.5 * w[k] * (R[i, t] + R[j, t]) @ e
    assert torch.allclose(ops.covariances(x), S_ref, atol=1e-9)
    assert torch.allclose(ops.rotated_edges(R), b_ref, atol=1e-9)
    # the global step is the minimiser of the energy for fixed rotations: a dense solve of (r L + I) x = r b + y
    L = torch.zeros(g.num_nodes, g.num_nodes, dtype=torch.float64)
    L[row, col] = -w
    L += torch.diag(-L.sum(1))
    y = x.reshape(g.num_nodes, -1)
    rhs = 0.05 * b_ref.reshape(g.num_nodes, -1) + y
    dense = torch.linalg.solve(0.05 * L + torch.eye(g.num_nodes, dtype=torch.float64), rhs)
    assert torch.allclose(torch.from_numpy(ops.solve(rhs.numpy())), dense, atol=1e-9)


def test_refine_keeps_rigid_motion_and_lowers_the_energy_every_iteration():
    g = _ball()
    rigid = _spin(g.pos)
    out = refine_shape(g.pos, rigid.float(), g.edge_index, 0.05)
    assert out.dtype == torch.float32 and out.shape == rigid.shape
    assert torch.allclose(out.double(), rigid, atol=1e-5)  # rigid motion costs nothing: a fixed point
    gen = torch.Generator().manual_seed(3)
    noisy = rigid + 0.04 * torch.randn(rigid.shape, generator=gen, dtype=torch.float64)
    energies = []
    for k in range(1, 6):
        x, R = refine_shape(g.pos, noisy, g.edge_index, 0.02, iterations=k, return_rotations=True)
        energies.append(arap_energy(g.pos, x, noisy, g.edge_index, 0.02, R))
    assert all(b <= a + 1e-9 for a, b in zip(energies, energies[1:])), energies
    faces = g.face.T.numpy()
    before = edge_length_change(noisy.permute(1, 0, 2).numpy(), faces)
    after = edge_length_change(x.permute(1, 0, 2).numpy(), faces)
    assert after < 0.3 * before
    assert (x - rigid).norm(dim=-1).mean() < 0.5 * (noisy - rigid).norm(dim=-1).mean()  # closer to the clean motion


def test_refine_frames_are_independent_and_off_is_identity():
    g = _ball(2)
    gen = torch.Generator().manual_seed(4)
    y = _spin(g.pos, 5) + 0.03 * torch.randn(g.num_nodes, 5, 3, generator=gen, dtype=torch.float64)
    both = refine_shape(g.pos, y, g.edge_index, 0.01)
    for t in (0, 3):
        assert torch.allclose(refine_shape(g.pos, y[:, t:t + 1], g.edge_index, 0.01)[:, 0], both[:, t], atol=1e-6)
    assert refine_shape(g.pos, y, g.edge_index, 0.0) is y
    cloud = torch.empty(2, 0, dtype=torch.long)
    assert refine_shape(g.pos, y, cloud, 0.1) is y  # a point cloud has no edges to keep
    with pytest.raises(ValueError, match=r"Expected 'rigidity' to be a finite number >= 0 \(got -1\)"):
        refine_shape(g.pos, y, g.edge_index, -1)


def test_refine_frames_refines_the_welded_graph_in_file_units():
    """A file animation with split vertices (one copy per face corner) in its own units: refine_frames is
    refine_shape on the welded, normalised graph, mapped back to every copy, written out by hand."""
    v, f = icosphere(2)
    rest = (v * np.array([1.0, 0.6, 0.8]) * 3.0 + np.array([5.0, -2.0, 1.0])).astype(np.float32)
    file_rest, file_faces = rest[f.reshape(-1)], np.arange(f.size).reshape(-1, 3)  # 3 copies or more per vertex
    gen = np.random.default_rng(0)
    welded_noise = 0.1 * gen.standard_normal((4, len(v), 3))
    frames = (file_rest[None] + welded_noise[:, f.reshape(-1)]).astype(np.float32)  # (T, N_file, 3)
    graph = mesh_graph(file_rest, file_faces)
    assert graph.num_nodes == len(v) < len(file_rest)
    out = refine_frames(frames, graph, 0.02)
    src = graph.source_index.numpy()
    picked = np.zeros((graph.num_nodes, 4, 3))
    for i in range(len(file_rest)):
        picked[src[i]] = (frames[:, i] - graph.center.numpy()) / float(graph.scale)  # copies agree
    ref = refine_shape(graph.pos, torch.from_numpy(picked), graph.edge_index, 0.02).numpy()
    ref = ref * float(graph.scale) + graph.center.numpy()
    assert out.shape == frames.shape and out.dtype == np.float32
    for i in range(len(file_rest)):
        np.testing.assert_allclose(out[:, i], ref[src[i]], atol=1e-5)
    assert np.abs(out - frames).max() > 1e-2  # it did refine
    assert refine_frames(frames, graph, 0.0) is frames

def test_refine_is_the_same_on_a_finer_tessellation():
    """The 1/l^2 weights make the refinement a property of the shape, not of its triangle count."""
    out = []
    for sub in (2, 4):
        g = _ball(sub)
        p = g.pos.double()
        stretch = p * torch.tensor([1.3, 1.0, 1.0], dtype=torch.float64)  # a smooth non-rigid deformation
        x = refine_shape(g.pos, stretch.unsqueeze(1), g.edge_index, 0.05)[:, 0]
        extent = x[:, 0].max() - x[:, 0].min()
        out.append(float(extent / (p[:, 0].max() - p[:, 0].min())))
    assert 1.0 < out[0] < 1.3 and abs(out[0] - out[1]) < 0.02, out
