"""``meshflow data shards`` (meshflow's own .tar.zst shards) and ``meshflow data verify``."""
import json
import pickle

import numpy as np
import pytest
import torch

from meshflow.commands.main import main
from meshflow.data.archives import ArchiveDataset, ArchiveLoader
from meshflow.data.clips import build_clips
from meshflow.data.dataset import ClipDataset
from meshflow.data.motions import make_motion
from meshflow.data.shapes import icosphere, subdivide, tetrahedron
from meshflow.data.shards import find_archives, verify_archives, write_shards
from meshflow.io import Animation, save_animation
from meshflow.io.dymesh import save_dymesh
from tests.data.test_archives import Boom, dymesh_sample, make_archive
from tests.data.test_clips import write_inputs


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Four npz animations of 24 frames and two DyMesh .bin samples."""
    root = tmp_path_factory.mktemp("src")
    meshes = {"ball": icosphere(1), "pyramid": subdivide(*tetrahedron(), loops=2)}
    for k, (name, (v, f)) in enumerate(meshes.items()):
        for label in ("spin", "hop"):
            m = make_motion(v, f, label=label, rng=k, name=name, frames=24)
            save_animation(root / f"{name}_{label}.npz", Animation(m.frames, f, prompt=m.caption))
    for i in range(2):
        s = dymesh_sample(i)
        save_dymesh(root / f"dy_{i}.bin", s["vertices"], s["faces"], s["caption"])
    return root


def graphs(loader):
    return {d.source.split(":", 1)[-1]: d for b in loader for d in b.to_data_list()}


def test_shards_stream_the_clips_that_build_makes(tmp_path, sources):
    report = write_shards([sources], tmp_path / "shards", shard_size=3, frames=16, stride=8, workers=0)
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    assert manifest["format"] == "meshflow-shards" and report["clips"] == sum(s["samples"] for s in manifest["shards"])
    assert [s["file"] for s in manifest["shards"]][:2] == ["shard-00000.tar.zst", "shard-00001.tar.zst"]
    assert all(s["samples"] <= 3 for s in manifest["shards"]) and report["shards"] == -(-report["clips"] // 3)
    build_clips([sources], tmp_path / "clips", frames=16, stride=8, workers=0, progress=False)
    ref = {ds_item.source: ds_item for ds_item in ClipDataset(tmp_path / "clips")}
    got = graphs(ArchiveLoader(ArchiveDataset(tmp_path / "shards", batch_size=4, shuffle_buffer=2)))
    assert sorted(got) == sorted(ref) and len(ref) == report["clips"]
    for name, d in ref.items():
        torch.testing.assert_close(got[name].traj, d.traj)
        torch.testing.assert_close(got[name].pos, d.pos)
        torch.testing.assert_close(got[name].center, d.center)
        assert got[name].caption == d.caption and torch.equal(got[name].face, d.face)
    # a clip folder is a source too, and gives the same clips
    write_shards([tmp_path / "clips"], tmp_path / "again", shard_size=100, workers=0)
    again = graphs(ArchiveLoader(ArchiveDataset(tmp_path / "again", batch_size=4)))
    assert sorted(again) == sorted(ref)


def test_shards_and_build_count_the_same_problems_in_parallel_too(tmp_path):
    write_inputs(tmp_path / "src")  # good files, skipped windows and failed files
    built = build_clips([tmp_path / "src"], tmp_path / "clips", frames=16, workers=0, progress=False)
    seen = []
    serial = write_shards([tmp_path / "src"], tmp_path / "s0", shard_size=3, workers=0, progress=seen.append)
    parallel = write_shards([tmp_path / "src"], tmp_path / "s2", shard_size=3, workers=2)
    for key in ("clips", "files", "files_failed", "skipped"):
        assert serial[key] == parallel[key] == built[key], key
    assert seen[-1] == serial["clips"] and seen == sorted(seen)
    names = sorted(p.name for p in (tmp_path / "s0").glob("*.tar.zst"))
    assert names and names == sorted(p.name for p in (tmp_path / "s2").glob("*.tar.zst"))
    assert all((tmp_path / "s0" / n).read_bytes() == (tmp_path / "s2" / n).read_bytes() for n in names)
    got = graphs(ArchiveLoader(ArchiveDataset(tmp_path / "s2", batch_size=2, shuffle_buffer=0)))
    assert sorted(got) == sorted(e["source"] for e in ClipDataset(tmp_path / "clips").shards.index)


def test_shards_cli_bad_input_writes_nothing(tmp_path, sources, capsys):
    out = tmp_path / "out"
    assert main(["data", "shards", str(tmp_path / "missing"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing: no such file or folder" in err and not out.exists()
    (tmp_path / "empty").mkdir()
    assert main(["data", "shards", str(tmp_path / "empty"), "-o", str(out)]) == 2
    assert "no clip folder or animated file found" in capsys.readouterr().err and not out.exists()
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("do not replace me")
    assert main(["data", "shards", str(sources), "-o", str(keep)]) == 2
    assert "mine: exists and is not a meshflow shards folder" in capsys.readouterr().err
    assert (keep / "notes.txt").read_text() == "do not replace me"
    assert main(["data", "shards", str(sources), "-o", str(out), "--shard-size", "0"]) == 2
    assert "shard-size" in capsys.readouterr().err and not out.exists()
    assert main(["data", "shards", str(sources), "-o", str(out), "--shard-size", "4", "--workers", "0"]) == 0
    assert "clips in" in capsys.readouterr().out and len(find_archives(out)) >= 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_verify_counts_samples_bad_members_and_damage(tmp_path, capsys):
    members = [(f"s/{i}.bin", dymesh_sample(i)) for i in range(3)]
    members.insert(1, ("s/evil.bin", pickle.dumps({"vertices": Boom(tmp_path / "pwned")})))
    members.append(("s/flat.bin", {"vertices": np.zeros((16, 4, 3), np.float32), "faces": np.array([[0, 1, 2]]),
                                   "caption": "a point"}))
    make_archive(tmp_path / "rel", "DyMesh_16f_0000", members, parts=2)
    parts = make_archive(tmp_path / "rel", "DyMesh_16f_0001",
                         [(f"t/{i}.bin", dymesh_sample(i, subdivisions=3)) for i in range(4)], parts=2)
    parts[-1].write_bytes(parts[-1].read_bytes()[:1000])
    rows = {r["archive"]: r for r in verify_archives(tmp_path / "rel")}
    good, cut = rows["DyMesh_16f_0000"], rows["DyMesh_16f_0001"]
    assert (good["members"], good["samples"], good["bad"], good["error"]) == (5, 3, 2, None)
    assert good["reasons"] == {"unsafe pickle": 1, "degenerate frame 0": 1} and not (tmp_path / "pwned").exists()
    assert cut["samples"] < 4 and "DyMesh_16f_0001: archive truncated" in cut["error"]
    assert main(["data", "verify", str(tmp_path / "rel")]) == 1  # problems found
    out = capsys.readouterr().out
    assert "2 archives, " in out and "unsafe pickle 1" in out and "archive truncated" in out
    assert main(["data", "verify", str(tmp_path / "nothing")]) == 2
    assert "nothing: no archives found" in capsys.readouterr().err
