r"""An :class:`~meshflow.io.Animation` rigged and written as a skinned glTF.

:func:`rig_animation` fits the rig (:func:`~meshflow.rig.ssdr.fit_skinning`) with the animation's
bind pose: its input scene's vertices when it has one (what the pipeline makes, or a glTF file read
by :func:`load_rig_input`), else its frame 0. :func:`save_rigged` writes it as
:func:`meshflow.io.gltf_skin.write_skinned_gltf` does, with residual morph targets when asked and the fit's
largest error is above the threshold, and gives the file's size beside the morph-target GLB's (priced by
:func:`morph_size` from the skinned document's arrays, that file not built).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np
import pygltflib

from ..errors import MeshFileError, MeshflowError
from ..io.animation import Animation, _scene, load_animation
from ..io.export import output_format, write_document
from ..io.gltf_skin import glb_size, skinned_document
from ..io.mesh import read_mesh
from .ssdr import RigConfig, SkinningFit, fit_skinning

#: largest fit error (fraction of the extent) above which ``--rig-residual`` keeps the residual.
RESIDUAL_THRESHOLD = 0.005


@dataclass
class RiggedFile:
    """What :func:`save_rigged` wrote: the path, its size and the morph-target GLB's (:func:`morph_size`, within
    1%), whether it has residual targets."""

    path: Path
    size: int
    morph_size: int
    residual: bool

    @property
    def ratio(self) -> float:
        return self.morph_size / max(self.size, 1)


def load_rig_input(path) -> Animation:
    """:func:`~meshflow.io.load_animation`, with a glTF file's own scene (bind pose, materials, UVs) attached
    when its vertices are the animation's (a skinned or morphed file read back)."""
    anim = load_animation(path)
    if anim.mesh is None and Path(path).suffix.lower() in (".glb", ".gltf"):
        try:
            mesh = read_mesh(path)
        except MeshFileError:
            return anim
        if mesh.vertices.shape == anim.vertices.shape[1:] and np.array_equal(mesh.faces, anim.faces):
            anim = replace(anim, mesh=mesh)
    return anim


def bind_pose(anim: Animation) -> np.ndarray:
    """(N, 3) the rest pose the rig binds to: the input scene's vertices, else frame 0."""
    return anim.mesh.vertices if anim.mesh is not None else anim.vertices[0]


def rig_animation(anim: Animation, config: Optional[RigConfig] = None, **overrides) -> SkinningFit:
    """Fits a rig to ``anim`` (its :func:`bind_pose`, frames and faces); see :func:`~meshflow.rig.ssdr.fit_skinning`."""
    return fit_skinning(bind_pose(anim), anim.vertices, anim.faces, config, **overrides)


def residual_offsets(fit: SkinningFit, frames: np.ndarray) -> np.ndarray:
    r"""(T, N, 3) rest-space offsets :math:`d_{ti}` with :math:`\sum_k w_k (R_{tk}(p_i + d_{ti}) + t_{tk}) = v_{ti}`:
    :math:`d = A^{-1}(v - \mathrm{LBS}(p))`, :math:`A = \sum_k w_k R_{tk}` (its pseudo-inverse where singular)."""
    error = np.asarray(frames, dtype=np.float64) - fit.frames()
    A = np.zeros(error.shape + (3,))
    for k in range(fit.joints.shape[1]):
        A += fit.weights[None, :, k, None, None] * fit.rotations[:, fit.joints[:, k]]
    return np.einsum("tnab,tnb->tna", np.linalg.pinv(A), error).astype(np.float32)


def _json_bytes(**lists) -> int:
    """Bytes the glTF lists (``accessors=[...]``, ...) add to a document's JSON, as the GLB writer prints it."""
    def text(gltf):
        return len(gltf.gltf_to_json(separators=(",", ":"), indent=None))

    return text(pygltflib.GLTF2(**lists)) - text(pygltflib.GLTF2())


