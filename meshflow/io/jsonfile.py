"""Reading small JSON files (configs, latent factors) with errors that name the file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Type

from ..errors import MeshflowError


def read_json(path, what: str, error: Type[Exception] = MeshflowError):
    """The parsed content of ``path``; ``error("PATH: WHAT not found")`` or ``error("PATH: invalid JSON (...)")``."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: invalid JSON ({e})") from None
