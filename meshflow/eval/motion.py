r"""Quality of animations, generated or given (``meshflow eval motion``).

Per animation: shape preservation (mean relative edge-length change against
frame 0), smoothness (mean norm of the second temporal difference), motion
amount (mean displacement), all from :mod:`meshflow.eval.metrics`; prompt
adherence when the animation has a motion label (procedural prompts): whether
:func:`meshflow.eval.checks.check_motion` finds the label's defining property;
the time per animation and per pipeline stage when generated.

Inputs of :func:`load_animations`: clip folders (``meshflow data build``),
animation files (``.npz``, DyMesh ``.bin``/``.pkl``) and animated glTF/GLB
files (every clip, sampled at 15 fps; a GLB written by ``meshflow animate`` is read
by :func:`meshflow.io.load_animation` as ``meshflow preview`` reads it: its frames and prompt).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..data.clips import caption_for
from ..data.dataset import ClipShards
from ..data.motions import LABELS, make_motion
from ..errors import MeshflowError
from ..io.animation import list_clips, load_animation, sample_animation
from ..io.dymesh import ANIMATION_SUFFIXES
from ..io.gltf import GltfFile
from ..pipeline import as_mesh_file
from .checks import check_motion
from .metrics import motion_metrics, summarize

PROCEDURAL = "procedural"
#: the motion labels whose motion is rigid, so that their edge lengths should not change
RIGID_LABELS = ("spin", "hop", "slide")
PARAPHRASE = "paraphrase"
STAGES = ("text", "encode", "sample", "decode")

#: Prompts worded unlike any training caption, ``(template, label)`` with ``{object}`` for
#: what the mesh is: adherence with these measures whether the text conditioning learned
#: the motion or only the generator's wording. The verb phrase of each (the template after
#: ``"the {object} "``) occurs in no caption the training data can hold: none of
#: :mod:`meshflow.data.motions`' phrasings, none of :func:`meshflow.data.clips.caption_for`'s
#: on the Quaternius clips (``tests/eval/test_paraphrases.py`` checks both). So they must stay
#: out of the caption generators. Each asks only for what the label's check
#: (:mod:`meshflow.eval.checks`) decides; no check tests a direction, so none asks for one.
PARAPHRASES: Tuple[Tuple[str, str], ...] = (
    ("the {object} turns around on the spot", "spin"),
    ("the {object} pirouettes where it stands", "spin"),
    ("the {object} revolves about its own centre", "spin"),
    ("the {object} leaps into the air", "hop"),
    ("the {object} springs off the ground and lands again", "hop"),
    ("the {object} takes a single jump", "hop"),
    ("the {object} jumps again and again", "bounce"),
    ("the {object} hops repeatedly on the spot", "bounce"),
    ("the {object} keeps springing up off the floor", "bounce"),
    ("the {object} teeters from one side to the other", "sway"),
    ("the {object} leans left, then right, then left", "sway"),
    ("the {object} glides along the floor", "slide"),
    ("the {object} skids across the ground", "slide"),
    ("the {object} drifts along without turning", "slide"),
    ("the {object} dips forward and comes back up", "nod"),
    ("the {object} gives a little bow", "nod"),
    ("the {object} rolls along like a wheel", "roll"),
    ("the {object} turns over and over as it travels", "roll"),
    ("the {object} curls over to one side", "bend"),
    ("the {object} flexes sideways", "bend"),
    ("the {object} corkscrews along its length", "twist"),
    ("the {object} wrings its body like a towel", "twist"),
    ("the {object} flattens and then stretches tall", "squash_stretch"),
    ("the {object} squishes down and springs back up like rubber", "squash_stretch"),
    ("the {object} slithers like a snake", "wave"),
    ("the {object} wriggles from one end to the other", "wave"),
    ("the {object} inflates and deflates", "breathe"),
    ("the {object} grows a little and shrinks back", "breathe"),
    ("the {object} puffs up and settles again", "breathe"),
    ("the {object} swishes its tail", "wag"),
    ("the {object} flaps its far end back and forth", "wag"),
)


#: Paraphrases for choosing a model's defaults (``scripts/validate_matching.py``), worded unlike both the
#: training captions and :data:`PARAPHRASES`, so a default chosen on them is measured on :data:`PARAPHRASES`
#: without having been tuned there; three per motion label.
VALIDATION_PARAPHRASES: Tuple[Tuple[str, str], ...] = (
    ("the {object} whirls round and round", "spin"),
    ("the {object} does a full turn without moving from its place", "spin"),
    ("the {object} rotates about the vertical axis", "spin"),
    ("the {object} bounds up once and comes down", "hop"),
    ("the {object} gives one quick jump", "hop"),
    ("the {object} pops up off the ground", "hop"),
    ("the {object} bobs up and down over and over", "bounce"),
    ("the {object} keeps hopping", "bounce"),
    ("the {object} jumps up and down repeatedly", "bounce"),
    ("the {object} rocks gently left and right", "sway"),
    ("the {object} lists to one side and then the other", "sway"),
    ("the {object} tips from side to side", "sway"),
    ("the {object} shifts sideways without rotating", "slide"),
    ("the {object} travels straight ahead in one piece", "slide"),
    ("the {object} coasts to the right", "slide"),
    ("the {object} nods its top forward", "nod"),
    ("the {object} ducks its head and lifts it", "nod"),
    ("the {object} tips forward briefly", "nod"),
    ("the {object} tumbles head over heels", "roll"),
    ("the {object} rolls over and keeps rolling", "roll"),
    ("the {object} barrels along the ground", "roll"),
    ("the {object} bends over sideways", "bend"),
    ("the {object} folds forward at the middle", "bend"),
    ("the {object} arcs to one side", "bend"),
    ("the {object} screws itself around its axis", "twist"),
    ("the {object} twists its top against its bottom", "twist"),
    ("the {object} spirals along its body", "twist"),
    ("the {object} compresses and extends", "squash_stretch"),
    ("the {object} gets squat and then tall", "squash_stretch"),
    ("the {object} squeezes flat and pops back", "squash_stretch"),
    ("the {object} ripples like a flag", "wave"),
    ("the {object} undulates like an eel", "wave"),
    ("the {object} sends a ripple down its body", "wave"),
    ("the {object} swells up and shrinks down slowly", "breathe"),
    ("the {object} breathes deeply", "breathe"),
    ("the {object} expands and shrinks", "breathe"),
    ("the {object} waggles its tail", "wag"),
    ("the {object} flicks its tail from side to side", "wag"),
    ("the {object} swings its end left and right", "wag"),
)

@dataclass
class PromptCase:
    """A prompt and, when known, the motion label whose check decides adherence."""

    prompt: str
    label: Optional[str] = None


@dataclass
class MotionEvaluation:
    """Per-animation rows and their summary; :meth:`to_json` is what ``--json`` prints."""

    rows: List[Dict] = field(default_factory=list)

    def summary(self) -> Dict:
        rows = self.rows
        out: Dict = {"num_animations": len(rows)}
        for key in ("edge_change", "smoothness", "motion"):
            out[key] = summarize(r[key] for r in rows)["mean"]
        labelled = [r for r in rows if r.get("label")]
        out["adherence"] = float(np.mean([r["ok"] for r in labelled])) if labelled else None
        out["adherence_by_label"] = {
            label: float(np.mean([r["ok"] for r in labelled if r["label"] == label]))
            for label in sorted({r["label"] for r in labelled})}
        out["edge_change_by_label"] = {
            label: summarize(r["edge_change"] for r in labelled if r["label"] == label)["mean"]
            for label in out["adherence_by_label"]}
        timed = [r for r in rows if r.get("seconds") is not None]
        out["seconds_per_animation"] = summarize(r["seconds"] for r in timed)["mean"] if timed else None
        out["seconds_per_stage"] = {
            stage: summarize(r["timings"][stage] for r in timed)["mean"] for stage in STAGES
            if timed and all(stage in r.get("timings", {}) for r in timed)}
        return out

    def to_json(self) -> Dict:
        return {**self.summary(), "animations": self.rows}


def evaluate_frames(frames: np.ndarray, faces: np.ndarray, label: Optional[str] = None) -> Dict:
    """The metrics of one animation (T, N, 3), plus ``ok``/``score`` when ``label`` is given."""

    row = motion_metrics(frames, faces)
    if label:
        check = check_motion(label, frames)
        row.update(ok=bool(check.ok), score=float(check.score))
    return row


# ------------------------------------------------------------- inputs ---
def read_prompts(path) -> List[PromptCase]:
    r"""Prompts from a text file: one per line, ``TEXT`` or ``LABEL<TAB>TEXT``
    (LABEL one of :data:`meshflow.data.motions.LABELS`); blank lines and lines
    starting with ``#`` are skipped.

    Raises:
        MeshflowError: naming the file (and line) when it is missing, empty or has an unknown label.
    """

    path = Path(path)
    if not path.is_file():
        raise MeshflowError(f"{path}: no such prompt file (or pass --prompts {PROCEDURAL})")
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "\t" in line:
            label, text = (s.strip() for s in line.split("\t", 1))
            if label not in LABELS:
                raise MeshflowError(f"{path}:{n}: unknown motion label {label!r} (expected one of {', '.join(LABELS)})")
            cases.append(PromptCase(text, label))
        else:
            cases.append(PromptCase(line.strip()))
    if not cases:
        raise MeshflowError(f"{path}: no prompts in the file")
    return cases


def procedural_prompts(mesh, labels: Optional[Sequence[str]] = None, seed: int = 0) -> List[PromptCase]:
    """One caption per motion label, phrased as the procedural generator phrases it for this
    :class:`~meshflow.io.MeshFile` (its file name names the object)."""

    name = mesh_word(mesh)
    return [PromptCase(make_motion(mesh.vertices, mesh.faces, label=label, rng=seed, name=name).caption, label)
            for label in (labels or LABELS)]


def mesh_word(mesh) -> str:
    """What a :class:`~meshflow.io.MeshFile` is, for a prompt: its file name's stem, lower case."""
    return Path(mesh.path).stem.lower()


