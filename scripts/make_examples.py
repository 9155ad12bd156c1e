"""Writes the project's example meshes to graphs/examples/ (see meshflow.data.examples).

    python scripts/make_examples.py [--out graphs/examples]
"""
import argparse
from pathlib import Path

from meshflow.data.examples import EXAMPLES


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "graphs" / "examples"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, build in EXAMPLES.items():
        path = out / f"{name}.glb"
        build().export(path)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
