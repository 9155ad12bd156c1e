"""``meshflow reconstruct``: DyMeshVAE round trip of an animation (posterior mean)."""
from __future__ import annotations

import time

import numpy as np

from . import SUMMARIES
from ..errors import MeshflowError, check_integer
from ..io.animation import Animation, load_animation, save_animation
from ..eval.vae import reconstruct
from ..models.dymesh_vae import load_vae
from ..pipeline import resolve_device
from ._common import add_device_argument

NAME = "reconstruct"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help=SUMMARIES[NAME])
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="meshflow model directory with a 'vae' component")
    p.add_argument("--input", required=True, metavar="ANIM", help="animation: .npz with vertices (T, N, 3) and faces (F, 3), or DyMesh .bin")
    p.add_argument("--output", required=True, metavar="OUT.npz", help="written with vertices (T, N, 3) in the input's units and faces")
    p.add_argument("--tokens", type=int, default=None, metavar="K", help="tokens per mesh (default: max(num_traj, N // 8), capped by max_tokens)")
    p.add_argument("--no-weld", action="store_true", help="keep vertices at identical positions apart")
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.tokens is not None:
        check_integer("tokens", args.tokens, 1)
    device = resolve_device(args.device)
    model = load_vae(args.checkpoint, device=device)
    anim = load_animation(args.input)
    T, N = anim.vertices.shape[:2]
    if T != model.T:
        raise MeshflowError(f"{args.input}: expected {model.T} frames for this model (got {T})")
    start = time.perf_counter()
    try:
        recon, error, K = reconstruct(model, anim.vertices, anim.faces, args.tokens, weld=not args.no_weld)
    except ValueError as e:  # e.g. face indices out of range
        raise MeshflowError(f"{args.input}: {e}") from None
    seconds = time.perf_counter() - start
    save_animation(args.output, Animation(recon.astype(np.float32), anim.faces))
    print(f"mean per-vertex error: {error:.6g} (normalised units; {N} vertices, {T} frames, {K} tokens, "
          f"{seconds:.1f} s)")
    print(f"wrote {args.output}")
    return 0
