r"""The ``.tar.zst`` container: find and stream archive groups, decode members, write meshflow's shards, verify.

:func:`find_archives` groups split parts (``NAME_part_00``, ``NAME_part_01``, ...) into
archive groups; :func:`iter_members` reads a group as one stream (parts in order ->
zstd -> tar ``'r|'``: no seeking, no temporary files) and names the archive when the
stream is truncated or damaged; :func:`decode_member` turns a member into a sample
through the restricted unpickler (``.bin`` / ``.pkl``) or ``np.load(allow_pickle=False)``
(``.npz``). :mod:`meshflow.data.archives` builds the training stream on these.

:func:`write_shards` turns any source meshflow reads (clip folders from ``meshflow
data build``, glTF files and folders, DyMesh ``.bin``, npz animations) into
``.tar.zst`` shards that :class:`~meshflow.data.archives.ArchiveDataset` streams
like the DyMesh release:

``OUT/shard-00000.tar.zst`` ...
    a zstd-compressed tar of ``NNNNNNNNN.npz`` members, one finished clip each:
    ``vertices`` (T, N, 3) float32 normalised (frame-0 box centre, largest absolute
    coordinate), ``faces`` (F, 3) int32, ``caption``, ``source``, ``center`` (3,) and
    ``scale`` () back to file units. No pickles: members load with ``allow_pickle=False``.
``OUT/manifest.json``
    ``{"format": "meshflow-shards", "frames", "shards": [{"file", "samples"}], "report"}``.

The folder is written whole or not at all (built in a temporary folder beside it
and renamed into place); clips are windowed, welded and normalised exactly as
``meshflow data build`` does.

:func:`verify_archives` reads every archive group of a folder (released parts or
shards) as a stream and counts, per group, the members, the samples that decode and
pass the training checks, and the bad members with their reasons.
"""
from __future__ import annotations

import io
import json
import re
import tarfile
import time
from collections import Counter, defaultdict
from contextlib import closing
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import zstandard

from ..errors import MeshflowError
from ..io.atomic import atomic_folder
from ..io.dymesh import NPZ_SUFFIXES, PICKLE_SUFFIXES, AnimationFileError, _to_sample, check_animation, safe_unpickle
from .clips import Tally, clip_settings, find_sources, source_clips
from .dataset import ClipShards

FORMAT = "meshflow-shards"
VERSION = 1
#: ``NAME_part_00``, ``NAME.part01``, ``NAME-part-2``, and split's suffixes ``NAME.tar.zst.000``, ``NAME.tar.zst.aa``.
_PART_RE = re.compile(r"^(?P<group>.+?)(?:[._-]part[._-]?(?P<part>\d+)|\.zst\.(?P<num>\d+|[a-z]{2,}))$")
_ARCHIVE_RE = re.compile(r"(\.tar\.zst|\.tzst|\.tar\.zstd)$|[._-]part[._-]?\d+$|\.zst\.(\d+|[a-z]{2,})$")
CHUNK = 1 << 20  # bytes read from the parts at a time


class ArchiveError(MeshflowError):
    """A damaged archive stream (truncated, not zstd, not a tar): the message names the archive."""


@dataclass(frozen=True)
class ArchiveGroup:
    """One archive: its parts, read in this order as one stream."""

    name: str
    parts: Tuple[Path, ...]

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.parts)


def _part_key(path: Path) -> Tuple[str, int]:
    m = _PART_RE.match(path.name)
    if m is None:
        return re.sub(r"(\.tar\.zst|\.tzst|\.tar\.zstd)$", "", path.name), 0
    group, num = m.group("group"), m.group("part") or m.group("num")
    part = int(num) if num.isdigit() else sum((ord(c) - 97) * 26 ** k for k, c in enumerate(reversed(num)))
    return re.sub(r"(\.tar\.zst|\.tzst|\.tar\.zstd|\.tar)$", "", group), part  # .zst.NN left NAME.tar


