"""`meshflow eval vae|motion` end to end: tables, JSON, and errors that exit 2."""
import json

import numpy as np
import pytest
import torch
import trimesh

from meshflow.commands.main import main
from meshflow.data.shapes import icosphere
from tests.test_pipeline import make_model_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("eval_model") / "tiny")


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_vae_table_and_json(model_dir, clip_folder, capsys):
    out = _json(capsys, ["eval", "vae", "--model", str(model_dir), "--data", str(clip_folder), "--tokens", "12",
                         "--json"])
    assert {"mean", "p90", "clips", "mean_sample", "mean_still", "seconds_per_clip"} <= set(out)
    assert len(out["clips"]) == 6 and out["tokens"] == 12
    assert out["mean"] == pytest.approx(np.mean([c["error"] for c in out["clips"]]))
    assert main(["eval", "vae", "--model", str(model_dir), "--data", str(clip_folder), "--limit", "2"]) == 0
    text = capsys.readouterr().out
    assert "2 clips" in text and "mean per-vertex error" in text and "90th percentile" in text and "no motion" in text


def test_eval_motion_given_and_generated(model_dir, labelled_anims, tmp_path, capsys):
    folder, labels = labelled_anims
    spins = sorted(str(folder / n) for n, lab in labels.items() if lab == "spin")
    out = _json(capsys, ["eval", "motion", *spins, "--label", "spin", "--json"])
    assert out["adherence"] == 1.0 and len(out["animations"]) == len(spins)
    assert out["seconds_per_animation"] is None  # given animations are not timed

    v, f = icosphere(1)
    trimesh.Trimesh(v, f, process=False).export(tmp_path / "ball.obj")
    out = _json(capsys, ["eval", "motion", "--generate", "--model", str(model_dir), "--meshes",
                         str(tmp_path / "ball.obj"), "--prompt", "a ball spins", "--label", "spin", "--steps", "3",
                         "--seeds", "2", "--json"])
    assert [a["seed"] for a in out["animations"]] == [0, 1] and out["seconds_per_animation"] > 0
    assert out["adherence"] in (0.0, 0.5, 1.0)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("hop\ta ball hops\na ball rests\n")
    assert main(["eval", "motion", "--generate", "--model", str(model_dir), "--meshes", str(tmp_path / "ball.obj"),
                 "--prompts", str(prompts), "--steps", "3"]) == 0
    text = capsys.readouterr().out
    assert "a ball hops" in text and "a ball rests" in text and "prompt adherence" in text


@pytest.mark.parametrize("argv, message", [
    (["eval", "motion"], "give animations to evaluate"),
    (["eval", "motion", "--generate"], "--generate needs --meshes"),
    (["eval", "motion", "x.npz", "--label", "dance"], "unknown motion label 'dance'"),
    (["eval", "motion", "missing.npz"], "missing.npz: no such file"),
    (["eval", "motion", "--generate", "--meshes", "missing.obj"], "missing.obj"),
    (["eval", "motion", "--seeds", "0", "x.npz"], "Expected 'seeds' to be an integer of at least 1 (got 0)"),
    (["eval", "vae", "--data", "x", "--model", "m", "--tokens", "0"],
     "Expected 'tokens' to be an integer of at least 1 (got 0)"),
    (["eval", "motion", "--generate", "--model", "m", "--meshes", "a.obj", "--steps", "1"],
     "Expected 'steps' to be an integer of at least 2 (got 1)"),
    (["eval", "motion", "--generate", "--model", "m", "--meshes", "a.obj", "--guidance", "nan"],
     "Expected 'guidance' to be a finite number (got nan)"),
    (["eval", "vae", "--data", "x", "--model", "m", "--device", "gpu0"],
     "Expected 'device' to be auto, cpu, cuda or cuda:N (got 'gpu0')"),
    *([] if torch.cuda.is_available() else [
        (["eval", "vae", "--data", "x", "--model", "m", "--device", "cuda"], "Expected a CUDA GPU for device 'cuda'"),
        (["eval", "motion", "--generate", "--model", "m", "--meshes", "a.obj", "--device", "cuda"],
         "Expected a CUDA GPU for device 'cuda'")]),
    (["eval", "vae", "--data", "missing_clips"], "missing_clips: no such file or folder"),
])
def test_eval_errors_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("meshflow eval: error:") and message in err
