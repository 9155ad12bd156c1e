"""meshflow.eval.motion.PARAPHRASES and VALIDATION_PARAPHRASES: prompts that no training caption contains.

The training captions come from two places: the procedural generators
(:func:`meshflow.data.motions.make_motion`, sampled here over many seeds, every label,
several object names and frame counts until no new phrasing turns up) and the Quaternius
clip names (:func:`meshflow.data.clips.caption_for` over every clip of every file, plus the
builder's fallback "... moves" for an animation file without a caption).
"""
import re

import numpy as np
import pytest

from meshflow.data.clips import caption_for, object_name, with_article
from meshflow.data.motions import LABELS, make_motion
from meshflow.data.shapes import icosphere
from meshflow.errors import MeshflowError
from meshflow.eval.motion import (PARAPHRASE, PARAPHRASES, VALIDATION_PARAPHRASES, PromptCase, generate_and_evaluate,
                                  paraphrase_cases)
from meshflow.io.gltf import GltfFile

SUBJECT = "the {object} "
NAMES = (None, "cow", "shiba inu", "toy", "object", "the robot")
#: the evaluation's paraphrases and the ones defaults are chosen on: both must be absent from training
BOTH = pytest.mark.parametrize("templates", [PARAPHRASES, VALIDATION_PARAPHRASES], ids=["eval", "validation"])


def verb_phrase(template: str) -> str:
    assert template.startswith(SUBJECT), template
    return template[len(SUBJECT):]


