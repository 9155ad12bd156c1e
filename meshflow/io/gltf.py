r"""A small glTF 2.0 reader on top of :mod:`pygltflib`, for geometry and animation.

:class:`GltfFile` turns a ``.gltf`` / ``.glb`` file into numpy arrays:

* accessors (:meth:`GltfFile.accessor`): every component type, byte strides,
  normalised integers (mapped to floats as the specification says), sparse
  substitution, matrix column padding;
* the node hierarchy: parents, depths, rest-pose translation / rotation / scale
  (:attr:`GltfFile.rest_trs`) and world matrices for any batch of local matrices
  (:meth:`GltfFile.world_matrices`);
* mesh primitives (:meth:`GltfFile.primitives`): positions, triangles (lists,
  strips and fans), every ``JOINTS_n`` / ``WEIGHTS_n`` set, morph-target position
  deltas; Draco-compressed primitives (``KHR_draco_mesh_compression``) are
  decoded with DracoPy;
* skins (:attr:`GltfFile.skins`) and animations (:attr:`GltfFile.clips`) as
  keyframe arrays.

The only glTF reader of meshflow: Draco meshes (:mod:`meshflow.io.mesh`), sampling
and reading animations back (:mod:`meshflow.io.animation`, which evaluates them) and
the exporter all read through it. Quaternions are ``(x, y, z, w)``, as in glTF.
Every problem with a file raises :class:`meshflow.errors.MeshFileError` naming it.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple
from urllib.parse import unquote

import DracoPy
import numpy as np
import pygltflib

from ..errors import MeshFileError
from .geometry import decompose_matrix

#: numpy dtype of each accessor ``componentType``.
COMPONENT_DTYPES = {
    5120: np.dtype(np.int8),
    5121: np.dtype(np.uint8),
    5122: np.dtype("<i2"),
    5123: np.dtype("<u2"),
    5125: np.dtype("<u4"),
    5126: np.dtype("<f4"),
}
#: number of components of each accessor ``type``.
TYPE_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_MATRIX_ROWS = {"MAT2": 2, "MAT3": 3, "MAT4": 4}
#: divisor (and lower clamp) that maps a normalised integer to a float.
_NORMALIZE = {5120: (127.0, -1.0), 5121: (255.0, 0.0), 5122: (32767.0, -1.0), 5123: (65535.0, 0.0)}

#: extensions that change geometry in a way this reader does not implement.
UNSUPPORTED_EXTENSIONS = ("EXT_meshopt_compression", "KHR_meshopt_compression", "EXT_mesh_gpu_instancing")
DRACO = "KHR_draco_mesh_compression"
#: vertex attributes read besides positions and skin data.
_EXTRA_ATTRIBUTES = ("NORMAL", "TEXCOORD_0", "COLOR_0")

POINTS, TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN = 0, 4, 5, 6


@dataclass
class Primitive:
    r"""One mesh primitive as arrays.

    Attributes:
        positions (numpy.ndarray): (n, 3) float64 rest positions.
        faces (numpy.ndarray): (f, 3) int64 triangles over ``positions``.
        joints (numpy.ndarray or None): (n, 4k) int64, every ``JOINTS_i`` set side by side.
        weights (numpy.ndarray or None): (n, 4k) float64, the matching ``WEIGHTS_i``.
        targets (numpy.ndarray): (m, n, 3) float64 morph-target position deltas (m may be 0).
        mesh (int): index of the mesh, ``index`` (int): of the primitive inside it.
        attributes (dict): other per-vertex arrays kept for writing meshes back
            (``NORMAL``, ``TEXCOORD_0``, ``COLOR_0`` when present).
        material (int or None): the primitive's material index.
    """

    positions: np.ndarray
    faces: np.ndarray
    joints: Optional[np.ndarray] = None
    weights: Optional[np.ndarray] = None
    targets: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3)))
    mesh: int = 0
    index: int = 0
    attributes: Dict[str, np.ndarray] = field(default_factory=dict)
    material: Optional[int] = None


@dataclass
class Skin:
    """``joints`` (J,) node indices and ``inverse_bind`` (J, 4, 4) float64 matrices."""

    joints: np.ndarray
    inverse_bind: np.ndarray
    name: str = ""


@dataclass
class Channel:
    r"""One animation channel with its sampler's keyframes.

    Attributes:
        node (int): the animated node.
        path (str): ``"translation"``, ``"rotation"``, ``"scale"`` or ``"weights"``.
        times (numpy.ndarray): (k,) float64 keyframe times in seconds, increasing.
        values (numpy.ndarray): (k, c) float64 values, or (k, 3, c) for CUBICSPLINE
            (in-tangent, value, out-tangent per keyframe); c is 3, 4 or the number of
            morph targets.
        interpolation (str): ``"LINEAR"``, ``"STEP"`` or ``"CUBICSPLINE"``.
    """

    node: int
    path: str
    times: np.ndarray
    values: np.ndarray
    interpolation: str = "LINEAR"


@dataclass
class Clip:
    """A named animation: its channels and its time span ``[start, end]`` in seconds."""

    name: str
    index: int
    channels: List[Channel]
    start: float = 0.0
    end: float = 0.0

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def short_name(self) -> str:
        """The part of the name after the last ``|`` (Blender writes ``Armature|Action``)."""
        return self.name.rsplit("|", 1)[-1]


def _dict(obj) -> dict:
    """pygltflib keeps unknown attributes on its objects; give them all as a dict."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return dict(obj)
    return {k: v for k, v in vars(obj).items() if v is not None}


