"""Rectified flow over trajectory latents: training loss, sampler, time schedules, latent standardisation.

``t = 0`` is noise and ``t = 1`` is data (the original AnimateAnyMesh convention);
see :mod:`meshflow.flow.rectified`.
"""
from .rectified import (
    SOLVER_CALLS,
    SOLVERS,
    LatentFactors,
    compute_factors,
    cosmap,
    destandardize,
    logit_normal,
    loss,
    model_calls,
    sample,
    sample_time,
    standardize,
)

__all__ = [
    "SOLVER_CALLS",
    "SOLVERS",
    "LatentFactors",
    "compute_factors",
    "cosmap",
    "destandardize",
    "logit_normal",
    "loss",
    "model_calls",
    "sample",
    "sample_time",
    "standardize",
]
