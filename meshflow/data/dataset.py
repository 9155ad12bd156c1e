r"""Datasets of animated meshes for training.

Every dataset yields a :class:`torch_geometric.data.Data` per clip:

* ``pos`` (N, 3) frame-0 positions, normalised the original way (frame-0
  bounding-box centre, divided by the largest absolute coordinate),
* ``face`` (3, F) and ``edge_index`` (2, E) (see :func:`meshflow.data.mesh_graph`),
* ``traj`` (N, T, 3) displacements ``V_t - V_0`` in the same units (``traj[:, 0] == 0``),
* ``caption`` (str), ``center`` (1, 3) and ``scale`` (1,) (file units), ``source_index``.

so that :class:`torch_geometric.loader.DataLoader` batches them without padding.

* :class:`ClipDataset` reads a folder written by :func:`meshflow.data.clips.build_clips`
  (random access through memory-mapped shards),
* :class:`StreamingClipDataset` streams the same folder shard by shard, split
  across data-loader workers and distributed ranks,
* :class:`AnimationFileDataset` reads animation files directly (``.npz``, DyMesh ``.bin``).

Their augmentations are in :mod:`meshflow.data.transforms`. A vertex cap
(``max_vertices``) either simplifies a larger clip by vertex clustering on frame 0
(:func:`simplify_clip`) or skips it.
"""
from __future__ import annotations

import json
import os
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset
from torch_geometric.data import Data

from ..errors import MeshflowError
from ..io.animation import load_animation
from ..io.dymesh import ANIMATION_SUFFIXES, AnimationFileError
from ..io.geometry import weld_animation
from .graph import drop_degenerate_faces, mesh_graph, normalization

OVER_LIMIT = ("simplify", "skip", "error")


