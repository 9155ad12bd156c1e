"""Region control (meshflow.region): selection, falloff against a simple reference, inpainting, the blend, errors."""
import heapq
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from scipy.sparse.csgraph import connected_components, dijkstra

from meshflow.commands.main import main
from meshflow.data.graph import file_graph
from meshflow.data.shapes import grid
from meshflow.errors import MeshflowError
from meshflow.flow import sample
from meshflow.io import read_mesh
from meshflow.io.mesh import MeshFile, MeshPart
from meshflow.rig.solvers import kabsch
from meshflow.region import (HoldStill, animate_region, falloff_graph, falloff_weights, make_region,
                             read_vertex_indices, region_metrics, select_region)
from tests.commands.test_animate import MESH


def plane(n=9):
    v, f = grid(n, n)
    v = np.asarray(v, dtype=np.float32)
    mesh = trimesh.Trimesh(v, f, process=False)
    return MeshFile(path=Path("plane.obj"), vertices=v, faces=np.asarray(f, dtype=np.int64),
                    parts=[MeshPart(name="plane", mesh=mesh, start=0)])


def reference_distance(pos, faces, sources):
    """Shortest paths along the triangle edges by a plain queue (Dijkstra with a heap)."""
    nbrs = {i: set() for i in range(len(pos))}
    for a, b, c in faces:
        for i, j in ((a, b), (b, c), (c, a)):
            nbrs[i].add(j)
            nbrs[j].add(i)
    dist = np.full(len(pos), np.inf)
    queue = [(0.0, int(s)) for s in sources]
    for _, s in queue:
        dist[s] = 0.0
    while queue:
        d, i = heapq.heappop(queue)
        if d > dist[i]:
            continue
        for j in nbrs[i]:
            nd = d + float(np.linalg.norm(pos[i] - pos[j]))
            if nd < dist[j]:
                dist[j] = nd
                heapq.heappush(queue, (nd, j))
    return dist


# ---------------------------------------------------------------- falloff ---
def test_falloff_weights_match_a_simple_reference():
    mesh = plane()
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    box = np.concatenate([lo - 1, lo + (hi - lo) * [0.2, 0.2, 1]])
    region = make_region(",".join(f"{x:g}" for x in box), mesh, falloff=0.5)
    graph = file_graph(mesh, normalize=False)
    pos = graph.pos.numpy().astype(np.float64)
    inside = ((pos >= box[:3]) & (pos <= box[3:])).all(axis=1)
    np.testing.assert_array_equal(region.inside, inside)
    dist = reference_distance(pos, graph.face.numpy().T, np.flatnonzero(inside))
    width = 0.5 * np.ptp(pos, axis=0).max()
    near = dist <= width
    np.testing.assert_allclose(region.distance[near], dist[near], rtol=1e-6, atol=1e-6)
    x = np.clip(1 - dist / width, 0, 1)
    np.testing.assert_allclose(region.weights, x * x * (3 - 2 * x), atol=1e-6)
    assert region.weights[inside].min() == 1 and (region.weights[~near] == 0).all()
    band = (dist < width - 1e-6) & ~inside
    assert 0 < region.weights[band].min() < region.weights[band].max() < 1
    np.testing.assert_array_equal(falloff_weights(np.array([0.0, 0.5, 2.0]), 0.0), [1, 0, 0])


def test_falloff_graph_joins_touching_parts():
    v, f = grid(4, 4)
    v = np.asarray(v, dtype=np.float64)
    pos = np.concatenate([v, v + [np.ptp(v[:, 0]) + 0.01, 0, 0], v + [0, 0, 50]])  # touching, and far away
    faces = np.concatenate([f, f + len(v), f + 2 * len(v)])
    edges = trimesh.Trimesh(pos, faces, process=False).edges_unique.T
    g = falloff_graph(pos, np.concatenate([edges, edges[::-1]], axis=1))
    assert connected_components(g, directed=False)[0] == 1
    d = dijkstra(g, indices=0)
    assert d[2 * len(v) - 1] < 2.5 * np.ptp(v[:, 0]) + 0.05 and np.isfinite(d).all()


