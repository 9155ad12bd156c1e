"""Archive streams across processes (torchrun, CPU, gloo) and in training: split, resume."""
import json
import subprocess
import sys
from pathlib import Path

import torch

from meshflow.train import load_config, train
from meshflow.train.loop import list_checkpoints
from meshflow.train.vae import VAETask, VAETrainConfig
from tests.data.test_archives import make_release

ROOT = Path(__file__).resolve().parents[2]
TINY_VAE = str(ROOT / "configs" / "vae" / "tiny.yaml")

READER = r'''
import json, sys
import torch.distributed as dist
from meshflow.data.archives import ArchiveDataset, ArchiveLoader
dist.init_process_group("gloo")
rank = dist.get_rank()
loader = ArchiveLoader(ArchiveDataset(sys.argv[1], batch_size=2, shuffle_buffer=3, seed=7), num_workers=2)
seen = {}
for epoch in (0, 1):
    loader.set_epoch(epoch)
    seen[epoch] = [c for b in loader for c in b.caption]
with open(f"{sys.argv[2]}/rank{rank}.json", "w") as f:
    json.dump(seen, f)
dist.destroy_process_group()
'''


def _env():
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    return env


def torchrun(*args):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_two_processes_four_shards_disjoint_and_complete(tmp_path):
    make_release(tmp_path / "arch", shards=4, per_shard=5, parts=2)
    script = tmp_path / "read.py"
    script.write_text(READER)
    torchrun(script, tmp_path / "arch", tmp_path)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    everything = sorted(f"sample {i}" for i in range(20))
    for epoch in ("0", "1"):
        a, b = ranks[0][epoch], ranks[1][epoch]
        assert not set(a) & set(b) and len(set(a)) == len(a)
        assert sorted(a + b) == everything
    assert ranks[0]["0"] != ranks[0]["1"]  # the epoch reshuffles the shards


def test_train_vae_on_archives_two_processes(tmp_path):
    make_release(tmp_path / "arch", shards=4, per_shard=4, parts=2)
    torchrun(ROOT / "scripts" / "train_vae.py", "--config", TINY_VAE, "--no-progress",
             "data.source=dymesh-archives", f"data.root={tmp_path / 'arch'}", f"output_dir={tmp_path / 'run'}",
             "train.max_steps=4", "train.save_every=2", "data.val_fraction=0", "data.num_workers=1")
    assert (tmp_path / "run" / "model" / "config.json").is_file()
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step_0000002", "step_0000004"]


def test_training_checkpoints_shard_positions_and_resumes(tmp_path):
    make_release(tmp_path / "arch", shards=2, per_shard=12, parts=2)
    cfg = load_config(VAETrainConfig, TINY_VAE, [
        "data.source=dymesh-archives", f"data.root={tmp_path / 'arch'}", f"output_dir={tmp_path / 'run'}",
        "train.max_steps=16", "train.save_every=3", "data.shuffle_buffer=2", "data.val_fraction=0",
        "data.augment=false"])
    train(VAETask(cfg), progress=False, stop_at=3)  # the run stops here (as if killed after its checkpoint)
    ckpt = list_checkpoints(tmp_path / "run")[-1]
    state = torch.load(ckpt / "custom_checkpoint_1.pkl", weights_only=False)
    # 3 batches of 2 = 6 samples handed out, 2 more in the buffer: 8 members read of the first shard
    assert state == {"epoch": 0, "shards": {next(iter(state["shards"])): 8}}
    out = train(VAETask(cfg), resume=True, progress=False)
    assert out["step"] == 16 and out["export"]
    final = torch.load(list_checkpoints(tmp_path / "run")[-1] / "custom_checkpoint_1.pkl", weights_only=False)
    assert final["epoch"] == 1  # 16 steps: epoch 0 gives 11 batches (24 samples, 2 skipped), then epoch 1


