"""Issue 15's table, one test per row: a bad output, option, model config or signal ends in one short line
(no traceback, no ANSI codes, <= 200 characters less the paths), the row's exit code and nothing left on disk.

Rows whose detail lives elsewhere point there: the $TMPDIR litter (tests/commands/test_animate.py), refused
pickles (tests/models/test_hub.py), `data build`'s failure count (tests/data/), glTF fidelity (tests/io/).
"""
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trimesh

from meshflow.commands.main import main
from meshflow.io.atomic import STALE_AFTER

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def work(tmp_path):
    """A ball to animate and an empty output folder."""
    ball = tmp_path / "ball.obj"
    trimesh.creation.icosphere(1).export(ball)  # 42 vertices
    out = tmp_path / "out"
    out.mkdir()
    return ball, out


def one_line(text: str, paths=()) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text
    line = lines[0]
    assert "\x1b" not in line and "Traceback" not in line
    short = line
    for path in paths:
        short = short.replace(str(path), "")
    assert len(short) <= 200, line
    return line


def refused(capsys, argv, pattern, command="animate", paths=()):
    """``meshflow ARGV`` exits 2 with one line ``meshflow COMMAND: error: ...`` matching ``pattern``."""
    rc = main([command, *map(str, argv)])
    line = one_line(capsys.readouterr().err, paths)
    assert rc == 2 and line.startswith(f"meshflow {command}: error: ") and re.search(pattern, line), line
    return line


def animate_args(mesh, out, model, *more):
    return [mesh, "-p", "x", "-o", out, "--model", model, "--steps", "2", "-q", *more]


# ---- outputs, options: checked before the work (--model does not exist: any work would fail on it) ----
def _same_as_input(out, ball):
    glb = ball.with_suffix(".glb")
    trimesh.creation.icosphere(1).export(glb)
    return glb, glb


OUTPUT_ROWS = [  # (row, (out, ball) -> (input, -o), the line)
    ("existing folder as -o", lambda out, ball: (ball, (out.joinpath("x.glb").mkdir(), out / "x.glb")[1]),
     r"Expected a file path for a \.glb output \(got an existing folder\)"),
    ("-o equal to the input", _same_as_input, r"Expected an output other than the input.*--overwrite"),
    ("parent of -o is a file", lambda out, ball: (ball, (out.joinpath("f").write_text(""), out / "f" / "x.glb")[1]),
     r"Expected a folder at .* \(got a file\)"),
    ("-o /proc/x.glb", lambda out, ball: (ball, Path("/proc/x.glb")), r"Expected a writable folder \(got /proc"),
]


@pytest.mark.parametrize("name, target, pattern", OUTPUT_ROWS, ids=[r[0] for r in OUTPUT_ROWS])
def test_bad_outputs(name, target, pattern, work, tmp_path, capsys):
    ball, out = work
    if name.startswith("-o /proc") and not os.path.isdir("/proc"):
        pytest.skip("no /proc")
    mesh, path = target(out, ball)
    before = {p.name: p.read_bytes() for p in [*tmp_path.iterdir(), *out.iterdir()] if p.is_file()}
    refused(capsys, animate_args(mesh, path, tmp_path / "nowhere"), pattern, paths=[tmp_path])
    assert {p.name: p.read_bytes() for p in [*tmp_path.iterdir(), *out.iterdir()] if p.is_file()} == before
    assert not any(os.listdir(p) for p in out.iterdir() if p.is_dir())


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(work, tmp_path, capsys):
    ball, out = work
    out.chmod(0o555)
    try:
        refused(capsys, animate_args(ball, out / "x.glb", tmp_path / "nowhere"), r"Expected a writable folder")
    finally:
        out.chmod(0o755)
    assert os.listdir(out) == []


def test_disk_full_while_writing(work, model_dir, capsys, monkeypatch):
    """The writer's OSError (here ENOSPC as the output is renamed into place) is one line naming the output."""
    ball, out = work
    real = os.replace

    def full(src, dst, *args, **kwargs):
        if Path(dst).name == "x.glb":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full)
    refused(capsys, animate_args(ball, out / "x.glb", model_dir),
            rf"error: {re.escape(str(out / 'x.glb'))}: cannot be written \(No space left on device\)$")
    assert os.listdir(out) == []


