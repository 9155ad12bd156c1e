"""Progress bars that suit both a terminal and a log file."""
from __future__ import annotations

import sys


def min_interval() -> float:
    """tqdm's ``mininterval``: smooth on a terminal; in a log file (no terminal) a line every 30 s,
    not one per item."""
    return 0.1 if sys.stderr.isatty() else 30.0
