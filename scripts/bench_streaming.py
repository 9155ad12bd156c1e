"""Throughput of the archive stream on CPU, per worker, and its memory over a long stream (a table; not a test).

    python scripts/bench_streaming.py [--sizes 1000 5000 20000] [--samples 200] [--long 2000]

For each size, writes a released-format archive group (pickled dicts of a
grid mesh's 16 frames: ``vertices`` (16, N, 3) float32, ``faces`` int64, ``caption``;
a tar, zstd level 3, cut into two parts inside a member) to a temporary folder, then
streams it in this process (= one data-loader worker) through what training does:
decompression + tar, restricted unpickling, welding + windowing + normalisation,
graph building (``edge_index``) and batching into PyG batches of 64. It prints
samples per CPU second (what a worker with a core of its own delivers; the number to
read on a shared machine), samples per wall second, and each stage's share of the time.

``--long``: streams that many 1k-vertex samples through the shuffle buffer (128)
and batching, and prints the resident memory after the buffer has filled and at the end.
"""
import argparse
import io
import os
import pickle
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import zstandard
from torch_geometric.data import Batch

from meshflow.data.archives import STAGES, ArchiveDataset, Windowing, iter_samples
from meshflow.data.shapes import grid
from meshflow.data.shards import find_archives


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def write_group(folder: Path, name: str, n_vertices: int, count: int, frames: int = 16) -> int:
    """A two-part archive of ``count`` distinct samples; returns its compressed size in bytes."""
    side = int(round(n_vertices ** 0.5))
    v, f = grid(side, side)
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, frames, dtype=np.float32)[:, None, None]
    whole = folder / f"{name}.whole"
    with open(whole, "wb") as fh, zstandard.ZstdCompressor(level=3).stream_writer(fh) as zw, \
            tarfile.open(fileobj=zw, mode="w|") as tar:
        for i in range(count):
            phase = rng.uniform(0, 2 * np.pi, 3).astype(np.float32)
            wave = 0.1 * np.sin(2 * np.pi * t + v[None, :, :1] * 3 + phase)
            verts = (v[None] + wave + 1e-3 * rng.standard_normal((frames, len(v), 3))).astype(np.float32)
            data = pickle.dumps({"vertices": verts, "faces": f, "caption": f"a grid waves {i}"}, protocol=4)
            info = tarfile.TarInfo(f"{name}/{i:06d}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    size = whole.stat().st_size
    with open(whole, "rb") as src:  # split-style byte cut, inside a member
        for k, n in enumerate((size // 2 + 12345, size)):
            with open(folder / f"{name}_part_{k:02d}", "wb") as dst:
                while n > 0 and (chunk := src.read(min(n, 1 << 22))):
                    dst.write(chunk)
                    n -= len(chunk)
    whole.unlink()
    return size


def bench_size(folder: Path, n: int, count: int, batch_size: int = 64) -> dict:
    name = f"bench_{n}v"
    size = write_group(folder, name, n, count)
    group = next(g for g in find_archives(str(folder / f"{name}_part_*")))
    stats, pending, batch_s, samples = {}, [], 0.0, 0
    t0, c0 = time.perf_counter(), time.process_time()
    for _, graphs in iter_samples(group, Windowing(frames=16, max_vertices=50_000), stats=stats):
        pending += graphs
        samples += len(graphs)
        if len(pending) >= batch_size:
            t = time.perf_counter()
            Batch.from_data_list(pending[:batch_size])
            batch_s += time.perf_counter() - t
            pending = pending[batch_size:]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    stats["graph"] = stats.get("graph", 0.0) + batch_s
    return {"vertices": n, "samples": samples, "wall": wall, "cpu": cpu, "mb": size / 2 ** 20, "stats": stats}


def bench_memory(folder: Path, count: int) -> list:
    write_group(folder, "long", 1000, count)
    ds = ArchiveDataset(str(folder / "long_part_*"), batch_size=64, shuffle_buffer=128,
                        windowing=Windowing(frames=16))
    marks, seen = [], 0
    for batch, _ in ds:
        seen += batch.num_graphs
        marks.append((seen, rss_mb()))
    return marks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20_000])
    ap.add_argument("--samples", type=int, default=200, help="samples per size (a quarter of it at 20k+)")
    ap.add_argument("--long", type=int, default=2000, help="samples of the memory run (0: skip it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench_size(Path(tmp), n, args.samples if n < 20_000 else max(16, args.samples // 4))
                for n in args.sizes]
        print(f"{'vertices':>8}  {'samples':>7}  {'MB in':>6}  {'per CPU s':>9}  {'per wall s':>10}  "
              + "  ".join(f"{s:>10}" for s in STAGES) + "  limit")
        for r in rows:
            busy = {s: r["stats"].get(s, 0.0) for s in STAGES}
            total = sum(busy.values()) or 1.0
            top = max(busy, key=busy.get)
            print(f"{r['vertices']:>8}  {r['samples']:>7}  {r['mb']:>6.1f}  {r['samples'] / r['cpu']:>9.1f}  "
                  f"{r['samples'] / r['wall']:>10.1f}  "
                  + "  ".join(f"{100 * busy[s] / total:>9.0f}%" for s in STAGES) + f"  {top}")
        if args.long:
            start = rss_mb()
            marks = bench_memory(Path(tmp), args.long)
            filled = next((m for n, m in marks if n >= 256), marks[0][1])
            quarters = [marks[min(len(marks) - 1, len(marks) * q // 4)] for q in (1, 2, 3, 4)]
            print(f"memory over {marks[-1][0]} streamed samples (1k vertices, buffer 128, batches of 64): "
                  f"{start:.0f} MB before, {filled:.0f} MB once the buffer is full, then "
                  + ", ".join(f"{m:.0f} MB at {n}" for n, m in quarters) + f" (peak {max(m for _, m in marks):.0f} MB)")

if __name__ == "__main__":
    main()
