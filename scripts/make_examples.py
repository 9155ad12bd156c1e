"""Writes the project's example meshes to graphs/examples/ and the held-out evaluation
meshes (never used in training) to graphs/eval/ (see meshflow.data.examples).

    python scripts/make_examples.py [--out graphs]
"""
import argparse
from pathlib import Path

from meshflow.data.examples import EVAL_MESHES, EXAMPLES


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "graphs"))
    args = ap.parse_args()
    for folder, builders in (("examples", EXAMPLES), ("eval", EVAL_MESHES)):
        out = Path(args.out) / folder
        out.mkdir(parents=True, exist_ok=True)
        for name, build in builders.items():
            path = out / f"{name}.glb"
            build().export(path)
            print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
