"""Atomic writes: a file or folder is either written whole or not at all.

Every writer of meshflow (animations, previews, model directories, training
checkpoints) writes into a temporary file or folder beside its target and
renames it into place when it has finished, so an error or Ctrl-C midway never
leaves a half-written output behind; an :class:`OSError` on the way (disk full, quota)
is an :class:`meshflow.errors.OutputError` naming the output. This module is the bottom of the stack:
it imports nothing from meshflow but the errors.

Temporary names are ``.NAME.tmp-XXXXXXXX`` followed by the writer's suffix (``XXXXXXXX``
is tempfile's random part). Only a ``kill -9`` (or a crash of the machine) can leave
one behind; the first write into a folder in a process removes those of its temporary
files and folders that are older than :data:`STALE_AFTER` seconds (and the
``.NAME.XXXXXXXX.tmp`` files of the earlier naming).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator, List, Optional, Set

from ..errors import MeshflowError, OutputError

STALE_AFTER = 3600.0  # seconds: no write of meshflow takes an hour between two changes of its temporary file
TEMP_MARK = ".tmp-"  # between the target's name and tempfile's random part
_STALE = re.compile(r"^\..+(\.tmp-[a-z0-9_]{8}(\..*)?|\.[a-z0-9_]{8}\.tmp)$")
_swept: Set[str] = set()  # folders already swept in this process


def is_temporary(name: str) -> bool:
    """Whether ``name`` is that of a temporary file or folder of this module's writers."""
    return bool(_STALE.match(name))


def remove_stale_temporaries(folder, older_than: float = STALE_AFTER) -> List[Path]:
    """Removes the writers' temporary files and folders in ``folder`` last changed more than
    ``older_than`` seconds ago (left by a killed process); returns what it removed."""
    folder, now, removed = Path(folder), time.time(), []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not is_temporary(entry.name):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime <= older_than:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass  # another process's, or gone already
    return removed


def _sweep_once(folder: Path) -> None:
    key = os.path.abspath(folder)
    if key not in _swept:
        _swept.add(key)
        remove_stale_temporaries(folder)


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_once(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", suffix=suffix, dir=path.parent)
    except OSError as e:
        raise OutputError(path, e) from None
    tmp = Path(tmp)
    try:
        os.close(fd)
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, path)
    except OutputError:
        raise
    except OSError as e:  # disk full, quota, a file system gone read-only: one line naming the output
        raise OutputError(path, e) from None
    finally:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_once(path.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}{TEMP_MARK}", dir=path.parent))
    except OSError as e:
        raise OutputError(path, e) from None
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
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(path, e) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["STALE_AFTER", "atomic_file", "atomic_folder", "is_temporary", "remove_stale_temporaries",
           "replace_folder"]
