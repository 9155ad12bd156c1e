import json
import subprocess
import sys

import pytest

from meshflow.cli import main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "inspect" in capsys.readouterr().out


def test_inspect_json_on_spot(shared, capsys):
    assert main(["inspect", str(shared("data", "static", "spot.obj")), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {k: info[k] for k in ("vertices", "welded_vertices", "faces")} == {
        "vertices": 3225, "welded_vertices": 2930, "faces": 5856}
    assert set(info) >= {"vertices", "welded_vertices", "faces", "edges", "components", "bbox_min", "bbox_max"}


def test_inspect_table(shared, capsys):
    assert main(["inspect", str(shared("data", "static", "spot.obj"))]) == 0
    out = capsys.readouterr().out
    assert "vertices (welded)" in out and "2930" in out


def test_inspect_bad_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing.glb")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"meshflow inspect: error: {tmp_path / 'missing.glb'}: file not found"


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "meshflow", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "inspect" in out.stdout
