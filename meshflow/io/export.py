"""Writing animations: glTF/GLB with morph targets, NPZ, OBJ sequences.

These are the format writers behind :func:`meshflow.io.animation.save_animation`
(which reads every format back too, through :func:`~meshflow.io.animation.load_animation`).
An animation is a :class:`~meshflow.io.mesh.MeshFile` (the input scene, its
parts with their UVs and materials) plus ``vertices`` (T, N_file, 3): the
world-space position of every file vertex in every frame.

:func:`output_format` picks the format from the output path:

* ``.glb`` / ``.gltf``: the input scene, built with pygltflib from the parts: for a
  glTF input its own nodes (hierarchy, names, transforms), images (byte for byte, same
  MIME type), samplers, textures and materials (:mod:`meshflow.io.gltf_scene`), each
  mesh node's parts in its local space; for other inputs (or ``flatten``) one
  world-space node per part. One primitive per part, its vertices the part's file
  vertices in file order (``POSITION``, ``NORMAL``, ``TEXCOORD_0``, ``COLOR_0``
  as the part has them), its faces, its material (colours, textures, alpha,
  double-sidedness); then one morph target per frame on every primitive
  (``POSITION`` deltas from the rest pose, ``NORMAL`` deltas where the primitive
  has normals), and one animation whose ``weights`` channel puts weight 1 on
  target t at time t / fps (LINEAR, so viewers blend between frames). Blender,
  three.js and other glTF viewers play it as it is.
* ``.npz``: ``vertices`` (T, N, 3) float32, ``faces`` (F, 3), ``caption`` (the prompt), ``fps``
  (meshflow's animation npz, see :mod:`meshflow.io.dymesh`).
* a folder (a path ending in ``/``): ``frame_0000.obj`` ... with UVs, plus
  the material file and textures once.

Every writer writes to a temporary file beside the target and renames it into
place (:mod:`meshflow.io.atomic`), so a failure never leaves a partial output behind.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import struct
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import pygltflib
import scipy.sparse as sp
import trimesh
from scipy.sparse.csgraph import connected_components
from trimesh.exchange.obj import export_obj

from ..errors import MeshflowError
from .atomic import atomic_file, atomic_folder
from .dymesh import as_faces, as_frames
from .geometry import face_normals, unit, weld_vertices
from .gltf_scene import Slot, copy_scene, source_slots
from .mesh import MeshFile

#: file types :func:`output_format` writes (besides a folder of OBJ frames).
OUTPUT_EXTENSIONS = (".glb", ".gltf", ".npz")
_ARRAY_BUFFER = 34962
_ELEMENT_ARRAY_BUFFER = 34963
#: glTF component type of each numpy dtype meshflow writes.
_COMPONENT = {"f4": 5126, "u4": 5125, "u2": 5123, "u1": 5121}


# ------------------------------------------------------------------ paths ---
def output_format(path) -> str:
    """``'glb'``, ``'gltf'``, ``'npz'`` or ``'obj'`` (a folder: the path ends with a separator or is a directory)."""
    text = str(path)
    ext = Path(text).suffix.lower()
    if ext in OUTPUT_EXTENSIONS and Path(text).is_dir():
        raise MeshflowError(f"{text}: Expected a file path for a {ext} output (got an existing folder)")
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return "obj"
    if ext in OUTPUT_EXTENSIONS:
        return ext[1:]
    raise MeshflowError(
        f"{text}: unknown output type '{Path(text).suffix}' (expected .glb, .gltf, .npz, "
        f"or a folder ending in '/' for an OBJ sequence)"
    )


def check_output(path, inputs: Sequence = (), overwrite: bool = False) -> str:
    """Checks, before any work, that ``path`` can be written; returns its :func:`output_format`.

    Refused: an unknown type, a folder where a file is expected, one of ``inputs`` (unless
    ``overwrite``), a path below a file, and a folder this process cannot write into.
    """
    kind = output_format(path)
    out = Path(path)
    for source in inputs:
        if Path(source).exists() and out.exists() and os.path.samefile(source, out) and not overwrite:
            raise MeshflowError(f"{path}: Expected an output other than the input (got the input itself; "
                                f"pass --overwrite to replace it)")
    folder = out if kind == "obj" else out.parent
    existing = folder
    while not existing.exists():  # the writers create missing folders; the first existing one must take them
        existing = existing.parent
    if not existing.is_dir():
        raise MeshflowError(f"{path}: Expected a folder at {existing} (got a file)")
    try:  # a probe, not os.access: root passes access() on read-only mounts and /proc
        fd, probe = tempfile.mkstemp(prefix=".meshflow-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise MeshflowError(f"{path}: Expected a writable folder (got {existing}: {e.strerror.lower()})") from None
    return kind


def check_vertices(mesh: MeshFile, vertices) -> np.ndarray:
    """Validates per-frame positions of every file vertex; returns them as float32 (T, N_file, 3)."""
    v = np.asarray(vertices.detach().cpu() if hasattr(vertices, "detach") else vertices, dtype=np.float32)
    n = len(mesh.vertices)
    if v.ndim != 3 or v.shape[1:] != (n, 3) or v.shape[0] < 1:
        raise ValueError(f"Expected 'vertices' to have shape (T, {n}, 3) (got {tuple(v.shape)})")
    if not np.isfinite(v).all():
        raise ValueError("'vertices' contains NaN or infinite values")
    return np.ascontiguousarray(v)


# ---------------------------------------------------------------- normals ---
class _SurfaceNormals:
    r"""Per-frame vertex normals of a file's vertices, for parts whose file gave none.

    A file splits a vertex for two reasons: a UV seam on a smooth surface, where
    the copies should share one normal, and a hard edge, where they should not.
    Around every position, faces are joined into smoothing fans: two faces that
    share an edge of the file (its vertices not split) are always joined; two
    faces that share only the position of an edge (the file split it) are joined
    when their normals differ by less than ``crease`` degrees at rest. Across a UV
    seam the fan closes and the copies agree; across a hard edge (a cube's
    corner, the two sides of a thin sheet) each copy keeps its own side. A
    vertex's normal is the area-weighted sum of its fan(s); a vertex in no face
    gets the rest normal (+Z at rest).
    """

    def __init__(self, mesh: MeshFile, crease: float = 60.0, source_index: Optional[np.ndarray] = None):
        faces = mesh.faces
        F = len(faces)
        # The graph's file vertex -> welded vertex map when the caller has it, else the same weld here.
        source = weld_vertices(mesh.vertices)[1] if source_index is None else np.asarray(source_index)
        welded = source[faces]  # (F, 3)
        fn = unit(face_normals(mesh.vertices, faces))
        # Edge k of face f joins corners 3f + k and 3f + (k + 1) % 3; key it by its welded ends.
        k0 = np.tile(np.arange(3), F)
        k1 = (k0 + 1) % 3
        face = np.repeat(np.arange(F), 3)
        a, b = welded[face, k0], welded[face, k1]
        swap = a > b
        lo_corner = np.where(swap, 3 * face + k1, 3 * face + k0)
        hi_corner = np.where(swap, 3 * face + k0, 3 * face + k1)
        key_lo, key_hi = np.minimum(a, b), np.maximum(a, b)
        fa, fb = faces[face, k0], faces[face, k1]
        file_lo, file_hi = np.minimum(fa, fb), np.maximum(fa, fb)
        order = np.lexsort((key_hi, key_lo))
        same = (key_lo[order][1:] == key_lo[order][:-1]) & (key_hi[order][1:] == key_hi[order][:-1])
        i, j = order[:-1][same], order[1:][same]  # consecutive occurrences of one welded edge
        file_edge = (file_lo[i] == file_lo[j]) & (file_hi[i] == file_hi[j])
        gentle = (fn[face[i]] * fn[face[j]]).sum(axis=1) > np.cos(np.radians(crease))
        join = file_edge | gentle
        rows = np.concatenate([lo_corner[i][join], hi_corner[i][join]])
        cols = np.concatenate([lo_corner[j][join], hi_corner[j][join]])
        graph = sp.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(3 * F, 3 * F))
        _, self.fan = connected_components(graph, directed=False)  # (3F,) fan of every corner
        # Each file vertex sums the fans of its corners (usually one).
        corner_vertex = faces.reshape(-1)
        fans = int(self.fan.max()) + 1 if F else 1
        pairs = np.unique(corner_vertex.astype(np.int64) * fans + self.fan)
        self.pair_vertex, self.pair_fan = pairs // fans, pairs % fans
        self.corner_face = face
        self.faces, self.num = faces, len(mesh.vertices)
        self.rest = np.zeros((self.num, 3), dtype=np.float32)
        self.rest = self(mesh.vertices)
        self.rest[~np.any(self.rest != 0, axis=1)] = (0.0, 0.0, 1.0)

    def __call__(self, file_vertices: np.ndarray) -> np.ndarray:
        fn = face_normals(file_vertices, self.faces)  # area-weighted
        fans = int(self.fan.max()) + 1 if len(self.fan) else 0
        fan_sum = np.stack([np.bincount(self.fan, weights=fn[self.corner_face, d], minlength=fans)
                            for d in range(3)], axis=1)
        n = np.stack([np.bincount(self.pair_vertex, weights=fan_sum[self.pair_fan, d], minlength=self.num)
                      for d in range(3)], axis=1)
        n = unit(n).astype(np.float32)
        missing = ~np.any(n != 0, axis=1)
        n[missing] = self.rest[missing]
        return n


# ------------------------------------------------------------------- glTF ---
class _Blob:
    """The binary buffer being appended to: chunks, aligned to 4 bytes."""

    def __init__(self, initial: bytes = b""):
        self.chunks: List[bytes] = [initial]
        self.length = len(initial)

    def add(self, data: bytes) -> int:
        pad = (-self.length) % 4
        if pad:
            self.chunks.append(b"\x00" * pad)
            self.length += pad
        offset = self.length
        self.chunks.append(data)
        self.length += len(data)
        return offset


class _Document:
    """The glTF being built: a :class:`pygltflib.GLTF2` and its one binary buffer (a :class:`_Blob`)."""

    def __init__(self):
        self.gltf = pygltflib.GLTF2(asset=pygltflib.Asset(generator="meshflow (pygltflib)", version="2.0"),
                                    scene=0, scenes=[pygltflib.Scene(nodes=[])])
        self.blob = _Blob()
        self.materials = {}  # hash of a trimesh material -> its glTF index
        self.textures = {}  # encoded image bytes -> glTF texture index
        self.accessors = {}  # (digest of the data, its layout) -> glTF accessor index

    def view(self, data: bytes, target: Optional[int] = None) -> int:
        offset = self.blob.add(data)
        self.gltf.bufferViews.append(pygltflib.BufferView(buffer=0, byteOffset=offset, byteLength=len(data),
                                                          target=target))
        return len(self.gltf.bufferViews) - 1

    def accessor(self, array: np.ndarray, type_: str, *, target: Optional[int] = _ARRAY_BUFFER,
                 min_max: bool = False, normalized: bool = False) -> int:
        """A tightly packed accessor over ``array`` (float32, uint32 or uint8), in a buffer view of its own;
        the same data asked for twice (parts with the same faces or UVs, frames that repeat) is stored once."""
        array = np.ascontiguousarray(array)
        component = _COMPONENT[array.dtype.str.lstrip("<|")]
        key = (hashlib.sha256(array.tobytes()).digest(), array.shape, component, type_, target, min_max, normalized)
        if key in self.accessors:
            return self.accessors[key]
        count = array.shape[0] if type_ != "SCALAR" else array.size
        accessor = pygltflib.Accessor(bufferView=self.view(array.tobytes(), target), byteOffset=0,
                                      componentType=component, count=count, type=type_,
                                      normalized=True if normalized else None)
        if min_max:
            flat = array.reshape(count, -1)
            accessor.min = [x.item() for x in flat.min(axis=0)]
            accessor.max = [x.item() for x in flat.max(axis=0)]
        self.gltf.accessors.append(accessor)
        self.accessors[key] = len(self.gltf.accessors) - 1
        return self.accessors[key]

    def texture(self, image) -> Optional[pygltflib.TextureInfo]:
        """A texture for a PIL image, encoded as trimesh does: a JPEG stays JPEG, anything else becomes PNG."""
        if not hasattr(image, "format"):
            return None
        kind = "JPEG" if image.format == "JPEG" else "PNG"
        with io.BytesIO() as fh:
            image.save(fh, format=kind)
            data = fh.getvalue()
        if data not in self.textures:
            self.gltf.images.append(pygltflib.Image(bufferView=self.view(data), mimeType=f"image/{kind.lower()}"))
            self.gltf.textures.append(pygltflib.Texture(source=len(self.gltf.images) - 1))
            self.textures[data] = len(self.gltf.textures) - 1
        return self.textures[data]

    def material(self, material) -> int:
        """The glTF material of a trimesh material (a ``SimpleMaterial`` through its ``to_pbr``):
        base colour and its texture, metallic / roughness and their texture, emissive, normal and
        occlusion textures, alpha mode and cutoff, double-sidedness; one per distinct material."""
        key = hash(material)
        if key not in self.materials:
            pbr = material.to_pbr() if hasattr(material, "to_pbr") else material
            out = pygltflib.Material()
            if isinstance(pbr.name, str):
                out.name = pbr.name
            if pbr.emissiveFactor is not None:
                out.emissiveFactor = np.asarray(pbr.emissiveFactor, dtype=np.float64).reshape(3).tolist()
            if isinstance(pbr.alphaMode, str):
                out.alphaMode = pbr.alphaMode
            if isinstance(pbr.alphaCutoff, float):
                out.alphaCutoff = pbr.alphaCutoff
            if isinstance(pbr.doubleSided, bool):
                out.doubleSided = pbr.doubleSided
            metal, have_metal = pygltflib.PbrMetallicRoughness(), False
            if pbr.baseColorFactor is not None:
                metal.baseColorFactor = trimesh.visual.color.to_float(pbr.baseColorFactor).reshape(4).tolist()
                have_metal = True
            for name in ("metallicFactor", "roughnessFactor"):
                if isinstance(getattr(pbr, name), float):
                    setattr(metal, name, getattr(pbr, name))
                    have_metal = True
            textures = [("baseColorTexture", metal, pygltflib.TextureInfo),
                        ("emissiveTexture", out, pygltflib.TextureInfo),
                        ("normalTexture", out, pygltflib.NormalMaterialTexture),
                        ("occlusionTexture", out, pygltflib.OcclusionTextureInfo),
                        ("metallicRoughnessTexture", metal, pygltflib.TextureInfo)]
            for name, owner, kind in textures:
                image = getattr(pbr, name, None)
                index = None if image is None else self.texture(image)
                if index is not None:
                    setattr(owner, name, kind(index=index))
                    have_metal = have_metal or owner is metal
            out.pbrMetallicRoughness = metal if have_metal else None
            self.gltf.materials.append(out)
            self.materials[key] = len(self.gltf.materials) - 1
        return self.materials[key]

    def default_material(self) -> int:
        """The plain white material trimesh gives point clouds."""
        key = "points"
        if key not in self.materials:
            self.gltf.materials.append(pygltflib.Material(pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
                baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=0.0)))
            self.materials[key] = len(self.gltf.materials) - 1
        return self.materials[key]


def _has_normals(geom) -> bool:
    """Whether trimesh holds normals read from the file (rather than ones it would compute)."""
    cache = getattr(getattr(geom, "_cache", None), "cache", {})
    return "vertex_normals" in cache


def _vertex_colors(geom, n: int) -> Optional[np.ndarray]:
    """(n, 4) uint8 RGBA vertex colours of a part (vertex or face colours, a texture's ``color``), or None."""
    visual = getattr(geom, "visual", None)
    if isinstance(geom, trimesh.PointCloud):
        colors = geom.colors
    elif getattr(visual, "kind", None) in ("vertex", "face"):
        colors = visual.vertex_colors
    else:
        colors = getattr(visual, "vertex_attributes", {}).get("color")
    colors = None if colors is None else np.asarray(colors)
    if colors is None or colors.ndim != 2 or len(colors) != n or colors.shape[1] not in (3, 4):
        return None
    colors = colors.astype(np.uint8)
    if colors.shape[1] == 3:
        colors = np.concatenate([colors, np.full((n, 1), 255, dtype=np.uint8)], axis=1)
    return colors


def _add_texcoords(doc: _Document, attributes: pygltflib.Attributes, visual, n: int) -> None:
    r"""Sets ``attributes.TEXCOORD_0`` to the part's UVs when it has one for each of its ``n`` vertices
    (else leaves it unset). glTF's v runs down the image: :math:`(u, v) \mapsto (u, 1 - v)`.

    Shapes:
        ``visual.uv``: (n, 2) or wider (extra columns dropped); the accessor: (n, 2) float32.
    """
    uv = getattr(visual, "uv", None)
    if uv is None or len(uv) != n:
        return
    uv = np.asarray(uv).copy()[:, :2]
    uv[:, 1] = 1.0 - uv[:, 1]
    attributes.TEXCOORD_0 = doc.accessor(uv.astype(np.float32), "VEC2")


def _add_part(doc: _Document, part, rest: np.ndarray, v: np.ndarray, rest_normals: Optional[np.ndarray],
              frame_normals: Optional[list], slot: Optional[Slot] = None) -> pygltflib.Primitive:
    r"""One glTF primitive for ``part``: its vertices are the part's file vertices, in order, so frame
    t's morph target is ``v[t]`` minus the rest pose over the part's slice of file vertices. With a
    ``slot`` (the part's primitive in the input glTF) positions and normals are taken into the node's
    local space (:math:`x_{local} = W^{-1} x_{world}`, :math:`n_{local} \propto L^\top n_{world}`
    for the node's world matrix :math:`W` and its linear part :math:`L`), the faces and the material
    are the input's."""
    geom = part.mesh
    start, stop = part.start, part.start + part.num_vertices
    visual = getattr(geom, "visual", None)
    faces = np.asarray(geom.faces) if isinstance(geom, trimesh.Trimesh) else np.zeros((0, 3), dtype=np.int64)
    world = np.eye(4) if slot is None else slot.world
    inverse = np.linalg.inv(world)

    def local(x):  # world positions (..., n, 3) -> the node's local space, float32
        return (x.astype(np.float64) @ inverse[:3, :3].T + inverse[:3, 3]).astype(np.float32)

    def local_normals(n):  # world normals (n, 3) -> unit local normals, float32
        return trimesh.util.unitize(np.asarray(n, dtype=np.float64) @ world[:3, :3]).astype(np.float32)

    if slot is not None:
        faces = slot.faces
        rest, v = local(rest[start:stop]), local(v[:, start:stop])
        start, stop = 0, stop - start
    triangles = len(faces) > 0  # else points (a part without faces: trimesh's export dropped it)
    attributes = pygltflib.Attributes(POSITION=doc.accessor(rest[start:stop], "VEC3", min_max=True))
    prim = pygltflib.Primitive(attributes=attributes, mode=4 if triangles else 0)
    if triangles:
        prim.indices = doc.accessor(faces.astype(np.uint32).reshape(-1), "SCALAR", target=_ELEMENT_ARRAY_BUFFER,
                                    min_max=True)
        # The file's normals, else the smooth-across-UV-seams ones of _SurfaceNormals (unit, as trimesh wrote them).
        if _has_normals(geom):
            normals = geom.vertex_normals
        else:
            normals = None if rest_normals is None else rest_normals[part.start:part.start + part.num_vertices]
        if normals is not None:
            normals = local_normals(normals)
            attributes.NORMAL = doc.accessor(normals, "VEC3")
    colors = _vertex_colors(geom, stop - start)
    if colors is not None:
        attributes.COLOR_0 = doc.accessor(colors, "VEC4", normalized=True)
    if slot is not None and slot.material is not None:
        prim.material = slot.material
        _add_texcoords(doc, attributes, visual, stop - start)
    elif getattr(visual, "material", None) is not None:
        prim.material = doc.material(visual.material)
        _add_texcoords(doc, attributes, visual, stop - start)
    elif isinstance(geom, trimesh.PointCloud):
        prim.material = doc.default_material()

    T = v.shape[0]
    with_normals = frame_normals is not None and attributes.NORMAL is not None
    prim.targets = []
    for t in range(T):
        target = pygltflib.Attributes(POSITION=doc.accessor(v[t, start:stop] - rest[start:stop], "VEC3",
                                                            min_max=True))
        if with_normals:
            delta = frame_normals[t][part.start:part.start + part.num_vertices]
            if slot is not None:  # the same change of the (unit) normal, seen from the node
                base = rest_normals[part.start:part.start + part.num_vertices]
                delta = local_normals(base + delta) - local_normals(base)
            target.NORMAL = doc.accessor(np.ascontiguousarray(delta, dtype=np.float32), "VEC3")
        prim.targets.append(target)
    return prim


def _mesh(name, primitives: list, frames: int) -> pygltflib.Mesh:
    """A glTF mesh of animated primitives with ``frames`` morph targets each."""
    return pygltflib.Mesh(name=name, primitives=primitives,
                          weights=[1.0] + [0.0] * (frames - 1),  # a viewer that does not play animations shows frame 0
                          extras={"targetNames": [f"frame_{t:04d}" for t in range(frames)]})


def gltf_document(mesh: MeshFile, vertices, *, fps: float = 24.0, loop: bool = False, normals: bool = True,
                  prompt: str = "", name: str = "meshflow", source_index: Optional[np.ndarray] = None,
                  flatten: bool = False):
    """Builds the animated glTF: ``(pygltflib.GLTF2, binary buffer)``.

    Every part becomes one primitive whose vertices are the part's file vertices in file order:
    ``POSITION`` (the rest pose), ``NORMAL``, ``TEXCOORD_0`` and ``COLOR_0`` where the part has them,
    its faces as indices (points without), its material; then one morph target per frame and the
    animation that plays them. When ``mesh`` was read from a glTF whose primitives are its parts, the
    input's scene is kept: its nodes (names, hierarchy, transforms), images (the same bytes and MIME
    type), samplers, textures and materials, each mesh node getting one mesh of its parts' primitives
    in its local space. Otherwise (or with ``flatten``) every part becomes one node of its own, named
    as the part, in world space without a transform.

    Args:
        mesh: the input scene.
        vertices: (T, N_file, 3) world-space positions of every file vertex per frame.
        fps: playback rate; frame t is shown at t / fps seconds.
        loop: add a closing keyframe at T / fps equal to frame 0, so a looping
            player blends the last frame into the first instead of jumping.
        normals: add per-frame ``NORMAL`` deltas to primitives that have normals (and give a part
            whose file had none the smooth normals of :class:`_SurfaceNormals`).
        prompt: recorded in the animation's ``extras``.
        name: the animation's name.
        source_index: (N_file,) file vertex -> graph vertex, when the caller has it
            (the pipeline does); otherwise the normals weld the file's vertices themselves.
        flatten: one world-space node per part even for a glTF input.
    """
    v = check_vertices(mesh, vertices)
    if fps <= 0:
        raise ValueError(f"Expected 'fps' > 0 (got {fps})")
    T = v.shape[0]
    rest = np.ascontiguousarray(mesh.vertices, dtype=np.float32)
    frame_normals = rest_normals = None
    if normals and len(mesh.faces):
        surface = _SurfaceNormals(mesh, source_index=source_index)
        rest_normals = surface.rest
        frame_normals = [surface(v[t]) - rest_normals for t in range(T)]

    doc = _Document()
    gltf = doc.gltf
    source = None if flatten else source_slots(mesh)
    if source is None:
        for part in mesh.parts:
            gltf.meshes.append(_mesh(part.name, [_add_part(doc, part, rest, v, rest_normals, frame_normals)], T))
            gltf.nodes.append(pygltflib.Node(name=part.name, mesh=len(gltf.meshes) - 1))
            gltf.scenes[0].nodes.append(len(gltf.nodes) - 1)
    else:
        g, slots = source
        copy_scene(gltf, g, doc.view)
        by_node = {}
        for part, slot in zip(mesh.parts, slots):
            by_node.setdefault(slot.node, []).append(_add_part(doc, part, rest, v, rest_normals, frame_normals, slot))
        for node, primitives in by_node.items():
            source_mesh = g.gltf.meshes[g.gltf.nodes[node].mesh]
            gltf.meshes.append(_mesh(source_mesh.name or gltf.nodes[node].name, primitives, T))
            gltf.nodes[node].mesh = len(gltf.meshes) - 1

    keys = T + 1 if loop else T
    times = np.arange(keys, dtype=np.float32) / np.float32(fps)
    weights = np.eye(keys, T, dtype=np.float32)
    if loop:
        weights[T, 0] = 1.0
    time_accessor = doc.accessor(times, "SCALAR", target=None, min_max=True)
    weight_accessor = doc.accessor(weights.reshape(-1), "SCALAR", target=None)
    sampler = pygltflib.AnimationSampler(input=time_accessor, output=weight_accessor, interpolation="LINEAR")
    channels = [pygltflib.AnimationChannel(sampler=0, target=pygltflib.AnimationChannelTarget(node=i, path="weights"))
                for i, node in enumerate(gltf.nodes) if node.mesh is not None]
    gltf.animations = [pygltflib.Animation(
        name=name, samplers=[sampler], channels=channels,
        extras={"meshflow": {"frames": T, "fps": float(fps), "loop": bool(loop), "prompt": prompt}})]
    gltf.buffers = [pygltflib.Buffer(byteLength=doc.blob.length)]
    return gltf, doc.blob


def _write_glb(fh, gltf, blob: _Blob) -> None:
    text = gltf.gltf_to_json(separators=(",", ":"), indent=None).encode("utf-8")
    text += b" " * ((-len(text)) % 4)
    bin_pad = (-blob.length) % 4
    bin_length = blob.length + bin_pad
    total = 12 + 8 + len(text) + 8 + bin_length
    fh.write(struct.pack("<4sII", b"glTF", 2, total))
    fh.write(struct.pack("<I4s", len(text), b"JSON"))
    fh.write(text)
    fh.write(struct.pack("<I4s", bin_length, b"BIN\x00"))
    for chunk in blob.chunks:
        fh.write(chunk)
    fh.write(b"\x00" * bin_pad)


def write_gltf(path, mesh: MeshFile, vertices, *, fps: float = 24.0, loop: bool = False, normals: bool = True,
               prompt: str = "", source_index: Optional[np.ndarray] = None, flatten: bool = False) -> Path:
    """Writes an animated ``.glb`` (binary) or ``.gltf`` (JSON, buffer embedded); see :func:`gltf_document`."""
    path = Path(path)
    gltf, blob = gltf_document(mesh, vertices, fps=fps, loop=loop, normals=normals, prompt=prompt,
                               source_index=source_index, flatten=flatten)
    return write_document(path, gltf, blob)


def write_document(path, gltf, blob: _Blob) -> Path:
    """Writes a built document atomically: ``.glb`` (binary) or ``.gltf`` (JSON, buffer as a data URI)."""
    path = Path(path)
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as fh:
            if path.suffix.lower() == ".gltf":
                data = b"".join(blob.chunks)
                gltf.buffers[0].uri = "data:application/octet-stream;base64," + base64.b64encode(data).decode("ascii")
                gltf.buffers[0].byteLength = len(data)
                fh.write(gltf.gltf_to_json().encode("utf-8"))
            else:
                _write_glb(fh, gltf, blob)
    return path


# -------------------------------------------------------------- NPZ / OBJ ---
def write_npz(path, vertices, faces, *, fps: Optional[float] = None, prompt: str = "") -> Path:
    """Writes meshflow's animation npz (:mod:`meshflow.io.dymesh`): ``vertices`` (T, N, 3) float32,
    ``faces`` (F, 3) int64, ``caption`` (the prompt) and, when given, ``fps``."""
    path = Path(path)
    v = as_frames(np.asarray(vertices.detach().cpu() if hasattr(vertices, "detach") else vertices), path)
    f = as_faces(np.asarray(faces), path)
    if f.size and (f.min() < 0 or f.max() >= v.shape[1]):
        raise ValueError(f"Face indices must lie in [0, {v.shape[1]}) (got [{f.min()}, {f.max()}])")
    if not np.isfinite(v).all():
        raise ValueError("'vertices' contains NaN or infinite values")
    arrays = {"vertices": v, "faces": f, "caption": np.array(str(prompt))}
    if fps is not None:
        arrays["fps"] = np.array(float(fps))
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as fh:  # an open file: numpy would otherwise append '.npz' to the name
            np.savez_compressed(fh, **arrays)
    return path


def write_obj_sequence(folder, mesh: MeshFile, vertices, *, digits: int = 8) -> Path:
    """Writes ``frame_0000.obj``, ``frame_0001.obj``, ... (UVs kept) and, once, ``material.mtl`` and its textures."""
    folder = Path(str(folder).rstrip("/" + os.sep) or ".")
    v = check_vertices(mesh, vertices)
    with atomic_folder(folder) as tmp:
        for t in range(v.shape[0]):
            scene = trimesh.Scene()
            for i, part in enumerate(mesh.parts):
                geom = part.mesh.copy()
                geom.vertices = v[t, part.start:part.start + part.num_vertices].astype(np.float64)
                scene.add_geometry(geom, geom_name=part.name, node_name=part.name)
            text, files = export_obj(scene, include_normals=False, return_texture=True, digits=digits,
                                     mtl_name="material.mtl")
            (tmp / f"frame_{t:04d}.obj").write_text(text)
            if t == 0:
                for name, data in files.items():
                    (tmp / name).write_bytes(data)
    return folder


__all__ = ["OUTPUT_EXTENSIONS", "check_vertices", "gltf_document", "output_format", "write_gltf", "write_npz",
           "write_obj_sequence"]
