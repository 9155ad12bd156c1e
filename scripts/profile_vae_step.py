"""Where one DyMeshVAE training step's time goes on this machine, stage by stage.

    python scripts/profile_vae_step.py --data work/clips [--config configs/vae/starter-blend.yaml] \\
        [--steps 5] [--threads 2]

Runs ``--steps`` training steps (forward, loss, backward, AdamW) on batches from the training
loader of a clip folder, after one warm-up step, and prints a table of the mean time per step
of every stage: data loading, point embedding, neighbour attention, trajectory embedding,
FPS, encoder cross-attention blocks, decoder self-attention blocks, the final vertex attention
(+ offsets), the token skinning (``decoder: blend``), loss, backward and the optimiser. Forward
stages are timed with ``torch.profiler.record_function`` ranges (CPU time of the range, its
children included); backward as a whole.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import profile, ProfilerActivity, record_function

from meshflow.train.config import load_config
from meshflow.train.data import make_dataloaders
from meshflow.train.vae import VAETrainConfig
from meshflow.models.dymesh_vae import DyMeshVAE

ROOT = Path(__file__).resolve().parents[1]

# (stage name, module attribute whose forward is timed)
STAGES = [("point embedding", "point_embed"), ("neighbour attention", "neighbor_layers"),
          ("trajectory embedding", "traj_embed"), ("encoder cross-attention", "enc_attn"),
          ("encoder feed-forward", "enc_ff"), ("decoder self-attention", "dec_attn"),
          ("decoder feed-forward", "dec_ff"), ("vertex attention", "vertex_attn"),
          ("offsets", "to_offsets"), ("token skinning", "skinning")]


def label_modules(model: DyMeshVAE):
    """Wraps the forward of every stage's modules in a named profiler range."""
    for stage, attr in STAGES:
        modules = getattr(model, attr, None)
        if modules is None:
            continue
        for m in (modules if isinstance(modules, torch.nn.ModuleList) else [modules]):
            forward = m.forward

            def timed(*args, _f=forward, _s=stage, **kwargs):
                with record_function(_s):
                    return _f(*args, **kwargs)
            m.forward = timed
        if attr == "vertex_attn":  # the decoder calls fold/attend directly
            for name in ("fold", "attend"):
                fn = getattr(modules, name)

                def timed(*args, _f=fn, **kwargs):
                    with record_function("vertex attention"):
                        return _f(*args, **kwargs)
                setattr(modules, name, timed)
    tokenize = model.tokenize

    def timed_fps(*args, **kwargs):
        with record_function("FPS"):
            return tokenize(*args, **kwargs)
    model.tokenize = timed_fps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="clip folder (meshflow data build)")
    ap.add_argument("--config", default=str(ROOT / "configs" / "vae" / "starter-blend.yaml"))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(VAETrainConfig, args.config, [f"data.root={args.data}"])
    model = DyMeshVAE(cfg.model).train()
    label_modules(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loader, _ = make_dataloaders(cfg.data, cfg.train, seed=0)
    batches = iter(loader)
    totals = defaultdict(float)
    vertices = 0

    def step(record: bool):
        nonlocal vertices
        start = time.perf_counter()
        batch = next(batches)
        loaded = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            with record_function("forward"):
                out = model(batch)
            with record_function("loss"):
                loss, _ = model.loss(out, batch, beta=cfg.kl_weight, recon_loss=cfg.recon_loss)
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t1 = time.perf_counter()
            opt.step()
            t2 = time.perf_counter()
        if record:
            vertices += batch.num_nodes
            totals["data loading"] += loaded - start
            totals["backward"] += t1 - t0
            totals["optimiser"] += t2 - t1
            totals["step total"] += time.perf_counter() - start
            for ev in prof.key_averages():
                if ev.key in {s for s, _ in STAGES} | {"FPS", "forward", "loss"}:
                    totals[ev.key] += ev.cpu_time_total / 1e6

    step(record=False)
    for _ in range(args.steps):
        step(record=True)
    n = args.steps
    total = totals["step total"] / n
    print(f"{cfg.model.decoder} decoder, batch {cfg.train.batch_size}, {vertices / n:.0f} vertices per batch, "
          f"K = {cfg.model.num_traj}, {args.threads} threads, {n} steps")
    print(f"{'stage':<26}{'ms / step':>10}{'share':>8}")
    order = ["data loading", "point embedding", "neighbour attention", "trajectory embedding", "FPS",
             "encoder cross-attention", "encoder feed-forward", "decoder self-attention", "decoder feed-forward",
             "vertex attention", "offsets", "token skinning", "forward", "loss", "backward", "optimiser",
             "step total"]
    for key in order:
        if key in totals:
            ms = 1000 * totals[key] / n
            print(f"{key:<26}{ms:>10.1f}{ms / 1000 / total:>8.1%}")


if __name__ == "__main__":
    main()
