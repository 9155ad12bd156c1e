"""meshflow.eval.metrics against loop references and closed forms."""
import numpy as np
import pytest
import torch

from meshflow.data.graph import normalization
from meshflow.data.shapes import icosphere
from meshflow.io.geometry import frame_scale
from meshflow.eval.metrics import (edge_length_change, mesh_edges, motion_amount, motion_metrics,
                                   per_graph_mean, per_vertex_error, second_difference, summarize)


def _rotation_y(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


@pytest.fixture
def ball():
    v, f = icosphere(1)
    return v * np.array([1.0, 2.0, 0.5]) + 3.0, f


def test_mesh_edges_are_unique_and_undirected():
    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]])  # tetrahedron
    e = mesh_edges(faces)
    assert e.shape == (6, 2) and (e[:, 0] < e[:, 1]).all()
    assert {tuple(x) for x in e} == {(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)}
    assert mesh_edges(np.array([[0, 0, 1]])).tolist() == [[0, 1]]  # a degenerate face keeps its real edge


def test_frame_scale_is_the_original_normalisation(ball):
    v, _ = ball
    _, s = normalization(torch.as_tensor(v))
    assert frame_scale(v) == pytest.approx(float(s))


def test_rigid_motion_keeps_edges_and_scaling_changes_them_exactly(ball):
    v, f = ball
    rigid = np.stack([v @ _rotation_y(a).T + [a, 0.5 * a, 0] for a in np.linspace(0, 2, 6)])
    assert edge_length_change(rigid, f) < 1e-12
    scaled = np.stack([v] + [1.1 * v] * 5)
    assert edge_length_change(scaled, f) == pytest.approx(0.1)


def test_edge_length_change_matches_a_loop(ball):
    v, f = ball
    rng = np.random.default_rng(0)
    frames = v[None] + 0.05 * rng.standard_normal((5, *v.shape))
    ref, count = 0.0, 0
    for i, j in mesh_edges(f):
        l0 = np.linalg.norm(frames[0, i] - frames[0, j])
        for t in range(1, 5):
            ref += abs(np.linalg.norm(frames[t, i] - frames[t, j]) - l0) / l0
            count += 1
    assert edge_length_change(frames, f) == pytest.approx(ref / count)


def test_edge_length_change_leaves_out_edges_between_coincident_vertices(ball):
    # a seam: vertex 0 duplicated 1e-10 of the size away, joined to it by an edge of the extra face
    v, f = ball
    s = frame_scale(v)
    seam = np.concatenate([v, v[:1] + [1e-10 * s, 0, 0]])
    faces = np.concatenate([f, [[0, len(v), f[f[:, 0] == 0][0, 1]]]])
    rng = np.random.default_rng(2)
    frames = seam[None] + 0.01 * s * rng.standard_normal((4, *seam.shape))
    frames[0] = seam
    tiny = np.linalg.norm(frames[1:, 0] - frames[1:, len(v)], axis=-1) / (1e-10 * s)
    assert tiny.min() > 1e5  # were that edge kept, it alone would put the mean in the hundreds
    # the same as the mesh without the seam's edge (the extra face's third edge as a degenerate face)
    ref = edge_length_change(frames, np.concatenate([f, faces[-1:, [1, 2, 2]]]))
    assert edge_length_change(frames, faces) == pytest.approx(ref)
    assert ref < 1.0


def test_second_difference_and_motion_amount(ball):
    v, f = ball
    s = frame_scale(v)
    T = 6
    steady = np.stack([v + t * np.array([0.3, 0.0, 0.0]) for t in range(T)])  # constant velocity
    assert second_difference(steady) < 1e-12
    # mean displacement: 0.3 * t over t = 0..T-1, in units of s
    assert motion_amount(steady) == pytest.approx(0.3 * np.mean(np.arange(T)) / s)
    rng = np.random.default_rng(1)
    frames = v[None] + 0.1 * rng.standard_normal((T, *v.shape))
    ref = np.mean([np.linalg.norm(frames[t + 1, i] - 2 * frames[t, i] + frames[t - 1, i])
                   for t in range(1, T - 1) for i in range(len(v))]) / frame_scale(frames[0])
    assert second_difference(frames) == pytest.approx(ref)
    # scale-free: the same motion twice as large in a twice as large mesh scores the same
    m = motion_metrics(frames, f)
    m2 = motion_metrics(2 * frames, f)
    assert m2 == pytest.approx(m)
    assert second_difference(frames[:2]) == 0.0 and edge_length_change(frames[:1], f) == 0.0


def test_per_vertex_error_and_per_graph_mean():
    recon = torch.zeros(5, 4, 3)
    target = torch.zeros(5, 4, 3)
    target[:, :, 0] = torch.arange(5.0)[:, None]  # vertex i is i away in every frame
    err = per_vertex_error(recon, target)
    assert torch.allclose(err, torch.arange(5.0))
    batch = torch.tensor([0, 0, 1, 1, 1])
    assert torch.allclose(per_graph_mean(err, batch, 3), torch.tensor([0.5, 3.0, 0.0]))


def test_summarize():
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s["mean"] == 2.5 and s["p90"] == pytest.approx(np.percentile([1, 2, 3, 4], 90)) and s["max"] == 4.0
    assert np.isnan(summarize([])["mean"])
