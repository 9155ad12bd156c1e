"""Atomic writes (meshflow.io.atomic): the old output stays until the new one is whole."""
import errno
import os
import re
import time

import pytest

from meshflow.errors import MeshflowError, OutputError
from meshflow.io.atomic import (STALE_AFTER, atomic_file, atomic_folder, is_temporary, remove_stale_temporaries,
                                replace_folder)


def test_atomic_writers_keep_the_old_output_on_error(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_file(path) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "x").write_text("old")
    with pytest.raises(OSError), atomic_folder(folder, replace=True) as tmp:
        (tmp / "y").write_text("new")
        raise OSError("disk full")
    assert os.listdir(folder) == ["x"] and sorted(os.listdir(tmp_path)) == ["a.txt", "d"]
    with atomic_folder(folder, replace=True) as tmp:
        (tmp / "y").write_text("new")
    assert os.listdir(folder) == ["y"] and sorted(os.listdir(tmp_path)) == ["a.txt", "d"]


def test_atomic_folder_merges_by_default_and_replace_folder(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "x").write_text("old")
    with atomic_folder(folder) as tmp:
        (tmp / "y").write_text("new")
    assert sorted(os.listdir(folder)) == ["x", "y"]
    src = tmp_path / "src"
    src.mkdir()
    (src / "z").write_text("z")
    replace_folder(src, folder)
    assert os.listdir(folder) == ["z"] and sorted(os.listdir(tmp_path)) == ["d"]


def test_temporary_names_follow_the_pattern(tmp_path):
    seen = []
    with atomic_file(tmp_path / "out.glb") as tmp:
        seen.append(tmp.name)
    with atomic_file(tmp_path / "out.glb", suffix=".npz") as tmp:
        seen.append(tmp.name)
    with atomic_folder(tmp_path / "model") as tmp:
        seen.append(tmp.name)
    assert [re.sub(r"tmp-[a-z0-9_]{8}", "tmp-X", n) for n in seen] == [
        ".out.glb.tmp-X.tmp", ".out.glb.tmp-X.npz", ".model.tmp-X"]
    assert all(is_temporary(n) for n in seen)
    assert not any(is_temporary(n) for n in ["out.glb", ".out.glb", ".bashrc", ".x.tmp", "a.b.abcdefgh.tmp",
                                              ".out.glb.tmp-abc.tmp", ".model.old"])


def test_stale_temporaries_are_removed_at_the_next_write(tmp_path):
    """What a `kill -9` leaves (files and folders of the writers' pattern) goes at the next write into the
    folder once older than an hour; fresh ones (another process may be writing) and other files stay."""
    old = time.time() - STALE_AFTER - 60
    stale = [".out.glb.tmp-abcd_123.tmp", ".out.glb.9xk2m_ab.tmp", ".clip.npz.tmp-zzzzzzzz.npz"]
    for name in stale:
        (tmp_path / name).write_bytes(b"x" * 1000)
    (tmp_path / ".model.tmp-qwertyui").mkdir()
    (tmp_path / ".model.tmp-qwertyui" / "config.json").write_text("{}")
    fresh, other = tmp_path / ".out.glb.tmp-fresh___.tmp", tmp_path / ".notes.txt"
    fresh.write_text("being written")
    other.write_text("mine")
    for name in stale + [".model.tmp-qwertyui", other.name]:
        os.utime(tmp_path / name, (old, old))
    with atomic_file(tmp_path / "new.txt") as tmp:
        tmp.write_text("new")
    assert sorted(os.listdir(tmp_path)) == sorted([".notes.txt", fresh.name, "new.txt"])
    assert remove_stale_temporaries(tmp_path) == []  # nothing older than an hour is left
    os.utime(fresh, (old, old))
    assert remove_stale_temporaries(tmp_path) == [fresh]


@pytest.mark.parametrize("writer", ["file", "folder"])
def test_disk_full_is_one_output_error_and_leaves_nothing(writer, tmp_path):
    target = tmp_path / ("x.glb" if writer == "file" else "model")
    context = atomic_file(target) if writer == "file" else atomic_folder(target)
    with pytest.raises(OutputError, match=rf"^{re.escape(str(target))}: cannot be written "
                                          rf"\(No space left on device\)$") as e, context as tmp:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
    assert isinstance(e.value, OSError) and isinstance(e.value, MeshflowError) and os.listdir(tmp_path) == []
    with pytest.raises(OutputError, match=r"x\.glb: cannot be written \(No such file or directory: /nowhere/t\.png\)"):
        with atomic_file(tmp_path / "x.glb"):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), "/nowhere/t.png")
    (tmp_path / "f").write_text("")  # a file where the output's folder should be
    where = re.escape(str(tmp_path / "f"))
    with pytest.raises(OutputError, match=rf"f/x\.glb: cannot be written \(File exists: {where}\)$"):
        with atomic_file(tmp_path / "f" / "x.glb"):
            pass
