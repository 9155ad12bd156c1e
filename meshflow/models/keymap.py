"""Two-way renaming of checkpoint keys between the original implementation and meshflow.

One rule table serves both directions. A rule is ``(original_template,
meshflow_template)`` where ``{i}`` stands for a block number, ``{x}`` for a
name part (letters and digits) and ``{p}`` for ``weight`` or ``bias``, e.g.
``("enc_blocks.{i}.0.attn.to_{x}.{p}", "enc_attn.{i}.lin_{x}.{p}")``.
"""
from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

_PLACEHOLDERS = {"i": r"(?P<i>\d+)", "x": r"(?P<x>[a-z0-9]+)", "p": r"(?P<p>weight|bias)"}


def _compile(template: str) -> "re.Pattern":
    parts = re.split(r"\{(\w)\}", template)  # literal, name, literal, name, ...
    return re.compile("".join(re.escape(part) if k % 2 == 0 else _PLACEHOLDERS[part]
                              for k, part in enumerate(parts)))


class KeyMap:
    """Renames keys with a table of ``(original_template, meshflow_template)`` rules."""

    def __init__(self, rules: Sequence[Tuple[str, str]]):
        self.rules = list(rules)
        self._to_meshflow = [(_compile(src), dst) for src, dst in self.rules]
        self._to_original = [(_compile(dst), src) for src, dst in self.rules]

    @staticmethod
    def _rename(key: str, rules: List) -> Optional[str]:
        for pattern, template in rules:
            m = pattern.fullmatch(key)
            if m:
                return template.format(**m.groupdict())
        return None

    def to_meshflow(self, key: str) -> Optional[str]:
        """The meshflow name of an original key, or ``None`` if no rule matches."""
        return self._rename(key, self._to_meshflow)

    def to_original(self, key: str) -> Optional[str]:
        """The original name of a meshflow key, or ``None`` if no rule matches."""
        return self._rename(key, self._to_original)

    def _rename_all(self, state_dict: Mapping, rules: List) -> Tuple[Dict, List[str]]:
        out, unknown = {}, []
        for key, value in state_dict.items():
            new = self._rename(key, rules)
            if new is None:
                unknown.append(key)
            else:
                out[new] = value
        return out, unknown

    def rename_to_meshflow(self, state_dict: Mapping) -> Tuple[Dict, List[str]]:
        """``(state dict with meshflow names, original keys no rule matches)``."""
        return self._rename_all(state_dict, self._to_meshflow)

    def rename_to_original(self, state_dict: Mapping) -> Tuple[Dict, List[str]]:
        """``(state dict with the original's names, meshflow keys no rule matches)``."""
        return self._rename_all(state_dict, self._to_original)
