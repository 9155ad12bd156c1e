"""Model directories and original checkpoints.

A meshflow model directory holds no pickles::

    DIR/
      config.json            {"format": "meshflow-model", "version": 1,
                              "components": {"vae": {...}, "mmdit": {...}, ...},
                              ... free-form extras: "factors", "text_encoder", ...}
      vae.safetensors        one safetensors file per component that has weights
      mmdit.safetensors

``save_model_dir`` writes it atomically (a temporary folder renamed into
place); :func:`load_model_config` reads config.json once and
:func:`load_weights` one component's tensors. A model that mixes in
:class:`ModelMixin` (DyMeshVAE, MMDiT) is one component: ``save_component``
writes its resolved dataclass config and weights, ``from_directory`` builds it
from its part of config.json (unknown keys refused) and loads the weights strictly.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Type, TypeVar, Union, get_args, get_origin, get_type_hints

import torch
from safetensors.torch import load_file
from torch import Tensor

from ..errors import CheckpointError
from ..io.atomic import atomic_folder
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
    files: Optional[Mapping[str, Union[str, bytes]]] = None,
) -> Path:
    """Writes a model directory: ``configs[name]`` into config.json, ``state_dicts[name]`` into NAME.safetensors.

    Args:
        directory: target folder (replaced as a whole if it exists).
        configs: resolved configuration of every component.
        state_dicts: weights of the components that have them.
        extras: further JSON-serialisable entries for config.json (e.g. latent ``factors``).
        dtype: cast floating-point tensors to this dtype (e.g. ``torch.float16``) to save space.
        files: further files, name -> text or bytes (the README.md model card, a prompt vocabulary), in the same
            atomic write.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    with atomic_folder(directory, replace=True, mode=0o755) as tmp:  # a model directory is for everyone
        config = {"format": FORMAT, "version": VERSION, "components": dict(configs)}
        config.update(extras or {})
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        for name, content in (files or {}).items():
            if isinstance(content, bytes):
                (tmp / name).write_bytes(content)
            else:
                (tmp / name).write_text(content)
        for name, sd in state_dicts.items():
            tensors = {}
            for k, v in sd.items():
                v = v.detach().cpu()
                if dtype is not None and v.is_floating_point():
                    v = v.to(dtype)
                tensors[k] = v.contiguous()
            save_file(tensors, str(tmp / f"{name}.safetensors"), metadata={"format": "pt"})
            os.chmod(tmp / f"{name}.safetensors", 0o644)
    return directory


def _names(keys) -> str:
    keys = list(keys)
    return (", ".join(keys[:5]) + (" ..." if len(keys) > 5 else "")) or "none"


def load_strict(model: torch.nn.Module, state: Mapping[str, Tensor], what: str) -> None:
    """Loads ``state`` into ``model`` when every key and shape matches; else a
    :class:`CheckpointError` that names ``what`` and the first mismatches."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{what}: weights do not match the config (missing: {_names(missing)}; "
                              f"unexpected: {_names(unexpected)}); they do not fit {type(model).__name__}")
    wrong = [k for k, v in state.items() if own[k].shape != v.shape]
    if wrong:
        k = wrong[0]
        more = f" and {len(wrong) - 1} more" if len(wrong) > 1 else ""  # names would make the line too long
        raise CheckpointError(f"{what}: expected '{k}' of shape {tuple(own[k].shape)} (got {tuple(state[k].shape)}); "
                              f"the {type(model).__name__} weights do not match the config (wrong shape: {k}{more})")
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


def component_config(config: Mapping, name: str, directory) -> dict:
    """The part of a model directory's config.json (as read by :func:`load_model_config`) for component ``name``."""
    components = config.get("components", {})
    if name not in components:
        raise CheckpointError(f"{directory}: no '{name}' component (has: {', '.join(sorted(components)) or 'none'})")
    return dict(components[name])


def load_weights(directory, name: str, device="cpu") -> Dict[str, Tensor]:
    """The tensors of DIR/NAME.safetensors (the weights of component ``name``)."""
    weights = Path(directory) / f"{name}.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{directory}: missing weight file {weights.name} for component '{name}'")
    try:
        state = load_file(str(weights), device="cpu")
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{weights}: cannot read safetensors file ({e})") from None
    device = torch.device(device)
    if device.type != "cpu":
        state = {k: v.to(device) for k, v in state.items()}
    return state


def load_component(directory, name: str, device="cpu") -> Tuple[dict, Dict[str, Tensor]]:
    """Returns ``(config, state_dict)`` of component ``name`` of a model directory."""
    config = component_config(load_model_config(directory), name, directory)
    return config, load_weights(directory, name, device)


C = TypeVar("C")


_KINDS = {int: "an integer of at least 1", float: "a number", str: "a string", bool: "true or false"}


