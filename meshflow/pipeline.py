r"""Text-to-animation inference: mesh + prompt -> per-vertex trajectories.

:class:`AnimationPipeline` runs the whole method of AnimateAnyMesh on one or
more meshes and prompts::

    mesh file --read_mesh--> welded, normalised graph --DyMeshVAE.encode--> shape latents f0 (B, K, L)
    prompt --text encoder (cached)--> tokens (B, S, D)
    noise --rectified flow, MMDiT velocity, CFG--> trajectory latents (B, K, L)
    [f0, trajectory latents] --DyMeshVAE.decode--> welded trajectories (N, T, 3)
      --denormalise, map to every file vertex--> Animation.vertices (T, N_file, 3)

Latents are standardised with the model directory's ``factors``. Vertices the
file splits (UV seams) share one graph vertex, so they move together and the
written mesh never tears. Meshes with many vertices stay within memory because
the token count is capped and the VAE works on vertex chunks (see
:class:`~meshflow.models.dymesh_vae.DyMeshVAE`).

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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from .errors import CheckpointError, MeshflowError
from .io.mesh import MeshFile, MeshPart, read_mesh

MODEL_ENV = "MESHFLOW_MODEL"
# The model shipped inside the package (see its MODEL_CARD.md); used when no directory is given.
BUNDLED_MODEL = Path(__file__).resolve().parent / "pretrained" / "starter"


def default_model_dir() -> Optional[Path]:
    """``$MESHFLOW_MODEL`` if set, else the bundled model if this install has it, else ``None``."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    return BUNDLED_MODEL if (BUNDLED_MODEL / "config.json").is_file() else None
MeshInput = Union[str, os.PathLike, MeshFile, "trimesh.Trimesh"]  # noqa: F821


# ------------------------------------------------------------- animation ---
@dataclass
class Animation:
    """The result of :class:`AnimationPipeline` for one mesh and one prompt.

    Attributes:
        mesh: the input scene (parts with their UVs and materials).
        vertices: (T, N_file, 3) float32 world-space position of every file vertex per frame.
        prompt: the text prompt ("" = unconditional).
        fps: playback rate used when saving. (default: 24)
        seed: the seed of the sampling noise (recorded even when it was drawn at random).
        tokens: number of latent tokens K.
        welded_vertices: vertices of the graph the model saw.
        device: where the models ran.
        timings: seconds per stage (``read``, ``text``, ``encode``, ``sample``, ``decode``);
            stages shared by a batch are counted in full for each of its animations.
        notes: remarks for the user (point cloud, unconditional, loop).
        loop: whether :meth:`looped` made the end blend into the start.
    """

    mesh: MeshFile
    vertices: np.ndarray
    prompt: str
    fps: float = 24.0
    seed: Optional[int] = None
    tokens: int = 0
    welded_vertices: int = 0
    device: str = "cpu"
    timings: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    loop: bool = False

    @property
    def num_frames(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[1])

    @property
    def faces(self) -> np.ndarray:
        return self.mesh.faces

    @property
    def displacements(self) -> np.ndarray:
        """(T, N_file, 3) motion relative to the input positions."""
        return self.vertices - self.mesh.vertices[None]

    def looped(self, blend: Optional[int] = None) -> "Animation":
        """A copy whose last ``blend`` frames ease into frame 0, so the clip repeats without a jump.

        See :func:`loop_frames`; saved as glTF, the clip also gets a closing keyframe equal to frame 0.
        """
        vertices, blend = loop_frames(self.vertices, blend)
        note = (f"loop: blended the last {blend} of {self.num_frames} frames into the first; "
                "the clip repeats without a jump")
        return replace(self, vertices=vertices, loop=True, notes=self.notes + [note])

    def save(self, path, fps: Optional[float] = None, normals: bool = True) -> Path:
        """Writes ``.glb``/``.gltf`` (morph targets on the input scene), ``.npz``, or an OBJ sequence
        (a path ending in ``/``); see :func:`meshflow.io.export.save_animation`."""
        from .io.export import save_animation

        return save_animation(path, self.mesh, self.vertices, fps=fps or self.fps, loop=self.loop,
                              prompt=self.prompt, normals=normals)

    def __repr__(self) -> str:
        return (f"Animation(frames={self.num_frames}, vertices={self.num_vertices}, tokens={self.tokens}, "
                f"prompt={self.prompt!r})")


