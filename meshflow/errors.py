"""Exceptions raised by meshflow.

Every error a user can cause (a bad file, a bad argument, a missing weight file)
is a :class:`MeshflowError` whose message says what was expected and what was
found; the command line prints it on one line and exits with status 2.
"""


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
