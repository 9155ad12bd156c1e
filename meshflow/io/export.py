"""Writing animations: glTF/GLB with morph targets, NPZ, OBJ sequences.

These are the format writers behind :func:`meshflow.io.animation.save_animation`
(which reads every format back too, through :func:`~meshflow.io.animation.load_animation`).
An animation is a :class:`~meshflow.io.mesh.MeshFile` (the input scene, its
parts with their UVs and materials) plus ``vertices`` (T, N_file, 3): the
world-space position of every file vertex in every frame.

:func:`output_format` picks the format from the output path:

* ``.glb`` / ``.gltf``: the input scene written by trimesh (primitives,
  materials, textures, UVs as they were), then one morph target per frame
  added to every primitive with pygltflib (``POSITION`` deltas from the rest
  pose, ``NORMAL`` deltas where the primitive has normals), and one animation
  whose ``weights`` channel puts weight 1 on target t at time t / fps (LINEAR,
  so viewers blend between frames). Blender, three.js and other glTF viewers
  play it as it is.
* ``.npz``: ``vertices`` (T, N, 3) float32, ``faces`` (F, 3), ``caption`` (the prompt), ``fps``
  (meshflow's animation npz, see :mod:`meshflow.io.dymesh`).
* a folder (a path ending in ``/``): ``frame_0000.obj`` ... with UVs, plus
  the material file and textures once.

Every writer writes to a temporary file beside the target and renames it into
place (:mod:`meshflow.io.atomic`), so a failure never leaves a partial output behind.
"""
from __future__ import annotations

import base64
import copy
import os
import struct
from pathlib import Path
from typing import List, Optional

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
from .gltf import GltfFile
from .mesh import MeshFile

#: file types :func:`output_format` writes (besides a folder of OBJ frames).
OUTPUT_EXTENSIONS = (".glb", ".gltf", ".npz")
_ARRAY_BUFFER = 34962
_ELEMENT_ARRAY_BUFFER = 34963
_FLOAT = 5126


# ------------------------------------------------------------------ paths ---
def output_format(path) -> str:
    """``'glb'``, ``'gltf'``, ``'npz'`` or ``'obj'`` (a folder: the path ends with a separator or is a directory)."""
    text = str(path)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return "obj"
    ext = Path(text).suffix.lower()
    if ext in OUTPUT_EXTENSIONS:
        return ext[1:]
    raise MeshflowError(
        f"{text}: unknown output type '{Path(text).suffix}' (expected .glb, .gltf, .npz, "
        f"or a folder ending in '/' for an OBJ sequence)"
    )


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

    def __init__(self, initial: bytes):
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


def _add_accessor(gltf, blob: _Blob, array: np.ndarray, type_: str, vertex_attribute: bool, min_max: bool) -> int:
    array = np.ascontiguousarray(array, dtype=np.float32)
    offset = blob.add(array.tobytes())
    gltf.bufferViews.append(pygltflib.BufferView(
        buffer=0, byteOffset=offset, byteLength=array.nbytes,
        target=_ARRAY_BUFFER if vertex_attribute else None))
    count = array.shape[0]
    accessor = pygltflib.Accessor(bufferView=len(gltf.bufferViews) - 1, byteOffset=0, componentType=_FLOAT,
                                  count=count, type=type_)
    if min_max:
        flat = array.reshape(count, -1)
        accessor.min = [float(x) for x in flat.min(axis=0)]
        accessor.max = [float(x) for x in flat.max(axis=0)]
    gltf.accessors.append(accessor)
    return len(gltf.accessors) - 1


def _has_normals(geom) -> bool:
    """Whether trimesh holds normals read from the file (rather than ones it would compute)."""
    cache = getattr(getattr(geom, "_cache", None), "cache", {})
    return "vertex_normals" in cache


def _scene_bytes(mesh: MeshFile, rest_normals: Optional[np.ndarray]) -> bytes:
    """The input parts as a GLB (trimesh keeps their visuals), one node per part named ``meshflow_part_<i>``.

    A part whose file gave no normals gets ``rest_normals`` (smooth across UV seams,
    see :class:`_SurfaceNormals`) rather than trimesh's per-part normals, which would show a seam.
    """
    scene = trimesh.Scene()
    for i, part in enumerate(mesh.parts):
        geom = part.mesh
        if rest_normals is not None and isinstance(geom, trimesh.Trimesh) and len(geom.faces) \
                and not _has_normals(geom):
            geom = geom.copy()
            geom.vertex_normals = rest_normals[part.start:part.start + part.num_vertices]
        scene.add_geometry(geom, geom_name=f"meshflow_part_{i}", node_name=f"meshflow_part_{i}")
    return scene.export(file_type="glb")


def _set_view_targets(gltf, prim) -> None:
    """Marks the buffer views of a primitive's vertex attributes and indices (a hint the glTF validator gives)."""
    attributes = [i for i in prim.attributes.__dict__.values() if isinstance(i, int)]
    for index, target in [(i, _ARRAY_BUFFER) for i in attributes] + [(prim.indices, _ELEMENT_ARRAY_BUFFER)]:
        if index is not None and gltf.accessors[index].bufferView is not None:
            view = gltf.bufferViews[gltf.accessors[index].bufferView]
            if view.target is None:
                view.target = target


