"""Writing animations: glTF/GLB with morph targets, NPZ, OBJ sequences; reading them back.

An animation is a :class:`~meshflow.io.mesh.MeshFile` (the input scene, its
parts with their UVs and materials) plus ``vertices`` (T, N_file, 3): the
world-space position of every file vertex in every frame.

:func:`save_animation` picks the format from the output path:

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
place, so a failure never leaves a partial output behind.
:func:`read_animation` reads ``.glb``/``.gltf`` (morph-target animations) and
``.npz`` back as frames.
"""
from __future__ import annotations

import base64
import copy
import os
import shutil
import struct
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

import numpy as np

from ..errors import MeshFileError, MeshflowError
from .mesh import MeshFile

ANIMATION_EXTENSIONS = (".glb", ".gltf", ".npz")
_ARRAY_BUFFER = 34962
_ELEMENT_ARRAY_BUFFER = 34963
_FLOAT = 5126
_COMPONENT_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_TYPE_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


@dataclass
class AnimationFile:
    """An animation read back from disk.

    Attributes:
        vertices: (T, N, 3) float32 world-space positions per frame.
        faces: (F, 3) int64 triangles over the N vertices ((0, 3) for point clouds).
        fps: frames per second.
        prompt: the text prompt, when the file records one.
    """

    vertices: np.ndarray
    faces: np.ndarray
    fps: float = 24.0
    prompt: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.vertices.shape[0])


# ------------------------------------------------------------------ paths ---
def output_format(path) -> str:
    """``'glb'``, ``'gltf'``, ``'npz'`` or ``'obj'`` (a folder: the path ends with a separator or is a directory)."""
    text = str(path)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return "obj"
    ext = Path(text).suffix.lower()
    if ext in ANIMATION_EXTENSIONS:
        return ext[1:]
    raise MeshflowError(
        f"{text}: unknown output type '{Path(text).suffix}' (expected .glb, .gltf, .npz, "
        f"or a folder ending in '/' for an OBJ sequence)"
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it onto ``path`` if the block succeeds, deletes it otherwise.

    ``suffix`` ends the temporary name (for writers that choose the format from it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_folder(path) -> Iterator[Path]:
    """Yields a temporary folder beside ``path``; moves its files into ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if not path.exists():
            os.replace(tmp, path)
        else:
            if not path.is_dir():
                raise MeshflowError(f"{path}: exists and is not a folder")
            for item in sorted(tmp.iterdir()):
                os.replace(item, path / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
def _face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted face normals (F, 3) in float64 (length = twice the area)."""
    v = vertices.astype(np.float64, copy=False)
    return np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])


