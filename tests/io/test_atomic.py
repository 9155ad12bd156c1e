"""Atomic writes (meshflow.io.atomic): the old output stays until the new one is whole."""
import os

import pytest

from meshflow.io.atomic import atomic_file, atomic_folder, replace_folder


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