# -------------------------------------------------------------- selection ---
def test_select_region_by_name_box_and_file(tmp_path):
    mesh = read_mesh(MESH)
    tail = [k for k, p in enumerate(mesh.parts) if p.name == "tail"][0]
    np.testing.assert_array_equal(select_region("tail", mesh), mesh.part_index == tail)
    assert mesh.parts[tail].names == ("tail", "tail")
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    box = select_region(f"{lo[0] - 1},{lo[1] - 1},{lo[2] - 1},{(lo[0] + hi[0]) / 2},{hi[1] + 1},{hi[2] + 1}", mesh)
    np.testing.assert_array_equal(box, mesh.vertices[:, 0] <= (lo[0] + hi[0]) / 2)
    index = tmp_path / "idx.txt"
    index.write_text("# the first three\n0, 1\n2\n")
    assert np.flatnonzero(select_region(str(index), mesh)).tolist() == [0, 1, 2]


@pytest.mark.parametrize("spec, content, pattern", [
    ("wing", None, r"--region 'wing': Expected a name in .*quadruped.glb, a file of vertex indices or a box "
                   r"x0,y0,z0,x1,y1,z1 \(names: body, ear_l, ear_r, head, .*tail\)"),
    ("50,50,50,60,60,60", None, r"--region '50,50,50,60,60,60': Expected a box holding vertices of .*got none inside"),
    ("FILE", "0 1\n# c\n2 x\n", r"--region .*idx.txt: line 3: Expected a vertex index \(got 'x'\)"),
    ("FILE", "0 99999\n", r"line 1: Expected a vertex index in \[0, 1006\) \(got 99999\)"),
    ("FILE", "# nothing\n", r"Expected at least one vertex index in the file \(got none\)"),
])
def test_bad_regions(tmp_path, spec, content, pattern):
    if content is not None:
        spec = str(tmp_path / "idx.txt")
        Path(spec).write_text(content)
    with pytest.raises(MeshflowError, match=pattern):
        select_region(spec, read_mesh(MESH))
    with pytest.raises(MeshflowError, match=r"Expected 'falloff' to be at least 0 \(got -1\)"):
        make_region("tail", MESH, falloff=-1)
    with pytest.raises(MeshflowError, match="region method"):
        make_region("tail", MESH, method="paint")
    if content == "# nothing\n":
        assert read_vertex_indices(spec, 10).size == 0


# --------------------------------------------------------------- sampling ---
def test_hold_still_ends_at_the_still_latent():
    torch.manual_seed(0)
    B, K, L = 2, 6, 4
    lin = torch.nn.Linear(2 * L, 2 * L)

    def model(x, t, text, mask, cond):
        return lin(x) + t.view(-1, 1, 1) + cond.view(-1, 1, 1).float()

    f0, still = torch.randn(B, K, L), torch.randn(B, K, L)
    weights = torch.tensor([[0, 0, 1, 1, 0.5, 0]] * B, dtype=torch.float32)
    noise = torch.randn(B, K, 2 * L)
    text = torch.zeros(B, 3, 5)
    for solver in ("midpoint", "euler"):
        free = sample(model, f0, text, steps=5, guidance=3.0, solver=solver, noise=noise)
        held = sample(HoldStill(model, weights, still), f0, text, steps=5, guidance=3.0, solver=solver, noise=noise)
        out = weights == 0
        torch.testing.assert_close(held[..., L:][out], still[out], atol=1e-5, rtol=1e-5)
        assert not torch.allclose(free[..., L:][out], still[out], atol=1e-2)
        ones = sample(HoldStill(model, torch.ones(B, K), still), f0, text, steps=5, solver=solver, noise=noise)
        torch.testing.assert_close(ones, sample(model, f0, text, steps=5, solver=solver, noise=noise))


def test_kabsch_and_anchored_blend():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(20, 3))
    c, s = np.cos(0.4), np.sin(0.4)
    R = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    q = p @ R.T + [1, 2, 3]
    R2, t2 = kabsch(p, q, np.ones(20))  # the fit the anchored blend uses
    np.testing.assert_allclose(R2, R, atol=1e-9)
    np.testing.assert_allclose(t2, [1, 2, 3], atol=1e-9)
    # A rigid motion of the whole mesh: anchored to the band, the region does not move; unanchored it does.
    mesh = read_mesh(MESH)
    frames = np.stack([mesh.vertices @ np.linalg.matrix_power(R, k).T + [0.1 * k, 0, 0] for k in range(4)])
    before = frames.copy()
    anchored = make_region("head", mesh).blend(frames, mesh.vertices)
    loose = make_region("head", mesh, anchor=False).blend(frames, mesh.vertices)
    inside = make_region("head", mesh).file_weights == 1
    np.testing.assert_array_equal(frames, before)
    assert np.abs(loose - mesh.vertices)[:, inside].max() > 0.3
    assert np.abs(anchored - mesh.vertices).max() < 1e-4


