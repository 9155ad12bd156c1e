r"""Proxy animation for huge meshes: animate a decimated copy, carry its motion to every vertex.

The sampler's cost grows with the token count and the VAE's with the vertex count;
a mesh of a million vertices is animated through a *proxy* of at most
:attr:`ProxyConfig.vertices` vertices instead, so the model's cost stops growing
with the mesh:

1. :func:`decimate` simplifies the **welded** graph (quadric edge collapse,
   ``fast_simplification``): UV seams are not the proxy's concern, since the
   welded graph has none.
2. :func:`bind` finds for every full vertex :math:`x` its closest point on the
   proxy surface, on triangle :math:`(p_0, p_1, p_2)` with barycentric
   coordinates :math:`b`, and the offset :math:`d = x - \sum_i b_i p_i` in a
   frame :math:`(e_1, e_2, n)` there (:func:`surface_frames`):

   .. math::
       x = \sum_i b_i\, p_i + c_1 e_1 + c_2 e_2 + c_3 n, \qquad c = (d \cdot e_1,\ d \cdot e_2,\ d \cdot n).

3. :meth:`ProxyBinding.transfer` evaluates the same sum on every frame of the
   proxy's trajectories, so the full mesh keeps every vertex (and the file's
   UVs and materials, which map to the welded vertices as before).

The frame's normal is the barycentric blend of the proxy's area-weighted vertex
normals (``frame="vertex"``, continuous across proxy edges) or the face normal
(``frame="face"``); :math:`e_1` is the triangle's first edge made orthogonal to
:math:`n`, :math:`e_2 = n \times e_1`. Both frames turn with the proxy, so a rigid
motion of the proxy carries over to the full mesh exactly.

Everything is vectorised and memory-linear: closest points are searched in
chunks of :attr:`ProxyConfig.chunk` vertices among the nearest triangle
centroids (a :class:`scipy.spatial.cKDTree`); trajectories are carried over
in chunks too.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import fast_simplification
import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor
from torch_geometric.data import Data

from ..errors import MeshflowError
from .graph import mesh_graph

FRAMES = ("vertex", "face")


@dataclass(frozen=True)
class ProxyConfig:
    """The proxy policy of :meth:`~meshflow.pipeline.AnimationPipeline.__call__`: the one place for its defaults."""

    vertices: int = 4096  # proxy size when the default applies: K = 512 tokens; the bundled flow trained on <= 4,000
    above: int = 20_000  # welded vertex count above which a mesh is animated through a proxy by default
    minimum: int = 256  # smallest proxy asked for: fewer vertices lose the shape of any but the simplest mesh
    frame: str = "vertex"  # offset frame: blended vertex normals, continuous across proxy edges (scripts/bench_proxy.py)
    chunk: int = 65_536  # full vertices per closest-point query and transfer chunk: bounded memory


def check_proxy(proxy) -> None:
    """``proxy`` is ``None`` (the default policy), 0 (off) or an integer of at least :attr:`ProxyConfig.minimum`;
    raises MeshflowError if not."""
    minimum = ProxyConfig.minimum
    if proxy is None:
        return
    if isinstance(proxy, bool) or not isinstance(proxy, (int, np.integer)) or (proxy != 0 and proxy < minimum):
        raise MeshflowError(f"Expected 'proxy' to be 0 (off) or an integer of at least {minimum} (got {proxy!r})")


def proxy_size(proxy: Optional[int], num_nodes: int, name: str = "mesh",
               config: ProxyConfig = ProxyConfig()) -> Optional[int]:
    """The proxy vertex count for a mesh of ``num_nodes`` welded vertices, or ``None`` to animate it directly.

    ``proxy`` ``None`` is the default policy (:attr:`~ProxyConfig.vertices` above
    :attr:`~ProxyConfig.above` welded vertices), 0 is off, N a proxy of at most N vertices.

    Raises:
        MeshflowError: a proxy of at least the welded vertex count (naming the mesh).
    """
    if proxy is None:
        return config.vertices if num_nodes > config.above else None
    if proxy == 0:
        return None
    check_proxy(proxy)
    if proxy >= num_nodes:
        raise MeshflowError(f"{name}: Expected 'proxy' to be fewer than the welded vertex count {num_nodes} "
                            f"(got {proxy})")
    return int(proxy)


# ------------------------------------------------------------ decimation ---
def decimate(vertices: np.ndarray, faces: np.ndarray, max_vertices: int, tries: int = 4
             ) -> Tuple[np.ndarray, np.ndarray]:
    r"""Quadric decimation (``fast_simplification``) to at most ``max_vertices`` referenced vertices.

    The target triangle count starts at :math:`F \cdot n_{\max} / N` and shrinks by
    the overshoot until the result fits; unreferenced vertices are dropped.

    Shapes:
        - **input:** vertices (N, 3), faces (F, 3)
        - **output:** vertices (N', 3) float32 with N' <= max_vertices, faces (F', 3) int64
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float32)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if len(faces) == 0:
        raise MeshflowError("Expected a mesh with faces for a proxy (got a point cloud)")
    target = max(4, int(len(faces) * max_vertices / len(vertices)))
    for _ in range(tries):
        v, f = fast_simplification.simplify(vertices, faces, target_count=min(target, len(faces) - 1))
        used = np.unique(f)
        if len(used) <= max_vertices:
            remap = np.full(len(v), -1, dtype=np.int64)
            remap[used] = np.arange(len(used))
            return np.asarray(v[used], dtype=np.float32), remap[f]
        target = max(4, int(target * max_vertices / len(used) * 0.98))
    raise MeshflowError(f"could not decimate {len(vertices)} vertices to at most {max_vertices} "
                        f"(got {len(used)} after {tries} tries)")


# --------------------------------------------------------- closest points ---
def closest_on_triangles(p: Tensor, a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    r"""Barycentric coordinates of the closest point to ``p`` on each triangle ``(a, b, c)``.

    Ericson's region test (*Real-Time Collision Detection*, 5.1.5), vectorised:
    vertex, edge and face regions in that order, the first that holds wins
    (applied last to first with :func:`torch.where`). A degenerate triangle
    answers one of its vertex or edge regions.

    Shapes:
        - **input:** p, a, b, c (..., 3)
        - **output:** (..., 3) barycentric coordinates, non-negative, summing to 1
    """
    ab, ac, ap, bp, cp = b - a, c - a, p - a, p - b, p - c
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2

    def ratio(num, den):
        return num / torch.where(den == 0, torch.ones_like(den), den)

    denom = va + vb + vc
    v, w = ratio(vb, denom), ratio(vc, denom)  # inside the face
    zero, one = torch.zeros_like(d1), torch.ones_like(d1)
    t_bc, t_ac, t_ab = ratio(d4 - d3, (d4 - d3) + (d5 - d6)), ratio(d2, d2 - d6), ratio(d1, d1 - d3)
    regions = [  # last to first: the first region that holds is applied last
        ((va <= 0) & (d4 >= d3) & (d5 >= d6), 1 - t_bc, t_bc),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), zero, t_ac),
        ((d6 >= 0) & (d5 <= d6), zero, one),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), t_ab, zero),
        ((d3 >= 0) & (d4 <= d3), one, zero),
        ((d1 <= 0) & (d2 <= 0), zero, zero),
    ]
    for region, v_r, w_r in regions:
        v, w = torch.where(region, v_r, v), torch.where(region, w_r, w)
    return torch.stack([1 - v - w, v, w], dim=-1)


