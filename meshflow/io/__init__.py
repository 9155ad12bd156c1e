"""Files in and out: static meshes, animated glTF, DyMesh samples, npz animations, exports, previews."""
from .animation import DEFAULT_FPS, Animation, AnimationSampler, ClipInfo, list_clips, sample_animation, weld_animation
from .dymesh import (
    AnimationFileError,
    UnsafePickleError,
    load_animation,
    load_dymesh,
    save_animation,
    save_dymesh,
)
from .gltf import GltfFile, read_gltf_static
from .mesh import EXTENSIONS, MeshFile, MeshPart, inspect_mesh, load_mesh, read_mesh

__all__ = [
    "DEFAULT_FPS", "EXTENSIONS", "Animation", "AnimationFileError", "AnimationSampler", "ClipInfo", "GltfFile",
    "MeshFile", "MeshPart", "UnsafePickleError", "inspect_mesh", "list_clips", "load_animation", "load_dymesh",
    "load_mesh", "read_gltf_static", "read_mesh", "sample_animation", "save_animation", "save_dymesh",
    "weld_animation",
]
