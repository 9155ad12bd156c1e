"""The VAE and flow trainers on tiny configs: export, resume, overfitting, several processes."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from meshflow.models.dymesh_vae import load_vae
from meshflow.train import load_config, train
from meshflow.train.data import cache_latents, split_by_source
from meshflow.train.flow import FlowTask, FlowTrainConfig
from meshflow.train.loop import list_checkpoints
from meshflow.train.vae import VAETask, VAETrainConfig

ROOT = Path(__file__).resolve().parents[2]
TINY_VAE = str(ROOT / "configs" / "vae" / "tiny.yaml")
TINY_FLOW = str(ROOT / "configs" / "flow" / "tiny.yaml")


def vae_cfg(tmp_path, anim_dir, name, *extra):
    return load_config(VAETrainConfig, TINY_VAE, [f"data.root={anim_dir}", f"output_dir={tmp_path / name}",
                                                  "data.augment=false", *extra])


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory, anim_dir):
    tmp = tmp_path_factory.mktemp("vae")
    out = train(VAETask(vae_cfg(tmp, anim_dir, "run")), progress=False)
    return Path(out["export"])


def test_split_holds_out_whole_sources():
    sources = ["a"] * 3 + ["b"] * 2 + ["c"] * 4 + ["d"]
    train_idx, val_idx = split_by_source(sources, 0.3, 100)
    assert train_idx and val_idx and not set(train_idx) & set(val_idx)
    assert not {sources[i] for i in train_idx} & {sources[i] for i in val_idx}
    assert split_by_source(sources, 0.3, 100) == (train_idx, val_idx)  # deterministic
    assert split_by_source(sources, 0.0, 100)[1] == []
    # windows and clips of one file stay together
    clips = [f"{f}.glb#Armature|{c}@{w}" for f in "abcdefgh" for c in ("Walk", "Run") for w in (0, 16)]
    train_idx, val_idx = split_by_source(clips, 0.3, 100)
    held = {clips[i].split(".glb")[0] for i in val_idx}
    assert held and not held & {clips[i].split(".glb")[0] for i in train_idx}


def test_vae_run_exports_a_loadable_model(vae_dir):
    vae = load_vae(vae_dir)
    assert vae.config.dim == 32 and vae.config.T == 16
    assert [p.name for p in list_checkpoints(vae_dir.parent)] == ["step_0000010", "step_0000020"]


def test_vae_resume_equals_straight_run(tmp_path, anim_dir):
    straight = train(VAETask(vae_cfg(tmp_path, anim_dir, "a", "train.max_steps=8", "train.save_every=4")),
                     progress=False)
    cfg = vae_cfg(tmp_path, anim_dir, "b", "train.max_steps=8", "train.save_every=4")
    train(VAETask(cfg), progress=False, stop_at=3)  # mid-epoch (2 batches per epoch)
    resumed = train(VAETask(cfg), resume=True, progress=False)
    a, b = load_vae(straight["export"]).state_dict(), load_vae(resumed["export"]).state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_tiny_vae_overfits(tmp_path, anim_dir):
    cfg = vae_cfg(tmp_path, anim_dir, "fit", "train.max_steps=600", "optim.lr=3e-3", "optim.warmup_steps=10",
                  "data.val_fraction=0", "train.save_every=100000", "train.batch_size=6", "kl_weight=0",
                  "model.dim=64", "model.latent_dim=16")
    task = VAETask(cfg)
    out = train(task, progress=False)
    from meshflow.train.data import make_dataloaders
    cfg.data.val_fraction, cfg.data.augment = 0.0, False
    loader, _ = make_dataloaders(cfg.data, cfg.train)

    def error(model):
        errs = []
        for batch in loader:
            rec = model(batch, num_tokens=cfg.model.num_traj, sample_posterior=False).recon
            errs.append((rec - (batch.pos[:, None] + batch.traj)).norm(dim=-1).mean())
        return torch.stack(errs).mean().item()

    fresh = task.build_model()  # same seed-free init distribution: its error is the starting point
    fresh.eval()
    trained = load_vae(out["export"])
    with torch.no_grad():
        before, after = error(fresh), error(trained)
    assert after < before / 10, (before, after)


def test_flow_run_and_latent_cache(tmp_path, anim_dir, vae_dir):
    cache = cache_latents(vae_dir, anim_dir, tmp_path / "cache", num_tokens=32, progress=False)
    for root, extra in ((anim_dir, []), (cache, [f"latent_cache={cache}"])):
        cfg = load_config(FlowTrainConfig, TINY_FLOW, [f"data.root={root}", f"vae={vae_dir}",
                                                       f"output_dir={tmp_path / ('flow_' + Path(root).name)}",
                                                       "train.max_steps=6", *extra])
        out = train(FlowTask(cfg), progress=False)
        assert out["step"] == 6 and set(out["val"]) >= {"loss", "loss_t0"}
        from meshflow.pipeline import AnimationPipeline
        pipe = AnimationPipeline.from_pretrained(out["export"])
        assert pipe is not None


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))}
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_two_processes_torchrun(tmp_path, anim_dir, vae_dir):
    runs = [
        ("train_vae.py", TINY_VAE, [f"data.root={anim_dir}", f"output_dir={tmp_path / 'v'}", "train.max_steps=4",
                                    "train.save_every=2"]),
        ("train_flow.py", TINY_FLOW, [f"data.root={anim_dir}", f"vae={vae_dir}", f"output_dir={tmp_path / 'f'}",
                                      "train.max_steps=4", "train.save_every=2"]),
    ]
    for script, cfg, overrides in runs:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "scripts" / script), "--config", cfg, "--no-progress", *overrides]
        out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=170)
        assert out.returncode == 0, out.stderr[-3000:]
        run_dir = Path(next(o for o in overrides if o.startswith("output_dir=")).split("=", 1)[1])
        assert (run_dir / "model" / "config.json").is_file()
        assert [p.name for p in list_checkpoints(run_dir)] == ["step_0000002", "step_0000004"]
        assert list((run_dir / "logs").rglob("events.out.tfevents*"))


def test_accelerate_launch_single_cpu_process(tmp_path, anim_dir):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(ROOT / "scripts" / "train_vae.py"), "--config", TINY_VAE, "--no-progress",
           f"data.root={anim_dir}", f"output_dir={tmp_path / 'acc'}", "train.max_steps=3"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=170)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "acc" / "model" / "vae.safetensors").is_file()


def test_cli_errors(tmp_path, capsys):
    from meshflow.commands.main import main
    assert main(["train", "vae", "--config", TINY_VAE, "data.root=/nonexistent", f"output_dir={tmp_path}"]) == 2
    assert "data.root not found" in capsys.readouterr().err
    assert main(["train", "vae", "--config", TINY_VAE, "train.max_stepz=3"]) == 2
    assert "config key 'train.max_stepz'" in capsys.readouterr().err


def test_resume_after_sigkill(tmp_path, anim_dir):
    """A run killed with SIGKILL mid-training resumes from its last whole checkpoint and finishes."""
    import signal
    import time

    out_dir = tmp_path / "killed"
    cmd = [sys.executable, str(ROOT / "scripts" / "train_vae.py"), "--config", TINY_VAE, "--no-progress",
           f"data.root={anim_dir}", f"output_dir={out_dir}", "train.max_steps=400", "train.save_every=2",
           "train.keep_last=2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list_checkpoints(out_dir)) < 2:
            time.sleep(0.2)
        assert list_checkpoints(out_dir), "no checkpoint was written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out_dir / "model").exists()
    killed_at = int(list_checkpoints(out_dir)[-1].name.split("_")[1])
    resumed = subprocess.run(cmd[:-3] + ["train.max_steps=" + str(killed_at + 4), "train.save_every=2",
                                         "train.keep_last=2", "--resume"],
                             capture_output=True, text=True, env=_env(), timeout=170)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stdout + resumed.stderr
    assert load_vae(out_dir / "model").config.dim == 32
