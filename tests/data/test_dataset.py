"""Datasets, the vertex cap and PyG batching (transforms: test_transforms.py)."""
import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from meshflow.data.clips import build_clips
from meshflow.data.dataset import AnimationFileDataset, ClipDataset, StreamingClipDataset, clip_to_data, simplify_clip
from meshflow.data.motions import LABELS, make_motion
from meshflow.data.shapes import icosphere, subdivide
from meshflow.data.transforms import ShuffleVertices
from meshflow.errors import MeshflowError
from meshflow.io import Animation, save_animation
from meshflow.io.dymesh import save_dymesh


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """13 procedural clips (one per label) of icospheres of 42 and 162 vertices, 4 per shard."""
    root = tmp_path_factory.mktemp("clips")
    (root / "src").mkdir()
    for k, label in enumerate(LABELS):
        v, f = icosphere(1 + k % 2)
        m = make_motion(v * np.array([1.0, 2.0, 0.7]) + 3.0, f, label, rng=k, name="ball")
        save_animation(root / "src" / f"{k:02d}_{label}.npz", Animation(m.frames, f, prompt=m.caption))
    report = build_clips([root / "src"], root / "out", frames=16, workers=0, shard_size=4, progress=False)
    assert report["clips"] == len(LABELS)
    return root / "out"


def test_clip_dataset_samples_follow_the_conventions(clip_dir):
    ds = ClipDataset(clip_dir)
    assert len(ds) == 13 and ds.frames == 16
    for i in (0, 5, 12):
        d = ds[i]
        assert d.pos.shape == (d.num_nodes, 3) and d.traj.shape == (d.num_nodes, 16, 3)
        assert d.face.shape[0] == 3 and d.edge_index.shape[0] == 2
        assert d.traj[:, 0].abs().max() == 0
        assert d.pos.abs().max() == pytest.approx(1.0, abs=1e-6)
        assert d.caption.startswith("a ball ")
        # centre and scale lead back to the file's units
        src = np.load(clip_dir.parent / "src" / sorted(p.name for p in (clip_dir.parent / "src").iterdir())[i])
        np.testing.assert_allclose(d.pos * d.scale + d.center, src["vertices"][0], atol=1e-5)


def test_pyg_dataloader_batches(clip_dir):
    loader = DataLoader(ClipDataset(clip_dir, transform=ShuffleVertices()), batch_size=4, shuffle=True)
    batch = next(iter(loader))
    assert batch.num_graphs == 4 and len(batch.caption) == 4
    assert batch.traj.shape == (batch.num_nodes, 16, 3)
    assert batch.center.shape == (4, 3) and batch.scale.shape == (4,)
    assert batch.face.max() < batch.num_nodes and batch.edge_index.max() < batch.num_nodes
    sizes = torch.bincount(batch.batch)
    assert (batch.ptr[1:] - batch.ptr[:-1]).tolist() == sizes.tolist()


def test_streaming_dataset_covers_every_clip_once(clip_dir):
    full = StreamingClipDataset(clip_dir, seed=1)
    sources = [d.source for d in full]
    assert sorted(sources) == sorted(e["source"] for e in full.shards.index)
    parts = [[d.source for d in StreamingClipDataset(clip_dir, seed=1, rank=r, world_size=2)] for r in range(2)]
    assert not set(parts[0]) & set(parts[1]) and sorted(parts[0] + parts[1]) == sorted(sources)
    full.set_epoch(1)
    assert [d.source for d in full] != sources  # reshuffled
    loader = DataLoader(StreamingClipDataset(clip_dir, shuffle=False), batch_size=5, num_workers=2)
    assert sum(b.num_graphs for b in loader) == 13


def test_vertex_cap_skip_and_simplify(clip_dir):
    sizes = ClipDataset(clip_dir).shards.num_vertices
    assert set(sizes.tolist()) == {42, 162}
    skip = ClipDataset(clip_dir, max_vertices=100, over_limit="skip")
    assert len(skip) == int((sizes <= 100).sum())
    simp = ClipDataset(clip_dir, max_vertices=100, over_limit="simplify")
    assert len(simp) == 13 and max(d.num_nodes for d in simp) <= 100
    assert len(StreamingClipDataset(clip_dir, max_vertices=100, over_limit="skip")) == len(skip)
    with pytest.raises(MeshflowError, match="162 vertices exceed the cap of 100"):
        [d for d in ClipDataset(clip_dir, max_vertices=100, over_limit="error")]
    with pytest.raises(ValueError, match="Expected 'over_limit' to be one of"):
        ClipDataset(clip_dir, max_vertices=10, over_limit="drop")


def test_simplify_clip_keeps_real_trajectories():
    v, f = subdivide(*icosphere(2), loops=1)  # 642 vertices
    frames = make_motion(v, f, "twist", rng=0).frames
    out, faces, kept = simplify_clip(frames, f, 150)
    assert 50 < out.shape[1] <= 150
    np.testing.assert_array_equal(out, frames[:, kept])
    assert faces.min() >= 0 and faces.max() < out.shape[1] and len(faces) > 50
    assert np.all((faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2]))
    same, f2, _ = simplify_clip(frames, f, 1000)
    assert same is frames and f2 is not None


def test_animation_files_dataset(tmp_path):
    v, f = icosphere(1)
    for k in range(3):
        m = make_motion(v, f, "spin", rng=k, frames=20)
        save_dymesh(tmp_path / f"{k:06d}.bin", m.frames, f, m.caption)
    ds = AnimationFileDataset(tmp_path, frames=16)
    assert len(ds) == 3
    d = ds[1]
    assert d.traj.shape == (42, 16, 3) and d.caption.startswith("the object ")
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch.num_graphs == 3
    with pytest.raises(Exception, match="has 20 frames \\(expected at least 32\\)"):
        AnimationFileDataset(tmp_path, frames=32)[0]
    rnd = AnimationFileDataset(tmp_path, frames=16, window="random")
    assert rnd[0].traj.shape[1] == 16


def test_clip_to_data_normalises_file_units():
    v, f = icosphere(1)
    frames = make_motion(v * 10 + 5, f, "slide", rng=0).frames
    d = clip_to_data(frames, f, "x", normalized=False)
    assert d.pos.abs().max() == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(d.center.view(3), torch.full((3,), 5.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(d.scale, torch.tensor([10.0]), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match=r"Expected 'vertices' to have shape \(T, N, 3\)"):
        clip_to_data(frames[0], f)
