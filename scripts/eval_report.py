"""Runs the whole evaluation suite on a model and writes a markdown report with previews.

    python scripts/eval_report.py [--model DIR] [--shared ../shared] [--work eval-work] \\
        [-o meshflow/pretrained/starter/eval] [--seeds 2] [--steps N] [--paraphrases-per-label N] [--quick]

Sections (the targets of issue 13, :data:`TARGETS`):
1. DyMeshVAE reconstruction on held-out Quaternius files (the files the trainers'
   split holds out: whole files, all their clips), K = 512 and the model's default K,
   posterior mean and a posterior sample, each beside the no-motion baseline (the rest
   pose in every frame).
2. Prompt adherence on meshes the model never saw (graphs/eval/{bird,robot}.glb and
   shared/data/static/spot.obj, copied as cow.obj so that the prompts say "cow"): every
   motion label phrased as the procedural generator phrases it, and the paraphrases of
   ``meshflow.eval.motion.PARAPHRASES`` (worded unlike any training caption); the ceiling
   the VAE sets: of the procedural motions that pass their check, the share that still
   passes after a VAE round trip.
3. Shape preservation: generated "walks / gallops / swims" against the real Quaternius
   clips with those words in their captions; the rigid prompts (spin, hop, slide) of section 2.
4. Speed: end to end (read, load, text, sample with CFG, decode, write a GLB) for a
   5k-vertex mesh (and Spot) on this machine's CPU.
5. The README's main command (``meshflow animate graphs/examples/quadruped.glb --prompt
   "the dog walks forward" --seed 0``) as a contact sheet, ``dog.png``.

``--quick`` (1 seed, 16 steps, one unseen mesh, one paraphrase per label, 12 held-out clips,
real clips of the held-out files only, no GIFs) smoke-runs the script in about a minute;
its numbers are not the report's. Everything also lands in metrics.json next to REPORT.md.
"""
import argparse
import json
import os
import platform
import shlex
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import trimesh

from meshflow.commands.main import main as meshflow_main
from meshflow.data.clips import build_clips
from meshflow.data.graph import mesh_graph
from meshflow.data.motions import LABELS, make_motion
from meshflow.data.rigidity import refine_frames
from meshflow.eval import evaluate_animations, evaluate_vae, generate_and_evaluate, open_eval_clips
from meshflow.eval.checks import check_motion
from meshflow.eval.motion import (PROCEDURAL, RIGID_LABELS, MotionEvaluation, PromptCase, evaluate_frames, mesh_word,
                                  paraphrase_cases)
from meshflow.io import load_animation, read_mesh
from meshflow.io.preview import render_preview
from meshflow.eval.vae import reconstruct
from meshflow.pipeline import AnimationPipeline
from meshflow.train.config import DataConfig
from meshflow.train.data import held_out_files

ROOT = Path(__file__).resolve().parents[1]
QUATERNIUS_STYLE = "walk|gallop|swim"
#: the prompts whose motion is rigid, so that their edge lengths should not change
RIGID_PROMPTS = RIGID_LABELS
#: the README's main command: mesh, prompt, seed
README_COMMAND = (ROOT / "graphs" / "examples" / "quadruped.glb", "the dog walks forward", 0)
#: issue 13's targets: (what, comparison, value)
TARGETS = {
    "vae_heldout": ("VAE error, held-out Quaternius files, K = 512 (posterior mean)", "<=", 0.025),
    "vae_ceiling": ("VAE round-trip ceiling: passing procedural motions still passing after", ">=", 0.9),
    "adherence_procedural": ("prompt adherence, procedural captions, unseen meshes", ">=", 0.6),
    "adherence_paraphrase": ("prompt adherence, paraphrases never in training, unseen meshes", ">=", 0.6),
    "shape_ratio": ("edge-length change, generated walk/gallop/swim / real clips", "<=", 2.0),
    "rigid_edge_change": ("edge-length change, rigid prompts (spin, hop, slide), unseen meshes", "<=", 0.05),
    "speed_5k": ("5k-vertex mesh end to end, CPU (s)", "<=", 10.0),
}
#: --quick: how much of each section runs
QUICK = {"seeds": 1, "steps": 16, "meshes": 1, "paraphrases_per_label": 1, "heldout_clips": 12}


