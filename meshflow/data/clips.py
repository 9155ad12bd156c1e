r"""Build training clips from animated glTF files, DyMesh ``.bin`` samples and npz animations.

:func:`build_clips` cuts every source into windows of T frames, welds and
normalises them, writes a caption, and stores the clips in shards:

``OUT/manifest.json``
    settings, the list of shards and the build report.
``OUT/index.jsonl``
    one line per clip: ``{"shard", "row", "vertices", "faces", "caption", "source"}``.
``OUT/shard-00000.npz`` ...
    many clips each, stored uncompressed so that readers memory-map them:
    ``vertices`` (sum N, T, 3) float32 normalised positions (per clip, frame-0 box
    centre and largest absolute coordinate, the original's normalisation),
    ``faces`` (sum F, 3) int32 (per clip, 0-based), ``vertex_offsets`` and
    ``face_offsets`` (C + 1,) int64, ``center`` (C, 3) and ``scale`` (C,) to get
    back to file units, ``caption`` and ``source`` (C,) strings.

Windows: a source of n frames (glTF clips are sampled at ``fps`` from their first
keyframe to their last) gives windows starting at 0, S, 2S, ... while a whole
window fits; a glTF clip shorter than one window gives one window that holds its
last pose (:func:`window_starts`). Files are read in worker processes; a source
or window that cannot be used is counted in the report under a reason and the
build goes on. :func:`source_clips` is the driver that :func:`build_clips` and
:func:`meshflow.data.shards.write_shards` share: the clip records of every file, in
order, counted in a :class:`Tally`.

Captions for glTF come from the file and clip names and a small table of verbs
(:func:`caption_for`): ``Horse.glb`` + ``AnimalArmature|Gallop`` -> "a horse gallops".
"""
from __future__ import annotations

import json
import multiprocessing
import os
import re
import time
import warnings
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import MeshflowError
from ..io.animation import AnimationSampler, load_animation
from ..io.atomic import atomic_file
from ..io.dymesh import check_animation
from ..io.geometry import weld_animation
from ..progress import min_interval
from .dataset import simplify_clip

GLTF_SUFFIXES = (".glb", ".gltf")
PROBLEMS = "problems.jsonl"  # every failed file and skipped window of a build, beside the manifest
ANIMATION_SUFFIXES = (".npz", ".bin", ".pkl", ".pickle")
SOURCE_SUFFIXES = GLTF_SUFFIXES + ANIMATION_SUFFIXES
FORMAT = "meshflow-clips"
VERSION = 1