def find_archives(root: Union[str, Path, Sequence[Union[str, Path]]]) -> List[ArchiveGroup]:
    r"""The archive groups under ``root``: a folder (every archive file in it, not recursive),
    a glob pattern, or a list of folders and patterns (``"a/*.tar.zst, b/part_*"`` too).

    Parts are grouped by their name without the part number (``X_part_00``,
    ``X.part01``, ``X.tar.zst.000``) and sorted by that number; groups by name.

    Raises:
        MeshflowError: nothing matches (the message names what was searched).
    """
    items = [root] if isinstance(root, (str, Path)) else list(root)
    patterns = [s.strip() for item in items for s in str(item).split(",") if s.strip()]
    files: List[Path] = []
    for pattern in patterns:
        p = Path(pattern)
        if p.is_dir():
            files += [f for f in p.iterdir() if f.is_file() and _ARCHIVE_RE.search(f.name)]
        else:
            files += [Path(f) for f in glob(pattern) if Path(f).is_file()]
    groups: Dict[Tuple[Path, str], List[Tuple[int, Path]]] = defaultdict(list)
    for f in dict.fromkeys(files):
        name, part = _part_key(f)
        groups[(f.parent, name)].append((part, f))
    if not groups:
        raise MeshflowError(f"{', '.join(patterns) or root}: no archives found (expected .tar.zst files or "
                            "split parts such as NAME_part_00)")
    out = [ArchiveGroup(name, tuple(p for _, p in sorted(parts))) for (_, name), parts in groups.items()]
    return sorted(out, key=lambda g: (g.name, str(g.parts[0])))


# ------------------------------------------------------------ streaming ---
class _ZstdStream(io.RawIOBase):
    """The parts of a group as one decompressed byte stream (what ``tarfile`` reads, ``'r|'``).

    Frames that follow each other are decoded in turn; ``truncated`` is set when the
    input ends inside a frame.
    """

    def __init__(self, group: ArchiveGroup):
        super().__init__()
        self.group = group
        self._parts = iter(group.parts)
        self._file = None
        self._dec = zstandard.ZstdDecompressor().decompressobj()
        self._started = False  # the current frame has had input
        self._buf = bytearray()
        self.truncated = False

    def readable(self) -> bool:
        return True

    def _raw(self) -> bytes:
        while True:
            if self._file is None:
                part = next(self._parts, None)
                if part is None:
                    return b""
                try:
                    self._file = open(part, "rb")
                except OSError as e:
                    raise ArchiveError(f"{part}: cannot read ({e.strerror})") from None
            chunk = self._file.read(CHUNK)
            if chunk:
                return chunk
            self._file.close()
            self._file = None

    def _fill(self, n: int) -> None:
        while len(self._buf) < n:
            chunk = self._raw()
            if not chunk:
                self.truncated = self._started and not self._dec.eof
                break
            while chunk:
                try:
                    self._buf += self._dec.decompress(chunk)
                except zstandard.ZstdError as e:
                    raise ArchiveError(f"{self.group.name}: not a readable zstd stream ({e})") from None
                self._started = True
                if self._dec.eof:  # another frame may follow
                    chunk = self._dec.unused_data
                    self._dec = zstandard.ZstdDecompressor().decompressobj()
                    self._started = False
                else:
                    chunk = b""

    def readinto(self, b) -> int:
        if len(self._buf) < len(b):
            self._fill(len(b))
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        del self._buf[:n]
        return n

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()


def iter_members(group: ArchiveGroup, stats: Optional[dict] = None) -> Iterator[Tuple[str, Optional[bytes]]]:
    r"""``(member name, bytes)`` for every member of an archive group, in order, as a stream
    (non-file members give ``(name, None)``; positions count every member).

    ``stats`` (optional) receives ``"decompress"`` seconds.

    Raises:
        ArchiveError: the stream is truncated or damaged; the message names the archive
            and the last whole member. Members before it have been yielded.
    """
    stream = _ZstdStream(group)
    last = None

    def damaged(e: Exception) -> ArchiveError:
        where = f"after member {last}" if last else "at its start"
        why = "truncated" if stream.truncated or "end of" in str(e) or "empty" in str(e) else f"damaged ({e})"
        return ArchiveError(f"{group.name}: archive {why} {where} (parts: {', '.join(p.name for p in group.parts)})")

    errors = (tarfile.TarError, EOFError, zstandard.ZstdError)
    try:
        try:
            tar = tarfile.open(fileobj=io.BufferedReader(stream, CHUNK), mode="r|")
        except errors as e:
            raise damaged(e) from None
        while True:
            t = time.perf_counter()
            try:
                member = tar.next()
                tar.members = []  # 'r|' keeps every header it read: the stream's memory stays flat
                data = tar.extractfile(member).read() if member is not None and member.isfile() else None
                if data is not None and len(data) != member.size:
                    raise tarfile.ReadError("unexpected end of data")
            except errors as e:
                raise damaged(e) from None
            if stats is not None:
                stats["decompress"] = stats.get("decompress", 0.0) + time.perf_counter() - t
            if member is None:
                break
            last = member.name
            yield member.name, data
    finally:
        stream.close()
    if stream.truncated:
        raise damaged(EOFError("end of input"))


