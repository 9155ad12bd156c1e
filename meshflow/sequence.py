r"""Animations of any length and prompt timelines: windows of the model's T frames, chained.

The model makes :math:`T` frames at a time. A longer clip, or a timeline of prompts
(``--prompt A --then B --then C``, or a file of ``prompt, frames`` rows read by
:func:`read_timeline`), is made of windows, each sampled from the state the clip is in:
the frame where the window starts becomes its rest pose (re-encoded by the VAE). Two
neighbouring windows share :math:`o` frames (the overlap), over which the velocity, not
only the position, fades from the old window to the new one (:func:`crossfade`):

.. math::
    v_k = (1 - w_k)\,(a_{k+1} - a_k) + w_k\,(b_{k+1} - b_k),\quad
    w_k = \operatorname{smoothstep}\Bigl(\frac{k + 1}{o}\Bigr),\ k < o - 1;\qquad
    v_k = b_{k+1} - b_k \ \text{after},

with :math:`a` the old window's frames from the start of the overlap and :math:`b` the
new window's; the clip continues as :math:`x_{k+1} = x_k + v_k` from :math:`x_0 = a_0`,
so positions never jump and velocities change smoothly. Before a window is sampled, the
stretch its rest pose has gathered is taken out (:func:`restore_edges`, edge lengths pulled back
to the input's; bending stays) and that correction is eased in over the overlap, so the windows'
small changes of shape do not add up over a long clip. :func:`animate_sequence` does it for a
whole timeline; :func:`seam_metrics` measures the joins and the drift (``scripts/bench_seams.py``).
"""
from __future__ import annotations

import csv
import io
import json
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .data.graph import file_graph, first_file_vertices
from .errors import MeshflowError, check_integer
from .flow import model_calls
from .io.animation import Animation
from .io.geometry import edge_length_change, smoothstep
from .pipeline import AnimationPipeline, as_mesh_file
from .region import Region, animate_region


@dataclass(frozen=True)
class SequenceConfig:
    """The defaults of chained windows, the one place each is set."""

    overlap: Optional[int] = None  # frames two windows share: None = T // 2 (8 for T = 16; 4 still left seams 2-3x)
    restore: int = 120  # edge-length sweeps per rest pose: with none the shape drifted 2-5x in 128 frames


