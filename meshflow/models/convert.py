"""``meshflow convert-original``: original AnimateAnyMesh checkpoints -> a meshflow model directory.

Inputs (as the original release ships them):

* ``dvae_*.pth``: DyMeshVAE state dict (optionally ``{'model_state_dict': ...}``, ``module.`` keys);
* ``rf_epoch_*.pth``: MMDiT state dict, usually with the CLIP text model (``clip_text_model.*``);
* ``training_config.json``: ``vae_config``, ``rf_config``, ``training_args``;
* the rescale JSON: ``f0_mean``, ``f0_std``, ``ft_mean``, ``ft_std``.

Pickles are read with ``torch.load(weights_only=True)`` only. The output is a
model directory (config.json + safetensors, see :mod:`meshflow.models.hub`) with
components ``vae``, ``mmdit`` and ``text_encoder`` (CLIP weights included when
they were found in ``--clip`` or in the rf checkpoint) and the extras
``factors`` (the four scalars) and ``flow`` (sampler defaults of the original).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Optional

import torch

from ..errors import CheckpointError
from .factors import LatentFactors
from ..io.jsonfile import read_json
from .dymesh_vae import load_original_vae
from .hub import load_original_checkpoint, save_model_dir
from .mmdit import convert_original_state_dict, load_original_mmdit
from .text import CLIPTextEncoder, clip_state_dict_from_hf, read_clip_weights


def read_training_config(path, sections=("rf_config",)) -> dict:
    """Reads the original ``training_config.json`` and checks that it has ``sections``
    (:func:`check_training_config`)."""
    return check_training_config(read_json(path, "training config", CheckpointError), path, sections)


def check_training_config(config, path, sections=("rf_config",)) -> dict:
    """``config``, the contents of the original ``training_config.json`` at ``path`` (named in the error),
    when it has ``sections``; else a :class:`CheckpointError`."""
    for section in sections:
        if not isinstance(config, dict) or not isinstance(config.get(section), dict):
            raise CheckpointError(f"{path}: expected the original training config with '{section}' (got keys: "
                                  f"{sorted(config) if isinstance(config, dict) else type(config).__name__})")
    return config


def convert_original(
    out,
    *,
    config,
    rf=None,
    factors=None,
    vae=None,
    clip=None,
    dtype: Optional[torch.dtype] = None,
    training_config: Optional[dict] = None,
) -> Path:
    """Writes a meshflow model directory from original checkpoints.

    With ``vae`` alone the directory holds just the DyMeshVAE (enough for
    ``meshflow reconstruct``); with ``rf`` (and its ``factors``) it also holds the
    MMDiT and the text encoder, and with both it is a full model for the pipeline.

    Args:
        out: output directory (replaced atomically).
        config: the original ``training_config.json``.
        rf: the original MMDiT checkpoint (``rf_epoch_*.pth``).
        factors: the rescale JSON with the four latent factors (needed with ``rf``).
        vae: the original DyMeshVAE checkpoint (``dvae_*.pth``).
        clip: a local CLIP ViT-L/14 weight file; when ``None`` the CLIP weights of the rf
            checkpoint are used if it has them, else the directory records only the encoder's
            name and the weights are needed at run time (``MESHFLOW_CLIP_WEIGHTS``).
        dtype: store floating-point weights in this dtype (default: as found).
        training_config: the contents of ``config`` when the caller has already read it
            (:func:`read_training_config`); it is checked, and ``config`` is then only named in
            messages, not read again. (default: read ``config``)
    """
    if rf is None and vae is None:
        raise CheckpointError("nothing to convert: give the original VAE (--vae) and/or MMDiT (--rf) checkpoint")
    if rf is not None and factors is None:
        raise CheckpointError(f"{rf}: converting the MMDiT needs its latent factors JSON (--factors)")
    sections = (("rf_config",) if rf is not None else ()) + (("vae_config",) if vae is not None else ())
    if training_config is None:
        train_cfg = read_training_config(config, sections)
    else:
        train_cfg = check_training_config(training_config, config, sections)
    vae_config = train_cfg.get("vae_config")
    configs, states, extras = {}, {}, {}

    if vae is not None:
        model = load_original_vae(str(vae), vae_config)
        configs["vae"], states["vae"] = asdict(model.config), model.state_dict()

    if rf is not None:
        rf_config = train_cfg["rf_config"]
        lat = LatentFactors.from_json(factors)
        rf_state = load_original_checkpoint(rf)
        try:
            mmdit = load_original_mmdit(rf_state, rf_config)
        except CheckpointError as e:
            raise CheckpointError(f"{rf}: {e}") from None
        _, hf_clip = convert_original_state_dict(rf_state)
        configs["mmdit"], states["mmdit"] = asdict(mmdit.config), mmdit.state_dict()

        clip_state = None
        if clip is not None:
            clip_state = read_clip_weights(clip)
        elif hf_clip:
            clip_state = clip_state_dict_from_hf(hf_clip)
        if clip_state is not None:
            encoder = CLIPTextEncoder.from_state_dict(clip_state, cache_size=0)  # checks every shape
            if encoder.width != mmdit.config.text_dim:
                raise CheckpointError(f"CLIP text width {encoder.width} does not match the MMDiT's text features "
                                      f"({mmdit.config.text_dim}, 'clip_token_mlp')")
            configs["text_encoder"] = encoder.config()
            states["text_encoder"] = encoder.tower.state_dict()
        else:
            if mmdit.config.text_dim != CLIPTextEncoder.dim:
                raise CheckpointError(f"{rf}: expected CLIP ViT-L/14 text features ({CLIPTextEncoder.dim}) in "
                                      f"'clip_token_mlp' (got {mmdit.config.text_dim}); pass --clip with matching "
                                      "weights")
            configs["text_encoder"] = {"name": CLIPTextEncoder.name}

        shape_channels = int(vae_config["latent_dim"]) if isinstance(vae_config, dict) and "latent_dim" in vae_config \
            else mmdit.config.input_channels // 2
        extras["factors"] = lat.to_dict()
        extras["flow"] = {
            "shape_channels": shape_channels,
            "steps": 64,
            "guidance": 3.0,
            "solver": "midpoint",
            "cond_drop_prob": rf_config.get("cond_drop_prob"),
        }
    extras["source"] = {
        "format": "animateanymesh-original",
        "rf": None if rf is None else Path(rf).name,
        "vae": None if vae is None else Path(vae).name,
        "training_args": train_cfg.get("training_args", {}),
    }
    return save_model_dir(out, configs, states, extras=extras, dtype=dtype)
