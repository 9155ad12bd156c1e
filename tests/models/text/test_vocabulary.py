"""meshflow.models.text.vocabulary: subjects, exact and nearest phrases, stored features, files and errors."""
import json
import re

import pytest
import torch
import torch.nn.functional as F

from meshflow.errors import CheckpointError
from meshflow.models.text import MiniLMEncoder, TextFeatures, mean_pool
from meshflow.models.text.vocabulary import (FEATURES_FILE, NEUTRAL_SUBJECT, VOCABULARY_FILE, PromptVocabulary,
                                             load_vocabulary, split_subject)

PHRASES = ["jumps", "walks forward", "spins around", "wags its tail", "flies"]


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEncoder()


def test_split_subject():
    assert split_subject("the dog leaps into the air") == ("the dog", "leaps into the air")
    assert split_subject("  A horse gallops ") == ("A horse", "gallops")
    assert split_subject("an owl flies") == ("an owl", "flies")
    assert split_subject("leaps into the air") == (None, "leaps into the air")
    assert split_subject("theory of motion") == (None, "theory of motion")  # "the" must be a word
    assert split_subject("the dog") == (None, "the dog")  # nothing after the subject


def test_from_captions_keeps_each_phrase_once_in_order():
    vocabulary = PromptVocabulary.from_captions(["a horse gallops", "the dog jumps", "a cat gallops", "flies"])
    assert vocabulary.phrases == ["gallops", "jumps", "flies"] and len(vocabulary) == 3
    with pytest.raises(ValueError, match="at least one phrase"):
        PromptVocabulary(["", "  "])


def test_match_reads_a_paraphrase_as_its_nearest_phrase_and_keeps_the_subject(minilm):
    vocabulary = PromptVocabulary(PHRASES)
    read = vocabulary.match("the cat leaps into the air", minilm)
    assert read.text == "the cat jumps" and read.phrase == "jumps" and 0.3 < read.similarity < 1.0
    assert vocabulary.match("the robot strolls ahead", minilm).text == "the robot walks forward"
    assert vocabulary.match("soars through the sky", minilm).text == f"{NEUTRAL_SUBJECT} flies"
    # the reference: cosine of the neutral-subject sentence embeddings, argmax over the phrases
    @torch.no_grad()
    def embed(text):
        return F.normalize(mean_pool(TextFeatures(*minilm._encode([text]))), dim=-1)[0]
    scores = torch.stack([embed(f"the object {p}") for p in PHRASES]) @ embed("the object leaps into the air")
    assert read.similarity == pytest.approx(float(scores.max()), abs=1e-5) and int(scores.argmax()) == 0


def test_match_of_a_trained_phrase_is_the_prompt_itself_without_encoding(minilm, monkeypatch):
    vocabulary = PromptVocabulary(PHRASES)
    monkeypatch.setattr(minilm, "_encode", lambda texts: pytest.fail(f"encoded {texts}"))
    read = vocabulary.match("The Dog Walks Forward", minilm)
    assert read.text == "The Dog walks forward" and read.similarity == 1.0
    assert vocabulary.match("", minilm).text == "" and vocabulary.match("   ", minilm).phrase == ""


def test_saved_features_are_the_computed_ones_and_are_used(minilm, tmp_path, monkeypatch):
    vocabulary = PromptVocabulary(PHRASES)
    path = vocabulary.save(tmp_path, minilm)
    assert path == tmp_path / VOCABULARY_FILE and json.loads(path.read_text()) == {"phrases": PHRASES}
    assert (tmp_path / FEATURES_FILE).is_file()
    loaded = load_vocabulary(tmp_path)
    assert loaded.phrases == PHRASES
    fresh = PromptVocabulary(PHRASES).embeddings(minilm)
    calls = []
    encode = minilm._encode
    monkeypatch.setattr(minilm, "_encode", lambda texts: calls.append(list(texts)) or encode(texts))
    torch.testing.assert_close(loaded.embeddings(minilm), fresh)
    assert calls == []  # read from the file, not computed
    loaded.match("the cat leaps into the air", minilm)
    assert calls == [["the object leaps into the air"]]  # only the prompt is encoded


def test_features_of_other_phrases_or_another_encoder_are_not_used(minilm, tmp_path, monkeypatch):
    PromptVocabulary(PHRASES).save(tmp_path, minilm)
    path = tmp_path / VOCABULARY_FILE
    path.write_text(json.dumps({"phrases": PHRASES[:3]}))  # phrases changed after the features were written
    assert PromptVocabulary.load(path)._stored is None
    PromptVocabulary(PHRASES).save(tmp_path)  # no encoder: the phrases alone (the old features stay)
    vocabulary = load_vocabulary(tmp_path)
    monkeypatch.setattr(minilm, "name", "another")
    calls = []
    encode = minilm._encode
    monkeypatch.setattr(minilm, "_encode", lambda texts: calls.append(len(texts)) or encode(texts))
    vocabulary.embeddings(minilm)
    assert calls == [len(PHRASES)]  # features stored for "minilm" are not another encoder's


def test_load_errors(tmp_path):
    assert load_vocabulary(tmp_path) is None and load_vocabulary(None) is None
    path = tmp_path / VOCABULARY_FILE
    path.write_text("{not json")
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))}: not a prompt vocabulary \(JSONDecodeError: "):
        load_vocabulary(tmp_path)
    path.write_text(json.dumps({"words": ["jumps"]}))
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))}: not a prompt vocabulary \(KeyError: 'phrases'\)$"):
        PromptVocabulary.load(path)
    for phrases in ([], "jumps", ["jumps", 3]):
        path.write_text(json.dumps({"phrases": phrases}))
        with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))}: Expected 'phrases' to be a non-empty list of strings$"):
            PromptVocabulary.load(path)
