"""The clip builder: windows, captions, shards, the report, the command line."""
import json
import pickle

import numpy as np
import pytest

from meshflow.commands.main import main
from meshflow.data.clips import (build_clips, caption_for, clip_phrase, find_sources, format_report, object_name,
                                 split_words, window_starts)
from meshflow.data.dataset import ClipDataset
from meshflow.data.motions import make_motion
from meshflow.data.shapes import icosphere
from meshflow.io.animation import list_clips
from meshflow.io import Animation, load_animation, save_animation
from meshflow.io.dymesh import save_dymesh


@pytest.mark.parametrize("file, clip, caption", [
    ("Horse.glb", "AnimalArmature|Gallop", "a horse gallops"),
    ("Fox.glb", "AnimalArmature|Idle_HitReact_Left", "a fox stands idle and recoils from a hit to the left"),
    ("Shark.glb", "Fish_Armature|Swimming_Fast", "a shark swims fast"),
    ("Character_Gun.glb", "CharacterArmature|Run_Gun_Shoot", "a character with a gun runs with a gun and shoots"),
    ("Trex.glb", "TRex_Walk", "a t-rex walks"),
    ("Tank3.glb", "TankArmature|Tank_TurningLeft", "a tank turns to the left"),
    ("Mech_BarbaraTheBee-transformed.glb", "CharacterArmature|Jump_NoHeight", "a bee mech jumps in place"),
    ("Alpaca.glb", "AnimalArmature|Attack.001", "an alpaca attacks"),
    ("Blob.glb", "Armature|Flail", "a blob does a flail move"),
])
def test_captions(file, clip, caption):
    assert caption_for(file, clip) == caption


def test_caption_helpers():
    assert split_words("Idle_HitReact_Left") == ["idle", "hit", "react", "left"]
    assert split_words("TRex_Attack.001") == ["t", "rex", "attack"]
    assert object_name("Astronaut_RaeTheRedPanda-transformed.glb") == "red panda astronaut"
    assert object_name("ShibaInu.glb") == "shiba inu"
    assert clip_phrase("Fast_Flying") == "flies fast"
    assert clip_phrase("") == "moves"


@pytest.mark.parametrize("n, frames, stride, hold, starts", [
    (38, 16, None, True, [0, 16]),
    (38, 16, 8, True, [0, 8, 16]),
    (16, 16, None, True, [0]),
    (9, 16, None, True, [0]),
    (9, 16, None, False, []),
    (64, 32, 16, True, [0, 16, 32]),
])
def test_window_starts(n, frames, stride, hold, starts):
    assert window_starts(n, frames, stride, hold) == starts


def expected_windows(path, frames, stride, fps):
    return sum(len(window_starts(int(np.floor(c.duration * fps + 1e-6)) + 1, frames, stride))
               for c in list_clips(path))


