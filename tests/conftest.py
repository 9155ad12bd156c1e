"""Shared test fixtures.

Tests that need the project's ``../shared`` folder (real meshes, golden vectors)
use the ``shared`` fixture: under CI (``CI=true``) a missing folder fails the
test with a clear message; elsewhere the test is skipped with the reason.
Set ``MESHFLOW_SHARED`` to point elsewhere.
"""
import importlib.util
import json
import os
import shutil
import subprocess
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


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny random model directory with T = 8 (``tests.test_pipeline.make_model_dir``), one per test module;
    modules that need another size define their own ``model_dir``."""
    from tests.test_pipeline import make_model_dir  # the pipeline's test module; imported only when used

    return make_model_dir(tmp_path_factory.mktemp("model") / "tiny", frames=8)


@pytest.fixture(scope="module")
def pipe(model_dir):
    """The pipeline of ``model_dir`` on the CPU."""
    from meshflow.pipeline import AnimationPipeline

    return AnimationPipeline.from_pretrained(model_dir, device="cpu")


#: where scripts/setup.sh installs the npm package gltf-validator (GLTF_VALIDATOR_MODULES elsewhere).
VALIDATOR_MODULES = Path(os.environ.get("GLTF_VALIDATOR_MODULES", ROOT / ".tools" / "node_modules")).resolve()


@pytest.fixture(scope="session")
def gltf_validator():
    """``validate(*paths) -> [report, ...]``: the Khronos glTF-Validator through scripts/validate_gltf.mjs (each
    report has ``errors``, ``warnings``, ``infos``, ``hints`` and ``messages``); skips when node or the npm
    package gltf-validator is absent."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node on PATH to run the Khronos glTF-Validator (npm package gltf-validator)")
    if not (VALIDATOR_MODULES / "gltf-validator" / "package.json").is_file():
        pytest.skip(f"needs the npm package gltf-validator in {VALIDATOR_MODULES} (scripts/setup.sh installs it "
                    "when npm is present; or set GLTF_VALIDATOR_MODULES)")

    def validate(*paths):
        proc = subprocess.run([node, str(ROOT / "scripts" / "validate_gltf.mjs"), *map(str, paths)],
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "GLTF_VALIDATOR_MODULES": str(VALIDATOR_MODULES)})
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"validate_gltf.mjs failed ({proc.returncode}): {proc.stderr.strip()}")
        return json.loads(proc.stdout)

    return validate


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
