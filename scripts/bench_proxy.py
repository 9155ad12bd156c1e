"""What the proxy of huge meshes costs in fidelity and saves in time (meshflow.data.proxy); prints tables.

    python scripts/bench_proxy.py                       # fidelity at 20k / 50k, then end to end at 100k and 1M
    python scripts/bench_proxy.py --skip-speed          # fidelity only
    python scripts/bench_proxy.py --skip-fidelity --sizes 100000 1000000 --steps 64

**Fidelity.** The VAE round trip (posterior mean) of an animated mesh of about 20k and 50k
vertices, directly and through a proxy of ``--proxy`` vertices: the true motion is carried
to the proxy's vertices (each proxy vertex bound to the full mesh, :func:`~meshflow.data.proxy.bind`),
the proxy is reconstructed and its motion carried back to every full vertex
(:meth:`~meshflow.data.proxy.ProxyBinding.transfer`). Errors are the mean per-vertex
Euclidean error over frames in normalised units (frame 0 in [-1, 1]), beside the no-motion
baseline (predicting the rest pose) and the transfer alone (the true proxy motion carried
back, no VAE). Meshes: the Quaternius cow galloping, Loop-subdivided twice (~20k), and Spot
Loop-subdivided twice (~47k) bending and wagging (procedural motions, meshflow.data.motions).

**Speed.** ``meshflow animate`` end to end (read, weld, proxy, text, encode, sample, decode,
carry over, write the .glb) on a UV-mapped torus of N vertices with the bundled model, each
in a fresh process, wall time and peak resident memory; ``--direct-steps`` also times the
direct path (``--proxy 0``) at the smallest size with that many ODE steps.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import trimesh

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshflow.data.graph import mesh_graph  # noqa: E402
from meshflow.data.motions import make_motion  # noqa: E402
from meshflow.data.proxy import ProxyBinding, ProxyConfig, bind, decimate  # noqa: E402
from meshflow.eval.vae import reconstruct  # noqa: E402
from meshflow.io.animation import sample_animation  # noqa: E402
from meshflow.pipeline import AnimationPipeline  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


# ------------------------------------------------------------------ meshes ---
def loop_subdivide(frames: np.ndarray, faces: np.ndarray, times: int):
    """Loop subdivision of every frame (the stencil depends on the faces only): (T, N, 3) -> (T, N', 3)."""
    out, f = [], faces
    for frame in frames:
        v, f = frame, faces
        for _ in range(times):
            v, f = trimesh.remesh.subdivide_loop(v, f)
        out.append(v)
    return np.stack(out).astype(np.float32), f


def welded(frames: np.ndarray, faces: np.ndarray):
    g = mesh_graph(frames[0], faces)
    first = np.unique(g.source_index.numpy(), return_index=True)[1]
    return frames[:, first], g.face.t().numpy()


def clips(T: int):
    """(name, frames (T, N, 3), faces) of the fidelity table."""
    cow = sample_animation(SHARED / "quaternius" / "animals_pack" / "Cow.glb", clip="Gallop", fps=15, frames=T)
    v, f = welded(cow.vertices, cow.faces)
    v, f = loop_subdivide(v, f, 2)
    yield "cow gallop", v, f
    spot = trimesh.load(SHARED / "static" / "spot.obj", force="mesh", process=False)
    rest, f = welded(np.asarray(spot.vertices, dtype=np.float32)[None], np.asarray(spot.faces))
    rest, f = loop_subdivide(rest, f, 2)
    for label in ("bend", "wag"):
        yield f"spot {label}", make_motion(rest[0], f, label=label, rng=0, frames=T).frames.astype(np.float32), f


def torus(n: int, path: Path) -> Path:
    """A UV-mapped bumpy torus of about n welded vertices (split at both seams), written as .glb."""
    rows = int(round(np.sqrt(n * 1.6)))
    cols = int(round(n / rows))
    u, v = np.meshgrid(np.linspace(0, 1, rows + 1), np.linspace(0, 1, cols + 1), indexing="ij")
    a, b = 2 * np.pi * u, 2 * np.pi * v
    r = 0.35 + 0.03 * np.sin(5 * a) * np.cos(3 * b)
    xyz = np.stack([(1 + r * np.cos(b)) * np.cos(a), r * np.sin(b), (1 + r * np.cos(b)) * np.sin(a)], -1)
    xyz[-1], xyz[:, -1] = xyz[0], xyz[:, 0]
    idx = np.arange((rows + 1) * (cols + 1)).reshape(rows + 1, cols + 1)
    q = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], -1).reshape(-1, 4)
    faces = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    mesh = trimesh.Trimesh(xyz.reshape(-1, 3), faces, process=False,
                           visual=trimesh.visual.TextureVisuals(uv=np.stack([u, v], -1).reshape(-1, 2)))
    mesh.export(path)
    return path


