"""``meshflow train vae|flow|cache-latents``: training with Accelerate (also under accelerate launch/torchrun).

:func:`main` is also the entry point of ``scripts/train_vae.py`` and ``scripts/train_flow.py``.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import SUMMARIES
from ..errors import MeshflowError
from ..pipeline import resolve_device
from ..train import run as run_training
from ..train.data import cache_latents

NAME = "train"


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``meshflow train vae|flow`` and ``scripts/train_<kind>.py``."""
    parser.add_argument("--config", metavar="YAML", help="YAML overrides of the dataclass defaults")
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="PATH",
                        help="resume from the latest checkpoint of output_dir, or from PATH")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. data.root=clips train.max_steps=1000 output_dir=runs/x")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help=SUMMARIES[NAME])
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, what in (("vae", "the DyMeshVAE"), ("flow", "the text-to-trajectory MMDiT over a trained VAE")):
        k = kinds.add_parser(kind, help=f"train {what}", description=f"Train {what}. Configs: configs/{kind}/*.yaml")
        add_train_arguments(k)
    c = kinds.add_parser("cache-latents", help="encode clips once with a trained VAE for flow training")
    c.add_argument("--vae", required=True, metavar="DIR", help="model directory with the VAE")
    c.add_argument("--data", required=True, metavar="ROOT", help="clip folder or folder of npz animations")
    c.add_argument("-o", "--output", required=True, metavar="DIR", help="cache folder (use as data.root or latent_cache)")
    c.add_argument("--tokens", type=int, default=512, help="K latent tokens per clip (default: 512)")
    c.add_argument("--frames", type=int, default=16)
    c.add_argument("--batch-size", type=int, default=8)
    c.add_argument("--device", default="cpu", help="auto, cpu or cuda (default: cpu)")
    p.set_defaults(func=run)


def _train(kind: str, args) -> dict:
    return run_training(kind, args.config, args.overrides, resume=args.resume, progress=not args.no_progress)


def run(args) -> int:
    if args.kind == "cache-latents":
        return run_cache_latents(args)
    out = _train(args.kind, args)
    if out.get("export"):
        print(f"model directory: {out['export']}")
    return 0


def run_cache_latents(args) -> int:
    out = cache_latents(args.vae, args.data, args.output, num_tokens=args.tokens, frames=args.frames,
                        batch_size=args.batch_size, device=resolve_device(args.device))
    print(f"latent cache: {out}")
    return 0


def main(kind: str, argv: Optional[List[str]] = None) -> int:
    """Entry point of ``scripts/train_<kind>.py``: the arguments of ``meshflow train <kind>``."""
    parser = argparse.ArgumentParser(prog=f"train_{kind}.py", description=f"Train the {kind} model.")
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    try:
        _train(kind, args)
    except MeshflowError as e:
        print(f"train {kind}: error: {e}", file=sys.stderr)
        return 2
    return 0