def loop_frames(vertices: np.ndarray, blend: Optional[int] = None):
    r"""Eases the last ``blend`` frames towards frame 0 so that a repeating clip has no jump.

    .. math::
        V'_{T-b+i} = (1 - w_i) V_{T-b+i} + w_i V_0, \qquad
        w_i = \operatorname{smoothstep}\big(\tfrac{i + 1}{b + 1}\big), \quad i < b

    Frame 0 and the frames before the blend are unchanged; the step from the
    last frame back to frame 0 shrinks to :math:`1 - w_{b-1}` of what it was.

    Args:
        vertices: (T, N, 3) positions.
        blend: frames to blend (default: a quarter of the clip, at least 2, at most T - 1).

    Returns:
        ``(vertices (T, N, 3), blend)``.
    """
    v = np.asarray(vertices, dtype=np.float32)
    T = v.shape[0]
    if T < 3:
        return v.copy(), 0
    blend = max(2, T // 4) if blend is None else int(blend)
    blend = min(max(blend, 0), T - 1)
    out = v.copy()
    for i in range(blend):
        x = (i + 1) / (blend + 1)
        w = np.float32(x * x * (3 - 2 * x))
        out[T - blend + i] = (1 - w) * v[T - blend + i] + w * v[0]
    return out, blend


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


# ---------------------------------------------------------------- device ---
def resolve_device(device=None) -> torch.device:
    """``None`` -> CUDA when available, else CPU; a CUDA device that is not there is an error."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise MeshflowError(f"unknown device {device!r} (expected cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise MeshflowError(f"device '{device}' requested but no CUDA GPU is available here "
                                "(torch.cuda.is_available() is False); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise MeshflowError(f"device '{device}' requested but only {torch.cuda.device_count()} GPU(s) exist")
    elif device.type not in ("cpu", "mps"):
        raise MeshflowError(f"unsupported device '{device}' (expected cpu or cuda)")
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
    """

    def __init__(self, vae, mmdit, text_encoder, factors, flow: Optional[dict] = None, device="cpu",
                 model_dir: Optional[Path] = None):
        self.vae = vae.eval()
        self.mmdit = mmdit.eval()
        self.text_encoder = text_encoder.eval()
        self.factors = factors
        self.flow = dict(flow or {})
        self.model_dir = model_dir
        self.device = torch.device(device)
        L = vae.latent_dim
        if mmdit.input_channels != 2 * L:
            raise CheckpointError(f"{model_dir or 'model'}: the MMDiT takes {mmdit.input_channels} channels but "
                                  f"the VAE's latents have {2 * L} (2 x latent_dim {L})")
        if getattr(mmdit, "text_dim", text_encoder.dim) != text_encoder.dim:
            raise CheckpointError(f"{model_dir or 'model'}: the MMDiT expects {mmdit.text_dim}-dim text features "
                                  f"but the text encoder '{text_encoder.name}' gives {text_encoder.dim}")

    @classmethod
    def from_pretrained(cls, model_dir=None, device=None, dtype: Optional[torch.dtype] = None,
                        clip_weights=None) -> "AnimationPipeline":
        """Loads a model directory (from training or ``meshflow convert-original``).

        Args:
            model_dir: the directory (config.json, vae/mmdit[/text_encoder].safetensors);
                default ``$MESHFLOW_MODEL``, else the bundled starter model.
            device: ``cpu``, ``cuda`` or ``None`` (CUDA when available).
            dtype: cast the VAE and MMDiT weights (default: float32).
            clip_weights: a local CLIP ViT-L/14 weight file for directories that name CLIP
                without holding its weights.

        Raises:
            MeshflowError: no directory given; CUDA requested where there is none.
            CheckpointError: a missing or incomplete directory.
        """
        from .flow import LatentFactors
        from .models.dymesh_vae import load_vae
        from .models.hub import load_model_config
        from .models.mmdit import load_mmdit
        from .models.text import load_text_encoder

        model_dir = model_dir or default_model_dir()
        if not model_dir:
            raise MeshflowError("no model given and this install has no bundled model: pass --model DIR (a model "
                                "directory from `meshflow train` or `meshflow convert-original`) or set "
                                f"${MODEL_ENV}")
        model_dir = Path(model_dir)
        device = resolve_device(device)
        config = load_model_config(model_dir)
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
        vae = load_vae(model_dir, device=device).to(dtype or torch.float32)
        mmdit = load_mmdit(model_dir, device=device, dtype=dtype or torch.float32)
        text_encoder = load_text_encoder(model_dir, clip_weights=clip_weights, device=device)
        return cls(vae, mmdit, text_encoder, factors, flow=config.get("flow"), device=device, model_dir=model_dir)

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

    def encode_text(self, prompts: Sequence[str]):
        """Per-token features of the prompts (``TextFeatures``), from the encoder's cache when seen before."""
        return self.text_encoder(list(prompts)).to(self.device, torch.float32)

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
        fps: float = 24.0,
        progress: Optional[Callable[[int], Callable[[], None]]] = None,
    ) -> Union[Animation, List[Animation]]:
        r"""Animates meshes from prompts.

        Several meshes and/or prompts run as one batch: one mesh with several
        prompts, several meshes with one prompt, or equally many of each (paired).

        Args:
            mesh: a mesh file path, :class:`MeshFile` or ``trimesh.Trimesh``, or a list of them.
            prompt: the text, or a list; ``""`` samples unconditionally.
            frames: frames in the output (default: the VAE's T); other counts are
                resampled linearly in time.
            steps: grid points of the ODE sampler. (default: the model's, else 64)
            guidance: classifier-free guidance scale. (default: the model's, else 3.0)
            seed: seed of the sampling noise (default: drawn at random and recorded).
                Each batch item b uses ``seed + b``.
            tokens: latent tokens K (default: the VAE's inference default for the
                largest mesh, ``min(max_tokens, max(num_traj, N // 8))``).
            device: run here (moves the models); default: where they are.
            solver: ``"midpoint"`` (the original) or ``"euler"``.
            fps: playback rate recorded in the animations. (default: 24)
            progress: ``progress(total_model_calls)`` returns a function called after
                every MMDiT evaluation (the CLI shows a progress bar with it).

        Returns:
            An :class:`Animation`, or a list of them when ``mesh`` or ``prompt`` is a list.
        """
        from torch_geometric.data import Batch

        from .flow import destandardize, sample, standardize

        if device is not None:
            self.to(device)
        dev = self.device
        steps = int(steps if steps is not None else self.flow.get("steps", 64))
        guidance = float(guidance if guidance is not None else self.flow.get("guidance", 3.0))
        solver = solver or self.flow.get("solver", "midpoint")
        frames = self.frames if frames is None else int(frames)
        if frames < 1:
            raise MeshflowError(f"expected frames >= 1 (got {frames})")
        if steps < 2:
            raise MeshflowError(f"expected steps >= 2 (got {steps})")

        single = not isinstance(mesh, (list, tuple)) and isinstance(prompt, str)
        meshes = list(mesh) if isinstance(mesh, (list, tuple)) else [mesh]
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not meshes or not prompts:
            raise MeshflowError("expected at least one mesh and one prompt")
        if not all(isinstance(p, str) for p in prompts):
            raise TypeError(f"Expected prompts as strings (got {[type(p).__name__ for p in prompts]})")
        if len(meshes) > 1 and len(prompts) > 1 and len(meshes) != len(prompts):
            raise MeshflowError(f"expected one mesh, one prompt, or as many meshes as prompts "
                                f"(got {len(meshes)} meshes and {len(prompts)} prompts)")
        B = max(len(meshes), len(prompts))
        mesh_of = [0] * B if len(meshes) == 1 else list(range(B))
        prompts = prompts * B if len(prompts) == 1 else prompts
        if seed is None:
            seed = random.SystemRandom().randrange(2 ** 31)
        timings: Dict[str, float] = {}

        # 1. Meshes -> welded, normalised graphs.
        start = time.perf_counter()
        files = [as_mesh_file(m) for m in meshes]
        graphs = [f.graph(normalize=True) for f in files]
        timings["read"] = time.perf_counter() - start

        # 2. Prompts -> per-token features (cached by the encoder).
        start = time.perf_counter()
        text = self.encode_text(prompts)
        conditional = torch.tensor([bool(p.strip()) for p in prompts], device=dev)
        timings["text"] = time.perf_counter() - start

        # 3. Shape latents of every distinct mesh, standardised; one K for the batch.
        start = time.perf_counter()
        batch = Batch.from_data_list([g.clone() for g in graphs]).to(dev)
        K = int(tokens) if tokens is not None else self.vae.num_tokens(max(g.num_nodes for g in graphs))
        if K < 1:
            raise MeshflowError(f"expected tokens >= 1 (got {K})")
        vertex_embed = self.vae.embed_vertices(batch)  # (sum N, C)
        latents, _ = self.vae.encode(batch, num_tokens=K, sample_posterior=False, vertex_embed=vertex_embed)
        L = self.vae.latent_dim
        f0 = standardize(latents, self.factors, L)[..., :L]  # (M, K, L)
        f0 = f0[torch.tensor(mesh_of, device=dev)]  # (B, K, L)
        timings["encode"] = time.perf_counter() - start

        # 4. Trajectory latents by the rectified flow (one batched ODE solve).
        start = time.perf_counter()
        calls = (steps - 1) * (2 if solver == "midpoint" else 1)
        on_call = progress(calls) if progress is not None else None
        velocity = _Velocity(self.mmdit, conditional, on_call)
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
        for b in range(B):
            m = mesh_of[b]
            graph = graphs[m]
            lo, hi = int(batch.ptr[m]), int(batch.ptr[m + 1])
            data = graph.clone().to(dev)
            traj = self.vae.decode(x[b:b + 1], data, vertex_embed=vertex_embed[lo:hi])  # (N, T, 3)
            traj = resample_frames(traj.float(), frames)
            world = traj * data.scale.view(1, 1, 1) + data.center.view(1, 1, 3)
            per_file = world[data.source_index]  # (N_file, frames, 3)
            results.append(per_file.permute(1, 0, 2).contiguous().cpu().numpy().astype(np.float32))
        timings["decode"] = time.perf_counter() - start

        animations = []
        for b in range(B):
            f = files[mesh_of[b]]
            notes = []
            if len(f.faces) == 0:
                notes.append("the mesh has no faces: animated as a point cloud (no neighbour attention)")
            if not prompts[b].strip():
                notes.append("empty prompt: sampled unconditionally (no text guidance)")
            if frames != self.frames:
                notes.append(f"resampled the model's {self.frames} frames to {frames}")
            animations.append(Animation(
                mesh=f, vertices=results[b], prompt=prompts[b], fps=float(fps), seed=seed + b, tokens=K,
                welded_vertices=graphs[mesh_of[b]].num_nodes, device=str(dev), timings=dict(timings), notes=notes))
        return animations[0] if single else animations


__all__ = ["Animation", "AnimationPipeline", "as_mesh_file", "loop_frames", "resample_frames", "resolve_device"]
