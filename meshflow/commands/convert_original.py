"""``meshflow convert-original``: original AnimateAnyMesh checkpoints -> a meshflow model directory."""
from __future__ import annotations

import torch

from . import SUMMARIES
from ..models.convert import convert_original

NAME = "convert-original"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        NAME,
        help=SUMMARIES[NAME],
        description="Reads the original release's files (pickles only through torch.load(weights_only=True)) "
        "and writes config.json + safetensors.",
    )
    p.add_argument("--vae", help="original DyMeshVAE checkpoint (dvae_*.pth)")
    p.add_argument("--rf", help="original MMDiT checkpoint (rf_epoch_*.pth); with --vae a full model, "
                                "without it a VAE-only directory (for `meshflow reconstruct`)")
    p.add_argument("--config", required=True, help="original training_config.json (vae_config, rf_config)")
    p.add_argument("--factors", help="latent rescale JSON (f0_mean, f0_std, ft_mean, ft_std); needed with --rf")
    p.add_argument("--clip", default=None, help="local CLIP ViT-L/14 weights (open_clip or Hugging Face layout); "
                   "default: the CLIP weights inside --rf if present, else none stored")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default=None,
                   help="store the weights in this dtype (default: as found)")
    p.add_argument("-o", "--output", required=True, help="model directory to write")
    p.set_defaults(func=run)


def run(args) -> int:
    out = convert_original(args.output, rf=args.rf, config=args.config, factors=args.factors, vae=args.vae,
                           clip=args.clip, dtype=getattr(torch, args.dtype) if args.dtype else None)
    print(f"wrote {out}")
    return 0
