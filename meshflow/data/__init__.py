"""Mesh graphs, datasets, transforms, procedural motions and clip building."""
from .clips import build_clips, caption_for
from .dataset import (
    AnimationFileDataset,
    ClipDataset,
    RandomRotateUp,
    RandomScale,
    ShuffleVertices,
    StreamingClipDataset,
    animation_to_data,
    clip_to_data,
    simplify_clip,
)
from .graph import (
    connected_components,
    denormalize,
    edge_index_from_faces,
    mesh_graph,
    normalization,
    to_file_vertices,
    weld_vertices,
)
from .motions import LABELS, check_motion, make_motion, motion_scores

__all__ = [
    "LABELS", "AnimationFileDataset", "ClipDataset", "RandomRotateUp", "RandomScale", "ShuffleVertices",
    "StreamingClipDataset", "animation_to_data", "build_clips", "caption_for", "check_motion", "clip_to_data",
    "connected_components", "denormalize", "edge_index_from_faces", "make_motion", "mesh_graph", "motion_scores",
    "normalization", "simplify_clip", "to_file_vertices", "weld_vertices",
]
