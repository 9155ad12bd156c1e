r"""Skinned (rigged) glTF output: a mesh bound to a joint hierarchy and one animation of joint TRS keys.

:func:`skinned_document` writes what a linear blend skinning fit gives (per-vertex ``joints`` and
``weights``, per-frame rigid bone transforms :math:`x \mapsto R_{tj} x + t_{tj}` in world space,
each bone's rest centre :math:`c_j` and its parent) as a standard skinned glTF:

* joints are nodes ``bone_00``, ... in the given hierarchy, the root in the scene; joint j's
  bind (rest) world matrix is the translation to :math:`c_j`, its inverse bind matrix
  :math:`B_j^{-1}` the translation by :math:`-c_j`;
* joint j's world matrix in frame t is :math:`G_{tj} = M_{tj} B_j` with
  :math:`M_{tj} = [R_{tj} \mid t_{tj}]`, so the viewer's skinning
  :math:`\sum_k w_k G_{t j_k} B_{j_k}^{-1} p = \sum_k w_k (R_{t j_k} p + t_{t j_k})` is the fit;
  its local keys are :math:`G_{t,\mathrm{parent}}^{-1} G_{tj}` (a rotation as a quaternion and a
  translation; no scale), LINEAR, one key per frame (and a closing key equal to frame 0 for a loop);
* one primitive per part, built by the morph-target writer's :func:`~meshflow.io.export._add_part`
  (positions in world space: a skinned mesh's node transform is ignored by viewers), with
  ``JOINTS_0`` (unsigned byte, or short above 256 joints) and ``WEIGHTS_0`` (float, rows summing
  to one); a glTF input's images, samplers, textures, materials and nodes are kept as the
  morph-target writer keeps them (:mod:`meshflow.io.gltf_scene`), each skinned mesh on a new root
  node named as the node it came from;
* optionally ``residual`` morph targets, one per frame (rest-space offsets applied before skinning)
  with a ``weights`` channel, for what the rig does not capture.

The buffers, accessors and the GLB container are :mod:`meshflow.io.export`'s.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pygltflib

from .export import _Document, _SurfaceNormals, _add_part, _mesh, _write_glb, check_vertices, gltf_document, \
    write_document
from .geometry import quat_from_matrix
from .gltf_scene import Slot, copy_scene, source_slots
from .mesh import MeshFile


def joint_keys(rotations: np.ndarray, translations: np.ndarray, centers: np.ndarray, parents: np.ndarray):
    r"""Local joint keys: ``(translation (T, J, 3), rotation (T, J, 4) xyzw)`` of :math:`G_{tp}^{-1} G_{tj}`,
    :math:`G_{tj} = [R_{tj} \mid R_{tj} c_j + t_{tj}]`; quaternion signs kept continuous over frames."""
    R = np.asarray(rotations, dtype=np.float64)
    g = np.einsum("tjab,jb->tja", R, centers) + translations  # (T, J, 3) joint world origins
    p = np.asarray(parents)
    root = p < 0
    pp = np.where(root, 0, p)
    local_r = np.where(root[None, :, None, None], R, np.einsum("tjba,tjbc->tjac", R[:, pp], R))
    local_t = np.where(root[None, :, None], g, np.einsum("tjba,tjb->tja", R[:, pp], g - g[:, pp]))
    q = quat_from_matrix(local_r)
    for i in range(1, len(q)):
        flip = np.sum(q[i] * q[i - 1], axis=-1) < 0
        q[i, flip] *= -1
    return local_t, q


def _skin_weights(joints: np.ndarray, weights: np.ndarray):
    """``(JOINTS_0, WEIGHTS_0)`` arrays: unused influences on joint 0 with weight 0, float32 rows summing to one."""
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    w = w / np.where(w.sum(axis=1, keepdims=True) > 0, w.sum(axis=1, keepdims=True), 1.0)
    w = w.astype(np.float32)
    top = np.argmax(w, axis=1)
    rows = np.arange(len(w))
    w[rows, top] = 0.0
    w[rows, top] = np.float32(1.0) - w.sum(axis=1, dtype=np.float32)
    j = np.where(w > 0, np.asarray(joints), 0)
    return j, w


def skinned_document(mesh: MeshFile, joints, weights, rotations, translations, centers, parents, *,
                     fps: float = 24.0, loop: bool = False, residual: Optional[np.ndarray] = None,
                     normals: bool = True, prompt: str = "", name: str = "meshflow",
                     source_index: Optional[np.ndarray] = None, flatten: bool = False, extras: Optional[dict] = None):
    """Builds the skinned glTF: ``(pygltflib.GLTF2, binary buffer)`` (see the module docstring).

    Args:
        mesh: the input scene; its ``vertices`` (N_file, 3) are the rest (bind) pose.
        joints, weights: (N_file, 4) influences of every file vertex.
        rotations, translations: (T, J, 3, 3) and (T, J, 3) world-space bone transforms per frame.
        centers: (J, 3) rest centre of each bone. parents: (J,) parent bone, -1 for the root.
        fps: playback rate. loop: a closing key at T / fps equal to frame 0.
        residual: (T, N_file, 3) rest-space offsets kept as morph targets (default: none).
        normals: give parts without normals smooth ones (skinned by the viewer).
        prompt, name, extras: recorded in the animation (``extras["meshflow"]``).
        source_index: (N_file,) file vertex -> graph vertex, for the normals.
        flatten: one node per part even for a glTF input.
    """
    if fps <= 0:
        raise ValueError(f"Expected 'fps' > 0 (got {fps})")
    rest = np.ascontiguousarray(mesh.vertices, dtype=np.float32)
    N, T, J = len(rest), len(rotations), len(centers)
    joints, weights = np.asarray(joints), np.asarray(weights)
    if joints.shape != (N, 4) or weights.shape != (N, 4):
        raise ValueError(f"Expected 'joints' and 'weights' to have shape ({N}, 4) (got {joints.shape}, {weights.shape})")
    if np.asarray(rotations).shape != (T, J, 3, 3) or np.asarray(translations).shape != (T, J, 3) or len(parents) != J:
        raise ValueError(f"Expected rotations (T, {J}, 3, 3), translations (T, {J}, 3) and {J} parents (got "
                         f"{np.shape(rotations)}, {np.shape(translations)}, {len(parents)})")
    targets = rest[None][:0] if residual is None else check_vertices(mesh, rest[None] + residual)
    rest_normals = None
    if normals and len(mesh.faces):
        rest_normals = _SurfaceNormals(mesh, source_index=source_index).rest
    jdata, wdata = _skin_weights(joints, weights)
    jdata = jdata.astype(np.uint8 if J <= 256 else np.uint16)

    doc = _Document()
    gltf = doc.gltf
    source = None if flatten else source_slots(mesh)
    groups = {}  # node name -> primitives
    if source is not None:
        g, slots = source
        copy_scene(gltf, g, doc.view)
        names = {}
        for part, slot in zip(mesh.parts, slots):
            world = Slot(node=slot.node, world=np.eye(4), faces=slot.faces, material=slot.material)
            node_name = gltf.nodes[slot.node].name or part.name
            groups.setdefault(slot.node, (node_name, []))[1].append(
                (part, _add_part(doc, part, rest, targets, rest_normals, None, world)))
            names[slot.node] = g.gltf.meshes[g.gltf.nodes[slot.node].mesh].name or node_name
    else:
        for i, part in enumerate(mesh.parts):
            groups[i] = (part.name, [(part, _add_part(doc, part, rest, targets, rest_normals, None))])
        names = {i: part.name for i, part in enumerate(mesh.parts)}
    scene = gltf.scenes[gltf.scene or 0]
    mesh_nodes = []
    for key, (node_name, prims) in groups.items():
        for part, prim in prims:
            s, e = part.start, part.start + part.num_vertices
            prim.attributes.JOINTS_0 = doc.accessor(np.ascontiguousarray(jdata[s:e]), "VEC4")
            prim.attributes.WEIGHTS_0 = doc.accessor(np.ascontiguousarray(wdata[s:e]), "VEC4")
            if residual is None:
                prim.targets = None
        m = _mesh(names[key], [p for _, p in prims], T)
        if residual is None:
            m.weights = m.extras = None
        gltf.meshes.append(m)
        gltf.nodes.append(pygltflib.Node(name=node_name, mesh=len(gltf.meshes) - 1, skin=0))
        mesh_nodes.append(len(gltf.nodes) - 1)
        scene.nodes = list(scene.nodes or []) + [mesh_nodes[-1]]

    # Joints: nodes in the hierarchy, bind pose at rest, inverse bind matrices.
    centers = np.asarray(centers, dtype=np.float64)
    parents = np.asarray(parents)
    first = len(gltf.nodes)
    for j in range(J):
        rel = centers[j] - (centers[parents[j]] if parents[j] >= 0 else 0.0)
        gltf.nodes.append(pygltflib.Node(name=f"bone_{j:02d}", translation=[float(x) for x in rel]))
    for j in range(J):
        if parents[j] >= 0:
            node = gltf.nodes[first + parents[j]]
            node.children = list(node.children or []) + [first + j]
    scene.nodes = list(scene.nodes) + [first + j for j in range(J) if parents[j] < 0]
    ibm = np.tile(np.eye(4), (J, 1, 1))
    ibm[:, :3, 3] = -centers
    ibm_accessor = doc.accessor(ibm.transpose(0, 2, 1).reshape(J, 16).astype(np.float32), "MAT4", target=None)
    root = first + int(np.flatnonzero(parents < 0)[0])
    gltf.skins = [pygltflib.Skin(name="rig", inverseBindMatrices=ibm_accessor, joints=list(range(first, first + J)),
                                 skeleton=root)]

    # One animation: joint TRS keys (and the residual's weights).
    local_t, local_q = joint_keys(rotations, translations, centers, parents)
    keys = T + 1 if loop else T
    if loop:
        local_t, local_q = np.concatenate([local_t, local_t[:1]]), np.concatenate([local_q, local_q[:1]])
    times = doc.accessor(np.arange(keys, dtype=np.float32) / np.float32(fps), "SCALAR", target=None, min_max=True)
    samplers, channels = [], []

    def channel(node, path, values):
        out = doc.accessor(np.ascontiguousarray(values, dtype=np.float32), path, target=None)
        samplers.append(pygltflib.AnimationSampler(input=times, output=out, interpolation="LINEAR"))
        kind = {"VEC3": "translation", "VEC4": "rotation", "SCALAR": "weights"}[path]
        channels.append(pygltflib.AnimationChannel(sampler=len(samplers) - 1,
                                                   target=pygltflib.AnimationChannelTarget(node=node, path=kind)))

    for j in range(J):
        channel(first + j, "VEC3", local_t[:, j])
        q = local_q[:, j] / np.linalg.norm(local_q[:, j], axis=1, keepdims=True)
        channel(first + j, "VEC4", q)
    if residual is not None:
        w = np.eye(keys, T, dtype=np.float32)
        if loop:
            w[T, 0] = 1.0
        for node in mesh_nodes:
            channel(node, "SCALAR", w.reshape(-1))
    info = {"frames": T, "fps": float(fps), "loop": bool(loop), "prompt": prompt, **(extras or {})}
    gltf.animations = [pygltflib.Animation(name=name, samplers=samplers, channels=channels,
                                           extras={"meshflow": info})]
    gltf.buffers = [pygltflib.Buffer(byteLength=doc.blob.length)]
    return gltf, doc.blob


def write_skinned_gltf(path, mesh: MeshFile, *args, **kwargs) -> Path:
    """Writes a skinned ``.glb`` or ``.gltf`` atomically; arguments as :func:`skinned_document`."""
    gltf, blob = skinned_document(mesh, *args, **kwargs)
    return write_document(path, gltf, blob)


class _Counter:
    size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)


def glb_size(gltf, blob) -> int:
    """Bytes of the document as a GLB (written to nowhere)."""
    counter = _Counter()
    _write_glb(counter, gltf, blob)
    return counter.size


def morph_glb_size(mesh: MeshFile, vertices, **kwargs) -> int:
    """Bytes of the morph-target GLB :func:`meshflow.io.export.write_gltf` would write for the same frames."""
    return glb_size(*gltf_document(mesh, vertices, **kwargs))


__all__ = ["glb_size", "joint_keys", "morph_glb_size", "skinned_document", "write_skinned_gltf"]