OPTION_ROWS = [
    (["--guidance", "nan"], r"Expected 'guidance' to be a finite number \(got nan\)"),
    (["--guidance", "inf"], r"Expected 'guidance' to be a finite number \(got inf\)"),
    (["--fps", "nan"], r"Expected 'fps' to be a positive finite number \(got nan\)"),
    (["--fps", "inf"], r"Expected 'fps' to be a positive finite number \(got inf\)"),
    (["--tokens", "99999"], r"Expected 'tokens' to be at most the welded vertex count 42 \(got 99999\)"),
]


@pytest.mark.parametrize("option, pattern", OPTION_ROWS, ids=[" ".join(o) for o, _ in OPTION_ROWS])
def test_bad_option_values(option, pattern, work, model_dir, capsys):
    ball, out = work
    start = time.monotonic()
    refused(capsys, animate_args(ball, out / "x.glb", model_dir, *option), pattern)
    assert os.listdir(out) == [] and time.monotonic() - start < 60  # --tokens 99999 used to hang


# ---- input files: the file's own line (OBJ/OFF), too few points ----
INPUT_ROWS = [
    ("x.obj", "v 0 0 0\n", r"x\.obj: Expected a mesh with at least one face or a point cloud of at least 4 points "
                           r"\(got 1 point\)"),
    ("x.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 3\nf 2 3 9\n",
     r"x\.obj: line 6: face index 9 is out of range \(the file has 4 vertices\)$"),
    ("x.obj", "v 0 0 0\nv 1 0 0\nv 0 1\nf 1 2 3\n", r"x\.obj: line 3: expected 'v x y z' with 3 numbers"),
    ("x.off", "OFF\n4 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n",
     r"x\.off: line 2: the counts say 4 vertices and 1 faces, so 5 rows should follow \(got 4\)$"),
    ("x.off", "OFF\n3 1 0\n0 0 0\n1 0\n0 1 0\n3 0 1 2\n", r"x\.off: line 4: expected 'x y z' with 3 numbers"),
]


@pytest.mark.parametrize("name, text, pattern", INPUT_ROWS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(INPUT_ROWS)])
def test_bad_text_meshes_name_their_line(name, text, pattern, work, model_dir, tmp_path, capsys):
    ball, out = work
    mesh = tmp_path / name
    mesh.write_text(text)
    for command, argv in (("animate", animate_args(mesh, out / "x.glb", model_dir)), ("inspect", [mesh])):
        if command == "inspect" and "point" in pattern:
            continue  # inspect describes point clouds; only animate needs 4 points
        line = refused(capsys, argv, pattern, command=command, paths=[tmp_path])
        assert "shape" not in line and "numpy" not in line
    assert os.listdir(out) == []


# ---- model directories ----
CONFIG_ROWS = [
    ("mmdit", {"width": 256, "heads": 6}, r"invalid MMDiT config \(Expected 'width' divisible by 'heads' "
                                          r"\(got width=256, heads=6\)\)"),
    ("vae", {"output_dim": 25}, r"invalid DyMeshVAE config \(Expected output_dim = 3 \* T = 24 "
                                r"\(got output_dim=25\)\)"),
    ("vae", {"dim": "big"}, r"invalid DyMeshVAE config \(Expected 'dim' to be an integer of at least 1 "
                            r"\(got \"big\"\)\)"),
    ("vae", {"latent_dim": -1}, r"invalid DyMeshVAE config \(Expected 'latent_dim' to be an integer of at least 1 "
                                r"\(got -1\)\)"),
]


@pytest.mark.parametrize("component, values, pattern", CONFIG_ROWS, ids=[json.dumps(v) for _, v, _ in CONFIG_ROWS])
def test_invalid_model_configs(component, values, pattern, work, model_dir, tmp_path, capsys):
    ball, out = work
    bad = tmp_path / "bad-model"
    shutil.copytree(model_dir, bad)
    config = json.loads((bad / "config.json").read_text())
    config["components"][component].update(values)
    (bad / "config.json").write_text(json.dumps(config))
    refused(capsys, animate_args(ball, out / "x.glb", bad), rf"error: {re.escape(str(bad))}: {pattern}$",
            paths=[tmp_path])
    assert os.listdir(out) == []


