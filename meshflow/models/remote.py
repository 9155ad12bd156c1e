"""Models from the Hugging Face Hub: ``owner/name[@revision]`` -> a meshflow model directory.

:func:`resolve_model` turns what ``--model`` (or :meth:`AnimationPipeline.from_pretrained`) was given
into a model directory, in this order:

1. a local directory (or file path) that exists: used as is;
2. a Hub repository id ``owner/name`` or ``owner/name@revision`` whose converted copy is in the
   meshflow cache (:func:`meshflow.cache.cache_dir`, ``$MESHFLOW_CACHE``): used without a look-up;
3. the Hub, through :func:`huggingface_hub.snapshot_download` with ``allow_patterns`` for only the
   files needed. huggingface_hub does the downloading and caching: ``HF_HOME`` / ``HF_HUB_CACHE``,
   ``HF_HUB_OFFLINE``, ``HF_TOKEN``, ``HF_ENDPOINT`` and its progress bars are its own.

A snapshot holds one of two layouts::

    meshflow model directory         original AnimateAnyMesh release (as test_drive.py reads it)
      config.json                      rf_model/training_config.json   (vae_config, rf_config, training_args)
      vae.safetensors                  rf_model/rf_epoch_f.pth         (MMDiT + CLIP text model)
      mmdit.safetensors                dvae/dvae_f.pth                 ({vae_exp}/dvae_{vae_epoch}.pth)
      [text_encoder.safetensors]       dvae/model_config.json          (optional, the VAE's config)
                                       dvae_factors/dvae_f.json        ({vae_exp}_{vae_epoch}.json)

A meshflow snapshot is used in place. An original snapshot is converted once, by
:func:`meshflow.models.convert.convert_original` (pickles only through ``torch.load(weights_only=True)``),
into the meshflow cache::

    $MESHFLOW_CACHE/hub/models--owner--name/
      refs/REVISION                     the commit a branch, tag or hash was last resolved to
      COMMIT/model/                     the converted model directory
      COMMIT/entry.json                 the completion marker, written last (repo, commit, files)

The entry is written into a temporary folder renamed into place (:func:`meshflow.io.atomic.atomic_folder`);
an entry without its marker (or whose marker does not match its files) was left by a killed process
and is converted again.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import huggingface_hub
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import (GatedRepoError, HFValidationError, LocalEntryNotFoundError,
                                    OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError)

from ..cache import cache_dir
from ..errors import CheckpointError, MeshflowError
from ..io.atomic import atomic_file, atomic_folder, is_temporary
from ..version import __version__
from .convert import convert_original, read_training_config
from .hub import CONFIG_NAME, save_model_dir
from .text import CLIPTextEncoder
from .text.vocabulary import PromptVocabulary

# A repository id as the Hub spells it (owner/name), optionally @revision (branch, tag or commit).
REPO_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<revision>[\w][\w./-]*))?$")
# Every file of a meshflow model directory (its components are these three).
MESHFLOW_FILES = (CONFIG_NAME, "vae.safetensors", "mmdit.safetensors", "text_encoder.safetensors", "README.md")
ORIGINAL_CONFIG = "rf_model/training_config.json"
MARKER = "entry.json"
ENTRY_MODEL = "model"
RECIPE = ("download the release by hand and run `meshflow convert-original --vae dvae/dvae_f.pth --rf "
          "rf_model/rf_epoch_f.pth --config rf_model/training_config.json --factors dvae_factors/dvae_f.json -o DIR`, "
          "then pass --model DIR")


@dataclass(frozen=True)
class ModelId:
    """A Hub model: ``repo`` (owner/name) and an optional ``revision`` (branch, tag or commit; None = main)."""

    repo: str
    revision: Optional[str] = None

    @classmethod
    def parse(cls, text: str) -> "ModelId":
        """``owner/name`` or ``owner/name@revision``; a :class:`MeshflowError` for anything else."""
        found = REPO_ID.match(str(text))
        if not found or ".." in found.group("repo"):
            raise MeshflowError(f"Expected a Hugging Face model id 'owner/name' or 'owner/name@revision' "
                                f"(got {text!r})")
        return cls(found.group("repo"), found.group("revision"))

    def __str__(self) -> str:
        return self.repo + (f"@{self.revision}" if self.revision else "")


def is_model_id(text) -> bool:
    """Whether ``text`` reads as a Hub model id rather than a path (two plain parts, no leading ``.``, ``/``, ``~``)."""
    return isinstance(text, str) and bool(REPO_ID.match(text)) and ".." not in text


@dataclass(frozen=True)
class OriginalLayout:
    """Where the original release keeps its files, relative to the snapshot (``test_drive.py``'s names:
    ``{vae_exp}`` and ``{vae_epoch}`` come from ``training_args.vae_exp_dependency`` / ``vae_epoch_dependency``)."""

    vae_exp: str = "dvae"  # the release's
    vae_epoch: str = "f"  # "f": final
    config: str = ORIGINAL_CONFIG
    rf: str = "rf_model/rf_epoch_f.pth"

    @classmethod
    def from_training_config(cls, config: dict) -> "OriginalLayout":
        args = config.get("training_args") or {}
        names = {"vae_exp": args.get("vae_exp_dependency", cls.vae_exp),
                 "vae_epoch": args.get("vae_epoch_dependency", cls.vae_epoch)}
        for key, value in names.items():
            if not isinstance(value, str) or not re.fullmatch(r"[\w.-]+", value) or value.startswith("."):
                raise CheckpointError(f"{ORIGINAL_CONFIG}: Expected 'training_args.{key}_dependency' to be a plain "
                                      f"file name (got {value!r})")
        return cls(**names)

    @property
    def vae(self) -> str:
        return f"{self.vae_exp}/dvae_{self.vae_epoch}.pth"

    @property
    def vae_config(self) -> str:
        return f"{self.vae_exp}/model_config.json"

    @property
    def factors(self) -> str:
        return f"dvae_factors/{self.vae_exp}_{self.vae_epoch}.json"

    @property
    def required(self) -> Tuple[str, ...]:
        return (self.config, self.rf, self.vae, self.factors)

    @property
    def patterns(self) -> List[str]:
        return list(self.required) + [self.vae_config]


@dataclass(frozen=True)
class ResolvedModel:
    """Where a ``--model`` value led: ``path`` is a meshflow model directory.

    ``layout`` is ``local``, ``meshflow`` (a meshflow snapshot used in place) or ``original`` (a converted
    copy); ``cached`` says that copy was made by an earlier run, ``redone`` that a half-written one was replaced.
    """

    path: Path
    layout: str = "local"
    repo: Optional[str] = None
    revision: Optional[str] = None
    commit: Optional[str] = None
    cached: bool = False
    redone: bool = False

    def describe(self) -> str:
        """One phrase for the summary line of a command."""
        if self.layout == "local":
            return str(self.path)
        hub = f"{self.repo}@{self.commit[:12] if self.commit else self.revision or 'main'}"
        if self.layout == "meshflow":
            return f"{hub} (meshflow model from the Hugging Face cache, {self.path})"
        how = ("converted copy from the meshflow cache" if self.cached else
               "converted now, half-written copy redone" if self.redone else "converted now")
        return f"{hub} ({how}: {self.path})"


_RESOLVED: Dict[str, ResolvedModel] = {}  # model directory -> how this process found it (for describe_model)


def describe_model(path) -> str:
    """The summary phrase of a model directory: how :func:`resolve_model` found it in this process, the
    marker of a meshflow cache entry, else the path."""
    if str(path) in _RESOLVED:
        return _RESOLVED[str(path)].describe()
    path = Path(path)
    marker = path.parent / MARKER
    if path.name == ENTRY_MODEL and marker.is_file():
        entry = _read_marker(marker)
        if entry:
            return ResolvedModel(path, "original", entry.get("repo"), None, entry.get("commit"), cached=True).describe()
    return str(path)


# ----------------------------------------------------------------- cache ---
def hub_cache() -> Path:
    """The meshflow cache's folder of converted Hub models."""
    return cache_dir() / "hub"