def heldout_files(quaternius: Path, val_fraction: float):
    """The Quaternius files the training split holds out (the trainers' rule: by file name)."""
    return held_out_files(quaternius, val_fraction)


def build_once(sources, out: Path, frames: int):
    if not (out / "index.jsonl").is_file():
        build_clips(sources, out, frames=frames, workers=1, progress=False)
    return out


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def merge(evaluations):
    """One :class:`MotionEvaluation` with the rows of all."""
    out = MotionEvaluation()
    for e in evaluations:
        out.rows += e.rows
    return out


def mean_of(rows, key):
    return float(np.mean([r[key] for r in rows])) if rows else float("nan")


def verdict(key, value):
    _, op, target = TARGETS[key]
    ok = value <= target if op == "<=" else value >= target
    return "met" if ok else "**missed**"


def vae_ceiling(pipe, meshes, seeds, T):
    """Per procedural motion of every mesh, label and seed: whether its check passes before the
    round trip, after it (posterior mean), after it (posterior sample) and, for a model whose
    sampler refines shapes (``rigidity``), after it with that refinement (posterior mean)."""
    rigidity = float(pipe.sampling.rigidity)
    rows = []
    for mesh in meshes:
        for seed in seeds:
            for label in LABELS:
                motion = make_motion(mesh.vertices, mesh.faces, label=label, rng=seed, frames=T)
                mean, _, _ = reconstruct(pipe.vae, motion.frames, mesh.faces)
                sample, _, _ = reconstruct(pipe.vae, motion.frames, mesh.faces, sample_posterior=True,
                                           generator=torch.Generator().manual_seed(seed))
                before, after, after_sample = (bool(check_motion(label, x)) for x in (motion.frames, mean, sample))
                rows.append({"mesh": Path(mesh.path).name, "label": label, "seed": seed, "procedural": before,
                             "round_trip": after, "round_trip_sample": after_sample})
                if rigidity > 0:  # the round trip's mean, refined as reconstruct(rigidity=) refines it
                    refined = refine_frames(mean, mesh_graph(motion.frames[0], mesh.faces), rigidity)
                    rows[-1]["round_trip_refined"] = bool(check_motion(label, refined))
    passing = [r for r in rows if r["procedural"]]
    summary = {"procedural": mean_of(rows, "procedural"), "vae_round_trip": mean_of(rows, "round_trip"),
               "vae_round_trip_sample": mean_of(rows, "round_trip_sample"),
               "ceiling": mean_of(passing, "round_trip"), "ceiling_sample": mean_of(passing, "round_trip_sample"),
               "by_label": {label: mean_of([r for r in passing if r["label"] == label], "round_trip")
                            for label in LABELS}}
    if rigidity > 0:
        summary.update(rigidity=rigidity, ceiling_refined=mean_of(passing, "round_trip_refined"),
                       by_label_refined={label: mean_of([r for r in passing if r["label"] == label],
                                                        "round_trip_refined") for label in LABELS})
    return summary, rows


def sampler_words(metrics: dict) -> str:
    """The sampler settings of a report: "17 heun steps, guidance 1.5, best of 3 seeds by `score_sample`, shape
    refinement rigidity 0.003, prompts matched to trained phrases" (as `meshflow animate`; reports from before
    the refinement or the matching have no ``rigidity`` or ``match_prompt``)."""
    words = f"{metrics['steps']} {metrics['solver']} steps, guidance {metrics['guidance']:g}"
    n, rigidity = metrics["num_samples"], metrics.get("rigidity", 0.0)
    words += f", best of {n} seeds by `score_sample`" if n > 1 else ""
    words += f", shape refinement rigidity {rigidity:g}" if rigidity else ""
    return words + (", prompts matched to trained phrases" if metrics.get("match_prompt") else "")


