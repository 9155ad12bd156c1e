"""The top-level package: ``import meshflow`` loads no model code, and every name it lists resolves."""
import subprocess
import sys

import meshflow


def test_every_listed_name_resolves():
    for name in meshflow.__all__:
        assert getattr(meshflow, name) is not None, name


def test_import_meshflow_stays_light():
    code = "import sys, meshflow; print(sorted(m for m in ('torch', 'torch_geometric') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