# ---------------------------------------------------------------- fidelity ---
def fidelity(pipe, proxies, frames_kinds=("vertex", "face")):
    vae = pipe.vae
    rows = []
    for (name, V, F), proxy in ((c, n) for c in clips(vae.T) for n in proxies):
        g = mesh_graph(V[0], F)
        center, scale = g.center.numpy().reshape(1, 1, 3), float(g.scale)
        X = (V - center) / scale  # (T, N, 3) normalised, as the VAE sees it
        still = float(np.linalg.norm(X - X[:1], axis=-1).mean())
        if not rows or rows[-1]["mesh"] != name:  # the direct round trip once per mesh
            start = time.perf_counter()
            _, direct, K = reconstruct(vae, X, F)
            direct_s = time.perf_counter() - start
        pv, pf = decimate(X[0], F, proxy)
        # the true motion on the proxy: each proxy vertex bound to the full mesh
        face, bary, offset = bind(pv, X[0], F, frame="vertex")
        back = ProxyBinding(mesh_graph(X[0], F, weld=False, normalize=False), face, bary, offset, frame="vertex")
        P = back.transfer(torch.from_numpy(np.ascontiguousarray(X.transpose(1, 0, 2)))).numpy()  # (Np, T, 3)
        start = time.perf_counter()
        recon_p, _, Kp = reconstruct(vae, P.transpose(1, 0, 2), pf)  # (T, Np, 3)
        proxy_s = time.perf_counter() - start
        row = dict(mesh=name, vertices=len(g.pos), proxy=len(pv), K=K, Kp=Kp, still=still, direct=direct,
                   direct_s=direct_s, proxy_s=proxy_s)
        for kind in frames_kinds:
            face, bary, offset = bind(X[0], pv, pf, frame=kind)
            fwd = ProxyBinding(mesh_graph(pv, pf, weld=False, normalize=False), face, bary, offset, frame=kind)
            out = fwd.transfer(torch.from_numpy(np.ascontiguousarray(recon_p.transpose(1, 0, 2)))).numpy()
            only = fwd.transfer(torch.from_numpy(P)).numpy()
            row[f"proxy_{kind}"] = float(np.linalg.norm(out.transpose(1, 0, 2) - X, axis=-1).mean())
            row[f"transfer_{kind}"] = float(np.linalg.norm(only.transpose(1, 0, 2) - X, axis=-1).mean())
        rows.append(row)
        print(f"  {name}: {row}", file=sys.stderr, flush=True)
    print("\nVAE round trip of the full mesh, directly and through a proxy "
          "(mean per-vertex error, normalised units; lower is better)")
    head = ["mesh", "vertices", "proxy", "K / K proxy", "no motion", "direct", "proxy (vertex)", "proxy (face)",
            "transfer only (vertex / face)", "VAE s direct / proxy"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print(f"| {r['mesh']} | {r['vertices']:,} | {r['proxy']:,} | {r['K']:,} / {r['Kp']:,} | {r['still']:.4f} | "
              f"{r['direct']:.4f} | {r['proxy_vertex']:.4f} | {r['proxy_face']:.4f} | "
              f"{r['transfer_vertex']:.4f} / {r['transfer_face']:.4f} | {r['direct_s']:.1f} / {r['proxy_s']:.1f} |")
    return rows


# ------------------------------------------------------------------- speed ---
def animate_once(mesh: Path, out: Path, extra) -> dict:
    """``meshflow animate`` in a fresh process: wall and CPU seconds, peak RSS (GB), load, the printed time row."""
    cmd = [sys.executable, "-m", "meshflow", "animate", str(mesh), "-p", "a ring wobbles", "-o", str(out),
           "--seed", "0", "-q", "--overwrite", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peak = after.ru_maxrss  # the largest child so far: run the sizes in increasing order
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr}")
    row = next((line for line in res.stdout.splitlines() if line.strip().startswith("time")), "")
    return dict(wall=wall, cpu=cpu, peak_gb=peak / 2 ** 20, load=os.getloadavg()[0],
                time_row=row.split("time", 1)[-1].strip(" :"))


def speed(sizes, steps, direct_steps, folder: Path):
    rows = []
    for n in sizes:
        mesh = torus(n, folder / f"torus-{n}.glb")
        extra = ["--steps", str(steps)] if steps else []
        rows.append(dict(n=n, path="proxy (default)", steps=steps or "model's",
                         **animate_once(mesh, folder / "out.glb", extra)))
        print(f"  {rows[-1]}", file=sys.stderr, flush=True)
        if direct_steps and n == min(sizes):
            rows.append(dict(n=n, path="direct (--proxy 0)", steps=direct_steps,
                             **animate_once(mesh, folder / "out.glb", ["--proxy", "0", "--steps", str(direct_steps)])))
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    print(f"\n`meshflow animate` end to end, bundled model, {os.cpu_count()} CPUs (wall and CPU seconds of a fresh "
          "process, its peak resident memory, the 1-minute load average after it)")
    print("| vertices | path | ODE steps | wall s | CPU s | peak GB | load | time row |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['path']} | {r['steps']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['peak_gb']:.2f} | "
              f"{r['load']:.1f} | {r['time_row']} |")
    proxied = [r for r in rows if r["path"].startswith("proxy")]
    if len(proxied) >= 2:
        a, b = proxied[0], proxied[-1]
        print(f"time({b['n']:,}) / time({a['n']:,}) = {b['wall'] / a['wall']:.2f} wall, {b['cpu'] / a['cpu']:.2f} CPU")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--proxy", type=int, nargs="+", default=[2048, ProxyConfig.vertices],
                   help="proxy sizes of the fidelity table")
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--steps", type=int, default=None, help="ODE grid points of the speed runs (default: the model's)")
    p.add_argument("--direct-steps", type=int, default=0, help="also time --proxy 0 at the smallest size")
    p.add_argument("--skip-fidelity", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--folder", type=Path, default=Path("/tmp/bench_proxy"))
    args = p.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    if not args.skip_fidelity:
        fidelity(AnimationPipeline.from_pretrained(device="cpu"), args.proxy)
    if not args.skip_speed:
        speed(args.sizes, args.steps, args.direct_steps, args.folder)


if __name__ == "__main__":
    main()
