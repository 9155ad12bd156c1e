"""One training loop for every meshflow model, on Accelerate.

A *task* (``meshflow.train.vae.VAETask``, ``meshflow.train.flow.FlowTask``)
says what is trained: it builds the model and datasets, computes the loss of a
batch, validates and exports. :func:`train` does the rest, the same way for one
CPU or many GPUs:

* one :class:`accelerate.Accelerator` per run, one ``prepare`` call,
  ``accumulate`` for gradient accumulation, mixed precision, gradient clipping;
* AdamW with linear warm-up and cosine decay;
* checkpoints with ``save_state`` every ``save_every`` steps under
  ``OUTPUT_DIR/checkpoints/step_XXXXXXX``, written to a temporary folder and
  renamed (a run killed mid-write leaves the previous checkpoint intact); the
  last ``keep_last`` are kept; ``resume`` continues the exact data order;
* tqdm progress and TensorBoard logs on the main process only.
"""
from __future__ import annotations

import math
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch

from ..errors import MeshflowError
from ..io.atomic import replace_folder
from ..models.hub import load_component, load_strict
from ..progress import min_interval
from .config import flat_dict, to_container

CKPT_RE = re.compile(r"^step_(\d{7,})$")


@dataclass
class TrainState:
    """Counters saved with every checkpoint (Accelerate's custom-object protocol)."""

    step: int = 0  # optimiser steps done
    epoch: int = 0  # passes over the training set started
    batch_in_epoch: int = 0  # micro-batches consumed in the current epoch

    def state_dict(self) -> Dict[str, int]:
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch}

    def load_state_dict(self, d: Dict[str, int]) -> None:
        self.step, self.epoch, self.batch_in_epoch = int(d["step"]), int(d["epoch"]), int(d["batch_in_epoch"])


def load_initial_weights(model: torch.nn.Module, directory, component: str,
                         new_modules: Tuple[str, ...] = (), dropped_modules: Tuple[str, ...] = ()) -> torch.nn.Module:
    """Copies the weights of component ``component`` of the model directory ``directory`` into
    ``model`` (fine-tuning: ``init_from=DIR``). Every key and shape must match, except that
    ``model``'s modules named in ``new_modules`` (e.g. ``("skinning",)``: a decoder head the
    source does not have) keep their fresh initialisation when the source lacks them, and the
    source's modules named in ``dropped_modules`` that ``model`` does not have are left out
    (e.g. the offsets head of a paper decoder fine-tuned into ``decoder="skin"``); the
    error names the directory and the first mismatch."""

    _, state = load_component(directory, component)
    own = model.state_dict()
    for name, value in own.items():
        if name.split(".")[0] in new_modules and name not in state:
            state[name] = value
    for name in [n for n in state if n.split(".")[0] in dropped_modules and n not in own]:
        del state[name]
    load_strict(model, state, f"init_from {directory} ({component})")
    return model


class Task:
    """What a run trains. Subclasses set ``cfg`` (with ``name``, ``output_dir``,
    ``train``: :class:`~meshflow.train.config.LoopConfig`, ``optim``:
    :class:`~meshflow.train.config.OptimConfig`) and override the hooks."""

    cfg: Any

    def setup(self, accelerator) -> None:
        """Called once with the run's Accelerator, before anything is built."""
        self.accelerator = accelerator

    def build_model(self) -> torch.nn.Module:
        raise NotImplementedError

    def dataloaders(self):
        """``(train_loader, val_loader or None)``; the train loader is prepared by Accelerate."""
        raise NotImplementedError

    def checkpoint_objects(self):
        """Further objects with ``state_dict``/``load_state_dict`` saved in every checkpoint (e.g. an EMA)."""
        return []

    def loss(self, model, batch):
        """``(scalar loss, dict of floats to log)`` for one micro-batch."""
        raise NotImplementedError

    def after_step(self, model) -> None:
        """Called after every optimiser step (e.g. to update an EMA)."""

    @torch.no_grad()
    def validate(self, model, loader) -> Dict[str, float]:
        return {}

    def export(self, model, directory: Path) -> Path:
        """Writes the final model directory; returns its path."""
        raise NotImplementedError


