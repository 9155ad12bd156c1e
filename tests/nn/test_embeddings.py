import math

import pytest
import torch

from meshflow.nn import PointEmbedding, TrajectoryEmbedding


def test_point_embedding_features():
    emb = PointEmbedding(16)
    assert emb.basis.shape == (3, 24)
    assert emb.lin.in_features == 51
    assert repr(emb) == "PointEmbedding(16, num_freqs=8)"
    pos = torch.rand(5, 3) * 2 - 1
    freqs = 2.0 ** torch.arange(8) * math.pi
    proj = torch.cat([pos[:, a:a + 1] * freqs for a in range(3)], dim=1)  # axis-major blocks
    expected = emb.lin(torch.cat([proj.sin(), proj.cos(), pos], dim=1))
    torch.testing.assert_close(emb(pos), expected)
    assert emb(pos.unsqueeze(0)).shape == (1, 5, 16)


def test_trajectory_embedding_features():
    T = 4
    emb = TrajectoryEmbedding(3 * T, 8)
    assert emb.freq_bands.shape == (10, 1)
    assert emb.lin.in_features == 3 * T * 21
    assert repr(emb) == "TrajectoryEmbedding(12, 8, num_freqs=10)"
    x = torch.randn(6, 3 * T) * 0.1
    sin = [torch.sin(x * (2.0 ** k) * math.pi) for k in range(10)]
    cos = [torch.cos(x * (2.0 ** k) * math.pi) for k in range(10)]
    expected = emb.lin(torch.cat([x] + sin + cos, dim=1))  # frequency-major, then value
    torch.testing.assert_close(emb(x), expected)


def test_trajectory_embedding_rejects_wrong_width():
    emb = TrajectoryEmbedding(12, 8)
    with pytest.raises(ValueError, match=r"last dimension of the trajectories to be 12 \(got \(3, 9\)\)"):
        emb(torch.zeros(3, 9))