def closest_points(points, vertices, faces, chunk: int = 65_536, k: int = 16) -> Tuple[Tensor, Tensor]:
    r"""The closest point on a triangle mesh to every point: its triangle and barycentric coordinates.

    Candidates are the ``k`` triangles with the nearest centroids
    (:class:`scipy.spatial.cKDTree`); the closest point on each is computed
    (:func:`closest_on_triangles`) and the nearest kept. Where a large triangle's
    centroid is not among the ``k`` nearest, a slightly farther triangle is taken
    (on the subdivided Spot and its proxy with ``k = 16``, 0.4% of the points, at
    most 1% of the mesh's half-extent farther); the binding still reproduces the
    rest pose exactly, since its offset makes up the difference.

    Shapes:
        - **input:** points (M, 3), vertices (V, 3), faces (F, 3)
        - **output:** face (M,) int64, bary (M, 3) float32
    """
    points = torch.as_tensor(np.asarray(points, dtype=np.float32))
    tri = torch.as_tensor(np.asarray(vertices, dtype=np.float32))[torch.as_tensor(np.asarray(faces, dtype=np.int64))]
    tree = cKDTree(tri.mean(dim=1).numpy())
    k = min(k, len(tri))
    face = torch.empty(len(points), dtype=torch.long)
    bary = torch.empty(len(points), 3)
    for lo in range(0, len(points), chunk):
        p = points[lo:lo + chunk]
        cand = torch.from_numpy(tree.query(p.numpy(), k=k, workers=-1)[1].reshape(len(p), k).astype(np.int64))
        t = tri[cand]  # (m, k, 3, 3)
        b = closest_on_triangles(p[:, None], t[..., 0, :], t[..., 1, :], t[..., 2, :])  # (m, k, 3)
        gap = (p[:, None] - torch.einsum("mki,mkid->mkd", b, t)).pow(2).sum(-1)  # (m, k)
        best = gap.argmin(dim=1, keepdim=True)  # (m, 1)
        face[lo:lo + chunk] = cand.gather(1, best).squeeze(1)
        bary[lo:lo + chunk] = b.gather(1, best.unsqueeze(-1).expand(-1, 1, 3)).squeeze(1)
    return face, bary


