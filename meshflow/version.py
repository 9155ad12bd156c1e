"""The version of meshflow (one place: the package and ``meshflow --version`` read it)."""

__version__ = "0.1.0"
