"""What a run reports, while it works and when it is done: progress that suits both a terminal and a log
file, the sampler's progress counted in solver steps, and the summary rows of an animation.

The command line (``meshflow animate``) and the web demo (:mod:`meshflow.demo.handlers`) both use
:func:`step_ticker` and :func:`summary_rows`: the command line prints the rows as two columns and
drives a tqdm bar, the demo shows them as a markdown list and drives the page's progress. This
module imports nothing of meshflow: the animation, mesh and pipeline are read by their attributes.
"""
from __future__ import annotations

import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

#: the pipeline's stages in :attr:`Animation.timings <meshflow.io.animation.Animation.timings>`, in the order
#: of the summary's time row (``refine`` only with a shape refinement, ``score`` only when samples were ranked).
PIPELINE_STAGES = ("text", "encode", "sample", "decode", "refine", "score")

Row = Tuple[str, str]


def min_interval() -> float:
    """tqdm's ``mininterval``: smooth on a terminal; in a log file (no terminal) a line every 30 s,
    not one per item."""
    return 0.1 if sys.stderr.isatty() else 30.0


def step_ticker(steps: int, on_step: Callable[[int, int], None]) -> Callable[[int], Callable[[], None]]:
    """The pipeline's ``progress`` hook, counted in solver steps.

    The pipeline calls ``start(total_calls)`` once and the function it returns after every model call;
    ``on_step(done, steps - 1)`` is called once per solver step, i.e. every ``total_calls // (steps - 1)``
    calls (``done`` = 1, 2, ..., ``steps - 1``).
    """
    def start(total_calls: int) -> Callable[[], None]:
        per_step, calls = max(1, total_calls // max(1, steps - 1)), [0]

        def tick() -> None:
            calls[0] += 1
            if calls[0] % per_step == 0:
                on_step(calls[0] // per_step, steps - 1)
        return tick

    return start


def summary_rows(ranked: Sequence, mesh, source: str, pipe, model: str, sampling, output: str,
                 what: Optional[str] = None, looping: bool = False) -> List[Row]:
    """The ``(key, value)`` rows that describe one animation run, from ``input`` to ``output``.

    Args:
        ranked: the run's animations, best first (one unless several seeds were sampled).
        mesh: the input :class:`~meshflow.io.mesh.MeshFile`; ``source``: how the input is named.
        pipe: the :class:`~meshflow.pipeline.AnimationPipeline`; ``model``: its name
            (:func:`meshflow.models.remote.describe_model`).
        sampling: the run's :class:`~meshflow.pipeline.SamplingConfig`.
        output: what was written; ``what``: its kind, if worth saying; ``looping``: the clip was looped.
    """
    anim = ranked[0]
    parts = len(mesh.parts)
    rows = [
        ("input", f"{source} ({anim.num_vertices} vertices, {anim.welded_vertices} welded, "
                  f"{len(mesh.faces)} faces, {parts} primitive{'s' if parts != 1 else ''})"),
        ("prompt", repr(anim.prompt) if anim.prompt.strip() else "(empty: unconditional)"),
        ("model", f"{model} (T={pipe.frames}, text encoder {pipe.text_encoder.name})"),
        ("tokens", str(anim.tokens)),
        ("device", str(anim.device)),
        ("sampling", f"{sampling.steps} steps, guidance {sampling.guidance:g}, {sampling.solver}, seed {anim.seed}"),
    ]
    if len(ranked) > 1:
        seeds = sorted(a.seed for a in ranked)
        rows.append(("samples", f"{len(ranked)} seeds {seeds[0]}-{seeds[-1]} in one batch; best: seed {anim.seed}, "
                                f"score {anim.score:.4f} (lower is better)"))
    kind = f"; {what}" if what else ""
    rows.append(("output", f"{output} ({anim.num_frames} frames at {sampling.fps:g} fps"
                           f"{', looping' if looping else ''}{kind})"))
    return rows


def time_row(timings: Dict[str, float], before: Sequence[Tuple[str, float]], after: Sequence[Tuple[str, float]],
             total: float, note: str = "") -> Row:
    """The ``time`` row: seconds of the caller's stages ``before`` the pipeline's (:data:`PIPELINE_STAGES`, those
    in ``timings``) and ``after`` them, then ``(total ...; note)``."""
    stages = [*before, *((k, timings[k]) for k in PIPELINE_STAGES if k in timings), *after]
    spent = ", ".join(f"{k} {v:.2f} s" for k, v in stages)
    return "time", f"{spent} (total {total:.2f} s{'; ' + note if note else ''})"


__all__ = ["PIPELINE_STAGES", "min_interval", "step_ticker", "summary_rows", "time_row"]
