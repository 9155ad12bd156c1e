"""scripts/eval_report.py: the VAE ceiling's definition, the verdicts, and a --quick run end to end."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import trimesh

from meshflow.data.motions import LABELS, make_motion
from meshflow.data.shapes import icosphere
from meshflow.eval.checks import check_motion
from meshflow.io import read_mesh
from meshflow.eval.vae import reconstruct
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]


eval_report = load_script("eval_report")


def test_verdicts_follow_the_targets():
    assert eval_report.verdict("vae_heldout", 0.02) == "met"
    assert eval_report.verdict("vae_heldout", 0.03) == "**missed**"
    assert eval_report.verdict("vae_ceiling", 0.95) == "met"
    assert eval_report.verdict("vae_ceiling", 0.5) == "**missed**"
    assert {k for k in eval_report.TARGETS} == {"vae_heldout", "vae_ceiling", "adherence_procedural",
                                                "adherence_paraphrase", "shape_ratio", "rigid_edge_change",
                                                "speed_5k"}


def test_vae_ceiling_is_conditional_on_passing_before(tmp_path):
    from meshflow.pipeline import AnimationPipeline
    from tests.test_pipeline import make_model_dir

    pipe = AnimationPipeline.from_pretrained(make_model_dir(tmp_path / "model"), device="cpu")
    v, f = icosphere(1)
    trimesh.Trimesh(v * np.array([0.7, 1.4, 1.0]), f, process=False).export(tmp_path / "egg.obj")
    mesh = read_mesh(tmp_path / "egg.obj")
    summary, rows = eval_report.vae_ceiling(pipe, [mesh], [0, 1], 8)
    assert [(r["label"], r["seed"]) for r in rows] == [(lab, s) for s in (0, 1) for lab in LABELS]
    for r in rows:
        motion = make_motion(mesh.vertices, mesh.faces, label=r["label"], rng=r["seed"], frames=8)
        assert r["procedural"] == bool(check_motion(r["label"], motion.frames))
    passing = [r for r in rows if r["procedural"]]
    assert passing and summary["ceiling"] == pytest.approx(np.mean([r["round_trip"] for r in passing]))
    assert summary["vae_round_trip"] == pytest.approx(np.mean([r["round_trip"] for r in rows]))
    assert summary["procedural"] == pytest.approx(len(passing) / len(rows))
    assert set(summary["by_label"]) == set(LABELS)
    assert "ceiling_refined" not in summary and "round_trip_refined" not in rows[0]  # the model does not refine
    pipe.sampling = replace(pipe.sampling, rigidity=0.05)
    refined, refined_rows = eval_report.vae_ceiling(pipe, [mesh], [0], 8)
    for r in refined_rows:
        motion = make_motion(mesh.vertices, mesh.faces, label=r["label"], rng=0, frames=8)
        after, _, _ = reconstruct(pipe.vae, motion.frames, mesh.faces, rigidity=0.05)
        assert r["round_trip_refined"] == bool(check_motion(r["label"], after))
    assert refined["rigidity"] == 0.05 and set(refined["by_label_refined"]) == set(LABELS)


def test_sampler_words():
    metrics = {"steps": 17, "solver": "heun", "guidance": 1.5, "num_samples": 3}
    assert eval_report.sampler_words(metrics) == "17 heun steps, guidance 1.5, best of 3 seeds by `score_sample`"
    assert eval_report.sampler_words({**metrics, "num_samples": 1, "rigidity": 0.003}) == \
        "17 heun steps, guidance 1.5, shape refinement rigidity 0.003"
    assert eval_report.sampler_words({**metrics, "rigidity": 0.003, "match_prompt": True}) == \
        "17 heun steps, guidance 1.5, best of 3 seeds by `score_sample`, shape refinement rigidity 0.003, " \
        "prompts matched to trained phrases"


def test_readings_table():
    rows = [{"name": "bird.glb", "prompt": "the bird leaps into the air", "read_as": "the bird leaps high into the air",
             "label": "hop", "ok": True},
            {"name": "bird.glb", "prompt": "the bird spins clockwise", "read_as": "the bird spins clockwise",
             "label": "spin", "ok": False}]
    lines = eval_report.readings_table(rows)
    assert "1 of 2 read as themselves" in lines[0]
    assert "| bird.glb | the bird leaps into the air | the bird leaps high into the air | hop | yes |" in lines[2]
    assert "| the bird spins clockwise | the bird spins clockwise | spin | no |" in lines[2]
    assert eval_report.readings_table([{k: v for k, v in r.items() if k != "read_as"} for r in rows]) == []


@pytest.mark.slow
def test_quick_report_end_to_end(tmp_path, shared):
    from tests.test_pipeline import make_model_dir

    shared("data", "quaternius")
    model = make_model_dir(tmp_path / "model", frames=16)
    out = tmp_path / "report"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "eval_report.py"), "--quick", "--model", str(model),
                          "--work", str(tmp_path / "work"), "-o", str(out)], capture_output=True, text=True,
                         cwd=ROOT, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["quick"] is True and metrics["steps"] == 16 and metrics["seeds"] == 1
    v = metrics["vae"]["K=512"]
    assert v["num_clips"] == 12 and v["mean_still"] > 0
    assert metrics["adherence"]["num_animations"] == len(LABELS)
    assert metrics["adherence_paraphrase"]["num_animations"] == len(LABELS)  # one paraphrase per label
    assert {r["prompt"].split()[0] for r in metrics["paraphrase_rows"]} == {"the"}
    assert 0 <= metrics["adherence_ceiling"]["ceiling"] <= 1
    assert metrics["shape"]["rigid_animations"] == 2 * len(eval_report.RIGID_PROMPTS)
    assert metrics["speed"][0]["vertices"] > 4000
    assert (out / "dog.png").stat().st_size > 10_000 and "the dog walks forward" in metrics["readme"]["command"]
    report = (out / "REPORT.md").read_text()
    assert "A quick smoke run" in report and "![the dog walks forward](dog.png)" in report
    for what, _, _ in eval_report.TARGETS.values():
        assert what in report
