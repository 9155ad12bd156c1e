"""Data for the trainers: datasets, a held-out split by source, loaders, a latent cache.

``data.root`` is a clip folder written by ``meshflow data build`` (it has a
``manifest.json``), a folder of animation files (``.npz`` / DyMesh ``.bin``), or
a latent cache written by ``meshflow train cache-latents`` (it has a
``latents.json``; flow training only). With ``data.source=dymesh-archives`` it is
a folder of ``.tar.zst`` archive groups (the DyMesh release's split parts, or
``meshflow data shards`` output) or glob patterns, streamed by
:class:`~meshflow.data.archives.ArchiveLoader`; its validation set is the members
whose name hashes into ``val_fraction`` (read from the start of the archives, at most
``max_val_clips``, at every validation).

The validation split holds out whole *sources* (an animated file yields many
windows; none of a held-out file's windows are trained on), chosen by a stable
hash of the source name, so the split does not change when data is added.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, Subset
from torch_geometric.data import Data

from ..data.archives import ArchiveDataset, ArchiveLoader, Windowing, is_held_out
from ..data.dataset import AnimationFileDataset, ClipDataset
from ..data.transforms import RandomRotateUp, RandomScale, ShuffleVertices
from ..errors import MeshflowError
from ..io.atomic import atomic_file
from ..models.dymesh_vae import load_vae
from ..progress import min_interval
from .config import DATA_SOURCES, ConfigError, DataConfig, LoopConfig

LATENT_INDEX = "latents.json"


def _augmentations():
    from torch_geometric.transforms import Compose


    return Compose([RandomRotateUp(), RandomScale(), ShuffleVertices()])


def open_dataset(cfg: DataConfig, augment: bool):
    """The dataset under ``cfg.root`` and the source name of each of its samples."""

    if cfg.source == "dymesh-archives":
        raise MeshflowError(f"{cfg.root}: archives are streamed (make_dataloaders), not opened as a map-style "
                            "dataset; `meshflow data build` turns their samples into a clip folder")
    root = Path(cfg.root)
    if not root.exists():
        raise MeshflowError(f"{root}: data.root not found (a clip folder from `meshflow data build`, "
                            "a folder of .npz animations, or a latent cache)")
    transform = _augmentations() if augment else None
    if (root / LATENT_INDEX).is_file():
        ds = LatentDataset(root)
        return ds, ds.sources
    if (root / "manifest.json").is_file():
        ds = ClipDataset(root, transform=transform, max_vertices=cfg.max_vertices, over_limit="skip")
        if ds.frames != cfg.frames:
            raise MeshflowError(f"{root}: clips have {ds.frames} frames, data.frames is {cfg.frames}")
        sources = [ds.shards.index[i].get("source", str(i)) for i in ds.indices]
        return ds, sources
    ds = AnimationFileDataset(root, frames=cfg.frames, window="random" if augment else "start",
                              transform=transform, max_vertices=cfg.max_vertices, over_limit="simplify")
    if len(ds) == 0:
        raise MeshflowError(f"{root}: no clips found (expected manifest.json, latents.json or .npz/.bin files)")
    return ds, [str(p) for p in ds.files]


def source_file(source: str) -> str:
    """The file a clip came from: ``"Horse.glb#Armature|Gallop@16"`` -> ``"Horse.glb"``
    (the clip builder appends ``#clip`` and ``@first_frame`` to the file name)."""
    return source.split("@", 1)[0].split("#", 1)[0]


def split_by_source(sources: Sequence[str], val_fraction: float, max_val: int) -> Tuple[List[int], List[int]]:
    """Indices ``(train, val)``: a source *file* goes to validation (all its clips and windows)
    when the CRC32 of its name falls in the first ``val_fraction`` of the hash range; at least
    one file is held out when there are two or more."""
    if val_fraction <= 0:
        return list(range(len(sources))), []
    sources = [source_file(s) for s in sources]
    names = sorted(set(sources))
    held = {s for s in names if is_held_out(s, val_fraction)}
    if not held and len(names) > 1:
        held = {min(names, key=lambda s: zlib.crc32(s.encode()))}
    if len(held) == len(names):  # never hold out everything
        held.discard(max(names, key=lambda s: zlib.crc32(s.encode())))
    train = [i for i, s in enumerate(sources) if s not in held]
    val = [i for i, s in enumerate(sources) if s in held][:max_val]
    return train, val


def held_out_files(folder, val_fraction: float, pattern: str = "*.glb") -> List[Path]:
    """The files under ``folder`` (``pattern``, recursively, sorted) that :func:`split_by_source` holds out:
    whole files, by the trainers' rule (the evaluation report's held-out Quaternius files)."""
    files = sorted(Path(folder).rglob(pattern))
    _, val = split_by_source([f.name for f in files], val_fraction, max_val=len(files))
    return [files[i] for i in val]


def make_dataloaders(cfg: DataConfig, loop: LoopConfig, seed: int = 0, latent_cache: Optional[str] = None):
    """``(train_loader, val_loader or None)`` over PyG batches (no padding)."""
    from torch_geometric.loader import DataLoader

    if cfg.source not in DATA_SOURCES:
        raise ConfigError(f"Expected data.source to be one of {', '.join(DATA_SOURCES)} (got {cfg.source!r})")
    if latent_cache:
        cfg = DataConfig(**{**cfg.__dict__, "root": latent_cache, "source": "auto"})
    if cfg.source == "dymesh-archives":
        return archive_loaders(cfg, loop, seed)
    train_ds, sources = open_dataset(cfg, augment=cfg.augment)
    train_idx, val_idx = split_by_source(sources, cfg.val_fraction, cfg.max_val_clips)
    if not train_idx:
        raise MeshflowError(f"{cfg.root}: no training clips left after the validation split")
    val_loader = None
    if val_idx:
        val_ds, _ = open_dataset(cfg, augment=False)
        val_loader = DataLoader(Subset(val_ds, val_idx), batch_size=loop.batch_size, shuffle=False)
    # A generator of its own: creating an iterator then draws no number from the global stream,
    # which keeps training on a resumed run bit-identical to an uninterrupted one.
    train_loader = DataLoader(Subset(train_ds, train_idx), batch_size=loop.batch_size, shuffle=True,
                              num_workers=cfg.num_workers, drop_last=len(train_idx) >= 2 * loop.batch_size,
                              persistent_workers=cfg.num_workers > 0,
                              generator=torch.Generator().manual_seed(seed))
    return train_loader, val_loader


def archive_loaders(cfg: DataConfig, loop: LoopConfig, seed: int = 0):
    """``(train_loader, val_loader or None)`` streaming the archives of ``cfg.root`` (see the module docstring):
    the training loader splits the shards over this process's rank and ``num_workers`` readers and
    puts batches on this process's device."""
    from accelerate import PartialState

    if cfg.shuffle_buffer < 0:
        raise ConfigError(f"Expected data.shuffle_buffer >= 0 (got {cfg.shuffle_buffer})")
    device = PartialState().device
    windowing = Windowing(frames=cfg.frames, max_vertices=cfg.max_vertices, over_limit="skip")
    train_ds = ArchiveDataset(cfg.root, batch_size=loop.batch_size, windowing=windowing,
                              shuffle_buffer=cfg.shuffle_buffer, seed=seed, split="train",
                              val_fraction=cfg.val_fraction, transform=_augmentations() if cfg.augment else None)
    val_loader = None
    if cfg.val_fraction > 0 and cfg.max_val_clips > 0:
        val_ds = ArchiveDataset(cfg.root, batch_size=loop.batch_size, windowing=windowing, shuffle_buffer=0,
                                shuffle_shards=False, split="val", val_fraction=cfg.val_fraction,
                                limit=cfg.max_val_clips, rank=0, world_size=1)
        val_loader = ArchiveLoader(val_ds, device=device, train=False)
    return ArchiveLoader(train_ds, num_workers=cfg.num_workers, device=device), val_loader


# ------------------------------------------------------------ latent cache ---
class LatentDataset(Dataset):
    """Clips already encoded by a VAE: each item is ``Data(latents=(1, K, 2L), caption=str)``.

    The cache stores the shape latents and the trajectory posterior (mean, log-variance)
    of every clip; every access draws a fresh posterior sample, as encoding on the fly would.
    """

    def __init__(self, root):
        self.root = Path(root)
        meta = json.loads((self.root / LATENT_INDEX).read_text())
        arrays = np.load(self.root / meta["file"])
        self.x0 = torch.from_numpy(arrays["shape"])  # (M, K, L)
        self.mean = torch.from_numpy(arrays["traj_mean"])  # (M, K, L)
        self.std = torch.from_numpy(arrays["traj_logvar"]).clamp(-30, 20).mul(0.5).exp()  # (M, K, L)
        self.captions: List[str] = meta["captions"]
        self.sources: List[str] = meta["sources"]
        self.vae = meta.get("vae")

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, i: int) -> Data:
        zt = self.mean[i] + self.std[i] * torch.randn_like(self.std[i])
        return Data(latents=torch.cat([self.x0[i], zt], dim=-1).unsqueeze(0), caption=self.captions[i], num_nodes=1)


