"""Rectified flow over trajectory latents: training loss, sampler, time schedules, latent standardisation.

``t = 0`` is noise and ``t = 1`` is data (the original AnimateAnyMesh convention);
see :mod:`meshflow.flow.rectified`.
"""
from .rectified import (
    LatentFactors,
    compute_factors,
    cosmap,
    destandardize,
    logit_normal,
    loss,
    sample,
    sample_time,
    standardize,
)

__all__ = [
    "LatentFactors",
    "compute_factors",
    "cosmap",
    "destandardize",
    "logit_normal",
    "loss",
    "sample",
    "sample_time",
    "standardize",
]
