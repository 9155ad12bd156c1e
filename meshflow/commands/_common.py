"""What the subcommands share: JSON and table output, progress bars."""
from __future__ import annotations

import json
import sys
from typing import Callable, Iterable, Sequence, Tuple

from tqdm import tqdm

from ..progress import min_interval, step_ticker


def print_json(obj) -> None:
    """Prints ``obj`` as one indented JSON document."""
    print(json.dumps(obj, indent=2))


def print_rows(rows: Sequence[Tuple[str, object]]) -> None:
    """Prints ``(key, value)`` rows as two aligned columns."""
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def add_device_argument(parser) -> None:
    """``--device auto|cpu|cuda``: the pipeline's one device policy (:func:`meshflow.pipeline.resolve_device`)."""
    parser.add_argument("--device", default="auto",
                        help="auto, cpu or cuda (default: auto: cuda when available, else cpu)")


def progress_bar(steps: int, quiet: bool):
    """``progress`` for the pipeline: a tqdm bar over solver steps (:func:`meshflow.progress.step_ticker`).

    Returns ``(start, state)``: the pipeline calls ``start(total_calls)``; ``state["bar"]``
    is the bar once started (close it when done).
    """
    state = {}

    def start(total_calls: int):
        bar = state["bar"] = tqdm(total=steps - 1, desc="sampling", unit="step", file=sys.stderr, disable=quiet,
                                  leave=False)
        return step_ticker(steps, lambda done, total: bar.update(1))(total_calls)

    return start, state


def iter_progress(desc: str, quiet: bool) -> Callable[[Iterable], Iterable]:
    """A function wrapping an iterable in a tqdm bar on stderr (none when ``quiet``)."""
    return lambda it: tqdm(it, desc=desc, file=sys.stderr, disable=quiet, leave=False, mininterval=min_interval())
