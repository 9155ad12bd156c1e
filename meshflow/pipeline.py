r"""Text-to-animation inference: mesh + prompt -> per-vertex trajectories.

:class:`AnimationPipeline` runs the whole method of AnimateAnyMesh on one or
more meshes and prompts::

    mesh file --read_mesh--> welded, normalised graph --DyMeshVAE.encode--> shape latents f0 (B, K, L)
    prompt [--PromptVocabulary.match (match_prompt): the closest trained phrase] --text encoder (cached)--> tokens (B, S, D)
    noise --rectified flow, MMDiT velocity, CFG--> trajectory latents (B, K, L)
    [f0, trajectory latents] --DyMeshVAE.decode--> welded trajectories (N, T, 3)
      --refine_shape (rigidity > 0; meshflow.data.rigidity)--> as-rigid-as-possible where they stretch
      --denormalise, map to every file vertex--> Animation.vertices (T, N_file, 3)

Latents are standardised with the model directory's ``factors``. Vertices the
file splits (UV seams) share one graph vertex, so they move together and the
written mesh never tears. Meshes with many vertices stay within memory because
the token count is capped and the VAE works on vertex chunks (see
:class:`~meshflow.models.dymesh_vae.DyMeshVAE`). With ``num_samples`` N, every pair is
sampled with N seeds in the same batch and the best by :func:`score_sample` is returned.

Example::

    from meshflow import AnimationPipeline

    pipe = AnimationPipeline.from_pretrained("runs/tiny/model")
    anim = pipe("spot.obj", "the cow jumps", seed=0)
    anim.looped().save("cow.glb")
"""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch

from .data.graph import file_graph
from .data.proxy import check_proxy, proxy_bindings
from .data.rigidity import refine_shape
from .errors import CheckpointError, MeshflowError, check_finite, check_integer
from .flow import SOLVERS, LatentFactors, destandardize, model_calls, sample, standardize
from .io.animation import Animation
from .io.mesh import MeshFile, MeshPart, read_mesh
from .models.dymesh_vae import DyMeshVAE
from .models.hub import load_model_config
from .models.mmdit import MMDiT
from .models.remote import resolve_model, save_pretrained
from .models.text import load_text_encoder
from .models.text.vocabulary import VOCABULARY_FILE, PromptMatch, PromptVocabulary, load_vocabulary
from .ranking import MIN_MOTION, STILL_PENALTY, SampleScore, rank_samples, score_sample  # noqa: F401 (public here too)

if TYPE_CHECKING:
    import trimesh  # noqa: F401

MODEL_ENV = "MESHFLOW_MODEL"
# Fewest points a face-less input may have: fewer do not span a volume a motion can be read from.
MIN_POINTS = 4
# The model shipped inside the package (see its MODEL_CARD.md); used when no directory is given.
BUNDLED_MODEL = Path(__file__).resolve().parent / "pretrained" / "starter"


def resolve_model_dir(model_dir=None) -> Path:
    """``model_dir`` (a Hub id ``owner/name[@revision]`` fetched by :func:`~meshflow.models.remote.resolve_model`),
    else :func:`default_model_dir`; the one error when there is neither."""
    model_dir = model_dir or default_model_dir()
    if not model_dir:
        raise MeshflowError("no model given and this install has no bundled model: pass --model DIR (a model "
                            "directory from `meshflow train` or `meshflow convert-original`) or set "
                            f"${MODEL_ENV}")
    return resolve_model(model_dir).path


