"""Proxy animation of huge meshes (meshflow.data.proxy and its pipeline hook, `--proxy`, `--solver`)."""
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from trimesh.visual.material import PBRMaterial

from meshflow.commands.main import main
from meshflow.data.graph import file_graph, mesh_graph
from meshflow.data.proxy import (ProxyBinding, ProxyConfig, bind, check_proxy, closest_points, decimate, make_proxy,
                                 proxy_size)
from meshflow.data.shapes import icosphere
from meshflow.errors import MeshflowError
from meshflow.io.mesh import MeshFile, MeshPart
from meshflow.pipeline import AnimationPipeline
from tests.test_pipeline import make_model_dir


def torus(rows: int, cols: int, name: str = "torus") -> MeshFile:
    """A bumpy torus with UVs: (rows + 1) x (cols + 1) file vertices, split at both UV seams."""
    u, v = np.meshgrid(np.linspace(0, 1, rows + 1), np.linspace(0, 1, cols + 1), indexing="ij")
    a, b = 2 * np.pi * u, 2 * np.pi * v
    r = 0.35 + 0.03 * np.sin(5 * a) * np.cos(3 * b)
    xyz = np.stack([(1 + r * np.cos(b)) * np.cos(a), r * np.sin(b), (1 + r * np.cos(b)) * np.sin(a)], -1)
    xyz[-1], xyz[:, -1] = xyz[0], xyz[:, 0]  # the seams: equal positions, other UVs
    idx = np.arange((rows + 1) * (cols + 1)).reshape(rows + 1, cols + 1)
    q = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], -1).reshape(-1, 4)
    faces = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    uv = np.stack([u, v], -1).reshape(-1, 2)
    mesh = trimesh.Trimesh(xyz.reshape(-1, 3), faces, process=False,
                           visual=trimesh.visual.TextureVisuals(uv=uv, material=PBRMaterial(baseColorFactor=[200, 80, 40, 255])))
    return MeshFile(path=Path(f"{name}.glb"), vertices=np.asarray(mesh.vertices, dtype=np.float32), faces=faces,
                    parts=[MeshPart(name=name, mesh=mesh, start=0)])


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return AnimationPipeline.from_pretrained(make_model_dir(tmp_path_factory.mktemp("model") / "tiny"), device="cpu")


def rotation(angle, axis):
    return torch.tensor(trimesh.transformations.rotation_matrix(angle, axis)[:3, :3], dtype=torch.float32)


# ---------------------------------------------------------------- helpers ---
def test_decimate_bounds_the_vertex_count():
    f = torus(60, 40)
    g = file_graph(f)
    v, faces = decimate(g.pos.numpy(), g.face.t().numpy(), 500)
    assert 400 <= len(v) <= 500 and faces.min() == 0 and faces.max() == len(v) - 1
    assert len(np.unique(faces)) == len(v)  # every vertex referenced
    with pytest.raises(MeshflowError, match=r"Expected a mesh with faces for a proxy \(got a point cloud\)"):
        decimate(g.pos.numpy(), np.zeros((0, 3)), 100)


def _closest_reference(p, a, b, c):
    """The closest point of one triangle by brute force: the plane projection when inside, else the best edge point."""
    n = np.cross(b - a, c - a)
    proj = p - np.dot(p - a, n) / np.dot(n, n) * n
    m = np.stack([b - a, c - a], 1)
    s, t = np.linalg.lstsq(m, proj - a, rcond=None)[0]
    options = [proj] if s >= 0 and t >= 0 and s + t <= 1 else []
    for x, y in ((a, b), (b, c), (c, a)):
        w = np.clip(np.dot(p - x, y - x) / np.dot(y - x, y - x), 0, 1)
        options.append(x + w * (y - x))
    return min(options, key=lambda q: np.linalg.norm(p - q))


def _unit(x):
    return x / np.linalg.norm(x)


def _normals_reference(pos, faces):
    """Area-weighted vertex normals, one face at a time."""
    normals = np.zeros_like(pos)
    for tri in faces:
        area = np.cross(pos[tri[1]] - pos[tri[0]], pos[tri[2]] - pos[tri[0]])
        for i in tri:
            normals[i] += area
    return normals


def _frame_reference(pos, faces, normals, f, w, frame):
    """(q, rows e1 e2 n) at barycentric w on face f, one point at a time."""
    corner = pos[faces[f]]
    q = w @ corner
    if frame == "face":
        n = _unit(np.cross(corner[1] - corner[0], corner[2] - corner[0]))
    else:
        n = _unit(sum(w[i] * _unit(normals[faces[f][i]]) for i in range(3)))
    e1 = corner[1] - corner[0]
    e1 = _unit(e1 - np.dot(e1, n) * n)
    return q, np.stack([e1, np.cross(n, e1), n])


