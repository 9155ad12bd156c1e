"""Streaming the DyMesh release format: pickled dicts in a tar, zstd, split into parts by bytes."""
import io
import logging
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import zstandard

from meshflow.data.archives import (
    ArchiveDataset,
    ArchiveLoader,
    Windowing,
    assign_shards,
    iter_samples,
    merge_positions,
)
from meshflow.data.shards import ArchiveError, find_archives, iter_members
from meshflow.data.shapes import icosphere
from meshflow.errors import MeshflowError


def dymesh_sample(i: int, frames: int = 16, subdivisions: int = 1) -> dict:
    """A released-format sample: an icosphere that sways, ``caption`` names it."""
    v, f = icosphere(subdivisions)
    t = np.linspace(0, 1, frames, dtype=np.float32)[:, None, None]
    vertices = (v[None] * (1 + 0.01 * i) + 0.2 * np.sin(2 * np.pi * t + v[None, :, :1] + i)).astype(np.float32)
    return {"vertices": vertices, "faces": f.astype(np.int64), "caption": f"sample {i}"}


def make_archive(folder, name, members, parts=2, cut=None):
    r"""Writes ``members`` (``(name, bytes or dict)``) as a released archive group: a tar, zstd,
    cut into ``parts`` files ``NAME_part_00`` ... at byte positions (by default inside members)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for member, payload in members:
            data = payload if isinstance(payload, bytes) else pickle.dumps(payload, protocol=4)
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = zstandard.ZstdCompressor(level=3).compress(buf.getvalue())
    cuts = cut if cut is not None else [len(blob) * k // parts + 7 for k in range(1, parts)]
    bounds = [0, *cuts, len(blob)]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(len(bounds) - 1):
        paths.append(folder / f"{name}_part_{k:02d}")
        paths[-1].write_bytes(blob[bounds[k]:bounds[k + 1]])
    return paths


def make_release(folder, shards=1, per_shard=6, parts=2, start=0):
    """``shards`` archive groups of ``per_shard`` samples each (``sample i`` captions, i from ``start``)."""
    i = start
    for s in range(shards):
        members = []
        for _ in range(per_shard):
            members.append((f"DyMesh/{i:06d}.bin", dymesh_sample(i)))
            i += 1
        make_archive(folder, f"DyMesh_16f_{s:04d}", members, parts=parts)
    return folder


class Boom:
    """A pickle that would run a shell command while it loads."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def captions(batches):
    return [c for b in batches for c in b.caption]


def test_two_part_archive_streams_every_sample_once(tmp_path):
    make_release(tmp_path, shards=1, per_shard=7, parts=2)
    groups = find_archives(tmp_path)
    assert len(groups) == 1 and [p.name for p in groups[0].parts] == ["DyMesh_16f_0000_part_00",
                                                                       "DyMesh_16f_0000_part_01"]
    names = [n for n, _ in iter_members(groups[0])]
    assert names == [f"DyMesh/{i:06d}.bin" for i in range(7)]
    ds = ArchiveDataset(tmp_path, batch_size=3, windowing=Windowing(frames=16), shuffle_buffer=4)
    batches = list(ArchiveLoader(ds))
    assert sorted(captions(batches)) == sorted(f"sample {i}" for i in range(7))
    assert [b.num_graphs for b in batches] == [3, 3, 1]
    b = batches[0]
    assert b.traj.shape == (b.num_nodes, 16, 3) and b.traj[:, 0].abs().max() == 0
    assert b.pos.abs().max() <= 1 + 1e-6 and b.edge_index.shape[0] == 2
    # the graph is the one the file dataset builds from the same sample (welded, normalised)
    from meshflow.data.dataset import animation_to_data
    s = dymesh_sample(int(b.caption[0].split()[1]))
    ref = animation_to_data(s["vertices"], s["faces"], s["caption"])
    first = b.get_example(0)
    torch.testing.assert_close(first.traj, ref.traj)
    torch.testing.assert_close(first.pos, ref.pos)
    assert torch.equal(first.edge_index, ref.edge_index)


