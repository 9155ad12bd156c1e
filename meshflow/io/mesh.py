"""Reading static meshes: glTF/GLB, OBJ, PLY, STL, OFF through trimesh.

:func:`read_mesh` returns a :class:`MeshFile`: every primitive of the file
flattened into world space, in the file's vertex order (``process=False``),
with its UVs and material kept on a per-part :class:`trimesh.Trimesh` so an
animation can later be written back onto the original structure. Draco-compressed
glTF, which trimesh cannot decode, is read by :class:`meshflow.io.gltf.GltfFile`
(:func:`read_gltf_static`). The mesh graph of a file is built one layer up, by
:func:`meshflow.data.graph.file_graph` (``meshflow.load_mesh``).
"""
from __future__ import annotations

import base64
import io
import json
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np
import trimesh
from PIL import Image
from trimesh.visual.material import PBRMaterial

from ..errors import MeshFileError
from .geometry import compose_trs
from .gltf import GltfFile

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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scene = trimesh.load(str(path), process=False, force="scene")
    except Exception as e:  # trimesh raises many types for malformed files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise MeshFileError(path, f"cannot be read as {ext[1:].upper()} ({msg})") from None
    return scene


def read_mesh(path) -> MeshFile:
    """Reads a mesh file into world space, keeping its vertex order and parts.

    Quads and polygons are triangulated (by trimesh); faces that use a vertex
    twice are dropped with a warning that says how many. A file without faces
    loads as a point cloud (``faces`` of shape (0, 3)).

    Raises:
        MeshFileError: missing file, unknown extension, unreadable or mislabelled
            file, no vertices, non-finite coordinates, face indices out of range.
    """
    path = Path(path)
    ext, gltf = _check_file(path)
    if ext == "draco":
        parts = read_gltf_static(path)
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


def _material(g: GltfFile, index: Optional[int]):
    """A trimesh PBR material for glTF material ``index`` (base colour and its texture), or None."""
    if index is None or not g.gltf.materials or not 0 <= index < len(g.gltf.materials):
        return None
    mat = g.gltf.materials[index]
    pbr = mat.pbrMetallicRoughness
    kwargs = {"name": mat.name}
    if pbr is not None:
        if pbr.baseColorFactor is not None:
            kwargs["baseColorFactor"] = pbr.baseColorFactor
        tex = pbr.baseColorTexture
        if tex is not None:
            try:
                source = g.gltf.textures[tex.index].source
                img = g.gltf.images[source]
                if img.bufferView is not None:
                    data, _ = g.buffer_view(img.bufferView)
                    raw = bytes(data)
                elif img.uri and img.uri.startswith("data:"):
                    raw = base64.b64decode(img.uri.split(",", 1)[1])
                else:
                    raw = (g.path.parent / img.uri).read_bytes()
                image = Image.open(io.BytesIO(raw))
                image.load()
                kwargs["baseColorTexture"] = image
            except Exception:  # a missing or unreadable texture keeps the colour factor only
                pass
    return PBRMaterial(**kwargs)


def read_gltf_static(path) -> List[MeshPart]:
    r"""The static geometry of a glTF / GLB file as :class:`MeshPart` s.

    Used by :func:`read_mesh` for Draco-compressed files, which
    trimesh cannot decode. Like trimesh, every mesh node's primitives are placed
    by the node's rest-pose world matrix (skinning is not evaluated: skinned
    meshes come out in their bind shape), in scene order; UVs, normals and the
    base-colour material are kept on each part's :class:`trimesh.Trimesh`.
    """
    g = GltfFile(path)
    t, r, s = g.rest_trs
    local = compose_trs(t, r, s)
    for node, mat in g.matrix_nodes().items():
        local[node] = mat
    world = g.world_matrices(local)
    parts = []
    mesh_nodes = [i for i in g.scene_nodes() if g.gltf.nodes[i].mesh is not None]
    for node in mesh_nodes:
        nd = g.gltf.nodes[node]
        for p in g.primitives(nd.mesh):
            m = world[node]
            v = p.positions @ m[:3, :3].T + m[:3, 3]
            visual = None
            uv = p.attributes.get("TEXCOORD_0")
            material = _material(g, p.material)
            if uv is not None:
                uv = np.asarray(uv, dtype=np.float64).copy()
                uv[:, 1] = 1.0 - uv[:, 1]  # glTF's v runs down the image; trimesh's runs up
                visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
            elif material is not None:
                visual = trimesh.visual.TextureVisuals(material=material)
            normals = p.attributes.get("NORMAL")
            if normals is not None:
                normals = np.asarray(normals, dtype=np.float64) @ np.linalg.inv(m[:3, :3])
            mesh = trimesh.Trimesh(vertices=v, faces=p.faces, vertex_normals=normals, visual=visual,
                                   process=False, validate=False)
            name = nd.name or f"node{node}"
            if len(g.primitives(nd.mesh)) > 1:
                name = f"{name}_{p.index}"
            parts.append(MeshPart(name=name if len(mesh_nodes) > 1 or len(g.primitives(nd.mesh)) > 1
                                  else g.path.stem, mesh=mesh, start=0))
    return parts


__all__ = ["EXTENSIONS", "MeshFile", "MeshPart", "read_gltf_static", "read_mesh"]
