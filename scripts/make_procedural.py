"""Animates static meshes with labelled procedural motions, for training and evaluation.

    python scripts/make_procedural.py MESH_OR_DIR... -o procedural/ [--per-label 2] [--seed 0] [--random-meshes N]

Every mesh (any format ``meshflow.io.read_mesh`` takes; an animated glTF gives its
rest pose) gets ``--per-label`` random variants of every motion label
(``meshflow.data.motions.LABELS``), written as npz animations (``vertices``
(T, N, 3), ``faces``, ``caption``) that ``meshflow data build`` turns into clips.
``--random-meshes N`` adds N random primitive assemblies
(``meshflow.data.examples.random_assembly``, written to ``OUTPUT/meshes/``) for shape diversity.
"""
import argparse
import re
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from meshflow.data.motions import LABELS, make_motion
from meshflow.errors import MeshflowError
from meshflow.io import EXTENSIONS, read_mesh
from meshflow.io import Animation, save_animation


def mesh_files(sources):
    for src in map(Path, sources):
        if src.is_dir():
            yield from sorted(p for p in src.rglob("*") if p.suffix.lower() in EXTENSIONS)
        else:
            yield src


def object_word(path: Path) -> str:
    """'ShibaInu.glb' -> 'shiba inu'."""
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", path.stem.replace("-transformed", "")).replace("_", " ").split()
    return " ".join(w.lower() for w in words if not w.isdigit()) or "object"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="*")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--per-label", type=int, default=2)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--random-meshes", type=int, default=0, metavar="N")
    args = ap.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    files = list(mesh_files(args.sources))
    if args.random_meshes:
        from meshflow.data.examples import random_assembly

        nouns = ("toy", "creature", "figure", "statue", "gadget", "critter", "totem", "lamp", "tower", "sculpture")
        (out / "meshes").mkdir(exist_ok=True)
        for i in range(args.random_meshes):
            path = out / "meshes" / f"{nouns[i % len(nouns)]}_{i:04d}.glb"
            random_assembly(args.seed * 100003 + i).export(path)
            files.append(path)
    if not files:
        ap.error("give meshes or --random-meshes N")
    written = 0
    for path in tqdm(files, desc="procedural motions"):
        try:
            mesh = read_mesh(path)
        except MeshflowError as e:
            print(f"skipped: {e}")
            continue
        if len(mesh.faces) == 0:
            continue
        name = object_word(path)
        for label in LABELS:
            for k in range(args.per_label):
                m = make_motion(mesh.vertices, mesh.faces, label=label, rng=rng, frames=args.frames, name=name)
                save_animation(out / f"{path.stem}__{label}_{k}.npz", Animation(m.frames, mesh.faces, prompt=m.caption))
                written += 1
    print(f"wrote {written} animations from {len(files)} meshes to {out}")


if __name__ == "__main__":
    main()
