"""The ``meshflow`` command line: the list of subcommands and the dispatcher.

Every subcommand is a module of :mod:`meshflow.commands` (listed in its ``COMMAND_MODULES``)
with ``add_parser(subparsers)``, which declares its arguments, and ``run(args)``, which does
the work by calling the library; only the module of the subcommand that runs is imported.
Errors a user can cause (:class:`meshflow.errors.MeshflowError`) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import sys
from importlib import import_module
from types import ModuleType
from typing import List, Optional

from ..errors import MeshflowError
from ..version import __version__
from . import COMMAND_MODULES, SUMMARIES


def load_command(name: str) -> ModuleType:
    """The module of subcommand ``name`` (imported on first use: it imports the library)."""
    return import_module(f"{__package__}.{COMMAND_MODULES[name]}")


def _invoked(argv: Optional[List[str]]) -> Optional[str]:
    """The subcommand named on the command line, if any (the first argument that is not an option)."""
    args = sys.argv[1:] if argv is None else argv
    first = next((a for a in args if not a.startswith("-")), None)
    return first if first in COMMAND_MODULES else None


def build_parser(load: Optional[List[str]] = None) -> argparse.ArgumentParser:
    """The whole parser. Subcommands in ``load`` (default: all) get their full arguments; the others
    only their name and summary, which is all ``meshflow --help`` shows."""
    parser = argparse.ArgumentParser(
        prog="meshflow", description="Animate any 3D mesh from a text prompt (AnimateAnyMesh on PyTorch Geometric)."
    )
    parser.add_argument("--version", action="version", version=f"meshflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if load is None or name in load:
            load_command(name).add_parser(subparsers)
        else:
            subparsers.add_parser(name, help=SUMMARIES[name])
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    invoked = _invoked(argv)
    parser = build_parser(load=[invoked] if invoked else [])
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
