"""scripts/validate_matching.py end to end on a tiny model: both variants, the readings, the tables."""
import json

import numpy as np
import trimesh

from meshflow.data.shapes import icosphere
from meshflow.eval.motion import VALIDATION_PARAPHRASES
from meshflow.models.text.vocabulary import PromptVocabulary
from tests.conftest import load_script
from tests.test_pipeline import make_model_dir


def test_validate_matching_compares_both_readings_on_the_same_cases(tmp_path, capsys):
    model = make_model_dir(tmp_path / "model")
    PromptVocabulary(["jumps", "spins around", "sways from side to side"]).save(model)
    v, f = icosphere(1)
    trimesh.Trimesh(v * np.array([0.5, 1.5, 0.8]), f, process=False).export(tmp_path / "Pebble.obj")
    load_script("validate_matching").main(["--model", str(model), "--mesh", str(tmp_path / "Pebble.obj"),
                                           "--json", str(tmp_path / "out.json")])
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "out.json").read_text())
    off, on = result["off"], result["on"]
    expected = [t.format(object="pebble") for t, _ in VALIDATION_PARAPHRASES]
    assert [r["prompt"] for r in off] == expected and [r["prompt"] for r in on] == expected
    assert all("read_as" not in r for r in off)
    assert {r["read_as"] for r in on} <= {"the pebble jumps", "the pebble spins around",
                                          "the pebble sways from side to side"}
    assert on[0]["read_as"] == "the pebble spins around"  # "whirls round and round"
    total_off, total_on = sum(r["ok"] for r in off), sum(r["ok"] for r in on)
    assert f"| all | {total_off}/{len(off)} | {total_on}/{len(on)} |" in out
    assert f"| the pebble whirls round and round | the pebble spins around | {int(on[0]['ok'])}/1 | " \
           f"{int(off[0]['ok'])}/1 |" in out
