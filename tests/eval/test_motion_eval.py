"""meshflow.eval.motion: metrics of given and generated animations, prompts, adherence."""
import numpy as np
import pytest

from meshflow.data.motions import LABELS, make_motion
from meshflow.eval.checks import check_motion
from meshflow.errors import MeshflowError
from meshflow.eval.metrics import motion_metrics
from meshflow.eval.motion import (PROCEDURAL, PromptCase, evaluate_animations, format_table, generate_and_evaluate,
                                  procedural_prompts, read_prompts)
from meshflow.io import read_mesh
from meshflow.io import load_animation


def test_given_animations_pass_their_own_labels(labelled_anims):
    folder, labels = labelled_anims
    for name, label in labels.items():
        result = evaluate_animations([folder / name], label=label)
        (row,) = result.rows
        anim = load_animation(folder / name)
        assert row["ok"] is True
        assert row["score"] == pytest.approx(check_motion(label, anim.vertices).score)
        for k, v in motion_metrics(anim.vertices, anim.faces).items():
            assert row[k] == pytest.approx(v)
        assert result.summary()["adherence"] == 1.0
    # a spin checked as a breathe fails: adherence is a real check
    spin = [n for n, lab in labels.items() if lab == "spin"]
    assert evaluate_animations([folder / n for n in spin], label="breathe").summary()["adherence"] == 0.0


def test_clip_folders_and_caption_filter(labelled_anims, clip_folder):
    folder, labels = labelled_anims
    every = evaluate_animations([clip_folder])
    assert len(every.rows) == len(labels) and every.summary()["adherence"] is None
    pulses = evaluate_animations([clip_folder], match="PULSES")  # case-insensitive regular expression
    assert [r["prompt"] for r in pulses.rows] == ["a ball pulses", "a blob pulses"]
    with pytest.raises(MeshflowError, match="no animation whose caption matches 'gallop'"):
        evaluate_animations([clip_folder], match="gallop")
    with pytest.raises(MeshflowError, match="unknown motion label 'dance'"):
        evaluate_animations([folder], label="dance")
    with pytest.raises(MeshflowError, match="not a clip folder"):
        evaluate_animations([folder])  # a folder of npz files is not a clip folder: name the files


def test_glb_animations_are_sampled_per_clip(shared):
    path = shared("data", "quaternius", "fish_pack", "Fish1.glb")
    result = evaluate_animations([path], match="swim")
    assert result.rows and all(r["name"].startswith("Fish1.glb#") for r in result.rows)
    assert all(r["edge_change"] < 0.05 for r in result.rows)  # skinned swimming keeps its edges


def test_meshflow_glb_is_read_as_preview_reads_it(labelled_anims, tmp_path):
    """A GLB written by `meshflow animate` gives its frames and prompt, the same as its npz."""
    from meshflow.io import save_animation

    folder, labels = labelled_anims
    name = sorted(labels)[0]
    anim = load_animation(folder / name)
    glb = save_animation(tmp_path / "anim.glb", anim)
    (a,), (b,) = evaluate_animations([folder / name]).rows, evaluate_animations([glb]).rows
    assert b["name"] == "anim.glb" and b["prompt"] == a["prompt"] == anim.prompt
    for key in ("edge_change", "smoothness", "motion"):
        assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6)


def test_read_prompts(tmp_path):
    p = tmp_path / "prompts.txt"
    p.write_text("# a comment\nspin\ta cow spins\n\nthe horse gallops\n")
    assert read_prompts(p) == [PromptCase("a cow spins", "spin"), PromptCase("the horse gallops", None)]
    p.write_text("spin\tok\ndance\ta cow dances\n")
    with pytest.raises(MeshflowError, match=r"prompts.txt:2: unknown motion label 'dance'"):
        read_prompts(p)
    p.write_text("# nothing\n\n")
    with pytest.raises(MeshflowError, match="prompts.txt: no prompts"):
        read_prompts(p)
    with pytest.raises(MeshflowError, match="missing.txt: no such prompt file"):
        read_prompts(tmp_path / "missing.txt")


def test_procedural_prompts_phrase_every_label(tmp_path):
    import trimesh

    from meshflow.data.shapes import icosphere

    v, f = icosphere(1)
    trimesh.Trimesh(v, f, process=False).export(tmp_path / "Pebble.obj")
    mesh = read_mesh(tmp_path / "Pebble.obj")
    cases = procedural_prompts(mesh, seed=2)
    assert [c.label for c in cases] == list(LABELS)
    for c in cases:
        assert c.prompt == make_motion(mesh.vertices, mesh.faces, label=c.label, rng=2, name="pebble").caption
        assert "pebble" in c.prompt


def test_generate_and_evaluate(tmp_path):
    import trimesh

    from meshflow.data.shapes import icosphere
    from meshflow.pipeline import AnimationPipeline
    from tests.test_pipeline import make_model_dir

    pipe = AnimationPipeline.from_pretrained(make_model_dir(tmp_path / "model"), device="cpu")
    v, f = icosphere(1)
    trimesh.Trimesh(v, f, process=False).export(tmp_path / "ball.obj")
    result = generate_and_evaluate(pipe, [tmp_path / "ball.obj"], PROCEDURAL, seeds=[0, 1], steps=3)
    assert len(result.rows) == 2 * len(LABELS)
    row = result.rows[1]
    anim = pipe(read_mesh(tmp_path / "ball.obj"), row["prompt"], steps=3, seed=row["seed"])
    frames = np.asarray(anim.vertices)
    assert row["ok"] == bool(check_motion(row["label"], frames))
    for k, v_ in motion_metrics(frames, f).items():
        assert row[k] == pytest.approx(v_, rel=1e-5)
    s = result.summary()
    assert set(s["seconds_per_stage"]) == {"text", "encode", "sample", "decode"}
    assert s["adherence"] == pytest.approx(np.mean([r["ok"] for r in result.rows]))
    assert set(s["adherence_by_label"]) == set(LABELS) == set(s["edge_change_by_label"])
    assert s["edge_change_by_label"]["spin"] == pytest.approx(
        np.mean([r["edge_change"] for r in result.rows if r["label"] == "spin"]))
    table = format_table(result)
    assert "prompt adherence" in table and "time per animation" in table and len(table.splitlines()) == 26 + 5
    free = generate_and_evaluate(pipe, [tmp_path / "ball.obj"], [PromptCase("a ball rolls")], steps=3)
    assert free.rows[0]["label"] is None and free.summary()["adherence"] is None
    # best of 3: the row is the pipeline's ranked pick of seeds 4-6, the animation a direct call keeps
    best = generate_and_evaluate(pipe, [tmp_path / "ball.obj"], [PromptCase("a ball rolls", "roll")], steps=3,
                                 seeds=[4], num_samples=3)
    ranked = pipe(read_mesh(tmp_path / "ball.obj"), "a ball rolls", steps=3, seed=4, num_samples=3, return_all=True)
    assert sorted(a.seed for a in ranked) == [4, 5, 6]
    metrics = [motion_metrics(np.asarray(a.vertices), f) for a in ranked]
    assert best.rows[0]["edge_change"] == pytest.approx(metrics[0]["edge_change"], rel=1e-5)
    assert best.rows[0]["motion"] == pytest.approx(metrics[0]["motion"], rel=1e-5)
