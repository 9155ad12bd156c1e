"""Reading static meshes: glTF/GLB, OBJ, PLY, STL, OFF through trimesh.

:func:`read_mesh` returns a :class:`MeshFile`: every primitive of the file
flattened into world space, in the file's vertex order (``process=False``),
with its UVs and material kept on a per-part :class:`trimesh.Trimesh` so an
animation can later be written back onto the original structure.
:func:`load_mesh` turns that into the mesh graph (:func:`meshflow.data.mesh_graph`).
"""
from __future__ import annotations

import json
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np

from ..errors import MeshFileError

EXTENSIONS = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")


@dataclass
class MeshPart:
    """One primitive of a file, in world space, vertices in file order.

    Attributes:
        name: scene-graph node name (or the file name for single-mesh formats).
        mesh: :class:`trimesh.Trimesh` (or ``PointCloud``) with the node's world
            transform applied; its ``visual`` keeps UVs and material.
        start: index of its first vertex in :attr:`MeshFile.vertices`.
    """

    name: str
    mesh: object
    start: int

    @property
    def num_vertices(self) -> int:
        return len(self.mesh.vertices)


@dataclass
class MeshFile:
    """A mesh file flattened into one vertex array.

    Attributes:
        path: the file read.
        vertices: (N_file, 3) float32 world-space positions, parts concatenated.
        faces: (F, 3) int64 triangles over ``vertices`` (degenerate ones dropped).
        parts: the primitives, in scene order.
    """

    path: Path
    vertices: np.ndarray
    faces: np.ndarray
    parts: List[MeshPart] = field(default_factory=list)

    @property
    def part_index(self) -> np.ndarray:
        """(N_file,) index of the part each file vertex belongs to."""
        sizes = [p.num_vertices for p in self.parts]
        return np.repeat(np.arange(len(sizes)), sizes)

    def graph(self, normalize: bool = True):
        """The welded mesh graph (PyG ``Data``); see :func:`meshflow.data.mesh_graph`."""
        from ..data.graph import mesh_graph

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # read_mesh already reported degenerate faces
            data = mesh_graph(self.vertices, self.faces if len(self.faces) else None,
                              weld=True, normalize=normalize, name=self.path.stem)
        return data


def _sniff_gltf(path: Path) -> Optional[dict]:
    """The JSON chunk of a .glb/.gltf file (None if it cannot be parsed)."""
    try:
        if path.suffix.lower() == ".glb":
            with open(path, "rb") as fh:
                head = fh.read(20)
                if len(head) < 20 or head[:4] != b"glTF":
                    return None
                length, ctype = struct.unpack("<II", head[12:20])
                if ctype != 0x4E4F534A:  # 'JSON'
                    return None
                return json.loads(fh.read(length))
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _check_file(path: Path):
    if not path.exists():
        raise MeshFileError(path, "file not found")
    if path.is_dir():
        raise MeshFileError(path, "is a directory, expected a mesh file")
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        raise MeshFileError(path, f"unknown extension '{path.suffix}' (expected one of {', '.join(EXTENSIONS)})")
    if path.stat().st_size == 0:
        raise MeshFileError(path, "file is empty")
    if ext in (".glb", ".gltf"):
        gltf = _sniff_gltf(path)
        if gltf is None:
            what = "binary glTF (GLB)" if ext == ".glb" else "glTF JSON"
            raise MeshFileError(path, f"not a valid {what} file")
        if "KHR_draco_mesh_compression" in gltf.get("extensionsRequired", []):
            return "draco", gltf
        return ext, gltf
    return ext, None


def _load_trimesh_scene(path: Path, ext: str):
    import trimesh

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scene = trimesh.load(str(path), process=False, force="scene")
    except Exception as e:  # trimesh raises many types for malformed files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise MeshFileError(path, f"cannot be read as {ext[1:].upper()} ({msg})") from None
    return scene


def _draco_parts(path: Path) -> List[MeshPart]:
    """Static geometry of a Draco-compressed glTF (trimesh cannot decode it) via meshflow's glTF reader."""
    from .gltf import read_gltf_static

    return read_gltf_static(path)