class GltfFile:
    r"""A glTF 2.0 file (``.gltf`` with its buffers, or ``.glb``) read into numpy arrays.

    Args:
        path (str or Path): the file.
        document (pygltflib.GLTF2, optional): a document already in memory (a GLB being
            written); ``path`` then only names it in errors. (default: read ``path``)

    Example:
        >>> [c.name for c in GltfFile("Horse.glb").clips]
        ['AnimalArmature|Gallop', ...]
    """

    def __init__(self, path, document: Optional[pygltflib.GLTF2] = None):
        self.path = Path(path)
        self.gltf = gltf = self._load() if document is None else document
        required = list(gltf.extensionsRequired or [])
        bad = [e for e in required if e in UNSUPPORTED_EXTENSIONS]
        if bad:
            raise MeshFileError(self.path, f"uses the unsupported required extension(s) {', '.join(bad)}")
        self._buffers: Dict[int, bytes] = {}
        self._accessors: Dict[int, np.ndarray] = {}
        self._primitives: Dict[Tuple[int, bool], List[Primitive]] = {}
        self._skins: Optional[List[Skin]] = None
        self._clips: Optional[List[Clip]] = None
        self._build_hierarchy()

    def _load(self) -> pygltflib.GLTF2:
        if not self.path.is_file():
            raise MeshFileError(self.path, "no such file")
        if self.path.suffix.lower() == ".glb":
            with open(self.path, "rb") as f:
                head = f.read(12)
            if len(head) < 12 or head[:4] != b"glTF":
                raise MeshFileError(self.path, "not a binary glTF file (expected the magic bytes 'glTF')")
            if int.from_bytes(head[8:12], "little") > self.path.stat().st_size:
                raise MeshFileError(self.path, "truncated binary glTF file (header length exceeds the file size)")
        try:
            gltf = pygltflib.GLTF2().load(str(self.path))
        except Exception as e:  # pygltflib raises whatever its parser hits
            raise MeshFileError(self.path, f"cannot parse glTF ({type(e).__name__}: {e})") from None
        if gltf is None:
            raise MeshFileError(self.path, "cannot parse glTF")
        return gltf

    # ------------------------------------------------------------- buffers ---
    def buffer(self, index: int) -> bytes:
        """The bytes of buffer ``index`` (GLB chunk, data URI or file next to the glTF)."""
        if index in self._buffers:
            return self._buffers[index]
        try:
            buf = self.gltf.buffers[index]
        except (IndexError, TypeError):
            raise MeshFileError(self.path, f"buffer {index} does not exist") from None
        uri = buf.uri
        if not uri:
            data = self.gltf.binary_blob()
            if data is None:
                raise MeshFileError(self.path, f"buffer {index} has no URI and the file has no binary chunk")
        elif uri.startswith("data:"):
            try:
                data = base64.b64decode(uri.split(",", 1)[1])
            except Exception:
                raise MeshFileError(self.path, f"buffer {index} has a malformed data URI") from None
        else:
            target = self.path.parent / unquote(uri)
            try:
                data = target.read_bytes()
            except OSError as e:
                raise MeshFileError(self.path, f"cannot read buffer {index} from {target} ({e.strerror})") from None
        data = bytes(data)
        if buf.byteLength is not None and len(data) < buf.byteLength:
            raise MeshFileError(self.path, f"buffer {index} has {len(data)} bytes (expected {buf.byteLength})")
        self._buffers[index] = data
        return data

    def buffer_view(self, index: int) -> Tuple[memoryview, Optional[int]]:
        """``(bytes, byteStride)`` of buffer view ``index``."""
        try:
            bv = self.gltf.bufferViews[index]
        except (IndexError, TypeError):
            raise MeshFileError(self.path, f"buffer view {index} does not exist") from None
        data = self.buffer(bv.buffer)
        start = bv.byteOffset or 0
        if start + bv.byteLength > len(data):
            raise MeshFileError(self.path, f"buffer view {index} runs past the end of buffer {bv.buffer}")
        return memoryview(data)[start:start + bv.byteLength], bv.byteStride

    def _read_elements(self, view_index, offset, count, ctype, atype, stride=None) -> np.ndarray:
        """``count`` elements of (ctype, atype) starting ``offset`` bytes into a buffer view."""
        dtype = COMPONENT_DTYPES[ctype]
        ncomp = TYPE_SIZES[atype]
        rows = _MATRIX_ROWS.get(atype)
        # Matrix columns start on 4-byte boundaries.
        col_bytes = None if rows is None else -(-rows * dtype.itemsize // 4) * 4
        elem_bytes = ncomp * dtype.itemsize if rows is None else col_bytes * rows
        data, view_stride = self.buffer_view(view_index)
        stride = stride or view_stride or elem_bytes
        need = offset + (count - 1) * stride + elem_bytes if count else 0
        if need > len(data):
            raise MeshFileError(self.path, f"accessor data runs past the end of buffer view {view_index}")
        if count == 0:
            return np.zeros((0, ncomp), dtype=dtype)
        raw = np.frombuffer(data, dtype=np.uint8, count=need - offset, offset=offset)
        packed = rows is None or col_bytes == rows * dtype.itemsize
        if stride == elem_bytes and packed:
            return raw[: count * elem_bytes].view(dtype).reshape(count, ncomp).copy()
        idx = np.arange(count)[:, None] * stride
        if rows is None:
            idx = idx + np.arange(elem_bytes)[None, :]
        else:
            inner = (np.arange(rows)[:, None] * col_bytes + np.arange(rows * dtype.itemsize)[None, :]).ravel()
            idx = idx + inner[None, :]
        return np.ascontiguousarray(raw[idx]).view(dtype).reshape(count, ncomp)

    def accessor(self, index: int) -> np.ndarray:
        r"""Reads accessor ``index``.

        Returns:
            numpy.ndarray of shape (count, components) (matrices column-major,
            flattened); float32 for float and normalised accessors (normalised
            integers mapped to [0, 1] or [-1, 1]), the stored integer type otherwise.
            Sparse accessors have their substitutions applied. The array is cached:
            do not modify it.
        """
        if index in self._accessors:
            return self._accessors[index]
        try:
            acc = self.gltf.accessors[index]
        except (IndexError, TypeError):
            raise MeshFileError(self.path, f"accessor {index} does not exist") from None
        if acc.componentType not in COMPONENT_DTYPES or acc.type not in TYPE_SIZES:
            raise MeshFileError(
                self.path, f"accessor {index} has an unknown layout ({acc.componentType}, {acc.type})")
        ncomp = TYPE_SIZES[acc.type]
        if acc.bufferView is not None:
            out = self._read_elements(acc.bufferView, acc.byteOffset or 0, acc.count, acc.componentType, acc.type)
        else:
            out = np.zeros((acc.count, ncomp), dtype=COMPONENT_DTYPES[acc.componentType])
        sparse = acc.sparse
        if sparse is not None and sparse.count:
            out = out.copy()
            si, sv = sparse.indices, sparse.values
            ind = self._read_elements(si.bufferView, si.byteOffset or 0, sparse.count, si.componentType, "SCALAR")
            ind = ind.ravel().astype(np.int64)
            if ind.size and (ind.min() < 0 or ind.max() >= acc.count):
                raise MeshFileError(self.path, f"sparse accessor {index} substitutes indices outside [0, {acc.count})")
            val = self._read_elements(sv.bufferView, sv.byteOffset or 0, sparse.count, acc.componentType, acc.type)
            out[ind] = val
        if acc.normalized and acc.componentType in _NORMALIZE:
            div, lo = _NORMALIZE[acc.componentType]
            out = np.maximum(out.astype(np.float32) / div, lo).astype(np.float32)
        out.setflags(write=False)
        self._accessors[index] = out
        return out

    # ----------------------------------------------------------- hierarchy ---
    def _build_hierarchy(self) -> None:
        nodes = self.gltf.nodes or []
        n = len(nodes)
        parent = np.full(n, -1, dtype=np.int64)
        for i, node in enumerate(nodes):
            for c in node.children or []:
                if not 0 <= c < n:
                    raise MeshFileError(self.path, f"node {i} has a child {c} that does not exist")
                if parent[c] != -1:
                    raise MeshFileError(self.path, f"node {c} has two parents ({parent[c]} and {i})")
                parent[c] = i
        depth = np.full(n, -1, dtype=np.int64)
        for i in range(n):
            chain, j = [], i
            while j != -1 and depth[j] == -1:
                chain.append(j)
                j = parent[j]
                if len(chain) > n:
                    raise MeshFileError(self.path, "the node hierarchy has a cycle")
            d = -1 if j == -1 else depth[j]
            for k in reversed(chain):
                d += 1
                depth[k] = d
        self.parents = parent
        self.depths = depth
        #: node indices grouped by depth, for level-by-level world matrices.
        self.levels = [np.flatnonzero(depth == d) for d in range(int(depth.max()) + 1)] if n else []

        t = np.zeros((n, 3))
        r = np.tile([0.0, 0.0, 0.0, 1.0], (n, 1))
        s = np.ones((n, 3))
        self._matrix_nodes: Dict[int, np.ndarray] = {}
        for i, node in enumerate(nodes):
            if node.matrix is not None and len(node.matrix) == 16 and not np.allclose(node.matrix, np.eye(4).ravel()):
                mat = np.asarray(node.matrix, dtype=np.float64).reshape(4, 4).T  # column-major in the file
                t[i], r[i], s[i] = decompose_matrix(mat)
                self._matrix_nodes[i] = mat
            else:
                if node.translation is not None:
                    t[i] = node.translation
                if node.rotation is not None:
                    q = np.asarray(node.rotation, dtype=np.float64)
                    norm = np.linalg.norm(q)
                    r[i] = q / norm if norm > 0 else [0.0, 0.0, 0.0, 1.0]
                if node.scale is not None:
                    s[i] = node.scale
        #: rest-pose (translation (n, 3), rotation (n, 4) xyzw, scale (n, 3)) of every node.
        self.rest_trs = (t, r, s)

    @property
    def num_nodes(self) -> int:
        return len(self.gltf.nodes or [])

    def matrix_nodes(self) -> Dict[int, np.ndarray]:
        """Nodes given by a ``matrix`` (kept exactly, shear included, while not animated)."""
        return dict(self._matrix_nodes)

    def world_matrices(self, local: np.ndarray) -> np.ndarray:
        """Local matrices (..., num_nodes, 4, 4) -> world matrices, parents before children."""
        world = np.empty_like(local)
        for level in self.levels:
            par = self.parents[level]
            roots = par < 0
            if np.any(roots):
                world[..., level[roots], :, :] = local[..., level[roots], :, :]
            if np.any(~roots):
                kids = level[~roots]
                world[..., kids, :, :] = world[..., par[~roots], :, :] @ local[..., kids, :, :]
        return world

    def scene_nodes(self, scene: Optional[int] = None) -> List[int]:
        """Every node of a scene (default: the file's default scene, else scene 0, else all roots), depth first."""
        g = self.gltf
        if scene is None:
            scene = g.scene if g.scene is not None else (0 if g.scenes else None)
        if scene is None:
            roots = [i for i in range(self.num_nodes) if self.parents[i] < 0]
        else:
            try:
                roots = list(g.scenes[scene].nodes or [])
            except (IndexError, TypeError):
                raise MeshFileError(self.path, f"scene {scene} does not exist") from None
        out, stack = [], list(reversed(roots))
        while stack:
            i = stack.pop()
            out.append(i)
            stack.extend(reversed(g.nodes[i].children or []))
        return out

    # ------------------------------------------------------------- meshes ---
    def primitives(self, mesh: int, points: bool = False) -> List[Primitive]:
        """The triangle primitives of mesh ``mesh`` (lines left out; points only if ``points``, without faces)."""
        if (mesh, points) in self._primitives:
            return self._primitives[mesh, points]
        try:
            m = self.gltf.meshes[mesh]
        except (IndexError, TypeError):
            raise MeshFileError(self.path, f"mesh {mesh} does not exist") from None
        out = []
        for k, prim in enumerate(m.primitives or []):
            p = self._primitive(prim, mesh, k, points)
            if p is not None:
                out.append(p)
        self._primitives[mesh, points] = out
        return out

    def _primitive(self, prim, mesh: int, k: int, points: bool) -> Optional[Primitive]:
        mode = TRIANGLES if prim.mode is None else prim.mode
        if mode not in (TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN) + ((POINTS,) if points else ()):
            return None
        attrs = _dict(prim.attributes)
        where = f"mesh {mesh} primitive {k}"
        draco = (prim.extensions or {}).get(DRACO)
        if draco is not None:
            arrays, indices = self._decode_draco(draco, attrs, where)
        else:
            if "POSITION" not in attrs:
                raise MeshFileError(self.path, f"{where} has no POSITION attribute")
            arrays = {}
            for name, acc in attrs.items():
                if name == "POSITION" or name.startswith(("JOINTS_", "WEIGHTS_")) or name in _EXTRA_ATTRIBUTES:
                    arrays[name] = self.accessor(acc)
            indices = None if prim.indices is None else self.accessor(prim.indices).ravel().astype(np.int64)
        pos = np.asarray(arrays["POSITION"], dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise MeshFileError(self.path, f"{where} has POSITION of shape {pos.shape} (expected (n, 3))")
        n = len(pos)
        if indices is None:
            indices = np.arange(n, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise MeshFileError(self.path, f"{where} has indices outside [0, {n})")
        faces = _triangulate(indices, mode) if mode != POINTS else np.zeros((0, 3), dtype=np.int64)

        joints = weights = None
        sets = sorted(int(a.split("_")[1]) for a in arrays if a.startswith("JOINTS_") and a.split("_")[1].isdigit())
        sets = [i for i in sets if f"WEIGHTS_{i}" in arrays]
        if sets:
            joints = np.concatenate([np.asarray(arrays[f"JOINTS_{i}"], dtype=np.int64) for i in sets], axis=1)
            weights = np.concatenate([np.asarray(arrays[f"WEIGHTS_{i}"], dtype=np.float64) for i in sets], axis=1)
            if joints.shape != weights.shape or len(joints) != n:
                raise MeshFileError(self.path, f"{where} has JOINTS/WEIGHTS of shapes {joints.shape} and "
                                               f"{weights.shape} for {n} vertices")

        targets = []
        for ti, target in enumerate(prim.targets or []):
            acc = _dict(target).get("POSITION")
            if acc is None:
                targets.append(np.zeros((n, 3)))
                continue
            d = np.asarray(self.accessor(acc), dtype=np.float64)
            if d.shape != (n, 3):
                raise MeshFileError(self.path, f"{where} morph target {ti} has shape {d.shape} (expected ({n}, 3))")
            targets.append(d)
        targets = np.stack(targets) if targets else np.zeros((0, n, 3))
        extra = {a: np.asarray(arrays[a]) for a in _EXTRA_ATTRIBUTES if a in arrays and len(arrays[a]) == n}
        return Primitive(pos, faces, joints, weights, targets, mesh, k, extra, prim.material)

    def _decode_draco(self, ext, attrs, where):
        data, _ = self.buffer_view(ext["bufferView"])
        try:
            mesh = DracoPy.decode(bytes(data))
        except Exception as e:
            raise MeshFileError(self.path, f"{where}: Draco decoding failed ({e})") from None
        ids = ext.get("attributes", {})
        if "POSITION" not in ids:
            raise MeshFileError(self.path, f"{where}: Draco extension has no POSITION attribute")
        arrays = {}
        for name, uid in ids.items():
            if not (name == "POSITION" or name.startswith(("JOINTS_", "WEIGHTS_")) or name in _EXTRA_ATTRIBUTES):
                continue
            att = mesh.get_attribute_by_unique_id(uid)
            if att is None:
                raise MeshFileError(self.path, f"{where}: Draco data lacks attribute {name} (id {uid})")
            arr = np.asarray(att["data"])
            arr = arr.reshape(len(arr), -1)
            acc_index = attrs.get(name)
            if acc_index is not None:
                acc = self.gltf.accessors[acc_index]
                if acc.normalized and acc.componentType in _NORMALIZE and arr.dtype.kind in "iu":
                    div, lo = _NORMALIZE[acc.componentType]
                    arr = np.maximum(arr.astype(np.float32) / div, lo)
            arrays[name] = arr
        faces = getattr(mesh, "faces", None)
        indices = None if faces is None else np.asarray(faces, dtype=np.int64).ravel()
        return arrays, indices

    # --------------------------------------------------------------- skins ---
    @property
    def skins(self) -> List[Skin]:
        if self._skins is None:
            out = []
            for i, skin in enumerate(self.gltf.skins or []):
                joints = np.asarray(skin.joints or [], dtype=np.int64)
                if joints.size and (joints.min() < 0 or joints.max() >= self.num_nodes):
                    raise MeshFileError(self.path, f"skin {i} names a joint node that does not exist")
                if skin.inverseBindMatrices is not None:
                    ibm = np.asarray(self.accessor(skin.inverseBindMatrices), dtype=np.float64)
                    if ibm.shape != (len(joints), 16):
                        raise MeshFileError(self.path, f"skin {i} has {len(ibm)} inverse bind matrices "
                                                       f"for {len(joints)} joints")
                    ibm = ibm.reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major -> row-major
                else:
                    ibm = np.tile(np.eye(4), (len(joints), 1, 1))
                out.append(Skin(joints, ibm, skin.name or ""))
            self._skins = out
        return self._skins

    # ---------------------------------------------------------- animations ---
    @property
    def clips(self) -> List[Clip]:
        """Every animation of the file, in file order (unnamed ones are called ``animation_<i>``)."""
        if self._clips is None:
            self._clips = [self._clip(i, a) for i, a in enumerate(self.gltf.animations or [])]
        return self._clips

    def _clip(self, index: int, anim) -> Clip:
        name = anim.name or f"animation_{index}"
        channels = []
        samplers = anim.samplers or []
        for ci, ch in enumerate(anim.channels or []):
            target = ch.target
            if target is None or target.node is None:
                continue  # e.g. KHR_animation_pointer targets: not geometry we handle
            if target.path not in ("translation", "rotation", "scale", "weights"):
                continue
            if not 0 <= target.node < self.num_nodes:
                raise MeshFileError(self.path, f"animation {name!r} channel {ci} targets node {target.node}, "
                                               "which does not exist")
            try:
                smp = samplers[ch.sampler]
            except (IndexError, TypeError):
                raise MeshFileError(self.path, f"animation {name!r} channel {ci} uses a sampler that "
                                               "does not exist") from None
            interp = (smp.interpolation or "LINEAR").upper()
            if interp not in ("LINEAR", "STEP", "CUBICSPLINE"):
                raise MeshFileError(self.path, f"animation {name!r} uses the unknown interpolation {interp!r}")
            times = np.asarray(self.accessor(smp.input), dtype=np.float64).ravel()
            values = np.asarray(self.accessor(smp.output), dtype=np.float64)
            k = len(times)
            if k == 0:
                continue
            if np.any(np.diff(times) < 0) or not np.all(np.isfinite(times)):
                raise MeshFileError(self.path, f"animation {name!r} channel {ci} has keyframe times "
                                               "that are not increasing")
            per_key = 3 if interp == "CUBICSPLINE" else 1
            total = values.size
            if total % (k * per_key):
                raise MeshFileError(self.path, f"animation {name!r} channel {ci} has {total} output values "
                                               f"for {k} keyframes")
            width = total // (k * per_key)
            expect = {"translation": 3, "scale": 3, "rotation": 4}.get(target.path)
            if expect is not None and width != expect:
                raise MeshFileError(self.path, f"animation {name!r} channel {ci} ({target.path}) has "
                                               f"{width} values per keyframe (expected {expect})")
            values = values.reshape(k, 3, width) if per_key == 3 else values.reshape(k, width)
            channels.append(Channel(int(target.node), target.path, times, values, interp))
        if channels:
            start = min(float(c.times[0]) for c in channels)
            end = max(float(c.times[-1]) for c in channels)
        else:
            start = end = 0.0
        return Clip(name, index, channels, start, end)

    def mesh_weights(self, node: int) -> np.ndarray:
        """Default morph weights of a mesh node (node ``weights``, else mesh ``weights``, else zeros)."""
        nd = self.gltf.nodes[node]
        m = self.gltf.meshes[nd.mesh]
        count = max((len(p.targets or []) for p in m.primitives or []), default=0)
        w = getattr(nd, "weights", None)  # pygltflib's Node has no field for it; kept if present
        if w is None:
            w = m.weights
        out = np.zeros(count)
        if w is not None:
            w = np.asarray(w, dtype=np.float64)[:count]
            out[: len(w)] = w
        return out


def _triangulate(indices: np.ndarray, mode: int) -> np.ndarray:
    """Index list of a TRIANGLES / TRIANGLE_STRIP / TRIANGLE_FAN primitive -> (f, 3) triangles."""
    n = len(indices)
    if mode == TRIANGLES:
        return indices[: n - n % 3].reshape(-1, 3)
    if n < 3:
        return np.zeros((0, 3), dtype=np.int64)
    i = np.arange(n - 2)
    if mode == TRIANGLE_STRIP:
        even = i % 2 == 0
        a = np.where(even, indices[i], indices[i + 1])
        b = np.where(even, indices[i + 1], indices[i])
        return np.stack([a, b, indices[i + 2]], axis=1)
    # TRIANGLE_FAN
    return np.stack([indices[i + 1], indices[i + 2], np.full(n - 2, indices[0])], axis=1)


__all__ = ["COMPONENT_DTYPES", "TYPE_SIZES", "Channel", "Clip", "GltfFile", "Primitive", "Skin"]