def test_parts_sorted_by_number_and_groups_by_glob(tmp_path):
    make_archive(tmp_path / "a", "X", [(f"{i}.bin", dymesh_sample(i)) for i in range(3)], parts=3)
    make_archive(tmp_path / "b", "Y", [("9.bin", dymesh_sample(9))], parts=1)
    (tmp_path / "a" / "X_part_02").rename(tmp_path / "a" / "X_part_10")  # 10 sorts after 01 by number
    groups = find_archives([str(tmp_path / "a" / "X_part_*"), str(tmp_path / "b")])
    assert [g.name for g in groups] == ["X", "Y"]
    assert [p.name for p in groups[0].parts] == ["X_part_00", "X_part_01", "X_part_10"]
    assert [n for n, _ in iter_members(groups[0])] == ["0.bin", "1.bin", "2.bin"]
    # split's letter suffixes (split -b 1M X.tar.zst X.tar.zst.)
    for k, part in enumerate(make_archive(tmp_path / "c", "Z", [(f"{i}.bin", dymesh_sample(i)) for i in range(2)],
                                          parts=3)):
        part.rename(part.with_name(f"Z.tar.zst.a{'abc'[k]}"))
    (z,) = find_archives(tmp_path / "c")
    assert z.name == "Z" and [p.name for p in z.parts] == ["Z.tar.zst.aa", "Z.tar.zst.ab", "Z.tar.zst.ac"]
    assert [n for n, _ in iter_members(z)] == ["0.bin", "1.bin"]
    with pytest.raises(MeshflowError, match=r"nowhere.*no archives found"):
        find_archives(str(tmp_path / "nowhere"))


def test_member_carrying_code_is_refused_and_the_rest_arrives(tmp_path, caplog):
    flag = tmp_path / "pwned"
    members = [("s/000.bin", dymesh_sample(0)), ("s/evil.bin", pickle.dumps({"vertices": Boom(flag)})),
               ("s/002.bin", dymesh_sample(2)), ("s/junk.bin", b"not a pickle at all"),
               ("s/README.txt", b"passed over"), ("s/004.bin", dymesh_sample(4))]
    make_archive(tmp_path / "arch", "A", members, parts=2)
    stats = {}
    with caplog.at_level(logging.WARNING, logger="meshflow.data.archives"):
        got = [g.caption for _, gs in iter_samples(find_archives(tmp_path / "arch")[0], Windowing(), stats=stats)
               for g in gs]
    assert not flag.exists()  # nothing ran
    assert got == ["sample 0", "sample 2", "sample 4"]
    assert stats["bad"] == 2 and stats["samples"] == 3
    assert "A:s/evil.bin: unsafe pickle: refused to unpickle: the pickle asks for posix.system" in caplog.text
    assert "A:s/junk.bin: unreadable" in caplog.text


