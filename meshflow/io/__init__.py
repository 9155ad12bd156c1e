"""Files in and out: static meshes, animated glTF, DyMesh samples, npz animations, exports, previews.

The stack, bottom to top (each module imports only those below it): ``atomic``
(atomic writes), ``geometry`` (TRS, quaternions, welding, normals), ``gltf`` (the
glTF reader), ``mesh`` (static meshes), ``dymesh`` (raw npz / pickle samples),
``export`` (format writers), ``animation`` (the one :class:`Animation`, glTF
sampling, :func:`load_animation` / :func:`save_animation`), ``preview``.
Nothing here knows about graphs or models: the mesh graph is
:func:`meshflow.data.graph.file_graph` (``meshflow.load_mesh``).
"""
from .animation import (
    ANIMATION_EXTENSIONS,
    DEFAULT_FPS,
    Animation,
    AnimationSampler,
    ClipInfo,
    list_clips,
    load_animation,
    sample_animation,
    save_animation,
)
from .atomic import atomic_file, atomic_folder, replace_folder
from .dymesh import AnimationFileError, UnsafePickleError, load_dymesh, save_dymesh
from .geometry import weld_animation, weld_vertices
from .gltf import GltfFile
from .mesh import EXTENSIONS, MeshFile, MeshPart, read_gltf_static, read_mesh

__all__ = [
    "ANIMATION_EXTENSIONS", "DEFAULT_FPS", "EXTENSIONS", "Animation", "AnimationFileError", "AnimationSampler",
    "ClipInfo", "GltfFile", "MeshFile", "MeshPart", "UnsafePickleError", "atomic_file", "atomic_folder",
    "list_clips", "load_animation", "load_dymesh", "read_gltf_static", "read_mesh", "replace_folder",
    "sample_animation", "save_animation", "save_dymesh", "weld_animation", "weld_vertices",
]