# ------------------------------------------------------------- captions ---
#: clip-name words -> (verb phrase, or None for a modifier of the previous verb).
#: Longer keys are matched first; unknown words are dropped when a verb is found.
_VERBS: Dict[Tuple[str, ...], str] = {
    ("walk",): "walks", ("walking",): "walks", ("run",): "runs", ("running",): "runs",
    ("gallop",): "gallops", ("jump",): "jumps", ("idle",): "stands idle", ("death",): "dies", ("dead",): "dies",
    ("die",): "dies", ("eating",): "eats", ("eat",): "eats", ("attack",): "attacks", ("headbutt",): "headbutts",
    ("kick",): "kicks", ("bite",): "bites", ("punch",): "punches", ("shoot",): "shoots", ("swim",): "swims",
    ("swimming",): "swims", ("flying",): "flies", ("fly",): "flies", ("dance",): "dances", ("duck",): "ducks",
    ("hello",): "waves hello", ("wave",): "waves", ("hit", "react"): "recoils from a hit",
    ("hit", "recieve"): "recoils from a hit", ("hit", "receive"): "recoils from a hit",
    ("hitreact",): "recoils from a hit", ("yes",): "nods yes", ("no",): "shakes its head",
    ("roll",): "rolls", ("pickup",): "picks something up", ("pick", "up"): "picks something up",
    ("interact",): "reaches out to interact", ("sword", "slash"): "slashes with a sword",
    ("swordslash",): "slashes with a sword", ("slash",): "slashes", ("sword", "attack"): "attacks with a sword",
    ("out", "of", "water"): "flops around out of the water", ("weapon",): "swings its weapon",
    ("open",): "opens", ("close",): "closes", ("activate",): "springs up", ("turning",): "turns",
    ("turn",): "turns", ("forward",): "moves forward", ("backwards",): "moves backward",
    ("backward",): "moves backward", ("land",): "lands", ("landing",): "lands", ("to", "idle"): "comes to rest",
    ("sit",): "sits down", ("crouch",): "crouches", ("climb",): "climbs", ("fall",): "falls",
    ("spin",): "spins", ("look",): "looks around", ("sleep",): "sleeps", ("fight",): "fights",
    ("celebrate",): "celebrates", ("cheer",): "cheers", ("throw",): "throws something", ("push",): "pushes",
    ("pull",): "pulls", ("crawl",): "crawls", ("fly", "idle"): "hovers", ("trot",): "trots", ("walk", "tall"): "walks",
    ("run", "tall"): "runs", ("stand",): "stands", ("wag",): "wags its tail", ("peck",): "pecks",
    ("attack", "headbutt"): "attacks with a headbutt", ("attack", "kick"): "attacks with a kick",
    ("flying", "idle"): "hovers", ("jump", "idle"): "jumps and comes to rest",
}
_MODIFIERS: Dict[Tuple[str, ...], str] = {
    ("left",): "to the left", ("right",): "to the right", ("fast",): "fast", ("slow",): "slowly",
    ("impulse",): "in quick bursts", ("back",): "backward", ("gun",): "with a gun",
    ("holding",): "while carrying something", ("in", "place"): "in place", ("inplace",): "in place",
    ("front",): "forward", ("head", "low"): "with its head low", ("headlow",): "with its head low",
    ("no", "height"): "in place", ("sword",): "with a sword", ("pointing",): "and points", ("big",): "hard",
}
#: file-name words dropped from object names.
_NAME_NOISE = {"transformed", "armature", "final", "rigged", "anim", "animated", "animation", "model", "mesh", "lod"}
#: object names that read better differently (after lower-casing and splitting).
_NAME_FIXES = {
    "trex": "t-rex", "enemy 2 legs gun": "two-legged gun robot", "enemy flying gun": "flying gun drone",
    "enemy large gun": "large robot with a gun", "enemy large": "large robot", "enemy flying": "flying robot",
    "enemy small": "small robot", "character gun": "character with a gun", "knight character": "knight",
    "snake angry": "angry snake", "hazard spike trap": "spike trap", "george": "mech", "mike": "mech",
    "stan": "mech",
}


def split_words(name: str) -> List[str]:
    """``"Idle_HitReact_Left"`` -> ``["idle", "hit", "react", "left"]`` (underscores, camel case, digits)."""
    name = re.sub(r"\.\d+$", "", name)  # Blender's duplicate suffix: Attack.001
    words = []
    for part in re.split(r"[\s_\-\.|]+", name):
        words += re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", part)
    return [w.lower() for w in words if w]


def object_name(file_name: str) -> str:
    r"""A noun phrase from a file name: ``"ShibaInu.glb"`` -> ``"shiba inu"``,
    ``"Mech_BarbaraTheBee-transformed.glb"`` -> ``"bee mech"``."""
    stem = Path(file_name).stem
    words = [w for w in split_words(stem) if w not in _NAME_NOISE]
    joined = " ".join(words)
    if joined in _NAME_FIXES:
        return _NAME_FIXES[joined]
    if "the" in words[1:]:  # Role_NameTheSpecies: "astronaut rae the red panda" -> "red panda astronaut"
        k = words.index("the", 1)
        if words[k + 1:]:
            return " ".join(words[k + 1:] + words[:1])
    words = [w for w in words if not w.isdigit()]
    joined = " ".join(words) or stem.lower()
    base = re.sub(r"\d+$", "", joined).strip() or joined
    return _NAME_FIXES.get(base, base)


