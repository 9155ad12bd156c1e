"""DyMeshVAE encode + decode at growing vertex counts: meshflow vs a dense reference.

    python scripts/bench_vae.py                          # N in 5k 20k 50k 200k 1M, CPU
    python scripts/bench_vae.py --sizes 5000 50000 --device cuda

Every measurement runs in a fresh subprocess, so that its peak memory is its own:
peak resident set size (RSS) of the process on CPU, ``torch.cuda.max_memory_allocated``
on a GPU. The model has the paper-size configuration (the original's defaults: dim 256,
depth 8 + 8, latent 32, heads 8 x 64, 16 frames), random weights, K = 512 tokens, float32,
no gradients. The timed call is ``model(data)``: neighbour attention, FPS, encoder,
decoder.

The reference computes the same function the way the original implementation does
(written here, not copied): a dense N x N boolean adjacency mask for the neighbour
attention, unfused full-size projections, one attention call over all vertices, FPS
with torch_cluster. It runs only where its N x N buffers fit in ``--reference-limit-gb``.
At the smallest size both are run once more side by side to check they agree.

Meshes: ``torus`` (default) is a closed triangulated torus with exactly N vertices
(valence 6 everywhere, like a subdivided surface); ``spot`` subdivides
``../shared/data/static/spot.obj`` until it has at least N vertices.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshflow.data.graph import edge_index_from_faces  # noqa: E402
from meshflow.models.dymesh_vae import DyMeshVAE, DyMeshVAEConfig  # noqa: E402
from meshflow.resources import peak_rss_bytes  # noqa: E402

PAPER = DyMeshVAEConfig()  # enc 8, dec 8, dim 256, latent 32, heads 8 x 64, T 16
SPOT = ROOT.parent / "shared" / "data" / "static" / "spot.obj"


# ------------------------------------------------------------------ meshes ---
def torus(n: int):
    """A closed torus grid with exactly n vertices (rows x cols, rows the divisor of n nearest sqrt(n / 2))."""
    target = math.sqrt(n / 2)
    rows = min((d for d in range(3, n // 3 + 1) if n % d == 0), key=lambda d: abs(d - target))
    cols = n // rows
    u = np.repeat(np.arange(rows) * 2 * np.pi / rows, cols)
    v = np.tile(np.arange(cols) * 2 * np.pi / cols, rows)
    R, r = 1.0, 0.35
    vertices = np.stack([(R + r * np.cos(u)) * np.cos(v), (R + r * np.cos(u)) * np.sin(v), r * np.sin(u)], 1)
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    a = (i * cols + j).ravel()
    b = (i * cols + (j + 1) % cols).ravel()
    c = (((i + 1) % rows) * cols + j).ravel()
    d = (((i + 1) % rows) * cols + (j + 1) % cols).ravel()
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    return vertices.astype(np.float32), faces.astype(np.int64)


def spot(n: int):
    from meshflow.data.shapes import subdivide

    v, f = [], []
    for line in SPOT.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            v.append([float(x) for x in parts[1:4]])
        elif parts and parts[0] == "f":
            f.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    v, f = np.asarray(v, np.float32), np.asarray(f, np.int64)
    while len(v) < n:
        v, f = subdivide(v, f, 1)
    return v, f


def animated_mesh(kind: str, n: int, T: int):
    """(pos (N, 3) normalised, traj (N, T, 3), face (3, F)) with a twisting motion."""
    vertices, faces = torus(n) if kind == "torus" else spot(n)
    pos = torch.from_numpy(vertices)
    center = (pos.max(0).values + pos.min(0).values) / 2
    pos = (pos - center) / (pos - center).abs().max()
    t = torch.linspace(0, 1, T).view(T, 1)
    angle = 0.6 * t * pos[:, 2].view(1, -1)  # (T, N): twist about z, growing with height
    x = pos[:, 0] * torch.cos(angle) - pos[:, 1] * torch.sin(angle)
    y = pos[:, 0] * torch.sin(angle) + pos[:, 1] * torch.cos(angle)
    frames = torch.stack([x, y, pos[:, 2].expand(T, -1) + 0.05 * torch.sin(6.28 * t)], -1)  # (T, N, 3)
    traj = (frames - frames[:1]).permute(1, 0, 2).contiguous()
    return pos, traj, torch.from_numpy(faces).T.contiguous()


def paper_model(chunk_size: int = PAPER.chunk_size, seed: int = 0) -> DyMeshVAE:
    torch.manual_seed(seed)
    model = DyMeshVAE(replace(PAPER, chunk_size=chunk_size))
    with torch.no_grad():  # give the zero-initialised projections weights, like a trained model
        for lin in [layer.lin_out for layer in model.neighbor_layers] + [model.vertex_attn.lin_out]:
            lin.weight.normal_(0, 0.02)
    return model.eval()


# -------------------------------------------------------- dense reference ---
def dense_forward(model: DyMeshVAE, pos, traj, face, num_tokens: int):
    """The paper's design, computed like the original: N x N adjacency mask, full projections."""
    import torch_cluster

    N, C, L = pos.size(0), model.config.dim, model.latent_dim
    adj = torch.zeros(N, N, dtype=torch.bool, device=pos.device)  # the original's dense mask
    a, b, c = face
    for s, t in ((a, b), (b, c), (c, a)):
        adj[s, t] = True
        adj[t, s] = True

    e0 = model.point_embed(pos)
    for layer in model.neighbor_layers:
        q = layer.lin_q(layer.norm_q(e0))[None, None]  # (1, 1, N, 2C)
        k = layer.lin_k(layer.norm_k(e0))[None, None]
        v = layer.lin_v(layer.norm_v(e0))[None, None]
        res = F.scaled_dot_product_attention(q, k, v, attn_mask=adj, scale=layer.head_channels ** -0.5)
        e0 = e0 + layer.lin_out(res[0, 0])
    eT = model.traj_embed(traj.reshape(N, -1))

    idx = torch_cluster.fps(e0, ratio=min(1.0, (num_tokens + 0.5) / N), random_start=False)[:num_tokens]
    z0, zT = e0[idx][None], eT[idx][None]  # (1, K, C)
    for attn, ff in zip(model.enc_attn, model.enc_ff):
        q = attn.lin_q(attn.norm_q(z0))[:, None]  # one head of width C
        k = attn.lin_k(attn.norm_k(e0))[None, None]
        v = torch.cat([attn.lin_v1(attn.norm_v1(e0)), attn.lin_v2(attn.norm_v2(eT))], -1)[None, None]
        out = F.scaled_dot_product_attention(q, k, v)[:, 0]  # (1, K, 2C)
        z0, zT = z0 + attn.lin_out1(out[..., :C]), zT + attn.lin_out2(out[..., C:])
        r0, rT = ff(z0, zT)
        z0, zT = z0 + r0, zT + rT
    latents = torch.cat([model.to_shape_latent(z0), model.to_traj_mean(zT)], -1)

    h0, hT = model.from_shape_latent(latents[..., :L]), model.from_traj_latent(latents[..., L:])
    for attn, ff in zip(model.dec_attn, model.dec_ff):
        r0, rT = attn(h0, h0, h0, hT)
        h0, hT = h0 + r0, hT + rT
        r0, rT = ff(h0, hT)
        h0, hT = h0 + r0, hT + rT
    va = model.vertex_attn
    q = va.lin_q(va.norm_q(model.query_proj(e0)))[None, None]  # (1, 1, N, 2C)
    k = va.lin_k(va.norm_k(h0))[:, None]
    v = va.lin_v(va.norm_v(hT))[:, None]
    y = va.lin_out(F.scaled_dot_product_attention(q, k, v)[0, 0])
    return pos[:, None] + model.to_offsets(y).view(N, model.T, 3)