def _unit(x: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(length > 0, length, 1.0)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals, (N, 3); vertices in no face get (0, 0, 0)."""
    n = np.zeros((len(vertices), 3), dtype=np.float64)
    if len(faces) == 0:
        return n.astype(np.float32)
    fn = _face_normals(vertices, faces)
    for k in range(3):
        n += np.stack([np.bincount(faces[:, k], weights=fn[:, d], minlength=len(vertices)) for d in range(3)], axis=1)
    return _unit(n).astype(np.float32)


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

    def __init__(self, mesh: MeshFile, crease: float = 60.0):
        import scipy.sparse as sp
        from scipy.sparse.csgraph import connected_components

        from ..data.graph import weld_vertices

        faces = mesh.faces
        F = len(faces)
        _, source = weld_vertices(mesh.vertices)
        welded = source[faces]  # (F, 3)
        fn = _unit(_face_normals(mesh.vertices, faces))
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
        fn = _face_normals(file_vertices, self.faces)  # area-weighted
        fans = int(self.fan.max()) + 1 if len(self.fan) else 0
        fan_sum = np.stack([np.bincount(self.fan, weights=fn[self.corner_face, d], minlength=fans)
                            for d in range(3)], axis=1)
        n = np.stack([np.bincount(self.pair_vertex, weights=fan_sum[self.pair_fan, d], minlength=self.num)
                      for d in range(3)], axis=1)
        n = _unit(n).astype(np.float32)
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
    import pygltflib

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
    import trimesh

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


def _primitive_map(gltf, blob: bytes, prim, part_vertices: np.ndarray) -> np.ndarray:
    """Index of each exported vertex of ``prim`` into its part's vertices (the identity when trimesh kept the order)."""
    positions = _read_accessor(gltf, prim.attributes.POSITION, blob)
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
                  prompt: str = "", name: str = "meshflow"):
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
    """
    import pygltflib

    v = check_vertices(mesh, vertices)
    if fps <= 0:
        raise ValueError(f"Expected 'fps' > 0 (got {fps})")
    T = v.shape[0]
    rest = mesh.vertices.astype(np.float32)
    frame_normals = rest_normals = None
    if normals and len(mesh.faces):
        surface = _SurfaceNormals(mesh)
        rest_normals = surface.rest
        frame_normals = [surface(v[t]) - rest_normals for t in range(T)]
    gltf = pygltflib.GLTF2.load_from_bytes(_scene_bytes(mesh, rest_normals))
    base_blob = gltf.binary_blob() or b""
    blob = _Blob(base_blob)

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
            order = _primitive_map(gltf, base_blob, prim, rest[start:stop]) + start
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
               prompt: str = "") -> Path:
    """Writes an animated ``.glb`` (binary) or ``.gltf`` (JSON, buffer embedded); see :func:`gltf_document`."""
    path = Path(path)
    gltf, blob = gltf_document(mesh, vertices, fps=fps, loop=loop, normals=normals, prompt=prompt)
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
def write_npz(path, mesh: MeshFile, vertices, *, fps: float = 24.0, prompt: str = "") -> Path:
    """Writes meshflow's animation npz (:mod:`meshflow.io.dymesh`): ``vertices`` (T, N, 3) float32,
    ``faces`` (F, 3) int64, ``caption`` (the prompt) and ``fps``."""
    path = Path(path)
    v = check_vertices(mesh, vertices)
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as fh:  # an open file: numpy would otherwise append '.npz' to the name
            np.savez_compressed(fh, vertices=v, faces=mesh.faces.astype(np.int64), fps=np.array(float(fps)),
                                caption=np.array(str(prompt)))
    return path


def write_obj_sequence(folder, mesh: MeshFile, vertices, *, digits: int = 8) -> Path:
    """Writes ``frame_0000.obj``, ``frame_0001.obj``, ... (UVs kept) and, once, ``material.mtl`` and its textures."""
    import trimesh
    from trimesh.exchange.obj import export_obj

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


def save_animation(path, mesh: MeshFile, vertices, *, fps: float = 24.0, loop: bool = False, prompt: str = "",
                   normals: bool = True) -> Path:
    """Writes an animation, choosing the format from ``path`` (see :func:`output_format`)."""
    kind = output_format(path)
    if kind in ("glb", "gltf"):
        return write_gltf(path, mesh, vertices, fps=fps, loop=loop, normals=normals, prompt=prompt)
    if kind == "npz":
        return write_npz(path, mesh, vertices, fps=fps, prompt=prompt)
    return write_obj_sequence(path, mesh, vertices)


# ---------------------------------------------------------------- reading ---
def _buffer_data(gltf, index: int, base: Path, blob: Optional[bytes]) -> bytes:
    buffer = gltf.buffers[index]
    if buffer.uri is None:
        if blob is None:
            raise ValueError("buffer without uri and no binary chunk")
        return blob
    if buffer.uri.startswith("data:"):
        return base64.b64decode(buffer.uri.split(",", 1)[1])
    return (base / buffer.uri).read_bytes()


def _read_accessor(gltf, index: int, blob: bytes, base: Path = Path("."), cache: Optional[dict] = None) -> np.ndarray:
    """An accessor's data as an array (count, components) or (count,) for scalars."""
    accessor = gltf.accessors[index]
    if accessor.sparse is not None:
        raise ValueError("sparse accessors are not supported")
    width = _TYPE_SIZES[accessor.type]
    dtype = np.dtype(_COMPONENT_DTYPES[accessor.componentType])
    if accessor.bufferView is None:
        return np.zeros((accessor.count, width) if width > 1 else accessor.count, dtype=dtype)
    view = gltf.bufferViews[accessor.bufferView]
    key = view.buffer
    if cache is not None and key in cache:
        data = cache[key]
    else:
        data = _buffer_data(gltf, view.buffer, base, blob)
        if cache is not None:
            cache[key] = data
    start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    item = dtype.itemsize * width
    stride = view.byteStride or item
    if stride == item:
        out = np.frombuffer(data, dtype=dtype, count=accessor.count * width, offset=start)
    else:
        raw = np.frombuffer(data, dtype=np.uint8, count=stride * (accessor.count - 1) + item, offset=start)
        rows = np.lib.stride_tricks.as_strided(raw, shape=(accessor.count, item), strides=(stride, 1))
        out = np.ascontiguousarray(rows).view(dtype).reshape(-1)
    out = out.reshape(accessor.count, width) if width > 1 else out
    if accessor.normalized and dtype.kind in "iu":
        out = out.astype(np.float32) / np.iinfo(dtype).max
    return out


