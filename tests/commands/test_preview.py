"""`meshflow preview`: bad input exits 2 and writes nothing (rendering: tests/commands/test_animate.py)."""
import os

from meshflow.commands.main import main


def test_preview_bad_input(tmp_path, capsys):
    (tmp_path / "a.glb").write_bytes(b"nope")
    assert main(["preview", str(tmp_path / "a.glb"), "-o", str(tmp_path / "a.gif")]) == 2
    assert "meshflow preview: error: " in capsys.readouterr().err
    assert main(["preview", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "a.gif")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["a.glb"]
