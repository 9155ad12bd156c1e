"""Long clips and prompt timelines (meshflow.sequence): chaining, seams, the loop, timeline files and their errors."""
import json
import os
import re
from dataclasses import replace

import numpy as np
import pytest

from meshflow.commands.main import main
from meshflow.data.shapes import icosphere
from meshflow.errors import MeshflowError
from meshflow.io import read_mesh
from meshflow.sequence import (TimelineEntry, animate_sequence, crossfade, default_overlap, make_timeline,
                               plan_frames, plan_windows, read_timeline, restore_edges, seam_metrics)
from tests.commands.test_animate import MESH


def crossfade_loop(previous, window, overlap):
    """The velocity cross-fade one frame at a time: the reference of crossfade."""
    n, T, o = len(previous), len(window), overlap
    out = [previous[k].astype(np.float64) for k in range(n - o + 1)]
    for k in range(T - 1):
        vb = window[k + 1] - window[k]
        if k < o - 1:
            x = (k + 1) / o
            w = x * x * (3 - 2 * x)
            v = (1 - w) * (previous[n - o + k + 1] - previous[n - o + k]) + w * vb
        else:
            v = vb
        out.append(out[-1] + v)
    return np.stack(out).astype(np.float32)


# ---------------------------------------------------------------- chaining ---
@pytest.mark.parametrize("overlap", [1, 2, 4, 7])
def test_crossfade_matches_a_simple_loop(overlap):
    rng = np.random.default_rng(overlap)
    previous = np.cumsum(rng.normal(size=(10, 5, 3)), axis=0)
    window = np.cumsum(rng.normal(size=(8, 5, 3)), axis=0)
    out = crossfade(previous, window, overlap)
    assert out.shape == (10 - overlap + 8, 5, 3)
    np.testing.assert_allclose(out, crossfade_loop(previous, window, overlap), atol=1e-4)
    np.testing.assert_array_equal(out[:10 - overlap + 1], previous[:10 - overlap + 1].astype(np.float32))
    # After the overlap the clip moves with the new window's velocity.
    np.testing.assert_allclose(np.diff(out[10:], axis=0), np.diff(window[overlap:], axis=0), atol=1e-4)


def test_crossfade_position_mode_and_bad_overlap():
    previous = np.zeros((6, 2, 3))
    window = np.arange(8.0).reshape(8, 1, 1) * np.ones((8, 2, 3))
    out = crossfade(previous, window, 3, mode="position")
    assert out.shape == (11, 2, 3)
    np.testing.assert_allclose(out[-1], window[-1] - window[0])  # the window from the rest pose
    for bad in (0, 7, 8):
        with pytest.raises(ValueError, match="overlap"):
            crossfade(previous[:6], window[:7], bad)
    with pytest.raises(ValueError, match="mode"):
        crossfade(previous, window, 2, mode="spline")


def test_plan_frames_and_windows():
    entries = [TimelineEntry("a"), TimelineEntry("b"), TimelineEntry("c")]
    assert plan_frames(entries, 16, 8) == [16, 8, 8]  # one window each
    assert plan_frames(entries, 16, 8, frames=50) == [17, 17, 16]
    assert plan_frames([TimelineEntry("a", 10), TimelineEntry("b")], 16, 8, frames=30) == [10, 20]
    with pytest.raises(MeshflowError, match="Expected 'frames' to be the timeline's total 10 \\(got 12\\)"):
        plan_frames([TimelineEntry("a", 10)], 16, 8, frames=12)
    with pytest.raises(MeshflowError, match="at least 3"):
        plan_frames(entries, 16, 8, frames=2)
    windows, joins = plan_windows([64], 16, 8)
    assert windows == [0] * 7 and joins == [8, 16, 24, 32, 40, 48]
    windows, joins = plan_windows([16, 8, 8], 16, 8)
    assert windows == [0, 1, 2] and joins == [8, 16]
    assert default_overlap(16) == 8 and default_overlap(8) == 4 and default_overlap(2) == 1