def readme_contact_sheet(model, work: Path, out: Path, steps):
    """Runs the README's main command with ``meshflow animate`` and renders ``dog.png``."""
    mesh, prompt, seed = README_COMMAND
    glb = work / "dog.glb"
    argv = ["animate", str(mesh), "--prompt", prompt, "-o", str(glb), "--seed", str(seed)]
    argv += ["--model", str(model)] if model else []
    argv += ["--steps", str(steps)] if steps else []
    start = time.perf_counter()
    if meshflow_main(argv) != 0:
        raise SystemExit(f"`meshflow {' '.join(argv)}` failed")
    seconds = time.perf_counter() - start
    render_preview(glb, out / "dog.png", size=256)
    anim = load_animation(glb)
    shown = [str(mesh.relative_to(ROOT)) if a == str(mesh) else "dog.glb" if a == str(glb) else a for a in argv]
    return {"command": shlex.join(["meshflow"] + shown), "seconds": seconds,  # as the README writes it
            **evaluate_frames(np.asarray(anim.vertices), anim.faces)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory (default: the bundled model)")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--work", default=str(ROOT / "eval-work"), help="scratch folder for built clips")
    ap.add_argument("-o", "--out", default=str(ROOT / "meshflow" / "pretrained" / "starter" / "eval"))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    ap.add_argument("--val-fraction", type=float, default=DataConfig.val_fraction,
                    help=f"the trainers' data.val_fraction (default: {DataConfig.val_fraction})")
    ap.add_argument("--paraphrases-per-label", type=int, default=None, metavar="N",
                    help="the first N paraphrases of each label only (default: all)")
    ap.add_argument("--quick", action="store_true", help=f"a smoke run: {QUICK}")
    args = ap.parse_args()

    shared, work, out = Path(args.shared), Path(args.work), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    quaternius = shared / "data" / "quaternius"
    # Spot is a cow: a copy named cow.obj makes the prompts say "cow" (they name the mesh by its file name)
    spot = work / "cow.obj"
    shutil.copyfile(shared / "data" / "static" / "spot.obj", spot)
    pipe = AnimationPipeline.from_pretrained(args.model, device="cpu")
    T = pipe.frames
    seeds = range(QUICK["seeds"] if args.quick else args.seeds)
    steps = args.steps or (QUICK["steps"] if args.quick else pipe.sampling.steps)
    sampling = pipe.sampling  # the model's solver, guidance and best-of-N: what `meshflow animate` uses
    metrics = {"model": str(pipe.model_dir), "quick": args.quick, "steps": steps, "seeds": len(seeds),
               "solver": sampling.solver, "guidance": sampling.guidance, "num_samples": sampling.num_samples,
               "rigidity": sampling.rigidity, "match_prompt": sampling.match_prompt,
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
                          f"torch {torch.__version__}"}
    print(f"model {pipe.model_dir}, {sampler_words(metrics)}, {len(seeds)} seeds{' (quick)' if args.quick else ''}")

    # 1. VAE reconstruction on held-out files, beside the no-motion baseline
    held = heldout_files(quaternius, args.val_fraction)
    ds = open_eval_clips(build_once(held, work / f"heldout-T{T}", T), frames=T)
    if args.quick:
        ds = torch.utils.data.Subset(ds, range(min(QUICK["heldout_clips"], len(ds))))
    vae_rows = {}
    for name, tokens in (("K=512", 512), ("default K", None)):
        vae_rows[name] = evaluate_vae(pipe.vae, ds, tokens=tokens).summary()
        r = vae_rows[name]
        print(f"VAE {name}: {r['mean']:.4f} (sample {r['mean_sample']:.4f}; no motion {r['mean_still']:.4f})")
    metrics["vae"] = {"heldout_files": [f.name for f in held], "clips": len(ds), **vae_rows}

    # 2. prompt adherence on unseen meshes: procedural captions and paraphrases; the VAE's ceiling
    unseen = [ROOT / "graphs" / "eval" / "bird.glb", ROOT / "graphs" / "eval" / "robot.glb", spot]
    meshes = [read_mesh(p) for p in unseen[:QUICK["meshes"] if args.quick else None]]
    procedural = generate_and_evaluate(pipe, meshes, PROCEDURAL, seeds=seeds, steps=steps)
    per_label = QUICK["paraphrases_per_label"] if args.quick else args.paraphrases_per_label
    paraphrase = merge(generate_and_evaluate(pipe, [m], paraphrase_cases(mesh_word(m), per_label=per_label),
                                             seeds=seeds, steps=steps) for m in meshes)
    metrics["adherence"] = procedural.summary()
    metrics["adherence_paraphrase"] = paraphrase.summary()
    print(f"adherence: procedural {metrics['adherence']['adherence']:.3f}, "
          f"paraphrases {metrics['adherence_paraphrase']['adherence']:.3f}")
    metrics["adherence_ceiling"], ceiling_rows = vae_ceiling(pipe, meshes, seeds, T)
    c = metrics["adherence_ceiling"]
    print(f"VAE round-trip ceiling {c['ceiling']:.3f} (sample {c['ceiling_sample']:.3f}; "
          f"procedural motions pass {c['procedural']:.3f})")

    # 3. shape preservation: generated Quaternius-style prompts vs real clips; rigid prompts
    real_sources = held if args.quick else sorted(quaternius.rglob("*.glb"))
    real_folder = work / (f"heldout-T{T}" if args.quick else f"quaternius-T{T}")
    real = evaluate_animations([build_once(real_sources, real_folder, T)], match=QUATERNIUS_STYLE)
    fish = [f for f in held if "fish" in str(f.parent).lower()]
    style_jobs = [(unseen[0], ["a bird walks"]), (unseen[1], ["a robot walks"]),
                  (spot, ["a cow walks", "a cow gallops"])]
    style_jobs += [(f, [f"a {f.stem.lower()} swims"]) for f in fish[:2]]
    if args.quick:
        style_jobs = [style_jobs[0]] + style_jobs[3:4]
    generated = merge(generate_and_evaluate(pipe, [read_mesh(path)], [PromptCase(p) for p in prompts],
                                            seeds=seeds, steps=steps) for path, prompts in style_jobs)
    real_s, gen_s = real.summary(), generated.summary()
    rigid = [r for r in procedural.rows + paraphrase.rows if r["label"] in RIGID_PROMPTS]
    metrics["shape"] = {"real_clips": real_s["num_animations"], "real_edge_change": real_s["edge_change"],
                        "generated": gen_s["num_animations"], "generated_edge_change": gen_s["edge_change"],
                        "ratio": gen_s["edge_change"] / max(real_s["edge_change"], 1e-12),
                        "real_smoothness": real_s["smoothness"], "generated_smoothness": gen_s["smoothness"],
                        "real_motion": real_s["motion"], "generated_motion": gen_s["motion"],
                        "rigid_animations": len(rigid), "rigid_edge_change": mean_of(rigid, "edge_change"),
                        "rigid_edge_change_by_label": {k: mean_of([r for r in rigid if r["label"] == k], "edge_change")
                                                       for k in RIGID_PROMPTS}}
    s = metrics["shape"]
    print(f"shape: generated/real {s['ratio']:.1f}x, rigid prompts {s['rigid_edge_change']:.4f}")

    # 4. speed, end to end as `meshflow animate` does it
    sphere_path = work / "sphere5k.obj"
    trimesh.creation.uv_sphere(radius=1.0, count=[50, 50]).export(sphere_path)
    speed = []
    for path, prompt in ((sphere_path, "a ball bounces"),) + (() if args.quick else ((spot, "a cow walks"),)):
        start = time.perf_counter()
        anim = AnimationPipeline.from_pretrained(args.model, device="cpu")(read_mesh(path), prompt, steps=steps,
                                                                           seed=0)
        anim.save(work / f"{path.stem}.glb")
        total = time.perf_counter() - start
        speed.append({"mesh": path.name, "vertices": anim.num_vertices, "seconds": total,
                      **{k: round(v, 3) for k, v in anim.timings.items()}})
        print(f"speed {path.name}: {total:.2f} s")
    metrics["speed"] = speed

    # 5. the README's main command as a contact sheet; GIF previews
    metrics["readme"] = readme_contact_sheet(args.model, work, out, QUICK["steps"] if args.quick else args.steps)
    print(f"dog.png: {metrics['readme']}")
    gifs = []
    for path, prompt in (() if args.quick else ((spot, "a cow walks"), (unseen[0], "a bird spins clockwise"),
                                                (unseen[1], "a robot hops"))):
        glb = work / f"preview-{path.stem}.glb"
        pipe(read_mesh(path), prompt, steps=steps, seed=0).save(glb)
        render_preview(glb, out / f"{path.stem}.gif", size=256)
        gifs.append((prompt, f"{path.stem}.gif"))

    (out / "metrics.json").write_text(json.dumps({**metrics, "adherence_rows": procedural.rows,
                                                  "paraphrase_rows": paraphrase.rows, "ceiling_rows": ceiling_rows,
                                                  "shape_rows": generated.rows}, indent=1))
    write_report(out, pipe, metrics, args, held, style_jobs, gifs, paraphrase.rows)
    print(f"wrote {out / 'REPORT.md'}")


