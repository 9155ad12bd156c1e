"""Mesh-graph construction time for large meshes (a table; not a test).

    python scripts/bench_graph.py [--sizes 100000 1000000] [--format ply]

For each size, writes a grid mesh with N vertices (two triangles per cell) to a
temporary file, then times what ``meshflow.load_mesh`` does: reading (trimesh),
then welding, normalisation and building ``edge_index`` (also timed alone).
"""
import argparse
import tempfile
import time
from pathlib import Path

import trimesh

from meshflow.data.graph import edge_index_from_faces, file_graph
from meshflow.data.shapes import grid
from meshflow.io import read_mesh


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--format", default="ply", choices=["ply", "obj", "glb", "off", "stl"])
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            side = int(round(n ** 0.5))
            v, f = grid(side, side)
            path = Path(tmp) / f"grid_{n}.{args.format}"
            trimesh.Trimesh(v, f, process=False).export(path)
            t0 = time.perf_counter()
            mesh = read_mesh(path)
            t1 = time.perf_counter()
            data = file_graph(mesh)
            t2 = time.perf_counter()
            edge_index_from_faces(data.face, data.num_nodes)
            t3 = time.perf_counter()
            rows.append((len(mesh.vertices), data.num_nodes, data.face.size(1), data.edge_index.size(1) // 2,
                         t1 - t0, t2 - t1, t3 - t2))
    print("| file vertices | welded | faces | edges | read (s) | weld + graph (s) | edge_index alone (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]:,} | {r[1]:,} | {r[2]:,} | {r[3]:,} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.2f} |")


if __name__ == "__main__":
    main()
