"""`meshflow animate --model owner/name[@revision]` and `meshflow models pull|list|rm` on a fake Hugging Face
cache, offline (fixtures and builders from tests/models/test_remote.py)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from meshflow.cache import CACHE_ENV
from meshflow.commands.main import main
from meshflow.io import load_animation
from tests.models import test_remote
from tests.models.test_remote import (COMMIT, COMMIT_V1, REPO, original_files, resolve_model_via_convert,
                                      write_hub_snapshot)

hub, ball = test_remote.hub, test_remote.ball  # the fixtures: a fake Hugging Face cache (offline), a small mesh

ROOT = Path(__file__).resolve().parents[2]


def animate(mesh, out, model, *extra):
    return main(["animate", str(mesh), "--prompt", "the ball hops", "-o", str(out), "--model", str(model),
                 "--seed", "3", "--steps", "3", "-q", *extra])


def model_row(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("model "))


def one_error_line(capsys, command: str, pattern: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"meshflow {command}: error: ") and re.search(pattern, err[0]), err
    return err[0]


def local_files(tmp_path, files) -> Path:
    local = tmp_path / "download"
    for rel, data in files.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
    return local


def test_animate_from_an_original_snapshot(shared, hub, ball, tmp_path, capsys):
    files = original_files(shared)
    write_hub_snapshot(hub, REPO, COMMIT, files)
    assert animate(ball, tmp_path / "a.npz", REPO) == 0
    row = model_row(capsys.readouterr().out)
    assert f"{REPO}@{COMMIT[:12]} (converted now: " in row and "clip-vit-l-14" in row, row
    assert animate(ball, tmp_path / "b.npz", REPO) == 0
    row = model_row(capsys.readouterr().out)
    assert f"{REPO}@{COMMIT[:12]} (converted copy from the meshflow cache: " in row, row
    # the manual route: the same files downloaded by hand, `meshflow convert-original`, --model DIR
    local = resolve_model_via_convert(local_files(tmp_path, files), tmp_path / "converted")
    assert animate(ball, tmp_path / "c.npz", local) == 0
    a, b, c = (load_animation(tmp_path / f"{n}.npz").vertices for n in "abc")
    assert np.abs(a - a[:1]).max() > 0  # it moves
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_animate_from_a_meshflow_snapshot_and_a_revision(shared, hub, ball, tmp_path, capsys):
    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared, seed=0))
    write_hub_snapshot(hub, REPO, COMMIT_V1, original_files(shared, seed=1), refs=("v1",))
    assert animate(ball, tmp_path / "main.npz", REPO) == 0
    capsys.readouterr()
    assert animate(ball, tmp_path / "v1.npz", f"{REPO}@v1") == 0
    assert f"{REPO}@{COMMIT_V1[:12]} (converted now" in model_row(capsys.readouterr().out)
    v1 = load_animation(tmp_path / "v1.npz").vertices
    assert not np.array_equal(load_animation(tmp_path / "main.npz").vertices, v1)
    local = resolve_model_via_convert(local_files(tmp_path, original_files(shared, seed=1)), tmp_path / "converted")
    assert animate(ball, tmp_path / "local.npz", local) == 0
    assert np.array_equal(load_animation(tmp_path / "local.npz").vertices, v1)
    # a meshflow model directory on the Hub: used from the snapshot as it is
    snapshot = write_hub_snapshot(hub, "me/meshflow-tiny", COMMIT,
                                  {p.name: p.read_bytes() for p in local.iterdir()})
    capsys.readouterr()
    assert animate(ball, tmp_path / "mf.npz", "me/meshflow-tiny") == 0
    assert f"(meshflow model from the Hugging Face cache, {snapshot})" in model_row(capsys.readouterr().out)
    assert np.array_equal(load_animation(tmp_path / "mf.npz").vertices, v1)


def _evil(shared):
    files = original_files(shared)
    files["rf_model/rf_epoch_f.pth"] = test_remote._pickle(test_remote.Evil())
    return files


def _missing(shared):
    files = original_files(shared)
    del files["dvae/dvae_f.pth"]
    return files


@pytest.mark.parametrize("files, pattern", [
    (None, rf"{REPO}: not in the Hugging Face cache \(.*\) and HF_HUB_OFFLINE is set: run `meshflow models pull "
           rf"{REPO}` where the network is reachable, or download the release by hand and run `meshflow "
           r"convert-original "),
    (_missing, rf"{REPO}: the snapshot aaaaaaaaaaaa lacks dvae/dvae_f.pth \(an original release holds"),
    (_evil, r"rf_epoch_f.pth: refused to load: it is a pickle that would call (posix|nt)\.system \(only plain tensor"),
    (lambda shared: {"README.md": b"# not a model\n"},
     rf"{REPO}@aaaaaaaaaaaa: holds neither a meshflow model \(config.json\) nor the original AnimateAnyMesh release"),
])
def test_bad_hub_input_is_one_line(shared, hub, ball, tmp_path, capsys, monkeypatch, files, pattern):
    monkeypatch.chdir(tmp_path)
    if files is not None:
        write_hub_snapshot(hub, REPO, COMMIT, files(shared))
    out = tmp_path / "out"
    out.mkdir()
    assert animate(ball, out / "x.glb", REPO) == 2
    one_error_line(capsys, "animate", pattern)
    assert os.listdir(out) == [] and not (tmp_path / "evil-ran").exists()
    cache = Path(os.environ[CACHE_ENV]) / "hub"
    assert not cache.exists() or all(not list(p.iterdir()) for p in cache.iterdir())


def test_network_error_is_one_line(hub, ball, tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "ENDPOINT", "http://127.0.0.1:9")
    assert main(["models", "pull", REPO]) == 2
    one_error_line(capsys, "models", rf"^meshflow models: error: {REPO}: cannot download from the Hugging Face Hub "
                                     r"\(\w+: .+\)$")


def test_half_written_entry_redone_by_animate(shared, hub, ball, tmp_path, capsys):
    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared))
    entry = Path(os.environ[CACHE_ENV]) / "hub" / "models--JarrentWu--AnimateAnyMesh" / COMMIT
    (entry / "model").mkdir(parents=True)
    (entry / "model" / "config.json").write_text("{")  # a killed process's leftovers, no marker
    assert animate(ball, tmp_path / "a.npz", REPO) == 0
    assert "(converted now, half-written copy redone: " in model_row(capsys.readouterr().out)
    assert (entry / "entry.json").is_file()


def test_models_pull_list_rm(shared, hub, capsys):
    write_hub_snapshot(hub, REPO, COMMIT, original_files(shared))
    write_hub_snapshot(hub, REPO, COMMIT_V1, original_files(shared, seed=1), refs=("v1",))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("no converted copies in ") and out[1] == f"Hugging Face downloads ({hub}):"
    assert re.fullmatch(rf"  {REPO}  {COMMIT[:12]}  +\d+\.\d MB  revisions: main  \(original release\)", out[2]), out
    assert main(["models", "pull", REPO]) == 0 and main(["models", "pull", f"{REPO}@v1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{REPO}: {REPO}@{COMMIT[:12]} (converted now: ")
    assert main(["models", "pull", REPO]) == 0  # asks the (offline) Hub again, finds the converted copy
    assert "converted copy from the meshflow cache" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == f"converted copies ({Path(os.environ[CACHE_ENV]) / 'hub'}):"
    assert re.fullmatch(rf"  {REPO}  {COMMIT[:12]}  +\d+\.\d MB  revisions: main", rows[1]), rows
    assert re.fullmatch(rf"  {REPO}  {COMMIT_V1[:12]}  +\d+\.\d MB  revisions: v1", rows[2]), rows
    assert rows[-1].startswith("2 converted, 2 downloaded, ")
    assert main(["models", "rm", f"{REPO}@v1", "--keep-download"]) == 0
    assert capsys.readouterr().out.strip().endswith(COMMIT_V1)
    assert (hub / "models--JarrentWu--AnimateAnyMesh" / "snapshots" / COMMIT_V1).is_dir()  # download kept
    assert main(["models", "list"]) == 0 and capsys.readouterr().out.count("revisions:") == 3
    assert main(["models", "rm", f"{REPO}@v1"]) == 0  # the download of v1 only
    snapshot_v1 = hub / "models--JarrentWu--AnimateAnyMesh" / "snapshots" / COMMIT_V1
    assert capsys.readouterr().out.strip() == f"removed {snapshot_v1}"
    assert (hub / "models--JarrentWu--AnimateAnyMesh" / "snapshots" / COMMIT).is_dir()
    assert main(["models", "rm", REPO]) == 0
    assert not (hub / "models--JarrentWu--AnimateAnyMesh").exists()  # the Hugging Face download went too
    capsys.readouterr()
    assert main(["models", "list"]) == 0 and capsys.readouterr().out.startswith("no models cached in ")
    assert main(["models", "rm", REPO]) == 0 and capsys.readouterr().out.strip() == f"{REPO}: nothing cached"
    assert main(["models", "rm", "not-an-id"]) == 2
    one_error_line(capsys, "models", r"Expected a Hugging Face model id 'owner/name' or 'owner/name@revision' "
                                     r"\(got 'not-an-id'\)")


def test_environment_is_honoured_in_a_fresh_process(tmp_path):
    """HF_HUB_CACHE and HF_HUB_OFFLINE as a user sets them (huggingface_hub reads them at import; the tests
    above set what it read). One process only: a fresh one imports torch."""
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hf-empty"), "HF_HUB_OFFLINE": "1",
           CACHE_ENV: str(tmp_path / "mf"), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "meshflow", "models", "pull", REPO], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == (f"meshflow models: error: {REPO}: not in the Hugging Face cache "
                                  f"({tmp_path / 'hf-empty'}) and HF_HUB_OFFLINE is set: run `meshflow models pull "
                                  f"{REPO}` where the network is reachable, or download the release by hand and run "
                                  "`meshflow convert-original --vae dvae/dvae_f.pth --rf rf_model/rf_epoch_f.pth "
                                  "--config rf_model/training_config.json --factors dvae_factors/dvae_f.json -o DIR`, "
                                  "then pass --model DIR")
    assert not (tmp_path / "mf").exists()
