"""The ``meshflow`` command line: the list of subcommands and the dispatcher.

Every subcommand is a module of :mod:`meshflow.commands` with ``add_parser(subparsers)``,
which declares its arguments, and ``run(args)``, which does the work by calling the
library. Errors a user can cause (:class:`meshflow.errors.MeshflowError`) print one
line and exit 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from ..errors import MeshflowError
from ..version import __version__
from . import animate, convert_original, data, eval, inspect, preview, reconstruct, train

COMMANDS = (animate, convert_original, data, eval, inspect, preview, reconstruct, train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshflow", description="Animate any 3D mesh from a text prompt (AnimateAnyMesh on PyTorch Geometric)."
    )
    parser.add_argument("--version", action="version", version=f"meshflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
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
