r"""Prompt matching: read a prompt as the closest phrase a model was trained on.

A small model trained on a few hundred caption forms follows them, but not the many
other ways a user may say the same thing ("leaps into the air" for "jumps"). A
:class:`PromptVocabulary` holds the motion phrases of a model's training captions (the
caption without its subject: "hops up and lands" of "a horse hops up and lands") and
reads a prompt as its closest one: the prompt's subject :math:`s` and rest :math:`q`
(:func:`split_subject`), then

.. math::
    j^\star = \arg\max_j \cos\bigl(e(\text{"the object "} q),\ e(\text{"the object "} v_j)\bigr),
    \qquad \text{text} = s\ v_{j^\star}

with :math:`e` the text encoder's mean-pooled features (for ``minilm``, the
sentence-transformers sentence embedding) and :math:`v_j` the phrases. Both sides get
the same neutral subject, so the match compares motions, not objects; the prompt's own
subject is put back. A prompt whose rest is a phrase of the vocabulary reads as itself.
The model is then conditioned on ``text``; the animation keeps the prompt as given.

Beyond the paper (the original conditions on the prompt as it is). A model directory
holds its vocabulary in ``vocabulary.json`` (``{"phrases": [...]}``) and, beside it, the phrases'
features in ``vocabulary.safetensors`` (for the encoder it names; computed on first use when absent
or for another encoder).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from safetensors.torch import load_file, save

from ...errors import CheckpointError
from ...io.atomic import atomic_file
from .base import TextEncoder, TextFeatures, mean_pool

#: the file of a model directory that holds its vocabulary
VOCABULARY_FILE = "vocabulary.json"
#: the file beside it that holds the phrases' features
FEATURES_FILE = "vocabulary.safetensors"
#: the subject both sides of a match get
NEUTRAL_SUBJECT = "the object"
_SUBJECT = re.compile(r"^\s*((?:the|a|an)\s+\S+)\s+(\S.*?)\s*$", re.IGNORECASE)


def split_subject(text: str) -> Tuple[Optional[str], str]:
    """``"the dog leaps into the air"`` -> ``("the dog", "leaps into the air")``: a leading article and the
    word after it; ``(None, text)`` when the text does not start with an article."""
    m = _SUBJECT.match(text)
    return (m.group(1), m.group(2)) if m else (None, text.strip())


class PromptMatch(NamedTuple):
    """What a prompt was read as: the ``text`` the model sees, the vocabulary's ``phrase`` in it and
    the cosine ``similarity`` of the match (1 for a phrase of the vocabulary)."""
    text: str
    phrase: str
    similarity: float


class PromptVocabulary:
    r"""The motion phrases of a model's training captions, matched by sentence embedding.

    Args:
        phrases: the phrases (captions without their subject), deduplicated in order.

    Embeddings are computed on the first :meth:`match` with that encoder (a few hundred
    phrases: about a second on CPU) and kept.
    """

    def __init__(self, phrases: Iterable[str]):
        self.phrases: List[str] = list(dict.fromkeys(p.strip() for p in phrases if p and p.strip()))
        if not self.phrases:
            raise ValueError("Expected at least one phrase for a prompt vocabulary")
        self._index = {p.lower(): i for i, p in enumerate(self.phrases)}
        self._embeddings: Optional[Tensor] = None
        self._encoder_id: Optional[int] = None
        self._stored: Optional[Tuple[str, Tensor]] = None  # (encoder name, features) read from a file

    @property
    def digest(self) -> str:
        """A hash of the phrases, which stored features must match."""
        return hashlib.sha1("\n".join(self.phrases).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.phrases)

    @classmethod
    def from_captions(cls, captions: Iterable[str]) -> "PromptVocabulary":
        """The phrases of training captions (each without its subject, :func:`split_subject`)."""
        return cls(split_subject(c)[1] for c in captions)

    @classmethod
    def load(cls, path) -> "PromptVocabulary":
        path = Path(path)
        try:
            phrases = json.loads(path.read_text())["phrases"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path}: not a prompt vocabulary ({type(e).__name__}: {e})") from None
        if not isinstance(phrases, list) or not phrases or not all(isinstance(p, str) for p in phrases):
            raise CheckpointError(f"{path}: Expected 'phrases' to be a non-empty list of strings")
        vocabulary = cls(phrases)
        features = path.parent / FEATURES_FILE
        if features.is_file():
            from safetensors import safe_open

            with safe_open(str(features), "pt") as f:
                meta = f.metadata() or {}
            if meta.get("phrases") == vocabulary.digest and meta.get("encoder"):
                vocabulary._stored = (meta["encoder"], load_file(str(features))["embeddings"].float())
        return vocabulary

    def files(self, encoder: Optional[TextEncoder] = None) -> Dict[str, Union[str, bytes]]:
        """The vocabulary's files of a model directory, name -> content: :data:`VOCABULARY_FILE` (the phrases)
        and, with ``encoder``, :data:`FEATURES_FILE` (their features, with the encoder's name)."""
        out: Dict[str, Union[str, bytes]] = {VOCABULARY_FILE: json.dumps({"phrases": self.phrases}, indent=0) + "\n"}
        if encoder is not None:
            out[FEATURES_FILE] = save({"embeddings": self.embeddings(encoder).contiguous()},
                                      metadata={"encoder": encoder.name, "phrases": self.digest})
        return out

    def save(self, directory, encoder: Optional[TextEncoder] = None) -> Path:
        """Writes :meth:`files` into ``directory`` (a model directory); returns the phrases' file."""
        directory = Path(directory)
        for name, content in self.files(encoder).items():
            with atomic_file(directory / name) as tmp:
                tmp.write_bytes(content if isinstance(content, bytes) else content.encode())
        return directory / VOCABULARY_FILE

    @staticmethod
    def embed(encoder: TextEncoder, texts: Sequence[str], batch_size: int = 128) -> Tensor:
        """Unit-length mean-pooled features of ``texts`` (len, D), float32 on CPU; past the encoder's
        prompt cache, which the phrases would otherwise fill."""
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                e = mean_pool(TextFeatures(*encoder._encode(list(texts[i:i + batch_size])))).float().cpu()
                out.append(torch.nn.functional.normalize(e, dim=-1))
        return torch.cat(out)

    def embeddings(self, encoder: TextEncoder) -> Tensor:
        """(P, D) the phrases' features (with the neutral subject), computed once per encoder."""
        if self._embeddings is None or self._encoder_id != id(encoder):
            if self._stored is not None and self._stored[0] == encoder.name:
                self._embeddings, self._encoder_id = self._stored[1], id(encoder)
                return self._embeddings
            texts = [f"{NEUTRAL_SUBJECT} {p}" for p in self.phrases]
            self._embeddings = self.embed(encoder, texts)
            self._encoder_id = id(encoder)
        return self._embeddings

    def match(self, prompt: str, encoder: TextEncoder) -> PromptMatch:
        """Reads ``prompt`` as its closest phrase (module docstring); an empty prompt stays empty."""
        subject, rest = split_subject(prompt)
        if not rest:
            return PromptMatch(prompt, "", 0.0)
        subject = subject or NEUTRAL_SUBJECT
        if rest.lower() in self._index:
            phrase, similarity = self.phrases[self._index[rest.lower()]], 1.0
        else:
            scores = self.embeddings(encoder) @ self.embed(encoder, [f"{NEUTRAL_SUBJECT} {rest}"])[0]  # (P,)
            j = int(scores.argmax())
            phrase, similarity = self.phrases[j], float(scores[j])
        return PromptMatch(f"{subject} {phrase}", phrase, similarity)


def load_vocabulary(model_dir) -> Optional[PromptVocabulary]:
    """A model directory's :data:`VOCABULARY_FILE`, or ``None`` when it has none."""
    path = Path(model_dir) / VOCABULARY_FILE if model_dir is not None else None
    return PromptVocabulary.load(path) if path is not None and path.is_file() else None


__all__ = ["FEATURES_FILE", "NEUTRAL_SUBJECT", "VOCABULARY_FILE", "PromptMatch", "PromptVocabulary", "load_vocabulary",
           "split_subject"]
