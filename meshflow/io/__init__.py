"""Files in and out: static meshes, animations, exports."""
from .mesh import EXTENSIONS, MeshFile, MeshPart, inspect_mesh, load_mesh, read_mesh

__all__ = ["EXTENSIONS", "MeshFile", "MeshPart", "inspect_mesh", "load_mesh", "read_mesh"]
