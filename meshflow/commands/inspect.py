"""``meshflow inspect``: a mesh file's vertex, face, edge and component counts."""
from __future__ import annotations

from . import SUMMARIES
from ..data.graph import inspect_mesh
from ._common import print_json, print_rows

NAME = "inspect"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help=SUMMARIES[NAME])
    p.add_argument("path", help="mesh file (.glb .gltf .obj .ply .stl .off)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    info = inspect_mesh(args.path)
    if args.json:
        print_json(info)
        return 0
    fmt = lambda v: " ".join(f"{x:.6g}" for x in v)  # noqa: E731
    print_rows([
        ("file", args.path),
        ("vertices (file)", info["vertices"]),
        ("vertices (welded)", info["welded_vertices"]),
        ("faces (triangles)", info["faces"]),
        ("edges (undirected)", info["edges"]),
        ("connected components", info["components"]),
        ("primitives", info["primitives"]),
        ("bbox min", fmt(info["bbox_min"])),
        ("bbox max", fmt(info["bbox_max"])),
    ])
    return 0