def clip_phrase(clip_name: str, object_words: Sequence[str] = ()) -> str:
    r"""A third-person verb phrase from a clip name: ``"AnimalArmature|Gallop"`` -> ``"gallops"``,
    ``"Run_Gun_Shoot"`` -> ``"runs with a gun and shoots"``."""
    name = clip_name.rsplit("|", 1)[-1]
    words = [w for w in split_words(name) if not w.isdigit() and w not in ("armature", "normal", "neutral", "tall")]
    skip = set(object_words)
    verbs: List[List[str]] = []
    i, unknown, pending = 0, [], []  # modifiers before any verb go to the first verb: Fast_Flying
    while i < len(words):
        for size in (3, 2, 1):
            key = tuple(words[i:i + size])
            if len(key) < size:
                continue
            if key in _VERBS:
                verbs.append([_VERBS[key]] + pending)
                pending = []
                break
            if key in _MODIFIERS:
                if verbs:
                    verbs[-1].append(_MODIFIERS[key])
                else:
                    pending.append(_MODIFIERS[key])
                    unknown.append(key)
                break
        else:
            size = 1
            if words[i] not in skip:
                unknown.append((words[i],))
        i += size
    if not verbs:
        if not unknown:
            return "moves"
        mods = [_MODIFIERS[k] for k in unknown if k in _MODIFIERS]
        plain = [" ".join(k) for k in unknown if k not in _MODIFIERS]
        return " ".join(["moves" if not plain else f"does a {' '.join(plain)} move"] + mods)
    phrases = []
    for v in verbs:
        head, mods = v[0], list(dict.fromkeys(v[1:]))
        phrases.append(" ".join([head] + mods))
    return " and ".join(dict.fromkeys(phrases))


def with_article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def phrase_for(file_name: str, clip_name: str) -> str:
    r"""The caption of :func:`caption_for` without its subject: ``("Horse.glb", "AnimalArmature|Gallop")`` -> ``"gallops"``."""
    skip = set(split_words(Path(file_name).stem)) | set(object_name(file_name).split()) | {"armature"}
    return clip_phrase(clip_name, sorted(skip))


def caption_for(file_name: str, clip_name: str) -> str:
    r"""Caption from a file and a clip name: ``("Horse.glb", "AnimalArmature|Gallop")`` -> ``"a horse gallops"``."""
    return f"{with_article(object_name(file_name))} {phrase_for(file_name, clip_name)}"


# -------------------------------------------------------------- windows ---
def window_starts(num_frames: int, frames: int, stride: Optional[int] = None, hold: bool = True) -> List[int]:
    """Start frames of the windows of ``frames`` frames every ``stride`` (default: ``frames``).

    A sequence shorter than one window gives ``[0]`` when ``hold`` (the last pose is
    repeated) and ``[]`` otherwise.
    """
    stride = stride or frames
    if num_frames >= frames:
        return list(range(0, num_frames - frames + 1, stride))
    return [0] if hold and num_frames > 0 else []


# --------------------------------------------------------------- worker ---
def _record(vertices, faces, caption, source, min_motion, max_vertices, over_limit):
    """One window -> (clip record or None, skip reason or None); the record's ``vertices`` are (T, N, 3) normalised."""

    reason = check_animation(vertices, faces, min_motion=min_motion)
    if reason is not None:
        return None, reason
    if max_vertices is not None and vertices.shape[1] > max_vertices:
        if over_limit != "simplify":
            return None, "too many vertices"
        vertices, faces, _ = simplify_clip(vertices, faces, max_vertices)
    v0 = vertices[0].astype(np.float64)
    center = (v0.max(0) + v0.min(0)) / 2  # the original's normalisation (meshflow.data.graph.normalization)
    scale = float(np.abs(v0 - center).max())
    v = ((vertices - center) / scale).astype(np.float32)
    return {"vertices": v, "faces": faces.astype(np.int32),
            "caption": caption, "source": source, "center": center.astype(np.float32), "scale": scale}, None


def _gltf_clips(path: Path, cfg: dict):

    records, skipped = [], []
    sampler = AnimationSampler(path)
    if not sampler.clips:
        return records, [(str(path), "no animations")]
    for clip in sampler.clips:
        source = f"{path.name}#{clip.name}"
        try:
            n = int(np.floor(clip.duration * cfg["fps"] + 1e-6)) + 1
            starts = window_starts(n, cfg["frames"], cfg["stride"], hold=True)
            count = max(n, cfg["frames"])
            anim = sampler.sample(clip.index, fps=cfg["fps"], frames=count)
            v, f, _ = weld_animation(anim.vertices, anim.faces)
        except Exception as e:  # a clip that cannot be evaluated does not stop the file
            skipped.append((source, _reason(e)))
            continue
        _windows(v, f, caption_for(path.name, clip.name), source, starts, cfg, records, skipped)
    return records, skipped


