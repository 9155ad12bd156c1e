"""The ``meshflow`` command line: the list of subcommands and the dispatcher.

Every subcommand is a module of :mod:`meshflow.commands` (listed in its ``COMMAND_MODULES``)
with ``add_parser(subparsers)``, which declares its arguments, and ``run(args)``, which does
the work by calling the library; only the module of the subcommand that runs is imported.
Errors a user can cause (:class:`meshflow.errors.MeshflowError`) print one line and exit 2.

One signal policy for every subcommand (:class:`SignalPolicy`), from the first line of
:func:`main`, before the subcommand imports torch: SIGINT and SIGTERM print one line
(``meshflow CMD: interrupted``) and exit 130 (SIGINT) or 143 (SIGTERM), with no traceback
and no temporary file left (they raise :class:`meshflow.errors.Interrupted` once the
imports are done, so the atomic writers clean up).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from contextlib import contextmanager
from importlib import import_module
from types import ModuleType
from typing import Iterator, List, Optional

from ..errors import Interrupted, MeshflowError
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


SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalPolicy:
    """SIGINT and SIGTERM while a command runs (see the module docstring).

    While ``importing`` (until the subcommand's module, and with it torch, is loaded) nothing
    has been written yet, and libraries swallow exceptions raised inside their imports
    (trimesh's import wrappers catch everything), so a signal prints the line and ends the
    process at once. Afterwards it raises :class:`Interrupted`, which runs every ``finally``
    (the atomic writers remove their temporary files); ``received`` keeps the signals, so a
    swallowed exception cannot hide one.
    """

    def __init__(self):
        self.received: List[int] = []
        self.importing = True
        self.command = "meshflow"
        self.pid = os.getpid()

    def handle(self, signum, frame):
        if os.getpid() != self.pid:  # a forked worker (a multiprocessing pool) ends the default way, silently
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.received.append(signum)
        if self.importing:
            self.stop(128 + signum)
            os._exit(128 + signum)
        raise Interrupted(signum)

    def stop(self, code: int) -> int:
        """Prints the one line and returns ``code``; later signals are ignored (the cleanup has run)."""
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                signal.signal(s, signal.SIG_IGN)
        print(f"{self.command}: interrupted", file=sys.stderr, flush=True)
        return code

    @contextmanager
    def installed(self, restore: bool = True) -> Iterator["SignalPolicy"]:
        """The handler inside the block (outside the main thread, where Python takes none, nothing
        changes); the previous handlers come back after it when ``restore``."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self.handle) for s in SIGNALS}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, (signal.SIG_DFL if handler is None else handler) if restore else signal.SIG_IGN)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line ``argv`` (default: ``sys.argv[1:]``) and returns its exit status.

    Called without ``argv`` it is the program itself: SIGINT and SIGTERM stay ignored after it
    returns, while the interpreter shuts down; called with ``argv`` (tests, scripts) it puts the
    previous handlers back.
    """
    policy = SignalPolicy()
    with policy.installed(restore=argv is not None):
        received = policy.received
        try:
            invoked = _invoked(argv)
            if invoked:
                policy.command = f"meshflow {invoked}"
            parser = build_parser(load=[invoked] if invoked else [])
            policy.importing = False
            args = parser.parse_args(argv)
            if not getattr(args, "func", None):
                parser.print_help()
                return 0 if argv is None and len(sys.argv) <= 1 else 2
            policy.command = f"meshflow {args.command}"
            code = int(args.func(args) or 0)
            return policy.stop(128 + received[0]) if received else code
        except KeyboardInterrupt as e:
            return policy.stop(e.exit_code if isinstance(e, Interrupted) else 130)
        except MeshflowError as e:
            if received:
                return policy.stop(128 + received[0])
            print(f"{policy.command}: error: {e}", file=sys.stderr)
            return 2
        except Exception:
            if received:  # the Interrupted was swallowed by a library and this error came of it
                return policy.stop(128 + received[0])
            raise


if __name__ == "__main__":
    sys.exit(main())
