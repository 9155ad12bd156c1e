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


def test_peak_rss_is_this_process_own():
    from meshflow.resources import peak_rss_bytes

    code = ("import numpy as np; from meshflow.resources import peak_rss_bytes; a = peak_rss_bytes(); "
            "x = np.ones(50 * 2 ** 20 // 8); print(a, peak_rss_bytes())")
    before, after = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                            check=True).stdout.split())
    assert after - before >= 40 * 2 ** 20  # the 50 MB array shows up
    big = b"\x01" * (300 * 2 ** 20)  # touched pages: a parent much larger than the child: the child must not report it
    child = int(subprocess.run([sys.executable, "-c", "from meshflow.resources import peak_rss_bytes; "
                                "print(peak_rss_bytes())"], capture_output=True, text=True, check=True).stdout)
    assert child < peak_rss_bytes() and child < 250 * 2 ** 20
    del big