# ----------------------------------------------------------------- frames ---
def _unit(x: Tensor) -> Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def vertex_normals(pos: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted vertex normals of a mesh, per frame; (V, ..., 3) positions, (F, 3) faces."""
    p0, p1, p2 = pos[faces[:, 0]], pos[faces[:, 1]], pos[faces[:, 2]]
    n = torch.cross(p1 - p0, p2 - p0, dim=-1)  # (F, ..., 3), twice the area
    out = torch.zeros_like(pos)
    for i in range(3):
        out.index_add_(0, faces[:, i], n)
    return _unit(out)


def surface_frames(pos: Tensor, faces: Tensor, face: Tensor, bary: Tensor, normals: Optional[Tensor] = None
                   ) -> Tuple[Tensor, Tensor]:
    r"""The bound points :math:`q = \sum_i b_i p_i` and their frames :math:`(e_1, e_2, n)`.

    ``normals`` (per proxy vertex, :func:`vertex_normals`) give the blended normal
    :math:`n = \mathrm{unit}(\sum_i b_i n_i)`; without them :math:`n` is the face normal.
    :math:`e_1` is :math:`p_1 - p_0` made orthogonal to :math:`n`, :math:`e_2 = n \times e_1`.

    Shapes:
        - **input:** pos (V, ..., 3), faces (F, 3), face (M,), bary (M, 3), normals (V, ..., 3)
        - **output:** q (M, ..., 3), frame (M, ..., 3, 3) with rows e1, e2, n
    """
    corner = faces[face]  # (M, 3)
    p = [pos[corner[:, i]] for i in range(3)]  # 3 x (M, ..., 3)
    w = bary.to(pos.dtype).view(bary.shape[0], *([1] * (pos.dim() - 1)), 3)
    q = p[0] * w[..., 0] + p[1] * w[..., 1] + p[2] * w[..., 2]
    if normals is None:
        n = _unit(torch.cross(p[1] - p[0], p[2] - p[0], dim=-1))
    else:
        n = _unit(sum(normals[corner[:, i]] * w[..., i] for i in range(3)))
    e1 = p[1] - p[0]
    e1 = _unit(e1 - (e1 * n).sum(-1, keepdim=True) * n)
    e2 = torch.cross(n, e1, dim=-1)
    return q, torch.stack([e1, e2, n], dim=-2)


# ---------------------------------------------------------------- binding ---
@dataclass
class ProxyBinding:
    """A proxy graph and where every full welded vertex sits on it (:func:`make_proxy`).

    Attributes:
        graph: the proxy's mesh graph, in the full mesh's normalised coordinates
            (its ``center`` and ``scale`` are the full mesh's).
        face: (N,) proxy triangle of each full vertex's closest point.
        bary: (N, 3) its barycentric coordinates.
        offset: (N, 3) the offset in the frame there (:func:`surface_frames`).
        frame: ``"vertex"`` (blended normals) or ``"face"``.
        num_nodes: N, the full welded vertex count.
    """

    graph: Data
    face: Tensor
    bary: Tensor
    offset: Tensor
    frame: str = "vertex"
    chunk: int = 65_536
    seconds: float = 0.0  # time to decimate and bind

    @property
    def num_nodes(self) -> int:
        return int(self.face.numel())

    @property
    def note(self) -> str:
        """The line the pipeline adds to the animation's notes."""
        return (f"animated a proxy of {self.graph.num_nodes:,} of the {self.num_nodes:,} welded vertices "
                f"(decimated and bound in {self.seconds:.2f} s) and carried its motion to every vertex; "
                f"--proxy N sets its size, 0 animates every vertex (default: {ProxyConfig.vertices:,} "
                f"above {ProxyConfig.above:,} welded vertices)")

    def transfer(self, traj: Tensor) -> Tensor:
        r"""Carries proxy trajectories to every full vertex: :math:`x_t = q_t + c^\top F_t`.

        Shapes:
            - **input:** traj (N_proxy, T, 3) positions
            - **output:** (N, T, 3) positions
        """
        if traj.dim() != 3 or traj.shape[0] != self.graph.num_nodes or traj.shape[-1] != 3:
            raise ValueError(f"Expected 'traj' to have shape ({self.graph.num_nodes}, T, 3) (got {tuple(traj.shape)})")
        out = traj.new_empty(self.num_nodes, traj.shape[1], 3)
        faces = self.graph.face.t().to(traj.device)
        normals = vertex_normals(traj, faces) if self.frame == "vertex" else None
        for lo in range(0, self.num_nodes, self.chunk):
            hi = min(lo + self.chunk, self.num_nodes)
            q, frame = surface_frames(traj, faces, self.face[lo:hi].to(traj.device),
                                      self.bary[lo:hi].to(traj.device), normals)  # (m, T, 3), (m, T, 3, 3)
            c = self.offset[lo:hi].to(traj.device, traj.dtype)  # (m, 3)
            out[lo:hi] = q + torch.einsum("mj,mtjd->mtd", c, frame)
        return out


def bind(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, frame: str = "vertex",
         chunk: int = 65_536) -> Tuple[Tensor, Tensor, Tensor]:
    """Binds points to a triangle mesh: closest triangle, barycentric coordinates and frame offsets.

    Shapes:
        - **input:** points (N, 3), vertices (V, 3), faces (F, 3)
        - **output:** face (N,) int64, bary (N, 3) float32, offset (N, 3) float32
    """
    if frame not in FRAMES:
        raise ValueError(f"Expected 'frame' to be one of {', '.join(FRAMES)} (got {frame!r})")
    face, bary = closest_points(points, vertices, faces, chunk=chunk)
    points = torch.as_tensor(np.asarray(points, dtype=np.float32))
    pos = torch.as_tensor(np.asarray(vertices, dtype=np.float32))
    tri = torch.as_tensor(np.asarray(faces, dtype=np.int64))
    normals = vertex_normals(pos, tri) if frame == "vertex" else None
    offset = torch.empty(len(points), 3)
    for lo in range(0, len(points), chunk):
        q, fr = surface_frames(pos, tri, face[lo:lo + chunk], bary[lo:lo + chunk], normals)  # (m, 3), (m, 3, 3)
        offset[lo:lo + chunk] = torch.einsum("mjd,md->mj", fr, points[lo:lo + chunk] - q)
    return face, bary, offset


def make_proxy(graph: Data, max_vertices: int, config: ProxyConfig = ProxyConfig()) -> ProxyBinding:
    """Decimates a welded, normalised mesh graph to at most ``max_vertices`` and binds its vertices.

    Shapes:
        - **input:** graph with pos (N, 3), face (3, F)
        - **output:** a binding whose graph has at most ``max_vertices`` nodes and N bound vertices
    """
    start = time.perf_counter()
    pos, faces = graph.pos.numpy(), graph.face.t().numpy()
    v, f = decimate(pos, faces, max_vertices)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a face the collapse made degenerate is dropped, as for any input
        proxy = mesh_graph(v, f, weld=True, normalize=False)  # pos in the full mesh's normalised frame
    proxy.center, proxy.scale = graph.center.clone(), graph.scale.clone()
    face, bary, offset = bind(pos, proxy.pos.numpy(), proxy.face.t().numpy(), frame=config.frame, chunk=config.chunk)
    return ProxyBinding(graph=proxy, face=face, bary=bary, offset=offset, frame=config.frame, chunk=config.chunk,
                        seconds=time.perf_counter() - start)


def proxy_bindings(graphs: Sequence[Data], proxy: Optional[int], names: Sequence[str],
                   config: ProxyConfig = ProxyConfig()) -> List[Optional[ProxyBinding]]:
    """Per graph, its :class:`ProxyBinding` under the policy of :func:`proxy_size`, or ``None`` to animate it
    directly. A point cloud is animated directly by default; an explicit proxy for one is an error."""
    out = []
    for graph, name in zip(graphs, names):
        if graph.face.numel() == 0:
            if proxy:
                raise MeshflowError(f"{name}: Expected a mesh with faces for 'proxy' (got a point cloud)")
            out.append(None)
            continue
        n = proxy_size(proxy, graph.num_nodes, name, config)
        out.append(make_proxy(graph, n, config) if n else None)
    return out


__all__ = ["FRAMES", "ProxyBinding", "ProxyConfig", "bind", "check_proxy", "closest_on_triangles", "closest_points",
           "decimate", "make_proxy", "proxy_bindings", "proxy_size", "surface_frames", "vertex_normals"]
