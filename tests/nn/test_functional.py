import pytest
import torch

from meshflow.nn.functional import attention, chunked_attention


def _reference(q, k, v):
    return torch.softmax(q @ k.T, dim=-1) @ v


@pytest.mark.parametrize("chunk", [1, 3, 7, 50])
def test_chunked_attention_equals_softmax(chunk):
    q, k, v = torch.randn(5, 4, dtype=torch.float64) * 3, torch.randn(23, 4, dtype=torch.float64), \
        torch.randn(23, 6, dtype=torch.float64)
    blocks = ((k[a:a + chunk], v[a:a + chunk]) for a in range(0, 23, chunk))
    torch.testing.assert_close(chunked_attention(q, blocks), _reference(q, k, v), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(attention(q[None], k[None], v[None])[0], _reference(q, k, v))


def test_chunked_attention_gradients():
    q = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(10, 4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(10, 2, dtype=torch.float64, requires_grad=True)

    def fn(q, k, v):
        return chunked_attention(q, [(k[a:a + 4], v[a:a + 4]) for a in range(0, 10, 4)])

    assert torch.autograd.gradcheck(fn, (q, k, v))


def test_chunked_attention_needs_a_block():
    with pytest.raises(ValueError, match="at least one key/value block"):
        chunked_attention(torch.randn(2, 3), [])