def contains(caption: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``caption`` as whole words, ignoring case."""
    return re.search(r"\b" + re.escape(phrase.lower()) + r"\b", caption.lower()) is not None


@pytest.fixture(scope="module")
def procedural_captions():
    v, f = icosphere(1)
    v = v * np.array([0.6, 1.6, 0.9])  # a clear long axis, as most meshes have
    captions, first_half = set(), set()
    seeds = 3000  # the rarest phrasing ("spins clockwise slowly") has a chance of about 1.4% per seed
    for label in LABELS:
        for seed in range(seeds):
            frames = (16, 32)[seed % 2]  # the frame count bounds the bounce count ("four times")
            cap = make_motion(v, f, label=label, rng=seed, frames=frames, name=NAMES[seed % len(NAMES)]).caption
            captions.add(cap)
            if seed < seeds // 2:
                first_half.add(cap)
    return captions, first_half


def test_sampling_covers_every_procedural_phrasing(procedural_captions):
    captions, first_half = procedural_captions
    strip = re.compile(r"^(a |an |the )?(cow|shiba inu|toy|object|robot) ")
    # every phrasing already turned up in the first half of the seeds: the sample is exhaustive
    assert {strip.sub("", c) for c in captions} == {strip.sub("", c) for c in first_half}
    assert len({strip.sub("", c) for c in captions}) > 100


@BOTH
def test_paraphrases_are_not_procedural_captions(procedural_captions, templates):
    captions, _ = procedural_captions
    for template, label in templates:
        phrase = verb_phrase(template)
        hits = [c for c in captions if contains(c, phrase)]
        assert not hits, f"{template!r} ({label}) occurs in training captions: {hits[:3]}"
    # the check itself finds a phrase that is there ("glides forward" is a training caption)
    assert any(contains(c, "glides forward") for c in captions)
    assert any(contains(c, "leaps high into the air") for c in captions)


@BOTH
def test_paraphrases_are_not_quaternius_captions(shared, templates):
    root = shared("data", "quaternius")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".glb", ".gltf"))
    assert len(files) > 20
    captions = set()
    for path in files:
        captions |= {caption_for(path.name, c.name) for c in GltfFile(path).clips}
        captions.add(f"{with_article(object_name(path.name))} moves")
    assert len(captions) > 300 and "a fox gallops" in captions
    for template, label in templates:
        phrase = verb_phrase(template)
        hits = [c for c in captions if contains(c, phrase)]
        assert not hits, f"{template!r} ({label}) occurs in Quaternius captions: {hits[:3]}"


@BOTH
def test_every_label_has_several_paraphrases(templates):
    counts = {label: sum(lab == label for _, lab in templates) for label in LABELS}
    assert set(lab for _, lab in templates) == set(LABELS)
    assert min(counts.values()) >= 2, counts
    assert len({t for t, _ in templates}) == len(templates)  # no duplicates


def test_validation_paraphrases_are_not_evaluation_paraphrases():
    """Defaults chosen on VALIDATION_PARAPHRASES are measured on PARAPHRASES: no phrase of one is in the other."""
    for template, label in VALIDATION_PARAPHRASES:
        phrase = verb_phrase(template)
        hits = [t for t, _ in PARAPHRASES if contains(verb_phrase(t), phrase) or contains(phrase, verb_phrase(t))]
        assert not hits, f"{template!r} ({label}) overlaps evaluation paraphrases {hits}"


def test_paraphrase_cases():
    cases = paraphrase_cases("dog")
    assert len(cases) == len(PARAPHRASES)
    assert cases[0] == PromptCase("the dog turns around on the spot", "spin")
    assert all(c.prompt.startswith("the dog ") and "{" not in c.prompt for c in cases)
    assert [c.label for c in cases] == [lab for _, lab in PARAPHRASES]
    hop = paraphrase_cases("dog", labels=["hop"])
    assert [c.prompt for c in hop] == ["the dog leaps into the air", "the dog springs off the ground and lands again",
                                       "the dog takes a single jump"]
    one = paraphrase_cases("fox", per_label=1)
    assert [c.label for c in one] == list(dict.fromkeys(lab for _, lab in PARAPHRASES))
    assert paraphrase_cases()[0].prompt == "the object turns around on the spot"
    validation = paraphrase_cases("dog", labels=["hop"], templates=VALIDATION_PARAPHRASES)
    assert [c.prompt for c in validation] == [t.format(object="dog") for t, lab in VALIDATION_PARAPHRASES
                                              if lab == "hop"]
    with pytest.raises(MeshflowError, match="unknown motion label 'dance'"):
        paraphrase_cases("dog", labels=["dance"])
    with pytest.raises(MeshflowError, match=r"Expected 'per_label' to be at least 1 \(got 0\)"):
        paraphrase_cases("dog", per_label=0)


def test_generate_with_paraphrases(tmp_path, monkeypatch):
    import trimesh

    from meshflow.eval import motion
    from meshflow.pipeline import AnimationPipeline
    from tests.test_pipeline import make_model_dir

    pipe = AnimationPipeline.from_pretrained(make_model_dir(tmp_path / "model"), device="cpu")
    v, f = icosphere(1)
    trimesh.Trimesh(v, f, process=False).export(tmp_path / "Pebble.obj")
    monkeypatch.setattr(motion, "PARAPHRASES", PARAPHRASES[:4])  # fewer animations; the same code path
    result = generate_and_evaluate(pipe, [tmp_path / "Pebble.obj"], PARAPHRASE, steps=2)
    assert [(r["prompt"], r["label"]) for r in result.rows] == [(t.format(object="pebble"), lab)
                                                                 for t, lab in PARAPHRASES[:4]]
    assert all(isinstance(r["ok"], bool) for r in result.rows)
    assert result.summary()["adherence"] == pytest.approx(np.mean([r["ok"] for r in result.rows]))


def test_generate_records_the_reading_with_prompt_matching(tmp_path):
    """With match_prompt each row's read_as is the phrase the model was conditioned on, its result that of the
    phrase itself; adherence is still checked against the paraphrase's label; without matching, no read_as."""
    import trimesh

    from meshflow.models.text.vocabulary import PromptVocabulary
    from meshflow.pipeline import AnimationPipeline
    from tests.test_pipeline import make_model_dir

    model = make_model_dir(tmp_path / "model")
    PromptVocabulary(["jumps", "spins around"]).save(model)
    pipe = AnimationPipeline.from_pretrained(model, device="cpu")
    v, f = icosphere(1)
    trimesh.Trimesh(v, f, process=False).export(tmp_path / "Pebble.obj")
    cases = [PromptCase("the pebble leaps into the air", "hop"), PromptCase("the pebble jumps", "hop")]
    read = generate_and_evaluate(pipe, [tmp_path / "Pebble.obj"], cases, steps=2, match_prompt=True)
    assert [r["read_as"] for r in read.rows] == ["the pebble jumps", "the pebble jumps"]
    assert [r["prompt"] for r in read.rows] == [c.prompt for c in cases]
    assert read.rows[0]["edge_change"] == read.rows[1]["edge_change"]  # the same conditioning, the same seed
    plain = generate_and_evaluate(pipe, [tmp_path / "Pebble.obj"], cases[:1], steps=2)
    assert "read_as" not in plain.rows[0] and plain.rows[0]["edge_change"] != read.rows[0]["edge_change"]
