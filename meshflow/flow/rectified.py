r"""Rectified flow over trajectory latents (AnimateAnyMesh conventions).

Time runs from noise to data: ``t = 0`` is noise, ``t = 1`` is data,

.. math::
    x_t = t\,x_1 + (1 - t)\,\epsilon,\qquad v^\star = x_1 - \epsilon .

A latent ``x`` of shape ``(B, K, 2L)`` holds the shape latents ``f0`` in its
first ``L`` channels and the trajectory latents in the last ``L``. The shape
channels are never noised: training keeps them clean and leaves them out of the
loss; sampling resets them to ``f0`` before every model evaluation.

The flow wraps any velocity model called as
``model(x, t, text, text_mask, cond)`` (see :class:`meshflow.models.MMDiT`);
the model knows nothing about the flow.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Optional, Tuple, Union

import torch
from torch import Tensor

from ..errors import MeshflowError
from ..models.factors import LatentFactors

TextInput = Union[Tensor, Tuple[Tensor, Optional[Tensor]]]
# ODE solvers of :func:`sample` and their model calls per step: midpoint is the original's;
# heun (trapezoidal predictor-corrector) and rk4 (classical Runge-Kutta) reach it with fewer steps.
SOLVER_CALLS = {"midpoint": 2, "euler": 1, "heun": 2, "rk4": 4}
SOLVERS = tuple(SOLVER_CALLS)


def model_calls(solver: str, steps: int) -> int:
    """Velocity-model evaluations of :func:`sample` on a grid of ``steps`` points (each batches [cond; uncond])."""
    return (int(steps) - 1) * SOLVER_CALLS[solver]


# --------------------------------------------------------- time schedules ---
def cosmap(u: Tensor) -> Tensor:
    r"""The original's training-time schedule :math:`t = 1 - 1 / (\tan(\pi u / 2) + 1)` (SD3, Alg. 21)."""
    return 1.0 - 1.0 / (torch.tan(math.pi / 2 * u) + 1.0)