def test_truncated_last_part_is_reported_and_earlier_samples_kept(tmp_path, caplog):
    # 642-vertex samples: zstd emits whole 128 KiB blocks, so the stream must be several blocks long
    paths = make_archive(tmp_path, "DyMesh_16f_0007", [(f"{i}.bin", dymesh_sample(i, subdivisions=3))
                                                       for i in range(6)], parts=2)
    data = paths[-1].read_bytes()
    paths[-1].write_bytes(data[:len(data) // 2])  # the download of the last part stopped halfway
    group = find_archives(tmp_path)[0]
    with pytest.raises(ArchiveError, match=r"DyMesh_16f_0007: archive truncated after member \d\.bin"):
        list(iter_members(group))
    stats = {}
    with caplog.at_level(logging.ERROR, logger="meshflow.data.archives"):
        got = [g.caption for _, gs in iter_samples(group, Windowing(), stats=stats) for g in gs]
    assert 0 < len(got) < 6 and got == [f"sample {i}" for i in range(len(got))]
    assert stats["errors"] == 1 and "DyMesh_16f_0007: archive truncated" in caplog.text
    # a stream that is not zstd at all
    paths[0].write_bytes(b"garbage" * 100)
    with pytest.raises(ArchiveError, match=r"DyMesh_16f_0007: not a readable zstd stream"):
        list(iter_members(group))


def test_windows_vertex_cap_and_frames(tmp_path):
    long = dymesh_sample(1, frames=40)  # 40 frames: windows at 0 and 16 (and 8, 16, 24 with stride 8)
    big = dymesh_sample(2, subdivisions=3)  # 642 vertices: over the cap
    make_archive(tmp_path, "W", [("long.bin", long), ("big.bin", big), ("short.bin", dymesh_sample(3, frames=5))])
    group = find_archives(tmp_path)[0]
    stats = {}
    out = [g for _, gs in iter_samples(group, Windowing(frames=16, max_vertices=200), stats=stats) for g in gs]
    assert [g.source for g in out] == ["W:long.bin@0", "W:long.bin@16"]
    assert stats["skipped"] == 2  # too many vertices, too few frames
    out = [g for _, gs in iter_samples(group, Windowing(frames=16, stride=8, max_vertices=200)) for g in gs]
    assert [g.source.split("@")[1] for g in out] == ["0", "8", "16", "24"]


def test_assign_shards_covers_every_member_once():
    names = [f"s{i}" for i in range(5)]
    for readers in (1, 2, 3, 5, 7, 12):
        work = [assign_shards(names, readers, p) for p in range(readers)]
        members = [(n, i) for w in work for n, k, m in w for i in range(30) if i % m == k]
        assert sorted(members) == sorted((n, i) for n in names for i in range(30)), readers


@pytest.mark.parametrize("workers", [0, 2])
def test_ranks_and_workers_split_without_overlap(tmp_path, workers):
    make_release(tmp_path, shards=3, per_shard=4, parts=2)
    seen = []
    for rank in range(2):
        ds = ArchiveDataset(tmp_path, batch_size=2, shuffle_buffer=3, seed=5, rank=rank, world_size=2)
        seen.append(captions(ArchiveLoader(ds, num_workers=workers)))
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == sorted(f"sample {i}" for i in range(12))


def test_epochs_reshuffle_shard_order_with_the_seed(tmp_path):
    make_release(tmp_path, shards=6, per_shard=1, parts=1)
    ds = ArchiveDataset(tmp_path, batch_size=1, shuffle_buffer=0, seed=3)
    loader = ArchiveLoader(ds)
    orders = []
    for epoch in range(3):
        loader.set_epoch(epoch)
        orders.append(captions(loader))
    assert all(sorted(o) == sorted(orders[0]) for o in orders) and len(set(map(tuple, orders))) > 1
    loader.set_epoch(1)
    assert captions(loader) == orders[1]  # the same seed and epoch give the same order


def test_resume_mid_shard_continues_where_it_stopped(tmp_path):
    make_release(tmp_path, shards=2, per_shard=20, parts=2)
    buffer, batch = 3, 2

    def loader():
        return ArchiveLoader(ArchiveDataset(tmp_path, batch_size=batch, shuffle_buffer=buffer, seed=1), num_workers=0)

    straight = captions(loader())
    first = loader()
    it, before = iter(first), []
    for _ in range(4):  # 8 samples consumed, mid-way through the first shard
        before += next(it).caption
    state = first.state_dict()
    del it  # the run is killed here
    assert state["epoch"] == 0 and list(state["shards"].values()) == [11]  # 8 handed out + 3 in the buffer
    (partial, read), = state["shards"].items()
    s = int(partial[-4:])
    resumed = loader()
    resumed.load_state_dict(state)
    after = captions(resumed)
    assert not set(before) & set(after)  # nothing repeats
    lost = set(straight) - set(before) - set(after)
    assert len(lost) <= buffer  # at most one shuffle buffer is skipped
    # the stopped shard goes on from member 12; the other one is read whole
    index = [int(c.split()[1]) for c in after]
    assert sorted(i - 20 * s for i in index if i // 20 == s) == list(range(read, 20))
    assert sorted(i for i in index if i // 20 != s) == list(range(20 * (1 - s), 20 * (2 - s)))
    # a checkpoint of the resumed run keeps the positions of the shards it has not reached yet
    again = loader()
    again.load_state_dict({"epoch": 0, "shards": {partial: read, "elsewhere": 5, "finished": -1}})
    next(iter(again))
    shards = again.state_dict()["shards"]
    assert shards["elsewhere"] == 5 and shards["finished"] == -1 and shards[partial] > read


def test_merge_positions_keeps_the_furthest():
    assert merge_positions({"a": 3, "b": -1, "c": 7}, {"a": 5, "b": 2, "c": 1, "d": 4}) == {
        "a": 5, "b": -1, "c": 7, "d": 4}
    assert merge_positions({"a": 3}, {"a": -1}) == {"a": -1}