@pytest.mark.parametrize("frame", ["vertex", "face"])
def test_transfer_matches_a_per_vertex_loop(frame):
    """Closest points, barycentric coordinates, offsets and the carried motion against a plain loop over vertices."""
    full = torus(16, 10)
    g = file_graph(full)
    pv, pf = decimate(g.pos.numpy(), g.face.t().numpy(), 60)
    points = g.pos.numpy().astype(np.float64)
    face, bary, offset = bind(points, pv, pf, frame=frame)
    pv64 = pv.astype(np.float64)
    gen = np.random.default_rng(0)
    moved = [pv64 + 0.05 * np.sin(3 * pv64[:, [1, 2, 0]] + k) + gen.normal(0, 0.01, pv64.shape) for k in range(3)]
    binding = ProxyBinding(graph=mesh_graph(pv, pf, normalize=False), face=face, bary=bary, offset=offset,
                           frame=frame, chunk=100)
    out = binding.transfer(torch.from_numpy(np.stack(moved, 1)).float()).numpy()  # (N, 3, 3)
    rest_normals, normals = _normals_reference(pv64, pf), [_normals_reference(m, pf) for m in moved]
    for i, p in enumerate(points):
        near = [_closest_reference(p, *pv64[tri]) for tri in pf]
        dist = np.array([np.linalg.norm(p - q) for q in near])
        f = int(face[i]) if dist[int(face[i])] <= dist.min() + 1e-6 else int(dist.argmin())  # ties: either face
        assert f == int(face[i]), f"vertex {i}: face {int(face[i])} at {dist[int(face[i])]:.6f}, best {dist.min():.6f}"
        corner = pv64[pf[f]]
        w = np.linalg.lstsq(np.stack([corner[1] - corner[0], corner[2] - corner[0]], 1), near[f] - corner[0],
                            rcond=None)[0]
        w = np.array([1 - w.sum(), w[0], w[1]])
        np.testing.assert_allclose(bary[i].numpy(), w, atol=2e-4)
        q, fr = _frame_reference(pv64, pf, rest_normals, f, w, frame)
        c = fr @ (p - q)
        np.testing.assert_allclose(offset[i].numpy(), c, atol=2e-5)
        for t, pos in enumerate(moved):
            q, fr = _frame_reference(pos, pf, normals[t], f, w, frame)
            np.testing.assert_allclose(out[i, t], q + c @ fr, atol=2e-4)


def test_closest_points_on_a_sphere_proxy():
    """Points of a fine sphere land on the coarse inscribed one at the brute-force distance."""
    fine, coarse = icosphere(2), icosphere(1)
    face, bary = closest_points(fine[0], *coarse)
    q = np.einsum("mi,mid->md", bary.numpy(), coarse[0][coarse[1][face.numpy()]])
    got = np.linalg.norm(fine[0] - q, axis=1)
    best = np.array([min(np.linalg.norm(p - _closest_reference(p, *coarse[0][t])) for t in coarse[1]) for p in fine[0]])
    np.testing.assert_allclose(got, best, atol=1e-5)
    assert (bary >= -1e-6).all() and torch.allclose(bary.sum(1), torch.ones(len(bary)))


@pytest.mark.parametrize("frame", ["vertex", "face"])
def test_rigid_motion_carries_over_exactly(frame):
    g = file_graph(torus(80, 50))
    binding = make_proxy(g, 600, ProxyConfig(frame=frame))
    assert binding.graph.num_nodes <= 600 and binding.num_nodes == g.num_nodes
    P = binding.graph.pos
    moves = [(rotation(0.0, [0, 1, 0]), torch.zeros(3)), (rotation(0.8, [1, 2, 3]), torch.tensor([0.3, -0.2, 0.5])),
             (rotation(-2.5, [0, 0, 1]), torch.tensor([0.0, 1.0, 0.0]))]
    traj = torch.stack([P @ R.T + s for R, s in moves], 1)
    out = binding.transfer(traj)
    ref = torch.stack([g.pos @ R.T + s for R, s in moves], 1)
    assert (out - ref).abs().max() < 2e-5


def test_proxy_policy_and_checks():
    cfg = ProxyConfig()
    assert proxy_size(None, cfg.above, "m") is None and proxy_size(None, cfg.above + 1, "m") == cfg.vertices
    assert proxy_size(0, 10 ** 6, "m") is None and proxy_size(300, 1000, "m") == 300
    with pytest.raises(MeshflowError, match=r"^m.obj: Expected 'proxy' to be fewer than the welded vertex count 1000 "
                                            r"\(got 1000\)$"):
        proxy_size(1000, 1000, "m.obj")
    for bad in (1, 255, -3, 2.5, True, "300"):
        with pytest.raises(MeshflowError, match=r"^Expected 'proxy' to be 0 \(off\) or an integer of at least 256 "):
            check_proxy(bad)
        with pytest.raises(MeshflowError, match=r"Expected 'proxy' to be 0 \(off\)"):
            AnimationPipeline.check_inputs("a.obj", "x", proxy=bad)
    check_proxy(None), check_proxy(0), check_proxy(256)