def test_build_on_quaternius_files(shared, tmp_path):
    fox = shared("data", "quaternius", "animals_pack", "Fox.glb")
    trap = shared("data", "quaternius", "platformer_game_pack", "Hazard_SpikeTrap.glb")
    report = build_clips([fox, trap], tmp_path / "clips", frames=16, stride=8, fps=15, workers=0, shard_size=10,
                         progress=False)
    want = expected_windows(fox, 16, 8, 15) + expected_windows(trap, 16, 8, 15)
    # the fox's 2.5 s Eating clip has 38 frames at 15 fps: windows at 0, 8 and 16
    assert expected_windows(fox, 16, 8, 15) >= 12 + 2
    assert report["clips"] + sum(report["skipped"].values()) == want
    assert report["clips"] >= want - 2 and not report["files_failed"]
    ds = ClipDataset(tmp_path / "clips")
    assert len(ds) == report["clips"]
    manifest = json.loads((tmp_path / "clips" / "manifest.json").read_text())
    assert manifest["frames"] == 16 and len(manifest["shards"]) == -(-report["clips"] // 10)
    captions = ds.captions()
    assert "a fox gallops" in captions and "a fox eats" in captions and "a spike trap springs up" in captions
    assert captions.count("a fox eats") == 3
    data = ds[0]
    assert data.traj.shape == (data.num_nodes, 16, 3)
    assert data.pos.abs().max() == pytest.approx(1.0, abs=1e-6)
    assert data.traj[:, 0].abs().max() == 0


def write_inputs(folder):
    """Three good npz animations, one good .bin, and five bad files."""
    folder.mkdir()
    v, f = icosphere(1)
    for k, label in enumerate(["spin", "hop", "twist"]):
        m = make_motion(v, f, label, rng=k, frames=20)
        save_animation(folder / f"{label}.npz", Animation(m.frames, f, prompt=m.caption))
    m = make_motion(v, f, "bend", rng=0, frames=16)
    save_dymesh(folder / "bend.bin", m.frames, f, m.caption)
    bad = make_motion(v, f, "hop", rng=0, frames=16).frames.copy()
    bad[3, 5] = np.nan
    np.savez_compressed(folder / "nan.npz", vertices=bad, faces=f, caption=np.array("broken"))  # writers refuse NaN
    save_animation(folder / "static.npz", Animation(np.repeat(v[None], 16, axis=0), f, prompt="a still ball"))
    np.savez(folder / "faces.npz", vertices=make_motion(v, f, "hop", rng=0).frames, faces=f + 1000,
             caption=np.array("bad faces"))
    with open(folder / "ragged.bin", "wb") as fh:
        pickle.dump({"vertices": [v] * 8 + [v[:-1]] * 8, "faces": f, "caption": "ragged"}, fh)
    (folder / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage")
    return v, f


def test_bad_inputs_are_reported_and_skipped(tmp_path):
    write_inputs(tmp_path / "src")
    report = build_clips([tmp_path / "src"], tmp_path / "out", frames=16, workers=0, progress=False)
    assert report["files"] == 9
    assert report["clips"] == 4  # spin, hop, twist (20 frames: one window each) and bend
    assert report["skipped"] == {"non-finite vertices": 1, "no motion": 1, "faces out of range": 1}
    assert report["files_failed"] == {"vertex count changes": 1, "unreadable": 1}
    sources = {e["source"].split("/")[-1].split("@")[0]: e["reason"] for e in report["examples"]}
    assert sources["ragged.bin"] == "vertex count changes" and sources["broken.glb"] == "unreadable"
    ds = ClipDataset(tmp_path / "out")
    assert sorted(e["source"] for e in ds.shards.index) == ["bend.bin@0", "hop.npz@0", "spin.npz@0", "twist.npz@0"]


def test_parallel_build_matches_serial(tmp_path):
    write_inputs(tmp_path / "src")
    a = build_clips([tmp_path / "src"], tmp_path / "a", frames=16, workers=0, progress=False)
    b = build_clips([tmp_path / "src"], tmp_path / "b", frames=16, workers=2, progress=False)
    assert a["clips"] == b["clips"] and a["skipped"] == b["skipped"]
    assert (tmp_path / "a" / "index.jsonl").read_text() == (tmp_path / "b" / "index.jsonl").read_text()
    x, y = ClipDataset(tmp_path / "a"), ClipDataset(tmp_path / "b")
    assert all(np.array_equal(x[i].traj, y[i].traj) for i in range(len(x)))


def test_vertex_cap_at_build_time(tmp_path):
    v, f = icosphere(2)  # 162 vertices
    (tmp_path / "src").mkdir()
    wave = make_motion(v, f, "wave", rng=0).frames
    save_animation(tmp_path / "src" / "a.npz", Animation(wave, f, prompt="a wave"))
    report = build_clips([tmp_path / "src"], tmp_path / "skip", max_vertices=100, workers=0, progress=False)
    assert report["clips"] == 0 and report["skipped"] == {"too many vertices": 1}
    report = build_clips([tmp_path / "src"], tmp_path / "simp", max_vertices=100, over_limit="simplify",
                         workers=0, progress=False)
    assert report["clips"] == 1 and ClipDataset(tmp_path / "simp")[0].num_nodes <= 100


def test_npz_fps_is_resampled(tmp_path):
    v, f = icosphere(1)
    m = make_motion(v, f, "slide", rng=0, frames=31)
    (tmp_path / "src").mkdir()
    save_animation(tmp_path / "src" / "a.npz", Animation(m.frames, f, fps=30, prompt="slides"))  # 1 s at 30 fps -> 16 frames at 15
    report = build_clips([tmp_path / "src"], tmp_path / "out", frames=16, fps=15, workers=0, progress=False)
    assert report["clips"] == 1
    with pytest.raises(Exception, match="no such file or folder"):
        find_sources([tmp_path / "missing"])


def test_cli_sample_and_build(shared, tmp_path, capsys):
    fox = shared("data", "quaternius", "animals_pack", "Fox.glb")
    out = tmp_path / "anim.npz"
    assert main(["data", "sample", str(fox), "--clip", "Gallop", "--frames", "16", "--fps", "15",
                 "-o", str(out)]) == 0
    anim = load_animation(out)
    assert anim.vertices.shape[0] == 16 and anim.prompt == "a fox gallops"
    # Gallop lasts 0.54 s: from frame 9 (0.6 s) on, the last pose is held
    np.testing.assert_array_equal(anim.vertices[9], anim.vertices[15])
    assert not np.array_equal(anim.vertices[0], anim.vertices[8])
    full = load_animation(out)
    assert main(["data", "sample", str(fox), "--clip", "AnimalArmature|Gallop", "--frames", "4", "--start", "0.2",
                 "-o", str(tmp_path / "b.npz")]) == 0
    part = load_animation(tmp_path / "b.npz")
    np.testing.assert_allclose(part.vertices[0], full.vertices[3], atol=1e-5)  # 0.2 s = frame 3 at 15 fps
    assert main(["data", "sample", str(fox), "--clip", "Nope", "-o", str(tmp_path / "c.npz")]) == 2
    assert "has no clip named 'Nope'" in capsys.readouterr().err

    write_inputs(tmp_path / "src")
    assert main(["data", "build", str(tmp_path / "src"), "-o", str(tmp_path / "clips"), "--frames", "16",
                 "--workers", "0", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "4 clips from 4 of 9 files" in printed and "windows skipped" in printed
    assert main(["data", "build", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x")]) == 2


def test_report_says_how_many_problems_and_where_all_are(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(14):
        (src / f"broken{i:02d}.glb").write_bytes(b"glTF\x02\x00\x00\x00garbage")
    report = build_clips([src], tmp_path / "out", frames=16, workers=0, progress=False)
    text = format_report(report).splitlines()
    problems = tmp_path / "out" / "problems.jsonl"
    assert report["files_failed"] == {"unreadable": 14} and report["problems"] == 14
    assert len([line for line in text if line.startswith("  ") and "/broken" in line and ": unreadable" in line]) == 10
    assert text[-1] == f"  ... and 4 more: every one is listed in {problems}"
    rows = [json.loads(line) for line in problems.read_text().splitlines()]
    assert sorted(r["source"].split("/")[-1] for r in rows) == [f"broken{i:02d}.glb" for i in range(14)]
    # a clean rebuild into the same folder removes the old list
    good = tmp_path / "good"
    good.mkdir()
    v, f = icosphere(2)
    save_animation(good / "hop.npz", Animation(make_motion(v, f, "hop", rng=0).frames, f, prompt="a ball hops"))
    report = build_clips([good], tmp_path / "out", frames=16, workers=0, progress=False)
    assert report["clips"] == 1 and report["problems"] == 0 and report["problems_file"] is None
    assert not problems.exists() and "more" not in format_report(report)