def test_restore_edges_takes_out_stretch_and_keeps_rigid_motion():
    v, f = icosphere(2)
    edges = np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1), axis=0)
    rest = np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)
    c, s = np.cos(0.7), np.sin(0.7)
    moved = v @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T + 1.5
    np.testing.assert_allclose(restore_edges(moved, edges, rest), moved, atol=1e-5)
    stretched = moved + np.random.default_rng(0).normal(scale=0.02, size=v.shape)

    def error(x):
        return np.abs(np.linalg.norm(x[edges[:, 0]] - x[edges[:, 1]], axis=1) - rest).mean()

    assert error(restore_edges(stretched, edges, rest)) < error(stretched) / 4


def test_seam_metrics():
    t = np.arange(40, dtype=np.float64)
    smooth = np.stack([np.stack([np.sin(t / 5), t * 0, t * 0], -1)] * 3, axis=1)  # (40, 3, 3)
    kinked = smooth.copy()
    kinked[20:, :, 1] += (t[20:] - 20)[:, None] * 0.5  # a velocity jump at frame 20
    faces = np.array([[0, 1, 2]])
    assert seam_metrics(smooth, faces, [18], 4).join_ratio < 1.5
    assert seam_metrics(kinked, faces, [18], 4).join_ratio > 5


# ------------------------------------------------------------ the pipeline ---
def test_animate_sequence_matches_a_loop_over_windows(pipe):
    """Window j is sampled from the frame its overlap starts at, with seed + j; the clip is their cross-fade."""
    mesh = read_mesh(MESH)
    clip = animate_sequence(pipe, mesh, make_timeline("it walks"), frames=21, steps=2, seed=3, restore=0)
    assert clip.vertices.shape == (21, len(mesh.vertices), 3) and clip.seed == 3
    T, o = pipe.frames, default_overlap(pipe.frames)
    out, j = pipe(mesh, "it walks", steps=2, seed=3).vertices, 1
    while len(out) < 21:
        rest = replace(mesh, vertices=out[len(out) - o].copy())
        out = crossfade(out, pipe(rest, "it walks", steps=2, seed=3 + j).vertices, o)  # checked against the loop
        j += 1
    np.testing.assert_allclose(clip.vertices, out[:21], atol=1e-4)
    assert "chained 5 windows of 8 frames, 4 frames of overlap" in clip.notes[0]

    # Seams: the velocity changes at the joins no more than the windows' own velocities do.
    acc = np.linalg.norm(np.diff(clip.vertices, 2, axis=0), axis=-1).mean(axis=1)
    vel = np.linalg.norm(np.diff(clip.vertices, axis=0), axis=-1).mean(axis=1)
    assert acc.max() <= 2 * vel.max()

    # With the restoration, the clip is still continuous and has its length.
    fixed = animate_sequence(pipe, mesh, make_timeline("it walks", ["it jumps"]), steps=2, seed=3)
    assert fixed.vertices.shape == (T + T - o, len(mesh.vertices), 3)
    assert fixed.prompt == "it walks / then: it jumps"
    jump = np.linalg.norm(np.diff(fixed.vertices, axis=0), axis=-1).max()
    extent = np.ptp(mesh.vertices, axis=0).max()
    assert jump < 0.5 * extent


def test_the_loop_closes_the_whole_clip(pipe):
    clip = animate_sequence(pipe, MESH, make_timeline("it spins"), frames=21, steps=2, seed=0)
    looped = clip.looped()
    gap = np.abs(clip.vertices[-1] - clip.vertices[0]).max()
    assert gap > 0
    assert np.abs(looped.vertices[-1] - looped.vertices[0]).max() < 0.1 * gap
    np.testing.assert_array_equal(looped.vertices[0], clip.vertices[0])


