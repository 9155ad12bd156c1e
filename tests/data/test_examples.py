"""The project's generated meshes (meshflow.data.examples)."""
import numpy as np
import pytest

from meshflow.data.examples import EVAL_MESHES, EXAMPLES, random_assembly
from meshflow.progress import min_interval


@pytest.mark.parametrize("name", sorted({**EXAMPLES, **EVAL_MESHES}))
def test_named_meshes_are_small_and_above_the_ground(name):
    mesh = {**EXAMPLES, **EVAL_MESHES}[name]().to_mesh()
    assert 300 < len(mesh.vertices) < 5000  # animates in seconds on a CPU
    assert -0.01 < mesh.bounds[0][1] < 0.3


def test_eval_meshes_are_not_training_examples():
    assert not set(EVAL_MESHES) & set(EXAMPLES)


def test_random_assembly_is_seeded_and_varied():
    a, b, c = random_assembly(3), random_assembly(3), random_assembly(4)
    np.testing.assert_array_equal(a.to_mesh().vertices, b.to_mesh().vertices)
    assert not np.array_equal(a.to_mesh().vertices.shape, c.to_mesh().vertices.shape) or \
        not np.allclose(a.to_mesh().vertices, c.to_mesh().vertices)
    for seed in range(6):
        scene = random_assembly(seed)
        assert 3 <= len(scene.geometry) <= 7
        assert scene.bounds[0][1] == pytest.approx(0.0, abs=1e-9)  # stands on y = 0


def test_progress_interval_without_a_terminal(capsys):
    assert min_interval() == 30.0  # pytest captures stderr: not a terminal
