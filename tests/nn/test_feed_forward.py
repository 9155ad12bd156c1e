import torch
import torch.nn.functional as F

from meshflow.nn import GEGLUFeedForward, SyncFeedForward


def test_geglu_feed_forward():
    ff = GEGLUFeedForward(8)
    assert (ff.lin1.in_features, ff.lin1.out_features) == (8, 64)
    assert (ff.lin2.in_features, ff.lin2.out_features) == (32, 8)
    assert repr(ff) == "GEGLUFeedForward(8, mult=4)"
    x = torch.randn(3, 5, 8)
    h = ff.lin1(x)
    expected = ff.lin2(h[..., :32] * F.gelu(h[..., 32:]))
    torch.testing.assert_close(ff(x), expected)


def test_sync_feed_forward_streams_are_independent():
    ff = SyncFeedForward(8)
    assert repr(ff) == "SyncFeedForward(8, mult=4)"
    x1, x2 = torch.randn(2, 4, 8), torch.randn(2, 4, 8)
    r1, r2 = ff(x1, x2)
    torch.testing.assert_close(r1, ff.ff1(ff.norm1(x1)))
    torch.testing.assert_close(r2, ff.ff2(ff.norm2(x2)))
    r1b, _ = ff(x1, torch.randn(2, 4, 8))
    torch.testing.assert_close(r1, r1b)