def paraphrase_cases(object_word: str = "object", labels: Optional[Sequence[str]] = None,
                     per_label: Optional[int] = None,
                     templates: Optional[Sequence[Tuple[str, str]]] = None) -> List[PromptCase]:
    r"""The :data:`PARAPHRASES` for one object (``"dog"`` -> "the dog leaps into the air", ...),
    labelled, in the order of :data:`PARAPHRASES`.

    Args:
        object_word (str): what the mesh is. (default: ``"object"``)
        labels (sequence of str, optional): only these labels. (default: every label)
        per_label (int, optional): at most this many per label, the first ones. (default: all)
        templates: (template, label) pairs, ``{object}`` standing for the object.
            (default: :data:`PARAPHRASES`; :data:`VALIDATION_PARAPHRASES` for choosing defaults)

    Raises:
        MeshflowError: for an unknown label or ``per_label < 1``.
    """
    for label in labels or ():
        check_label(label)
    if per_label is not None and per_label < 1:
        raise MeshflowError(f"Expected 'per_label' to be at least 1 (got {per_label})")
    cases: List[PromptCase] = []
    for template, label in PARAPHRASES if templates is None else templates:
        if (labels is None or label in labels) and (per_label is None or
                                                    sum(c.label == label for c in cases) < per_label):
            cases.append(PromptCase(template.format(object=object_word), label))
    return cases


