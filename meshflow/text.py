"""Text encoders (``clip-vit-l-14``, ``minilm``): see :mod:`meshflow.models.text`."""
from .models.text import (  # noqa: F401
    CLIP_WEIGHTS_ENV,
    ENCODERS,
    CLIPTextEncoder,
    MiniLMEncoder,
    TextEncoder,
    TextFeatures,
    build_text_encoder,
    clip_state_dict_from_hf,
    clip_text_state_dict,
    clip_tokenize,
    load_text_encoder,
    mean_pool,
    read_clip_weights,
)

__all__ = [
    "CLIP_WEIGHTS_ENV",
    "ENCODERS",
    "CLIPTextEncoder",
    "MiniLMEncoder",
    "TextEncoder",
    "TextFeatures",
    "build_text_encoder",
    "clip_state_dict_from_hf",
    "clip_text_state_dict",
    "clip_tokenize",
    "load_text_encoder",
    "mean_pool",
    "read_clip_weights",
]
