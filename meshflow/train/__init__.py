"""Training with Accelerate: the DyMeshVAE and the flow, resumable, tracked.

    accelerate launch scripts/train_vae.py --config configs/vae/tiny.yaml data.root=clips
    torchrun --nproc_per_node 2 scripts/train_flow.py --config configs/flow/tiny.yaml
    meshflow train vae --config configs/vae/tiny.yaml train.max_steps=100 --resume
"""
from __future__ import annotations

from typing import Optional, Sequence

from .config import ConfigError, DataConfig, load_config, LoopConfig, OptimConfig
from .flow import FlowTask, FlowTrainConfig
from .loop import Task, train
from .vae import VAETask, VAETrainConfig


def _tasks():
    return {"vae": (VAETrainConfig, VAETask), "flow": (FlowTrainConfig, FlowTask)}


def run(kind: str, config: Optional[str] = None, overrides: Sequence[str] = (), resume: Optional[str] = None,
        progress: bool = True) -> dict:
    """Trains ``kind`` ('vae' | 'flow'): defaults <- YAML file ``config`` <- ``key=value`` ``overrides``.

    ``resume``: ``"latest"`` (the newest checkpoint of output_dir), a checkpoint path, or ``None``.
    The command line (:mod:`meshflow.commands.train`) parses these from its arguments.
    """
    cfg_cls, task_cls = _tasks()[kind]
    cfg = load_config(cfg_cls, config, overrides)
    return train(task_cls(cfg), resume=resume, progress=progress)


__all__ = ["ConfigError", "DataConfig", "LoopConfig", "OptimConfig", "Task", "load_config", "run", "train"]
