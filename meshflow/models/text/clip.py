r"""``clip-vit-l-14``: the OpenAI CLIP ViT-L/14 text tower, its tokenizer and its weights.

The Stable Diffusion 1.5 text encoder the original AnimateAnyMesh used, built with
open_clip; per-token final-layer-normed hidden states ``(B, 77, 768)``. Weights come
from a local file (argument or ``MESHFLOW_CLIP_WEIGHTS``) in open_clip or Hugging Face
layout; nothing is downloaded.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from safetensors.torch import load_file
from torch import Tensor

from ...errors import CheckpointError, MeshflowError
from ..hub import load_strict, safe_torch_load
from .base import TextEncoder

CLIP_WEIGHTS_ENV = "MESHFLOW_CLIP_WEIGHTS"


_CLIP_TOKENIZER = None


def _clip_tokenizer():
    global _CLIP_TOKENIZER
    if _CLIP_TOKENIZER is None:
        from open_clip.tokenizer import SimpleTokenizer

        _CLIP_TOKENIZER = SimpleTokenizer()
    return _CLIP_TOKENIZER


def clip_tokenize(texts: Union[str, Sequence[str]], context_length: int = 77) -> Tensor:
    """CLIP BPE ids ``(B, context_length)`` laid out like the SD 1.5 tokenizer.

    ``<start_of_text>`` (49406), the prompt's tokens, ``<end_of_text>`` (49407),
    then ``<end_of_text>`` again up to ``context_length``; a long prompt is cut
    so that the last position is still ``<end_of_text>``.
    """
    tok = _clip_tokenizer()
    if isinstance(texts, str):
        texts = [texts]
    sot, eot = tok.sot_token_id, tok.eot_token_id
    out = torch.full((len(texts), context_length), eot, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = [sot] + tok.encode(text)[: context_length - 2] + [eot]
        out[i, : len(ids)] = torch.tensor(ids)
    return out


def clip_state_dict_from_hf(hf: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Maps Hugging Face ``CLIPTextModel`` / ``CLIPModel`` text weights to the open_clip text-tower layout.

    The text model is found by its ``embeddings.token_embedding.weight`` key, whatever
    comes before it (``text_model.``, ``clip_text_model.text_model.``, nothing);
    the separate q / k / v projections become ``in_proj_*``.
    """
    suffix = "embeddings.token_embedding.weight"
    heads = [k[: -len(suffix)] for k in hf if k.endswith(suffix)]
    if len(heads) != 1:
        raise CheckpointError(f"Expected one Hugging Face CLIP text model in the weights (found {len(heads)})")
    prefix = heads[0]
    sd = {k[len(prefix):]: v for k, v in hf.items() if k.startswith(prefix)}
    out = {
        "token_embedding.weight": sd.pop("embeddings.token_embedding.weight"),
        "positional_embedding": sd.pop("embeddings.position_embedding.weight"),
        "ln_final.weight": sd.pop("final_layer_norm.weight"),
        "ln_final.bias": sd.pop("final_layer_norm.bias"),
    }
    sd.pop("embeddings.position_ids", None)
    layers = sorted({int(k.split(".")[2]) for k in sd if k.startswith("encoder.layers.")})
    for i in layers:
        p, q = f"encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for part in ("weight", "bias"):
            out[q + f"attn.in_proj_{part}"] = torch.cat([sd.pop(p + f"self_attn.{n}_proj.{part}") for n in "qkv"])
            out[q + f"attn.out_proj.{part}"] = sd.pop(p + f"self_attn.out_proj.{part}")
            out[q + f"ln_1.{part}"] = sd.pop(p + f"layer_norm1.{part}")
            out[q + f"ln_2.{part}"] = sd.pop(p + f"layer_norm2.{part}")
            out[q + f"mlp.c_fc.{part}"] = sd.pop(p + f"mlp.fc1.{part}")
            out[q + f"mlp.c_proj.{part}"] = sd.pop(p + f"mlp.fc2.{part}")
    if sd:
        raise CheckpointError(f"Unexpected keys in CLIP text weights: {sorted(sd)[:5]}")
    return out


