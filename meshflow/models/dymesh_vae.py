r"""DyMeshVAE: the trajectory autoencoder of AnimateAnyMesh (ICCV 2025).

The encoder turns a mesh (frame-0 positions, edges) and the displacements of
its vertices over :math:`T` frames into :math:`K` tokens of :math:`2L`
latent channels: :math:`L` shape channels (deterministic) and :math:`L`
trajectory channels (a diagonal Gaussian). The decoder gives every vertex
back a :math:`T`-frame trajectory. Meshes of a PyG batch may have different
vertex counts; nothing is padded and every mesh gets the same :math:`K`.

Input convention (a :class:`torch_geometric.data.Data` or ``Batch``):

* ``pos`` (N, 3): normalised frame-0 positions,
* ``edge_index`` (2, E): mesh edges in both directions, no self loops
  (built from ``face`` when absent; a point cloud without either has no edges),
* ``traj`` (N, T, 3): displacements :math:`V_t - V_0` (``traj[:, 0] == 0``);
  absent means no motion (zeros), e.g. when only shape latents are needed,
* ``ptr`` / ``batch``: the PyG batch layout (a single ``Data`` is one mesh).

Module names are meshflow's own; :func:`load_original_vae` maps an original
``dvae_*.pth`` onto them (:data:`ORIGINAL_KEY_RULES`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.graph import edge_index_from_faces
from ..errors import CheckpointError
from ..nn import (farthest_point_sampling, NeighborAttention, PointEmbedding, SyncAttention, SyncFeedForward,
    TokenSkinning, TrajectoryEmbedding, VertexQueryAttention)
from .hub import config_from_dict, load_original_checkpoint, ModelMixin, unwrap_state_dict
from .keymap import KeyMap


@dataclass
class DyMeshVAEConfig:
    """DyMeshVAE hyper-parameters. Field names are the original ``vae_config`` keys
    (defaults are the original's), followed by meshflow-only fields."""

    enc_depth: int = 8  # sync cross-attention blocks (tokens -> all vertices)
    dec_depth: int = 8  # sync self-attention blocks over the tokens
    dim: int = 256  # width C of vertex embeddings and tokens
    output_dim: int = 48  # 3 * T values per vertex out of the decoder
    latent_dim: int = 32  # L: shape channels and trajectory channels per token, each
    heads: int = 8  # decoder self-attention heads
    dim_head: int = 64  # decoder self-attention channels per head
    T: int = 16  # frames per trajectory, frame 0 included
    num_traj: int = 512  # K during training (and the floor of the inference default)
    n_layers: int = 1  # neighbour-attention layers on the point embedding
    # meshflow only
    max_tokens: int = 8192  # cap on the inference default K = max(num_traj, N // 8) for huge meshes
    chunk_size: Optional[int] = 8192  # vertex rows per block in vertex-sized work (bounds peak memory)
    decoder: str = "offsets"  # "offsets": the paper's; "skin": token skinning; "blend": token skinning + offsets
    skin_channels: int = 64  # D of the skinning-weight projections (decoder="skin" or "blend")

    def __post_init__(self):
        if self.decoder not in ("offsets", "blend", "skin"):
            raise ValueError(f"Expected decoder to be 'offsets', 'skin' or 'blend' (got {self.decoder!r})")
        if self.output_dim != 3 * self.T:
            raise ValueError(f"Expected output_dim = 3 * T = {3 * self.T} (got output_dim={self.output_dim})")


class DiagonalGaussian:
    r"""The posterior :math:`\mathcal{N}(\mu, \mathrm{diag}(\sigma^2))` of the trajectory latents.

    ``logvar`` is clamped to :math:`[-30, 20]` as in the original;
    :meth:`kl` is :math:`\tfrac12 \,\mathrm{mean}(\mu^2 + \sigma^2 - 1 - \log\sigma^2)`
    over tokens and channels, one value per mesh.

    :meth:`DyMeshVAE.encode` also sets ``token_index``, the token vertices (B, K).

    Shapes:
        - mean, logvar, std, var: :math:`(B, K, L)`
    """

    def __init__(self, mean: Tensor, logvar: Tensor, token_index: Optional[Tensor] = None):
        self.token_index = token_index
        self.mean = mean
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    def sample(self, generator: Optional[torch.Generator] = None) -> Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype,
                            device=self.mean.device)
        return self.mean + self.std * noise

    def mode(self) -> Tensor:
        return self.mean

    def kl(self) -> Tensor:
        return 0.5 * (self.mean.pow(2) + self.var - 1.0 - self.logvar).mean(dim=(1, 2))  # (B,)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(shape={tuple(self.mean.shape)})"


