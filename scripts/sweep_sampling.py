"""Chooses a model's sampler defaults (guidance, solver, steps) on validation meshes; prints a table.

    python scripts/sweep_sampling.py [--model DIR] [--guidance 1.5 2 3] [--sampler heun:17 midpoint:64]
                                     [--num-samples 1 3] [--rigidity 0 0.01] [--tokens auto 128]
                                     [--seeds 1] [--mesh MESH ...]
                                     [--json out.json]

Every (guidance, solver:steps) pair animates every validation mesh with every procedural
motion label (phrased as the generator phrases it, :data:`meshflow.eval.motion.PROCEDURAL`)
and with the locomotion prompts of :data:`LOCOMOTION`, and reports prompt adherence, the
edge-length change of the rigid labels (spin, hop, slide) and of the locomotion prompts,
the motion amount and the seconds per animation. With ``--num-samples N`` each animation
is the pipeline's ranked best of N seeds (``meshflow animate --num-samples``). With
``--rigidity R ...`` every animation's samples are drawn once and then refined with each
``R`` (:func:`meshflow.data.rigidity.refine_shape`, what ``meshflow animate --rigidity R``
does after decoding) and ranked again, so the rigidity values compare on the same samples.
``--tokens`` compares token counts K (``auto``: the VAE's rule, ``meshflow animate``'s default).

The default meshes are the rest poses of the Quaternius files the trainers' split holds
out (whole files, never trained on, as clips or under procedural motions), *not* the
evaluation suite's unseen meshes (``scripts/eval_report.py``: Spot, bird, robot): a
default picked here is then measured there without having been tuned on it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from meshflow.data.graph import file_graph  # noqa: E402
from meshflow.data.rigidity import refine_frames  # noqa: E402
from meshflow.eval.motion import RIGID_LABELS, PromptCase, evaluate_frames, mesh_word, procedural_prompts  # noqa: E402
from meshflow.io import read_mesh  # noqa: E402
from meshflow.pipeline import AnimationPipeline  # noqa: E402
from meshflow.ranking import score_sample  # noqa: E402
from meshflow.train.config import DataConfig  # noqa: E402
from meshflow.train.data import held_out_files  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
#: prompts without a check whose shape is still measured: "the {object} ..."
LOCOMOTION = ("walks forward", "runs", "swims")


def validation_meshes(val_fraction: float = DataConfig.val_fraction):
    return held_out_files(SHARED / "quaternius", val_fraction)


def summarize_rows(rows, loco_rows) -> dict:
    by_label = {}
    for r in rows:
        by_label.setdefault(r["label"], []).append(r["ok"])
    return {"adherence": float(np.mean([r["ok"] for r in rows])),
            "rigid_edge": float(np.mean([r["edge_change"] for r in rows if r["label"] in RIGID_LABELS])),
            "edge": float(np.mean([r["edge_change"] for r in rows])),
            "loco_edge": float(np.mean([r["edge_change"] for r in loco_rows])),
            "motion": float(np.mean([r["motion"] for r in rows + loco_rows])),
            "seconds": float(np.mean([r["seconds"] for r in rows + loco_rows])),
            "by_label": {k: float(np.mean(v)) for k, v in sorted(by_label.items())}}


def parse_sampler(text: str):
    solver, _, steps = text.partition(":")
    return solver, int(steps or 64)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.5, 2.0, 3.0])
    ap.add_argument("--sampler", nargs="+", default=["heun:17"], help="SOLVER:STEPS pairs")
    ap.add_argument("--num-samples", type=int, nargs="+", default=[1],
                    help="seeds ranked per animation, the best kept (the pipeline's num_samples)")
    ap.add_argument("--rigidity", type=float, nargs="+", default=[0.0],
                    help="shape refinements compared on the same samples (the pipeline's rigidity; 0 = off)")
    ap.add_argument("--tokens", nargs="+", default=["auto"],
                    help="token counts K to compare (auto: the VAE's default for each mesh)")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--mesh", action="append", default=None, help="validation meshes (default: held-out Quaternius)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    pipe = AnimationPipeline.from_pretrained(args.model, device="cpu")
    meshes = [read_mesh(p) for p in (args.mesh or validation_meshes())]
    print("validation meshes:", ", ".join(f"{Path(m.path).stem} ({len(m.vertices):,} v)" for m in meshes))
    results, seeds = [], tuple(range(args.seeds))
    grid = [(solver, steps, guidance, n, tokens) for solver, steps in map(parse_sampler, args.sampler)
            for guidance in args.guidance for n in args.num_samples for tokens in args.tokens]
    for solver, steps, guidance, n, tokens in grid:
        start = time.perf_counter()
        kw = dict(steps=steps, guidance=guidance, solver=solver, num_samples=n, rigidity=0.0,
                  tokens=None if tokens == "auto" else int(tokens))
        rows = {r: [] for r in args.rigidity}
        loco_rows = {r: [] for r in args.rigidity}
        for mesh in meshes:
            for seed in seeds:
                cases = procedural_prompts(mesh, seed=seed) + [
                    PromptCase(f"the {mesh_word(mesh)} {p}") for p in LOCOMOTION]
                for case in cases:
                    t0 = time.perf_counter()
                    samples = pipe(mesh, case.prompt, seed=seed, return_all=True, **kw)
                    seconds = time.perf_counter() - t0
                    graph = file_graph(mesh)
                    for r in args.rigidity:
                        t1 = time.perf_counter()
                        refined = [refine_frames(a.vertices, graph, r) for a in samples]
                        if len(refined) > 1:
                            refined.sort(key=lambda v: score_sample(v, mesh.faces).score)
                        row = evaluate_frames(refined[0], mesh.faces, case.label)
                        row.update(label=case.label, seconds=seconds + time.perf_counter() - t1)
                        (rows if case.label else loco_rows)[r].append(row)
        for r in args.rigidity:
            res = summarize_rows(rows[r], loco_rows[r])
            res.update(solver=solver, steps=steps, guidance=guidance, num_samples=n, rigidity=r, tokens=tokens,
                       wall=time.perf_counter() - start)
            results.append(res)
            print(f"{solver}:{steps} guidance {guidance} best of {n} rigidity {r:g} tokens {tokens}: adherence "
                  f"{res['adherence']:.3f}, rigid edge {res['rigid_edge']:.3f}, all edge {res['edge']:.3f}, "
                  f"locomotion edge {res['loco_edge']:.3f}, motion {res['motion']:.3f}, "
                  f"{res['seconds']:.1f} s each", flush=True)
    print("\n| solver:steps | guidance | best of | rigidity | tokens | adherence | rigid edge change | edge change "
          "| locomotion edge change | motion | s each |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['solver']}:{r['steps']} | {r['guidance']:g} | {r['num_samples']} | {r['rigidity']:g} | "
              f"{r['tokens']} | "
              f"{r['adherence']:.3f} | {r['rigid_edge']:.3f} | "
              f"{r['edge']:.3f} | {r['loco_edge']:.3f} | {r['motion']:.3f} | {r['seconds']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
