"""Exceptions raised by meshflow.

Every error a user can cause (a bad file, a bad argument, a missing weight file)
is a :class:`MeshflowError` whose message says what was expected and what was
found; the command line prints it on one line and exits with status 2.
:func:`check_integer` and :func:`check_finite` phrase the checks of numbers.
"""
import math
import numbers
from pathlib import Path
from typing import Optional


class MeshflowError(Exception):
    """Base class for every error meshflow raises on bad input."""


class BoneCountError(MeshflowError):
    """A rig's bone count that is not an integer in [1, the vertex count the fit sees]
    (:func:`meshflow.rig.check_bones`): the commands name ``--bones`` in it."""


class MeshFileError(MeshflowError, ValueError):
    """A mesh or animation file that cannot be read: the message names the file."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CheckpointError(MeshflowError, ValueError):
    """A model directory or checkpoint file that cannot be loaded."""


class OutputError(MeshflowError, OSError):
    """An output that could not be written (disk full, quota, a file system gone read-only): the message
    names the output and the system's reason; an :class:`OSError` still, for callers that catch those."""

    def __init__(self, path, error: OSError):
        self.path = str(path)
        reason = error.strerror or str(error) or type(error).__name__
        other = error.filename if error.filename and Path(str(error.filename)).name[:1] != "." else None
        if other and str(other) != self.path:
            reason += f": {other}"  # a file other than the output or its temporary file
        super().__init__(f"{self.path}: cannot be written ({reason})")


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM received (raised by the command line's signal handler, see
    :mod:`meshflow.commands.main`): a :class:`KeyboardInterrupt`, so that every ``finally``
    and every handler of Ctrl-C (the atomic writers, training's last checkpoint) runs for
    both; ``exit_code`` is the shell's ``128 + signal number`` (130, 143)."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        super().__init__(f"signal {self.signum}")


def _shown(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def check_integer(name: str, value, minimum: int, maximum: Optional[int] = None) -> int:
    """``value`` as an ``int``; a :class:`MeshflowError` ``Expected 'name' to be an integer of at least
    minimum (got value)`` unless it is an integer (not a bool) of at least ``minimum``; with a ``maximum``,
    ``Expected 'name' to be an integer from minimum to maximum (got value)`` unless it is also at most that."""
    integer = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    if maximum is not None and not (integer and minimum <= value <= maximum):
        raise MeshflowError(f"Expected '{name}' to be an integer from {minimum} to {maximum} (got {_shown(value)})")
    if not integer or value < minimum:
        raise MeshflowError(f"Expected '{name}' to be an integer of at least {minimum} (got {_shown(value)})")
    return int(value)


def check_finite(name: str, value, positive: bool = False) -> float:
    """``value`` as a ``float``; a :class:`MeshflowError` ``Expected 'name' to be a [positive] finite number
    (got value)`` unless it is a real number, finite (and above 0 when ``positive``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        what = "a positive finite number" if positive else "a finite number"
        raise MeshflowError(f"Expected '{name}' to be {what} (got {_shown(value)})")
    return float(value)
