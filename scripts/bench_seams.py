"""Seams and drift of long clips made of chained windows (a table; not a test).

    python scripts/bench_seams.py [--model DIR] [--steps 8] [--frames 64 128] [--meshes graphs/examples/*.glb]

For each mesh and prompt, one single window (the baseline: the model's own T frames) and
clips of 128 frames (the 64-frame clip is its first 64 frames: the same windows) chained
four ways: meshflow's (velocity cross-fade over the default overlap, each rest pose's stretch
restored), the same without the restoration, a position cross-fade, and no cross-fade (overlap 1:
each window carries on from the last frame's velocity-less state). Columns (meshflow.sequence.seam_metrics):
``join`` the largest acceleration at a join over the median inside the windows (target <= 2;
``peak`` is the same ratio for the largest inside a window, the model's own peaks), ``edge`` the
mean relative edge-length change against frame 0 over the clip and ``end`` that of the last
frame (target: edge <= 1.5 x the single window's). Keep ``--steps`` small: a training run may share the CPUs.
"""
import argparse
import time
from pathlib import Path

from meshflow.pipeline import AnimationPipeline, resolve_model_dir
from meshflow.sequence import animate_sequence, default_overlap, make_timeline, plan_frames, plan_windows, \
    seam_metrics

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = {"quadruped": "a dog walks forward", "fish": "a fish swims forward", "plant": "a plant sways in the wind"}
TIMELINE = ("walks forward", "jumps", "spins around")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model directory (default: the bundled starter model)")
    ap.add_argument("--meshes", nargs="+", default=[str(ROOT / "graphs" / "examples" / f"{n}.glb")
                                                     for n in ("fish", "quadruped")])
    ap.add_argument("--frames", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    pipe = AnimationPipeline.from_pretrained(resolve_model_dir(args.model), device="cpu")
    T, o = pipe.frames, default_overlap(pipe.frames)
    longest = max(args.frames)
    print(f"model {pipe.model_dir} (T={T}), overlap {o}, {args.steps} steps, seed {args.seed}")
    print(f"{'mesh':<10} {'prompt':<28} {'chaining':<10} {'frames':>6} {'join':>6} {'peak':>6} {'edge':>7} {'end':>7}")
    begin = time.perf_counter()
    for path in args.meshes:
        name = Path(path).stem
        runs = [(PROMPTS.get(name, "it moves"), make_timeline(PROMPTS.get(name, "it moves")))]
        if name == "quadruped":
            runs.append((" / ".join(TIMELINE), make_timeline(TIMELINE[0], TIMELINE[1:])))
        for prompt, timeline in runs:
            single = pipe(path, timeline[0].prompt, steps=args.steps, seed=args.seed)
            one = seam_metrics(single.vertices, single.faces, [], o)
            print(f"{name:<10} {prompt[:28]:<28} {'single':<10} {T:>6} {'-':>6} {one.inside_ratio:>6.2f} "
                  f"{one.edge_change:>7.4f} {one.end_edge_change:>7.4f}")
            for mode, overlap, fade, restore in (("meshflow", o, "velocity", None), ("no-restore", o, "velocity", 0),
                                                 ("position", o, "position", None), ("none", 1, "velocity", None)):
                total = longest if len(timeline) == 1 else None
                extra = {} if restore is None else {"restore": restore}
                clip = animate_sequence(pipe, path, timeline, frames=total, overlap=overlap, steps=args.steps,
                                        seed=args.seed, mode=fade, **extra)
                _, joins = plan_windows(plan_frames(timeline, T, overlap, total), T, overlap)
                for frames in sorted(args.frames) if total else [clip.num_frames]:
                    x = clip.vertices[:frames]
                    m = seam_metrics(x, clip.faces, [j for j in joins if j < frames - 1], overlap)
                    print(f"{name:<10} {prompt[:28]:<28} {mode:<10} {frames:>6} {m.join_ratio:>6.2f} "
                          f"{m.inside_ratio:>6.2f} {m.edge_change:>7.4f} {m.end_edge_change:>7.4f}")
    print(f"({time.perf_counter() - begin:.0f} s)")


if __name__ == "__main__":
    main()
