r"""Stream the released DyMesh ``.tar.zst`` split archives (and meshflow's own shards) as training data.

The DyMesh release ships each subset as *archive groups*: a tar of pickled
samples, zstd-compressed, cut into parts by bytes (``DyMesh_50000v_16f_0000_part_00``,
``..._part_01``, ...; a cut usually falls in the middle of a member). A group is read
as one stream, never extracted:

    parts, in order -> one byte stream -> zstd -> tar (``'r|'``: no seeking, no temporary
    files) -> each member through :class:`~meshflow.io.dymesh.RestrictedUnpickler`
    -> windows, welding, normalisation (as ``meshflow data build``) -> graph
    (:func:`~meshflow.data.dataset.clip_to_data`) -> shuffle buffer -> PyG batches.

Members: ``.bin`` / ``.pkl`` / ``.pickle`` (a dict ``vertices`` (T, N, 3), ``faces``, ``caption``;
nothing in a member can run code) and ``.npz`` (``allow_pickle=False``; the finished clips of
:mod:`meshflow.data.shards`); other members are passed over. A bad member is counted,
named in the log (``archive:member: problem``) and skipped; a truncated or corrupt
stream ends its group with one log line naming the archive, keeping the samples before it.

Sharding (the WebDataset convention): each archive group is a shard; an epoch shuffles
the shard order with ``(seed, epoch)`` and the ``P = world_size * workers`` readers take
shards in turn (:func:`assign_shards`), so no sample is read twice in an epoch across the job.

Resume (:class:`ArchiveLoader`): the checkpoint holds, per shard, the members its reader
had read when the last consumed batch left it. A resumed run never repeats a sample and
skips at most the samples then waiting in that reader's shuffle buffer: ``shuffle_buffer``
per reader when every member gives one clip (DyMesh 16-frame samples with
``data.frames=16``), up to ``batch_size - 1`` more when members give several windows.
"""
from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import IterableDataset
from torch_geometric.data import Batch, Data

from ..errors import MeshflowError
from ..io.dymesh import AnimationFileError
from .clips import _clips_of, _reason
from .dataset import _apply_cap, _check_cap, clip_to_data
from .shards import ArchiveError, ArchiveGroup, decode_member, find_archives, iter_members

log = logging.getLogger(__name__)

STAGES = ("decompress", "unpickle", "window", "graph")  # the benchmark's shares of the time


def is_held_out(name: str, val_fraction: float) -> bool:
    """Whether a member goes to validation: the CRC32 of its name in the first ``val_fraction`` of the range
    (the rule of :func:`meshflow.train.data.split_by_source`, without its at-least-one guarantee)."""
    return val_fraction > 0 and zlib.crc32(name.encode()) / 2 ** 32 < val_fraction


# ------------------------------------------------------------- samples ---
@dataclass
class Windowing:
    """How a member becomes training clips (the settings of ``meshflow data build``)."""

    frames: int = 16  # T: frames per clip
    stride: Optional[int] = None  # frames between window starts (default: frames)
    max_vertices: Optional[int] = None  # welded vertex cap per clip
    over_limit: str = "skip"  # "skip" or "simplify" clips over the cap
    min_motion: float = 1e-3  # windows moving less (normalised) are skipped as "no motion"

    def cfg(self) -> dict:
        return {"frames": self.frames, "stride": self.stride or self.frames, "min_motion": self.min_motion,
                "max_vertices": self.max_vertices, "over_limit": self.over_limit}


def sample_clips(sample: dict, source: str, windowing: Windowing, stats: Optional[dict] = None
                 ) -> Tuple[List[Data], List[Tuple[str, str]]]:
    r"""The training graphs of one decoded member and the windows skipped ``(source, reason)``.

    An animation is welded, cut into windows and normalised exactly as
    ``meshflow data build`` does; a finished clip (``center`` in the sample) only has
    the vertex cap applied. ``stats`` (optional) receives ``"window"`` and ``"graph"`` seconds.
    """
    t0 = time.perf_counter()
    v, f = sample["vertices"], sample["faces"]
    records: List[dict] = []
    skipped: List[Tuple[str, str]] = []
    if "center" in sample:
        capped = _apply_cap(v, f, windowing.max_vertices, windowing.over_limit, source)
        if capped is None:
            skipped.append((source, "too many vertices"))
        else:
            records.append({"vertices": capped[0], "faces": capped[1], "caption": sample["caption"],
                            "center": sample["center"], "scale": sample["scale"],
                            "source": sample.get("source", source)})
    else:
        records, skipped = _clips_of(v, f, sample["caption"], source, windowing.cfg())
    t1 = time.perf_counter()
    out = [clip_to_data(r["vertices"], r["faces"], r["caption"], r["center"], r["scale"], source=r["source"])
           for r in records]
    if stats is not None:
        stats["window"] = stats.get("window", 0.0) + t1 - t0
        stats["graph"] = stats.get("graph", 0.0) + time.perf_counter() - t1
    return out, skipped