def logit_normal(u_normal: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    r"""Logit-normal time :math:`t = \sigma(m + s\,n)` from standard normal draws ``n`` (SD3's default)."""
    return torch.sigmoid(mean + std * u_normal)


def sample_time(batch: int, schedule: str = "cosmap", *, dtype=torch.float32, device=None,
                generator: Optional[torch.Generator] = None) -> Tensor:
    """Draws training times ``(batch,)`` in [0, 1] with ``schedule`` in ``cosmap | logit_normal | uniform``."""
    if schedule == "cosmap":
        return cosmap(torch.rand(batch, dtype=dtype, device=device, generator=generator))
    if schedule == "logit_normal":
        return logit_normal(torch.randn(batch, dtype=dtype, device=device, generator=generator))
    if schedule == "uniform":
        return torch.rand(batch, dtype=dtype, device=device, generator=generator)
    raise ValueError(f"Expected schedule 'cosmap', 'logit_normal' or 'uniform' (got {schedule!r})")


def _split_text(text: TextInput, text_mask: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
    if isinstance(text, (tuple, list)):
        if text_mask is not None:
            raise ValueError("Expected the text mask either inside 'text' or as 'text_mask', not both")
        tokens, text_mask = text
    else:
        tokens = text
    return tokens, text_mask


def _shape_channels(x: Tensor, shape_channels: Optional[int]) -> int:
    L = x.shape[-1] // 2 if shape_channels is None else int(shape_channels)
    if not 0 <= L < x.shape[-1]:
        raise ValueError(f"Expected 0 <= shape_channels < {x.shape[-1]} (got {L})")
    return L


# ------------------------------------------------------------------ loss ---
def loss(
    model: Callable,
    x1: Tensor,
    text: TextInput,
    text_mask: Optional[Tensor] = None,
    *,
    shape_channels: Optional[int] = None,
    t: Optional[Tensor] = None,
    noise: Optional[Tensor] = None,
    schedule: str = "cosmap",
    cond: Optional[Tensor] = None,
    cond_drop_prob: float = 0.0,
    generator: Optional[torch.Generator] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Rectified-flow training loss (velocity MSE over the trajectory channels).

    .. math::
        \mathcal{L} = \big\| v_\theta(x_t, t, c)_{[L:]} - (x_1 - \epsilon)_{[L:]} \big\|^2,
        \quad x_t = t x_1 + (1 - t)\epsilon,\ x_{t,[:L]} = x_{1,[:L]}

    Args:
        model: velocity model ``model(x, t, text, text_mask, cond)``.
        x1: clean (standardised) latents ``(B, K, 2L)``.
        text: text tokens ``(B, S, D)``, or a ``(tokens, mask)`` pair (e.g. a
            :class:`meshflow.text.TextFeatures`).
        text_mask: ``(B, S)`` bool, or ``None`` to attend to every text position.
        shape_channels: L, the clean shape channels (default: half of the channels).
        t: training times ``(B,)``; drawn with ``schedule`` when ``None``.
        noise: ``(B, K, 2L)``; standard normal when ``None``.
        schedule: ``"cosmap"`` (the original), ``"logit_normal"`` or ``"uniform"``. (default: ``"cosmap"``)
        cond: ``(B,)`` bool, which samples see their text; drawn with
            ``cond_drop_prob`` when ``None`` (classifier-free guidance dropout).
        cond_drop_prob: probability of training a sample unconditionally. (default: ``0.0``)
        generator: random generator for ``t``, ``noise`` and the dropout.
        reduction: ``"mean"`` (a scalar) or ``"none"`` (per sample ``(B,)``).
    """
    tokens, text_mask = _split_text(text, text_mask)
    B = x1.shape[0]
    L = _shape_channels(x1, shape_channels)
    if t is None:
        t = sample_time(B, schedule, dtype=x1.dtype, device=x1.device, generator=generator)
    t = t.to(x1.device).reshape(B)
    if noise is None:
        noise = torch.randn(x1.shape, dtype=x1.dtype, device=x1.device, generator=generator)
    if cond is None and cond_drop_prob > 0:
        cond = torch.rand(B, device=x1.device, generator=generator) >= cond_drop_prob

    tb = t[:, None, None]  # (B, 1, 1)
    xt = tb * x1 + (1.0 - tb) * noise  # (B, K, 2L)
    xt = torch.cat([x1[..., :L], xt[..., L:]], dim=-1)  # shape channels stay clean
    target = x1 - noise
    v = model(xt, t.to(xt.dtype), tokens, text_mask, cond)  # (B, K, 2L)
    per_sample = (v[..., L:] - target[..., L:]).pow(2).flatten(1).mean(1)  # (B,)
    if reduction == "none":
        return per_sample
    if reduction != "mean":
        raise ValueError(f"Expected reduction 'mean' or 'none' (got {reduction!r})")
    return per_sample.mean()


# --------------------------------------------------------------- sampling ---
@torch.no_grad()
def sample(
    model: Callable,
    f0: Tensor,
    text: TextInput,
    text_mask: Optional[Tensor] = None,
    *,
    steps: int = 64,
    guidance: Optional[float] = 3.0,
    solver: str = "midpoint",
    noise: Optional[Tensor] = None,
    channels: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
    time_dtype: Optional[torch.dtype] = None,
) -> Tensor:
    r"""Integrates the flow from noise (``t = 0``) to data (``t = 1``) with classifier-free guidance.

    The grid is the original's ``linspace(0, 1, steps)`` (``steps - 1`` solver steps
    of size :math:`h`; :data:`SOLVER_CALLS` model calls each). With :math:`k_1 = v(t, x)`:

    .. math::
        \text{euler: } x + h k_1, \qquad
        \text{midpoint: } x + h\, v(t + \tfrac h2, x + \tfrac h2 k_1), \qquad
        \text{heun: } x + \tfrac h2 (k_1 + v(t + h, x + h k_1)),

    and rk4 the classical fourth-order Runge-Kutta step. Midpoint and heun are of
    second order, rk4 of fourth (``tests/flow/test_solvers.py``). Before every model call the
    shape channels are reset to ``f0``; conditional and unconditional velocities
    come from one batched call ``[cond; uncond]`` and combine as
    :math:`v = v_u + g (v_c - v_u)`.

    Args:
        model: velocity model ``model(x, t, text, text_mask, cond)``.
        f0: standardised shape latents ``(B, K, L)``.
        text: text tokens ``(B or 1, S, D)``, or a ``(tokens, mask)`` pair.
        text_mask: ``(B or 1, S)`` bool, or ``None`` to attend to every text position.
        steps: grid points on [0, 1]. (default: ``64``)
        guidance: guidance scale g; ``None`` or 1 runs the conditional model only. (default: ``3.0``)
        solver: ``"midpoint"`` (the original), ``"euler"``, ``"heun"`` or ``"rk4"``. (default: ``"midpoint"``)
        noise: initial state ``(B, K, C)``; standard normal when ``None``.
        channels: C, the model's channels (default: ``2 L``).
        generator: random generator for the noise.
        time_dtype: dtype of the time grid and its arithmetic (the original's
            ``torch.linspace`` runs in the default dtype). (default: ``f0.dtype``)

    Returns:
        ``cat[f0, trajectory latents]`` of shape ``(B, K, C)``, still standardised.
    """
    if solver not in SOLVERS:
        raise ValueError(f"Expected solver to be one of {', '.join(SOLVERS)} (got {solver!r})")
    if steps < 2:
        raise ValueError(f"Expected steps >= 2 grid points (got {steps})")
    tokens, text_mask = _split_text(text, text_mask)
    B, K, L = f0.shape
    C = 2 * L if channels is None else int(channels)
    if tokens.shape[0] == 1 and B > 1:
        tokens = tokens.expand(B, *tokens.shape[1:])
        text_mask = None if text_mask is None else text_mask.expand(B, -1)
    if tokens.shape[0] != B:
        raise ValueError(f"Expected text for {B} samples (got {tokens.shape[0]})")
    if noise is None:
        noise = torch.randn((B, K, C), dtype=f0.dtype, device=f0.device, generator=generator)
    elif noise.shape != (B, K, C):
        raise ValueError(f"Expected 'noise' of shape {(B, K, C)} (got {tuple(noise.shape)})")

    guided = guidance is not None and guidance != 1.0
    ones = torch.ones(B, dtype=torch.bool, device=f0.device)
    if guided:
        tokens2 = torch.cat([tokens, tokens])
        mask2 = None if text_mask is None else torch.cat([text_mask, text_mask])
        cond2 = torch.cat([ones, ~ones])

    def velocity(t: Tensor, x: Tensor) -> Tensor:
        x = torch.cat([f0, x[..., L:]], dim=-1)  # reset the shape channels
        tt = t.to(x.dtype).expand(B)
        if not guided:
            return model(x, tt, tokens, text_mask, ones)
        v = model(torch.cat([x, x]), torch.cat([tt, tt]), tokens2, mask2, cond2)  # (2B, K, C)
        v_cond, v_uncond = v.chunk(2)
        return v_uncond + guidance * (v_cond - v_uncond)

    grid = torch.linspace(0.0, 1.0, steps, dtype=time_dtype or f0.dtype, device=f0.device)
    x = noise
    for t0, t1 in zip(grid[:-1], grid[1:]):
        dt = t1 - t0
        if solver == "euler":
            x = x + dt * velocity(t0, x)
        elif solver == "heun":
            k1 = velocity(t0, x)
            x = x + 0.5 * dt * (k1 + velocity(t1, x + dt * k1))
        elif solver == "rk4":
            half = 0.5 * dt
            k1 = velocity(t0, x)
            k2 = velocity(t0 + half, x + half * k1)
            k3 = velocity(t0 + half, x + half * k2)
            k4 = velocity(t1, x + dt * k3)
            x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        else:
            half = 0.5 * dt
            x_mid = x + velocity(t0, x) * half
            x = x + dt * velocity(t0 + half, x_mid)
    return torch.cat([f0, x[..., L:]], dim=-1)


# ------------------------------------------------------- standardisation ---
def standardize(x: Tensor, factors: LatentFactors, shape_channels: Optional[int] = None) -> Tensor:
    """``(x - mean) / std`` with the shape and trajectory factors on their channels; ``(..., 2L)``."""
    L = _shape_channels(x, shape_channels)
    return torch.cat([(x[..., :L] - factors.f0_mean) / factors.f0_std,
                      (x[..., L:] - factors.ft_mean) / factors.ft_std], dim=-1)


def destandardize(x: Tensor, factors: LatentFactors, shape_channels: Optional[int] = None) -> Tensor:
    """Inverse of :func:`standardize`."""
    L = _shape_channels(x, shape_channels)
    return torch.cat([x[..., :L] * factors.f0_std + factors.f0_mean,
                      x[..., L:] * factors.ft_std + factors.ft_mean], dim=-1)


def compute_factors(latents: Union[Tensor, Iterable[Tensor]], shape_channels: Optional[int] = None) -> LatentFactors:
    """Mean and (unbiased) std of the shape and trajectory channels over all latents, streamed in float64.

    ``latents`` is one tensor ``(..., 2L)`` or an iterable of them (e.g. batches).
    """
    if isinstance(latents, Tensor):
        latents = [latents]
    stats = [[0, 0.0, 0.0], [0, 0.0, 0.0]]  # count, mean, sum of squared deviations
    for x in latents:
        L = _shape_channels(x, shape_channels)
        for part, s in zip((x[..., :L], x[..., L:]), stats):
            part = part.detach().double()
            n = part.numel()
            if n == 0:
                continue
            m = part.mean().item()
            m2 = (part - m).pow(2).sum().item()
            total = s[0] + n
            delta = m - s[1]
            s[1] += delta * n / total
            s[2] += m2 + delta * delta * s[0] * n / total
            s[0] = total
    if stats[0][0] < 2 or stats[1][0] < 2:
        raise MeshflowError("Expected at least two latent values per part to compute factors")
    std = [math.sqrt(s[2] / (s[0] - 1)) for s in stats]
    return LatentFactors(stats[0][1], std[0], stats[1][1], std[1])