def _primitive_map(reader: GltfFile, prim, part_vertices: np.ndarray) -> np.ndarray:
    """Index of each exported vertex of ``prim`` into its part's vertices (the identity when trimesh kept the order)."""
    positions = reader.accessor(prim.attributes.POSITION)
    if positions.shape == part_vertices.shape and np.array_equal(positions, part_vertices):
        return np.arange(len(part_vertices))
    # Fall back to matching exact positions; vertices at one position share a trajectory
    # when they come from the pipeline (they were welded into one graph vertex).
    lookup = {row.tobytes(): i for i, row in enumerate(part_vertices)}
    try:
        return np.array([lookup[row.tobytes()] for row in positions], dtype=np.int64)
    except KeyError:
        raise RuntimeError("glTF export changed a part's vertex positions; cannot map the animation onto it") from None


def gltf_document(mesh: MeshFile, vertices, *, fps: float = 24.0, loop: bool = False, normals: bool = True,
                  prompt: str = "", name: str = "meshflow", source_index: Optional[np.ndarray] = None):
    """Builds the animated glTF: ``(pygltflib.GLTF2, binary buffer)``.

    Args:
        mesh: the input scene.
        vertices: (T, N_file, 3) world-space positions of every file vertex per frame.
        fps: playback rate; frame t is shown at t / fps seconds.
        loop: add a closing keyframe at T / fps equal to frame 0, so a looping
            player blends the last frame into the first instead of jumping.
        normals: add per-frame ``NORMAL`` deltas to primitives that have normals.
        prompt: recorded in the animation's ``extras``.
        name: the animation's name.
        source_index: (N_file,) file vertex -> graph vertex, when the caller has it
            (the pipeline does); otherwise the normals weld the file's vertices themselves.
    """
    v = check_vertices(mesh, vertices)
    if fps <= 0:
        raise ValueError(f"Expected 'fps' > 0 (got {fps})")
    T = v.shape[0]
    rest = mesh.vertices.astype(np.float32)
    frame_normals = rest_normals = None
    if normals and len(mesh.faces):
        surface = _SurfaceNormals(mesh, source_index=source_index)
        rest_normals = surface.rest
        frame_normals = [surface(v[t]) - rest_normals for t in range(T)]
    gltf = pygltflib.GLTF2.load_from_bytes(_scene_bytes(mesh, rest_normals))
    reader = GltfFile(mesh.path, document=gltf)  # reads back what trimesh wrote
    blob = _Blob(gltf.binary_blob() or b"")

    target_names = [f"frame_{t:04d}" for t in range(T)]
    animated_nodes = []
    used_meshes = set()
    for node_index, node in enumerate(gltf.nodes):
        if node.mesh is None:
            continue
        if node.mesh in used_meshes:  # an instanced mesh: give this node its own copy
            gltf.meshes.append(copy.deepcopy(gltf.meshes[node.mesh]))
            node.mesh = len(gltf.meshes) - 1
        used_meshes.add(node.mesh)
        gmesh = gltf.meshes[node.mesh]
        if not (node.name or "").startswith("meshflow_part_"):
            raise RuntimeError(f"unexpected node '{node.name}' in trimesh's glTF export")
        part = mesh.parts[int(node.name.rsplit("_", 1)[1])]
        node.name = gmesh.name = part.name
        start, stop = part.start, part.start + part.num_vertices
        for prim in gmesh.primitives:
            _set_view_targets(gltf, prim)
            order = _primitive_map(reader, prim, rest[start:stop]) + start
            prim_rest = rest[order]
            with_normals = frame_normals is not None and prim.attributes.NORMAL is not None
            prim.targets = []
            for t in range(T):
                delta = v[t][order] - prim_rest
                target = pygltflib.Attributes(POSITION=_add_accessor(gltf, blob, delta, "VEC3", True, True))
                if with_normals:
                    target.NORMAL = _add_accessor(gltf, blob, frame_normals[t][order], "VEC3", True, False)
                prim.targets.append(target)
        gmesh.weights = [1.0] + [0.0] * (T - 1)  # a viewer that does not play animations shows frame 0
        gmesh.extras = {**(gmesh.extras or {}), "targetNames": target_names}
        animated_nodes.append(node_index)

    keys = T + 1 if loop else T
    times = np.arange(keys, dtype=np.float32) / np.float32(fps)
    weights = np.eye(keys, T, dtype=np.float32)
    if loop:
        weights[T, 0] = 1.0
    time_accessor = _add_accessor(gltf, blob, times, "SCALAR", False, True)
    weight_accessor = _add_accessor(gltf, blob, weights.reshape(-1), "SCALAR", False, False)
    sampler = pygltflib.AnimationSampler(input=time_accessor, output=weight_accessor, interpolation="LINEAR")
    channels = [pygltflib.AnimationChannel(sampler=0, target=pygltflib.AnimationChannelTarget(node=i, path="weights"))
                for i in animated_nodes]
    gltf.animations = [pygltflib.Animation(
        name=name, samplers=[sampler], channels=channels,
        extras={"meshflow": {"frames": T, "fps": float(fps), "loop": bool(loop), "prompt": prompt}})]
    gltf.buffers[0].byteLength = blob.length
    gltf.buffers[0].uri = None
    gltf.asset.generator = "meshflow (trimesh + pygltflib)"
    return gltf, blob


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
               prompt: str = "", source_index: Optional[np.ndarray] = None) -> Path:
    """Writes an animated ``.glb`` (binary) or ``.gltf`` (JSON, buffer embedded); see :func:`gltf_document`."""
    path = Path(path)
    gltf, blob = gltf_document(mesh, vertices, fps=fps, loop=loop, normals=normals, prompt=prompt,
                               source_index=source_index)
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
