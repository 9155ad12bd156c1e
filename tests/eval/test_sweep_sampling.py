"""scripts/sweep_sampling.py: its validation meshes are the held-out files, never the evaluation suite's."""
import importlib.util
from pathlib import Path

import pytest

from meshflow.train.data import split_by_source

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sweep():
    spec = importlib.util.spec_from_file_location("sweep_sampling", ROOT / "scripts" / "sweep_sampling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_sampler(sweep):
    assert sweep.parse_sampler("heun:17") == ("heun", 17)
    assert sweep.parse_sampler("midpoint") == ("midpoint", 64)


def test_validation_meshes_are_held_out_and_not_the_eval_meshes(sweep):
    if not (sweep.SHARED / "quaternius").is_dir():
        pytest.skip("shared/data/quaternius is not here")
    meshes = sweep.validation_meshes()
    files = sorted((sweep.SHARED / "quaternius").rglob("*.glb"))
    train, val = split_by_source([f.name for f in files], 0.05, max_val=len(files))
    assert meshes and {m.name for m in meshes} == {files[i].name for i in val}
    assert not {m.name for m in meshes} & {files[i].name for i in train}
    assert not {m.stem.lower() for m in meshes} & {"bird", "robot", "spot", "cow"}