def clip_text_state_dict(state: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """The open_clip text-tower weights in any supported CLIP checkpoint layout.

    Layouts: open_clip ``CLIP`` (``token_embedding.weight``, ``transformer.resblocks.*``,
    ``ln_final.*``; vision weights ignored), open_clip ``CustomTextCLIP`` (``text.*``),
    Hugging Face ``CLIPTextModel`` / ``CLIPModel`` (``text_model.*``, any prefix).
    """
    if any(k.endswith("embeddings.token_embedding.weight") for k in state):
        return clip_state_dict_from_hf(state)
    if "text.token_embedding.weight" in state:
        state = {k[len("text."):]: v for k, v in state.items() if k.startswith("text.")}
    if "token_embedding.weight" not in state:
        raise CheckpointError("Expected CLIP text weights (open_clip 'token_embedding.weight' or Hugging Face "
                              "'text_model.*' keys); found neither")
    keep = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.")
    return {k: v for k, v in state.items() if k.startswith(keep)}


def read_clip_weights(path) -> Dict[str, Tensor]:
    """Reads a local CLIP checkpoint (``.safetensors``, or a plain tensor pickle via ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise MeshflowError(_missing_clip_message(f"{path}: file not found."))
    if path.suffix == ".safetensors":
        try:
            state = load_file(str(path))
        except Exception as e:
            raise CheckpointError(f"{path}: cannot read safetensors file ({e})") from None
    else:
        state = safe_torch_load(path, hint=". OpenAI's TorchScript 'ViT-L-14.pt' is not accepted: use open_clip's "
                                           "'open_clip_model.safetensors' / 'open_clip_pytorch_model.bin' or a "
                                           "Hugging Face 'model.safetensors' instead")
        for key in ("state_dict", "model_state_dict"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: expected a state dict of tensors")
        state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()
                 if isinstance(v, Tensor)}
    return clip_text_state_dict(state)


def _missing_clip_message(problem: str) -> str:
    return (
        f"CLIP ViT-L/14 text weights needed ({problem.strip()}). meshflow downloads nothing: get one of "
        "(a) open_clip's ViT-L-14 'openai' weights, 'open_clip_model.safetensors' or "
        "'open_clip_pytorch_model.bin' from the Hugging Face repo timm/vit_large_patch14_clip_224.openai; "
        "(b) 'model.safetensors' of openai/clip-vit-large-patch14; (c) 'text_encoder/model.safetensors' "
        "of stable-diffusion-v1-5/stable-diffusion-v1-5. Put the file anywhere (e.g. "
        "~/.cache/meshflow/clip-vit-l-14.safetensors) and pass its path (--clip PATH, or "
        f"clip_weights=PATH) or set {CLIP_WEIGHTS_ENV}=PATH."
    )


class CLIPTextEncoder(TextEncoder):
    r"""CLIP ViT-L/14 text tower (Radford et al., 2021), per-token final-layer-normed hidden states.

    The Stable Diffusion 1.5 text encoder of the original: causal attention,
    QuickGELU, ``last_hidden_state = ln_final(transformer(x))`` for every one of
    the 77 positions. The returned mask is ``None`` (every position is attended,
    as in the original).

    Args:
        weights (str, optional): local checkpoint file (see :func:`read_clip_weights`);
            defaults to ``$MESHFLOW_CLIP_WEIGHTS``. Ignored when ``state_dict`` is given.
        state_dict (dict, optional): text-tower weights in open_clip layout.
        width, heads, layers, context_length, vocab_size: tower size. (default: ViT-L/14)
        cache_size (int): texts kept in the feature cache. (default: :obj:`4096`)

    Shapes:
        texts (B strings) -> tokens (B, 77, 768), mask None
    """

    name = "clip-vit-l-14"
    dim = 768

    def __init__(self, weights=None, *, state_dict: Optional[Mapping[str, Tensor]] = None, width: int = 768,
                 heads: int = 12, layers: int = 12, context_length: int = 77, vocab_size: int = 49408,
                 cache_size: int = 4096):
        super().__init__(cache_size)
        from open_clip.transformer import QuickGELU, TextTransformer

        if state_dict is None:
            weights = weights or os.environ.get(CLIP_WEIGHTS_ENV)
            if not weights:
                raise MeshflowError(_missing_clip_message("no weight file given and no model directory copy"))
            state_dict = read_clip_weights(weights)
        self.width, self.heads, self.layers = width, heads, layers
        self.context_length, self.vocab_size = context_length, vocab_size
        self.dim = width
        self.tower = TextTransformer(context_length=context_length, vocab_size=vocab_size, width=width, heads=heads,
                                     layers=layers, output_dim=width, act_layer=QuickGELU, output_tokens=True)
        self.tower.text_projection = None  # only the tokens are used
        load_strict(self.tower, state_dict, f"CLIP text weights (a tower of width {width}, {layers} layers)")
        self.tower.eval()

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor], heads: Optional[int] = None,
                        cache_size: int = 4096) -> "CLIPTextEncoder":
        """A tower sized by its weights (open_clip layout); ``heads`` defaults to width / 64 (every CLIP)."""
        vocab_size, width = state_dict["token_embedding.weight"].shape
        layers = len({k.split(".")[2] for k in state_dict if k.startswith("transformer.resblocks.")})
        context_length = state_dict["positional_embedding"].shape[0]
        return cls(state_dict=state_dict, width=width, heads=heads or max(1, width // 64), layers=layers,
                   context_length=context_length, vocab_size=vocab_size, cache_size=cache_size)

    def tokenize(self, texts: Sequence[str]) -> Tensor:
        return clip_tokenize(texts, self.context_length)

    def _encode(self, texts: List[str]) -> Tuple[Tensor, None]:
        ids = self.tokenize(texts).to(self.device)
        _, tokens = self.tower(ids)  # (B, 77, W), after ln_final
        return tokens, None

    def config(self) -> dict:
        cfg = {"name": self.name}
        for k in ("width", "heads", "layers", "context_length", "vocab_size"):
            cfg[k] = getattr(self, k)
        return cfg

    def train(self, mode: bool = True):
        return super().train(False)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(width={self.width}, layers={self.layers})"
