r"""An :class:`~meshflow.io.Animation` rigged and written as a skinned glTF.

:func:`rig_animation` fits the rig (:func:`~meshflow.rig.ssdr.fit_skinning`) with the animation's
bind pose: its input scene's vertices when it has one (what the pipeline makes, or a glTF file read
by :func:`load_rig_input`), else its frame 0. :func:`save_rigged` writes it through
:func:`meshflow.io.gltf_skin.write_skinned_gltf`, with residual morph targets when asked and the fit's
largest error is above the threshold, and gives the file's size beside the morph-target GLB's.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import MeshFileError, MeshflowError
from ..io.animation import Animation, _scene, load_animation
from ..io.export import output_format
from ..io.gltf_skin import morph_glb_size, write_skinned_gltf
from ..io.mesh import read_mesh
from .ssdr import RigConfig, SkinningFit, fit_skinning

#: largest fit error (fraction of the extent) above which ``--rig-residual`` keeps the residual.
RESIDUAL_THRESHOLD = 0.005


@dataclass
class RiggedFile:
    """What :func:`save_rigged` wrote: the path, its size and the morph-target GLB's, whether it has residual targets."""

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
    out = write_skinned_gltf(path, mesh, fit.joints, fit.weights, fit.rotations, fit.translations, fit.centers,
                             fit.parents, fps=fps, loop=anim.loop, residual=offsets, normals=normals,
                             prompt=anim.prompt, source_index=anim.source_index, extras=extras)
    morph = morph_glb_size(mesh, anim.vertices, fps=fps, loop=anim.loop, normals=normals, prompt=anim.prompt,
                           source_index=anim.source_index)
    return RiggedFile(Path(out), Path(out).stat().st_size, morph, offsets is not None)


__all__ = ["RESIDUAL_THRESHOLD", "RiggedFile", "bind_pose", "load_rig_input", "residual_offsets", "rig_animation",
           "save_rigged"]