def _glb_animations(path: Path, fps: float) -> Iterator[Dict]:

    g = GltfFile(path)
    if any("meshflow" in (a.extras or {}) for a in g.gltf.animations or []):  # written by `meshflow animate`
        yield _as_item(path.name, load_animation(path))
        return
    clips = list_clips(g)
    if not clips:
        raise MeshflowError(f"{path}: the file has no animations")
    for c in clips:
        anim = sample_animation(g, c.name, fps=fps)
        yield {"name": f"{path.name}#{c.name}", "vertices": anim.vertices, "faces": anim.faces,
               "caption": caption_for(path.name, c.name)}


def _as_item(name: str, anim) -> Dict:
    """An :class:`~meshflow.io.Animation` as the dict the evaluation iterates over."""
    item = {"name": name, "vertices": anim.vertices, "faces": anim.faces, "caption": anim.prompt}
    if anim.fps is not None:
        item["fps"] = anim.fps
    return item


def check_sources(sources: Sequence[Union[str, Path]]) -> List[Path]:
    """The inputs as paths, after checking that each exists and is a clip folder or an animation file."""
    paths = [Path(s) for s in sources]
    for src in paths:
        if not src.exists():
            raise MeshflowError(f"{src}: no such file or folder")
        if src.is_dir():
            if not (src / "index.jsonl").is_file():
                raise MeshflowError(f"{src}: not a clip folder (no index.jsonl; build one with `meshflow data build`)")
        elif src.suffix.lower() not in (".glb", ".gltf") + ANIMATION_SUFFIXES:
            raise MeshflowError(f"{src}: not an animation (expected a clip folder, .npz, .bin, .pkl, .glb or .gltf)")
    return paths