@torch.no_grad()
def cache_latents(vae_dir, data_root, out_dir, num_tokens: int = 512, frames: int = 16,
                  max_vertices: int = 20_000, batch_size: int = 8, device: str = "cpu", progress: bool = True) -> Path:
    """Encodes every clip under ``data_root`` with the VAE of ``vae_dir`` into ``out_dir``
    (one npz with ``shape``, ``traj_mean``, ``traj_logvar`` of shape (M, K, L) and ``latents.json``)."""
    from torch_geometric.loader import DataLoader
    from tqdm.auto import tqdm



    vae = load_vae(vae_dir, device=device)
    cfg = DataConfig(root=str(data_root), frames=frames, max_vertices=max_vertices, augment=False, val_fraction=0)
    ds, sources = open_dataset(cfg, augment=False)
    if isinstance(ds, LatentDataset):
        raise MeshflowError(f"{data_root}: is already a latent cache")
    L = vae.config.latent_dim
    shape, mean, logvar, captions = [], [], [], []
    for batch in tqdm(DataLoader(ds, batch_size=batch_size), desc="encode clips", disable=not progress,
                      mininterval=min_interval()):
        batch = batch.to(device)
        z, post = vae.encode(batch, num_tokens=num_tokens, sample_posterior=False)
        shape.append(z[..., :L].cpu())
        mean.append(post.mean.cpu())
        logvar.append(post.logvar.cpu())
        captions += list(batch.caption)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "latents.npz", suffix=".npz") as tmp:
        np.savez(tmp, shape=torch.cat(shape).numpy(), traj_mean=torch.cat(mean).numpy(),
                 traj_logvar=torch.cat(logvar).numpy())
    with atomic_file(out / LATENT_INDEX) as tmp:
        tmp.write_text(json.dumps({
            "file": "latents.npz", "vae": str(vae_dir), "num_tokens": num_tokens, "latent_dim": L,
            "captions": captions, "sources": list(sources)}, indent=1))
    return out