def readings_table(rows) -> list:
    """Report lines: each paraphrase, the trained phrase prompt matching read it as, and whether the result
    passed its label's check (nothing when the report ran without prompt matching)."""
    rows = [r for r in rows if "read_as" in r]
    if not rows:
        return []
    same = sum(r["read_as"] == r["prompt"] for r in rows)
    return ["With prompt matching each paraphrase is read as the closest phrase of the training captions, "
            f"its subject kept (`meshflow.models.text.vocabulary`); {same} of {len(rows)} read as themselves. "
            "Adherence is checked against the paraphrase's own label:", "",
            md_table(["mesh", "paraphrase", "read as", "label", "ok"],
                     [[r["name"], r["prompt"], r["read_as"], r["label"], "yes" if r.get("ok") else "no"]
                      for r in rows]), ""]


def write_report(out: Path, pipe, metrics, args, held, style_jobs, gifs, paraphrase_rows=()):

    v512, a, p, c, s = (metrics["vae"]["K=512"], metrics["adherence"], metrics["adherence_paraphrase"],
                        metrics["adherence_ceiling"], metrics["shape"])
    speed5k = metrics["speed"][0]["seconds"]
    measured = {"vae_heldout": (v512["mean"], f"{v512['mean']:.4f} (no motion: {v512['mean_still']:.4f})"),
                "vae_ceiling": (c["ceiling"], f"{c['ceiling']:.3f}"),
                "adherence_procedural": (a["adherence"], f"{a['adherence']:.3f}"),
                "adherence_paraphrase": (p["adherence"], f"{p['adherence']:.3f}"),
                "shape_ratio": (s["ratio"], f"{s['ratio']:.1f}x ({s['generated_edge_change']:.4f} vs "
                                            f"{s['real_edge_change']:.4f})"),
                "rigid_edge_change": (s["rigid_edge_change"], f"{s['rigid_edge_change']:.4f}"),
                "speed_5k": (speed5k, f"{speed5k:.1f} s")}
    seeds = metrics["seeds"]
    lines = [f"# Evaluation of `{Path(pipe.model_dir).name}`", "",
             f"Written by `scripts/eval_report.py{' --quick' if args.quick else ''}` on {time.strftime('%Y-%m-%d')} "
             f"({metrics['machine']}); {sampler_words(metrics)}, {seeds} seed(s). Raw numbers: `metrics.json`.", ""]
    if args.quick:
        lines += ["**A quick smoke run** (fewer meshes, seeds, steps and clips): not the model's numbers.", ""]
    lines += ["## Targets", "",
              md_table(["metric", "target", "measured", ""],
                       [[TARGETS[k][0], f"{TARGETS[k][1]} {TARGETS[k][2]:g}", text, verdict(k, value)]
                        for k, (value, text) in measured.items()]), "",
              "## 1. DyMeshVAE reconstruction", "",
              f"{metrics['vae']['clips']} clips of {pipe.frames} frames from the held-out files "
              f"{', '.join(f.name for f in held)} (never trained on); mean per-vertex Euclidean error over "
              "frames in normalised units, beside the no-motion baseline (the rest pose in every frame).", "",
              md_table(["tokens", "mean (posterior mean)", "p90", "mean (sample)", "p90 (sample)", "no motion",
                        "p90 (no motion)", "s / clip"],
                       [[k, f"{r['mean']:.4f}", f"{r['p90']:.4f}", f"{r['mean_sample']:.4f}",
                         f"{r['p90_sample']:.4f}", f"{r['mean_still']:.4f}", f"{r['p90_still']:.4f}",
                         f"{r['seconds_per_clip']:.3f}"] for k, r in metrics["vae"].items()
                        if isinstance(r, dict)]),
              "", "## 2. Prompt adherence on unseen meshes", "",
              f"Meshes never used in training, {seeds} seed(s): every motion label phrased by the procedural "
              f"generator ({a['num_animations']} animations) and the paraphrases of "
              f"`meshflow.eval.motion.PARAPHRASES`, worded unlike any training caption ({p['num_animations']} "
              "animations). An animation adheres when `meshflow.eval.checks.check_motion` finds its label's "
              "property. The ceiling: of the procedural motions of the same meshes that pass their check, the "
              "share that still passes after a VAE round trip (a flow cannot adhere more often than the VAE "
              "can represent the motion).", "",
              md_table(["label", "procedural", "paraphrases", "VAE ceiling", "edge change (procedural)"],
                       [[k, f"{a['adherence_by_label'].get(k, float('nan')):.2f}",
                         f"{p['adherence_by_label'].get(k, float('nan')):.2f}", f"{c['by_label'][k]:.2f}",
                         f"{a['edge_change_by_label'].get(k, float('nan')):.4f}"] for k in LABELS]), "",
              f"Overall **{a['adherence']:.3f}** (procedural), **{p['adherence']:.3f}** (paraphrases); "
              f"edge-length change {a['edge_change']:.4f}, motion {a['motion']:.4f}.", "",
              f"VAE round trip: the procedural motions pass their checks {c['procedural']:.3f} of the time on "
              f"these meshes; after a round trip {c['vae_round_trip']:.3f} (posterior mean) and "
              f"{c['vae_round_trip_sample']:.3f} (posterior sample); of those that passed, **{c['ceiling']:.3f}** "
              f"still pass ({c['ceiling_sample']:.3f} with a posterior sample)"
              + (f"; with the sampler's shape refinement (rigidity {c['rigidity']:g}) after the round trip, "
                 f"**{c['ceiling_refined']:.3f}** (by label: "
                 + ", ".join(f"{k} {v:.2f}" for k, v in c["by_label_refined"].items()) + ")"
                 if "ceiling_refined" in c else "") + ".", ""] + readings_table(paraphrase_rows) + [
              "## 3. Shape preservation", "",
              md_table(["animations", "count", "edge-length change", "smoothness", "motion"], [
                  ["real Quaternius clips (walk/gallop/swim)", s["real_clips"], f"{s['real_edge_change']:.4f}",
                   f"{s['real_smoothness']:.4f}", f"{s['real_motion']:.4f}"],
                  ["generated (" + "; ".join(q for _, ps in style_jobs for q in ps) + ")", s["generated"],
                   f"{s['generated_edge_change']:.4f}", f"{s['generated_smoothness']:.4f}",
                   f"{s['generated_motion']:.4f}"]]), "",
              f"Rigid prompts ({', '.join(RIGID_PROMPTS)}; procedural and paraphrased, section 2): mean relative "
              f"edge-length change **{s['rigid_edge_change']:.4f}** over {s['rigid_animations']} animations ("
              + ", ".join(f"{k} {v:.4f}" for k, v in s["rigid_edge_change_by_label"].items()) + "); 0 for rigid "
              "motion.", "",
              "## 4. Speed (CPU, end to end)", "",
              md_table(["mesh", "vertices", "total s", "text", "encode", "sample", "decode"],
                       [[r["mesh"], r["vertices"], f"{r['seconds']:.2f}", r.get("text"), r.get("encode"),
                         r.get("sample"), r.get("decode")] for r in metrics["speed"]]), "",
              "## 5. The README's main command", "",
              f"`{metrics['readme']['command']}` ({metrics['readme']['seconds']:.1f} s): edge-length change "
              f"{metrics['readme']['edge_change']:.4f}, motion {metrics['readme']['motion']:.4f}.", "",
              "![the dog walks forward](dog.png)", ""]
    if gifs:
        lines += ["## Previews", ""] + [f"![{prompt}]({gif}) `{prompt}`" for prompt, gif in gifs]
    (out / "REPORT.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
