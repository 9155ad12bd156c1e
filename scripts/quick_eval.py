"""Quick numbers for a model card (until the `meshflow eval` suite exists).

    python scripts/quick_eval.py --model DIR --mesh MESH [--mesh MESH ...] [--seeds 2] [--steps 64]

For every mesh and every procedural motion label (meshflow.data.motions.LABELS),
animates the mesh with a caption of that label (as the procedural generator phrases
it) and reports the fraction whose motion passes the label's check (prompt
adherence), the mean relative edge-length change against frame 0 (shape
preservation), the mean displacement, and the time per animation.
"""
import argparse
import time

import numpy as np

from meshflow import AnimationPipeline
from meshflow.data.motions import LABELS, make_motion
from meshflow.eval.checks import check_motion
from meshflow.io import read_mesh


def edge_change(frames: np.ndarray, faces: np.ndarray) -> float:
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    length = np.linalg.norm(frames[:, e[:, 0]] - frames[:, e[:, 1]], axis=-1)  # (T, E)
    return float(np.mean(np.abs(length[1:] - length[0]) / np.maximum(length[0], 1e-9)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--mesh", action="append", required=True)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=64)
    args = ap.parse_args()
    pipe = AnimationPipeline.from_pretrained(args.model, device="cpu")
    rows = []
    for path in args.mesh:
        mesh = read_mesh(path)
        name = mesh.path.stem.lower()
        for label in LABELS:
            for seed in range(args.seeds):
                caption = make_motion(mesh.vertices, mesh.faces, label=label, rng=seed, name=name).caption
                start = time.perf_counter()
                anim = pipe(mesh, caption, steps=args.steps, seed=seed, progress=None)
                seconds = time.perf_counter() - start
                frames = np.asarray(anim.vertices)
                ok = bool(check_motion(label, frames))
                disp = float(np.linalg.norm(frames - frames[:1], axis=-1).mean() / np.ptp(frames[0], axis=0).max())
                rows.append((path, label, caption, ok, edge_change(frames, mesh.faces), disp, seconds))
                print(f"{label:15s} {'ok ' if ok else 'no '} {caption!r}  edge {rows[-1][4]:.3f}  disp {disp:.3f}  {seconds:.1f} s")
    ok = np.mean([r[3] for r in rows])
    print(f"\nprompt adherence {ok:.2f} over {len(rows)} animations; edge-length change {np.mean([r[4] for r in rows]):.3f}; "
          f"displacement {np.mean([r[5] for r in rows]):.3f} (of the bbox size); {np.mean([r[6] for r in rows]):.1f} s each")


if __name__ == "__main__":
    main()
