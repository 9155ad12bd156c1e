"""`meshflow inspect` on Spot: JSON, table, and a missing file."""
import json

from meshflow.commands.main import main


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