def iter_samples(group: ArchiveGroup, windowing: Windowing, skip: int = 0, split: Tuple[int, int] = (0, 1),
                 keep: Optional[Callable[[str], bool]] = None, stats: Optional[dict] = None,
                 on_bad: Optional[Callable[[str, str], None]] = None) -> Iterator[Tuple[int, List[Data]]]:
    r"""``(members read, graphs)`` after every sample member of ``group`` this reader decodes.

    ``skip``: members to pass over first (read, not decoded; a resumed position); ``split``
    ``(k, m)``: decode only members at positions ``k`` modulo ``m``; ``keep``: member name ->
    whether to decode it (the train/val split); ``stats``: seconds per stage (:data:`STAGES`),
    ``samples``, ``bad``, ``skipped``, ``errors``; ``on_bad(where, problem)`` for every bad member
    or window (default: a warning in the log). A damaged stream ends the group with an error line.
    """
    stats = {} if stats is None else stats
    k, m = split
    report = on_bad or (lambda where, problem: log.warning("%s: %s", where, problem))
    read = 0
    try:
        for name, data in iter_members(group, stats):
            read += 1
            if read <= skip or data is None or (read - 1) % m != k or (keep is not None and not keep(name)):
                continue
            where = f"{group.name}:{name}"
            t = time.perf_counter()
            try:
                sample = decode_member(name, data, where)
            except AnimationFileError as e:
                stats["bad"] = stats.get("bad", 0) + 1
                report(where, f"{e.reason}: {e.problem}")
                continue
            finally:
                stats["unpickle"] = stats.get("unpickle", 0.0) + time.perf_counter() - t
            if sample is None:
                continue
            try:
                graphs, skipped = sample_clips(sample, where, windowing, stats)
            except Exception as e:  # one sample never stops the stream
                graphs, skipped = [], [(where, _reason(e))]
            for src, why in skipped:
                stats["skipped"] = stats.get("skipped", 0) + 1
                report(src, f"skipped ({why})")
            stats["samples"] = stats.get("samples", 0) + len(graphs)
            yield read, graphs
    except ArchiveError as e:
        stats["errors"] = stats.get("errors", 0) + 1
        log.error("%s", e)
        if on_bad is not None:
            on_bad(group.name, str(e))