def load_animations(sources: Sequence[Union[str, Path]], match: Optional[str] = None,
                    fps: float = 15.0) -> Iterator[Dict]:
    r"""Animations ``{"name", "vertices" (T, N, 3), "faces" (F, 3), "caption"}`` from clip
    folders, animation files and animated glTF/GLB files (see the module docstring),
    those whose caption matches the regular expression ``match`` (case-insensitive) only.

    Raises:
        MeshflowError: naming the path, for a missing or unsupported input.
    """
    try:
        pattern = re.compile(match, re.IGNORECASE) if match else None
    except re.error as e:
        raise MeshflowError(f"invalid --match pattern {match!r} ({e})") from None
    # Checked here, when called, not when the first item is drawn: errors come before any progress bar.
    return _iter_animations(check_sources(sources), pattern, fps)


def _iter_animations(sources: List[Path], pattern, fps: float) -> Iterator[Dict]:

    for src in sources:
        if src.is_dir():
            shards = ClipShards(src)
            items = ({"name": shards.index[i]["source"], **shards.read(i)} for i in range(len(shards)))
        elif src.suffix.lower() in (".glb", ".gltf"):
            items = _glb_animations(src, fps)
        else:
            items = iter([_as_item(src.name, load_animation(src))])
        for item in items:
            if pattern is None or pattern.search(item.get("caption", "")):
                yield item


def evaluate_animations(sources: Sequence[Union[str, Path]], label: Optional[str] = None,
                        match: Optional[str] = None, progress: Optional[Callable] = None) -> MotionEvaluation:
    """Metrics of existing animations (``meshflow eval motion ANIM...``); ``label`` applies to all."""
    if label is not None:
        check_label(label)
    out = MotionEvaluation()
    items = load_animations(sources, match=match)
    for item in (progress(items) if progress is not None else items):
        row = {"name": item["name"], "prompt": item.get("caption", ""), "label": label,
               "vertices": int(item["vertices"].shape[1]), "frames": int(item["vertices"].shape[0])}
        row.update(evaluate_frames(item["vertices"], item["faces"], label))
        out.rows.append(row)
    if not out.rows:
        raise MeshflowError(f"{', '.join(map(str, sources))}: no animation" + (f" whose caption matches {match!r}"
                                                                             if match else ""))
    return out


def check_label(label: str) -> None:

    if label not in LABELS:
        raise MeshflowError(f"unknown motion label {label!r} (expected one of {', '.join(LABELS)})")


