"""Exceptions raised by meshflow.

Every error a user can cause (a bad file, a bad argument, a missing weight file)
is a :class:`MeshflowError` whose message says what was expected and what was
found; the command line prints it on one line and exits with status 2.
:func:`check_integer` and :func:`check_finite` phrase the checks of numbers.
"""
import math
import numbers


class MeshflowError(Exception):
    """Base class for every error meshflow raises on bad input."""


class MeshFileError(MeshflowError, ValueError):
    """A mesh or animation file that cannot be read: the message names the file."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CheckpointError(MeshflowError, ValueError):
    """A model directory or checkpoint file that cannot be loaded."""


def _shown(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def check_integer(name: str, value, minimum: int) -> int:
    """``value`` as an ``int``; a :class:`MeshflowError` ``Expected 'name' to be an integer of at least
    minimum (got value)`` unless it is an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
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