def repo_folder(repo: str) -> Path:
    return hub_cache() / ("models--" + repo.replace("/", "--"))


def _read_marker(path: Path) -> Optional[dict]:
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def entry_complete(entry: Path) -> bool:
    """Whether a cache entry was written whole: its marker is there and every file it lists has its size."""
    marker = _read_marker(entry / MARKER)
    if not marker or not isinstance(marker.get("files"), dict):
        return False
    model = entry / ENTRY_MODEL
    try:
        return all((model / name).stat().st_size == size for name, size in marker["files"].items())
    except (OSError, TypeError):
        return False


def _cached_commit(model_id: ModelId) -> Optional[str]:
    """The commit ``model_id``'s revision was last resolved to, when its converted entry is complete."""
    revision = model_id.revision or "main"
    if re.fullmatch(r"[0-9a-f]{40}", revision):
        commit = revision
    else:
        try:
            commit = (repo_folder(model_id.repo) / "refs" / revision).read_text().strip()
        except OSError:
            return None
    return commit if entry_complete(repo_folder(model_id.repo) / commit) else None


def _write_ref(model_id: ModelId, commit: str) -> None:
    revision = model_id.revision or "main"
    if revision == commit:
        return
    with atomic_file(repo_folder(model_id.repo) / "refs" / revision) as tmp:
        tmp.write_text(commit)