def reference_bytes(n: int) -> float:
    """Rough peak of the dense reference: the N x N mask, scores and softmax (float32)."""
    return n * n * (1 + 4 + 4 + 4) + n * 4096 * 4


# ---------------------------------------------------------------- workers ---


def run_worker(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = paper_model(args.chunk_size).to(device)
    pos, traj, face = animated_mesh(args.mesh, args.n, model.T)
    from torch_geometric.data import Data

    data = Data(pos=pos, traj=traj, edge_index=edge_index_from_faces(face, pos.size(0))).to(device)
    face = face.to(device)

    def call(d, f):
        if args.impl == "meshflow":
            return model(d, num_tokens=args.tokens, sample_posterior=False).recon
        return dense_forward(model, d.pos, d.traj, f, args.tokens)

    with torch.no_grad():
        small_pos, small_traj, small_face = animated_mesh("torus", 600, model.T)  # warm-up
        small = Data(pos=small_pos, traj=small_traj, edge_index=edge_index_from_faces(small_face, 600)).to(device)
        call(small, small_face.to(device))
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        before = peak_rss_bytes()
        start = time.perf_counter()
        recon = call(data, face)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    result = {"impl": args.impl, "n": pos.size(0), "edges": int(data.edge_index.size(1)), "seconds": seconds,
              "rss_before": before, "peak_rss": peak_rss_bytes(), "threads": torch.get_num_threads(),
              "finite": bool(torch.isfinite(recon).all())}
    if device.type == "cuda":
        result["peak_cuda"] = torch.cuda.max_memory_allocated()
    return result


def run_check(args) -> float:
    """max |meshflow - reference| on one mesh (same weights, same tokens)."""
    from torch_geometric.data import Data

    model = paper_model(args.chunk_size).to(args.device)
    pos, traj, face = animated_mesh(args.mesh, args.n, model.T)
    data = Data(pos=pos, traj=traj, edge_index=edge_index_from_faces(face, pos.size(0))).to(args.device)
    with torch.no_grad():
        ours = model(data, num_tokens=args.tokens, sample_posterior=False).recon
        ref = dense_forward(model, data.pos, data.traj, face.to(args.device), args.tokens)
    return float((ours - ref).abs().max())


def spawn(args, impl: str, n: int, check: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--impl", impl, "--n", str(n), "--device", args.device,
           "--mesh", args.mesh, "--tokens", str(args.tokens), "--chunk-size", str(args.chunk_size),
           "--threads", str(args.threads)]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"impl": impl, "n": n, "error": f"failed ({tail[:60]})"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt_gb(b) -> str:
    return f"{b / 2 ** 30:.2f} GB"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[5_000, 20_000, 50_000, 200_000, 1_000_000])
    p.add_argument("--device", default="cpu")
    p.add_argument("--mesh", choices=["torus", "spot"], default="torus")
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--chunk-size", type=int, default=PAPER.chunk_size)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads per run (0: torch's default)")
    p.add_argument("--reference-limit-gb", type=float, default=6.0,
                   help="run the dense reference only where its estimated peak stays below this")
    p.add_argument("--no-reference", action="store_true")
    # worker mode (internal)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--impl", default="meshflow", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=5000, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        out = {"max_abs_diff": run_check(args)} if args.check else run_worker(args)
        print(json.dumps(out))
        return 0

    cuda = args.device.startswith("cuda")
    mem_key = "peak_cuda" if cuda else "peak_rss"
    print(f"# DyMeshVAE encode+decode, paper-size config, K={args.tokens}, float32, {args.mesh} meshes, "
          f"device={args.device}, torch threads={args.threads or torch.get_num_threads()}, "
          f"chunk_size={args.chunk_size}")
    if not args.no_reference:
        check = spawn(args, "meshflow", min(args.sizes), check=True)
        print(f"# reference check at N={min(args.sizes)}: max |meshflow - dense| = "
              f"{check.get('max_abs_diff', check.get('error'))}")
    mem_name = "peak CUDA memory" if cuda else "peak RSS"
    print(f"| N | edges | meshflow time | meshflow {mem_name} | dense time | dense {mem_name} |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        ours = spawn(args, "meshflow", n)
        if args.no_reference:
            ref = None
        elif reference_bytes(n) > args.reference_limit_gb * 2 ** 30:
            ref = {"error": f"skipped (needs ~{reference_bytes(n) / 2 ** 30:.0f} GB)"}
        else:
            ref = spawn(args, "dense", n)

        def cells(r):
            if r is None:
                return ["-", "-"]
            if "error" in r:
                return [r["error"], "-"]
            return [f"{r['seconds']:.1f} s", fmt_gb(r[mem_key])]

        edges = ours.get("edges", "?")
        print(f"| {ours.get('n', n)} | {edges} | " + " | ".join(cells(ours) + cells(ref)) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