def read_mesh(path) -> MeshFile:
    """Reads a mesh file into world space, keeping its vertex order and parts.

    Quads and polygons are triangulated (by trimesh); faces that use a vertex
    twice are dropped with a warning that says how many. A file without faces
    loads as a point cloud (``faces`` of shape (0, 3)).

    Raises:
        MeshFileError: missing file, unknown extension, unreadable or mislabelled
            file, no vertices, non-finite coordinates, face indices out of range.
    """
    import trimesh

    path = Path(path)
    ext, gltf = _check_file(path)
    if ext == "draco":
        parts = _draco_parts(path)
    else:
        scene = _load_trimesh_scene(path, ext)
        parts = []
        # Scene order: glTF node order, else the order geometries appear in the file.
        node_order = [n.get("name") for n in gltf.get("nodes", [])] if gltf else []
        geom_order = list(scene.geometry)

        def file_order(node):
            name = scene.graph[node][1]
            if node in node_order:
                return (node_order.index(node), 0, str(node))
            return (len(node_order), geom_order.index(name) if name in geom_order else len(geom_order), str(node))

        for node in sorted(scene.graph.nodes_geometry, key=file_order):
            transform, geom_name = scene.graph[node]
            geom = scene.geometry[geom_name]
            if not isinstance(geom, (trimesh.Trimesh, trimesh.PointCloud)):
                continue  # lines and paths carry no surface
            # Trimesh.copy(include_cache=True) keeps the file's normals; point clouds have no cache to keep.
            geom = geom.copy(include_cache=True) if isinstance(geom, trimesh.Trimesh) else geom.copy()
            if not np.allclose(transform, np.eye(4)):
                geom.apply_transform(transform)
            name = node if len(scene.graph.nodes_geometry) > 1 else path.stem
            parts.append(MeshPart(name=str(name), mesh=geom, start=0))

    vertices, faces, start = [], [], 0
    for part in parts:
        part.start = start
        v = np.asarray(part.mesh.vertices, dtype=np.float64).reshape(-1, 3)
        f = np.asarray(getattr(part.mesh, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            raise MeshFileError(path, f"face indices out of range: [{f.min()}, {f.max()}] for {len(v)} vertices"
                                      f" in part '{part.name}'")
        vertices.append(v)
        faces.append(f + start)
        start += len(v)
    if start == 0:
        raise MeshFileError(path, "contains no mesh vertices")
    v = np.concatenate(vertices)
    f = np.concatenate(faces) if faces else np.zeros((0, 3), dtype=np.int64)
    bad = ~np.isfinite(v).all(axis=1)
    if bad.any():
        raise MeshFileError(path, f"{int(bad.sum())} vertices have NaN or infinite coordinates")
    if len(f):
        degenerate = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])
        if degenerate.any():
            warnings.warn(f"{path}: dropped {int(degenerate.sum())} degenerate face(s) (a vertex used twice)",
                          stacklevel=2)
            f = f[~degenerate]
    return MeshFile(path=path, vertices=v.astype(np.float32), faces=f, parts=parts)


def load_mesh(path, normalize: bool = True):
    """Reads a mesh file and returns its mesh graph.

    Args:
        path: a ``.glb .gltf .obj .ply .stl .off`` file.
        normalize (bool, optional): store normalised positions in ``pos`` (the
            original's frame-0 bounding-box centre and max-abs scale, kept in
            ``center`` / ``scale``). (default: :obj:`True`)

    Returns:
        :class:`torch_geometric.data.Data` with ``pos``, ``face``, ``edge_index``,
        ``source_index`` (file vertex -> welded vertex), ``center``, ``scale``, ``name``.
    """
    return read_mesh(path).graph(normalize=normalize)


def inspect_mesh(path) -> dict:
    """Counts for ``meshflow inspect``: file/welded vertices, faces, edges, components, bbox."""
    from ..data.graph import connected_components

    mesh = read_mesh(path)
    data = mesh.graph(normalize=False)
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
