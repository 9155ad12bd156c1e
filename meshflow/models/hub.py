"""Model directories and original checkpoints.

A meshflow model directory holds no pickles::

    DIR/
      config.json            {"format": "meshflow-model", "version": 1,
                              "components": {"vae": {...}, "mmdit": {...}, ...},
                              ... free-form extras: "factors", "text_encoder", ...}
      vae.safetensors        one safetensors file per component that has weights
      mmdit.safetensors

``save_model_dir`` writes it atomically (a temporary folder renamed into
place); ``load_model_dir`` reads the config and the tensors back; each model
module turns its component (resolved dataclass config + state dict) into a model.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor

from ..errors import CheckpointError
from ..io.jsonfile import read_json

FORMAT = "meshflow-model"
VERSION = 1
CONFIG_NAME = "config.json"


def save_model_dir(
    directory,
    configs: Mapping[str, dict],
    state_dicts: Mapping[str, Mapping[str, Tensor]],
    extras: Optional[dict] = None,
    dtype: Optional[torch.dtype] = None,
) -> Path:
    """Writes a model directory: ``configs[name]`` into config.json, ``state_dicts[name]`` into NAME.safetensors.

    Args:
        directory: target folder (replaced as a whole if it exists).
        configs: resolved configuration of every component.
        state_dicts: weights of the components that have them.
        extras: further JSON-serialisable entries for config.json (e.g. latent ``factors``).
        dtype: cast floating-point tensors to this dtype (e.g. ``torch.float16``) to save space.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; a model directory is for everyone
        config = {"format": FORMAT, "version": VERSION, "components": dict(configs)}
        config.update(extras or {})
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        for name, sd in state_dicts.items():
            tensors = {}
            for k, v in sd.items():
                v = v.detach().cpu()
                if dtype is not None and v.is_floating_point():
                    v = v.to(dtype)
                tensors[k] = v.contiguous()
            save_file(tensors, str(tmp / f"{name}.safetensors"), metadata={"format": "pt"})
            os.chmod(tmp / f"{name}.safetensors", 0o644)
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def load_strict(model: torch.nn.Module, state: Mapping[str, Tensor], what: str) -> None:
    """Loads ``state`` into ``model`` when every key and shape matches; else a
    :class:`CheckpointError` that names ``what`` and the first mismatches."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{what}: the weights do not fit {type(model).__name__} (missing: {missing[:5]}, "
                              f"unexpected: {unexpected[:5]})")
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise CheckpointError(f"{what}: expected '{k}' of shape {tuple(own[k].shape)} (got {tuple(v.shape)})")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def load_model_config(directory) -> dict:
    """Reads and checks DIR/config.json."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: model directory not found")
    path = directory / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{directory}: not a meshflow model directory (missing {CONFIG_NAME})")
    config = read_json(path, CONFIG_NAME, CheckpointError)
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{path}: expected 'format': '{FORMAT}' (got {config.get('format')!r})")
    if config.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: written by a newer meshflow (format version {config['version']})")
    return config


def load_component(directory, name: str, device="cpu") -> Tuple[dict, Dict[str, Tensor]]:
    """Returns ``(config, state_dict)`` of component ``name`` of a model directory."""
    from safetensors.torch import load_file

    directory = Path(directory)
    config = load_model_config(directory)
    components = config.get("components", {})
    if name not in components:
        raise CheckpointError(f"{directory}: no '{name}' component (has: {', '.join(sorted(components)) or 'none'})")
    weights = directory / f"{name}.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{directory}: missing weight file {weights.name} for component '{name}'")
    try:
        state = load_file(str(weights), device="cpu")
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{weights}: cannot read safetensors file ({e})") from None
    device = torch.device(device)
    if device.type != "cpu":
        state = {k: v.to(device) for k, v in state.items()}
    return components[name], state


def safe_torch_load(path, hint: str = ""):
    """``torch.load(path, weights_only=True)`` on the CPU; anything it refuses (a pickle that
    would run code, TorchScript, a corrupt file) becomes one :class:`CheckpointError`,
    followed by ``hint`` when given."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise CheckpointError(
            f"{path}: refused to load: not a plain tensor checkpoint loadable with "
            f"torch.load(weights_only=True) ({type(e).__name__}{': ' + first if first else ''}){hint}"
        ) from None


def load_original_checkpoint(path) -> Dict[str, Tensor]:
    """Loads an original AnimateAnyMesh ``.pth`` as a plain state dict, safely.

    Accepts a bare state dict, ``{'model_state_dict': ...}`` and ``module.``-prefixed
    keys (DDP). Only ``torch.load(weights_only=True)`` is used: a pickle that
    needs anything beyond tensors and containers is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    obj = safe_torch_load(path)
    if isinstance(obj, dict) and "model_state_dict" in obj:
        obj = obj["model_state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    return unwrap_state_dict(obj)


def unwrap_state_dict(state_dict: Mapping) -> Dict[str, Tensor]:
    """The weights of an original training checkpoint: ``{'model_state_dict': ...}`` unwrapped
    and a DDP ``module.`` prefix on every key removed."""
    if "model_state_dict" in state_dict:
        state_dict = state_dict["model_state_dict"]
    state_dict = dict(state_dict)
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
    return state_dict
