"""Where a DyMeshVAE's reconstruction error comes from: split, motion label, source kind, K.

    python scripts/diagnose_vae.py --model DIR --data CLIPS [--max-clips 48] [--tokens 128 512] \\
        [--val-fraction F] [--seed 0] [--json PATH]

CLIPS is a clip folder from ``meshflow data build``. Its clips are split exactly as the
trainers split them (:func:`meshflow.train.data.open_dataset` and
:func:`~meshflow.train.data.split_by_source`, with the ``data.val_fraction`` and
``data.max_vertices`` of the model's own training config when it records one): whole
source files are held out. Up to ``--max-clips`` clips per split are evaluated, drawn
round-robin over the motion labels (so that every label is represented; the overall mean
is over that balanced draw, not over the data's own mix).

Each clip's group is read from its source name: procedural clips
(``scripts/make_procedural.py``) carry their label, ``Fox__spin_0.npz@0`` -> ``spin``; clips of
glTF files (the Quaternius packs) are ``real``; anything else is ``other``. The kind is
``procedural``, ``real`` or ``other`` accordingly.

Every error (the mean per-vertex Euclidean error over frames of
:func:`meshflow.eval.vae.evaluate_vae`, posterior mean) is printed beside the no-motion
baseline on the same clips (:func:`meshflow.eval.vae.still_error`, the rest pose in every
frame), and their ratio: 1 means the VAE reproduces no motion at all, 0 a perfect one.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from torch.utils.data import Subset

from meshflow.data.motions import LABELS
from meshflow.errors import MeshflowError
from meshflow.eval.vae import evaluate_vae
from meshflow.models.dymesh_vae import load_vae
from meshflow.models.hub import load_model_config
from meshflow.pipeline import resolve_model_dir
from meshflow.train.config import DataConfig
from meshflow.train.data import open_dataset, source_file, split_by_source

#: clips evaluated per split (a few minutes on two CPU cores at K = 128 and 512)
MAX_CLIPS = 48
#: latent token counts compared
TOKENS = (128, 512)
REAL, PROCEDURAL, OTHER = "real", "procedural", "other"
_LABEL = re.compile(r"__(" + "|".join(sorted(LABELS, key=len, reverse=True)) + r")_\d+\.[A-Za-z0-9]+$")


def clip_group(source: str) -> str:
    """The motion label of a clip's source name, ``real`` for a glTF clip, else ``other``:
    ``"Fox__spin_0.npz@0"`` -> ``"spin"``, ``"Fox.glb#Armature|Walk@16"`` -> ``"real"``."""
    name = source_file(source)
    match = _LABEL.search(name)
    if match:
        return match.group(1)
    return REAL if name.lower().endswith((".glb", ".gltf")) else OTHER


def clip_kind(group: str) -> str:
    return PROCEDURAL if group in LABELS else group


def balanced(indices: Sequence[int], groups: Sequence[str], limit: int, seed: int) -> List[int]:
    """Up to ``limit`` of ``indices``, round-robin over their groups (each group shuffled with ``seed``)."""
    rng = np.random.default_rng(seed)
    by_group: Dict[str, List[int]] = defaultdict(list)
    for i in indices:
        by_group[groups[i]].append(i)
    queues = [list(rng.permutation(by_group[g])) for g in sorted(by_group)]
    picked: List[int] = []
    while len(picked) < limit and any(queues):
        for q in queues:
            if q and len(picked) < limit:
                picked.append(int(q.pop(0)))
    return sorted(picked)


def training_data_config(model_dir: Path) -> dict:
    """The ``data`` section of the training config recorded in the model directory ({} when none)."""
    return (load_model_config(model_dir).get("training") or {}).get("config", {}).get("data", {}) or {}


def _stats(rows: List[Dict]) -> Dict:
    error = float(np.mean([r["error"] for r in rows]))
    still = float(np.mean([r["error_still"] for r in rows]))
    return {"clips": len(rows), "error": error, "still": still, "ratio": error / still if still > 0 else float("nan")}


def diagnose(model_dir, data, tokens: Sequence[int] = TOKENS, max_clips: int = MAX_CLIPS,
             val_fraction: Optional[float] = None, seed: int = 0, device: str = "cpu",
             progress=None) -> Dict:
    r"""The error tables as a dict: ``{"model", "data", "val_fraction", "splits": {"train", "heldout"}
    (clips and files in the split, clips evaluated), "tables": {K: {"split" | "label" | "kind":
    {split: {group: {"clips", "error", "still", "ratio"}}}}}, "clips": rows}`` (the group of
    the "split" table is ``"all"``).

    Raises:
        MeshflowError: naming the folder when it is not a clip folder, or a split is empty.
    """
    model_dir = Path(model_dir)
    recorded = training_data_config(model_dir)
    vae = load_vae(model_dir, device=device)
    if val_fraction is None:
        val_fraction = float(recorded.get("val_fraction", DataConfig.val_fraction))
    if not (Path(data) / "manifest.json").is_file():
        raise MeshflowError(f"{data}: not a clip folder (no manifest.json; build one with `meshflow data build`)")
    cfg = DataConfig(root=str(data), frames=vae.T, augment=False, val_fraction=val_fraction,
                     max_vertices=int(recorded.get("max_vertices", DataConfig.max_vertices)))
    ds, sources = open_dataset(cfg, augment=False)
    train, held = split_by_source(sources, val_fraction, max_val=len(sources))
    if not train or not held:
        raise MeshflowError(f"{data}: the split by source leaves {len(train)} training and {len(held)} held-out "
                            f"clips (val_fraction {val_fraction}); both are needed")
    groups = [clip_group(s) for s in sources]
    splits = {"train": train, "heldout": held}
    out: Dict = {"model": str(model_dir), "data": str(data), "val_fraction": val_fraction, "splits": {},
                 "tables": {}, "clips": []}
    for split, indices in splits.items():
        picked = balanced(indices, groups, max_clips, seed)
        out["splits"][split] = {"clips": len(indices), "files": len({source_file(sources[i]) for i in indices}),
                                "evaluated": len(picked)}
        for K in tokens:
            result = evaluate_vae(vae, Subset(ds, picked), tokens=K, device=device, progress=progress)
            for i, row in zip(picked, result.rows):
                out["clips"].append({**row, "split": split, "group": groups[i], "kind": clip_kind(groups[i]),
                                     "requested_tokens": K})
    for K in tokens:
        rows = [r for r in out["clips"] if r["requested_tokens"] == K]
        table: Dict = {}
        for by, group_of in (("split", lambda r: "all"), ("label", lambda r: r["group"]),
                             ("kind", lambda r: r["kind"])):
            table[by] = {split: {g: _stats([r for r in rows if r["split"] == split and group_of(r) == g])
                                 for g in sorted({group_of(r) for r in rows if r["split"] == split})}
                         for split in splits}
        out["tables"][str(K)] = table
    return out


def format_tables(result: Dict) -> str:
    """The tables as aligned text: per K, error and no-motion baseline by split, label and kind."""
    sp = result["splits"]
    lines = [f"model {result['model']}, clips {result['data']} (val_fraction {result['val_fraction']})",
             f"train: {sp['train']['clips']} clips of {sp['train']['files']} files, {sp['train']['evaluated']} "
             f"evaluated; held out: {sp['heldout']['clips']} clips of {sp['heldout']['files']} files, "
             f"{sp['heldout']['evaluated']} evaluated",
             "error: mean per-vertex error (posterior mean); still: the no-motion baseline on the same clips; "
             "ratio = error / still"]
    for K, table in result["tables"].items():
        for by in ("split", "kind", "label"):
            lines += ["", f"K = {K}, by {by}",
                      f"{by:<16} {'train':>6} {'error':>8} {'still':>8} {'ratio':>6}   "
                      f"{'held out':>8} {'error':>8} {'still':>8} {'ratio':>6}"]
            train, held = table[by]["train"], table[by]["heldout"]
            for g in sorted(set(train) | set(held), key=lambda g: (g not in LABELS, g)):
                cells = []
                for part in (train, held):
                    s = part.get(g)
                    cells.append(f"{s['clips']:>6} {s['error']:8.4f} {s['still']:8.4f} {s['ratio']:6.2f}" if s
                                 else f"{'-':>6} {'-':>8} {'-':>8} {'-':>6}")
                lines.append(f"{g:<16} {cells[0]}   {cells[1]}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory with a 'vae' component "
                                                  "(default: $MESHFLOW_MODEL, else the bundled model)")
    ap.add_argument("--data", required=True, help="a clip folder from `meshflow data build`")
    ap.add_argument("--max-clips", type=int, default=MAX_CLIPS, help=f"clips per split (default: {MAX_CLIPS})")
    ap.add_argument("--tokens", type=int, nargs="+", default=list(TOKENS), metavar="K",
                    help=f"latent token counts (default: {' '.join(map(str, TOKENS))})")
    ap.add_argument("--val-fraction", type=float, default=None,
                    help="held-out share (default: the model's training config, else "
                         f"{DataConfig.val_fraction})")
    ap.add_argument("--seed", type=int, default=0, help="seed of the clip draw (default: 0)")
    ap.add_argument("--json", metavar="PATH", help="also write everything (tables and clips) as JSON")
    args = ap.parse_args(argv)
    try:
        if args.max_clips < 1:
            raise MeshflowError(f"--max-clips: expected at least 1 (got {args.max_clips})")
        if any(k < 1 for k in args.tokens):
            raise MeshflowError(f"--tokens: expected counts of at least 1 (got {' '.join(map(str, args.tokens))})")
        if not Path(args.data).exists():
            raise MeshflowError(f"{args.data}: no such folder")
        result = diagnose(resolve_model_dir(args.model), args.data, tokens=args.tokens, max_clips=args.max_clips,
                          val_fraction=args.val_fraction, seed=args.seed)
    except MeshflowError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_tables(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
