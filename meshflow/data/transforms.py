r"""Augmentations of training samples (:class:`torch_geometric.transforms.BaseTransform`).

:class:`RandomRotateUp`, :class:`RandomScale` and :class:`ShuffleVertices` act on the
samples of :mod:`meshflow.data.dataset` (``pos`` (N, 3), ``traj`` (N, T, 3), ``face``,
``edge_index``, optional ``scale`` and ``source_index``); compose them with
:class:`torch_geometric.transforms.Compose`.
"""
from __future__ import annotations

import math

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from .graph import edge_index_from_faces, normalization


class RandomRotateUp(BaseTransform):
    r"""Rotates a sample about the up axis by a random angle, then renormalises.

    Positions and trajectories turn together; the original normalisation (frame-0
    box centre, largest absolute coordinate 1) is restored afterwards, and
    ``center`` / ``scale`` are updated only in the normalised frame (the rotation
    is an augmentation, not a change of the source).

    Args:
        degrees (float, optional): angles are drawn from [-degrees, degrees]. (default: :obj:`180.0`)
        axis (int, optional): the up axis. (default: :obj:`1`, glTF's y)
        renormalize (bool, optional): restore the normalisation. (default: :obj:`True`)
    """

    def __init__(self, degrees: float = 180.0, axis: int = 1, renormalize: bool = True):
        self.degrees = degrees
        self.axis = axis
        self.renormalize = renormalize

    def forward(self, data: Data) -> Data:
        theta = math.radians(float(torch.empty(()).uniform_(-self.degrees, self.degrees)))
        c, s = math.cos(theta), math.sin(theta)
        i, j = [(1, 2), (2, 0), (0, 1)][self.axis]  # (i, j) -> (c i - s j, s i + c j) turns about +axis
        R = torch.eye(3)
        R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
        pos = data.pos @ R.T
        traj = data.traj @ R.T
        if self.renormalize:
            center, scale = normalization(pos)
            pos = (pos - center) / scale
            traj = traj / scale
        data.pos, data.traj = pos, traj
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(degrees={self.degrees}, axis={self.axis})"


class RandomScale(BaseTransform):
    r"""Scales positions and trajectories by one random factor from [low, high].

    ``scale`` is divided by the factor, so that ``pos * scale + center`` still
    gives file units.
    """

    def __init__(self, low: float = 0.8, high: float = 1.0):
        if not 0 < low <= high:
            raise ValueError(f"Expected 0 < low <= high (got {low}, {high})")
        self.low, self.high = low, high

    def forward(self, data: Data) -> Data:
        k = float(torch.empty(()).uniform_(self.low, self.high))
        data.pos = data.pos * k
        data.traj = data.traj * k
        if getattr(data, "scale", None) is not None:
            data.scale = data.scale / k
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.low}, {self.high})"


class ShuffleVertices(BaseTransform):
    r"""Permutes the vertex order at random (positions, trajectories, faces, edges, maps)."""

    def forward(self, data: Data) -> Data:
        n = data.pos.size(0)
        perm = torch.randperm(n)  # new vertex k is old vertex perm[k]
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(n)
        data.pos = data.pos[perm]
        data.traj = data.traj[perm]
        data.face = inv[data.face]
        data.edge_index = edge_index_from_faces(data.face, n)
        if getattr(data, "source_index", None) is not None:
            data.source_index = inv[data.source_index]
        return data