def _windows(v, f, caption, name, starts, cfg, records, skipped) -> None:
    """Cuts the windows starting at ``starts`` out of frames ``v``; appends to ``records`` / ``skipped``."""
    for s in starts:
        rec, why = _record(v[s:s + cfg["frames"]], f, caption, f"{name}@{s}", cfg["min_motion"],
                           cfg["max_vertices"], cfg["over_limit"])
        if rec is None:
            skipped.append((f"{name}@{s}", why))
        else:
            records.append(rec)


def _animation_clips(path: Path, cfg: dict):

    anim = load_animation(path)
    v, f = anim.vertices, anim.faces
    fps = anim.fps
    if fps and abs(fps - cfg["fps"]) > 1e-6 and v.shape[0] > 1:  # resample in time
        t_src = np.arange(v.shape[0]) / fps
        t_new = np.arange(int(np.floor(t_src[-1] * cfg["fps"] + 1e-6)) + 1) / cfg["fps"]
        k = np.clip(np.searchsorted(t_src, t_new, side="right") - 1, 0, v.shape[0] - 2)
        u = ((t_new - t_src[k]) * fps)[:, None, None].astype(np.float32)
        v = v[k] * (1 - u) + v[k + 1] * u
    caption = anim.prompt or f"{with_article(object_name(path.name))} moves"
    return _clips_of(v, f, caption, path.name, cfg, where=str(path))


def _clips_of(v, f, caption: str, name: str, cfg: dict, where: Optional[str] = None
              ) -> Tuple[List[dict], List[Tuple[str, str]]]:
    """The clip records of an animation ``v`` (T, N, 3), ``f`` and the windows skipped ``(source, reason)``.

    Windows of ``cfg["frames"]`` every ``cfg["stride"]`` (none for a shorter animation), welded (when
    finite), named ``name@start``; an animation with no window or faces out of range is skipped as ``where``
    (default: ``name``). The steps of ``npz`` / DyMesh files and of archive members alike.
    """
    where = name if where is None else where
    starts = window_starts(v.shape[0], cfg["frames"], cfg["stride"], hold=False)
    if not starts:
        return [], [(where, "too few frames")]
    if f.size and (f.min() < 0 or f.max() >= v.shape[1]):
        return [], [(where, "faces out of range")]
    records, skipped = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if np.all(np.isfinite(v)):
            v, f, _ = weld_animation(v, f)
        _windows(v, f, caption, name, starts, cfg, records, skipped)
    return records, skipped


def _reason(e: Exception) -> str:
    reason = getattr(e, "reason", None)
    if reason:
        return reason

    return "unreadable" if isinstance(e, (MeshflowError, OSError, ValueError)) else f"error ({type(e).__name__})"


