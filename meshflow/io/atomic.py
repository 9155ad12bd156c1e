"""Atomic writes: a file or folder is either written whole or not at all.

Every writer of meshflow (animations, previews, model directories, training
checkpoints) writes into a temporary file or folder beside its target and
renames it into place when it has finished, so an error or Ctrl-C midway never
leaves a half-written output behind. This module is the bottom of the stack:
it imports nothing from meshflow but the errors.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from ..errors import MeshflowError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it onto ``path`` if the block succeeds, deletes it otherwise.

    ``suffix`` ends the temporary name (for writers that choose the format from it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def replace_folder(source, target) -> Path:
    """Puts the finished folder ``source`` in the place of ``target`` (replaced as a whole if it exists).

    The old folder is first renamed aside, so at every moment ``target`` is either
    the old folder or the new one, never a mix.
    """
    source, target = Path(source), Path(target)
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)
    return target


@contextmanager
def atomic_folder(path, replace: bool = False, mode: Optional[int] = None) -> Iterator[Path]:
    """Yields a temporary folder beside ``path``; moves it into place if the block succeeds, deletes it otherwise.

    Args:
        path: the target folder.
        replace (bool, optional): replace an existing folder as a whole (see
            :func:`replace_folder`); otherwise the new files are moved into it,
            leaving its other files alone. (default: :obj:`False`)
        mode (int, optional): permission bits of the folder. (default: ``0o777`` less the umask)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask() if mode is None else mode)
        yield tmp
        if replace or not path.exists():
            replace_folder(tmp, path)
        else:
            if not path.is_dir():
                raise MeshflowError(f"{path}: exists and is not a folder")
            for item in sorted(tmp.iterdir()):
                os.replace(item, path / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["atomic_file", "atomic_folder", "replace_folder"]
