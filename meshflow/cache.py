"""Where meshflow keeps files between runs: ``$MESHFLOW_CACHE``, else ``$XDG_CACHE_HOME/meshflow``,
else ``~/.cache/meshflow``."""
import os
from pathlib import Path

CACHE_ENV = "MESHFLOW_CACHE"


def cache_dir() -> Path:
    """The meshflow cache folder (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "meshflow"