def process_source(path, cfg: dict):
    """All clips of one file: ``(records, [(source, reason), ...], file_problem or None)``."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if path.suffix.lower() in GLTF_SUFFIXES:
                records, skipped = _gltf_clips(path, cfg)
            else:
                records, skipped = _animation_clips(path, cfg)
        return records, skipped, None
    except Exception as e:  # never let one file stop the build
        return [], [], (_reason(e), f"{type(e).__name__}: {e}")


# --------------------------------------------------------------- driver ---
def clip_settings(frames: int, stride: Optional[int], fps: float, max_vertices: Optional[int], over_limit: str,
                  min_motion: float, error: type = ValueError) -> dict:
    """The settings every file is read with (``cfg`` of :func:`process_source`), checked (``error`` on bad ones)."""
    if frames < 2:
        raise error(f"Expected 'frames' >= 2 (got {frames})")
    if over_limit not in ("skip", "simplify"):
        raise error(f"Expected 'over_limit' to be 'skip' or 'simplify' (got {over_limit!r})")
    return {"frames": int(frames), "stride": int(stride or frames), "fps": float(fps), "min_motion": min_motion,
            "max_vertices": max_vertices, "over_limit": over_limit}


@dataclass
class Tally:
    """What :func:`source_clips` passed over: failed files and skipped windows by reason, and every problem."""

    files_failed: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    examples: List[dict] = field(default_factory=list)  # {"source", "reason"[, "detail"]} in order
    files_with_clips: int = 0


def source_clips(files: Sequence[Path], cfg: dict, workers: Optional[int] = None,
                 tally: Optional[Tally] = None) -> Iterator[List[dict]]:
    """The clip records of each of ``files``, in order (``[]`` for a file that failed), read by ``workers``
    processes (default: CPU count, at most 8; 0 or 1: this process); problems are counted in ``tally``.

    Close the generator (``contextlib.closing``) to stop the processes when the caller stops early.
    """
    tally = Tally() if tally is None else tally
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    read = partial(process_source, cfg=cfg)
    pool = None
    try:
        if workers > 1 and len(files) > 1:
            pool = multiprocessing.get_context().Pool(min(workers, len(files)))
            results = pool.imap(read, files, chunksize=1)  # ordered: the output does not depend on timing
        else:
            results = map(read, files)
        for path, (records, skipped, problem) in zip(files, results):
            if problem is not None:
                tally.files_failed[problem[0]] += 1
                tally.examples.append({"source": str(path), "reason": problem[0], "detail": problem[1]})
            tally.files_with_clips += bool(records)
            for source, reason in skipped:
                tally.skipped[reason] += 1
                tally.examples.append({"source": source, "reason": reason})
            yield records
    finally:
        if pool is not None:
            pool.terminate()


# -------------------------------------------------------------- writing ---
class ShardWriter:
    """Accumulates clip records and writes a shard every ``shard_size`` clips."""

    def __init__(self, out_dir: Path, shard_size: int):
        self.out_dir = out_dir
        self.shard_size = shard_size
        self.pending: List[dict] = []
        self.shards: List[dict] = []
        self.index = open(out_dir / "index.jsonl", "w")
        self.count = 0

    def add(self, rec: dict) -> None:
        self.pending.append(rec)
        if len(self.pending) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        k = len(self.shards)
        name = f"shard-{k:05d}.npz"
        recs, self.pending = self.pending, []
        nv = np.array([r["vertices"].shape[1] for r in recs])
        nf = np.array([len(r["faces"]) for r in recs])
        with atomic_file(self.out_dir / name, suffix=".npz") as tmp:
            np.savez(  # uncompressed: readers memory-map the members
                tmp,
                vertices=np.concatenate([r["vertices"].transpose(1, 0, 2) for r in recs]),  # (sum N, T, 3)
                faces=np.concatenate([r["faces"] for r in recs]),
                vertex_offsets=np.concatenate([[0], np.cumsum(nv)]).astype(np.int64),
                face_offsets=np.concatenate([[0], np.cumsum(nf)]).astype(np.int64),
                center=np.stack([r["center"] for r in recs]).astype(np.float32),
                scale=np.array([r["scale"] for r in recs], dtype=np.float32),
                caption=np.array([r["caption"] for r in recs]),
                source=np.array([r["source"] for r in recs]),
            )
        for row, r in enumerate(recs):
            self.index.write(json.dumps({"shard": k, "row": row, "vertices": int(nv[row]), "faces": int(nf[row]),
                                         "caption": r["caption"], "source": r["source"]}) + "\n")
        self.shards.append({"file": name, "clips": len(recs), "vertices": int(nv.sum())})
        self.count += len(recs)

    def close(self) -> None:
        self.flush()
        self.index.close()


def find_sources(sources: Iterable) -> List[Path]:
    """Files with a source suffix, from files and folders (recursively), sorted per folder."""
    out = []
    for src in sources:
        src = Path(src)
        if src.is_dir():
            out += sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in SOURCE_SUFFIXES)
        elif src.exists():
            out.append(src)
        else:

            raise MeshflowError(f"{src}: no such file or folder")
    return out


def build_clips(sources, out_dir, frames: int = 16, stride: Optional[int] = None, fps: float = 15.0,
                workers: Optional[int] = None, shard_size: int = 256, max_vertices: Optional[int] = None,
                over_limit: str = "skip", min_motion: float = 1e-3, progress: bool = True) -> dict:
    r"""Turns animated files into sharded training clips (see the module docstring).

    Args:
        sources: files and folders: ``.glb`` / ``.gltf`` (every clip), ``.npz``
            animations, DyMesh ``.bin`` / ``.pkl``.
        out_dir: output folder (created; existing shards there are replaced).
        frames (int, optional): frames per clip T (16 or 32 for the original models). (default: :obj:`16`)
        stride (int, optional): frames between window starts. (default: ``frames``)
        fps (float, optional): sampling rate for glTF clips (and npz files that
            store their own ``fps``). (default: :obj:`15.0`)
        workers (int, optional): processes (0 or 1: in this process). (default: CPU count, at most 8)
        shard_size (int, optional): clips per shard. (default: :obj:`256`)
        max_vertices (int, optional): vertex cap per clip. (default: none)
        over_limit (str, optional): ``"skip"`` or ``"simplify"`` clips over the cap. (default: :obj:`"skip"`)
        min_motion (float, optional): a window where no vertex moves more than this
            (in normalised units) is skipped as ``"no motion"``. (default: :obj:`1e-3`)
        progress (bool, optional): show a progress bar. (default: :obj:`True`)

    Returns:
        The report (also stored in ``manifest.json``): counts of files, clips written,
        files failed and windows skipped by reason, a few examples of each, seconds.
    """
    from tqdm.auto import tqdm

    cfg = clip_settings(frames, stride, fps, max_vertices, over_limit, min_motion)
    start = time.time()
    files = find_sources(sources if isinstance(sources, (list, tuple)) else [sources])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("shard-*.npz"):
        old.unlink()
    writer = ShardWriter(out_dir, shard_size)
    tally = Tally()
    try:
        with closing(source_clips(files, cfg, workers, tally)) as results:
            bar = tqdm(results, total=len(files), unit="file", disable=not progress, desc="building clips",
                       mininterval=min_interval())
            for records in bar:
                for rec in records:
                    writer.add(rec)
                bar.set_postfix(clips=writer.count + len(writer.pending), refresh=False)
    finally:
        writer.close()
    examples = tally.examples
    report = {
        "files": len(files),
        "files_with_clips": tally.files_with_clips,
        "files_failed": dict(tally.files_failed),
        "clips": writer.count,
        "skipped": dict(tally.skipped),
        "examples": examples[:100],
        "problems": len(examples),
        "problems_file": str(out_dir / PROBLEMS) if examples else None,
        "seconds": round(time.time() - start, 2),
    }
    if examples:  # every failed file and skipped window, one JSON object a line
        with atomic_file(out_dir / PROBLEMS) as tmp:
            tmp.write_text("".join(json.dumps(ex) + "\n" for ex in examples))
    else:
        (out_dir / PROBLEMS).unlink(missing_ok=True)
    manifest = {"format": FORMAT, "version": VERSION, "frames": cfg["frames"], "stride": cfg["stride"],
                "fps": cfg["fps"], "clips": writer.count, "max_vertices": max_vertices, "over_limit": over_limit,
                "min_motion": min_motion, "shards": writer.shards, "report": report}
    with atomic_file(out_dir / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))
    return report


def format_report(report: dict) -> str:
    """The report as a few lines of text for the command line."""
    lines = [f"{report['clips']} clips from {report['files_with_clips']} of {report['files']} files "
             f"in {report['seconds']:.1f} s"]
    count = lambda d: ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"  # noqa: E731
    lines.append(f"files failed: {count(report['files_failed'])}")
    lines.append(f"windows skipped: {count(report['skipped'])}")
    shown = report["examples"][:10]
    for ex in shown:
        lines.append(f"  {ex['source']}: {ex['reason']}" + (f" ({ex['detail']})" if ex.get("detail") else ""))
    more = report.get("problems", len(report["examples"])) - len(shown)
    if more > 0:
        lines.append(f"  ... and {more} more: every one is listed in {report['problems_file']}")
    return "\n".join(lines)