def default_overlap(T: int) -> int:
    """The overlap for windows of ``T`` frames: ``max(2, T // 2)``, at most ``T - 1``."""
    return max(1, min(max(2, T // 2), T - 1))


def restore_edges(pos: np.ndarray, edges: np.ndarray, lengths: np.ndarray, sweeps: int = SequenceConfig.restore
                  ) -> np.ndarray:
    r"""Moves vertices towards the rest lengths of their edges (Jacobi sweeps of edge-length projection).

    .. math::
        x_i \leftarrow x_i + \frac{1}{\deg i} \sum_{(i,j)} \frac{\ell_{ij} - \ell^0_{ij}}{2\,\ell_{ij}}\,(x_j - x_i)

    Stretch goes, bending stays (it keeps edge lengths). Each window's rest pose is restored so that
    the windows' small changes of shape do not add up over a long clip.

    Shapes:
        - **input:** pos (N, 3), edges (E, 2), lengths (E,)
        - **output:** (N, 3)
    """
    x = np.asarray(pos, dtype=np.float64).copy()
    if len(edges) == 0 or sweeps <= 0:
        return x
    i, j = edges[:, 0], edges[:, 1]
    degree = np.maximum(np.bincount(i, minlength=len(x)) + np.bincount(j, minlength=len(x)), 1)[:, None]
    for _ in range(int(sweeps)):
        d = x[j] - x[i]  # (E, 3)
        length = np.linalg.norm(d, axis=1)
        c = ((length - lengths) / np.maximum(length, 1e-12) / 2)[:, None] * d
        delta = np.stack([np.bincount(i, c[:, d], len(x)) - np.bincount(j, c[:, d], len(x)) for d in range(3)], 1)
        x += delta / degree
    return x


@dataclass(frozen=True)
class TimelineEntry:
    """One entry of a timeline: a prompt and the frames it lasts (``None``: one window's worth)."""

    prompt: str
    frames: Optional[int] = None
    line: int = 0  # where it was read (0: not from a file)


# ------------------------------------------------------------- timelines ---
def _entry(path, number: int, prompt, frames) -> TimelineEntry:
    where = f"--timeline {path}: line {number}"
    if not isinstance(prompt, str) or not prompt.strip():
        raise MeshflowError(f"{where}: Expected a prompt (got {prompt!r})")
    if frames is not None and not (isinstance(frames, int) and not isinstance(frames, bool)):
        text = str(frames).strip()
        if not text.lstrip("+").isdigit():
            raise MeshflowError(f"{where}: Expected the frames to be an integer of at least 1 (got {frames!r})")
        frames = int(text)
    if frames is not None and frames < 1:
        raise MeshflowError(f"{where}: Expected the frames to be an integer of at least 1 (got {frames})")
    return TimelineEntry(prompt=prompt.strip(), frames=frames, line=number)


def _json_rows(path: Path, text: str) -> List[TimelineEntry]:
    """A JSON list of ``{"prompt": ..., "frames": ...}`` objects or ``[prompt, frames]`` pairs, each
    numbered by the line it starts on."""
    decoder = json.JSONDecoder()
    try:
        pos = len(text) - len(text.lstrip())
        if text[pos:pos + 1] != "[":
            raise MeshflowError(f"--timeline {path}: Expected a JSON list of rows (got {text[pos:pos + 20]!r})")
        pos += 1
        entries = []
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if text[pos:pos + 1] == "]":
                break
            number = text.count("\n", 0, pos) + 1
            row, pos = decoder.raw_decode(text, pos)
            if isinstance(row, dict):
                unknown = sorted(set(row) - {"prompt", "frames"})
                if unknown:
                    raise MeshflowError(f"--timeline {path}: line {number}: Expected the keys prompt and frames "
                                        f"(got {', '.join(unknown)})")
                prompt, frames = row.get("prompt"), row.get("frames")
            elif isinstance(row, list) and 1 <= len(row) <= 2:
                prompt, frames = row[0], row[1] if len(row) == 2 else None
            else:
                raise MeshflowError(f"--timeline {path}: line {number}: Expected {{\"prompt\": ..., \"frames\": ...}} "
                                    f"or [prompt, frames] (got {json.dumps(row)[:40]})")
            entries.append(_entry(path, number, prompt, frames))
    except json.JSONDecodeError as e:
        raise MeshflowError(f"--timeline {path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    except IndexError:
        raise MeshflowError(f"--timeline {path}: not valid JSON (the list is not closed)") from None
    return entries


def read_timeline(path) -> List[TimelineEntry]:
    """Reads a timeline file: JSON (``.json``, or text starting with ``[``) or text rows ``prompt, frames``.

    Text rows are CSV (quote a prompt that holds a comma); the frames may be left out (one
    window's worth); blank lines and lines starting with ``#`` are skipped, as is a first row
    ``prompt, frames``.

    Raises:
        MeshflowError: a file that cannot be read or holds no rows, and every bad row, naming its line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or "not UTF-8 text"
        raise MeshflowError(f"--timeline {path}: cannot be read ({reason})") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        entries = _json_rows(path, text)
    else:
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            row = [cell.strip() for cell in next(csv.reader(io.StringIO(line), skipinitialspace=True))]
            if not entries and [c.lower() for c in row] == ["prompt", "frames"]:
                continue
            if len(row) > 2:
                raise MeshflowError(f"--timeline {path}: line {number}: Expected 'prompt, frames' (got {len(row)} "
                                    "fields; quote a prompt that holds a comma)")
            entries.append(_entry(path, number, row[0], row[1] if len(row) == 2 and row[1] else None))
    if not entries:
        raise MeshflowError(f"--timeline {path}: Expected at least one 'prompt, frames' row (got none)")
    return entries


def check_sequence_inputs(prompt=None, then=None, timeline=None, overlap=None) -> None:
    """The one check of the timeline options before any work; ``None`` is not checked.

    Raises:
        MeshflowError: ``--then`` without ``--prompt``, both a prompt and a ``--timeline`` file,
            neither, a bad overlap.
    """
    if then and prompt is None:
        raise MeshflowError("--then: Expected --prompt for the first entry of the timeline (got none)")
    if timeline is not None and (prompt is not None or then):
        raise MeshflowError("--timeline: Expected either --prompt [--then ...] or --timeline (got both)")
    if timeline is None and prompt is None:
        raise MeshflowError("Expected --prompt or --timeline (got neither)")
    if overlap is not None:
        check_integer("overlap", overlap, 1)


def make_timeline(prompt: Optional[str] = None, then: Sequence[str] = (), timeline=None) -> List[TimelineEntry]:
    """The entries of ``--prompt A --then B ...`` or of a ``--timeline`` file (see :func:`read_timeline`)."""
    check_sequence_inputs(prompt, then, timeline)
    if timeline is not None:
        return read_timeline(timeline)
    return [TimelineEntry(prompt=p) for p in [prompt, *then]]


def plan_frames(entries: Sequence[TimelineEntry], T: int, overlap: int, frames: Optional[int] = None) -> List[int]:
    """Frames of each entry: its own count, else an even share of what ``frames`` leaves, else one
    window's worth (``T`` for the first entry, ``T - overlap`` for the others).

    Raises:
        MeshflowError: ``frames`` that the entries' own counts do not add up to, or too few to share.
    """
    given = sum(e.frames for e in entries if e.frames is not None)
    free = [i for i, e in enumerate(entries) if e.frames is None]
    counts = [e.frames for e in entries]
    if frames is None:
        for i in free:
            counts[i] = T if i == 0 else T - overlap
        return counts
    left = int(frames) - given
    if not free:
        if left:
            raise MeshflowError(f"Expected 'frames' to be the timeline's total {given} (got {frames})")
        return counts
    if left < len(free):
        raise MeshflowError(f"Expected 'frames' of at least {given + len(free)} for this timeline (got {frames})")
    for k, i in enumerate(free):
        counts[i] = left // len(free) + (1 if k < left % len(free) else 0)
    return counts


def plan_windows(counts: Sequence[int], T: int, overlap: int) -> Tuple[List[int], List[int]]:
    """``(entries, joins)`` for entries of ``counts`` frames: the entry each window samples, in order, and
    the frame each window after the first starts at (the first frame of its overlap)."""
    n, windows, joins = 0, [], []
    for i, count in enumerate(counts):
        goal = n + count
        while n < goal:
            if n:
                joins.append(n - min(overlap, n))
            n = T if n == 0 else n - min(overlap, n) + T
            windows.append(i)
        n = goal
    return windows, joins


# ---------------------------------------------------------------- chaining ---
def crossfade(previous: np.ndarray, window: np.ndarray, overlap: int, mode: str = "velocity") -> np.ndarray:
    r"""Appends ``window`` to ``previous``, the two sharing ``overlap`` frames (see the module docstring).

    ``window`` was sampled from ``previous[-overlap]`` (its rest pose). ``mode="velocity"`` fades the
    frame-to-frame velocity over the overlap and integrates it; ``"position"`` (a baseline) fades the
    positions, :math:`x_k = (1 - w_k)\,a_k + w_k\,(b_k - b_0 + a_0)`.

    Shapes:
        - **input:** previous (n, N, 3), window (T, N, 3), 1 <= overlap <= min(n, T - 1)
        - **output:** (n - overlap + T, N, 3)
    """
    a, b = np.asarray(previous, dtype=np.float64), np.asarray(window, dtype=np.float64)
    n, T, o = len(a), len(b), int(overlap)
    if not 1 <= o <= min(n, T - 1):
        raise ValueError(f"Expected 1 <= overlap <= min({n}, {T - 1}) (got {o})")
    start = a[n - o]
    if mode == "position":
        placed = b - b[:1] + start  # (T, N, 3) the window from the rest pose
        w = smoothstep((np.arange(o) + 1) / o).reshape(-1, 1, 1)
        placed[:o] = (1 - w) * a[n - o:] + w * placed[:o]
        return np.concatenate([a[:n - o], placed]).astype(np.float32)
    if mode != "velocity":
        raise ValueError(f"Expected mode 'velocity' or 'position' (got {mode!r})")
    v = np.diff(b, axis=0)  # (T - 1, N, 3)
    w = smoothstep((np.arange(o - 1) + 1) / o).reshape(-1, 1, 1)  # (o - 1, 1, 1)
    v[:o - 1] = (1 - w) * np.diff(a[n - o:], axis=0) + w * v[:o - 1]
    tail = start + np.cumsum(v, axis=0)  # (T - 1, N, 3)
    return np.concatenate([a[:n - o + 1], tail]).astype(np.float32)


def animate_sequence(pipe: AnimationPipeline, mesh, timeline: Sequence[TimelineEntry], frames: Optional[int] = None,
                     overlap: Optional[int] = None, seed: Optional[int] = None, region: Optional[Region] = None,
                     progress: Optional[Callable[[int], Callable[[], None]]] = None, mode: str = "velocity",
                     restore: int = SequenceConfig.restore, **sampling) -> Animation:
    r"""One continuous animation of a timeline: windows chained by :func:`crossfade`.

    Args:
        pipe: the pipeline that samples every window (:class:`~meshflow.pipeline.AnimationPipeline`).
        mesh: a mesh path, :class:`~meshflow.io.mesh.MeshFile` or ``trimesh.Trimesh``.
        timeline: the entries (:func:`make_timeline`); each samples one window or more with its prompt.
        frames: frames in all (shared among the entries without a count; see :func:`plan_frames`).
        overlap: frames two windows share, 1 to T - 1. (default: :func:`default_overlap`, 8 for T = 16)
        seed: seed of the first window; window :math:`j` uses ``seed + j * num_samples``. (default: random)
        region: region control for every window (:func:`meshflow.region.make_region`).
        progress: as for the pipeline, called once with the model calls of all windows.
        mode: ``"velocity"`` or ``"position"`` cross-fade (a baseline for the seam benchmark).
        restore: :func:`restore_edges` sweeps on each window's rest pose, eased in over the overlap;
            0 = none. (default: :attr:`SequenceConfig.restore` = 120)
        **sampling: ``steps``, ``guidance``, ``solver``, ``fps``, ``tokens``, ``device``, ``num_samples``
            for every window (checked by :meth:`~meshflow.pipeline.AnimationPipeline.check_inputs`).

    Returns:
        An :class:`~meshflow.io.animation.Animation` over the input's file vertices, its notes saying
        where each entry and window begins.
    """
    T = pipe.frames
    if overlap is not None:
        check_integer("overlap", overlap, 1)
    opts = pipe.sampling_options(**{k: sampling.get(k) for k in ("steps", "guidance", "solver", "fps",
                                                                 "num_samples")})
    pipe.check_inputs(mesh, [e.prompt for e in timeline] or None, frames=frames, seed=seed, steps=opts.steps,
                      tokens=sampling.get("tokens"), device=sampling.get("device"), num_samples=opts.num_samples)
    if not timeline:
        raise MeshflowError("Expected a timeline of at least one entry (got none)")
    o = default_overlap(T) if overlap is None else int(overlap)
    if o > T - 1:
        raise MeshflowError(f"Expected 'overlap' to be at most T - 1 = {T - 1} (got {o})")
    counts = plan_frames(timeline, T, o, frames)
    windows, joins = plan_windows(counts, T, o)
    seed = random.SystemRandom().randrange(2 ** 31) if seed is None else int(seed)
    tick = None
    if progress is not None:
        tick = progress(model_calls(opts.solver, int(opts.steps)) * len(windows))
    mesh = as_mesh_file(mesh)
    graph = file_graph(mesh, normalize=False)
    src, edges = graph.source_index.numpy(), graph.edge_index.numpy().T
    edges = edges[edges[:, 0] < edges[:, 1]]
    first = first_file_vertices(graph)  # one file vertex per welded vertex
    lengths = np.linalg.norm(mesh.vertices[first[edges[:, 0]]] - mesh.vertices[first[edges[:, 1]]], axis=1)
    hold = 1.0 if region is None else region.file_weights[:, None]  # the rest pose outside a region stays put
    out: Optional[np.ndarray] = None
    timings: Dict[str, float] = {}
    head: Optional[Animation] = None  # the first window: provenance of the clip
    notes, j = [], 0
    for i, (entry, count) in enumerate(zip(timeline, counts)):
        begin = 0 if out is None else len(out)
        goal = begin + count
        while out is None or len(out) < goal:
            n = 0 if out is None else len(out)
            step = min(o, n)
            if out is not None:  # the rest pose: the overlap's first frame, its stretch taken out
                fix = hold * (restore_edges(out[n - step][first], edges, lengths, restore)[src] - out[n - step])
            rest = mesh if out is None else replace(mesh, vertices=(out[n - step] + fix).astype(np.float32))
            start = time.perf_counter()
            anim = animate_region(pipe, rest, entry.prompt, region, seed=seed + j * int(opts.num_samples),
                                  progress=None if tick is None else (lambda calls: tick), **sampling)
            timings["windows"] = timings.get("windows", 0.0) + time.perf_counter() - start
            for k, v in anim.timings.items():
                timings[k] = timings.get(k, 0.0) + v
            head = head or anim
            if out is None:
                out = anim.vertices
            else:
                out = crossfade(out, anim.vertices, step, mode=mode)
                out[n - step:] += (smoothstep(np.arange(len(out) - n + step) / step)[:, None, None]
                                   * fix[None]).astype(np.float32)  # the restoration eased in over the overlap
            j += 1
        out = out[:goal]
        notes.append(f"entry {i + 1} ({entry.prompt!r}): frames {begin}-{goal - 1}")
    notes.insert(0, f"chained {len(windows)} windows of {T} frames, {o} frames of overlap cross-faded in {mode}, "
                    f"joins at frames {', '.join(map(str, joins)) or 'none'}")
    extra = [n for n in head.notes if n.startswith("region")]
    return replace(head, vertices=np.ascontiguousarray(out, dtype=np.float32), mesh=mesh,
                   prompt=" / then: ".join(e.prompt for e in timeline) if len(timeline) > 1 else timeline[0].prompt,
                   seed=seed, timings=timings, notes=notes + extra, score=None)


# ----------------------------------------------------------------- metrics ---
@dataclass(frozen=True)
class SeamMetrics:
    """How visible the joins of a chained clip are (see :func:`seam_metrics`)."""

    join_ratio: float  # largest acceleration at a join over the median acceleration inside the windows
    inside_ratio: float  # largest acceleration inside the windows over their median (the model's own peaks)
    edge_change: float  # mean relative edge-length change against frame 0 over the clip
    end_edge_change: float  # the same for the last frame alone (the drift)


def seam_metrics(frames: np.ndarray, faces: np.ndarray, joins: Sequence[int], overlap: int) -> SeamMetrics:
    r"""Seams and drift of (F, N, 3) frames with windows joined at frames ``joins`` (each the first frame
    of an overlap of ``overlap`` frames).

    The acceleration of frame :math:`t` is :math:`\operatorname{mean}_i \lVert x_{t+1}^i - 2x_t^i +
    x_{t-1}^i \rVert`; the join frames are those from each join to one past its overlap, the
    others are inside the windows.
    """
    x = np.asarray(frames, dtype=np.float64)
    acc = np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1).mean(axis=1)  # (F - 2,) frames 1 .. F - 2
    at_join = np.zeros(len(acc), dtype=bool)
    for j in joins:
        at_join[max(0, j - 1):j + overlap] = True  # acceleration index t - 1 for frames j .. j + overlap
    inside = acc[~at_join]
    median = float(np.median(inside)) if len(inside) else float("nan")
    return SeamMetrics(join_ratio=float(acc[at_join].max()) / median if at_join.any() else 0.0,
                       inside_ratio=float(inside.max()) / median if len(inside) else 0.0,
                       edge_change=edge_length_change(x, faces),
                       end_edge_change=edge_length_change(x[[0, -1]], faces))


__all__ = ["SeamMetrics", "SequenceConfig", "TimelineEntry", "animate_sequence", "check_sequence_inputs",
           "crossfade", "default_overlap", "make_timeline", "plan_frames", "plan_windows", "read_timeline",
           "restore_edges", "seam_metrics"]