def decode_member(name: str, data: bytes, where: str) -> Optional[dict]:
    r"""A member's sample ``{"vertices" (T, N, 3), "faces" (F, 3), "caption"}`` (and ``center``, ``scale``
    for a finished clip), or ``None`` for a member that is not a sample (by its suffix).

    Raises:
        AnimationFileError: the member is not a usable sample (``where`` names it).
    """
    suffix = Path(name).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return _to_sample(safe_unpickle(data, where), where)
    if suffix in NPZ_SUFFIXES:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                obj = {k: z[k] for k in z.files}
        except ValueError as e:
            raise AnimationFileError(where, f"refused to load: the npz holds pickled objects ({e})",
                                     "unsafe pickle") from None
        except Exception as e:
            raise AnimationFileError(where, f"not a readable npz ({type(e).__name__}: {e})") from None
        sample = _to_sample(obj, where)
        if "center" in obj and "scale" in obj:
            sample["center"] = np.asarray(obj["center"], dtype=np.float32).reshape(3)
            sample["scale"] = float(np.asarray(obj["scale"]).reshape(()))
        if "source" in obj:
            sample["source"] = str(np.asarray(obj["source"]).item())
        return sample
    return None


class _ShardWriter:
    """Writes clip records (:func:`meshflow.data.clips.source_clips`) into ``shard-NNNNN.tar.zst`` files of
    ``shard_size`` members, streaming."""

    def __init__(self, folder: Path, shard_size: int, level: int = 3):
        self.folder, self.shard_size, self.level = folder, shard_size, level
        self.shards: List[dict] = []
        self.count = 0
        self._file = self._zst = self._tar = None
        self._in_shard = 0

    def _open(self) -> None:
        name = f"shard-{len(self.shards):05d}.tar.zst"
        self.shards.append({"file": name, "samples": 0})
        self._file = open(self.folder / name, "wb")
        self._zst = zstandard.ZstdCompressor(level=self.level).stream_writer(self._file, closefd=False)
        self._tar = tarfile.open(fileobj=self._zst, mode="w|")
        self._in_shard = 0

    def add(self, rec: dict) -> None:
        if self._tar is None:
            self._open()
        buf = io.BytesIO()
        np.savez(buf, vertices=np.asarray(rec["vertices"], dtype=np.float32),  # (T, N, 3), saved in C order
                 faces=np.asarray(rec["faces"], dtype=np.int32), caption=np.array(rec["caption"]),
                 source=np.array(rec["source"]), center=np.asarray(rec["center"], dtype=np.float32),
                 scale=np.float32(rec["scale"]))
        info = tarfile.TarInfo(f"{self.count:09d}.npz")
        info.size, info.mtime, info.mode = buf.tell(), 0, 0o644
        buf.seek(0)
        self._tar.addfile(info, buf)
        self.count += 1
        self._in_shard += 1
        self.shards[-1]["samples"] += 1
        if self._in_shard >= self.shard_size:
            self.close()

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._zst.close()
            self._file.close()
            self._file = self._zst = self._tar = None


