"""Shared test fixtures.

Tests that need the project's ``../shared`` folder (real meshes, golden vectors)
use the ``shared`` fixture: under CI (``CI=true``) a missing folder fails the
test with a clear message; elsewhere the test is skipped with the reason.
Set ``MESHFLOW_SHARED`` to point elsewhere.
"""
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MESHFLOW_SHARED", ROOT.parent / "shared")).resolve()


def shared_path(*parts: str) -> Path:
    """Path under ../shared, failing (CI) or skipping (elsewhere) when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        msg = f"needs {path} (the project's shared folder; set MESHFLOW_SHARED to its location)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def load_script(name: str):
    """``scripts/NAME.py`` imported as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