# ------------------------------------------------------------- dataset ---
def _dist_info() -> Tuple[int, int]:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def assign_shards(names: Sequence[str], readers: int, reader: int) -> List[Tuple[str, int, int]]:
    r"""The ``(shard, k, m)`` work of reader ``reader`` of ``readers`` over shards ``names`` (in the
    epoch's order): whole shards in turn when there are at least as many shards as readers,
    otherwise shard ``reader % S`` with members ``k`` modulo ``m``."""
    s = len(names)
    if s == 0:
        return []
    if s >= readers:
        return [(n, 0, 1) for n in names[reader::readers]]
    j = reader % s
    m = len(range(j, readers, s))
    return [(names[j], reader // s, m)]


def shard_key(name: str, k: int, m: int) -> str:
    return name if m == 1 else f"{name}[{k}/{m}]"


class ArchiveDataset(IterableDataset):
    r"""Iterable dataset of PyG batches streamed from archive groups (see the module docstring).

    Every item is ``(batch, position)``: a :class:`torch_geometric.data.Batch` of up to
    ``batch_size`` graphs and this reader's position ``{shard key: members read, or -1 when
    done}``. :class:`ArchiveLoader` unpacks them.

    Args:
        root: folder of archives, glob pattern or list of them (:func:`find_archives`).
        batch_size (int): graphs per batch. (default: :obj:`64`)
        windowing (Windowing, optional): frames, stride, vertex cap. (default: :class:`Windowing`)
        shuffle_buffer (int, optional): samples each reader holds to shuffle (0: stream order).
            (default: :obj:`128`)
        shuffle_shards (bool, optional): shuffle the shard order every epoch. (default: :obj:`True`)
        seed (int, optional): base seed of the shard order and the buffers. (default: :obj:`0`)
        split (str, optional): ``"train"`` (members not held out), ``"val"`` (only held-out ones)
            or ``"all"``. (default: :obj:`"all"`)
        val_fraction (float, optional): share of member names held out (:func:`is_held_out`).
        transform (callable, optional): applied to every graph.
        limit (int, optional): stop after this many graphs per reader (validation).
        rank, world_size (int, optional): the distributed split (default: from :mod:`torch.distributed`).
    """

    def __init__(self, root, batch_size: int = 64, windowing: Optional[Windowing] = None,
                 shuffle_buffer: int = 128, shuffle_shards: bool = True, seed: int = 0, split: str = "all",
                 val_fraction: float = 0.0, transform: Optional[Callable] = None, limit: Optional[int] = None,
                 rank: Optional[int] = None, world_size: Optional[int] = None):
        if split not in ("train", "val", "all"):
            raise ValueError(f"Expected 'split' to be 'train', 'val' or 'all' (got {split!r})")
        if batch_size < 1:
            raise ValueError(f"Expected 'batch_size' >= 1 (got {batch_size})")
        if shuffle_buffer < 0:
            raise ValueError(f"Expected 'shuffle_buffer' >= 0 (got {shuffle_buffer})")
        self.windowing = windowing or Windowing()
        _check_cap(self.windowing.max_vertices, self.windowing.over_limit)
        self.groups = find_archives(root)
        self.batch_size, self.shuffle_buffer = batch_size, shuffle_buffer
        self.shuffle_shards, self.seed, self.epoch = shuffle_shards, seed, 0
        self.split, self.val_fraction = split, val_fraction
        self.transform, self.limit = transform, limit
        if rank is None or world_size is None:
            rank, world_size = _dist_info()
        self.rank, self.world_size = rank, world_size
        self.resume: Dict[str, int] = {}  # shard key -> members read (-1: done), for this epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def shard_order(self) -> List[str]:
        """The shard names in this epoch's order."""
        names = [g.name for g in self.groups]
        if self.shuffle_shards:
            perm = np.random.default_rng([self.seed, self.epoch]).permutation(len(names))
            names = [names[i] for i in perm]
        return names

    def work(self, workers: int, worker: int) -> List[Tuple[str, int, int]]:
        """This reader's ``(shard, k, m)`` list in this epoch."""
        return assign_shards(self.shard_order(), self.world_size * workers, self.rank * workers + worker)

    def _keep(self) -> Optional[Callable[[str], bool]]:
        if self.split == "all" or self.val_fraction <= 0:
            return None if self.split != "val" else (lambda name: False)
        held = self.split == "val"
        return lambda name: is_held_out(name, self.val_fraction) == held

    def __iter__(self) -> Iterator[Tuple[Batch, Dict[str, int]]]:
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker, 1])
        by_name = {g.name: g for g in self.groups}
        position: Dict[str, int] = {}
        buffer: List[Data] = []
        batch: List[Data] = []
        emitted = 0

        room = (lambda: self.limit - emitted) if self.limit is not None else (lambda: 1 << 62)
        for name, k, m in self.work(workers, worker):
            key = shard_key(name, k, m)
            if room() <= 0 or self.resume.get(key, 0) < 0:
                position[key] = self.resume.get(key, 0)
                continue
            for read, graphs in iter_samples(by_name[name], self.windowing, skip=self.resume.get(key, 0),
                                             split=(k, m), keep=self._keep()):
                position[key] = read
                for g in graphs[:max(0, room())]:
                    emitted += 1
                    buffer.append(self.transform(g) if self.transform is not None else g)
                    while len(buffer) > self.shuffle_buffer:
                        batch.append(buffer.pop(int(rng.integers(len(buffer))) if self.shuffle_buffer else 0))
                while len(batch) >= self.batch_size:
                    out, batch[:] = batch[:self.batch_size], batch[self.batch_size:]
                    yield Batch.from_data_list(out), dict(position)
                if room() <= 0:
                    break
            else:
                position[key] = -1
        rng.shuffle(buffer)
        rest = batch + buffer
        for i in range(0, len(rest), self.batch_size):
            yield Batch.from_data_list(rest[i:i + self.batch_size]), dict(position)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({len(self.groups)} archives, split={self.split!r})"