def generate_and_evaluate(pipe, meshes: Sequence, prompts: Union[str, Sequence[PromptCase]] = PROCEDURAL,
                          seeds: Sequence[int] = (0,), steps: Optional[int] = None,
                          guidance: Optional[float] = None, tokens: Optional[int] = None,
                          progress: Optional[Callable] = None, solver: Optional[str] = None,
                          num_samples: Optional[int] = None,
                          match_prompt: Optional[bool] = None) -> MotionEvaluation:
    r"""Animates every mesh with every prompt and seed, one animation per call, and evaluates it.

    Args:
        pipe (AnimationPipeline): the model.
        meshes: mesh files, :class:`~meshflow.io.MeshFile` or ``trimesh.Trimesh`` objects.
        prompts: :data:`PROCEDURAL` (every motion label, phrased for each mesh by the
            procedural generator; adherence is checked), :data:`PARAPHRASE` (every one of
            :data:`PARAPHRASES`, for each mesh) or a list of :class:`PromptCase`.
        seeds: sampling seeds (also the seed of the procedural captions).
        steps, guidance, tokens, solver, num_samples, match_prompt: as in
            :class:`~meshflow.pipeline.AnimationPipeline` (default: the model's); with ``num_samples`` > 1
            the pipeline's ranked best of that many seeds is the one evaluated, as ``meshflow animate
            --num-samples`` would write it; with prompt matching on, each row's ``read_as`` is the phrase
            the model was conditioned on (the adherence is checked against the prompt's own label).
        progress (callable, optional): wraps the iterable of jobs (e.g. ``tqdm``).

    Returns:
        :class:`MotionEvaluation` whose rows also hold ``seconds`` (the pipeline call)
        and ``timings`` per stage.
    """

    meshes = [as_mesh_file(m) for m in meshes]  # every mesh is read (and checked) before any work
    jobs = []
    for mesh in meshes:
        for seed in seeds:
            if prompts == PROCEDURAL:
                cases = procedural_prompts(mesh, seed=seed)
            elif prompts == PARAPHRASE:
                cases = paraphrase_cases(mesh_word(mesh))
            else:
                cases = list(prompts)
            jobs += [(mesh, case, seed) for case in cases]
    matching = pipe.sampling_options(match_prompt=match_prompt).match_prompt  # the call's, else the model's
    out = MotionEvaluation()
    for mesh, case, seed in (progress(jobs) if progress is not None else jobs):
        start = time.perf_counter()
        anim = pipe(mesh, case.prompt, steps=steps, guidance=guidance, seed=seed, tokens=tokens, solver=solver,
                    num_samples=num_samples, match_prompt=match_prompt)
        seconds = time.perf_counter() - start
        frames = np.asarray(anim.vertices)
        row = {"name": Path(mesh.path).name, "prompt": case.prompt, "label": case.label, "seed": seed,
               "vertices": int(frames.shape[1]), "frames": int(frames.shape[0])}
        if matching and case.prompt.strip():  # the phrase conditioned on (the encoder caches the embedding)
            row["read_as"] = pipe.read_prompt(case.prompt).text
        row.update(evaluate_frames(frames, mesh.faces, case.label))
        row.update(seconds=seconds, timings={k: float(v) for k, v in anim.timings.items()})
        out.rows.append(row)
    return out


def format_table(evaluation: MotionEvaluation, width: int = 44) -> str:
    """The rows as an aligned text table, then the summary lines."""
    lines = [f"{'animation':<28} {'prompt':<{width}} {'label':<15} {'ok':<3} {'edge':>7} {'smooth':>7} "
             f"{'motion':>7} {'s':>6}"]
    for r in evaluation.rows:
        prompt = r["prompt"] if len(r["prompt"]) <= width else r["prompt"][:width - 3] + "..."
        ok = "-" if r.get("ok") is None else ("yes" if r["ok"] else "no")
        secs = f"{r['seconds']:6.2f}" if r.get("seconds") is not None else f"{'-':>6}"
        lines.append(f"{r['name'][:28]:<28} {prompt:<{width}} {(r.get('label') or '-'):<15} {ok:<3} "
                     f"{r['edge_change']:7.4f} {r['smoothness']:7.4f} {r['motion']:7.4f} {secs}")
    s = evaluation.summary()
    lines.append("")
    lines.append(f"{s['num_animations']} animations: edge-length change {s['edge_change']:.4f}, smoothness "
                 f"{s['smoothness']:.4f}, motion {s['motion']:.4f} (normalised units)")
    if s["adherence"] is not None:
        per = ", ".join(f"{k} {v:.2f}" for k, v in s["adherence_by_label"].items())
        lines.append(f"prompt adherence {s['adherence']:.3f} ({per})")
    if s["seconds_per_animation"] is not None:
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in s["seconds_per_stage"].items())
        lines.append(f"time per animation {s['seconds_per_animation']:.2f} s ({stages})")
    return "\n".join(lines)