# ------------------------------------------------------------ simplify ---
def simplify_clip(vertices: np.ndarray, faces: np.ndarray, max_vertices: int
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Reduces an animated mesh to at most ``max_vertices`` vertices by vertex clustering.

    Frame 0 is cut into a regular grid, as fine as the cap allows (binary search on
    the cells per axis); each occupied cell keeps the one vertex nearest to the
    cell's mean, with its whole trajectory (so every frame stays a real pose).
    Triangles are re-indexed; collapsed and repeated triangles are dropped.

    Returns:
        ``(vertices (T, M, 3), faces (F', 3), kept (M,))`` with ``kept`` the
        indices of the kept input vertices.
    """
    vertices = np.asarray(vertices)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    n = vertices.shape[1]
    if n <= max_vertices:
        return vertices, faces, np.arange(n)
    if max_vertices < 1:
        raise ValueError(f"Expected 'max_vertices' >= 1 (got {max_vertices})")
    v0 = vertices[0].astype(np.float64)
    lo = v0.min(0)
    ext = float((v0.max(0) - lo).max()) or 1.0

    def cluster(res: int) -> np.ndarray:
        cell = np.minimum(((v0 - lo) / ext * res).astype(np.int64), res - 1)
        key = (cell[:, 0] * res + cell[:, 1]) * res + cell[:, 2]
        return np.unique(key, return_inverse=True)[1].ravel()

    lo_res, hi_res, best = 1, 2, cluster(1)
    while True:  # grow until over the cap, then bisect
        ids = cluster(hi_res)
        if ids.max() + 1 > max_vertices or hi_res > 1 << 16:
            break
        lo_res, best, hi_res = hi_res, ids, hi_res * 2
    while hi_res - lo_res > 1:
        mid = (lo_res + hi_res) // 2
        ids = cluster(mid)
        if ids.max() + 1 <= max_vertices:
            lo_res, best = mid, ids
        else:
            hi_res = mid
    ids = best
    m = int(ids.max()) + 1
    counts = np.bincount(ids, minlength=m).astype(np.float64)
    means = np.stack([np.bincount(ids, weights=v0[:, d], minlength=m) for d in range(3)], axis=1) / counts[:, None]
    d2 = np.sum((v0 - means[ids]) ** 2, axis=1)
    order = np.lexsort((d2, ids))  # per cluster, nearest first
    first = np.ones(n, dtype=bool)
    first[1:] = ids[order][1:] != ids[order][:-1]
    kept = np.sort(order[first])
    new_id = np.empty(m, dtype=np.int64)
    new_id[ids[kept]] = np.arange(m)
    f = new_id[ids[faces]] if faces.size else faces
    f, _ = drop_degenerate_faces(f)
    if len(f):
        f = f[np.sort(np.unique(np.sort(f, axis=1), axis=0, return_index=True)[1])]
    return np.ascontiguousarray(vertices[:, kept]), f, kept


def _apply_cap(vertices, faces, max_vertices, over_limit, what="") -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Vertex cap policy: the clip as it is, simplified, ``None`` (skip) or an error."""
    if max_vertices is None or vertices.shape[1] <= max_vertices:
        return vertices, faces
    if over_limit == "simplify":
        v, f, _ = simplify_clip(vertices, faces, max_vertices)
        return v, f
    if over_limit == "skip":
        return None
    raise MeshflowError(f"{what}: {vertices.shape[1]} vertices exceed the cap of {max_vertices}")


# ---------------------------------------------------------------- data ---
def clip_to_data(vertices, faces, caption: str = "", center=None, scale=None, normalized: bool = True,
                 **extra) -> Data:
    r"""Builds a training sample from a clip.

    Args:
        vertices: (T, N, 3) positions per frame: normalised already
            (``normalized=True``, as stored by the clip builder) or in file units.
        faces: (F, 3) triangles.
        caption (str): the text.
        center, scale: the normalisation, to keep for denormalising (computed from
            frame 0 when ``normalized=False``; default 0 and 1 otherwise).
        normalized (bool): whether ``vertices`` are normalised already.
        **extra: more attributes to set (e.g. ``source``).

    Shapes:
        - **output:** Data(pos (N, 3), face (3, F), edge_index (2, E), traj (N, T, 3),
          caption, center (1, 3), scale (1,), source_index (N,))
    """
    v = torch.as_tensor(np.ascontiguousarray(vertices), dtype=torch.float32)
    if v.dim() != 3 or v.size(2) != 3:
        raise ValueError(f"Expected 'vertices' to have shape (T, N, 3) (got {tuple(v.shape)})")
    if not normalized:
        c, s = normalization(v[0])
        v = (v - c) / s
        center, scale = c, s
    data = mesh_graph(v[0], faces, weld=False, normalize=False)
    data.pos = v[0].clone()
    data.traj = (v - v[:1]).permute(1, 0, 2).contiguous()  # (N, T, 3)
    data.center = torch.as_tensor(np.zeros(3) if center is None else np.asarray(center), dtype=torch.float32).view(1, 3)
    data.scale = torch.as_tensor(1.0 if scale is None else np.asarray(scale), dtype=torch.float32).view(1)
    data.caption = str(caption)
    for k, val in extra.items():
        setattr(data, k, val)
    return data


def animation_to_data(vertices, faces, caption: str = "", weld: bool = True, **extra) -> Data:
    """A sample from an animation in file units: welded (vertices that share a whole path) and normalised."""

    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if weld:
        v, f, _ = weld_animation(v, f)
    return clip_to_data(v, f, caption, normalized=False, **extra)


# --------------------------------------------------------------- shards ---
def _npz_arrays(path: Path) -> Dict[str, np.ndarray]:
    """The arrays of an npz: memory-mapped when stored uncompressed, else loaded."""
    out = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.compress_type != zipfile.ZIP_STORED:
                with np.load(path, allow_pickle=False) as z:
                    return {k: z[k] for k in z.files}
            fh.seek(info.header_offset)
            local = fh.read(30)
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            fh.seek(info.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(fh)
            if dtype.hasobject:
                raise MeshflowError(f"{path}: shard member {name} holds Python objects")
            if int(np.prod(shape)) == 0:
                out[name] = np.zeros(shape, dtype=dtype)
                continue
            out[name] = np.memmap(path, dtype=dtype, mode="r", shape=shape, order="F" if fortran else "C",
                                  offset=fh.tell())
    return out


class ClipShards:
    r"""Read access to a folder written by :func:`meshflow.data.clips.build_clips`.

    ``manifest.json`` names the shards; ``index.jsonl`` has one line per clip
    (``shard``, ``row``, ``vertices``, ``faces``, ``caption``, ``source``). Shards are
    opened lazily (once per process) and memory-mapped, so reading clip ``i`` costs
    only its own bytes.
    """

    def __init__(self, root):
        self.root = Path(root)
        manifest = self.root / "manifest.json"
        if not manifest.is_file():
            raise MeshflowError(f"{self.root}: not a clip folder (no manifest.json; build one with "
                                "`meshflow data build`)")
        self.manifest = json.loads(manifest.read_text())
        self.frames = int(self.manifest["frames"])
        self.shard_files = [s["file"] for s in self.manifest["shards"]]
        self.index = []
        with open(self.root / "index.jsonl") as fh:
            for line in fh:
                if line.strip():
                    self.index.append(json.loads(line))
        self.num_vertices = np.array([e["vertices"] for e in self.index], dtype=np.int64)
        self._open: Dict[int, Dict[str, np.ndarray]] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.index)

    def shard(self, k: int) -> Dict[str, np.ndarray]:
        if self._pid != os.getpid():  # a data-loader worker: open our own maps
            self._open, self._pid = {}, os.getpid()
        if k not in self._open:
            self._open[k] = _npz_arrays(self.root / self.shard_files[k])
        return self._open[k]

    def read(self, i: int) -> dict:
        """Clip ``i`` as numpy arrays: ``vertices`` (T, N, 3) normalised, ``faces`` (F, 3), and metadata."""
        e = self.index[i]
        s = self.shard(e["shard"])
        r = e["row"]
        v0, v1 = int(s["vertex_offsets"][r]), int(s["vertex_offsets"][r + 1])
        f0, f1 = int(s["face_offsets"][r]), int(s["face_offsets"][r + 1])
        return {
            "vertices": np.array(s["vertices"][v0:v1]).transpose(1, 0, 2),  # stored (N, T, 3); copied
            "faces": np.array(s["faces"][f0:f1], dtype=np.int64),
            "caption": str(s["caption"][r]),
            "center": np.array(s["center"][r]),
            "scale": float(s["scale"][r]),
            "source": str(s["source"][r]),
        }

    def data(self, i: int, max_vertices: Optional[int] = None, over_limit: str = "simplify") -> Optional[Data]:
        clip = self.read(i)
        capped = _apply_cap(clip["vertices"], clip["faces"], max_vertices, over_limit, clip["source"])
        if capped is None:
            return None
        return clip_to_data(capped[0], capped[1], clip["caption"], clip["center"], clip["scale"],
                            source=clip["source"])


def _check_cap(max_vertices, over_limit):
    if over_limit not in OVER_LIMIT:
        raise ValueError(f"Expected 'over_limit' to be one of {OVER_LIMIT} (got {over_limit!r})")
    if max_vertices is not None and max_vertices < 1:
        raise ValueError(f"Expected 'max_vertices' >= 1 (got {max_vertices})")


class ClipDataset(Dataset):
    r"""Map-style dataset over a clip folder (see :class:`ClipShards`).

    Args:
        root (str or Path): folder written by ``meshflow data build``.
        transform (callable, optional): applied to every sample.
        max_vertices (int, optional): vertex cap per clip. (default: none)
        over_limit (str, optional): ``"simplify"`` (vertex clustering), ``"skip"``
            (left out of the index, using the vertex counts in ``index.jsonl``) or
            ``"error"``. (default: :obj:`"simplify"`)
    """

    def __init__(self, root, transform: Optional[Callable] = None, max_vertices: Optional[int] = None,
                 over_limit: str = "simplify"):
        _check_cap(max_vertices, over_limit)
        self.shards = ClipShards(root)
        self.transform = transform
        self.max_vertices = max_vertices
        self.over_limit = over_limit
        keep = np.arange(len(self.shards))
        if max_vertices is not None and over_limit == "skip":
            keep = keep[self.shards.num_vertices <= max_vertices]
        self.indices = keep

    @property
    def frames(self) -> int:
        return self.shards.frames

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, idx: int) -> Data:
        data = self.shards.data(int(self.indices[idx]), self.max_vertices, self.over_limit)
        return self.transform(data) if self.transform is not None else data

    def captions(self) -> List[str]:
        return [self.shards.index[i]["caption"] for i in self.indices]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({len(self)}, frames={self.frames})"


class StreamingClipDataset(IterableDataset):
    r"""Iterable dataset over a clip folder, for data sets too large to index at random.

    Each epoch visits the shards in a shuffled order and each shard's clips in a
    shuffled order (``seed`` + epoch, see :meth:`set_epoch`). Work is split so that
    every clip is seen once per epoch across all data-loader workers and all
    distributed ranks: whole shards per worker when there are enough of them,
    otherwise clips dealt out in turn.

    Args:
        root (str or Path): folder written by ``meshflow data build``.
        shuffle (bool, optional): shuffle shards and clips. (default: :obj:`True`)
        seed (int, optional): base seed. (default: :obj:`0`)
        transform, max_vertices, over_limit: as in :class:`ClipDataset`
            (``"skip"`` leaves over-cap clips out of the stream).
        rank, world_size (int, optional): distributed split (default: from
            :mod:`torch.distributed` when initialised, else 0 and 1).
    """

    def __init__(self, root, shuffle: bool = True, seed: int = 0, transform: Optional[Callable] = None,
                 max_vertices: Optional[int] = None, over_limit: str = "simplify",
                 rank: Optional[int] = None, world_size: Optional[int] = None):
        _check_cap(max_vertices, over_limit)
        self.shards = ClipShards(root)
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.transform = transform
        self.max_vertices, self.over_limit = max_vertices, over_limit
        if rank is None or world_size is None:
            dist = torch.distributed
            if dist.is_available() and dist.is_initialized():
                rank, world_size = dist.get_rank(), dist.get_world_size()
            else:
                rank, world_size = 0, 1
        self.rank, self.world_size = rank, world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> List[np.ndarray]:
        """Clip indices per shard, in this epoch's order."""
        rng = np.random.default_rng([self.seed, self.epoch])
        per_shard: Dict[int, List[int]] = {}
        for i, e in enumerate(self.shards.index):
            if (self.max_vertices is not None and self.over_limit == "skip"
                    and e["vertices"] > self.max_vertices):
                continue
            per_shard.setdefault(e["shard"], []).append(i)
        shard_ids = sorted(per_shard)
        if self.shuffle:
            shard_ids = [shard_ids[k] for k in rng.permutation(len(shard_ids))]
        out = []
        for s in shard_ids:
            idx = np.asarray(per_shard[s])
            out.append(idx[rng.permutation(len(idx))] if self.shuffle else idx)
        return out

    def __iter__(self) -> Iterator[Data]:
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        total, me = self.world_size * workers, self.rank * workers + worker
        order = self._order()
        if len(order) >= total:
            mine = np.concatenate(order[me::total]) if order[me::total] else np.zeros(0, np.int64)
        else:
            flat = np.concatenate(order) if order else np.zeros(0, np.int64)
            mine = flat[me::total]
        for i in mine:
            data = self.shards.data(int(i), self.max_vertices, self.over_limit)
            if data is None:
                continue
            yield self.transform(data) if self.transform is not None else data

    def __len__(self) -> int:
        if self.max_vertices is not None and self.over_limit == "skip":
            return int((self.shards.num_vertices <= self.max_vertices).sum())
        return len(self.shards)


class AnimationFileDataset(Dataset):
    r"""Map-style dataset over animation files (``.npz``, DyMesh ``.bin`` / ``.pkl``).

    Each file is one sample: ``frames`` frames from frame 0 (``window="start"``, as
    the original training code reads its ``.bin`` files) or from a random start
    (``window="random"``); welded and normalised on the fly.

    Args:
        sources: files and/or folders (searched recursively).
        frames (int, optional): frames per sample; files with fewer are refused.
            (default: :obj:`16`)
        window (str, optional): ``"start"`` or ``"random"``. (default: :obj:`"start"`)
        transform, max_vertices, over_limit: as in :class:`ClipDataset`
            (``"skip"`` returns ``None`` for an over-cap file; PyG's loader cannot
            batch ``None``, so prefer ``"simplify"`` here).
    """

    SUFFIXES = ANIMATION_SUFFIXES

    def __init__(self, sources, frames: int = 16, window: str = "start", transform: Optional[Callable] = None,
                 max_vertices: Optional[int] = None, over_limit: str = "simplify"):
        _check_cap(max_vertices, over_limit)
        if window not in ("start", "random"):
            raise ValueError(f"Expected 'window' to be 'start' or 'random' (got {window!r})")
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        files = []
        for src in sources:
            src = Path(src)
            if src.is_dir():
                files += sorted(p for p in src.rglob("*") if p.suffix.lower() in self.SUFFIXES)
            else:
                files.append(src)
        self.files = files
        self.frames, self.window = frames, window
        self.transform = transform
        self.max_vertices, self.over_limit = max_vertices, over_limit

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, idx: int) -> Optional[Data]:

        path = self.files[idx]
        anim = load_animation(path)
        v = anim.vertices
        if v.shape[0] < self.frames:
            raise AnimationFileError(path, f"has {v.shape[0]} frames (expected at least {self.frames})",
                                     "too few frames")
        start = 0 if self.window == "start" else int(torch.randint(v.shape[0] - self.frames + 1, ()))
        v = v[start:start + self.frames]
        capped = _apply_cap(v, anim.faces, self.max_vertices, self.over_limit, str(path))
        if capped is None:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = animation_to_data(capped[0], capped[1], anim.prompt, source=str(path))
        return self.transform(data) if self.transform is not None else data
