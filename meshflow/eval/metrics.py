r"""Metrics of animated meshes, in the original's normalised units.

Every distance here is divided by the scale :math:`s` of the original's
normalisation of frame 0 (:func:`meshflow.data.graph.normalization`: the
largest distance of a vertex from the bounding-box centre along one axis), so
numbers compare across meshes of any size and match the DyMeshVAE test metric.
For an animation :math:`x_t^i` (frames :math:`t = 0..T-1`, vertices :math:`i`):

* reconstruction error (:func:`per_vertex_error`):
  :math:`\frac1T \sum_t \lVert \hat x_t^i - x_t^i \rVert` per vertex;
* shape preservation (:func:`~meshflow.io.geometry.edge_length_change`): over the mesh edges
  :math:`(i, j)` and the frames :math:`t \ge 1`, the mean of
  :math:`\bigl|\,\lVert x_t^i - x_t^j\rVert - \ell_{ij}\bigr| / \ell_{ij}` with
  :math:`\ell_{ij} = \lVert x_0^i - x_0^j\rVert` (0 for rigid motion; edges between coincident
  vertices left out);
* smoothness (:func:`second_difference`): the mean of
  :math:`\lVert x_{t+1}^i - 2x_t^i + x_{t-1}^i\rVert / s` (0 for motion at constant velocity);
* motion amount (:func:`~meshflow.io.geometry.motion_amount`): the mean of :math:`\lVert x_t^i - x_0^i\rVert / s`.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import torch
from torch import Tensor

# one implementation of each, in the geometry layer (the pipeline ranks samples with them too)
from ..io.geometry import edge_length_change, frame_scale, mesh_edges, motion_amount


def second_difference(frames: np.ndarray) -> float:
    r"""Mean norm of the second temporal difference, in normalised units (0 with fewer than 3 frames).

    Shapes:
        - **input:** frames (T, N, 3)
        - **output:** float
    """
    x = np.asarray(frames, dtype=np.float64)
    if x.shape[0] < 3 or x.shape[1] == 0:
        return 0.0
    acc = x[2:] - 2 * x[1:-1] + x[:-2]  # (T-2, N, 3)
    return float(np.linalg.norm(acc, axis=-1).mean() / frame_scale(x[0]))


def motion_metrics(frames: np.ndarray, faces: np.ndarray) -> Dict[str, float]:
    """``{"edge_change", "smoothness", "motion"}`` of one animation (see the module docstring)."""
    return {"edge_change": edge_length_change(frames, faces), "smoothness": second_difference(frames),
            "motion": motion_amount(frames)}


def per_vertex_error(recon: Tensor, target: Tensor) -> Tensor:
    r"""Euclidean error per vertex, averaged over frames.

    Shapes:
        - **input:** recon (N, T, 3), target (N, T, 3)
        - **output:** (N,)
    """
    return (recon - target).norm(dim=-1).mean(dim=1)


def per_graph_mean(values: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    r"""Mean of per-vertex ``values`` within each graph of a batch (0 for an empty graph).

    Shapes:
        - **input:** values (N,), batch (N,) graph of each vertex
        - **output:** (B,)
    """
    total = torch.zeros(num_graphs, dtype=values.dtype, device=values.device).index_add_(0, batch, values)
    count = torch.bincount(batch, minlength=num_graphs).clamp(min=1)
    return total / count


def summarize(values) -> Dict[str, float]:
    """``{"mean", "p90", "min", "max"}`` of a list of numbers (NaN for an empty list)."""
    a = np.asarray(list(values), dtype=np.float64)
    if a.size == 0:
        return {"mean": float("nan"), "p90": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"mean": float(a.mean()), "p90": float(np.percentile(a, 90)), "min": float(a.min()), "max": float(a.max())}


__all__ = ["edge_length_change", "mesh_edges", "motion_amount", "motion_metrics", "per_graph_mean",
           "per_vertex_error", "second_difference", "summarize"]