# ------------------------------------------------------------ the pipeline ---
@pytest.mark.parametrize("method", ["blend", "both"])
def test_outside_vertices_do_not_move(pipe, method):
    mesh = read_mesh(MESH)
    region = make_region("head", mesh, falloff=0.1, method=method)
    anim = animate_region(pipe, mesh, "it nods", region, steps=3, seed=0)
    assert anim.vertices.shape == (pipe.frames, len(mesh.vertices), 3)
    outside = region.file_weights == 0
    still = np.broadcast_to(mesh.vertices[outside], (8, outside.sum(), 3))
    np.testing.assert_allclose(anim.vertices[:, outside], still, atol=1e-5)
    head = region.file_weights == 1
    assert np.abs(anim.vertices[:, head] - mesh.vertices[head]).max() > 1e-3  # the region still moves
    m = region_metrics(anim.vertices, anim.faces, region)
    assert m.outside_motion < 1e-5 and m.region_motion > 0
    assert any(n.startswith("region 'head'") for n in anim.notes)


def test_the_pipeline_hook_holds_tokens_at_the_no_motion_latent(pipe):
    """Every token held (w = 0): the sampled latents are the encoding of the mesh standing still, so the
    result is what the VAE decodes from those; the hook gets each token's vertex row in its mesh."""
    mesh = read_mesh(MESH)
    seen = {}

    def hold(velocity, token_index, still):
        seen.update(rows=token_index, still=still)
        return HoldStill(velocity, torch.zeros(token_index.shape), still)

    held = pipe([mesh, mesh], "it nods", steps=3, seed=0, hold=hold)[1]
    data = file_graph(mesh)
    latents, posterior = pipe.vae.encode(data, sample_posterior=False)
    expected = pipe.vae.decode(latents, data, token_index=posterior.token_index)  # (N, T, 3)
    expected = (expected * data.scale + data.center.view(1, 1, 3))[data.source_index].permute(1, 0, 2)
    np.testing.assert_allclose(held.vertices, expected.detach().numpy(), atol=1e-4)
    assert seen["rows"].shape == (2, latents.shape[1]) and int(seen["rows"].min()) >= 0
    torch.testing.assert_close(seen["rows"][1], posterior.token_index[0])  # rows of its own mesh, not the batch


def test_region_cli(model_dir, tmp_path, capsys):
    out = tmp_path / "head.npz"
    rc = main(["animate", str(MESH), "--prompt", "it nods", "--region", "head", "--falloff", "0.2", "-o", str(out),
               "--model", str(model_dir), "--steps", "2", "--seed", "0", "-q"])
    assert rc == 0 and out.is_file()
    assert "note: region 'head': 162 of 1006 welded vertices move" in capsys.readouterr().out


@pytest.mark.parametrize("argv, pattern", [
    (["--region", "wing"], r"--region 'wing': Expected a name in .* \(names: body, ear_l, ear_r, head, "),
    (["--region", "9,9,9,10,10,10"], r"Expected a box holding vertices of .*got none inside"),
    (["--falloff", "0.2"], r"--falloff: Expected --region with it \(got --falloff alone\)"),
    (["--region", "head", "--falloff", "-1"], r"Expected 'falloff' to be at least 0 \(got -1.0\)"),
])
def test_bad_region_input_fails_cleanly(model_dir, tmp_path, capsys, argv, pattern):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc = main(["animate", str(MESH), "--prompt", "it nods", *argv, "-o", str(out_dir / "x.glb"),
               "--model", str(model_dir), "--steps", "2", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("meshflow animate: error: "), err
    assert re.search(pattern, err[0]), err
    assert os.listdir(out_dir) == []
