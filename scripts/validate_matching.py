"""Measures prompt matching (``--match-prompt``) on validation meshes and validation paraphrases; prints a table.

    python scripts/validate_matching.py [--model DIR] [--seeds 1] [--mesh MESH ...] [--json out.json]

Every validation mesh is animated with every one of
:data:`meshflow.eval.motion.VALIDATION_PARAPHRASES` (worded unlike the training captions and unlike the
evaluation's :data:`~meshflow.eval.motion.PARAPHRASES`), once with the prompt as written and once read as
its closest trained phrase, the model's sampler otherwise (best of N, rigidity: ``meshflow animate``'s
defaults). Adherence is checked against the paraphrase's own label, so a wrong reading counts as a miss.
The table gives adherence per label for both, then each paraphrase's reading.

The default meshes are the rest poses of the Quaternius files the trainers' split holds out, as
``scripts/sweep_sampling.py`` uses: not the evaluation suite's meshes (``scripts/eval_report.py``).
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

from meshflow.data.motions import LABELS  # noqa: E402
from meshflow.eval.motion import VALIDATION_PARAPHRASES, generate_and_evaluate, mesh_word, paraphrase_cases  # noqa: E402
from meshflow.io import read_mesh  # noqa: E402
from meshflow.pipeline import AnimationPipeline  # noqa: E402
from meshflow.train.config import DataConfig  # noqa: E402
from meshflow.train.data import held_out_files  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory with a vocabulary.json (default: the bundled model)")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--mesh", action="append", default=None, help="validation meshes (default: held-out Quaternius)")
    ap.add_argument("--val-fraction", type=float, default=DataConfig.val_fraction,
                    help=f"the trainers' data.val_fraction (default: {DataConfig.val_fraction})")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    pipe = AnimationPipeline.from_pretrained(args.model, device="cpu")
    meshes = [read_mesh(p) for p in (args.mesh or held_out_files(SHARED / "quaternius", args.val_fraction))]
    print("validation meshes:", ", ".join(f"{Path(m.path).stem} ({len(m.vertices):,} v)" for m in meshes))
    seeds = tuple(range(args.seeds))
    results = {}
    for matching in (False, True):
        start = time.perf_counter()
        rows = []
        for mesh in meshes:
            cases = paraphrase_cases(mesh_word(mesh), templates=VALIDATION_PARAPHRASES)
            rows += generate_and_evaluate(pipe, [mesh], cases, seeds=seeds, match_prompt=matching).rows
            print(f"  {mesh_word(mesh)}: {sum(r['ok'] for r in rows[-len(cases) * len(seeds):])}/"
                  f"{len(cases) * len(seeds)} adhere", flush=True)
        results["on" if matching else "off"] = rows
        print(f"match_prompt {matching}: adherence {np.mean([r['ok'] for r in rows]):.3f} over {len(rows)} "
              f"animations, {time.perf_counter() - start:.0f} s", flush=True)

    off, on = results["off"], results["on"]
    print("\n| label | as written | matched |\n| --- | ---: | ---: |")
    for label in list(LABELS) + ["all"]:
        a, b = ([r["ok"] for r in rows if label in ("all", r["label"])] for rows in (off, on))
        print(f"| {label} | {sum(a)}/{len(a)} | {sum(b)}/{len(b)} |")
    print("\n| paraphrase (first mesh's wording) | read as | matched ok (of meshes x seeds) | as written ok |")
    print("| --- | --- | ---: | ---: |")
    n = len(VALIDATION_PARAPHRASES)  # rows run mesh by mesh, seed by seed, through the paraphrases in order
    for i in range(n):
        pairs = [(on[j], off[j]) for j in range(i, len(on), n)]
        first = pairs[0][0]
        print(f"| {first['prompt']} | {first['read_as']} | {sum(r['ok'] for r, _ in pairs)}/{len(pairs)} | "
              f"{sum(s['ok'] for _, s in pairs)}/{len(pairs)} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