# ------------------------------------------------------------------- hub ---
def _first_line(error: BaseException) -> str:
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
    return text if len(text) <= 160 else text[:157] + "..."


def _offline() -> bool:
    return hf_constants.is_offline_mode()


def download(model_id: ModelId, patterns: List[str], revision: Optional[str] = None) -> Path:
    """``snapshot_download`` of the files matching ``patterns`` (at ``revision``, default the id's);
    its errors become one :class:`MeshflowError` line naming the repository and the cause."""
    revision = revision or model_id.revision
    try:
        return Path(huggingface_hub.snapshot_download(model_id.repo, revision=revision, allow_patterns=patterns))
    except RevisionNotFoundError:
        raise MeshflowError(f"{model_id}: the Hugging Face Hub has no revision {revision!r} of "
                            f"{model_id.repo}") from None
    except (RepositoryNotFoundError, GatedRepoError) as e:
        raise MeshflowError(f"{model_id}: not found on the Hugging Face Hub, or private or gated (log in with "
                            f"`hf auth login` or set HF_TOKEN) ({type(e).__name__})") from None
    except LocalEntryNotFoundError as e:
        if _offline() or isinstance(e.__cause__, OfflineModeIsEnabled):
            raise MeshflowError(f"{model_id}: not in the Hugging Face cache ({hf_constants.HF_HUB_CACHE}) and "
                                f"HF_HUB_OFFLINE is set: run `meshflow models pull {model_id}` where the network "
                                f"is reachable, or {RECIPE}") from None
        cause = e.__cause__ or e
        raise MeshflowError(f"{model_id}: cannot download from the Hugging Face Hub ({type(cause).__name__}: "
                            f"{_first_line(cause)})") from None
    except HFValidationError as e:
        raise MeshflowError(f"{model_id}: not a valid Hugging Face repository id ({_first_line(e)})") from None
    except (OSError, ValueError) as e:  # connection problems huggingface_hub passes on, a full disk
        raise MeshflowError(f"{model_id}: cannot download from the Hugging Face Hub ({type(e).__name__}: "
                            f"{_first_line(e)})") from None


def snapshot_layout(snapshot: Path, what: Optional[str] = None) -> str:
    """``meshflow`` or ``original`` (from the files a snapshot holds), else a :class:`CheckpointError` that
    names ``what`` (default: the snapshot folder)."""
    if (snapshot / CONFIG_NAME).is_file():
        return "meshflow"
    if (snapshot / ORIGINAL_CONFIG).is_file():
        return "original"
    raise CheckpointError(f"{what or snapshot}: holds neither a meshflow model ({CONFIG_NAME}) nor the original "
                          f"AnimateAnyMesh release ({ORIGINAL_CONFIG})")