class ArchiveLoader:
    r"""The loader over an :class:`ArchiveDataset`: batches on ``device``, resumable.

    It iterates a :class:`torch.utils.data.DataLoader` with ``num_workers`` readers (no
    collation: the readers batch). A training loader (``train=True``) keeps the position
    of every batch it hands out and is checkpointed through ``state_dict`` /
    ``load_state_dict`` (gathered over the ranks: the positions of every shard of the
    job); its epoch ends on every rank when one rank runs out (they agree before every
    batch); an epoch that yields nothing from its start is an error. ``resumes_itself``
    tells the training loop not to skip batches on resume and to end the epoch when the
    iteration ends. A validation loader (``train=False``) reads from the start every time.

    Args:
        dataset (ArchiveDataset): the stream.
        num_workers (int, optional): data-loader workers. (default: :obj:`0`)
        device (torch.device, optional): where batches go. (default: CPU)
        train (bool, optional): a training loader (see above). (default: :obj:`True`)
    """

    resumes_itself = True

    def __init__(self, dataset: ArchiveDataset, num_workers: int = 0, device=None, train: bool = True):
        self.dataset = dataset
        self.num_workers = num_workers
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.train = train
        self.epoch = 0
        self.position: Dict[str, int] = {}  # of the batches handed out in this epoch
        self.resume: Dict[str, int] = {}
        self.resume_epoch = -1

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.position = {}
        self.epoch = epoch

    def __len__(self) -> int:
        raise TypeError("an archive stream has no length: its epoch ends when a rank runs out of samples")

    def _agree(self, have: bool) -> bool:
        dist = torch.distributed
        if not (self.train and self.dataset.world_size > 1 and dist.is_available() and dist.is_initialized()):
            return have
        flag = torch.tensor([1 if have else 0], device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        return bool(flag.item())

    def __iter__(self) -> Iterator[Batch]:
        ds = self.dataset
        ds.set_epoch(self.epoch)
        resume: Dict[str, int] = {}
        if self.train:  # a resumed epoch, or a loop that broke off and iterates again, goes on
            resume = merge_positions(self.resume if self.resume_epoch == self.epoch else {}, self.position)
            self.position = dict(resume)  # a checkpoint before a reader's first batch keeps its position
        ds.resume = resume
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=self.num_workers,
                                             persistent_workers=False)
        handed = 0
        for item in _then_none(loader):
            if not self._agree(item is not None):
                break
            batch, position = item
            if self.train:
                self.position = merge_positions(self.position, position)
            handed += 1
            yield batch.to(self.device)
        if self.train and handed == 0 and not resume:
            raise MeshflowError(f"{', '.join(str(g.parts[0].parent / g.name) for g in ds.groups[:3])}"
                                f"{' ...' if len(ds.groups) > 3 else ''}: no training samples in the archives")

    # ------------------------------------------------------------ resume ---
    def state_dict(self) -> dict:
        """``{"epoch", "shards": {shard key: members read or -1}}`` of every rank (a collective call)."""
        positions = dict(self.position)
        if self.dataset.world_size > 1 and torch.distributed.is_initialized():
            gathered: List[Optional[dict]] = [None] * self.dataset.world_size
            torch.distributed.all_gather_object(gathered, positions)
            positions = {}
            for d in gathered:
                positions = merge_positions(positions, d or {})
        return {"epoch": self.epoch, "shards": positions}

    def load_state_dict(self, state: dict) -> None:
        self.resume_epoch = int(state["epoch"])
        self.resume = {str(k): int(v) for k, v in state["shards"].items()}
        self.position = {}


def merge_positions(a: Dict[str, int], b: Dict[str, int]) -> Dict[str, int]:
    """Shard positions of ``a`` and ``b``, the further of the two for each shard (``-1``, done, is furthest)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = -1 if v < 0 or out.get(k, 0) < 0 else max(v, out.get(k, 0))
    return out


def _then_none(iterable):
    """The items of ``iterable``, then ``None`` forever (a rank that ran out still takes part in the vote)."""
    yield from iterable
    while True:
        yield None
