"""The paper-size AnimateAnyMesh from a Hub snapshot on CPU: build, convert once, animate a 5k-vertex mesh.

    python scripts/bench_paper_size.py                     # 5,000 vertices, 64 steps (the original's)
    python scripts/bench_paper_size.py --steps 2 --vertices 2000 --work /tmp/paper   # a quick look

Builds an original-layout snapshot with random weights at the paper's sizes (DyMeshVAE: dim 256,
depth 8 + 8, latent 32, heads 8 x 64, 16 frames, K = max(512, N // 8); MMDiT: width 512, 12 layers,
8 heads; the CLIP ViT-L/14 text tower inside ``rf_epoch_f.pth``, as the release ships it) in a fake
Hugging Face cache (blobs and snapshot symlinks), then runs, each in a fresh process with
``HF_HUB_OFFLINE=1`` so that its peak memory is its own:

1. ``meshflow models pull bench/paper-size``: the one-off conversion into the meshflow cache;
2. ``meshflow animate TORUS --model bench/paper-size``: loads the converted copy and animates.

It prints wall time and peak resident set size (RSS) of each stage, and the file sizes.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshflow.resources import peak_rss_bytes  # noqa: E402
from meshflow.models.dymesh_vae import DyMeshVAE, DyMeshVAEConfig, meshflow_to_original_state_dict  # noqa: E402
from meshflow.models.mmdit import MMDiT, MMDiTConfig, to_original_state_dict  # noqa: E402

REPO = "bench/paper-size"
COMMIT = "0" * 40
PAPER_VAE = DyMeshVAEConfig()  # the original's defaults are the paper's sizes
PAPER_RF = {"input_channels": 2 * PAPER_VAE.latent_dim, "output_channels": 2 * PAPER_VAE.latent_dim, "width": 512,
            "layers": 12, "heads": 8, "init_scale": 0.25, "use_flash2": True, "cond_drop_prob": 0.1}
VAE_KEYS = ("enc_depth", "dec_depth", "dim", "output_dim", "latent_dim", "heads", "dim_head", "T", "num_traj",
            "n_layers")
CLIP_L14 = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu")  # ViT-L/14 text


def _bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def original_snapshot(vae_cfg: DyMeshVAEConfig, rf_cfg: dict, clip_cfg: dict, seed: int = 0) -> dict:
    """The release's files (path -> bytes) with random weights: every parameter gets a little noise, so
    the (zero-initialised) output layers move the mesh."""
    import transformers  # the original's CLIP text model class, for the weights inside rf_epoch_f.pth

    torch.manual_seed(seed)
    vae = DyMeshVAE(vae_cfg)
    mmdit = MMDiT(MMDiTConfig(**{k: rf_cfg[k] for k in ("input_channels", "output_channels", "width", "layers",
                                                         "heads")}, text_dim=clip_cfg["hidden_size"]))
    clip = transformers.CLIPTextModel(transformers.CLIPTextConfig(**clip_cfg))
    with torch.no_grad():
        for p in list(vae.parameters()) + list(mmdit.parameters()):
            p.add_(0.02 * torch.randn_like(p))
    rf = {"module." + k: v for k, v in to_original_state_dict(mmdit.state_dict()).items()}
    rf.update({"module.clip_text_model.text_model." + k: v for k, v in clip.state_dict().items()})
    vae_config = {k: getattr(vae_cfg, k) for k in VAE_KEYS}
    config = {"vae_config": vae_config, "rf_config": rf_cfg,
              "training_args": {"vae_exp_dependency": "dvae", "vae_epoch_dependency": "f"}}
    factors = {"f0_mean": 0.0, "f0_std": 1.0, "ft_mean": 0.0, "ft_std": 1.0}
    return {"rf_model/training_config.json": json.dumps(config, indent=4).encode(),
            "rf_model/rf_epoch_f.pth": _bytes({"model_state_dict": rf, "epoch": 0}),
            "dvae/dvae_f.pth": _bytes({"model_state_dict": meshflow_to_original_state_dict(vae.state_dict())}),
            "dvae/model_config.json": json.dumps(vae_config).encode(),
            "dvae_factors/dvae_f.json": json.dumps(factors).encode()}


def write_hub_snapshot(hub_cache: Path, repo: str, commit: str, files: dict, refs=("main",)) -> Path:
    """Puts ``files`` (path -> bytes) into a Hugging Face cache as huggingface_hub does: content-addressed blobs,
    relative symlinks from snapshots/COMMIT/..., refs/REF holding the commit (no newline)."""
    folder = hub_cache / ("models--" + repo.replace("/", "--"))
    for rel, data in files.items():
        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = folder / "snapshots" / commit / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    for ref in refs:
        (folder / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (folder / "refs" / ref).write_text(commit)
    return folder / "snapshots" / commit


def torus(n: int, path: Path) -> Path:
    """A closed triangulated torus with about ``n`` vertices (rows x cols, valence 6), as an OBJ."""
    rows = max(3, int(round(math.sqrt(n / 3))))
    cols = max(3, n // rows)
    u, v = np.meshgrid(np.arange(rows) * 2 * np.pi / rows, np.arange(cols) * 2 * np.pi / cols, indexing="ij")
    x = np.stack([(1 + 0.4 * np.cos(u)) * np.cos(v), (1 + 0.4 * np.cos(u)) * np.sin(v), 0.4 * np.sin(u)], -1)
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    a, b = i * cols + j, i * cols + (j + 1) % cols
    c, d = ((i + 1) % rows) * cols + j, ((i + 1) % rows) * cols + (j + 1) % cols
    faces = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])
    lines = [f"v {p[0]:.6f} {p[1]:.6f} {p[2]:.6f}" for p in x.reshape(-1, 3)]
    lines += [f"f {f[0] + 1} {f[1] + 1} {f[2] + 1}" for f in faces]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_stage(argv) -> dict:
    """Runs one meshflow command line in this process; its wall time and this process's peak RSS."""
    from meshflow.commands.main import main

    start = time.perf_counter()
    code = main(argv)
    return {"rc": code, "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    return peak_rss_bytes() / 2 ** 20


def _mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file() and not p.is_symlink()) / 2 ** 20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vertices", type=int, default=5000, help="vertices of the torus to animate (default: 5000)")
    ap.add_argument("--steps", type=int, default=64, help="ODE grid points (default: 64, the original's)")
    ap.add_argument("--work", default=None, help="folder for the caches and outputs (default: a temporary one)")
    ap.add_argument("--stage", help=argparse.SUPPRESS)  # internal: run one stage's command line, print JSON
    args, rest = ap.parse_known_args()
    if args.stage:
        print("STAGE " + json.dumps(run_stage(rest)), flush=True)
        return 0

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-paper-"))
    hub = work / "hf" / "hub"
    print(f"work: {work}")
    start = time.perf_counter()
    snapshot = write_hub_snapshot(hub, REPO, COMMIT, original_snapshot(PAPER_VAE, PAPER_RF, CLIP_L14))
    print(f"build  {time.perf_counter() - start:7.1f} s  original snapshot {_mb(hub):.0f} MB "
          f"(rf_epoch_f.pth {(snapshot / 'rf_model/rf_epoch_f.pth').stat().st_size / 2 ** 20:.0f} MB)")
    mesh = torus(args.vertices, work / "torus.obj")
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "MESHFLOW_CACHE": str(work / "meshflow")}
    stages = [("convert", ["models", "pull", REPO]),
              ("animate", ["animate", str(mesh), "--prompt", "the ring spins and bounces", "-o",
                           str(work / "out.npz"), "--model", REPO, "--seed", "0", "--steps", str(args.steps),
                           "--device", "cpu", "-q"])]
    for name, argv in stages:
        run = subprocess.run([sys.executable, __file__, "--stage", "1", *argv], env=env, capture_output=True,
                             text=True)
        result = next((json.loads(line[6:]) for line in run.stdout.splitlines() if line.startswith("STAGE ")), None)
        for line in run.stdout.splitlines():
            if not line.startswith("STAGE "):
                print(f"  | {line}")
        if run.returncode or not result or result["rc"]:
            print(run.stderr[-2000:], file=sys.stderr)
            return 1
        print(f"{name:<7}{result['seconds']:7.1f} s  peak RSS {result['peak_rss_mb']:.0f} MB")
    print(f"converted copy {_mb(work / 'meshflow'):.0f} MB; {args.vertices} requested vertices, "
          f"{args.steps} steps on {torch.get_num_threads()} CPU thread(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
