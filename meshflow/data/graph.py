r"""Meshes as PyTorch Geometric graphs.

A mesh is a :class:`torch_geometric.data.Data` with

* ``pos`` (N, 3) float32: frame-0 vertex positions (normalised unless asked otherwise),
* ``face`` (3, F) long: triangles in PyG layout,
* ``edge_index`` (2, E) long: every undirected triangle edge in both directions,
  unique, without self loops, sorted by (row, col). It stands in for the
  original implementation's dense N x N adjacency mask.
* ``source_index`` (N_file,) long: for every vertex of the file, the welded
  vertex it became (files split vertices at UV seams; the graph does not),
* ``center`` (1, 3) and ``scale`` (1,): the normalisation, ``pos = (x - center) / scale``.

All keys batch with :meth:`torch_geometric.data.Batch.from_data_list` as they
are: ``face``, ``edge_index`` and ``source_index`` are offset by the number of
nodes of the graphs before them, ``center`` and ``scale`` stack to (B, 3) and (B,).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components as _components
from torch import Tensor
from torch_geometric.data import Data

from ..io.geometry import drop_degenerate_faces, weld_vertices
from ..io.mesh import MeshFile, read_mesh


def edge_index_from_faces(face: Tensor, num_nodes: int) -> Tensor:
    r"""Builds the symmetric, self-loop-free, sorted edge list of a triangle mesh.

    Vectorised: one concatenation, one key per directed edge
    (``row * N + col``) and one :func:`torch.unique`, so a million-vertex mesh
    takes about a second on a CPU.

    Args:
        face (torch.Tensor): triangles, shape (3, F).
        num_nodes (int): number of vertices N.

    Shapes:
        - **input:** face (3, F)
        - **output:** edge_index (2, E) with E <= 6F
    """
    if face.dim() != 2 or face.size(0) != 3:
        raise ValueError(f"Expected 'face' to have shape (3, F) (got {tuple(face.shape)})")
    face = face.long()
    if face.numel() == 0:
        return torch.empty(2, 0, dtype=torch.long, device=face.device)
    a, b, c = face[0], face[1], face[2]
    row = torch.cat([a, b, c, b, c, a])
    col = torch.cat([b, c, a, a, b, c])
    keep = row != col
    key = row[keep] * num_nodes + col[keep]
    key = torch.unique(key)  # sorted, so rows and then cols come out sorted
    return torch.stack([key // num_nodes, key % num_nodes], dim=0)


def normalization(pos: Tensor) -> Tuple[Tensor, Tensor]:
    r"""The original's normalisation of frame 0.

    .. math::
        c = \tfrac12(\max_i x_i + \min_i x_i), \qquad s = \max_{i,d} |x_{id} - c_d|

    so that ``(pos - c) / s`` lies in [-1, 1] and touches the bound.
    A single point (s = 0) gets s = 1.

    Shapes:
        - **input:** pos (N, 3)
        - **output:** center (3,), scale ()
    """
    if pos.numel() == 0:
        return pos.new_zeros(3), pos.new_ones(())
    center = (pos.max(dim=0).values + pos.min(dim=0).values) / 2
    scale = (pos - center).abs().max()
    if scale <= 0:
        scale = torch.ones_like(scale)
    return center, scale


def mesh_graph(
    vertices,
    faces=None,
    *,
    weld: bool = True,
    normalize: bool = True,
    name: Optional[str] = None,
) -> Data:
    r"""Turns file vertices and triangles into a mesh graph.

    Args:
        vertices: (N_file, 3) positions (array or tensor).
        faces: (F, 3) triangles over the file vertices, or ``None`` for a point cloud.
        weld (bool, optional): merge vertices at identical positions. (default: :obj:`True`)
        normalize (bool, optional): store normalised positions in ``pos``;
            ``center`` and ``scale`` are stored either way. (default: :obj:`True`)
        name (str, optional): kept as ``data.name``.

    Shapes:
        - **input:** vertices (N_file, 3), faces (F, 3)
        - **output:** Data(pos (N, 3), face (3, F'), edge_index (2, E), source_index (N_file,),
          center (1, 3), scale (1,))
    """
    v = np.asarray(vertices.detach().cpu() if isinstance(vertices, Tensor) else vertices, dtype=np.float32)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"Expected 'vertices' to have shape (N, 3) (got {v.shape})")
    f = np.zeros((0, 3), dtype=np.int64) if faces is None else np.asarray(
        faces.detach().cpu() if isinstance(faces, Tensor) else faces, dtype=np.int64)
    if f.ndim != 2 or (f.size and f.shape[1] != 3):
        raise ValueError(f"Expected 'faces' to have shape (F, 3) (got {f.shape})")
    f = f.reshape(-1, 3)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"Face indices must lie in [0, {len(v)}) (got [{f.min()}, {f.max()}])")

    if weld:
        uv, source_index = weld_vertices(v)
        f = source_index[f] if f.size else f
        f, dropped = drop_degenerate_faces(f)
        if dropped:
            warnings.warn(f"dropped {dropped} face(s) that became degenerate after welding", stacklevel=2)
    else:
        uv, source_index = v, np.arange(len(v), dtype=np.int64)

    pos = torch.from_numpy(np.ascontiguousarray(uv, dtype=np.float32))
    center, scale = normalization(pos)
    if normalize:
        pos = (pos - center) / scale
    face = torch.from_numpy(np.ascontiguousarray(f.T)).long()
    data = Data(
        pos=pos,
        face=face,
        edge_index=edge_index_from_faces(face, pos.size(0)),
        source_index=torch.from_numpy(source_index),
        center=center.view(1, 3),
        scale=scale.view(1),
    )
    data.num_nodes = pos.size(0)
    if name is not None:
        data.name = name
    return data


def denormalize(pos: Tensor, data: Data) -> Tensor:
    """Maps normalised positions (..., N, 3) of one mesh back to file units."""
    return pos * data.scale.view(-1)[0] + data.center.view(3)


def to_file_vertices(values: Tensor, data: Data) -> Tensor:
    """Per-welded-vertex values (N, ...) -> per-file-vertex values (N_file, ...)."""
    return values[data.source_index]


def first_file_vertices(data: Data) -> np.ndarray:
    """(N,) int64: for every welded vertex, the first file vertex welded into it (``source_index``'s inverse,
    the file's order kept): ``frames[:, first_file_vertices(data)]`` is a file animation on the graph."""
    return np.unique(data.source_index.cpu().numpy(), return_index=True)[1]


def connected_components(edge_index: Tensor, num_nodes: int) -> int:
    """Number of connected components (isolated vertices count as one each)."""
    ei = edge_index.cpu().numpy()
    adj = sp.coo_matrix((np.ones(ei.shape[1], dtype=np.int8), (ei[0], ei[1])), shape=(num_nodes, num_nodes))
    n, _ = _components(adj, directed=False)
    return int(n)


# ------------------------------------------------------------ mesh files ---
def file_graph(mesh: MeshFile, normalize: bool = True) -> Data:
    """The welded mesh graph of a file read by :func:`meshflow.io.read_mesh` (see :func:`mesh_graph`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # read_mesh already reported degenerate faces
        data = mesh_graph(mesh.vertices, mesh.faces if len(mesh.faces) else None,
                          weld=True, normalize=normalize, name=Path(mesh.path).stem)
    return data


def load_mesh(path, normalize: bool = True) -> Data:
    """Reads a mesh file and returns its mesh graph (``meshflow.load_mesh``).

    Args:
        path: a ``.glb .gltf .obj .ply .stl .off`` file.
        normalize (bool, optional): store normalised positions in ``pos`` (the
            original's frame-0 bounding-box centre and max-abs scale, kept in
            ``center`` / ``scale``). (default: :obj:`True`)

    Returns:
        :class:`torch_geometric.data.Data` with ``pos``, ``face``, ``edge_index``,
        ``source_index`` (file vertex -> welded vertex), ``center``, ``scale``, ``name``.
    """
    return file_graph(read_mesh(path), normalize=normalize)


def inspect_mesh(path) -> dict:
    """Counts for ``meshflow inspect``: file/welded vertices, faces, edges, components, bbox."""
    mesh = read_mesh(path)
    data = file_graph(mesh, normalize=False)
    return {
        "path": str(path),
        "vertices": int(len(mesh.vertices)),
        "welded_vertices": int(data.num_nodes),
        "faces": int(data.face.size(1)),
        "edges": int(data.edge_index.size(1) // 2),
        "components": connected_components(data.edge_index, data.num_nodes),
        "primitives": len(mesh.parts),
        "bbox_min": [float(x) for x in mesh.vertices.min(axis=0)],
        "bbox_max": [float(x) for x in mesh.vertices.max(axis=0)],
    }
