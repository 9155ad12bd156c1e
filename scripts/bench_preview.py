"""Headless preview speed (a table; not a test).

    python scripts/bench_preview.py [--subdivisions 5] [--frames 16]

Renders an icosphere animation (20,480 faces at 5 subdivisions) to GIF and MP4
at 512 px with ``meshflow.io.preview.render_preview`` and prints the times.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from meshflow.data.shapes import icosphere
from meshflow.io import Animation
from meshflow.io.preview import render_preview


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subdivisions", type=int, default=5)
    ap.add_argument("--frames", type=int, default=16)
    args = ap.parse_args()
    v, f = icosphere(args.subdivisions)
    wobble = np.sin(np.linspace(0, 2 * np.pi, args.frames))[:, None, None].astype(np.float32)
    anim = Animation(vertices=v[None] * (1 + 0.2 * wobble * v[None, :, 1:2]), faces=f, fps=24)
    print("| faces | frames | output | time (s) |")
    print("|---:|---:|---|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for ext in (".gif", ".mp4"):
            start = time.perf_counter()
            render_preview(anim, Path(tmp) / f"ball{ext}")
            print(f"| {len(f):,} | {args.frames} | {ext} | {time.perf_counter() - start:.2f} |")


if __name__ == "__main__":
    main()