def default_model_dir() -> Optional[Path]:
    """``$MESHFLOW_MODEL`` if set, else the bundled model if this install has it, else ``None``."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    return BUNDLED_MODEL if (BUNDLED_MODEL / "config.json").is_file() else None
MeshInput = Union[str, os.PathLike, MeshFile, "trimesh.Trimesh"]  # noqa: F821 (a trimesh mesh, imported lazily)


def resample_frames(vertices: Tensor, frames: int) -> Tensor:
    """Linear resampling in time of (N, T, 3) trajectories to ``frames`` frames (first and last kept)."""
    N, T, _ = vertices.shape
    if frames == T:
        return vertices
    if T == 1:
        return vertices.expand(N, frames, 3).clone()
    x = torch.linspace(0, T - 1, frames, dtype=torch.float64)
    lo = x.floor().long().clamp(max=T - 2)
    w = (x - lo).to(vertices.dtype).view(1, frames, 1)
    return vertices[:, lo] * (1 - w) + vertices[:, lo + 1] * w


# -------------------------------------------------------------- sampling ---
@dataclass(frozen=True)
class SamplingConfig:
    """The defaults of :meth:`AnimationPipeline.__call__`, the one place each is set.

    A model directory's ``flow`` section (config.json) overrides ``steps``, ``guidance``,
    ``solver``, ``num_samples``, ``rigidity`` and ``match_prompt`` (:attr:`AnimationPipeline.sampling`); the command line
    leaves what it is not given to these.
    """

    steps: int = 64  # grid points of the ODE solve on [0, 1]: the original's
    guidance: float = 3.0  # classifier-free guidance scale: the original's
    solver: str = "midpoint"  # the original's; "euler" costs half the model calls
    fps: float = 24.0  # playback rate recorded in the animations
    num_samples: int = 1  # seeds sampled per mesh-prompt pair, the best kept (score_sample): 1 = no ranking
    rigidity: float = 0.0  # shape-preserving refinement of the decoded motion (meshflow.data.rigidity): 0 = off
    match_prompt: bool = False  # read each prompt as its closest trained phrase (models.text.vocabulary): the original: off

    @classmethod
    def from_flow(cls, flow: Optional[dict] = None) -> "SamplingConfig":
        """The defaults with a model directory's ``flow`` section applied (its other keys ignored)."""
        flow = flow or {}
        return cls(**{k: flow[k] for k in FLOW_KEYS if flow.get(k) is not None})


#: the sampler defaults a model directory's ``flow`` section may set (:meth:`SamplingConfig.from_flow`)
FLOW_KEYS = ("steps", "guidance", "solver", "num_samples", "rigidity", "match_prompt")


