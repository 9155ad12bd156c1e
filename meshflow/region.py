r"""Region control: only a chosen part of the mesh moves, the rest stays where it is.

A region (``--region SPEC``) is a set of mesh vertices, chosen by :func:`select_region`
from a glTF node, mesh or material name, a file of vertex indices, or a box
``x0,y0,z0,x1,y1,z1`` in the mesh's units. Around it a band of width
:math:`f\,e` (``--falloff`` :math:`f` in units of the extent :math:`e`, the largest side of
the bounding box) eases the motion out over the mesh graph, so nothing tears at
the border. Every welded vertex :math:`i` gets the weight

.. math::
    w_i = \operatorname{smoothstep}\Bigl(1 - \frac{d_i}{f\,e}\Bigr), \qquad
    \operatorname{smoothstep}(x) = 3x^2 - 2x^3 \ \text{on}\ [0, 1],

with :math:`d_i` the geodesic distance to the region along the edges (Dijkstra over
``edge_index`` weighted by edge length; separate parts that touch, such as a leg
pushed into a body, are joined where they come closest, see :func:`falloff_graph`):
1 in the region, 0 beyond the band. Two ways of applying it (:data:`METHODS`):

* ``"blend"``: the decoded trajectories are blended with the rest pose,
  :math:`x'_i(t) = r_i + w_i\,(x_i(t) - r_i)`;
* ``"inpaint"``: latent inpainting at sampling time. Token :math:`k` (a vertex of the
  mesh) follows the model's velocity with weight :math:`w_k` and otherwise the straight
  path to its no-motion latent :math:`z_k` (the encoding of the mesh standing still),
  :math:`v = w_k v_\theta + (1 - w_k)\,(z_k - x_t) / (1 - t)`, which ends exactly at
  :math:`z_k` (:class:`HoldStill`);
* ``"both"``: inpainting, then the blend.

The blend is anchored (:attr:`RegionConfig.anchor`): each frame is first moved rigidly so that the
band stays where it was, so the region keeps its motion relative to where it is attached (a region
carried along by the whole body's motion would otherwise stretch the band by all of it).
``scripts/bench_region.py`` measures the three (:func:`region_metrics`): ``"both"``, anchored, is
the default (:attr:`RegionConfig.method`), the only one that met both targets (nothing beyond the
band moves; the band stretches no more than twice the region) on every example.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree
from torch import Tensor

from .data.graph import file_graph
from .data.proxy import proxy_size
from .errors import MeshflowError, check_finite
from .io.animation import Animation
from .io.geometry import edge_length_change, smoothstep
from .io.mesh import MeshFile
from .pipeline import AnimationPipeline, as_mesh_file
from .rig.solvers import kabsch

METHODS = ("blend", "inpaint", "both")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BOX = re.compile(rf"^\s*{_NUMBER}(?:\s*,\s*{_NUMBER}){{5}}\s*$")


@dataclass(frozen=True)
class RegionConfig:
    """The defaults of region control, the one place each is set."""

    falloff: float = 0.1  # band width outside the region, in units of the extent: wide enough to bend, not tear
    method: str = "both"  # scripts/bench_region.py: the only one with nothing moving outside and no tearing
    contact: float = 2.0  # parts this close (in median edge lengths) are joined for the falloff
    anchor: bool = True  # blend the motion relative to the band's: a region carried by the whole body tore the border


# ------------------------------------------------------------ selection ---
def region_names(mesh: MeshFile) -> Dict[str, np.ndarray]:
    """Every name a region can be chosen by, node, mesh and material names of the parts,
    to its (N_file,) bool mask of file vertices (in file order of the parts)."""
    names: Dict[str, np.ndarray] = {}
    part = mesh.part_index
    for k, p in enumerate(mesh.parts):
        material = getattr(getattr(p.mesh, "visual", None), "material", None)
        for name in (*p.names, p.name if len(mesh.parts) > 1 else "", getattr(material, "name", None) or ""):
            if name:
                names[name] = names.get(name, np.zeros(len(mesh.vertices), dtype=bool)) | (part == k)
    return names


def read_vertex_indices(path, num_vertices: int) -> np.ndarray:
    """The vertex indices of a text file: integers separated by spaces, commas or new lines, ``#`` comments.

    Raises:
        MeshflowError: a token that is not an integer or an index outside ``[0, num_vertices)``,
            naming the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise MeshflowError(f"--region {path}: cannot be read ({e.strerror})") from None
    out: List[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        for token in line.split("#", 1)[0].replace(",", " ").split():
            try:
                index = int(token)
            except ValueError:
                raise MeshflowError(f"--region {path}: line {number}: Expected a vertex index "
                                    f"(got {token!r})") from None
            if not 0 <= index < num_vertices:
                raise MeshflowError(f"--region {path}: line {number}: Expected a vertex index in [0, {num_vertices}) "
                                    f"(got {index})")
            out.append(index)
    return np.asarray(out, dtype=np.int64)


def select_region(spec: str, mesh: MeshFile) -> np.ndarray:
    """The file vertices of a region: (N_file,) bool.

    ``spec`` is, in this order, a box ``x0,y0,z0,x1,y1,z1`` (the vertices inside it, in the
    mesh's units), a node, mesh or material name of the file (:func:`region_names`), or a
    file of vertex indices (:func:`read_vertex_indices`).

    Raises:
        MeshflowError: a spec that is none of these (the message lists the names there are),
            or a region without vertices.
    """
    where = f"--region {spec!r}"
    if _BOX.match(spec):
        box = np.array([float(x) for x in spec.split(",")]).reshape(2, 3)
        lo, hi = box.min(axis=0), box.max(axis=0)
        mask = ((mesh.vertices >= lo) & (mesh.vertices <= hi)).all(axis=1)
        span = (f"[{', '.join(f'{x:.4g}' for x in mesh.vertices.min(axis=0))}] to "
                f"[{', '.join(f'{x:.4g}' for x in mesh.vertices.max(axis=0))}]")
        if not mask.any():
            raise MeshflowError(f"{where}: Expected a box holding vertices of {mesh.path} (got none inside; "
                                f"the mesh spans {span})")
        return mask
    names = region_names(mesh)
    if spec in names:
        return names[spec]
    if Path(spec).is_file():
        mask = np.zeros(len(mesh.vertices), dtype=bool)
        mask[read_vertex_indices(spec, len(mesh.vertices))] = True
        if not mask.any():
            raise MeshflowError(f"{where}: Expected at least one vertex index in the file (got none)")
        return mask
    known = ", ".join(sorted(names)) if names else f"none: {mesh.path} has no named parts or materials"
    raise MeshflowError(f"{where}: Expected a name in {mesh.path}, a file of vertex indices or a box "
                        f"x0,y0,z0,x1,y1,z1 (names: {known})")


# -------------------------------------------------------------- falloff ---
def falloff_graph(pos: np.ndarray, edge_index: np.ndarray, contact: float = RegionConfig.contact) -> sp.csr_matrix:
    """The graph the falloff is measured on: the mesh edges weighted by their length, plus edges between
    separate parts (connected components) where they touch (vertices closer than ``contact`` median edge
    lengths) and, while parts remain apart, from each to its nearest other part (Boruvka rounds).

    Shapes:
        - **input:** pos (N, 3), edge_index (2, E)
        - **output:** (N, N) symmetric sparse distances
    """
    N = len(pos)
    row, col = np.asarray(edge_index[0]), np.asarray(edge_index[1])
    length = np.linalg.norm(pos[row] - pos[col], axis=1)
    scale = float(np.median(length)) if len(length) else float(np.ptp(pos, axis=0).max() or 1.0) / 32
    rows, cols = [row], [col]

    def graph():
        r, c = np.concatenate(rows), np.concatenate(cols)
        d = np.maximum(np.linalg.norm(pos[r] - pos[c], axis=1), 1e-12)  # zero stays an edge
        g = sp.coo_matrix((d, (r, c)), shape=(N, N)).tocsr()
        return g.maximum(g.T)

    n, label = connected_components(graph(), directed=False)
    if n > 1:
        tree = cKDTree(pos)
        pairs = tree.query_pairs(contact * scale, output_type="ndarray")
        pairs = pairs[label[pairs[:, 0]] != label[pairs[:, 1]]]
        rows.append(pairs[:, 0])
        cols.append(pairs[:, 1])
        n, label = connected_components(graph(), directed=False)
    while n > 1:
        for c in range(n):
            inside = np.flatnonzero(label == c)
            outside = np.flatnonzero(label != c)
            d, j = cKDTree(pos[outside]).query(pos[inside])
            best = int(np.argmin(d))
            rows.append(np.array([inside[best]]))
            cols.append(np.array([outside[j[best]]]))
        n, label = connected_components(graph(), directed=False)
    return graph()


def falloff_weights(distance: np.ndarray, width: float) -> np.ndarray:
    r""":math:`w = \operatorname{smoothstep}(1 - d / \text{width})`: 1 at distance 0, 0 from ``width`` on
    (a step at 0 when ``width`` is 0)."""
    d = np.asarray(distance, dtype=np.float64)
    if width <= 0:
        return (d <= 0).astype(np.float32)
    return smoothstep(1.0 - d / width).astype(np.float32)


@dataclass
class Region:
    """A region of one mesh and its falloff, per welded vertex (see :func:`make_region`)."""

    spec: str
    inside: np.ndarray  # (N,) bool: the welded vertices of the region
    distance: np.ndarray  # (N,) geodesic distance to the region, in the mesh's units
    weights: np.ndarray  # (N,) float32 falloff weights w
    source_index: np.ndarray  # (N_file,) file vertex -> welded vertex
    extent: float  # largest side of the bounding box
    falloff: float  # band width in units of the extent
    method: str = RegionConfig.method
    anchor: bool = RegionConfig.anchor

    @property
    def file_weights(self) -> np.ndarray:
        """(N_file,) the weights per file vertex."""
        return self.weights[self.source_index]

    @property
    def holds(self) -> bool:
        """Whether the sampler holds the outside still (latent inpainting)."""
        return self.method in ("inpaint", "both")

    def hold(self, velocity, token_index: Tensor, still: Tensor) -> "HoldStill":
        """The pipeline's sampling hook: ``velocity`` wrapped by :class:`HoldStill` for tokens (B, K)."""
        w = torch.as_tensor(self.weights, device=token_index.device)[token_index.long()]  # (B, K)
        return HoldStill(velocity, w.to(still.dtype), still)

    def blend(self, frames: np.ndarray, rest: np.ndarray) -> np.ndarray:
        r"""(T, N_file, 3) frames blended with the rest pose (N_file, 3): :math:`r + w\,(x - r)`.

        With :attr:`anchor`, each frame is first moved by the rigid transform that best takes the band
        (:math:`0 < w < 1`, weighted by :math:`1 - w`) back to its rest pose (:func:`meshflow.rig.solvers.kabsch`),
        so the region keeps its motion relative to where it is attached rather than the whole mesh's."""
        x = np.asarray(frames, dtype=np.float64)
        w = self.file_weights
        if self.anchor:
            band = (w > 0) & (w < 1)
            band = band if band.any() else w <= 0
            if band.any():  # every frame's fit in one batch: (T, 3, 3), (T, 3)
                R, shift = kabsch(x[:, band], np.broadcast_to(rest[band], x[:, band].shape), 1 - w[band] + 1e-6)
                x = np.einsum("tij,tnj->tni", R, x) + shift[:, None]
        return (rest[None] + w[None, :, None] * (x - rest[None])).astype(np.float32)

    @property
    def note(self) -> str:
        band = int(((self.weights > 0) & ~self.inside).sum())
        return (f"region {self.spec!r}: {int(self.inside.sum())} of {len(self.inside)} welded vertices move, "
                f"{band} more in a falloff band of {self.falloff:g} x the extent ({self.method})")


def make_region(spec: str, mesh, falloff: Optional[float] = None, method: Optional[str] = None,
                anchor: bool = RegionConfig.anchor) -> Region:
    """Selects a region of ``mesh`` (a path, :class:`MeshFile` or trimesh mesh) and computes its falloff.

    Args:
        spec: see :func:`select_region`.
        falloff: band width in units of the extent, >= 0. (default: :attr:`RegionConfig.falloff` = 0.1)
        method: one of :data:`METHODS`. (default: :attr:`RegionConfig.method`)
        anchor: blend the motion relative to the band's (see :meth:`Region.blend`). (default: True)

    Raises:
        MeshflowError: see :func:`select_region`; a bad ``falloff`` or ``method``.
    """
    check_region_inputs(falloff=falloff, method=method)
    falloff = RegionConfig.falloff if falloff is None else float(falloff)
    method = method or RegionConfig.method
    mesh = as_mesh_file(mesh)
    file_mask = select_region(spec, mesh)
    graph = file_graph(mesh, normalize=False)
    src = graph.source_index.numpy()
    inside = np.zeros(graph.num_nodes, dtype=bool)
    inside[src[file_mask]] = True
    pos = graph.pos.numpy().astype(np.float64)
    extent = float(np.ptp(pos, axis=0).max()) or 1.0
    width = falloff * extent
    distance = dijkstra(falloff_graph(pos, graph.edge_index.numpy()), directed=False,
                        indices=np.flatnonzero(inside), min_only=True, limit=max(width, 0.0) * 1.0001)
    distance = np.where(inside, 0.0, distance)
    return Region(spec=spec, inside=inside, distance=distance, weights=falloff_weights(distance, width),
                  source_index=src, extent=extent, falloff=falloff, method=method, anchor=anchor)


def check_region_inputs(region=None, falloff=None, method=None) -> None:
    """The one check of the region options before any work; ``None`` is not checked.

    Raises:
        MeshflowError: ``--falloff`` given without ``--region``, a negative or non-finite falloff,
            an unknown method.
    """
    if falloff is not None:
        if check_finite("falloff", falloff) < 0:
            raise MeshflowError(f"Expected 'falloff' to be at least 0 (got {falloff})")
    if method is not None and method not in METHODS:
        raise MeshflowError(f"Expected 'region method' to be one of {', '.join(METHODS)} (got {method!r})")


# ------------------------------------------------------------- sampling ---
class HoldStill:
    r"""Latent inpainting for the sampler: tokens outside the region follow the straight path to their
    no-motion latent.

    .. math::
        v_k = w_k\,v_\theta(x_t)_k + (1 - w_k)\,\frac{z_k - x_{t,k}}{1 - t}

    on the trajectory channels; on the straight path :math:`x_t = t z + (1 - t)\epsilon` the
    second term is :math:`z - \epsilon`, and a midpoint or Euler solve on the grid ends exactly at
    :math:`z` where :math:`w_k = 0`. The batch may be doubled for guidance (``[cond; uncond]``).

    Args:
        velocity: the velocity model ``velocity(x, t, text, text_mask, cond)``.
        weights: (B, K) per-token weights :math:`w` (1 = free, 0 = still).
        still: (B, K, L) standardised no-motion trajectory latents :math:`z`.

    Shapes:
        - **input:** x (B or 2B, K, 2L), t (B or 2B,)
        - **output:** (B or 2B, K, 2L)
    """

    def __init__(self, velocity, weights: Tensor, still: Tensor):
        self.velocity = velocity
        self.weights = weights
        self.still = still

    def __call__(self, x, t, text, text_mask=None, cond=None):
        v = self.velocity(x, t, text, text_mask, cond)
        reps = x.shape[0] // self.weights.shape[0]
        L = self.still.shape[-1]
        w = self.weights.repeat(reps, 1).unsqueeze(-1).to(v.dtype)  # (B', K, 1)
        z = self.still.repeat(reps, 1, 1).to(v.dtype)  # (B', K, L)
        toward = (z - x[..., -L:]) / (1.0 - t.to(v.dtype)).clamp_min(1e-6).view(-1, 1, 1)
        return torch.cat([v[..., :-L], w * v[..., -L:] + (1 - w) * toward], dim=-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(tokens={tuple(self.weights.shape)}, free={float(self.weights.mean()):.2f})"


def animate_region(pipe: AnimationPipeline, mesh, prompt: str, region: Optional[Region], **kwargs) -> Animation:
    """``pipe(mesh, prompt, **kwargs)`` with region control: the sampling hook for ``"inpaint"`` and
    ``"both"``, the blend with the rest pose (``mesh``'s vertices) for ``"blend"`` and ``"both"``."""
    mesh = as_mesh_file(mesh)
    if region is None:
        return pipe(mesh, prompt, **kwargs)
    # The hook picks token weights by vertex row: a proxy (meshflow.data.proxy) has rows of its own.
    held = region.holds and proxy_size(kwargs.get("proxy"), len(region.inside)) is None
    anim = pipe(mesh, prompt, hold=region.hold if held else None, **kwargs)
    vertices = region.blend(anim.vertices, mesh.vertices) if region.method != "inpaint" or not held else anim.vertices
    notes = [region.note] + ([] if held or not region.holds else
                             ["region: animated through a proxy, so blended only (no latent inpainting)"])
    return replace(anim, vertices=vertices, notes=anim.notes + notes)


# -------------------------------------------------------------- metrics ---
@dataclass(frozen=True)
class RegionMetrics:
    """How well a region-controlled animation keeps to its region (see :func:`region_metrics`)."""

    outside_motion: float  # largest displacement of a vertex beyond the band, over the extent
    border_edge_change: float  # mean relative edge-length change of the faces in the band
    inside_edge_change: float  # the same for the faces inside the region
    region_motion: float  # mean displacement of the region's vertices, over the extent


def region_metrics(frames: np.ndarray, faces: np.ndarray, region: Region) -> RegionMetrics:
    r"""Per-file-vertex frames (T, N_file, 3) measured against the region: motion beyond the band
    (:math:`w = 0`) relative to frame 0, edge-length change
    (:func:`~meshflow.io.geometry.edge_length_change`) of the faces with a vertex in the band
    (:math:`0 < w < 1`) or across its edge, and of the faces wholly inside, and the region's motion."""
    x = np.asarray(frames, dtype=np.float64)
    w = region.file_weights
    inside = region.inside[region.source_index]
    move = np.linalg.norm(x - x[:1], axis=-1)  # (T, N_file)
    outside = w <= 0
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    wf = w[f]
    in_faces = f[inside[f].all(axis=1)]
    band = f[((wf > 0) & (wf < 1)).any(axis=1) | ((wf > 0).any(axis=1) & (wf <= 0).any(axis=1))]
    return RegionMetrics(
        outside_motion=float(move[:, outside].max()) / region.extent if outside.any() else 0.0,
        border_edge_change=edge_length_change(x, band) if len(band) else 0.0,
        inside_edge_change=edge_length_change(x, in_faces) if len(in_faces) else 0.0,
        region_motion=float(move[:, inside].mean()) / region.extent)


__all__ = ["METHODS", "HoldStill", "Region", "RegionConfig", "RegionMetrics", "animate_region",
           "check_region_inputs", "falloff_graph", "falloff_weights", "make_region", "read_vertex_indices",
           "region_metrics", "region_names", "select_region"]
