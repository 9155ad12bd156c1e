"""Training with Accelerate: the DyMeshVAE and the flow, resumable, tracked.

    accelerate launch scripts/train_vae.py --config configs/vae/tiny.yaml data.root=clips
    torchrun --nproc_per_node 2 scripts/train_flow.py --config configs/flow/tiny.yaml
    meshflow train vae --config configs/vae/tiny.yaml train.max_steps=100 --resume
"""
from __future__ import annotations

import argparse
from typing import List, Optional

from .config import ConfigError, DataConfig, LoopConfig, OptimConfig, load_config
from .loop import Task, train


def _tasks():
    from .flow import FlowTask, FlowTrainConfig
    from .vae import VAETask, VAETrainConfig

    return {"vae": (VAETrainConfig, VAETask), "flow": (FlowTrainConfig, FlowTask)}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="YAML", help="YAML overrides of the dataclass defaults")
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="PATH",
                        help="resume from the latest checkpoint of output_dir, or from PATH")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. data.root=clips train.max_steps=1000 output_dir=runs/x")


def run(kind: str, args: argparse.Namespace) -> dict:
    """Loads the config of ``kind`` ('vae' | 'flow') from parsed arguments and trains."""
    cfg_cls, task_cls = _tasks()[kind]
    cfg = load_config(cfg_cls, args.config, args.overrides)
    return train(task_cls(cfg), resume=args.resume, progress=not args.no_progress)


def main(kind: str, argv: Optional[List[str]] = None) -> int:
    """Entry point of ``scripts/train_<kind>.py``."""
    import sys

    from ..errors import MeshflowError

    parser = argparse.ArgumentParser(prog=f"train_{kind}.py", description=f"Train the {kind} model.")
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run(kind, args)
    except MeshflowError as e:
        print(f"train {kind}: error: {e}", file=sys.stderr)
        return 2
    return 0


__all__ = ["ConfigError", "DataConfig", "LoopConfig", "OptimConfig", "Task", "load_config", "main", "run", "train"]
