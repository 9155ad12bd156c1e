import numpy as np
import pytest

from meshflow.data.shapes import grid, icosphere, tetrahedron


@pytest.mark.parametrize("n,expected", [(0, 12), (1, 42), (2, 162)])
def test_icosphere_counts(n, expected):
    v, f = icosphere(n)
    assert len(v) == expected and len(f) == 20 * 4 ** n
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, rtol=1e-6)


def test_grid_and_tetrahedron():
    v, f = grid(3, 4)
    assert v.shape == (12, 3) and f.shape == (2 * 2 * 3, 3)
    v, f = tetrahedron()
    assert v.shape == (4, 3) and f.shape == (4, 3)
