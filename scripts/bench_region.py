"""Region control: latent inpainting vs. blending the decoded trajectories (a table; not a test).

    python scripts/bench_region.py [--model DIR] [--steps 8] [--falloff 0.1]

For each example mesh, prompt and region (a node name of graphs/examples), the same seed is
sampled without a region (the baseline) and with each method of meshflow.region.METHODS.
Columns (meshflow.region.region_metrics): ``outside`` the largest displacement of a vertex
beyond the falloff band over the extent (target <= 0.005), ``border`` and ``inside`` the mean
relative edge-length change of the faces in the band and inside the region (target: border <= 2 x
inside), ``motion`` the region's mean displacement over the extent and ``kept`` that over the
baseline's (the region still moves). Keep ``--steps`` small: a training run may share the CPUs.
"""
import argparse
import time
from pathlib import Path

from meshflow.pipeline import AnimationPipeline, resolve_model_dir
from meshflow.region import METHODS, RegionConfig, animate_region, make_region, region_metrics

ROOT = Path(__file__).resolve().parents[1]
CASES = [("quadruped", "a dog wags its tail", "tail"), ("quadruped", "a dog turns its head", "head"),
         ("fish", "a fish swims forward", "tail"), ("plant", "a plant sways in the wind", "leaf_2")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model directory (default: the bundled starter model)")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--falloff", type=float, default=RegionConfig.falloff)
    args = ap.parse_args()
    pipe = AnimationPipeline.from_pretrained(resolve_model_dir(args.model), device="cpu")
    print(f"model {pipe.model_dir}, {args.steps} steps, seed {args.seed}, falloff {args.falloff:g} x the extent")
    print(f"{'mesh':<10} {'region':<7} {'method':<14} {'outside':>8} {'border':>7} {'inside':>7} {'ratio':>6} "
          f"{'motion':>7} {'kept':>5}")
    begin = time.perf_counter()
    for name, prompt, spec in CASES:
        path = ROOT / "graphs" / "examples" / f"{name}.glb"
        base = None
        for method, anchor in [("none", False)] + [(m, a) for m in METHODS for a in (False, True)
                                                    if a or m != "inpaint"]:
            region = make_region(spec, path, falloff=args.falloff, method=method if method != "none" else None,
                                 anchor=anchor)
            anim = animate_region(pipe, path, prompt, None if method == "none" else region, steps=args.steps,
                                  seed=args.seed)
            m = region_metrics(anim.vertices, anim.faces, region)
            base = base or m
            ratio = m.border_edge_change / max(m.inside_edge_change, 1e-12)
            label = method + ("+anchor" if anchor and method != "inpaint" else "")
            print(f"{name:<10} {spec:<7} {label:<14} {m.outside_motion:>8.4f} {m.border_edge_change:>7.4f} "
                  f"{m.inside_edge_change:>7.4f} {ratio:>6.2f} {m.region_motion:>7.4f} "
                  f"{m.region_motion / max(base.region_motion, 1e-12):>5.2f}")
    print(f"({time.perf_counter() - begin:.0f} s)")


if __name__ == "__main__":
    main()
