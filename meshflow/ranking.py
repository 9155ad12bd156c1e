r"""Ranking samples of one mesh and prompt by shape: what ``num_samples`` > 1 keeps.

:func:`score_sample` scores one animation (lower is better: the mean relative edge-length change
against frame 0 plus a penalty for barely moving); :func:`rank_samples` orders candidates by it and
notes the ranking on the best. The pipeline (:class:`~meshflow.pipeline.AnimationPipeline`) ranks its
samples with it; :mod:`meshflow.pipeline` re-exports both.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Sequence

import numpy as np

from .io.animation import Animation
from .io.geometry import edge_length_change, motion_amount

# Mean displacement (in units of the frame-0 scale s, half the largest side of the bounding box) below
# which an animation counts as barely moving: issue 13's tail wag that "barely moves" (1.4% of the dog's
# size, about 0.03 s) falls under it; a hop or a walk moves several times more.
MIN_MOTION = 0.05
# Score of an animation that does not move at all: as bad as a 10% mean edge-length change (twice the
# target for rigid prompts), so a still sample loses to a sound one and beats a smeared one.
STILL_PENALTY = 0.1


@dataclass(frozen=True)
class SampleScore:
    """The ranking score of one sample and its two parts (see :func:`score_sample`)."""

    score: float  # lower is better
    edge_change: float  # mean relative edge-length change against frame 0
    motion: float  # mean displacement from frame 0 over the frame-0 scale


def score_sample(frames: np.ndarray, faces: np.ndarray, min_motion: float = MIN_MOTION,
                 still_penalty: float = STILL_PENALTY) -> SampleScore:
    r"""Ranks samples of one mesh and prompt: **lower is better**.

    .. math::
        \text{score} = E + \lambda \max\Bigl(0,\; 1 - \frac{m}{m_{\min}}\Bigr)

    with :math:`E` the shape preservation
    (:func:`~meshflow.io.geometry.edge_length_change`: the mean relative change
    of the edge lengths against frame 0, 0 for rigid motion), :math:`m` the
    motion amount (:func:`~meshflow.io.geometry.motion_amount`: the mean
    displacement from frame 0 over the frame-0 scale :math:`s`),
    :math:`m_{\min}` = ``min_motion`` and :math:`\lambda` = ``still_penalty``.
    An animation that does not move scores :math:`\lambda`; the penalty falls
    linearly to 0 at :math:`m = m_{\min}`, and motion beyond that earns nothing,
    so a sample never wins by moving more, only by keeping its shape. These are
    the ``edge_change`` and ``motion`` of :mod:`meshflow.eval.metrics`. A point
    cloud has no edges (:math:`E = 0`): its samples rank by the motion penalty alone.

    Args:
        frames: (T, N, 3) positions. faces: (F, 3) triangles.
        min_motion: :math:`m_{\min}`. (default: :obj:`MIN_MOTION` = 0.05)
        still_penalty: :math:`\lambda`. (default: :obj:`STILL_PENALTY` = 0.1)
    """
    edge, motion = edge_length_change(frames, faces), motion_amount(frames)
    return SampleScore(score=edge + still_penalty * max(0.0, 1.0 - motion / min_motion), edge_change=edge,
                       motion=motion)


def rank_samples(candidates: Sequence[Animation]) -> List[Animation]:
    """Copies of the candidates, each with its :attr:`~Animation.score` set, best first (ties keep the
    candidates' order); the best's notes list the ranking."""
    scores = [score_sample(a.vertices, a.faces) for a in candidates]
    order = sorted(range(len(candidates)), key=lambda n: (scores[n].score, n))
    ranked = [replace(candidates[n], score=scores[n].score) for n in order]
    table = ", ".join(f"seed {candidates[n].seed} {scores[n].score:.4f} (edge change {scores[n].edge_change:.4f}, "
                      f"motion {scores[n].motion:.3f})" for n in order)
    ranked[0] = replace(ranked[0], notes=ranked[0].notes + [
        f"best of {len(candidates)} samples by score, lower is better: {table}"])
    return ranked