# ---------------------------------------------------------------- device ---
def resolve_device(device=None) -> torch.device:
    """The one device policy: ``None`` or ``"auto"`` -> CUDA when available, else CPU;
    ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as given, where a CUDA device that is not there is an error.

    Raises:
        MeshflowError: an unknown device; CUDA asked for where there is none.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise MeshflowError(f"Expected 'device' to be auto, cpu, cuda or cuda:N (got {device!r})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise MeshflowError(f"Expected a CUDA GPU for device '{device}' (got none: no CUDA GPU is available "
                                "here; use 'cpu' or 'auto')")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise MeshflowError(f"Expected 'device' cuda:N with N < {torch.cuda.device_count()} (got '{device}')")
    elif device.type not in ("cpu", "mps"):
        raise MeshflowError(f"Expected 'device' to be auto, cpu, cuda or cuda:N (got '{device}')")
    return device


def as_mesh_file(mesh) -> MeshFile:
    """A :class:`MeshFile` from a path, a MeshFile, or a ``trimesh.Trimesh`` / ``PointCloud``."""
    if isinstance(mesh, MeshFile):
        return mesh
    if isinstance(mesh, (str, os.PathLike)):
        return read_mesh(mesh)
    import trimesh

    if isinstance(mesh, (trimesh.Trimesh, trimesh.PointCloud)):
        vertices = np.asarray(mesh.vertices, dtype=np.float32)
        faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
        if len(vertices) == 0:
            raise MeshflowError("the mesh has no vertices")
        return MeshFile(path=Path(mesh.metadata.get("file_name", "mesh")), vertices=vertices, faces=faces,
                        parts=[MeshPart(name="mesh", mesh=mesh, start=0)])
    raise TypeError(f"Expected a mesh path, MeshFile or trimesh.Trimesh (got {type(mesh).__name__})")


class _Velocity:
    """Wraps the MMDiT for the sampler: drops the text of empty prompts and counts model calls."""

    def __init__(self, model, conditional: Tensor, on_call: Optional[Callable[[], None]] = None):
        self.model = model
        self.conditional = conditional  # (B,) bool: False for an empty prompt
        self.on_call = on_call

    def __call__(self, x, t, text, text_mask=None, cond=None):
        B = self.conditional.numel()
        if cond is None:
            cond = self.conditional
        else:
            cond = cond.to(torch.bool) & self.conditional.repeat(cond.numel() // B)
        out = self.model(x, t, text, text_mask, cond)
        if self.on_call is not None:
            self.on_call()
        return out


# -------------------------------------------------------------- pipeline ---
class AnimationPipeline:
    r"""AnimateAnyMesh inference: DyMeshVAE + rectified-flow MMDiT + a text encoder.

    Args:
        vae: :class:`~meshflow.models.dymesh_vae.DyMeshVAE`.
        mmdit: :class:`~meshflow.models.mmdit.MMDiT` velocity model.
        text_encoder: :class:`~meshflow.models.text.TextEncoder` (its cache keeps prompt features).
        factors: :class:`~meshflow.flow.LatentFactors` that standardise latents.
        flow: sampler defaults from the model directory (``steps``, ``guidance``, ``solver``).
        device: where the models are. (default: CPU)
        extras: the model directory's other config entries (data, metrics, ...), kept by :meth:`save_pretrained`.
        vocabulary: the phrases of the model's training captions, for ``match_prompt``
            (:class:`~meshflow.models.text.vocabulary.PromptVocabulary`, a model directory's ``vocabulary.json``).
    """

    def __init__(self, vae, mmdit, text_encoder, factors, flow: Optional[dict] = None, device="cpu",
                 model_dir: Optional[Path] = None, extras: Optional[dict] = None,
                 vocabulary: Optional[PromptVocabulary] = None):
        self.vae = vae.eval()
        self.vocabulary = vocabulary
        self.mmdit = mmdit.eval()
        self.text_encoder = text_encoder.eval()
        self.factors = factors
        self.flow = dict(flow or {})
        self.sampling = SamplingConfig.from_flow(self.flow)
        self.model_dir = model_dir
        self.extras = dict(extras or {})
        self.device = torch.device(device)
        L = vae.latent_dim
        if mmdit.config.input_channels != 2 * L:
            raise CheckpointError(f"{model_dir or 'model'}: the MMDiT takes {mmdit.config.input_channels} channels "
                                  f"but the VAE's latents have {2 * L} (2 x latent_dim {L})")
        if mmdit.config.text_dim != text_encoder.dim:
            raise CheckpointError(f"{model_dir or 'model'}: the MMDiT expects {mmdit.config.text_dim}-dim text "
                                  f"features but the text encoder '{text_encoder.name}' gives {text_encoder.dim}")

    @classmethod
    def from_pretrained(cls, model_dir=None, device=None, dtype: Optional[torch.dtype] = None,
                        clip_weights=None) -> "AnimationPipeline":
        """Loads a model directory (from training or ``meshflow convert-original``).

        Args:
            model_dir: the directory (config.json, vae/mmdit[/text_encoder].safetensors) or a Hugging Face
                model id ``owner/name[@revision]``; default ``$MESHFLOW_MODEL``, else the bundled starter model.
            device: ``cpu``, ``cuda`` or ``None`` (CUDA when available).
            dtype: cast the VAE and MMDiT weights (default: float32).
            clip_weights: a local CLIP ViT-L/14 weight file for directories that name CLIP
                without holding its weights.

        Raises:
            MeshflowError: no directory given; CUDA requested where there is none.
            CheckpointError: a missing or incomplete directory; a flow section that turns ``match_prompt`` on
                without a ``vocabulary.json``.
        """
        model_dir = resolve_model_dir(model_dir)
        device = resolve_device(device)
        config = load_model_config(model_dir)  # the one read of config.json: each component gets its part
        components = config.get("components", {})
        missing = [c for c in ("vae", "mmdit", "text_encoder") if c not in components]
        if missing:
            raise CheckpointError(f"{model_dir}: incomplete model directory, missing component(s) "
                                  f"{', '.join(missing)} (has: {', '.join(sorted(components)) or 'none'})")
        if "factors" not in config:
            raise CheckpointError(f"{model_dir}/config.json: missing the latent 'factors' "
                                  "(f0_mean, f0_std, ft_mean, ft_std)")
        try:
            factors = LatentFactors.from_dict(config["factors"])
        except MeshflowError as e:
            raise CheckpointError(f"{model_dir}/config.json: {e}") from None
        dtype = dtype or torch.float32
        vae = DyMeshVAE.from_directory(model_dir, "vae", components["vae"], device=device, dtype=dtype)
        mmdit = MMDiT.from_directory(model_dir, "mmdit", components["mmdit"], device=device, dtype=dtype)
        text_encoder = load_text_encoder(config, directory=model_dir, clip_weights=clip_weights, device=device)
        vocabulary = load_vocabulary(model_dir)
        if (config.get("flow") or {}).get("match_prompt") and vocabulary is None:
            raise CheckpointError(f"{model_dir}/config.json: its flow section turns match_prompt on but the "
                                  f"directory has no {VOCABULARY_FILE} (write one with scripts/caption_vocabulary.py)")
        extras = {k: v for k, v in config.items() if k not in ("format", "version", "components", "factors", "flow")}
        return cls(vae, mmdit, text_encoder, factors, flow=config.get("flow"), device=device, model_dir=model_dir,
                   extras=extras, vocabulary=vocabulary)

    def save_pretrained(self, directory, metrics: Optional[dict] = None) -> Path:
        """Writes a model directory, its README.md model card and its prompt vocabulary, if any
        (:func:`meshflow.models.remote.save_pretrained`)."""
        return save_pretrained(directory, self.vae, self.mmdit, self.text_encoder, self.factors, self.flow,
                               extras=self.extras, metrics=metrics, vocabulary=self.vocabulary)

    def to(self, device) -> "AnimationPipeline":
        device = resolve_device(device)
        if device != self.device:
            self.vae.to(device)
            self.mmdit.to(device)
            self.text_encoder.to(device)
            self.device = device
        return self

    @property
    def frames(self) -> int:
        """Frames per trajectory the VAE decodes (T)."""
        return int(self.vae.T)

    def read_prompt(self, prompt: str) -> PromptMatch:
        """What ``match_prompt`` conditions on for ``prompt``: its closest trained phrase with the prompt's
        subject (:meth:`~meshflow.models.text.vocabulary.PromptVocabulary.match`).

        Raises:
            MeshflowError: the model has no vocabulary.
        """
        if self.vocabulary is None:
            where = f"{self.model_dir}/{VOCABULARY_FILE}" if self.model_dir else VOCABULARY_FILE
            raise MeshflowError(f"Expected a model with a prompt vocabulary ({where}) to match prompts "
                                "(got none; run without prompt matching)")
        return self.vocabulary.match(prompt, self.text_encoder)

    def encode_text(self, prompts: Sequence[str]):
        """Per-token features of the prompts (``TextFeatures``), from the encoder's cache when seen before."""
        return self.text_encoder(list(prompts)).to(self.device, torch.float32)

    def sampling_options(self, steps: Optional[int] = None, guidance: Optional[float] = None,
                         solver: Optional[str] = None, fps: Optional[float] = None,
                         num_samples: Optional[int] = None, rigidity: Optional[float] = None,
                         match_prompt: Optional[bool] = None) -> SamplingConfig:
        """The sampler settings of a call: the values given, :attr:`sampling` for every ``None``."""
        given = dict(steps=steps, guidance=guidance, solver=solver, fps=fps, num_samples=num_samples,
                     rigidity=rigidity, match_prompt=match_prompt)
        return replace(self.sampling, **{k: v for k, v in given.items() if v is not None})

    @staticmethod
    def check_inputs(mesh=None, prompt=None, *, frames=None, steps=None, guidance=None, seed=None, tokens=None,
                     fps=None, solver=None, device=None, num_samples=None, proxy=None, rigidity=None,
                     match_prompt=None) -> None:
        """Checks the inputs of :meth:`__call__` before any work; ``None`` (a default) is not checked.

        :meth:`__call__` and the command line both call it, so a bad value reads the same
        everywhere, e.g. ``Expected 'steps' to be an integer of at least 2 (got 0)``.

        Raises:
            MeshflowError: a number out of range (``frames``, ``tokens``, ``num_samples`` >= 1, ``steps`` >= 2,
                ``seed`` >= 0, a finite ``guidance``, a positive ``fps``, a finite ``rigidity`` >= 0), a
                ``match_prompt`` that is not a bool, an unknown solver,
                meshes and prompts that do not pair, an unknown device or CUDA where there is none.
            TypeError: a prompt that is not a string.
        """
        if prompt is not None:
            prompts = [prompt] if isinstance(prompt, str) else list(prompt)
            if not all(isinstance(p, str) for p in prompts):
                raise TypeError(f"Expected 'prompt' to be a string or a list of strings "
                                f"(got {[type(p).__name__ for p in prompts]})")
            meshes = [] if mesh is None else list(mesh) if isinstance(mesh, (list, tuple)) else [mesh]
            if mesh is not None and (not meshes or not prompts):
                raise MeshflowError(f"Expected at least one mesh and one prompt "
                                    f"(got {len(meshes)} meshes and {len(prompts)} prompts)")
            if len(meshes) > 1 and len(prompts) > 1 and len(meshes) != len(prompts):
                raise MeshflowError(f"Expected one mesh, one prompt, or as many meshes as prompts "
                                    f"(got {len(meshes)} meshes and {len(prompts)} prompts)")
        for name, value, minimum in (("frames", frames, 1), ("steps", steps, 2), ("tokens", tokens, 1),
                                     ("seed", seed, 0), ("num_samples", num_samples, 1)):
            if value is not None:
                check_integer(name, value, minimum)
        if guidance is not None:
            check_finite("guidance", guidance)
        if fps is not None:
            check_finite("fps", fps, positive=True)
        if rigidity is not None and check_finite("rigidity", rigidity) < 0:
            raise MeshflowError(f"Expected 'rigidity' to be a finite number >= 0 (got {rigidity})")
        if match_prompt is not None and not isinstance(match_prompt, bool):
            raise MeshflowError(f"Expected 'match_prompt' to be True or False (got {match_prompt!r})")
        if solver is not None and solver not in SOLVERS:
            raise MeshflowError(f"Expected 'solver' to be one of {', '.join(SOLVERS)} (got {solver!r})")
        check_proxy(proxy)  # 0 (off) or at least ProxyConfig.minimum; the vertex count is checked on the mesh
        if device is not None:
            resolve_device(device)

    @torch.no_grad()
    def __call__(
        self,
        mesh: Union[MeshInput, Sequence[MeshInput]],
        prompt: Union[str, Sequence[str]],
        frames: Optional[int] = None,
        steps: Optional[int] = None,
        guidance: Optional[float] = None,
        seed: Optional[int] = None,
        tokens: Optional[int] = None,
        device=None,
        solver: Optional[str] = None,
        fps: Optional[float] = None,
        progress: Optional[Callable[[int], Callable[[], None]]] = None,
        num_samples: Optional[int] = None,
        return_all: bool = False,
        proxy: Optional[int] = None,
        hold: Optional[Callable] = None,
        rigidity: Optional[float] = None,
        match_prompt: Optional[bool] = None,
    ) -> Union[Animation, List[Animation], List[List[Animation]]]:
        r"""Animates meshes from prompts.

        Several meshes and/or prompts run as one batch: one mesh with several
        prompts, several meshes with one prompt, or equally many of each (paired).

        Args:
            mesh: a mesh file path, :class:`MeshFile` or ``trimesh.Trimesh``, or a list of them.
            prompt: the text, or a list; ``""`` samples unconditionally.
            frames: frames in the output (default: the VAE's T); other counts are
                resampled linearly in time.
            steps: grid points of the ODE sampler, at least 2. (default: the model's, else 64)
            guidance: classifier-free guidance scale, finite. (default: the model's, else 3.0)
            seed: seed of the sampling noise (default: drawn at random and recorded).
                Each batch item b uses ``seed + b``; sample n of pair b uses ``seed + b + n * B``
                for B pairs, so sample 0 is what a call without ``num_samples`` gives.
            tokens: latent tokens K (default: the VAE's inference default for the
                largest mesh, ``min(max_tokens, max(num_traj, N // 8))``).
            device: run here (moves the models); default: where they are.
            solver: ``"midpoint"`` (the original), ``"euler"``, ``"heun"`` or ``"rk4"`` (:data:`meshflow.flow.SOLVERS`).
                (default: the model's, else midpoint)
            fps: playback rate recorded in the animations. (default: 24)
            progress: ``progress(total_model_calls)`` returns a function called after
                every MMDiT evaluation (the CLI shows a progress bar with it).
            num_samples: samples (seeds) per mesh-prompt pair, all in the one batched ODE
                solve; ranked by :func:`score_sample` (lower is better), the best returned.
                (default: 1, no ranking)
            return_all: return every sample, ranked, instead of the best.
            proxy: animate a decimated proxy of at most this many vertices, its motion carried to every vertex
                (:mod:`meshflow.data.proxy`); 0 is off. (default: :class:`~meshflow.data.proxy.ProxyConfig`)
            hold: region control's sampling hook (:meth:`meshflow.region.Region.hold`),
                ``hold(velocity, token_index (B, K), still latents (B, K, L))`` -> the velocity to sample with.
            rigidity: shape-preserving refinement of every decoded sample, before ranking
                (:func:`meshflow.data.rigidity.refine_shape` on the welded graph, or on the proxy's):
                stretching over short lengths is pulled back to as-rigid-as-possible motion, rigid and
                articulated motion pass unchanged; 0 is off, the original's decode. (default: the model's, else 0)
            match_prompt: condition on each prompt's closest phrase of the model's training captions, its
                subject kept (:meth:`read_prompt`; needs the model's ``vocabulary.json``); the animation keeps
                the prompt as given and notes what it was read as. (default: the model's, else off)

        Defaults come from :attr:`sampling` (:class:`SamplingConfig`); every input is
        checked by :meth:`check_inputs` before any work.

        Returns:
            An :class:`Animation`, or a list of them when ``mesh`` or ``prompt`` is a list (one per
            pair). With ``num_samples > 1`` each is its pair's best sample, with its
            :attr:`~Animation.score` and the ranking in its notes; with ``return_all`` each becomes
            the list of the pair's samples, best first, each with its seed and score.
        """
        opts = self.sampling_options(steps=steps, guidance=guidance, solver=solver, fps=fps, num_samples=num_samples,
                                     rigidity=rigidity, match_prompt=match_prompt)
        self.check_inputs(mesh, prompt, frames=frames, steps=opts.steps, guidance=opts.guidance, seed=seed,
                          tokens=tokens, fps=opts.fps, solver=opts.solver, device=device,
                          num_samples=opts.num_samples, proxy=proxy, rigidity=opts.rigidity,
                          match_prompt=opts.match_prompt)
        steps, guidance, solver, fps = int(opts.steps), float(opts.guidance), opts.solver, float(opts.fps)
        rigidity = float(opts.rigidity)
        if opts.match_prompt and self.vocabulary is None:
            self.read_prompt("")  # the one error for a model without a vocabulary
        num_samples = int(opts.num_samples)
        if device is not None:
            self.to(device)
        dev = self.device
        frames = self.frames if frames is None else int(frames)

        single = not isinstance(mesh, (list, tuple)) and isinstance(prompt, str)
        meshes = list(mesh) if isinstance(mesh, (list, tuple)) else [mesh]
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        pairs = max(len(meshes), len(prompts))
        mesh_of = [0] * pairs if len(meshes) == 1 else list(range(pairs))
        prompts = prompts * pairs if len(prompts) == 1 else prompts
        # Batch item b = n * pairs + p is sample n of pair p.
        B = pairs * num_samples
        mesh_of, prompts = mesh_of * num_samples, prompts * num_samples
        if seed is None:
            seed = random.SystemRandom().randrange(2 ** 31)
        timings: Dict[str, float] = {}

        # 1. Meshes -> welded, normalised graphs.
        start = time.perf_counter()
        files = [as_mesh_file(m) for m in meshes]
        graphs = [file_graph(f, normalize=True) for f in files]
        for f, g in zip(files, graphs):
            if len(f.faces) == 0 and g.num_nodes < MIN_POINTS:
                raise MeshflowError(f"{f.path}: Expected a mesh with at least one face or a point cloud of at least "
                                    f"{MIN_POINTS} points (got {g.num_nodes} point{'s' if g.num_nodes != 1 else ''})")
        binds, full_graphs = proxy_bindings(graphs, proxy, [str(f.path) for f in files]), graphs
        graphs = [g if b is None else b.graph for g, b in zip(graphs, binds)]  # what the model sees
        fewest = min(g.num_nodes for g in graphs)
        if tokens is not None and int(tokens) > fewest:  # FPS cannot pick more distinct vertices than there are
            raise MeshflowError(f"Expected 'tokens' to be at most the welded vertex count {fewest} (got {tokens})")
        timings["read"] = time.perf_counter() - start

        # 2. Prompts -> per-token features (cached by the encoder).
        start = time.perf_counter()
        readings = {p: self.read_prompt(p) for p in dict.fromkeys(prompts) if p.strip()} if opts.match_prompt else {}
        text = self.encode_text([readings[p].text if p in readings else p for p in prompts])
        conditional = torch.tensor([bool(p.strip()) for p in prompts], device=dev)
        timings["text"] = time.perf_counter() - start

        # 3. Shape latents of every distinct mesh, standardised; one K for the batch.
        start = time.perf_counter()
        batch = Batch.from_data_list([g.clone() for g in graphs]).to(dev)
        K = int(tokens) if tokens is not None else self.vae.num_tokens(max(g.num_nodes for g in graphs))
        vertex_embed = self.vae.embed_vertices(batch)  # (sum N, C)
        latents, posterior = self.vae.encode(batch, num_tokens=K, sample_posterior=False, vertex_embed=vertex_embed)
        L = self.vae.latent_dim
        items = torch.tensor(mesh_of, device=dev)  # (B,) the mesh of each pair
        standard = standardize(latents, self.factors, L)[items]  # (B, K, 2L)
        f0 = standard[..., :L]  # (B, K, L)
        timings["encode"] = time.perf_counter() - start

        # 4. Trajectory latents by the rectified flow (one batched ODE solve).
        start = time.perf_counter()
        calls = model_calls(solver, steps)
        on_call = progress(calls) if progress is not None else None
        velocity = _Velocity(self.mmdit, conditional, on_call)
        if hold is not None:  # the tokens' rows in their mesh and their standardised no-motion latents
            velocity = hold(velocity, (posterior.token_index - batch.ptr[:-1, None])[items], standard[..., L:])
        noise = torch.stack([
            torch.randn((K, 2 * L), generator=torch.Generator().manual_seed(seed + b)) for b in range(B)
        ]).to(device=dev, dtype=f0.dtype)  # per-item seeds: a batch gives what single calls give
        x = sample(velocity, f0, (text.tokens, text.mask), steps=steps,
                   guidance=guidance if bool(conditional.any()) else None, solver=solver, noise=noise)
        x = destandardize(x, self.factors, L)  # (B, K, 2L)
        timings["sample"] = time.perf_counter() - start

        # 5. Decode every pair on its own (bounded memory), back to file vertices and world units.
        start = time.perf_counter()
        results = []
        on_device = {m: graphs[m].clone().to(dev) for m in sorted(set(mesh_of))}  # once per mesh, not per sample
        for b in range(B):
            m = mesh_of[b]
            lo, hi = int(batch.ptr[m]), int(batch.ptr[m + 1])
            data = on_device[m]
            token_index = posterior.token_index[m:m + 1] - lo  # (1, K) rows of this mesh
            traj = self.vae.decode(x[b:b + 1], data, vertex_embed=vertex_embed[lo:hi],
                                   token_index=token_index)  # (N, T, 3)
            if rigidity > 0:  # on the graph the model saw: the proxy's for huge meshes, then carried over
                refine_start = time.perf_counter()
                traj = refine_shape(data.pos, traj.float(), data.edge_index, rigidity)
                timings["refine"] = timings.get("refine", 0.0) + time.perf_counter() - refine_start
            if binds[m] is not None:  # the proxy's motion carried to every vertex of the full mesh
                traj, data = binds[m].transfer(traj), full_graphs[m].to(dev)
            traj = resample_frames(traj.float(), frames)
            world = traj * data.scale.view(1, 1, 1) + data.center.view(1, 1, 3)
            per_file = world[data.source_index]  # (N_file, frames, 3)
            results.append(per_file.permute(1, 0, 2).contiguous().cpu().numpy().astype(np.float32))
        timings["decode"] = time.perf_counter() - start - timings.get("refine", 0.0)  # refinement on its own

        animations = []
        for b in range(B):
            f = files[mesh_of[b]]
            notes = []
            if len(f.faces) == 0:
                notes.append("the mesh has no faces: animated as a point cloud (no neighbour attention)")
            if not prompts[b].strip():
                notes.append("empty prompt: sampled unconditionally (no text guidance)")
            reading = readings.get(prompts[b])
            if reading is not None and reading.text != prompts[b]:
                notes.append(f'prompt read as "{reading.text}" (the closest phrase the model was trained on, '
                             f'similarity {reading.similarity:.2f})')
            if frames != self.frames:
                notes.append(f"resampled the model's {self.frames} frames to {frames}")
            if rigidity > 0 and graphs[mesh_of[b]].edge_index.numel():
                notes.append(f"shape refined towards as-rigid-as-possible motion (rigidity {rigidity:g})")
            notes += [] if binds[mesh_of[b]] is None else [binds[mesh_of[b]].note]
            graph = full_graphs[mesh_of[b]]
            animations.append(Animation(
                vertices=results[b], faces=f.faces, fps=float(fps), prompt=prompts[b], mesh=f,
                source_index=graph.source_index.numpy(), source=str(f.path), seed=seed + b, steps=steps,
                guidance=guidance, tokens=K, model=str(self.model_dir or ""), device=str(dev),
                timings=dict(timings), notes=notes))
        if num_samples == 1:
            ranked = [[a] for a in animations]
        else:
            start = time.perf_counter()
            ranked = [rank_samples(animations[p::pairs]) for p in range(pairs)]
            spent = time.perf_counter() - start
            ranked = [[replace(a, timings={**a.timings, "score": spent}) for a in r] for r in ranked]
        out = ranked if return_all else [r[0] for r in ranked]
        return out[0] if single else out


__all__ = ["AnimationPipeline", "SampleScore", "SamplingConfig", "as_mesh_file", "rank_samples", "resample_frames",
           "resolve_device", "resolve_model_dir", "score_sample"]