def _is_shards(folder: Path) -> bool:
    try:
        return json.loads((folder / "manifest.json").read_text()).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def write_shards(sources: Sequence, out_dir, shard_size: int = 2000, frames: int = 16, stride: Optional[int] = None,
                 fps: float = 15.0, max_vertices: Optional[int] = None, over_limit: str = "skip",
                 min_motion: float = 1e-3, workers: Optional[int] = None,
                 progress: Optional[Callable[[int], None]] = None) -> dict:
    r"""Writes meshflow shards from ``sources`` into ``out_dir`` (see the module docstring).

    Args:
        sources: clip folders (with ``manifest.json``), folders of animated files
            (searched recursively) or files.
        out_dir: the output folder (replaced as a whole).
        shard_size (int, optional): clips per shard. (default: :obj:`2000`)
        frames, stride, fps, max_vertices, over_limit, min_motion, workers: as in
            :func:`meshflow.data.clips.build_clips` (clip folders keep their clips as they are).
        progress (callable, optional): called with the number of clips written so far.

    Returns:
        the report: ``clips``, ``shards``, ``files``, ``files_failed`` and ``skipped`` by reason, ``seconds``.

    Raises:
        MeshflowError: a source that does not exist or holds nothing meshflow reads (before anything is written).
    """
    if shard_size < 1:
        raise MeshflowError(f"Expected 'shard_size' >= 1 (got {shard_size})")
    cfg = clip_settings(frames, stride, fps, max_vertices, over_limit, min_motion, error=MeshflowError)
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not _is_shards(out_dir))):
        raise MeshflowError(f"{out_dir}: exists and is not a meshflow shards folder (it would be replaced)")
    start = time.time()
    clip_folders = [Path(s) for s in sources if (Path(s) / "manifest.json").is_file()]
    files = find_sources([s for s in sources if Path(s) not in clip_folders])
    for folder in clip_folders:
        got = json.loads((folder / "manifest.json").read_text()).get("frames")
        if got != frames:
            raise MeshflowError(f"{folder}: its clips have {got} frames (expected --frames {frames})")
    if not files and not clip_folders:
        raise MeshflowError(f"{', '.join(map(str, sources))}: no clip folder or animated file found "
                            "(.glb, .gltf, .npz, .bin, .pkl)")
    tally = Tally()
    with atomic_folder(out_dir, replace=True) as tmp:
        writer = _ShardWriter(tmp, shard_size)
        try:
            for folder in clip_folders:
                clips = ClipShards(folder)
                for i in range(len(clips)):
                    writer.add(clips.read(i))  # a clip record: vertices (T, N, 3), faces, caption, source, ...
            with closing(source_clips(files, cfg, workers, tally)) as results:
                for records in results:
                    for rec in records:
                        writer.add(rec)
                    if progress is not None:
                        progress(writer.count)
        finally:
            writer.close()
        report = {"clips": writer.count, "shards": len(writer.shards), "files": len(files),
                  "clip_folders": len(clip_folders), "files_failed": dict(tally.files_failed),
                  "skipped": dict(tally.skipped), "seconds": round(time.time() - start, 2)}
        manifest = {"format": FORMAT, "version": VERSION, "frames": cfg["frames"], "stride": cfg["stride"],
                    "fps": cfg["fps"], "max_vertices": max_vertices, "over_limit": over_limit,
                    "shards": writer.shards, "report": report}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return report


def verify_archives(root) -> List[dict]:
    r"""Reads every archive group under ``root`` as a stream and checks each member.

    Returns:
        one dict per group: ``archive``, ``parts``, ``members`` (files in the tar),
        ``samples`` (members that decode and pass :func:`~meshflow.io.dymesh.check_animation`),
        ``bad`` (count), ``problems`` (``[(member, reason)]``, at most 20), ``error``
        (the stream's damage, e.g. a truncated last part, or ``None``).
    """
    out = []
    for group in find_archives(root):
        row = {"archive": group.name, "parts": [str(p) for p in group.parts], "members": 0, "samples": 0,
               "bad": 0, "problems": [], "error": None}
        reasons: Counter = Counter()
        try:
            for name, data in iter_members(group):
                if data is None:
                    continue
                row["members"] += 1
                try:
                    sample = decode_member(name, data, f"{group.name}:{name}")
                    if sample is None:
                        continue
                    why = check_animation(sample["vertices"], sample["faces"])
                except AnimationFileError as e:
                    why = f"{e.reason}: {e.problem}"
                if why is None:
                    row["samples"] += 1
                    continue
                row["bad"] += 1
                reasons[why.split(":")[0]] += 1
                if len(row["problems"]) < 20:
                    row["problems"].append((name, why))
        except ArchiveError as e:
            row["error"] = str(e)
        row["reasons"] = dict(reasons)
        out.append(row)
    return out
