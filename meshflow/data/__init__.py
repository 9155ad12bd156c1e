"""Mesh graphs, datasets, transforms, procedural motions and clip building."""
from .clips import build_clips, caption_for
from .dataset import (
    AnimationFileDataset,
    ClipDataset,
    StreamingClipDataset,
    animation_to_data,
    clip_to_data,
    simplify_clip,
)
from .graph import (
    connected_components,
    denormalize,
    edge_index_from_faces,
    file_graph,
    inspect_mesh,
    load_mesh,
    mesh_graph,
    normalization,
    to_file_vertices,
    weld_vertices,
)
from .motions import LABELS, make_motion
from .transforms import RandomRotateUp, RandomScale, ShuffleVertices

__all__ = [
    "LABELS", "AnimationFileDataset", "ClipDataset", "RandomRotateUp", "RandomScale", "ShuffleVertices",
    "StreamingClipDataset", "animation_to_data", "build_clips", "caption_for", "clip_to_data",
    "connected_components", "denormalize", "edge_index_from_faces", "file_graph", "inspect_mesh",
    "load_mesh", "make_motion", "mesh_graph", "normalization", "simplify_clip", "to_file_vertices",
    "weld_vertices",
]