# ---------------------------------------------------------------- pipeline ---
def _animate_torus(pipe, rows, cols, tmp_path, **kwargs):
    f = torus(rows, cols)
    anim = pipe(f, "a ring wobbles", seed=0, steps=3, **kwargs)
    T, N, _ = anim.vertices.shape
    assert N == len(f.vertices) and np.isfinite(anim.vertices).all()
    assert np.abs(anim.vertices - anim.vertices[:1]).max() > 1e-4  # it moves
    # no tearing: file vertices at one rest position (the UV seams) share every frame
    g = file_graph(f, normalize=False)
    src = g.source_index.numpy()
    assert len(src) > g.num_nodes
    first = np.unique(src, return_index=True)[1]
    np.testing.assert_array_equal(anim.vertices, anim.vertices[:, first[src]])
    # neighbours stay neighbours: no edge of the full mesh stretches far beyond what the proxy's motion does
    e = np.concatenate([f.faces[:, [0, 1]], f.faces[:, [1, 2]]])
    rest = np.linalg.norm(f.vertices[e[:, 0]] - f.vertices[e[:, 1]], axis=-1)
    now = np.linalg.norm(anim.vertices[:, e[:, 0]] - anim.vertices[:, e[:, 1]], axis=-1)
    keep = rest > 0
    assert np.median(now[:, keep] / rest[keep]) < 1.5
    return f, anim


def test_huge_mesh_through_the_default_proxy(pipe, tmp_path):
    """200k welded vertices: the default proxy applies, every vertex and UV is kept, seams do not tear."""
    f, anim = _animate_torus(pipe, 500, 400, tmp_path)
    assert any(f"proxy of {ProxyConfig.vertices:,} of the 200,000 welded" in n for n in anim.notes), anim.notes
    assert anim.tokens == pipe.vae.num_tokens(ProxyConfig.vertices)
    out = anim.save(tmp_path / "ring.glb")
    back = trimesh.load(out, force="mesh", process=False)
    assert len(back.vertices) == len(f.vertices)
    np.testing.assert_allclose(back.visual.uv, f.parts[0].mesh.visual.uv, atol=1e-6)


def test_explicit_proxy_and_off(pipe, tmp_path):
    f, anim = _animate_torus(pipe, 100, 60, tmp_path, proxy=400)  # 6,000 welded vertices: no default proxy
    assert any("proxy of" in n and "of the 6,000 welded" in n for n in anim.notes)
    assert anim.tokens == pipe.vae.num_tokens(400)
    direct = pipe(f, "a ring wobbles", seed=0, steps=3)
    assert not any("proxy" in n for n in direct.notes) and direct.tokens == pipe.vae.num_tokens(6000)
    with pytest.raises(MeshflowError, match=r"^torus.glb: Expected 'proxy' to be fewer than the welded vertex "
                                            r"count 6000 \(got 6000\)$"):
        pipe(f, "x", steps=2, proxy=6000)
    cloud = MeshFile(path=Path("cloud.ply"), vertices=f.vertices, faces=np.zeros((0, 3), dtype=np.int64),
                     parts=[MeshPart(name="cloud", mesh=trimesh.PointCloud(f.vertices), start=0)])
    with pytest.raises(MeshflowError, match=r"^cloud.ply: Expected a mesh with faces for 'proxy' \(got a point cloud\)$"):
        pipe(cloud, "x", steps=2, proxy=300)


# --------------------------------------------------------------- bad input ---
@pytest.mark.parametrize("argv, pattern", [
    (["--proxy", "10"], r"Expected 'proxy' to be 0 \(off\) or an integer of at least 256 \(got 10\)"),
    (["--proxy", "5000"], r"ball.obj: Expected 'proxy' to be fewer than the welded vertex count 642 \(got 5000\)"),
    (["--solver", "rk5"], r"Expected 'solver' to be one of midpoint, euler, heun, rk4 \(got 'rk5'\)"),
])
def test_cli_bad_proxy_and_solver(argv, pattern, pipe, tmp_path, capsys):
    ball = tmp_path / "ball.obj"
    trimesh.creation.icosphere(3).export(ball)  # 642 vertices
    out = tmp_path / "out"
    out.mkdir()
    rc = main(["animate", str(ball), "-p", "x", "-o", str(out / "x.glb"), "--model", str(pipe.model_dir),
               "--steps", "2", "-q", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("meshflow animate: error: "), err
    assert re.search(pattern, err[0]), err
    assert os.listdir(out) == []


@pytest.mark.parametrize("solver", ["heun", "rk4"])
def test_cli_solver_is_used(solver, pipe, tmp_path, capsys):
    ball = tmp_path / "ball.obj"
    trimesh.creation.icosphere(2).export(ball)
    rc = main(["animate", str(ball), "-p", "x", "-o", str(tmp_path / "x.npz"), "--model", str(pipe.model_dir),
               "--steps", "3", "-q", "--seed", "0", "--solver", solver])
    assert rc == 0 and f"3 steps, guidance 3, {solver}, seed 0" in capsys.readouterr().out
