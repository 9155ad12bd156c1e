"""ODE solvers of meshflow.flow.sample against the original's 64-step midpoint solve, bundled model; prints a table.

    python scripts/bench_solvers.py                 # spot, calls budgets 16 32 64
    python scripts/bench_solvers.py --compile       # also time one MMDiT call eager vs torch.compile

Deviation: ``|x - x_ref| / |x_ref - noise|`` over the trajectory latents (same noise, seed 0),
and the mean per-vertex distance of the decoded animations in normalised units (frame 0 in
[-1, 1]) beside the reference's mean motion (its mean displacement from frame 0). Solvers
get equal budgets of model calls (each call batches [cond; uncond]).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshflow.data.graph import file_graph  # noqa: E402
from meshflow.flow import SOLVER_CALLS, destandardize, model_calls, sample, standardize  # noqa: E402
from meshflow.io.mesh import read_mesh  # noqa: E402
from meshflow.pipeline import AnimationPipeline, _Velocity  # noqa: E402
from torch_geometric.data import Batch  # noqa: E402

SPOT = ROOT.parent / "shared" / "data" / "static" / "spot.obj"


@torch.no_grad()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mesh", default=str(SPOT))
    p.add_argument("--prompt", default="the cow jumps")
    p.add_argument("--budgets", type=int, nargs="+", default=[16, 32, 64], help="model calls per solve")
    p.add_argument("--solvers", nargs="+", default=["euler", "midpoint", "heun", "rk4"])
    p.add_argument("--tokens", type=int, default=None, help="K (default: the model's for the mesh)")
    p.add_argument("--compile", action="store_true", help="time one MMDiT call eager vs torch.compile")
    args = p.parse_args(argv)
    pipe = AnimationPipeline.from_pretrained(device="cpu")
    g = file_graph(read_mesh(args.mesh))
    batch = Batch.from_data_list([g])
    K = args.tokens or pipe.vae.num_tokens(g.num_nodes)
    L = pipe.vae.latent_dim
    e0 = pipe.vae.embed_vertices(batch)
    latents, post = pipe.vae.encode(batch, num_tokens=K, sample_posterior=False, vertex_embed=e0)
    f0 = standardize(latents, pipe.factors, L)[..., :L]
    text = pipe.encode_text([args.prompt])
    velocity = _Velocity(pipe.mmdit, torch.tensor([True]))
    noise = torch.randn((1, K, 2 * L), generator=torch.Generator().manual_seed(0))

    def solve(solver, steps):
        start = time.perf_counter()
        x = sample(velocity, f0, (text.tokens, text.mask), steps=steps, guidance=pipe.sampling.guidance,
                   solver=solver, noise=noise)
        seconds = time.perf_counter() - start
        traj = pipe.vae.decode(destandardize(x, pipe.factors, L), g, vertex_embed=e0, token_index=post.token_index)
        return x, traj, seconds

    ref, ref_traj, ref_s = solve("midpoint", 64)
    scale = (ref[..., L:] - noise[..., L:]).norm()
    motion = (ref_traj - ref_traj[:, :1]).norm(dim=-1).mean().item()
    print(f"{args.mesh}: {g.num_nodes} welded vertices, K = {K}; reference midpoint 64 steps (126 calls) "
          f"{ref_s:.1f} s, its mean motion {motion:.4f}")
    print("| solver | steps | model calls | latent deviation | vertex deviation | sample s |\n|---|---|---|---|---|---|")
    for budget in args.budgets:
        for solver in args.solvers:
            steps = budget // SOLVER_CALLS[solver] + 1
            x, traj, seconds = solve(solver, steps)
            lat = ((x[..., L:] - ref[..., L:]).norm() / scale).item()
            vert = (traj - ref_traj).norm(dim=-1).mean().item()
            print(f"| {solver} | {steps} | {model_calls(solver, steps)} | {lat:.4f} | {vert:.4f} | "
                  f"{seconds:.1f} |", flush=True)
    if args.compile:
        x = torch.cat([torch.cat([f0, noise[..., L:]], -1)] * 2)
        call = (x, torch.full((2,), 0.5), torch.cat([text.tokens] * 2), torch.cat([text.mask] * 2),
                torch.tensor([True, False]))
        for name, model in (("eager", pipe.mmdit), ("torch.compile", torch.compile(pipe.mmdit))):
            start = time.perf_counter()
            model(*call)
            first = time.perf_counter() - start
            start = time.perf_counter()
            for _ in range(5):
                model(*call)
            print(f"{name}: first call {first:.1f} s, then {(time.perf_counter() - start) / 5:.3f} s per call")


if __name__ == "__main__":
    main()
