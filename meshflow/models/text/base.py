r"""The text-encoder interface: ``encoder(texts) -> TextFeatures(tokens, mask)``, with a cache.

Every encoder keeps the features of recently seen texts in an LRU cache
(``cache_size`` entries) and returns them collated, right-padded.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn


class TextFeatures(NamedTuple):
    """Per-token text features; unpacks as ``tokens, mask = features``."""

    tokens: Tensor  # (B, S, D)
    mask: Optional[Tensor]  # (B, S) bool, True = real token; None = attend to every position

    def to(self, device=None, dtype=None) -> "TextFeatures":
        """Moves both tensors (``dtype`` applies to the tokens only)."""
        mask = None if self.mask is None else self.mask.to(device)
        return TextFeatures(self.tokens.to(device=device, dtype=dtype), mask)


def mean_pool(features: TextFeatures) -> Tensor:
    """Masked mean over the tokens: one ``(B, D)`` vector per text (sentence-transformers pooling)."""
    tokens, mask = features
    if mask is None:
        return tokens.mean(1)
    w = mask.to(tokens.dtype)[..., None]  # (B, S, 1)
    return (tokens * w).sum(1) / w.sum(1).clamp(min=1e-9)


class TextEncoder(nn.Module):
    """Base class: ``forward(texts) -> TextFeatures``, with an LRU cache of per-text features.

    Subclasses implement ``_encode(texts) -> (tokens (B, S, D), mask (B, S) or None)``
    and ``config()`` (the JSON stored in a model directory).
    """

    name: str = ""
    dim: int = 0

    def __init__(self, cache_size: int = 4096):
        super().__init__()
        self.cache_size = cache_size
        self._cache: "OrderedDict[str, Tuple[Tensor, Optional[Tensor]]]" = OrderedDict()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def clear_cache(self) -> None:
        self._cache.clear()

    def config(self) -> dict:
        raise NotImplementedError

    def _encode(self, texts: List[str]) -> Tuple[Tensor, Optional[Tensor]]:
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, texts: Union[str, Sequence[str]]) -> TextFeatures:
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError(f"Expected a list of strings (got {[type(t).__name__ for t in texts]})")
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh: Dict[str, Tuple[Tensor, Optional[Tensor]]] = {}
        if todo:
            tokens, mask = self._encode(todo)
            for i, text in enumerate(todo):
                if mask is None:
                    fresh[text] = (tokens[i].cpu(), None)
                else:
                    n = int(mask[i].sum())  # valid tokens come first (right padding)
                    fresh[text] = (tokens[i, :n].cpu(), mask[i, :n].cpu())
        rows = []
        for text in texts:
            if text in fresh:
                rows.append(fresh[text])
            else:
                rows.append(self._cache[text])
                self._cache.move_to_end(text)
        if self.cache_size > 0:
            for text, row in fresh.items():
                self._cache[text] = row
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return _collate(rows, self.device)

    def encode(self, texts: Union[str, Sequence[str]]) -> TextFeatures:
        return self(texts)


def _collate(rows, device) -> TextFeatures:
    if rows[0][1] is None:
        return TextFeatures(torch.stack([r[0] for r in rows]).to(device), None)
    S = max(r[0].shape[0] for r in rows)
    D = rows[0][0].shape[-1]
    tokens = rows[0][0].new_zeros(len(rows), S, D)
    mask = torch.zeros(len(rows), S, dtype=torch.bool)
    for i, (tok, m) in enumerate(rows):
        tokens[i, : tok.shape[0]] = tok
        mask[i, : tok.shape[0]] = m
    return TextFeatures(tokens.to(device), mask.to(device))
