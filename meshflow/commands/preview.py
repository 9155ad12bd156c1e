"""``meshflow preview``: render an animation to a .gif, .mp4 or .png headlessly."""
from __future__ import annotations

from . import SUMMARIES
from ..errors import MeshflowError
from ..io.preview import render_preview

NAME = "preview"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help=SUMMARIES[NAME],
                              description="Render an animation offscreen (OpenGL through EGL; Mesa's software "
                                          "renderer on machines without a GPU): shaded, one fixed camera framing "
                                          "the whole motion. .png writes a contact sheet of up to 16 frames.")
    p.add_argument("animation", help="ANIM.glb, ANIM.gltf or ANIM.npz")
    p.add_argument("-o", "--output", required=True, help="preview.gif, preview.mp4 or preview.png")
    p.add_argument("--size", type=int, default=512, help="width and height in pixels (default: 512)")
    p.add_argument("--fps", type=float, help="playback rate (default: the animation's)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.size < 16 or args.size > 4096:
        raise MeshflowError(f"Expected 'size' to be in [16, 4096] (got {args.size})")
    result = render_preview(args.animation, args.output, size=args.size, fps=args.fps)
    print(f"wrote {result.path} ({result.frames} frames, {result.size}x{result.size}, {result.fps:g} fps) "
          f"in {result.seconds:.2f} s")
    return 0