def morph_size(skinned: pygltflib.GLTF2, skinned_size: int, offsets: np.ndarray, loop: bool,
               normals: bool = True) -> int:
    r"""Bytes of the morph-target GLB of the same frames, from the skinned document's arrays, without building it.

    The two files share the scene, the rest pose, its attributes and the key times; the skinned one adds
    ``JOINTS_0`` / ``WEIGHTS_0``, the inverse bind matrices, the joint nodes, keys and skin (and residual
    targets), the morph one T targets per primitive (``POSITION`` deltas, ``NORMAL`` deltas where the
    primitive has normals: :math:`12 n` bytes each) and a ``weights`` channel of (T + loop) T floats.
    The binary chunk comes out exactly, but for targets that repeat (the morph writer stores those once: a
    frame equal to another, or the zero ``NORMAL`` deltas of frames that only translate), where it is above;
    the JSON of the targets is priced with the digits of each frame's min / max, so the whole is an
    estimate, within a fraction of a percent (tests/rig/test_rig_export.py holds it to 1% of a written file).

    Args:
        skinned: the skinned document (:func:`~meshflow.io.gltf_skin.skinned_document`).
        skinned_size: its bytes as a GLB.
        offsets: (T, N_file, 3) each frame minus the rest pose (for the min / max of the targets).
        loop: a closing key (T + 1 keys).
        normals: ``NORMAL`` targets on primitives with normals (the morph writer's ``normals``).
    """
    T = len(offsets)
    keys = T + int(loop)
    views, accessors = skinned.bufferViews, skinned.accessors
    skin = skinned.skins[0]
    anim = skinned.animations[0]
    mesh_nodes = [n for n in skinned.nodes if n.skin is not None]
    prims = [p for n in mesh_nodes for p in skinned.meshes[n.mesh].primitives]
    removed = {skin.inverseBindMatrices} | {s.output for s in anim.samplers}
    for p in prims:
        removed |= {p.attributes.JOINTS_0, p.attributes.WEIGHTS_0}
        removed |= {t.POSITION for t in p.targets or []}
    removed.discard(None)
    gone = [accessors[i] for i in sorted(removed)]
    size = skinned_size - sum(views[a.bufferView].byteLength for a in gone)
    size -= _json_bytes(accessors=gone, bufferViews=[views[a.bufferView] for a in gone], skins=[skin],
                        nodes=[skinned.nodes[j] for j in skin.joints])
    blob = skinned.buffers[0].byteLength
    # The morph targets: per frame and primitive a POSITION accessor (with min / max) and, with normals, a NORMAL one.
    delta = np.asarray(offsets, dtype=np.float32)
    low, high = delta.min(axis=1), delta.max(axis=1)  # (T, 3) the frame's extremes, for the text of min / max
    added_accessors, added_views = [], []
    for p in prims:
        n = accessors[p.attributes.POSITION].count
        kinds = ["POSITION"] + (["NORMAL"] if normals and p.attributes.NORMAL is not None else [])
        for t in range(T):
            for kind in kinds:
                extremes = dict(min=[x.item() for x in low[t]], max=[x.item() for x in high[t]]) \
                    if kind == "POSITION" else {}
                added_views.append(pygltflib.BufferView(buffer=0, byteOffset=blob, byteLength=12 * n,
                                                        target=34962))  # ARRAY_BUFFER
                added_accessors.append(pygltflib.Accessor(bufferView=len(views) + len(added_views), byteOffset=0,
                                                          componentType=5126, count=n, type="VEC3", normalized=None,
                                                          **extremes))
                blob += 12 * n
        size += 12 * n * len(kinds) * T
    weights = pygltflib.Accessor(bufferView=len(views) + len(added_views), byteOffset=0, componentType=5126,
                                 count=keys * T, type="SCALAR", normalized=None)
    added_views.append(pygltflib.BufferView(buffer=0, byteOffset=blob, byteLength=4 * keys * T))
    size += 4 * keys * T + _json_bytes(accessors=added_accessors + [weights], bufferViews=added_views)
    # The meshes' targets, weights and names; one weights sampler in place of the joints' keys; no skin on the nodes.
    first = len(accessors)
    for node in mesh_nodes:
        mesh = skinned.meshes[node.mesh]
        morph = pygltflib.Mesh(name=mesh.name, weights=[1.0] + [0.0] * (T - 1),
                               extras={"targetNames": [f"frame_{t:04d}" for t in range(T)]},
                               primitives=[replace(p, targets=[pygltflib.Attributes(POSITION=first, NORMAL=first)
                                                               for _ in range(T)]) for p in mesh.primitives])
        size += _json_bytes(meshes=[morph]) - _json_bytes(meshes=[mesh])
        size -= _json_bytes(nodes=[node]) - _json_bytes(nodes=[replace(node, skin=None)])
    info = {k: v for k, v in (anim.extras or {}).get("meshflow", {}).items()
            if k in ("frames", "fps", "loop", "prompt")}  # the morph writer's extras: no "rig"
    sampler = pygltflib.AnimationSampler(input=anim.samplers[0].input, output=first, interpolation="LINEAR")
    channels = [pygltflib.AnimationChannel(sampler=0, target=pygltflib.AnimationChannelTarget(node=0, path="weights"))
                for _ in mesh_nodes]
    size += _json_bytes(animations=[pygltflib.Animation(name=anim.name, samplers=[sampler], channels=channels,
                                                        extras={"meshflow": info})])
    size -= _json_bytes(animations=[anim])
    return int(size)


def save_rigged(path, anim: Animation, fit: SkinningFit, residual: Optional[float] = None,
                normals: bool = True) -> RiggedFile:
    """Writes ``anim`` rigged by ``fit`` to ``path`` (``.glb`` / ``.gltf``).

    Args:
        residual (float, optional): keep the residual as morph targets when the fit's largest
            error (fraction of the extent) is above this. (default: no residual)
    """
    if output_format(path) not in ("glb", "gltf"):
        raise MeshflowError(f"{path}: Expected a .glb or .gltf output for a rig (got '{Path(path).suffix}')")
    mesh = _scene(anim)
    offsets = residual_offsets(fit, anim.vertices) if residual is not None and fit.max_error > residual else None
    fps = anim.fps or 24.0
    extras = {"rig": {"bones": fit.bones, "mean_error": fit.mean_error, "max_error": fit.max_error,
                      "residual": offsets is not None}}
    gltf, blob = skinned_document(mesh, fit.joints, fit.weights, fit.rotations, fit.translations, fit.centers,
                                  fit.parents, fps=fps, loop=anim.loop, residual=offsets, normals=normals,
                                  prompt=anim.prompt, source_index=anim.source_index, extras=extras)
    normals = normals and len(mesh.faces) > 0  # the morph writer's frame normals
    morph = morph_size(gltf, glb_size(gltf, blob), anim.vertices - mesh.vertices[None], anim.loop, normals)
    out = write_document(path, gltf, blob)  # as write_skinned_gltf
    return RiggedFile(Path(out), Path(out).stat().st_size, morph, offsets is not None)


__all__ = ["RESIDUAL_THRESHOLD", "RiggedFile", "bind_pose", "load_rig_input", "morph_size", "residual_offsets",
           "rig_animation", "save_rigged"]
