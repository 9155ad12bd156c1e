"""Training configurations: typed dataclasses, YAML overrides, command-line ``key=value``.

A run's configuration is the dataclass defaults, merged with a YAML file, merged
with ``key=value`` overrides (OmegaConf structured merge). Unknown keys and
wrongly typed values are errors that name the key.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Type, TypeVar

from ..errors import MeshflowError

T = TypeVar("T")


class ConfigError(MeshflowError, ValueError):
    """A configuration file or override that does not fit the run's configuration."""


#: what ``data.root`` holds: "auto" (a clip folder, a latent cache or animation files, told by their
#: contents) or "dymesh-archives" (.tar.zst archive groups, streamed: meshflow.data.archives).
DATA_SOURCES = ("auto", "dymesh-archives")


@dataclass
class DataConfig:
    root: str = "clips"  # a clip directory (meshflow data build), a folder of npz animations, or archives
    source: str = "auto"  # one of DATA_SOURCES; archives: root is a folder of parts or globs, comma-separated
    shuffle_buffer: int = 128  # archives: samples each reader holds to shuffle (a resume may skip that many)
    frames: int = 16  # T: frames per clip, the VAE's time window
    val_fraction: float = 0.05  # share of clips held out for validation (by clip order, deterministic)
    max_val_clips: int = 256  # validation stays cheap on huge datasets
    max_vertices: int = 20_000  # clips with more welded vertices are skipped (memory bound)
    augment: bool = True  # random rotation about y, global scale, vertex-order shuffling
    num_workers: int = 0  # DataLoader workers per process


@dataclass
class OptimConfig:
    lr: float = 1e-4  # the paper: 1e-4 (VAE), 2e-4 (flow)
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    warmup_steps: int = 500  # linear warm-up, then cosine decay to min_lr_ratio * lr
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0  # max global gradient norm (the original clips at 1.0)


@dataclass
class LoopConfig:
    max_steps: int = 100_000  # optimiser steps (after gradient accumulation)
    batch_size: int = 64  # clips per process per micro-batch (the original: 64 per GPU)
    grad_accum: int = 1
    mixed_precision: str = "no"  # "no" | "bf16" | "fp16" (bf16 on GPUs)
    seed: int = 0
    log_every: int = 10
    val_every: int = 500
    save_every: int = 1000
    keep_last: int = 3  # checkpoints kept in checkpoints/
    cpu: bool = False  # force CPU even where a GPU exists


def to_container(cfg) -> dict:
    """Plain nested dict of a dataclass config."""
    return dataclasses.asdict(cfg)


def flat_dict(d: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}: for trackers' hyper-parameter tables."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_dict(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = str(v)
        else:
            out[key] = v
    return out


def load_config(cls: Type[T], path: Optional[str] = None, overrides: Sequence[str] = ()) -> T:
    """Builds a ``cls`` instance: defaults <- YAML file at ``path`` <- ``key=value`` overrides.

    Raises:
        ConfigError: a missing file, an unknown key (named), a value of the wrong type.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    base = OmegaConf.structured(cls)
    try:
        merged = base
        if path is not None:
            p = Path(path)
            if not p.is_file():
                raise ConfigError(f"{p}: config file not found")
            merged = OmegaConf.merge(merged, OmegaConf.load(p))
        bad = [o for o in overrides if "=" not in o]
        if bad:
            raise ConfigError(f"expected overrides of the form key=value (got {' '.join(bad)})")
        if overrides:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None)
        where = f" (in {path})" if path else ""
        first = str(e).splitlines()[0]
        if key:
            raise ConfigError(f"config key '{key}'{where}: {first}") from None
        raise ConfigError(f"config{where}: {first}") from None
