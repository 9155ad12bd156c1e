"""``meshflow demo``: the web app (Gradio) to animate meshes in a browser; see :mod:`meshflow.demo`."""
from __future__ import annotations

from dataclasses import replace

from . import SUMMARIES
from ..demo import Demo, DemoConfig, load_ui
from ..pipeline import resolve_device
from ._common import add_device_argument

NAME = "demo"
_DEFAULT = DemoConfig()


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        NAME, help=SUMMARIES[NAME],
        description="Start the web demo: upload a mesh (or pick an example), type a prompt, watch the animation "
                    "play in 3D and download it as GLB or npz. Requests run one at a time; the same function is "
                    "the API endpoint /animate (gradio_client). Needs the demo extra: pip install meshflow[demo].")
    p.add_argument("--model", metavar="ID|DIR",
                   help="model directory (from `meshflow train` or `meshflow convert-original`) or Hugging Face "
                        "id owner/name[@revision], as for `meshflow animate`; default $MESHFLOW_MODEL, else the "
                        "bundled starter model")
    p.add_argument("--host", default=_DEFAULT.host,
                   help=f"address to serve on (default: {_DEFAULT.host}, this machine only; 0.0.0.0: the network)")
    p.add_argument("--port", type=int, default=_DEFAULT.port, help=f"port (default: {_DEFAULT.port})")
    p.add_argument("--share-off", action="store_true",
                   help="never open Gradio's public share link, even where Gradio opens one by default (Colab)")
    p.add_argument("--max-upload-mb", type=float, default=_DEFAULT.max_upload_mb,
                   help=f"largest mesh upload in MB (default: {_DEFAULT.max_upload_mb:g})")
    p.add_argument("--max-vertices", type=int, default=_DEFAULT.max_vertices,
                   help=f"most vertices of an uploaded mesh (default: {_DEFAULT.max_vertices})")
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    config = replace(_DEFAULT, model=args.model, host=args.host, port=args.port, device=args.device,
                     share=False if args.share_off else None, max_upload_mb=args.max_upload_mb,
                     max_vertices=args.max_vertices).checked()
    resolve_device(config.device)  # before starting: CUDA asked for where there is none is one line
    demo = Demo(config)  # its folder first: Gradio, once imported, writes there too
    try:
        ui = load_ui(demo)  # a missing Gradio is one line
        print(f"meshflow demo: serving on http://{config.host}:{config.port}/ (Ctrl-C stops it)", flush=True)
        ui.launch(demo=demo)
    finally:
        demo.close()
    return 0