# --------------------------------------------------------------- timelines ---
def test_read_timeline_text_and_json(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("# a walk, then a jump\nprompt, frames\n\nwalks forward, 32\n\"jumps, high\", 8\nspins around\n")
    assert read_timeline(text) == [TimelineEntry("walks forward", 32, 4), TimelineEntry("jumps, high", 8, 5),
                                   TimelineEntry("spins around", None, 6)]
    js = tmp_path / "t.json"
    js.write_text('[\n  {"prompt": "walks forward", "frames": 32},\n  ["jumps", 8],\n  {"prompt": "spins"}\n]\n')
    assert read_timeline(js) == [TimelineEntry("walks forward", 32, 2), TimelineEntry("jumps", 8, 3),
                                 TimelineEntry("spins", None, 4)]
    assert make_timeline("a", ["b"]) == [TimelineEntry("a"), TimelineEntry("b")]


@pytest.mark.parametrize("name, content, pattern", [
    ("t.txt", "walks, 16\njumps, x3\n", r"t.txt: line 2: Expected the frames to be an integer of at least 1 "
                                       r"\(got 'x3'\)"),
    ("t.txt", "walks, 16\n\njumps, 0\n", r"line 3: Expected the frames to be an integer of at least 1 \(got 0\)"),
    ("t.txt", "walks, fast, 16\n", r"line 1: Expected 'prompt, frames' \(got 3 fields; quote a prompt"),
    ("t.txt", "walks\n , 16\n", r"line 2: Expected a prompt \(got ''\)"),
    ("t.txt", "# nothing\n\n", r"Expected at least one 'prompt, frames' row \(got none\)"),
    ("t.json", '[\n {"prompt": "a"},\n {"prompt": "b", "frames": -2}\n]', r"line 3: Expected the frames"),
    ("t.json", '[\n {"prompt": "a"},\n\n {"prompt": "b", "speed": 2}\n]', r"line 4: Expected the keys prompt"),
    ("t.json", '[\n {"prompt": "a"},\n  42\n]', r"line 3: Expected \{\"prompt\""),
    ("t.json", '[\n {"prompt": "a"\n]', r"line 3: not valid JSON"),
    ("t.json", '{"prompt": "a"}', r"Expected a JSON list of rows"),
])
def test_bad_timeline_rows_name_the_line(tmp_path, name, content, pattern):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(MeshflowError, match=pattern):
        read_timeline(path)


# --------------------------------------------------------- the command line ---
def test_animate_long_clip_and_timeline_cli(model_dir, tmp_path, capsys):
    out = tmp_path / "long.npz"
    rc = main(["animate", str(MESH), "--prompt", "it walks", "--frames", "20", "--loop", "-o", str(out),
               "--model", str(model_dir), "--steps", "2", "--seed", "0", "-q"])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "20 frames at 24 fps, looping" in stdout and "note: chained 4 windows" in stdout
    timeline = tmp_path / "t.json"
    timeline.write_text(json.dumps([{"prompt": "it walks", "frames": 10}, {"prompt": "it jumps", "frames": 6}]))
    rc = main(["animate", str(MESH), "--timeline", str(timeline), "-o", str(tmp_path / "t.glb"),
               "--model", str(model_dir), "--steps", "2", "--seed", "0", "-q"])
    assert rc == 0 and "16 frames at 24 fps" in capsys.readouterr().out


@pytest.mark.parametrize("argv, pattern", [
    (["--then", "jumps"], r"--then: Expected --prompt for the first entry of the timeline \(got none\)"),
    ([], r"Expected --prompt or --timeline \(got neither\)"),
    (["--prompt", "a", "--timeline", "TIMELINE"], r"--timeline: Expected either --prompt \[--then \.\.\.\] or"),
    (["--timeline", "TIMELINE"], r"--timeline .*t.txt: line 2: Expected the frames to be an integer"),
    (["--prompt", "a", "--then", "b", "--num-samples", "2", "--keep-all"], r"--keep-all: not available"),
])
def test_bad_timeline_input_fails_cleanly(model_dir, tmp_path, capsys, argv, pattern):
    bad = tmp_path / "t.txt"
    bad.write_text("walks, 16\njumps, many\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    argv = [str(bad) if a == "TIMELINE" else a for a in argv]
    rc = main(["animate", str(MESH), *argv, "-o", str(out_dir / "x.glb"), "--model", str(model_dir),
               "--steps", "2", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("meshflow animate: error: "), err
    assert re.search(pattern, err[0]), err
    assert os.listdir(out_dir) == []
