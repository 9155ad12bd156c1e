"""Evaluation: DyMeshVAE reconstruction and the quality of animations (``meshflow eval``).

* :mod:`meshflow.eval.metrics`: the metrics, as plain functions of arrays;
* :mod:`meshflow.eval.checks`: whether an animation has a motion label's defining
  property (the prompt-adherence check);
* :mod:`meshflow.eval.vae`: reconstruction error on held-out clips;
* :mod:`meshflow.eval.motion`: shape preservation, smoothness, motion amount,
  prompt adherence and timing of generated or given animations.
"""
from .metrics import (edge_length_change, mesh_edges, motion_amount, motion_metrics, per_graph_mean,
                      per_vertex_error, second_difference, summarize)
from .motion import (PARAPHRASE, PARAPHRASES, PROCEDURAL, MotionEvaluation, PromptCase, evaluate_animations,
                     evaluate_frames, format_table, generate_and_evaluate, load_animations, paraphrase_cases,
                     procedural_prompts, read_prompts)
from .vae import VAEEvaluation, evaluate_vae, open_eval_clips, still_error

__all__ = [
    "edge_length_change", "mesh_edges", "motion_amount", "motion_metrics", "per_graph_mean", "per_vertex_error",
    "second_difference", "summarize", "PARAPHRASE", "PARAPHRASES", "PROCEDURAL", "MotionEvaluation", "PromptCase",
    "evaluate_animations", "evaluate_frames", "format_table", "generate_and_evaluate", "load_animations",
    "paraphrase_cases", "procedural_prompts", "read_prompts", "VAEEvaluation", "evaluate_vae", "open_eval_clips",
    "still_error",
]
