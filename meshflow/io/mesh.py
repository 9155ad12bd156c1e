"""Reading static meshes: glTF/GLB, OBJ, PLY, STL, OFF through trimesh.

:func:`read_mesh` returns a :class:`MeshFile`: every primitive of the file
flattened into world space, in the file's vertex order (``process=False``),
with its UVs and material kept on a per-part :class:`trimesh.Trimesh` so an
animation can later be written back onto the original structure. Draco-compressed
glTF, which trimesh cannot decode, is read by :class:`meshflow.io.gltf.GltfFile`
(:func:`read_gltf_static`). The mesh graph of a file is built one layer up, by
:func:`meshflow.data.graph.file_graph` (``meshflow.load_mesh``).

OBJ and OFF stay trimesh's to read (one reader per format), after one pass over
their lines that finds what trimesh would misread or report in numpy's words (an
index out of range, a short row, counts that do not match the rows): each is a
:class:`MeshFileError` naming the line, e.g. ``x.obj: line 12: face index 9 is out
of range (the file has 8 vertices)``. trimesh then reads the lines without their
comments, which it misplaces after data on a line.
"""
from __future__ import annotations

import base64
import io
import json
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple
from urllib.parse import unquote

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
        names: the scene names of the part, its node's and its mesh's (what ``--region`` selects by).
    """

    name: str
    mesh: object
    start: int
    names: Tuple[str, ...] = ()

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


def _snippet(line: str, limit: int = 40) -> str:
    """``line`` for an error message: spaces collapsed, bytes that are not UTF-8 as '?', at most
    ``limit`` characters."""
    line = " ".join(line.encode("utf-8", errors="replace").decode("utf-8").split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _text_lines(path: Path) -> List[Tuple[int, str]]:
    """``(line number, text without comment)`` of each non-blank line; a backslash at the end of a
    line continues it (as trimesh reads it), numbered by its first line."""
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")  # bytes that are not UTF-8 kept as they are
    pending, start, lines = "", 0, []
    for number, line in enumerate(text.splitlines(), 1):
        if line.endswith("\\"):
            start = start or number
            pending += line[:-1] + " "
            continue
        if pending:
            line, first = pending + line, start
            pending, start = "", 0
        else:
            first = number
        if "#" in line:
            line = line[:line.index("#")]
        line = line.strip()
        if line:
            lines.append((first, line))
    if pending.split("#", 1)[0].strip():
        lines.append((start, pending.split("#", 1)[0].strip()))
    return lines


def _numbers(path: Path, number: int, line: str, values, count: int, form: str) -> None:
    """At least ``count`` numbers in ``values`` (the tokens after the keyword), or a MeshFileError for the line."""
    if len(values) < count:
        raise MeshFileError(path, f"line {number}: expected '{form}' with {count} numbers (got '{_snippet(line)}')")
    for value in values:
        try:
            float(value)
        except ValueError:
            raise MeshFileError(path, f"line {number}: '{_snippet(value, 20)}' is not a number "
                                      f"(in '{_snippet(line)}')") from None


_OBJ_KINDS = (("face", "vertices"), ("texture", "texture coordinates"), ("normal", "normals"))
_OBJ_ROWS = {"v": (0, 3, "v x y z"), "vt": (1, 1, "vt u v"), "vn": (2, 3, "vn x y z")}


def _check_obj_corner(path: Path, number: int, line: str, corner: str, counts, forward) -> None:
    """One face corner 'i', 'i/t', 'i//n' or 'i/t/n' against the rows read so far (see :func:`_check_obj_text`)."""
    for slot, part in enumerate(corner.split("/")[:3]):
        if not part and slot:
            continue  # 'i//n': no texture coordinate
        try:
            index = int(part)
        except ValueError:
            raise MeshFileError(path, f"line {number}: '{_snippet(corner, 20)}' is not a vertex index "
                                      f"(in '{_snippet(line)}')") from None
        kind, what = _OBJ_KINDS[slot]
        if index == 0:
            raise MeshFileError(path, f"line {number}: {kind} index 0 is not valid (OBJ counts from 1)")
        if index < 0 and -index > counts[slot]:
            raise MeshFileError(path, f"line {number}: {kind} index {index} is out of range "
                                      f"({counts[slot]} {what} precede it)")
        if index > counts[slot]:
            forward.append((number, slot, index))


def _check_obj_text(path: Path, lines: List[Tuple[int, str]]) -> None:
    """The OBJ lines trimesh would misread: 'v'/'vt'/'vn' rows without enough numbers, faces of fewer
    than 3 corners, corners that are not integers, and indices 0 or outside the file's vertices
    (texture coordinates, normals); each a :class:`MeshFileError` naming the line.

    A positive index may point past the rows read so far (checked against the whole file at the end);
    a negative one counts back from the row before it.
    """
    counts = [0, 0, 0]  # v, vt, vn rows so far
    forward = []  # (line, slot, index) of positive indices beyond the rows read so far
    for number, line in lines:
        key, *values = line.split()
        if key in _OBJ_ROWS:
            slot, need, form = _OBJ_ROWS[key]
            try:
                ok = len(values) >= need and [float(v) for v in values]
            except ValueError:
                ok = False
            if not ok:
                _numbers(path, number, line, values, need, form)
            counts[slot] += 1
        elif key == "f":
            if len(values) < 3:
                raise MeshFileError(path, f"line {number}: a face needs at least 3 vertices "
                                          f"(got {len(values)} in '{_snippet(line)}')")
            if "/" not in line:  # fast path: plain vertex indices, all within the rows so far
                try:
                    index = [int(v) for v in values]
                    if min(index) > 0 and max(index) <= counts[0]:
                        continue
                except ValueError:
                    pass
            for corner in values:
                _check_obj_corner(path, number, line, corner, counts, forward)
    for number, slot, index in forward:
        kind, what = _OBJ_KINDS[slot]
        if index > counts[slot]:
            raise MeshFileError(path, f"line {number}: {kind} index {index} is out of range "
                                      f"(the file has {counts[slot]} {what})")


def _check_off_text(path: Path, lines: List[Tuple[int, str]]) -> None:
    """An OFF file's header, counts and rows as trimesh reads them: the 'OFF' keyword, a count line
    'vertices faces [edges]', that many vertex rows of 3 numbers and face rows 'k i1 .. ik' with
    k >= 3 indices in range, and no rows beyond; each problem a :class:`MeshFileError` naming the line."""
    if not lines or "OFF" not in lines[0][1].split()[0].upper():
        number, line = lines[0] if lines else (1, "")
        raise MeshFileError(path, f"line {number}: expected the 'OFF' keyword (got '{_snippet(line)}')")
    rest = lines[0][1].split(None, 1)[1:]
    rows = ([(lines[0][0], rest[0])] if rest else []) + lines[1:]
    if not rows:
        raise MeshFileError(path, f"line {lines[0][0]}: expected the counts 'vertices faces edges' after 'OFF'")
    head, line = rows[0]
    try:
        nv, nf = (int(c) for c in line.split()[:2])
        if nv < 0 or nf < 0 or len(line.split()) < 2:
            raise ValueError
    except ValueError:
        raise MeshFileError(path, f"line {head}: expected the counts 'vertices faces edges' "
                                  f"(got '{_snippet(line)}')") from None
    body = rows[1:]
    if len(body) != nv + nf:
        where = f"; the first extra one is line {body[nv + nf][0]}" if len(body) > nv + nf else ""
        raise MeshFileError(path, f"line {head}: the counts say {nv} vertices and {nf} faces, "
                                  f"so {nv + nf} rows should follow (got {len(body)}{where})")
    for number, line in body[:nv]:
        _numbers(path, number, line, line.split(), 3, "x y z")
    for number, line in body[nv:]:
        try:
            values = [int(t) for t in line.split()]
        except ValueError:
            raise MeshFileError(path, f"line {number}: expected a face row 'k i1 .. ik' of integers "
                                      f"(got '{_snippet(line)}')") from None
        k = values[0]
        if k < 3:
            raise MeshFileError(path, f"line {number}: a face needs at least 3 vertices (got {k} in "
                                      f"'{_snippet(line)}')")
        if len(values) < 1 + k:
            raise MeshFileError(path, f"line {number}: the face row counts {k} vertices but lists "
                                      f"{len(values) - 1} (in '{_snippet(line)}')")
        bad = next((i for i in values[1:1 + k] if not 0 <= i < nv), None)
        if bad is not None:
            raise MeshFileError(path, f"line {number}: face index {bad} is out of range "
                                      f"(the file has {nv} vertices, indexed from 0)")


_TEXT_CHECKS = {".obj": _check_obj_text, ".off": _check_off_text}


def _load_trimesh_scene(path: Path, ext: str, text: Optional[str] = None):
    """The file as a trimesh scene; ``text``, when given, is read in the file's place (its own
    files, such as an OBJ's materials, are found beside ``path``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if text is None:
                scene = trimesh.load(str(path), process=False, force="scene")
            else:
                data = io.BytesIO(text.encode("utf-8", errors="surrogateescape"))
                scene = trimesh.load(data, file_type=ext[1:], process=False, force="scene",
                                     resolver=trimesh.resolvers.FilePathResolver(str(path)))
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
            file, no vertices, non-finite coordinates, face indices out of range;
            for OBJ and OFF, a malformed row or count names its line in the file.
    """
    path = Path(path)
    ext, gltf = _check_file(path)
    if ext == "draco":
        parts = read_gltf_static(path)
    else:
        text = None
        if ext in _TEXT_CHECKS:  # trimesh's errors on these are numpy's, without the line
            lines = _text_lines(path)
            _TEXT_CHECKS[ext](path, lines)
            text = "\n".join(line for _, line in lines) + "\n"  # trimesh misreads comments after data
        scene = _load_trimesh_scene(path, ext, text)
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
            parts.append(MeshPart(name=str(name), mesh=geom, start=0, names=(str(node), str(geom_name))))

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
                raw, _ = image_bytes(g, g.gltf.images[source])
                image = Image.open(io.BytesIO(raw))
                image.load()
                kwargs["baseColorTexture"] = image
            except Exception:  # a missing or unreadable texture keeps the colour factor only
                pass
    return PBRMaterial(**kwargs)


# leading bytes of the image formats glTF allows, for images that do not say their MIME type
_MAGIC = ((b"\x89PNG", "image/png"), (b"\xff\xd8", "image/jpeg"), (b"RIFF", "image/webp"), (b"\xabKTX", "image/ktx2"))


def image_bytes(g: GltfFile, image) -> Tuple[bytes, str]:
    """The encoded bytes of an input image (buffer view, data URI or file beside the glTF) and its MIME type."""
    mime = image.mimeType
    if image.bufferView is not None:
        data = bytes(g.buffer_view(image.bufferView)[0])
    elif image.uri and image.uri.startswith("data:"):
        head, _, body = image.uri.partition(",")
        data = base64.b64decode(body) if head.endswith(";base64") else unquote(body).encode("latin-1")
        mime = mime or head[5:].split(";")[0] or None
    else:
        try:
            data = (g.path.parent / unquote(image.uri or "")).read_bytes()
        except OSError as e:
            raise MeshFileError(g.path, f"cannot read image {image.uri} ({e.strerror})") from None
    mime = mime or next((m for magic, m in _MAGIC if data.startswith(magic)), "image/png")
    return data, mime


def rest_world_matrices(g: GltfFile) -> np.ndarray:
    """World matrices (num_nodes, 4, 4) of a glTF's rest pose: each node's TRS, or its ``matrix`` exactly."""
    t, r, s = g.rest_trs
    local = compose_trs(t, r, s)
    for node, mat in g.matrix_nodes().items():
        local[node] = mat
    return g.world_matrices(local)


def read_gltf_static(path) -> List[MeshPart]:
    r"""The static geometry of a glTF / GLB file as :class:`MeshPart` s.

    Used by :func:`read_mesh` for Draco-compressed files, which
    trimesh cannot decode. Like trimesh, every mesh node's primitives are placed
    by the node's rest-pose world matrix (skinning is not evaluated: skinned
    meshes come out in their bind shape), in scene order; UVs, normals and the
    base-colour material are kept on each part's :class:`trimesh.Trimesh`.
    """
    g = GltfFile(path)
    world = rest_world_matrices(g)
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
                                  else g.path.stem, mesh=mesh, start=0,
                                  names=(nd.name or "", g.gltf.meshes[nd.mesh].name or "")))
    return parts


__all__ = ["EXTENSIONS", "MeshFile", "MeshPart", "read_gltf_static", "read_mesh"]
