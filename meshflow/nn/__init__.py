"""Layers of the DyMeshVAE (AnimateAnyMesh) in PyTorch Geometric style."""
from .feed_forward import GEGLUFeedForward
from .fps import farthest_point_sampling, fps_fast, fps_reference
from .neighbor_attention import NeighborAttention
from .point_embedding import PointEmbedding
from .sync_attention import SyncAttention
from .sync_feed_forward import SyncFeedForward
from .token_skinning import rotation_6d, TokenSkinning
from .trajectory_embedding import TrajectoryEmbedding
from .vertex_query_attention import VertexQueryAttention

__all__ = [
    "PointEmbedding",
    "TrajectoryEmbedding",
    "NeighborAttention",
    "SyncAttention",
    "GEGLUFeedForward",
    "SyncFeedForward",
    "VertexQueryAttention",
    "TokenSkinning",
    "rotation_6d",
    "farthest_point_sampling",
    "fps_fast",
    "fps_reference",
]