def _node_matrix(node) -> np.ndarray:
    if node.matrix is not None:
        return np.asarray(node.matrix, dtype=np.float64).reshape(4, 4).T  # glTF stores column-major
    m = np.eye(4)
    if node.scale is not None:
        m = np.diag(list(node.scale) + [1.0]) @ m
    if node.rotation is not None:
        x, y, z, w = node.rotation
        r = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ])
        rot = np.eye(4)
        rot[:3, :3] = r
        m = rot @ m
    if node.translation is not None:
        tr = np.eye(4)
        tr[:3, 3] = node.translation
        m = tr @ m
    return m


def _read_gltf_animation(path: Path) -> AnimationFile:
    import pygltflib

    try:
        gltf = pygltflib.GLTF2().load(str(path))
    except Exception as e:  # pygltflib raises many types on malformed input
        raise MeshFileError(path, f"not a readable glTF file ({type(e).__name__}: {e})") from None
    if gltf is None:
        raise MeshFileError(path, "not a readable glTF file")
    blob = gltf.binary_blob()
    base = path.parent
    cache: dict = {}
    read = lambda i: _read_accessor(gltf, i, blob, base, cache)  # noqa: E731

    # Keyframe times and per-node weights from the first animation's weight channels.
    node_weights, times, extras = {}, None, {}
    if gltf.animations:
        animation = gltf.animations[0]
        extras = (animation.extras or {}).get("meshflow", {})
        for channel in animation.channels:
            if channel.target.path != "weights" or channel.target.node is None:
                continue
            sampler = animation.samplers[channel.sampler]
            keys = read(sampler.input).astype(np.float64).reshape(-1)
            values = read(sampler.output).astype(np.float32).reshape(-1)
            if sampler.interpolation == "CUBICSPLINE":
                values = values.reshape(len(keys), 3, -1)[:, 1]  # keep the values, drop the tangents
            node_weights[channel.target.node] = values.reshape(len(keys), -1)
            if times is None or len(keys) > len(times):
                times = keys

    scene_index = gltf.scene if gltf.scene is not None else 0
    roots = gltf.scenes[scene_index].nodes if gltf.scenes else list(range(len(gltf.nodes)))
    stack = [(i, np.eye(4)) for i in roots]
    frames, faces, count = [], [], 0
    while stack:
        index, parent = stack.pop(0)
        node = gltf.nodes[index]
        world = parent @ _node_matrix(node)
        stack.extend((c, world) for c in (node.children or []))
        if node.mesh is None:
            continue
        gmesh = gltf.meshes[node.mesh]
        weights = node_weights.get(index)
        if weights is None:
            default = getattr(node, "weights", None) or getattr(gmesh, "weights", None)  # pygltflib: Node has none
            weights = np.asarray([default], dtype=np.float32) if default else None
        for prim in gmesh.primitives:
            if prim.attributes.POSITION is None:
                continue
            base_pos = read(prim.attributes.POSITION).astype(np.float32)
            pos = np.repeat(base_pos[None], 1 if weights is None else len(weights), axis=0)
            if weights is not None:
                for k, target in enumerate(prim.targets or []):
                    delta = target.get("POSITION") if isinstance(target, dict) else target.POSITION
                    if delta is not None and k < weights.shape[1]:
                        pos = pos + weights[:, k, None, None] * read(delta).astype(np.float32)[None]
            homog = np.concatenate([pos, np.ones(pos.shape[:2] + (1,), dtype=np.float32)], axis=-1)
            frames.append((homog @ world.T.astype(np.float32))[..., :3])
            if prim.mode in (None, 4):
                idx = read(prim.indices).astype(np.int64).reshape(-1, 3) if prim.indices is not None \
                    else np.arange(len(base_pos)).reshape(-1, 3)
                faces.append(idx + count)
            count += len(base_pos)
    if not frames:
        raise MeshFileError(path, "contains no mesh primitives")
    num_frames = max(len(f) for f in frames)
    frames = [np.repeat(f, num_frames, axis=0) if len(f) == 1 else f for f in frames]
    if any(len(f) != num_frames for f in frames):
        raise MeshFileError(path, "meshes are animated with different keyframe counts")
    vertices = np.concatenate(frames, axis=1)
    # A looping file closes with a keyframe equal to the first; drop it so frames are unique.
    total = extras.get("frames")
    if isinstance(total, int) and 0 < total < len(vertices):
        vertices = vertices[:total]
    fps = float(extras.get("fps") or 0.0)
    if not fps and times is not None and len(times) > 1 and times[1] > times[0]:
        fps = float(1.0 / (times[1] - times[0]))
    return AnimationFile(vertices=np.ascontiguousarray(vertices, dtype=np.float32),
                         faces=np.concatenate(faces) if faces else np.zeros((0, 3), dtype=np.int64),
                         fps=fps or 24.0, prompt=str(extras.get("prompt", "")))


