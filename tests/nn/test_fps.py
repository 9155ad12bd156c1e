import pytest
import torch

from meshflow.nn import farthest_point_sampling, fps_fast, fps_reference
from meshflow.nn.fps import _has_torch_cluster_kernel


def _torch_cluster_or_skip():
    return pytest.importorskip("torch_cluster")


@pytest.mark.parametrize("n,c,k", [(1, 3, 1), (50, 3, 10), (300, 48, 64), (300, 48, 300), (2000, 256, 60)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale,offset", [(1.0, 0.0), (1e-3, 0.0), (1.0, 50.0)])
def test_fast_equals_reference(n, c, k, dtype, scale, offset):
    x = torch.randn(n, c, dtype=dtype) * scale + offset  # an offset stresses the |x|^2 expansion
    expected = fps_reference(x, k)
    assert expected[0] == 0 and len(set(expected.tolist())) == k
    for rows in (7, 8192):
        assert torch.equal(fps_fast(x, k, block_rows=rows), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_equals_reference_with_exact_ties(dtype):
    lattice = torch.stack(torch.meshgrid(*[torch.arange(5.0)] * 3, indexing="ij"), -1).view(-1, 3)
    x = torch.cat([lattice, lattice[:40]]).to(dtype)  # many equal distances and duplicated points
    for k in (20, 125, 165):
        assert torch.equal(fps_fast(x, k), fps_reference(x, k))


@pytest.mark.parametrize("n,c,k", [(50, 3, 10), (300, 48, 64), (3000, 256, 100)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_cluster_equals_reference(n, c, k, dtype):
    torch_cluster = _torch_cluster_or_skip()
    x = torch.randn(n, c, dtype=dtype)
    expected = fps_reference(x, k)
    got = torch_cluster.fps(x, ratio=(k + 0.5) / n, random_start=False)[:k]
    assert torch.equal(got, expected)
    assert torch.equal(farthest_point_sampling(x, torch.tensor([0, n]), k, backend="torch_cluster")[0], expected)


@pytest.mark.parametrize("backend", ["auto", "fast", "reference", "torch_cluster"])
def test_batched_meshes_same_k(backend):
    if backend == "torch_cluster":
        _torch_cluster_or_skip()
    sizes = [40, 7, 123]
    x = torch.randn(sum(sizes), 16)
    ptr = torch.tensor([0, 40, 47, 170])
    index = farthest_point_sampling(x, ptr, 12, backend=backend)
    assert index.shape == (3, 12)
    assert index[:, 0].tolist() == [0, 40, 47]  # every mesh starts at its first vertex
    for b, n in enumerate(sizes):
        start = int(ptr[b])
        local = fps_reference(x[start:start + n], min(n, 12))
        if n >= 12:
            assert torch.equal(index[b] - start, local)
        else:  # fewer vertices than tokens: the full FPS order, repeated
            assert torch.equal(index[b] - start, local[torch.arange(12) % n])


def test_auto_on_cpu_uses_the_fast_loop(monkeypatch):
    x = torch.randn(10, 3)
    assert _has_torch_cluster_kernel(x) in (True, False)
    torch_cluster = _torch_cluster_or_skip()
    gpu_like = type("FakeCuda", (), {"is_cuda": True, "device": torch.device("cpu")})()
    monkeypatch.setattr(torch_cluster, "cuda_version", -1)  # a CPU-only build
    assert _has_torch_cluster_kernel(gpu_like) is False
    monkeypatch.setattr(torch_cluster, "cuda_version", 12010)
    assert _has_torch_cluster_kernel(gpu_like) is True
    assert torch.equal(farthest_point_sampling(x, torch.tensor([0, 10]), 4)[0], fps_reference(x, 4))


def test_errors():
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match=r"Expected 'backend' to be one of auto, torch_cluster, fast, "
                                         r"reference \(got 'pytorch3d'\)"):
        farthest_point_sampling(x, torch.tensor([0, 10]), 4, backend="pytorch3d")
    with pytest.raises(ValueError, match=r"at least one sample per graph \(got num_samples=0\)"):
        farthest_point_sampling(x, torch.tensor([0, 10]), 0)
    with pytest.raises(ValueError, match=r"at least one point \(got sizes \[10, 0\]\)"):
        farthest_point_sampling(x, torch.tensor([0, 10, 10]), 2)