@dataclass
class DyMeshVAEOutput:
    recon: Tensor  # (N, T, 3) absolute positions per frame, V0 + offsets
    latents: Tensor  # (B, K, 2L) cat[shape latents, trajectory latents]
    posterior: DiagonalGaussian  # trajectory posterior, (B, K, L)
    token_index: Tensor  # (B, K) global vertex rows of the tokens
    kl: Tensor  # (B,)
    residual: Optional[Tensor] = None  # (N, T, 3) the offsets on top of the token skinning (decoder="blend")


class DyMeshVAE(ModelMixin, nn.Module):
    r"""The DyMeshVAE of `"AnimateAnyMesh: A Feed-Forward 4D Foundation Model for
    Text-Driven Universal Mesh Animation" <https://arxiv.org/abs/2506.09982>`_.

    Encoder: point embedding of :math:`V_0` plus neighbour attention
    (:math:`e_0`), trajectory embedding (:math:`e_T`), FPS on :math:`e_0` for
    :math:`K` tokens, ``enc_depth`` sync cross-attention blocks from the tokens
    to all vertices of their mesh, then shape latents, posterior mean and
    log-variance. Decoder: ``dec_depth`` sync self-attention blocks over the
    tokens, then every vertex (query from :math:`e_0`) reads its mesh's tokens
    and predicts :math:`T` offsets; the output is :math:`V_0 + \text{offsets}`.
    With ``decoder="skin"`` (meshflow only) every vertex follows a linear blend of
    per-token rigid transforms instead (:class:`~meshflow.nn.TokenSkinning`, the tokens
    as bones), so rotations and articulation are exact; ``decoder="blend"`` adds the
    offsets on top as a residual.

    Built as ``DyMeshVAE(DyMeshVAEConfig(...))`` (or :meth:`from_config` with a
    dict); ``self.config`` holds the configuration and is the only copy of it.
    A model directory holds it as component ``vae`` (:meth:`save_component`,
    :meth:`from_directory`).

    Args:
        config (DyMeshVAEConfig, optional): the hyper-parameters. (default: ``DyMeshVAEConfig()``)
    """

    config_class = DyMeshVAEConfig
    component = "vae"

    def __init__(self, config: Optional[DyMeshVAEConfig] = None):
        super().__init__()
        config = DyMeshVAEConfig() if config is None else config
        if not isinstance(config, DyMeshVAEConfig):
            raise TypeError(f"Expected a DyMeshVAEConfig (got {type(config).__name__}); "
                            "build from a dict with DyMeshVAE.from_config")
        self.config = config
        C, L, T, chunk_size = config.dim, config.latent_dim, config.T, config.chunk_size

        # Encoder
        self.point_embed = PointEmbedding(C)  # V0 -> e0
        self.traj_embed = TrajectoryEmbedding(3 * T, C)  # V_t - V0 -> eT
        self.neighbor_layers = nn.ModuleList(
            [NeighborAttention(C, heads=1, head_channels=2 * C, chunk_size=chunk_size)
             for _ in range(config.n_layers)])
        self.enc_attn = nn.ModuleList(
            [SyncAttention(C, heads=1, head_channels=C, chunk_size=chunk_size) for _ in range(config.enc_depth)])
        self.enc_ff = nn.ModuleList([SyncFeedForward(C) for _ in range(config.enc_depth)])
        self.to_shape_latent = nn.Linear(C, L)  # x0, deterministic
        self.to_traj_mean = nn.Linear(C, L)
        self.to_traj_logvar = nn.Linear(C, L)

        # Decoder
        self.from_shape_latent = nn.Linear(L, C)
        self.from_traj_latent = nn.Linear(L, C)
        self.dec_attn = nn.ModuleList(
            [SyncAttention(C, heads=config.heads, head_channels=config.dim_head) for _ in range(config.dec_depth)])
        self.dec_ff = nn.ModuleList([SyncFeedForward(C) for _ in range(config.dec_depth)])
        self.query_proj = nn.Linear(C, 2 * C)  # vertex queries from e0
        offsets, skin = config.decoder in ("offsets", "blend"), config.decoder in ("skin", "blend")
        self.vertex_attn = (VertexQueryAttention(2 * C, C, C, heads=1, head_channels=2 * C, chunk_size=chunk_size)
                            if offsets else None)
        self.to_offsets = nn.Linear(2 * C, config.output_dim) if offsets else None  # read as (T, 3) per vertex
        self.skinning = (TokenSkinning(2 * C, C, T, head_channels=config.skin_channels, chunk_size=chunk_size)
                         if skin else None)

        self.initialize_weights()

    @property
    def T(self) -> int:
        """Frames per trajectory (``config.T``)."""
        return self.config.T

    @property
    def latent_dim(self) -> int:
        """L, the shape channels and the trajectory channels per token (``config.latent_dim``)."""
        return self.config.latent_dim

    def initialize_weights(self):
        """PyTorch's default initialisation for every layer, except that the output
        projections of the neighbour attention and of the final vertex attention start
        at zero (as in the original), so e0 starts as the plain point embedding."""
        for module in self.children():
            if isinstance(module, nn.ModuleList):
                for layer in module:
                    layer.reset_parameters()
            else:
                module.reset_parameters()
        for layer in self.neighbor_layers:
            nn.init.zeros_(layer.lin_out.weight)
            nn.init.zeros_(layer.lin_out.bias)
        if self.vertex_attn is not None:
            nn.init.zeros_(self.vertex_attn.lin_out.weight)
            nn.init.zeros_(self.vertex_attn.lin_out.bias)

    # ------------------------------------------------------------------ inputs ---
    def _dtype(self) -> torch.dtype:
        return self.query_proj.weight.dtype

    def _layout(self, data) -> Tuple[Tensor, Tensor]:
        """(pos (N, 3) in the model's dtype, ptr (B + 1,))."""
        pos = getattr(data, "pos", None)
        if pos is None or pos.dim() != 2 or pos.size(-1) != 3:
            raise ValueError(f"Expected 'pos' to have shape (N, 3) "
                             f"(got {None if pos is None else tuple(pos.shape)})")
        N = pos.size(0)
        if N == 0:
            raise ValueError("Expected a mesh with at least one vertex (got N = 0)")
        ptr = getattr(data, "ptr", None)
        if ptr is None:
            batch = getattr(data, "batch", None)
            if batch is None:
                ptr = torch.tensor([0, N], device=pos.device)
            else:
                if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
                    raise ValueError("Expected 'batch' to be sorted (vertices of one mesh contiguous)")
                counts = torch.bincount(batch)
                ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        ptr = ptr.to(device=pos.device, dtype=torch.long)
        if bool((ptr[1:] <= ptr[:-1]).any()):
            raise ValueError(f"Expected every mesh to have at least one vertex "
                             f"(got sizes {(ptr[1:] - ptr[:-1]).tolist()})")
        return pos.to(self._dtype()), ptr

    def _traj(self, data, N: int) -> Tensor:
        traj = getattr(data, "traj", None)
        if traj is None:
            return torch.zeros(N, 3 * self.T, dtype=self._dtype(), device=data.pos.device)
        if tuple(traj.shape) != (N, self.T, 3):
            raise ValueError(f"Expected 'traj' to have shape (N, T, 3) = ({N}, {self.T}, 3) "
                             f"(got {tuple(traj.shape)})")
        return traj.to(self._dtype()).reshape(N, 3 * self.T)  # frame-major (t, xyz)

    @staticmethod
    def _edge_index(data, N: int, device) -> Tensor:
        edge_index = getattr(data, "edge_index", None)
        if edge_index is not None:
            return edge_index
        face = getattr(data, "face", None)
        if face is not None:

            return edge_index_from_faces(face, N)
        return torch.empty(2, 0, dtype=torch.long, device=device)

    def _rows(self, fn, x: Tensor) -> Tensor:
        """fn applied to row blocks of x (bounds fn's intermediates, e.g. the 21x trajectory features)."""
        step = self.config.chunk_size
        if step is None or x.size(0) <= step:
            return fn(x)
        first = fn(x[:step])
        out = first.new_empty(x.size(0), *first.shape[1:])
        out[:step] = first
        for a in range(step, x.size(0), step):
            out[a:a + step] = fn(x[a:a + step])
        return out

    # ---------------------------------------------------------------- encoder ---
    def num_tokens(self, num_vertices: int) -> int:
        """Inference default K for a mesh of ``num_vertices``: ``min(max_tokens, max(num_traj, N // 8))``."""
        cfg = self.config
        return min(cfg.max_tokens, max(cfg.num_traj, num_vertices // 8))

    def embed_vertices(self, data) -> Tensor:
        r"""Point embedding of ``pos`` refined by the neighbour attention: :math:`e_0` (N, C)."""
        pos, _ = self._layout(data)
        edge_index = self._edge_index(data, pos.size(0), pos.device)
        e0 = self.point_embed(pos)  # (N, C)
        for layer in self.neighbor_layers:
            e0 = e0 + layer(e0, edge_index)
        return e0

    def tokenize(self, vertex_embed: Tensor, ptr: Tensor, num_tokens: int, random_first_token: bool = False,
                 generator: Optional[torch.Generator] = None, fps_backend: str = "auto") -> Tensor:
        r"""Token vertices by farthest point sampling on :math:`e_0`: global rows (B, K).

        FPS starts at each mesh's first vertex. The original then replaced that
        first pick by a uniformly random vertex of the mesh (its fix-up of
        pytorch3d's ``-1`` padding also caught the index 0); ``random_first_token``
        reproduces this, the default keeps meshflow deterministic.
        """
        with torch.no_grad():
            index = farthest_point_sampling(vertex_embed.detach(), ptr, num_tokens, backend=fps_backend)
        if random_first_token:
            counts = (ptr[1:] - ptr[:-1]).to(torch.float64)
            u = torch.rand(counts.numel(), generator=generator, dtype=torch.float64).to(counts.device)
            index[:, 0] = ptr[:-1] + (u * counts).long()
        return index

    def encode(self, data, num_tokens: Optional[int] = None, token_index: Optional[Tensor] = None,
               sample_posterior: bool = True, vertex_embed: Optional[Tensor] = None,
               generator: Optional[torch.Generator] = None, random_first_token: bool = False,
               fps_backend: str = "auto") -> Tuple[Tensor, DiagonalGaussian]:
        r"""Encodes a batch of animated meshes.

        Args:
            data: PyG ``Data``/``Batch`` (see the module docstring).
            num_tokens (int, optional): :math:`K`; default ``num_traj`` in training
                mode, :meth:`num_tokens` of the largest mesh in eval mode.
            token_index (torch.Tensor, optional): explicit token vertices (B, K),
                global rows of the batch; skips FPS.
            sample_posterior (bool, optional): draw the trajectory latents from the
                posterior (default) or take its mean.
            vertex_embed (torch.Tensor, optional): :math:`e_0` from :meth:`embed_vertices`.
            generator (torch.Generator, optional): for the posterior sample.
            random_first_token (bool, optional): see :meth:`tokenize`.
            fps_backend (str, optional): see :func:`meshflow.nn.farthest_point_sampling`.

        Returns:
            ``(latents (B, K, 2L), posterior)`` with latents ``cat[x0, z_T]``.
        """
        pos, ptr = self._layout(data)
        N = pos.size(0)
        e0 = self.embed_vertices(data) if vertex_embed is None else vertex_embed  # (N, C)
        eT = self._rows(self.traj_embed, self._traj(data, N))  # (N, C)

        if token_index is None:
            if num_tokens is None:
                counts = ptr[1:] - ptr[:-1]
                num_tokens = self.config.num_traj if self.training else self.num_tokens(int(counts.max()))
            token_index = self.tokenize(e0, ptr, num_tokens, random_first_token, generator, fps_backend)
        else:
            token_index = self._check_token_index(token_index, ptr)
        z0, zT = e0[token_index], eT[token_index]  # (B, K, C) each

        for attn, ff in zip(self.enc_attn, self.enc_ff):
            r0, rT = attn(z0, e0, e0, eT, ptr=ptr)  # tokens of mesh b read mesh b's vertices
            z0, zT = z0 + r0, zT + rT
            r0, rT = ff(z0, zT)
            z0, zT = z0 + r0, zT + rT

        x0 = self.to_shape_latent(z0)  # (B, K, L)
        posterior = DiagonalGaussian(self.to_traj_mean(zT), self.to_traj_logvar(zT), token_index)
        zt = posterior.sample(generator) if sample_posterior else posterior.mode()
        return torch.cat([x0, zt], dim=-1), posterior  # (B, K, 2L)

    @staticmethod
    def _check_token_index(token_index: Tensor, ptr: Tensor) -> Tensor:
        B = ptr.numel() - 1
        token_index = token_index.to(device=ptr.device, dtype=torch.long)
        if token_index.dim() == 1 and B == 1:
            token_index = token_index.unsqueeze(0)
        if token_index.dim() != 2 or token_index.size(0) != B:
            raise ValueError(f"Expected 'token_index' to have shape (B, K) with B = {B} "
                             f"(got {tuple(token_index.shape)})")
        inside = (token_index >= ptr[:-1, None]) & (token_index < ptr[1:, None])
        if not bool(inside.all()):
            raise ValueError("Expected every row b of 'token_index' to hold vertex rows of mesh b "
                             "(global indices in [ptr[b], ptr[b+1]))")
        return token_index

    # ---------------------------------------------------------------- decoder ---
    def decode(self, latents: Tensor, data, vertex_embed: Optional[Tensor] = None,
               token_index: Optional[Tensor] = None,
               return_residual: bool = False) -> Union[Tensor, Tuple[Tensor, Optional[Tensor]]]:
        r"""Decodes latents (B, K, 2L) into trajectories (N, T, 3): absolute positions
        :math:`V_0 + \text{offsets}` in every frame (frame 0 included); with
        ``decoder="skin"`` the token skinning, with ``"blend"`` the skinning plus the offsets.
        Both need the token vertices ``token_index`` (B, K) (global rows of ``data``, as
        :meth:`encode` picked them: ``posterior.token_index``). ``return_residual`` also
        returns the offsets on top of the skinning (N, T, 3) for ``"blend"``, else ``None``."""
        pos, ptr = self._layout(data)
        N, B, L = pos.size(0), ptr.numel() - 1, self.latent_dim
        if latents.dim() != 3 or latents.size(0) != B or latents.size(-1) != 2 * L:
            raise ValueError(f"Expected 'latents' to have shape (B, K, 2L) with B = {B}, 2L = {2 * L} "
                             f"(got {tuple(latents.shape)})")
        if self.skinning is not None:
            if token_index is None:
                raise ValueError(f"Expected 'token_index' (B, K) for decoder={self.config.decoder!r}: the token "
                                 "vertices encode picked (posterior.token_index)")
            token_index = self._check_token_index(token_index, ptr)
            if token_index.size(1) != latents.size(1):
                raise ValueError(f"Expected 'token_index' to have K = {latents.size(1)} columns like 'latents' "
                                 f"(got {token_index.size(1)})")
        e0 = self.embed_vertices(data) if vertex_embed is None else vertex_embed  # (N, C)
        latents = latents.to(self._dtype())

        h0 = self.from_shape_latent(latents[..., :L])  # (B, K, C)
        hT = self.from_traj_latent(latents[..., L:])  # (B, K, C)
        for attn, ff in zip(self.dec_attn, self.dec_ff):
            r0, rT = attn(h0, h0, h0, hT)
            h0, hT = h0 + r0, hT + rT
            r0, rT = ff(h0, hT)
            h0, hT = h0 + r0, hT + rT

        skinned = (None if self.skinning is None else  # blended per-token transforms (N, T, 3)
                   self.skinning(self.query_proj(e0), pos, h0, hT, pos[token_index], ptr))
        if self.vertex_attn is None:  # decoder="skin"
            return (skinned, None) if return_residual else skinned
        folded = self.vertex_attn.fold(h0, hT)  # tokens projected once, then vertices in row blocks
        out = pos.new_empty(N, self.T, 3)
        step = self.config.chunk_size or N
        for a in range(0, N, step):
            b = min(a + step, N)
            y = self.vertex_attn.attend(self.query_proj(e0[a:b]), folded, (ptr - a).clamp(0, b - a))  # (n, 2C)
            out[a:b] = self.to_offsets(y).view(b - a, self.T, 3)
        if skinned is None:  # decoder="offsets"
            recon = out + pos.unsqueeze(1)  # (N, T, 3): V0 + offsets
            return (recon, None) if return_residual else recon
        recon = skinned + out  # decoder="blend": the offsets are a residual on the skinning
        return (recon, out) if return_residual else recon

    # ---------------------------------------------------------------- training ---
    def forward(self, data, num_tokens: Optional[int] = None, token_index: Optional[Tensor] = None,
                sample_posterior: bool = True, generator: Optional[torch.Generator] = None,
                random_first_token: bool = False, fps_backend: str = "auto") -> DyMeshVAEOutput:
        e0 = self.embed_vertices(data)
        latents, posterior = self.encode(data, num_tokens, token_index, sample_posterior, vertex_embed=e0,
                                         generator=generator, random_first_token=random_first_token,
                                         fps_backend=fps_backend)
        recon, residual = self.decode(latents, data, vertex_embed=e0, token_index=posterior.token_index,
                                      return_residual=True)
        return DyMeshVAEOutput(recon=recon, latents=latents, posterior=posterior, token_index=posterior.token_index,
                               kl=posterior.kl(), residual=residual)

    def loss(self, output: DyMeshVAEOutput, data, beta: float = 1e-6, recon_loss: str = "l2",
             residual_weight: float = 0.0) -> Tuple[Tensor, Dict[str, Tensor]]:
        r"""The original's training loss: mean Euclidean distance over all vertices and
        frames (``recon_loss="l2"``; ``"mse"`` is the mean squared error over vertices,
        frames and axes) plus ``beta`` times the mean KL per mesh; with ``decoder="blend"``
        plus ``residual_weight`` times the mean norm of the offsets on top of the token
        skinning (so that motion goes through the transforms where they can carry it).

        Returns:
            ``(loss, {"recon": ..., "kl": ...[, "residual": ...]})``
        """
        pos, _ = self._layout(data)
        target = pos.unsqueeze(1) + self._traj(data, pos.size(0)).view(-1, self.T, 3)  # (N, T, 3)
        if recon_loss == "l2":
            rec = (output.recon - target).norm(dim=-1).mean()
        elif recon_loss == "mse":
            rec = F.mse_loss(output.recon, target)
        else:
            raise ValueError(f"Expected recon_loss to be 'l2' or 'mse' (got {recon_loss!r})")
        kl = output.kl.mean()
        loss, logs = rec + beta * kl, {"recon": rec.detach(), "kl": kl.detach()}
        if output.residual is not None:
            residual = output.residual.norm(dim=-1).mean()
            loss, logs["residual"] = loss + residual_weight * residual, residual.detach()
        return loss, logs


# ------------------------------------------------------------- checkpoints ---
# original key template <-> meshflow key template; {i} a block number, {x} a name part, {p} weight|bias
ORIGINAL_KEY_RULES = [
    ("point_embed.basis", "point_embed.basis"),
    ("point_embed.mlp.{p}", "point_embed.lin.{p}"),
    ("traj_embed.freq_bands", "traj_embed.freq_bands"),
    ("traj_embed.mlp.{p}", "traj_embed.lin.{p}"),
    ("neighbor_layers.{i}.norm_{x}.{p}", "neighbor_layers.{i}.norm_{x}.{p}"),
    ("neighbor_layers.{i}.fn.to_{x}.{p}", "neighbor_layers.{i}.lin_{x}.{p}"),
    ("enc_blocks.{i}.0.norm_{x}.{p}", "enc_attn.{i}.norm_{x}.{p}"),
    ("enc_blocks.{i}.0.attn.to_{x}.{p}", "enc_attn.{i}.lin_{x}.{p}"),
    ("enc_blocks.{i}.1.norm{x}.{p}", "enc_ff.{i}.norm{x}.{p}"),
    ("enc_blocks.{i}.1.ffn.ffn{x}.0.{p}", "enc_ff.{i}.ff{x}.lin1.{p}"),
    ("enc_blocks.{i}.1.ffn.ffn{x}.2.{p}", "enc_ff.{i}.ff{x}.lin2.{p}"),
    ("mean_fc_x0.{p}", "to_shape_latent.{p}"),
    ("mean_fc_xt.{p}", "to_traj_mean.{p}"),
    ("logvar_fc_xt.{p}", "to_traj_logvar.{p}"),
    ("proj_x0.{p}", "from_shape_latent.{p}"),
    ("proj_xt.{p}", "from_traj_latent.{p}"),
    ("dec_blocks.{i}.0.norm_{x}.{p}", "dec_attn.{i}.norm_{x}.{p}"),
    ("dec_blocks.{i}.0.attn.to_{x}.{p}", "dec_attn.{i}.lin_{x}.{p}"),
    ("dec_blocks.{i}.1.norm{x}.{p}", "dec_ff.{i}.norm{x}.{p}"),
    ("dec_blocks.{i}.1.ffn.ffn{x}.0.{p}", "dec_ff.{i}.ff{x}.lin1.{p}"),
    ("dec_blocks.{i}.1.ffn.ffn{x}.2.{p}", "dec_ff.{i}.ff{x}.lin2.{p}"),
    ("fc_query.{p}", "query_proj.{p}"),
    ("decoder_final_ca.norm_{x}.{p}", "vertex_attn.norm_{x}.{p}"),
    ("decoder_final_ca.fn.to_{x}.{p}", "vertex_attn.lin_{x}.{p}"),
    ("to_outputs.{p}", "to_offsets.{p}"),
]
KEY_MAP = KeyMap(ORIGINAL_KEY_RULES)


def original_to_meshflow_state_dict(state_dict: Mapping[str, Tensor]) -> Tuple[Dict[str, Tensor], list]:
    """Renames original DyMeshVAE keys; returns ``(renamed, keys that match no rule)``."""
    return KEY_MAP.rename_to_meshflow(unwrap_state_dict(state_dict))


def meshflow_to_original_state_dict(state_dict: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """The inverse renaming: a meshflow DyMeshVAE state dict with the original's key names."""
    out, unknown = KEY_MAP.rename_to_original(state_dict)
    if unknown:
        raise KeyError(f"no original name for meshflow key '{unknown[0]}'")
    return out


def config_from_original(vae_config: Mapping) -> DyMeshVAEConfig:
    """A :class:`DyMeshVAEConfig` from an original ``vae_config`` (or a whole ``training_config``)."""
    if "vae_config" in vae_config:
        vae_config = vae_config["vae_config"]
    vae_config = dict(vae_config)
    norm_type = vae_config.pop("norm_type", "qkv")  # the training script records it; the network has only qkv
    if norm_type != "qkv":
        raise CheckpointError(f"Expected vae_config 'norm_type' to be 'qkv' (got {norm_type!r})")
    return config_from_dict(DyMeshVAEConfig, vae_config, "vae_config")


def load_original_vae(checkpoint: Union[str, os.PathLike, Mapping[str, Tensor]], vae_config: Mapping,
                      *, dtype: torch.dtype = torch.float32) -> DyMeshVAE:
    """Builds a meshflow :class:`DyMeshVAE` from original AnimateAnyMesh weights.

    Args:
        checkpoint: path of a ``dvae_*.pth`` (loaded with ``torch.load(weights_only=True)``)
            or a state dict; plain, ``{'model_state_dict': ...}``-wrapped or ``module.``-prefixed.
        vae_config: the original ``vae_config`` dict (or the whole ``training_config.json`` dict).
        dtype: parameter dtype of the returned model. (default: ``torch.float32``)

    Returns:
        the model in eval mode. Raises :class:`meshflow.errors.CheckpointError` listing
        missing, unexpected or mis-shaped keys.
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        state_dict = load_original_checkpoint(checkpoint)
        source = str(checkpoint)
    else:
        state_dict = checkpoint
        source = "state dict"
    cfg = config_from_original(vae_config)
    model = DyMeshVAE(cfg).to(dtype)
    renamed, unknown = original_to_meshflow_state_dict(state_dict)
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in renamed)
    unexpected = sorted(unknown) + sorted(KEY_MAP.to_original(k) or k for k in renamed if k not in expected)
    wrong = sorted(f"{KEY_MAP.to_original(k)} {tuple(v.shape)} (expected {tuple(expected[k].shape)})"
                   for k, v in renamed.items() if k in expected and v.shape != expected[k].shape)
    if missing or unexpected or wrong:
        lines = [f"{source}: does not match a DyMeshVAE with this vae_config"]
        if missing:
            lines.append("missing: " + ", ".join(KEY_MAP.to_original(k) or k for k in missing))
        if unexpected:
            lines.append("unexpected: " + ", ".join(unexpected))
        if wrong:
            lines.append("wrong shape: " + ", ".join(wrong))
        raise CheckpointError("; ".join(lines))
    model.load_state_dict(renamed, strict=True)
    return model.eval()


def save_vae(model: DyMeshVAE, directory, extras: Optional[dict] = None, dtype: Optional[torch.dtype] = None):
    """Writes a model directory whose component ``vae`` is this model (config + safetensors)."""
    return model.save_component(directory, "vae", extras=extras, dtype=dtype)


def load_vae(directory, device="cpu") -> DyMeshVAE:
    """Loads the ``vae`` component of a meshflow model directory (float32, eval mode)."""
    return DyMeshVAE.from_directory(directory, "vae", device=device, dtype=torch.float32)