def test_unknown_source_and_empty_archives(tmp_path, capsys):
    from meshflow.commands.main import main
    assert main(["train", "vae", "--config", TINY_VAE, "data.source=webdataset", f"output_dir={tmp_path}"]) == 2
    assert "Expected data.source to be one of auto, dymesh-archives (got 'webdataset')" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["train", "vae", "--config", TINY_VAE, "data.source=dymesh-archives",
                 f"data.root={tmp_path / 'empty'}", f"output_dir={tmp_path / 'run'}"]) == 2
    assert "empty: no archives found" in capsys.readouterr().err


def test_multinode_launcher_and_accelerate_config(tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file
    cfg = load_config_from_file(str(ROOT / "configs" / "accelerate" / "2x8.yaml"))
    assert (cfg.num_machines, cfg.num_processes, str(cfg.distributed_type), cfg.mixed_precision) == (
        2, 16, "DistributedType.MULTI_GPU", "bf16")
    (tmp_path / "data").mkdir()
    env = {**_env(), "DRY_RUN": "1", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1"}
    script = str(ROOT / "scripts" / "launch_multinode.sh")
    out = subprocess.run(["bash", script, str(tmp_path / "data"), "runs/x", "train.max_steps=10"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    cmd = out.stdout.split()
    assert cmd[cmd.index("--config_file") + 1].endswith("configs/accelerate/2x8.yaml")
    assert cmd[cmd.index("--machine_rank") + 1] == "1" and cmd[cmd.index("--main_process_ip") + 1] == "10.0.0.1"
    assert cmd[cmd.index("--config") + 1].endswith("configs/vae/paper.yaml") and "--resume" in cmd
    assert {"data.source=dymesh-archives", f"data.root={tmp_path / 'data'}", "data.num_workers=8",
            "output_dir=runs/x", "train.max_steps=10"} <= set(cmd)
    bad = subprocess.run(["bash", script, str(tmp_path / "nowhere")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "nowhere: no such folder" in bad.stderr


KILLABLE = r'''
import json, os, sys, time
from meshflow.data.archives import ArchiveDataset, ArchiveLoader
root, record, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
loader = ArchiveLoader(ArchiveDataset(root, batch_size=2, shuffle_buffer=3, seed=2), num_workers=1)
seen = []
if os.path.exists(record):
    saved = json.load(open(record))
    loader.load_state_dict(saved["state"])
    seen = saved["seen"]
for batch in loader:
    seen += list(batch.caption)
    with open(record + ".tmp", "w") as f:  # the consumed samples and the loader's state, together (a checkpoint)
        json.dump({"seen": seen, "state": loader.state_dict(), "resumed": os.path.exists(record)}, f)
    os.replace(record + ".tmp", record)
    time.sleep(pause)
'''


def test_sigkill_mid_shard_then_resume_continues(tmp_path):
    """A reader killed with SIGKILL mid-shard resumes from its checkpoint: no repeats, at most a buffer lost."""
    import signal
    import time

    make_release(tmp_path / "arch", shards=2, per_shard=16, parts=2)
    script, record = tmp_path / "stream.py", tmp_path / "record.json"
    script.write_text(KILLABLE)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "arch"), str(record), "0.3"],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (not record.exists() or len(json.loads(record.read_text())["seen"]) < 6):
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed = json.loads(record.read_text())
    (partial, read), = [(k, v) for k, v in killed["state"]["shards"].items() if v > 0]
    assert 0 < read < 16  # killed in the middle of a shard
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "arch"), str(record), "0"],
                         env=_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(record.read_text())["seen"]
    assert len(seen) == len(set(seen))  # nothing seen twice
    lost = set(f"sample {i}" for i in range(32)) - set(seen)
    assert len(lost) <= 3  # at most the shuffle buffer
    s = int(partial[-4:])  # shard s holds samples 16 s .. 16 s + 15; the resumed part starts at member `read`
    after = [int(c.split()[1]) for c in seen[len(killed["seen"]):]]
    assert sorted(i - 16 * s for i in after if i // 16 == s) == list(range(read, 16))