def read_animation(path) -> AnimationFile:
    """Reads an animation written by :func:`save_animation` (``.glb``, ``.gltf`` or ``.npz``).

    glTF files are evaluated at the keyframes of their first animation: the
    morph targets weighted by the animated weights, under each node's world
    transform. A file without animation reads as a single frame.

    Raises:
        MeshFileError: a missing or unreadable file, an unknown extension, an NPZ without
            ``vertices`` and ``faces``.
    """
    path = Path(path)
    if not path.is_file():
        raise MeshFileError(path, "file not found")
    ext = path.suffix.lower()
    if ext not in ANIMATION_EXTENSIONS:
        raise MeshFileError(path, f"unknown animation type '{path.suffix}' (expected .glb, .gltf or .npz)")
    if ext != ".npz":
        return _read_gltf_animation(path)
    from .dymesh import load_npz_animation  # meshflow's animation npz, shared with the data tools

    sample = load_npz_animation(path)
    return AnimationFile(vertices=sample["vertices"], faces=sample["faces"], fps=float(sample.get("fps", 24.0)),
                         prompt=sample["caption"])


__all__ = [
    "ANIMATION_EXTENSIONS",
    "AnimationFile",
    "atomic_file",
    "atomic_folder",
    "gltf_document",
    "output_format",
    "read_animation",
    "save_animation",
    "vertex_normals",
    "write_gltf",
    "write_npz",
    "write_obj_sequence",
]
