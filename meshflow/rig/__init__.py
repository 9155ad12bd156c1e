"""Rigs fitted to animations: linear blend skinning by SSDR (:mod:`meshflow.rig.ssdr`), its small
batched solvers (:mod:`meshflow.rig.solvers`), and rigged glTF output (:mod:`meshflow.rig.export`).

Above ``io`` and ``data`` (rank 6, beside the pipeline): an :class:`~meshflow.io.Animation` in, a
:class:`SkinningFit` and a skinned ``.glb`` / ``.gltf`` out.
"""
from .solvers import blend_skin, kabsch, simplex_lstsq
from .ssdr import RigConfig, SkinningFit, bone_tree, check_bones, fit_skinning, fit_vertex_count

__all__ = ["RigConfig", "SkinningFit", "blend_skin", "bone_tree", "check_bones", "fit_skinning", "fit_vertex_count",
           "kabsch", "simplex_lstsq"]
