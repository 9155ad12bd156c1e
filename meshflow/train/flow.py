"""Training the text-to-trajectory flow (``meshflow train flow``, ``scripts/train_flow.py``).

Clips are encoded by a frozen DyMeshVAE (on the fly, or read from a latent
cache written by ``meshflow train cache-latents``), standardised with four
scalars measured on the training set before the first step (``f0_mean``,
``f0_std``, ``ft_mean``, ``ft_std``), and the MMDiT learns the rectified-flow
velocity of the trajectory channels given the shape channels and the caption.
Captions are dropped with probability ``cond_drop_prob`` (classifier-free
guidance); an exponential moving average of the weights is kept and exported.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import torch

from .. import flow as rf
from ..errors import MeshflowError
from ..models.dymesh_vae import load_vae
from ..models.hub import load_component, save_model_dir
from ..models.mmdit import MMDiT, MMDiTConfig
from ..models.text import load_text_encoder
from .config import DataConfig, LoopConfig, OptimConfig, to_container
from .data import make_dataloaders
from .loop import load_initial_weights, Task


@dataclass
class FlowTrainConfig:
    name: str = "flow"  # run name: TensorBoard project and default output folder
    output_dir: str = "runs/flow"  # checkpoints/, logs/ and the exported model/ go here
    vae: str = "runs/vae/model"  # model directory holding the trained DyMeshVAE (kept frozen)
    text_encoder: str = "minilm"  # "minilm" (offline, default here) or "clip-vit-l-14" (needs local weights)
    model: MMDiTConfig = field(default_factory=MMDiTConfig)  # input/output channels and text_dim are set from the VAE and encoder
    data: DataConfig = field(default_factory=DataConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=2e-4))  # the paper: 2e-4
    num_tokens: int = 512  # K latent tokens per clip (the VAE's training K)
    cond_drop_prob: float = 0.1  # caption dropout for classifier-free guidance (the original: 0.1)
    time_schedule: str = "cosmap"  # "cosmap" (original) | "logit_normal" | "uniform"
    ema_decay: float = 0.999  # EMA of the weights, exported as the model; 0 disables
    factor_batches: int = 32  # training batches encoded to measure the latent factors
    latent_cache: str = ""  # folder from `meshflow train cache-latents`; empty: encode clips on the fly
    val_time_bins: int = 4  # validation loss per bin of t in [0, 1]
    init_from: str = ""  # model directory whose MMDiT initialises the weights (fine-tuning); empty: random


class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].lerp_(v.detach(), 1 - self.decay)

    def copy_to(self, model: torch.nn.Module) -> torch.nn.Module:
        model.load_state_dict({**model.state_dict(), **self.shadow})
        return model

    def state_dict(self) -> Dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        for k, v in state.items():
            self.shadow[k].copy_(v)


class FlowTask(Task):
    """:class:`~meshflow.train.loop.Task` for the MMDiT."""

    def __init__(self, cfg: FlowTrainConfig):
        if cfg.time_schedule not in ("cosmap", "logit_normal", "uniform"):
            raise MeshflowError(f"time_schedule must be cosmap, logit_normal or uniform (got {cfg.time_schedule!r})")
        self.cfg = cfg
        self.ema: Optional[EMA] = None

    # ------------------------------------------------------------------ setup ---
    def setup(self, accelerator) -> None:

        super().setup(accelerator)
        self.vae = load_vae(self.cfg.vae, device=accelerator.device).requires_grad_(False).eval()
        if self.vae.config.T != self.cfg.data.frames:
            raise MeshflowError(f"the VAE in {self.cfg.vae} has T = {self.vae.config.T} frames, "
                                f"data.frames is {self.cfg.data.frames}")
        self.text = load_text_encoder(self.cfg.text_encoder, device=accelerator.device)
        self.L = self.vae.config.latent_dim

    def build_model(self) -> MMDiT:
        cfg = self.cfg.model
        probe = self.text.encode([""])
        cfg.input_channels = cfg.output_channels = 2 * self.L
        cfg.text_dim = int(probe.tokens.shape[-1])
        model = MMDiT(cfg)
        if self.cfg.init_from:
            load_initial_weights(model, self.cfg.init_from, "mmdit")
        if self.cfg.ema_decay > 0:
            self.ema = EMA(model, self.cfg.ema_decay)
        return model

    def dataloaders(self):

        train_loader, val_loader = make_dataloaders(self.cfg.data, self.cfg.train, seed=self.cfg.train.seed,
                                                    latent_cache=self.cfg.latent_cache or None)
        self.factors = self._measure_factors(train_loader)
        return train_loader, val_loader

    def checkpoint_objects(self):
        return [self.ema] if self.ema is not None else []

    # ------------------------------------------------------------------- data ---
    @torch.no_grad()
    def latents(self, batch) -> torch.Tensor:
        """Raw (unstandardised) latents (B, K, 2L) of a batch: cached, or encoded by the VAE (posterior sample)."""
        if hasattr(batch, "latents"):
            return batch.latents.view(batch.num_graphs, -1, 2 * self.L)
        batch = batch.to(self.accelerator.device)
        self.vae.eval()
        z, _ = self.vae.encode(batch, num_tokens=self.cfg.num_tokens)
        return z

    def _measure_factors(self, loader) -> rf.LatentFactors:
        acc = self.accelerator
        chunks: List[torch.Tensor] = []
        for i, batch in enumerate(loader):
            if i >= self.cfg.factor_batches:
                break
            chunks.append(self.latents(batch).float())
        z = torch.cat(chunks)  # make_dataloaders refuses an empty training set
        z = acc.gather(z.to(acc.device).contiguous()) if acc.num_processes > 1 else z
        factors = rf.compute_factors(z, shape_channels=self.L)
        acc.print(f"latent factors: {factors.to_dict()}")
        return factors

    def _text(self, captions) -> "rf.TextInput":
        caps = [captions] if isinstance(captions, str) else list(captions)
        return self.text.encode(caps).to(self.accelerator.device)

    # ------------------------------------------------------------------ steps ---
    def loss(self, model, batch):
        x1 = rf.standardize(self.latents(batch), self.factors, self.L)
        tokens, mask = self._text(batch.caption)
        loss = rf.loss(model, x1, tokens, mask, shape_channels=self.L, schedule=self.cfg.time_schedule,
                       cond_drop_prob=self.cfg.cond_drop_prob)
        return loss, {}

    def after_step(self, model) -> None:
        if self.ema is not None:
            self.ema.update(self.accelerator.unwrap_model(model))

    @torch.no_grad()
    def validate(self, model, loader) -> Dict[str, float]:
        """Flow loss per bin of t (bin centres, fixed noise seed), main process only."""
        acc = self.accelerator
        metrics: Dict[str, float] = {}
        if acc.is_main_process:
            net = acc.unwrap_model(model).eval()
            bins = self.cfg.val_time_bins
            sums, count = torch.zeros(bins), 0
            gen = torch.Generator(device="cpu").manual_seed(0)
            for batch in loader:
                x1 = rf.standardize(self.latents(batch), self.factors, self.L)
                tokens, mask = self._text(batch.caption)
                for b in range(bins):
                    t = torch.full((x1.size(0),), (b + 0.5) / bins, device=x1.device, dtype=x1.dtype)
                    noise = torch.randn(x1.shape, generator=gen).to(x1)
                    per = rf.loss(net, x1, tokens, mask, shape_channels=self.L, t=t, noise=noise, reduction="none")
                    sums[b] += per.sum().item()
                count += x1.size(0)
            per_bin = sums / max(1, count)
            metrics = {f"loss_t{b}": per_bin[b].item() for b in range(bins)}
            metrics["loss"] = per_bin.mean().item()
        acc.wait_for_everyone()
        return metrics

    def export(self, model, directory: Path) -> Path:

        vae_config, vae_state = load_component(self.cfg.vae, "vae")
        net = copy.deepcopy(model)
        if self.ema is not None:
            self.ema.copy_to(net)
        return save_model_dir(
            directory,
            {"vae": vae_config, "mmdit": asdict(self.cfg.model), "text_encoder": self.text.config()},
            {"vae": vae_state, "mmdit": net.state_dict()},
            extras={"factors": self.factors.to_dict(), "num_tokens": self.cfg.num_tokens,
                    "training": {"task": "flow", "config": to_container(self.cfg)}},
        )
