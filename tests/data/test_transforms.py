"""Augmentations: rotation about the up axis, random scale, vertex shuffling, composed."""
import numpy as np
import pytest
import torch
from torch_geometric.transforms import Compose

from meshflow.data.dataset import animation_to_data
from meshflow.data.motions import make_motion
from meshflow.data.shapes import icosphere
from meshflow.data.transforms import RandomRotateUp, RandomScale, ShuffleVertices


def test_transforms():
    v, f = icosphere(2)
    d0 = animation_to_data(make_motion(v * [1, 2, 1], f, "hop", rng=0).frames, f, "hop")
    torch.manual_seed(0)
    d = RandomRotateUp(renormalize=False)(d0.clone())
    r0 = d0.pos[:, [0, 2]].norm(dim=1)
    torch.testing.assert_close(d.pos[:, [0, 2]].norm(dim=1), r0, atol=1e-5, rtol=0)
    torch.testing.assert_close(d.pos[:, 1], d0.pos[:, 1])
    torch.testing.assert_close(d.traj[..., 1], d0.traj[..., 1])
    d = RandomRotateUp(degrees=45)(d0.clone())
    assert d.pos.abs().max() == pytest.approx(1.0, abs=1e-5)
    d = RandomScale(0.5, 0.9)(d0.clone())
    k = d.pos.abs().max()
    assert 0.5 <= k <= 0.9
    torch.testing.assert_close(d.pos * d.scale + d.center, d0.pos * d0.scale + d0.center)
    d = ShuffleVertices()(d0.clone())
    tri = lambda x: sorted(map(tuple, np.round(x.pos[x.face.T].numpy().reshape(-1, 9), 5)))  # noqa: E731
    assert tri(d) == tri(d0)
    assert d.edge_index.shape == d0.edge_index.shape
    key = d.edge_index[0] * d.num_nodes + d.edge_index[1]
    assert torch.all(key[1:] > key[:-1])  # sorted and unique
    np.testing.assert_allclose(np.sort(d.traj.numpy(), axis=0), np.sort(d0.traj.numpy(), axis=0))
    both = Compose([RandomRotateUp(), RandomScale(), ShuffleVertices()])(d0.clone())
    assert both.traj.shape == d0.traj.shape
