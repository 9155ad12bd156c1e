r"""Trajectory MMDiT: the joint-attention transformer of AnimateAnyMesh.

Trajectory tokens ``x`` (shape latents ``f0`` and trajectory latents ``ft``
side by side, ``(B, K, 2L)``) and text tokens ``(B, S, D)`` are projected to
width ``W``, then every block runs ONE attention and ONE MLP over the
concatenation ``[h; c]`` with shared weights, while each stream keeps its own
adaLN-Zero modulation (driven by the time embedding) and its own LayerNorms.
Only the trajectory stream is read out.

The module is a velocity model ``v(x, t, text)``; it knows nothing about the
flow (see :mod:`meshflow.flow`). Parameter names are meshflow's own;
:func:`convert_original_state_dict` maps the original checkpoint layout
(``backbone.resblocks.*``, ``clip_token_mlp``, ...) onto them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Dict, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CheckpointError
from .hub import ModelMixin, config_from_dict, load_strict
from .keymap import KeyMap


@dataclass
class MMDiTConfig:
    """Architecture of :class:`MMDiT` (the original's ``rf_config``)."""

    input_channels: int = 48  # 2 * L: shape latents f0 then trajectory latents ft
    output_channels: int = 48  # velocity for every input channel (shape channels are ignored by the flow)
    width: int = 512  # W: token width of both streams
    layers: int = 12  # joint blocks
    heads: int = 8  # attention heads; W must be divisible by heads
    text_dim: int = 768  # D: per-token text feature size (768 CLIP ViT-L/14, 384 MiniLM)
    init_scale: float = 0.25  # std of the attention / MLP init is init_scale / sqrt(W), as in the original
    max_period: float = 10000.0  # slowest period of the sinusoidal time embedding

    def __post_init__(self):
        if self.width % self.heads:
            raise ValueError(f"Expected 'width' divisible by 'heads' (got width={self.width}, heads={self.heads})")


def time_frequencies(half: int, max_period: float = 10000.0, device=None) -> Tensor:
    """``max_period ** (-i / half)`` for ``i < half``, computed in float32 in the original's order of operations."""
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=device)
    return torch.exp(exponent / half)


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    r"""Sinusoidal embedding of (fractional) times, cos half first, then sin.

    The frequencies are computed in float32 whatever ``t``'s dtype, as the
    original does, so a float64 run reproduces its numbers exactly.

    Shapes:
        t (B,) -> (B, dim)
    """
    half = dim // 2
    freqs = time_frequencies(half, max_period, t.device)  # (half,) float32
    args = t[:, None] * freqs[None].to(t.dtype)  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def _modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class JointBlock(nn.Module):
    r"""One MMDiT block: shared attention and MLP over ``[h; c]``, per-stream adaLN-Zero.

    .. math::
        a = \mathrm{Attn}([\mathrm{mod}_x(\mathrm{LN}(h)); \mathrm{mod}_c(\mathrm{LN}(c))]),\quad
        h \mathrel{+}= g^x_a \odot a_h,\quad c \mathrel{+}= g^c_a \odot a_c

        m = \mathrm{MLP}([\mathrm{mod}'_x(\mathrm{LN}_x(h)); \mathrm{mod}'_c(\mathrm{LN}_c(c))]),\quad
        h \mathrel{+}= g^x_m \odot m_h,\quad c \mathrel{+}= g^c_m \odot m_c

    Args:
        width (int): token width W.
        heads (int): attention heads.

    Shapes:
        h (B, K, W), c (B, S, W), temb (B, W), attn_mask (B, 1, 1, K + S) bool or None
        -> h (B, K, W), c (B, S, W)
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.width = width
        self.heads = heads
        self.ada_x = nn.Linear(width, 6 * width)  # shift, scale, gate (attn); shift, scale, gate (mlp)
        self.ada_text = nn.Linear(width, 6 * width)
        self.qkv = nn.Linear(width, 3 * width)  # per head laid out as [q | k | v]
        self.proj = nn.Linear(width, width)
        self.norm_x = nn.LayerNorm(width)
        self.norm_text = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def attention(self, z: Tensor, attn_mask: Optional[Tensor]) -> Tensor:
        B, N, W = z.shape
        qkv = self.qkv(z).view(B, N, self.heads, 3 * W // self.heads)
        q, k, v = qkv.transpose(1, 2).chunk(3, dim=-1)  # 3 x (B, heads, N, W / heads)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(B, N, W))

    def forward(self, h: Tensor, c: Tensor, temb: Tensor, attn_mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        K, W = h.shape[1], self.width
        e = F.silu(temb)
        sx, kx, gx, sx2, kx2, gx2 = self.ada_x(e).chunk(6, dim=-1)  # 6 x (B, W)
        sc, kc, gc, sc2, kc2, gc2 = self.ada_text(e).chunk(6, dim=-1)

        a = torch.cat([_modulate(F.layer_norm(h, (W,), eps=1e-6), sx, kx),
                       _modulate(F.layer_norm(c, (W,), eps=1e-6), sc, kc)], dim=1)  # (B, K + S, W)
        a = self.attention(a, attn_mask)
        h = h + gx[:, None] * a[:, :K]
        c = c + gc[:, None] * a[:, K:]

        m = torch.cat([_modulate(self.norm_x(h), sx2, kx2), _modulate(self.norm_text(c), sc2, kc2)], dim=1)
        m = self.mlp(m)  # (B, K + S, W)
        h = h + gx2[:, None] * m[:, :K]
        c = c + gc2[:, None] * m[:, K:]
        return h, c

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.width}, heads={self.heads})"


class MMDiT(ModelMixin, nn.Module):
    r"""The trajectory MMDiT of AnimateAnyMesh (Wu et al., ICCV 2025).

    .. math::
        h = \mathrm{LN}(W_{in} x),\quad c = \mathrm{LN}(W_{text}\, e \cdot \mathrm{cond}),\quad
        v = W_{out}\,\mathrm{LN}(\mathrm{Blocks}(h, c, \mathrm{MLP}(\mathrm{sin}(t))))

    Args:
        config (MMDiTConfig, optional): the architecture (channels, width W, layers, heads,
            text_dim D, init_scale, max_period); ``self.config`` is the only copy of it.
            (default: ``MMDiTConfig()``)

    Built from a dict with :meth:`from_config`; a model directory holds it as
    component ``mmdit`` (:meth:`save_component`, :meth:`from_directory`).

    Text masking: with ``text_mask=None`` every text position is attended (the
    original, whose CLIP padding is real end-of-text tokens). With a mask, the
    trajectory and text tokens attend only to the valid text positions, so
    padding does not change the result. ``cond=False`` multiplies the
    projected text tokens by zero (the original's unconditional branch); with a
    mask, the unconditional branch then attends to the first text position only,
    so it is the same for every prompt and every padding length.

    Shapes:
        x (B, K, input_channels), t (B,), text (B, S, text_dim),
        text_mask (B, S) bool or None, cond (B,) bool or None -> (B, K, output_channels)
    """

    config_class = MMDiTConfig
    component = "mmdit"

    def __init__(self, config: Optional[MMDiTConfig] = None):
        super().__init__()
        config = MMDiTConfig() if config is None else config
        if not isinstance(config, MMDiTConfig):
            raise TypeError(f"Expected an MMDiTConfig (got {type(config).__name__}); "
                            "build from a dict with MMDiT.from_config")
        self.config = config
        width = config.width

        self.time_mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.input_proj = nn.Linear(config.input_channels, width)
        self.text_proj = nn.Linear(config.text_dim, width)
        self.norm_in = nn.LayerNorm(width)
        self.norm_text_in = nn.LayerNorm(width)
        self.blocks = nn.ModuleList([JointBlock(width, config.heads) for _ in range(config.layers)])
        self.norm_out = nn.LayerNorm(width)
        self.output_proj = nn.Linear(width, config.output_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Original init for attention, MLPs and time MLP; adaLN outputs and the output projection zeroed."""
        std = self.config.init_scale / math.sqrt(self.config.width)
        linears = [self.time_mlp[0], self.time_mlp[2]]
        for block in self.blocks:
            linears += [block.qkv, block.proj, block.mlp[0], block.mlp[2]]
        for lin in linears:
            nn.init.normal_(lin.weight, std=std)
            nn.init.zeros_(lin.bias)
        self.input_proj.reset_parameters()
        self.text_proj.reset_parameters()
        for m in self.modules():
            if isinstance(m, nn.LayerNorm):
                m.reset_parameters()
        for lin in [self.output_proj] + [b.ada_x for b in self.blocks] + [b.ada_text for b in self.blocks]:
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def reset_parameters(self) -> None:
        self.initialize_weights()

    def forward(self, x: Tensor, t: Tensor, text: Tensor, text_mask: Optional[Tensor] = None,
                cond: Optional[Tensor] = None) -> Tensor:
        cfg = self.config
        B, K, C = x.shape
        if C != cfg.input_channels:
            raise ValueError(f"Expected 'x' with {cfg.input_channels} channels (got {tuple(x.shape)})")
        if text.dim() != 3 or text.shape[0] != B or text.shape[-1] != cfg.text_dim:
            raise ValueError(f"Expected 'text' of shape ({B}, S, {cfg.text_dim}) (got {tuple(text.shape)})")
        t = t.to(x.dtype).expand(B) if t.dim() == 0 else t.to(x.dtype)
        temb = self.time_mlp(timestep_embedding(t, cfg.width, cfg.max_period))  # (B, W)

        c = self.text_proj(text.to(x.dtype))  # (B, S, W)
        if cond is not None:
            cond = cond.to(torch.bool).reshape(B)
            c = c * cond[:, None, None].to(c.dtype)
        attn_mask = None
        if text_mask is not None:
            text_mask = text_mask.to(torch.bool)
            if text_mask.shape != text.shape[:2]:
                raise ValueError(f"Expected 'text_mask' of shape {tuple(text.shape[:2])} "
                                 f"(got {tuple(text_mask.shape)})")
            if cond is not None:
                first_only = torch.zeros_like(text_mask)
                first_only[:, 0] = True
                text_mask = torch.where(cond[:, None], text_mask, first_only)
            keep = torch.cat([text_mask.new_ones(B, K), text_mask], dim=1)  # (B, K + S)
            attn_mask = keep[:, None, None, :]  # (B, 1, 1, K + S)

        h = self.norm_in(self.input_proj(x))  # (B, K, W)
        c = self.norm_text_in(c)  # (B, S, W)
        for block in self.blocks:
            h, c = block(h, c, temb, attn_mask)
        return self.output_proj(self.norm_out(h))  # (B, K, output_channels)

    def __repr__(self) -> str:
        cfg = self.config
        return f"{self.__class__.__name__}(width={cfg.width}, layers={cfg.layers}, heads={cfg.heads})"


# ----------------------------------------------------------- checkpoints ---
# original key template <-> meshflow key template ({i} a block number, {p} weight|bias)
ORIGINAL_KEY_RULES = [
    ("time_embed.c_fc.{p}", "time_mlp.0.{p}"),
    ("time_embed.c_proj.{p}", "time_mlp.2.{p}"),
    ("backbone.resblocks.{i}.attn.c_qkv.{p}", "blocks.{i}.qkv.{p}"),
    ("backbone.resblocks.{i}.attn.c_proj.{p}", "blocks.{i}.proj.{p}"),
    ("backbone.resblocks.{i}.mlp.c_fc.{p}", "blocks.{i}.mlp.0.{p}"),
    ("backbone.resblocks.{i}.mlp.c_proj.{p}", "blocks.{i}.mlp.2.{p}"),
    ("backbone.resblocks.{i}.adaln_x.linear.{p}", "blocks.{i}.ada_x.{p}"),
    ("backbone.resblocks.{i}.adaln_text.linear.{p}", "blocks.{i}.ada_text.{p}"),
    ("backbone.resblocks.{i}.ln_x.{p}", "blocks.{i}.norm_x.{p}"),
    ("backbone.resblocks.{i}.ln_text.{p}", "blocks.{i}.norm_text.{p}"),
    ("ln_pre.{p}", "norm_in.{p}"),
    ("ln_pre_text.{p}", "norm_text_in.{p}"),
    ("ln_post.{p}", "norm_out.{p}"),
    ("clip_token_mlp.{p}", "text_proj.{p}"),
    ("input_proj.{p}", "input_proj.{p}"),
    ("output_proj.{p}", "output_proj.{p}"),
]
KEY_MAP = KeyMap(ORIGINAL_KEY_RULES)
CLIP_PREFIX = "clip_text_model."


def convert_original_state_dict(state_dict: Mapping[str, Tensor]) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
    """Maps an original ``DyMeshMMDiT`` state dict to meshflow names.

    Returns ``(mmdit_state_dict, clip_state_dict)``: the second holds the
    ``clip_text_model.*`` weights (Hugging Face ``CLIPTextModel`` layout, prefix
    removed), empty when the checkpoint has none.
    """
    clip = {k[len(CLIP_PREFIX):]: v for k, v in state_dict.items() if k.startswith(CLIP_PREFIX)}
    out, unknown = KEY_MAP.rename_to_meshflow({k: v for k, v in state_dict.items() if not k.startswith(CLIP_PREFIX)})
    if unknown:
        raise CheckpointError(f"Expected an original MMDiT state dict (got unknown keys: {', '.join(unknown[:5])}"
                              f"{' ...' if len(unknown) > 5 else ''})")
    return out, clip


def to_original_state_dict(state_dict: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Inverse of :func:`convert_original_state_dict` (without CLIP): meshflow names to the original's."""
    out, unknown = KEY_MAP.rename_to_original(state_dict)
    if unknown:
        raise CheckpointError(f"Expected an MMDiT state dict (got unknown key {unknown[0]!r})")
    return out


def config_from_original(rf_config: Mapping, state_dict: Optional[Mapping[str, Tensor]] = None) -> MMDiTConfig:
    """The :class:`MMDiTConfig` of an original ``rf_config`` (``training_config.json``).

    Keys the model does not use (``use_flash2``, ``cond_drop_prob``, ...) are
    ignored; ``text_dim`` is read from the weights when given (else 768, CLIP).
    """
    names = {f.name for f in fields(MMDiTConfig)}
    kwargs = {k: v for k, v in rf_config.items() if k in names}
    if state_dict is not None:
        w = state_dict.get("clip_token_mlp.weight", state_dict.get("text_proj.weight"))
        if w is not None:
            kwargs["text_dim"] = int(w.shape[1])
    return config_from_dict(MMDiTConfig, kwargs, "rf_config")


def load_original_mmdit(state_dict: Mapping[str, Tensor], rf_config: Mapping) -> MMDiT:
    """Builds an :class:`MMDiT` from an original state dict and ``rf_config``."""
    config = config_from_original(rf_config, state_dict)
    weights, _ = convert_original_state_dict(state_dict)
    model = MMDiT(config)
    if weights:
        model = model.to(next(iter(weights.values())).dtype)  # before loading, so float64 stays float64
    load_strict(model, weights, "original MMDiT checkpoint")
    return model


def load_mmdit(model_dir, device="cpu", dtype: Optional[torch.dtype] = None) -> MMDiT:
    """Loads the ``mmdit`` component of a meshflow model directory (architecture from its config;
    dtype: as stored unless given)."""
    return MMDiT.from_directory(model_dir, "mmdit", device=device, dtype=dtype)