def warmup_cosine(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """Learning-rate multiplier: linear 0 -> 1 over ``warmup`` steps, cosine 1 -> ``min_ratio`` until ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def list_checkpoints(output_dir: Union[str, Path]):
    """Finished checkpoints of a run, oldest first."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := CKPT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def resolve_resume(resume: Union[None, bool, str], output_dir) -> Optional[Path]:
    """``True``/``"latest"`` -> the newest checkpoint (None if there is none); a path -> that checkpoint."""
    if resume in (None, False, ""):
        return None
    if resume is True or resume == "latest":
        ckpts = list_checkpoints(output_dir)
        return ckpts[-1] if ckpts else None
    path = Path(resume)
    if not path.is_dir():
        raise MeshflowError(f"{path}: checkpoint directory not found")
    return path


def _save_checkpoint(accelerator, output_dir: Path, step: int, keep_last: int) -> Path:
    root = output_dir / "checkpoints"
    final = root / f"step_{step:07d}"
    tmp = root / f".tmp_step_{step:07d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        replace_folder(tmp, final)  # atomic: a checkpoint is either whole or absent
        for old in list_checkpoints(output_dir)[:-keep_last] if keep_last > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def train(task, resume: Union[None, bool, str] = None, progress: bool = True,
          stop_at: Optional[int] = None) -> Dict[str, Any]:
    """Runs (or resumes) a training run described by ``task`` and exports its model directory.

    Args:
        task: a :class:`Task`.
        resume: ``True``/``"latest"`` for the newest checkpoint of ``cfg.output_dir``, or a checkpoint path.
        progress: show a progress bar (main process only).
        stop_at: stop after this step with a checkpoint and without exporting, as if the run
            had been stopped there (the schedule still runs to ``max_steps``); resume to go on.

    Returns:
        a summary: final step, last training loss, last validation metrics, export path.
    """
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
    from tqdm.auto import tqdm


    cfg = task.cfg
    loop = cfg.train
    output_dir = Path(cfg.output_dir)
    accelerator = Accelerator(
        gradient_accumulation_steps=loop.grad_accum,
        mixed_precision=loop.mixed_precision,
        # Accelerate only sets up CPU multi-process (gloo) runs when told cpu=True.
        cpu=loop.cpu or not torch.cuda.is_available(),
        log_with="tensorboard",
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    set_seed(loop.seed, device_specific=False)
    task.setup(accelerator)
    model = task.build_model()
    train_loader, val_loader = task.dataloaders()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = cfg.optim
    optimizer = torch.optim.AdamW(params, lr=opt.lr, betas=(opt.beta1, opt.beta2), weight_decay=opt.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, opt.warmup_steps, loop.max_steps, opt.min_lr_ratio))
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    state = TrainState()
    accelerator.register_for_checkpointing(state)
    for extra in task.checkpoint_objects():
        accelerator.register_for_checkpointing(extra)
    # A stream (meshflow.data.archives.ArchiveLoader) keeps its own position: checkpointed, never skipped.
    streaming = getattr(train_loader, "resumes_itself", False)
    if streaming:
        accelerator.register_for_checkpointing(train_loader)

    ckpt = resolve_resume(resume, output_dir)
    if ckpt is not None:
        accelerator.load_state(str(ckpt))
        accelerator.print(f"resumed from {ckpt} at step {state.step}")
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    accelerator.init_trackers(cfg.name, config=flat_dict(to_container(cfg)))

    bar = tqdm(total=loop.max_steps, initial=state.step, disable=not (progress and accelerator.is_local_main_process),
               desc=f"train {cfg.name}", dynamic_ncols=True, mininterval=min_interval())
    last_loss, val_metrics, t0, steps0 = float("nan"), {}, time.perf_counter(), state.step
    model.train()
    while state.step < loop.max_steps:
        train_loader.set_epoch(state.epoch)
        batches_per_epoch = math.inf if streaming else len(train_loader)
        # Resuming mid-epoch skips the batches already consumed (the loader's own generator
        # draws its seeds, so the global random stream continues as in an uninterrupted run).
        loader = (accelerator.skip_first_batches(train_loader, state.batch_in_epoch)
                  if state.batch_in_epoch and not streaming else train_loader)
        for batch in loader:
            state.batch_in_epoch += 1
            if state.batch_in_epoch >= batches_per_epoch:  # roll over now, so a checkpoint here resumes cleanly
                state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            with accelerator.accumulate(model):
                loss, logs = task.loss(model, batch)
                accelerator.backward(loss)
                if accelerator.sync_gradients and opt.grad_clip > 0:
                    accelerator.clip_grad_norm_(model.parameters(), opt.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            if not accelerator.sync_gradients:
                continue
            state.step += 1
            task.after_step(model)
            last_loss = accelerator.gather(loss.detach().float().reshape(1)).mean().item()
            if state.step % loop.log_every == 0 or state.step == loop.max_steps:
                rate = (state.step - steps0) / max(1e-9, time.perf_counter() - t0)
                lr = scheduler.get_last_lr()[0]
                accelerator.log({"train/loss": last_loss, "train/lr": lr, "train/steps_per_s": rate,
                                 **{f"train/{k}": v for k, v in logs.items()}}, step=state.step)
                bar.set_postfix(loss=f"{last_loss:.4g}", lr=f"{lr:.2e}", it_s=f"{rate:.2f}")
            bar.update(1)
            if val_loader is not None and (state.step % loop.val_every == 0 or state.step == loop.max_steps):
                val_metrics = task.validate(model, val_loader)
                accelerator.log({f"val/{k}": v for k, v in val_metrics.items()}, step=state.step)
                model.train()
            stopping = stop_at is not None and state.step >= stop_at
            if state.step % loop.save_every == 0 or state.step == loop.max_steps or stopping:
                _save_checkpoint(accelerator, output_dir, state.step, loop.keep_last)
            if state.step >= loop.max_steps or stopping:
                break
        else:
            if streaming:  # a stream's epoch ends when it does
                state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            continue
        break
    bar.close()
    accelerator.wait_for_everyone()
    export = None
    if accelerator.is_main_process and state.step >= loop.max_steps:
        export = task.export(accelerator.unwrap_model(model), output_dir / "model")
        accelerator.print(f"exported {export}")
    accelerator.wait_for_everyone()
    accelerator.end_training()  # closes the trackers (and, in recent Accelerate, the process group)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return {"step": state.step, "loss": last_loss, "val": val_metrics, "export": str(export) if export else None}