def _field_problem(name: str, kind, value) -> Optional[str]:
    """Why ``value`` does not fit a config field annotated ``kind`` (None when it fits). Integer fields of
    the model configs are sizes and counts, so they are at least 1; ``Optional[X]`` also takes None."""
    args = get_args(kind)
    if get_origin(kind) is Union and type(None) in args:
        if value is None:
            return None
        kind = next(a for a in args if a is not type(None))
    if kind not in _KINDS:
        return None  # containers and the like: the config's own __post_init__ checks them
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    else:
        ok = isinstance(value, kind)
    shown = json.dumps(value) if isinstance(value, (str, bool)) or value is None else repr(value)
    return None if ok else f"Expected '{name}' to be {_KINDS[kind]} (got {shown})"


def config_from_dict(config_class: Type[C], config: Mapping[str, Any], what: str) -> C:
    """``config_class(**config)`` for a dataclass config; an unknown key, a value of the wrong type
    (from the field annotations) or one its ``__post_init__`` refuses is one :class:`CheckpointError`
    that names it (``what`` names the config, e.g. ``DyMeshVAE config``)."""
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise CheckpointError(f"unknown {what} key(s) {', '.join(unknown)} "
                              f"(expected some of: {', '.join(sorted(known))})")
    hints = get_type_hints(config_class)
    for name, value in config.items():
        problem = _field_problem(name, hints[name], value)
        if problem:
            raise CheckpointError(f"invalid {what} ({problem})")
    try:
        return config_class(**config)
    except (TypeError, ValueError, ArithmeticError) as e:  # __post_init__'s checks (a zero divisor included)
        raise CheckpointError(f"invalid {what} ({e})") from None


M = TypeVar("M", bound="ModelMixin")


class ModelMixin:
    """A model that is one component of a model directory.

    The class sets ``config_class`` (its dataclass config) and ``component``
    (its default name in a model directory); ``__init__`` takes one
    ``config_class`` instance and keeps it as ``self.config``.
    """

    config_class: type
    component: str
    config: Any

    @classmethod
    def from_config(cls: Type[M], config: Mapping[str, Any]) -> M:
        """The model built from a config dict (e.g. a component of config.json); unknown keys are refused."""
        what = f"{cls.__name__} config"
        resolved = config_from_dict(cls.config_class, config, what)
        try:
            return cls(resolved)
        except (TypeError, ValueError, RuntimeError, ArithmeticError) as e:  # sizes the layers cannot take
            first = (str(e).splitlines() or [type(e).__name__])[0]
            raise CheckpointError(f"invalid {what} (the layers cannot be built from it: {first[:120]})") from None

    def save_component(self, directory, name: Optional[str] = None, extras: Optional[dict] = None,
                       dtype: Optional[torch.dtype] = None) -> Path:
        """Writes a model directory holding this model as component ``name`` (default ``component``);
        see :func:`save_model_dir` for ``extras`` and ``dtype``."""
        name = name or self.component
        return save_model_dir(directory, {name: asdict(self.config)}, {name: self.state_dict()},
                              extras=extras, dtype=dtype)

    @classmethod
    def from_directory(cls: Type[M], directory, name: Optional[str] = None,
                       config_dict: Optional[Mapping[str, Any]] = None, device="cpu",
                       dtype: Optional[torch.dtype] = None) -> M:
        """Component ``name`` (default ``component``) of a model directory, in eval mode.

        Args:
            directory: the model directory.
            name: the component. (default: the class's ``component``)
            config_dict: its part of config.json when already read (default: read from ``directory``).
            device: where to put the model. (default: CPU)
            dtype: parameter dtype (default: the dtype of the stored weights).

        Raises:
            CheckpointError: no such component, an unknown config key, a missing weight file,
                or weights whose keys or shapes do not match the config.
        """
        name = name or cls.component
        if config_dict is None:
            config_dict = component_config(load_model_config(directory), name, directory)
        try:
            model = cls.from_config(config_dict)
        except CheckpointError as e:
            raise CheckpointError(f"{directory}: {e}") from None
        state = load_weights(directory, name, device)
        stored = next((v.dtype for v in state.values() if v.is_floating_point()), torch.float32)
        model = model.to(device=device, dtype=dtype or stored)
        load_strict(model, state, f"{Path(directory) / name}.safetensors")
        return model.eval()


def safe_torch_load(path, hint: str = ""):
    """``torch.load(path, weights_only=True)`` on the CPU; anything it refuses (a pickle that
    would run code, TorchScript, a corrupt file) becomes one :class:`CheckpointError`,
    followed by ``hint`` when given."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: refused to load: {_load_problem(e)}{hint}") from None


def _load_problem(error: Exception) -> str:
    """What ``torch.load`` refused, in a few words: its messages are paragraphs of advice with ANSI codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    found = re.search(r"unsupported GLOBAL:? (?:GLOBAL )?([\w.]+)", text, re.IGNORECASE)
    if found:
        return f"it is a pickle that would call {found.group(1)} (only plain tensor checkpoints load, and nothing runs)"
    if "not a ZIP archive" in text or "failed finding central directory" in text:
        return "not a torch checkpoint (the file is corrupt or of another kind)"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = first if len(first) <= 100 else first[:97] + "..."
    return f"not a plain tensor checkpoint ({type(error).__name__}{': ' + first if first else ''})"


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
