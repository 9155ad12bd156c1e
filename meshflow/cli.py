"""The ``meshflow`` command line.

Every subcommand is a pair: ``_add_<name>(subparsers)`` declares its arguments
and ``_run_<name>(args)`` does the work by calling the library. Errors a user
can cause (:class:`meshflow.errors.MeshflowError`) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from . import __version__
from .errors import MeshflowError


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


# ---------------------------------------------------------------- inspect ---
def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="print a mesh file's vertex, face, edge and component counts")
    p.add_argument("path", help="mesh file (.glb .gltf .obj .ply .stl .off)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run_inspect)


def _run_inspect(args) -> int:
    from .io import inspect_mesh

    info = inspect_mesh(args.path)
    if args.json:
        _print_json(info)
        return 0
    fmt = lambda v: " ".join(f"{x:.6g}" for x in v)  # noqa: E731
    rows = [
        ("file", args.path),
        ("vertices (file)", info["vertices"]),
        ("vertices (welded)", info["welded_vertices"]),
        ("faces (triangles)", info["faces"]),
        ("edges (undirected)", info["edges"]),
        ("connected components", info["components"]),
        ("primitives", info["primitives"]),
        ("bbox min", fmt(info["bbox_min"])),
        ("bbox max", fmt(info["bbox_max"])),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


# ------------------------------------------------------------ reconstruct ---
# (DyMeshVAE issue: `meshflow reconstruct`)

# ------------------------------------------------------- convert-original ---
def _add_convert_original(sub) -> None:
    p = sub.add_parser(
        "convert-original",
        help="turn original AnimateAnyMesh checkpoints into a meshflow model directory (no pickles)",
        description="Reads the original release's files (pickles only through torch.load(weights_only=True)) "
        "and writes config.json + safetensors.",
    )
    p.add_argument("--vae", required=True, help="original DyMeshVAE checkpoint (dvae_*.pth)")
    p.add_argument("--rf", required=True, help="original MMDiT checkpoint (rf_epoch_*.pth)")
    p.add_argument("--config", required=True, help="original training_config.json (vae_config, rf_config)")
    p.add_argument("--factors", required=True, help="latent rescale JSON (f0_mean, f0_std, ft_mean, ft_std)")
    p.add_argument("--clip", default=None, help="local CLIP ViT-L/14 weights (open_clip or Hugging Face layout); "
                   "default: the CLIP weights inside --rf if present, else none stored")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default=None,
                   help="store the weights in this dtype (default: as found)")
    p.add_argument("-o", "--output", required=True, help="model directory to write")
    p.set_defaults(func=_run_convert_original)


def _run_convert_original(args) -> int:
    import torch

    from .models.convert import convert_original

    out = convert_original(args.output, rf=args.rf, config=args.config, factors=args.factors, vae=args.vae,
                           clip=args.clip, dtype=getattr(torch, args.dtype) if args.dtype else None)
    print(f"wrote {out}")
    return 0

# ------------------------------------------------------------------- data ---
# (data issue: `meshflow data sample|build`)

# ------------------------------------------------------------------ train ---
# (training issue: `meshflow train vae|flow|cache-latents`)

# ---------------------------------------------------------------- animate ---
# (animate issue: `meshflow animate`, `meshflow preview`)

# ------------------------------------------------------------------- eval ---
# (evaluation issue: `meshflow eval vae|motion`)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshflow", description="Animate any 3D mesh from a text prompt (AnimateAnyMesh on PyTorch Geometric)."
    )
    parser.add_argument("--version", action="version", version=f"meshflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, add in sorted(globals().items()):
        if name.startswith("_add_") and callable(add):
            add(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    import warnings

    # Noise from library imports that users can do nothing about.
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if argv is None and len(sys.argv) <= 1 else 2
    try:
        return int(args.func(args) or 0)
    except MeshflowError as e:
        print(f"meshflow {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"meshflow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