def convert_snapshot(snapshot: Path, model_id: ModelId, commit: str, layout: OriginalLayout,
                     training_config: Optional[dict] = None) -> Tuple[Path, bool]:
    """Converts an original-layout snapshot (its files where ``layout``, read from its training config,
    says) into its meshflow cache entry (atomically, marker last); returns the model directory and
    whether a half-written entry was replaced. ``training_config``: that config as already read, passed
    on to :func:`convert_original` so that it is not read again. (default: convert_original reads it)"""
    missing = [name for name in layout.required if not (snapshot / name).is_file()]
    if missing:
        raise CheckpointError(f"{model_id}: the snapshot {commit[:12]} lacks {', '.join(missing)} (an original "
                              f"release holds {', '.join(layout.required)})")
    entry = repo_folder(model_id.repo) / commit
    redone = entry.exists()
    with atomic_folder(entry, replace=True) as tmp:
        model = convert_original(tmp / ENTRY_MODEL, config=snapshot / layout.config, rf=snapshot / layout.rf,
                                 factors=snapshot / layout.factors, vae=snapshot / layout.vae,
                                 training_config=training_config)
        files = {p.name: p.stat().st_size for p in sorted(model.iterdir()) if p.is_file()}
        marker = {"repo": model_id.repo, "revision": model_id.revision or "main", "commit": commit,
                  "layout": "original", "files": files, "source": {k: getattr(layout, k) for k in
                                                                    ("config", "rf", "vae", "factors")},
                  "converted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "meshflow": __version__}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
    return entry / ENTRY_MODEL, redone


def fetch_model(model_id: ModelId, refresh: bool = False) -> ResolvedModel:
    """``model_id`` as a model directory: the meshflow cache's converted copy (unless ``refresh``), else the
    Hub's snapshot (used in place, or converted once)."""
    commit = None if refresh else _cached_commit(model_id)
    if commit:
        return ResolvedModel(repo_folder(model_id.repo) / commit / ENTRY_MODEL, "original", model_id.repo,
                             model_id.revision, commit, cached=True)
    snapshot = download(model_id, [CONFIG_NAME, ORIGINAL_CONFIG])  # small files first: they tell the layout
    commit = snapshot.name
    layout = snapshot_layout(snapshot, f"{model_id.repo}@{commit[:12]}")
    if layout == "meshflow":
        snapshot = download(model_id, list(MESHFLOW_FILES), revision=commit)
        return ResolvedModel(snapshot, "meshflow", model_id.repo, model_id.revision, commit)
    entry = repo_folder(model_id.repo) / commit
    if entry_complete(entry):
        _write_ref(model_id, commit)
        return ResolvedModel(entry / ENTRY_MODEL, "original", model_id.repo, model_id.revision, commit, cached=True)
    training = read_training_config(snapshot / ORIGINAL_CONFIG, ("vae_config", "rf_config"))
    original = OriginalLayout.from_training_config(training)
    snapshot = download(model_id, original.patterns, revision=commit)  # the same commit: the same config
    path, redone = convert_snapshot(snapshot, model_id, commit, original, training)
    _write_ref(model_id, commit)
    return ResolvedModel(path, "original", model_id.repo, model_id.revision, commit, redone=redone)


def resolve_model(model) -> ResolvedModel:
    """What ``--model`` names, as a model directory (see the module docstring for the order).

    Raises:
        MeshflowError: not cached while offline, a network error, an unknown repository or revision.
        CheckpointError: a snapshot missing a file, a checkpoint that does not load safely.
    """
    text = os.fspath(model) if isinstance(model, (str, os.PathLike)) else model  # $MESHFLOW_MODEL comes as a Path
    if not isinstance(text, str) or Path(text).exists() or not is_model_id(text):
        return ResolvedModel(Path(model))
    resolved = fetch_model(ModelId.parse(text))
    _RESOLVED[str(resolved.path)] = resolved
    return resolved


# ------------------------------------------------------------- listing ---
@dataclass(frozen=True)
class CacheEntry:
    """A converted model in the meshflow cache."""

    repo: str
    commit: str
    path: Path  # the entry folder (model/ and the marker)
    size: int  # bytes
    complete: bool
    revisions: Tuple[str, ...]  # the refs that point at it


def _refs(folder: Path) -> List[Tuple[Path, str]]:
    """``(ref file, commit)`` of every ref under a repository folder's ``refs/``, in name order (a writer's
    temporary file, :func:`meshflow.io.atomic.is_temporary`, is no ref)."""
    refs = folder / "refs"
    if not refs.is_dir():
        return []
    return [(ref, ref.read_text().strip()) for ref in sorted(refs.rglob("*"))
            if ref.is_file() and not is_temporary(ref.name)]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def cached_models(repo: Optional[str] = None) -> List[CacheEntry]:
    """The converted entries of the meshflow cache (of ``repo`` only when given), sorted by repo."""
    rows = []
    folders = [repo_folder(repo)] if repo else sorted(hub_cache().glob("models--*"))
    for folder in folders:
        if not folder.is_dir():
            continue
        name = folder.name[len("models--"):].replace("--", "/", 1)
        refs: Dict[str, List[str]] = {}
        for ref, commit in _refs(folder):
            refs.setdefault(commit, []).append(str(ref.relative_to(folder / "refs")))
        for entry in sorted(folder.iterdir()):
            if entry.name == "refs" or entry.name.startswith(".") or not entry.is_dir():
                continue
            rows.append(CacheEntry(name, entry.name, entry, _size(entry), entry_complete(entry),
                                   tuple(refs.get(entry.name, ()))))
    return rows


def remove_model(model_id: ModelId, download: bool = True) -> List[Path]:
    """Removes ``model_id``'s converted entries (only the revision's when it has one) and, with ``download``,
    its snapshots in the Hugging Face cache; returns what was removed."""
    removed: List[Path] = []
    folder = repo_folder(model_id.repo)
    if model_id.revision:
        commit = model_id.revision
        ref = folder / "refs" / model_id.revision
        if ref.is_file():
            commit = ref.read_text().strip()
        targets = [folder / commit] if (folder / commit).is_dir() else []
        for other, points_at in _refs(folder):
            if points_at == commit:
                other.unlink()
    else:
        commit, targets = None, [folder] if folder.is_dir() else []
    for target in targets:
        shutil.rmtree(target)
        removed.append(target)
    if download:
        info = _scan_hf_cache()
        doomed = [d for d in hub_downloads(model_id.repo, info) if model_id.revision is None or
                  d.commit == commit or model_id.revision in d.revisions]
        if doomed:
            info.delete_revisions(*(d.commit for d in doomed)).execute()
            removed += [d.path for d in doomed]
    return removed


@dataclass(frozen=True)
class Download:
    """A snapshot in the Hugging Face cache that holds a model :func:`resolve_model` can use."""

    repo: str
    commit: str
    path: Path  # the snapshot folder
    size: int  # bytes of its files (the blobs its links point at)
    layout: str  # "meshflow" or "original"
    revisions: Tuple[str, ...]  # the refs that point at it


def _scan_hf_cache():
    """huggingface_hub's ``HFCacheInfo`` of its cache, or None where there is none (or it cannot be read)."""
    try:
        return huggingface_hub.scan_cache_dir()
    except Exception:  # no Hugging Face cache at all (CacheNotFound) or an unreadable one
        return None


_NOT_SCANNED = object()  # hub_downloads' default info: no scan made yet (None is a scan that found no cache)


def hub_downloads(repo: Optional[str] = None, info=_NOT_SCANNED) -> List[Download]:
    """The Hugging Face cache's model snapshots (of ``repo`` only when given) in a layout meshflow reads.

    Args:
        info: a scan of the cache already made (what ``_scan_hf_cache()`` returned: ``huggingface_hub``'s
            ``HFCacheInfo``, or None where there was no cache, which is then not scanned again).
            (default: scan it now)
    """
    if info is _NOT_SCANNED:
        info = _scan_hf_cache()
    if info is None:
        return []
    rows = []
    for found in sorted(info.repos, key=lambda r: r.repo_id):
        if found.repo_type != "model" or (repo and found.repo_id != repo):
            continue
        for rev in sorted(found.revisions, key=lambda r: r.commit_hash):
            try:
                layout = snapshot_layout(Path(rev.snapshot_path))
            except CheckpointError:
                continue
            rows.append(Download(found.repo_id, rev.commit_hash, Path(rev.snapshot_path), rev.size_on_disk, layout,
                                 tuple(sorted(rev.refs))))
    return rows


# ------------------------------------------------------------ model card ---
CARD_NAME = "README.md"  # what the Hub shows as the model card


def _table(section: dict) -> List[str]:
    rows = ["| key | value |", "| --- | --- |"]
    rows += [f"| {k} | {json.dumps(v) if isinstance(v, (dict, list)) else v} |" for k, v in sorted(section.items())]
    return rows


def model_card(config: dict, title: str = "meshflow model") -> str:
    """The README.md of a model directory, generated from its config.json: components, latent factors,
    sampling defaults, data (the training config's ``data`` or the conversion's source) and ``metrics``."""
    lines = [f"# {title}", "",
             "A meshflow model directory (config.json + safetensors, no pickles): AnimateAnyMesh's DyMeshVAE, "
             "rectified-flow MMDiT and text encoder.", "", "```bash",
             "meshflow animate MESH --prompt \"the object jumps\" -o out.glb --model DIR_OR_HUB_ID", "```", ""]
    for name, section in sorted(config.get("components", {}).items()):
        lines += [f"## Component `{name}`", ""] + _table(section) + [""]
    for key, heading in (("factors", "Latent factors"), ("flow", "Sampling defaults")):
        if isinstance(config.get(key), dict):
            lines += [f"## {heading}", ""] + _table(config[key]) + [""]
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    data = (training.get("config") or {}).get("data") if isinstance(training.get("config"), dict) else None
    source = config.get("source")
    lines += ["## Data", ""]
    if isinstance(data, dict):
        lines += _table(data)
    elif isinstance(source, dict):
        lines += [f"Converted from {source.get('format', 'another format')}; its training data is that release's."]
    else:
        lines += ["Not recorded."]
    lines += ["", "## Metrics", ""]
    lines += _table(config["metrics"]) if isinstance(config.get("metrics"), dict) and config["metrics"] else \
        ["Not measured for this directory."]
    return "\n".join(lines) + "\n"


def save_pretrained(directory, vae, mmdit, text_encoder, factors, flow: Optional[dict] = None,
                    extras: Optional[dict] = None, metrics: Optional[dict] = None, dtype=None,
                    vocabulary: Optional[PromptVocabulary] = None) -> Path:
    """Writes a full model directory (:func:`~meshflow.models.hub.save_model_dir`) with a generated model card.

    Args:
        directory: the folder (replaced as a whole, atomically).
        vae, mmdit, text_encoder: the components (CLIP's text tower weights are stored; other encoders are named).
        factors: the :class:`~meshflow.models.factors.LatentFactors`.
        flow: sampling defaults (``steps``, ``guidance``, ``solver``, ...).
        extras: further config.json entries kept from the source directory (``source``, ``training``, ...).
        metrics: measured numbers for the card and config.json. (default: those in ``extras``, if any)
        dtype: store floating-point weights in this dtype. (default: as they are)
        vocabulary: the model's prompt vocabulary (:mod:`~meshflow.models.text.vocabulary`), written with its
            features for ``text_encoder``. (default: none)
    """
    configs = {"vae": asdict(vae.config), "mmdit": asdict(mmdit.config), "text_encoder": text_encoder.config()}
    states = {"vae": vae.state_dict(), "mmdit": mmdit.state_dict()}
    if isinstance(text_encoder, CLIPTextEncoder):
        states["text_encoder"] = text_encoder.tower.state_dict()
    config = {**(extras or {}), "factors": factors.to_dict(), "flow": dict(flow or {})}
    if metrics:
        config["metrics"] = dict(metrics)
    card = model_card({"components": configs, **config}, title=Path(directory).name)
    files = {CARD_NAME: card, **(vocabulary.files(text_encoder) if vocabulary is not None else {})}
    return save_model_dir(directory, configs, states, extras=config, dtype=dtype, files=files)


__all__ = ["CacheEntry", "Download", "ModelId", "OriginalLayout", "ResolvedModel", "cached_models", "describe_model",
           "download", "entry_complete", "fetch_model", "hub_downloads", "is_model_id", "model_card", "remove_model",
           "resolve_model", "save_pretrained", "snapshot_layout"]
