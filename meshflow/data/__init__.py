"""Mesh graphs, datasets and transforms."""
from .graph import (
    connected_components,
    denormalize,
    edge_index_from_faces,
    mesh_graph,
    normalization,
    to_file_vertices,
    weld_vertices,
)

__all__ = [
    "connected_components",
    "denormalize",
    "edge_index_from_faces",
    "mesh_graph",
    "normalization",
    "to_file_vertices",
    "weld_vertices",
]
