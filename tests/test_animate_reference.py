"""`meshflow animate` gives, for a fixed seed, the very vertices it gave before issue 12's refactor.

``animate_reference.json`` was recorded with the code before the refactor (tiny random model of
``tests.test_pipeline.make_model_dir``, ``graphs/examples/quadruped.glb``, seed 0, 3 steps): the
sha256 of the float32 vertex bytes, the shape and a few values. Re-recorded once since, when the
decoder's token self-attention moved onto SDPA's fused kernel (memory linear in K; the vertices moved by
at most 9e-8, float rounding).

Bit-for-bit holds only on the CPU kernels a recording was made with: on an AVX2 machine (session 7) the same
code gave vertices within 6e-8 of the first recording. So every machine compares all vertices with
``animate_reference_vertices.npz`` (recorded on AVX2) within 1e-6, far below any real change, and the
hashes pin the bytes where this machine's kernels (``torch.backends.cpu.get_cpu_capability()``) have a
recording: ``kernels[capability]`` (AVX2 in session 7, AVX512 in session 11: its vertices were within 1e-6 of
the AVX2 ones, its bytes differ); on a machine whose kernels have no recording only the 1e-6 comparison
holds (an unrecorded machine's rounding cannot be predicted: session 11's AVX512 matched neither recording).
"""
import hashlib
import json
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import torch

from meshflow.commands.main import main
from meshflow.io import load_animation
from tests.test_pipeline import make_model_dir

HERE = Path(__file__).resolve().parent
REFERENCE = json.loads((HERE / "animate_reference.json").read_text())
VERTICES = np.load(HERE / "animate_reference_vertices.npz")["vertices"]  # (8, 1006, 3) float32
MESH = HERE.parent / "graphs" / "examples" / "quadruped.glb"


@pytest.fixture
def one_thread():
    """The reference was recorded with one thread: matrix products sum in another order with more."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("ext", ["npz", "glb"])
def test_animate_vertices_are_unchanged(tmp_path, ext, one_thread):
    model = make_model_dir(tmp_path / "tiny", frames=8)
    out = tmp_path / f"dog.{ext}"
    assert main(["animate", str(MESH), "--prompt", "the dog walks forward", "-o", str(out), "--model", str(model),
                 "--seed", "0", "--steps", "3", "-q"]) == 0
    anim = load_animation(out)
    assert list(anim.vertices.shape) == REFERENCE["shape"]
    for key, value in REFERENCE["samples"].items():
        t, i = map(int, key.split(","))
        np.testing.assert_allclose(anim.vertices[t, i], value, atol=1e-6 if ext == "npz" else 1e-5)
    np.testing.assert_allclose(anim.vertices, VERTICES, atol=1e-6 if ext == "npz" else 1e-5, rtol=0)
    pinned = recorded_hashes()
    if pinned is None:  # no recording for this machine's kernels: the vertex comparison above is the check
        return
    if ext == "npz":  # bit for bit on these kernels
        assert hashlib.sha256(np.ascontiguousarray(anim.faces, dtype=np.int64).tobytes()).hexdigest() \
            == REFERENCE["faces_sha256"]
        digest = hashlib.sha256(np.ascontiguousarray(anim.vertices, dtype=np.float32).tobytes()).hexdigest()
        assert digest in pinned["sha256"], (torch.backends.cpu.get_cpu_capability(), digest)
    else:  # the GLB file is pinned too (re-recorded for the pygltflib writer and again when it kept the input scene: same vertices, new bytes)
        assert hashlib.sha256(out.read_bytes()).hexdigest() in pinned["glb_sha256"]


def recorded_hashes() -> Optional[dict]:
    """The hashes a run on this machine's CPU kernels must give: its capability's recording, or None when
    its kernels have none."""
    own = REFERENCE.get("kernels", {}).get(torch.backends.cpu.get_cpu_capability())
    return None if own is None else {k: {own[k]} for k in ("sha256", "glb_sha256")}