# ---- what a kill -9 leaves: removed at the next write once an hour old ----
def test_stale_temporary_files_beside_an_output_are_removed(work, model_dir, capsys):
    ball, out = work
    stale, fresh = out / ".x.glb.tmp-k9lleft_.tmp", out / ".x.glb.tmp-writing.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"\0" * 1000)
    old = time.time() - STALE_AFTER - 60
    os.utime(stale, (old, old))
    assert main(["animate", *map(str, animate_args(ball, out / "x.glb", model_dir))]) == 0
    assert sorted(os.listdir(out)) == sorted([fresh.name, "x.glb"])


# ---- signals: one line, 130 / 143, nothing left; at any moment, imports included ----
SIGNAL_ROWS = [(signal.SIGINT, 130), (signal.SIGTERM, 143)]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (meshflow's main has started), from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.M).group(1), 16)
    return bool(caught >> (signal.SIGTERM - 1) & 1)


def _wait(proc, until, timeout=120):
    start = time.monotonic()
    while not until():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - start < timeout
        time.sleep(0.02)


def _ends_interrupted(proc, sig, code, out, progress=False):
    """After ``sig``: exit ``code``, stderr the one line (after the progress bar's, with ``progress``),
    ``out`` empty."""
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    text = err.decode() if isinstance(err, bytes) else err
    assert "Traceback" not in text and "Error" not in text, text
    lines = [line for line in re.split(r"[\r\n]", text) if line.strip()]
    assert proc.returncode == code and lines[-1] == "meshflow animate: interrupted", (proc.returncode, text)
    assert progress or len(lines) == 1, text
    assert os.listdir(out) == []


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the signal mask from /proc")
@pytest.mark.parametrize("sig, code", SIGNAL_ROWS, ids=["SIGINT", "SIGTERM"])
def test_signal_while_importing(sig, code, work, model_dir):
    """The handler is in place before the subcommand imports torch: one line, not a KeyboardInterrupt
    traceback or trimesh's TypeError."""
    ball, out = work
    proc = subprocess.Popen([sys.executable, "-m", "meshflow", "animate", *map(str, animate_args(
        ball, out / "x.glb", model_dir))], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), cwd=ROOT)
    _wait(proc, lambda: _catches_sigterm(proc.pid))
    _ends_interrupted(proc, sig, code, out)


def test_signal_while_sampling(work, model_dir):
    ball, out = work
    argv = [str(a) for a in animate_args(ball, out / "x.glb", model_dir) if a != "-q"]
    argv[argv.index("--steps") + 1] = "1000000"
    proc = subprocess.Popen([sys.executable, "-m", "meshflow", "animate", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=_env(), cwd=ROOT)
    seen = b""
    while b"sampling" not in seen:  # the progress bar is on screen
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, "the run ended before sampling"
        seen += chunk
    time.sleep(0.5)
    _ends_interrupted(proc, signal.SIGTERM, 143, out, progress=True)


WRITES_SLOWLY = """
import sys, time
from contextlib import contextmanager
import meshflow.io.export as export
from meshflow.commands.main import main

real = export.atomic_file

@contextmanager
def slow(path, suffix=".tmp"):  # the real writer, stopped after its temporary file is written
    with real(path, suffix) as tmp:
        yield tmp
        print("written", tmp, flush=True)
        time.sleep(120)

export.atomic_file = slow
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig, code", SIGNAL_ROWS, ids=["SIGINT", "SIGTERM"])
def test_signal_while_writing_removes_the_temporary_file(sig, code, work, model_dir):
    ball, out = work
    proc = subprocess.Popen([sys.executable, "-c", WRITES_SLOWLY, "animate", *map(str, animate_args(
        ball, out / "x.glb", model_dir))], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        cwd=ROOT)
    line = proc.stdout.readline()
    assert line.startswith("written "), proc.communicate()
    tmp = Path(line.split(" ", 1)[1].strip())
    assert tmp.parent == out and tmp.stat().st_size > 0 and tmp.name.startswith(".x.glb.tmp-")
    _ends_interrupted(proc, sig, code, out)
