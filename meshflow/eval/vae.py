r"""DyMeshVAE reconstruction on held-out clips (``meshflow eval vae``).

The original's test metric: the mean per-vertex Euclidean error over frames
between the reconstruction and the truth, in normalised units (frame 0 in
[-1, 1]), averaged per clip, then over clips. Each clip is encoded once and
decoded twice: from the posterior mean (deterministic; the number the trainers
validate with) and from one posterior sample (seeded).

Every clip also gets the no-motion baseline (:func:`still_error`): the error of
predicting the rest pose :math:`x_0` in every frame,

.. math::
    e_{\text{still}} = \frac{1}{N T} \sum_{i=1}^{N} \sum_{t=0}^{T-1} \lVert x_t^i - x_0^i \rVert,

averaged as the reconstruction error is. A VAE error means something only beside it:
a model that learned nothing about motion scores :math:`e_{\text{still}}`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..data.dataset import AnimationFileDataset, ClipDataset
from ..data.graph import first_file_vertices, mesh_graph
from ..data.rigidity import refine_shape
from ..errors import MeshflowError
from ..io.dymesh import ANIMATION_SUFFIXES
from .metrics import per_graph_mean, per_vertex_error, summarize


def still_error(traj: torch.Tensor) -> float:
    r"""The no-motion baseline of one clip: the mean per-vertex error of predicting the rest
    pose in every frame, i.e. the mean of :math:`\lVert \text{traj}_t^i \rVert` over vertices
    and frames (``traj`` is the offset from the rest pose).

    Shapes:
        - **input:** traj (N, T, 3)
        - **output:** float
    """
    if traj.dim() != 3 or traj.shape[-1] != 3:
        raise ValueError(f"Expected 'traj' to have shape (N, T, 3) (got {tuple(traj.shape)})")
    return float(per_vertex_error(torch.zeros_like(traj), traj).mean()) if traj.shape[0] else 0.0


def open_eval_clips(sources: Union[str, Path, Sequence[Union[str, Path]]], frames: int):
    r"""A dataset of normalised clips of ``frames`` frames from a clip folder
    (``meshflow data build``) or from animation files / folders of them (``.npz``,
    DyMesh ``.bin``/``.pkl``; their first ``frames`` frames).

    Raises:
        MeshflowError: naming the path, when it does not exist, holds no clip, or
            its clips have another frame count.
    """

    if isinstance(sources, (str, Path)):
        sources = [sources]
    sources = [Path(s) for s in sources]
    for s in sources:
        if not s.exists():
            raise MeshflowError(f"{s}: no such file or folder")
    if len(sources) == 1 and (sources[0] / "index.jsonl").is_file():
        ds = ClipDataset(sources[0])
        if ds.frames != frames:
            raise MeshflowError(f"{sources[0]}: its clips have {ds.frames} frames, the model decodes {frames}")
        if len(ds) == 0:
            raise MeshflowError(f"{sources[0]}: the clip folder is empty")
        return ds
    for s in sources:
        if s.is_file() and s.suffix.lower() not in ANIMATION_SUFFIXES:
            raise MeshflowError(f"{s}: not an animation file (expected {', '.join(ANIMATION_SUFFIXES)}) "
                                "or a clip folder from `meshflow data build`")
    ds = AnimationFileDataset(sources, frames=frames)
    if len(ds) == 0:
        raise MeshflowError(f"{', '.join(map(str, sources))}: no clip folder (index.jsonl) and no animation "
                            f"files ({', '.join(ANIMATION_SUFFIXES)})")
    return ds


@dataclass
class VAEEvaluation:
    """Per-clip rows and their summary; :meth:`to_json` is what ``--json`` prints."""

    rows: List[Dict] = field(default_factory=list)
    tokens: Optional[int] = None  # K when fixed; None: the model's default per mesh
    model: str = ""
    data: str = ""

    def summary(self) -> Dict[str, float]:
        mean = summarize(r["error"] for r in self.rows)
        sample = summarize(r["error_sample"] for r in self.rows)
        still = summarize(r["error_still"] for r in self.rows)
        return {"mean": mean["mean"], "p90": mean["p90"], "max": mean["max"],
                "mean_sample": sample["mean"], "p90_sample": sample["p90"],
                "mean_still": still["mean"], "p90_still": still["p90"],
                "seconds_per_clip": summarize(r["seconds"] for r in self.rows)["mean"],
                "num_clips": len(self.rows)}

    def to_json(self) -> Dict:
        return {"model": self.model, "data": self.data, "tokens": self.tokens, **self.summary(), "clips": self.rows}


@torch.no_grad()
def evaluate_vae(model, dataset, tokens: Optional[int] = None, seed: int = 0, device=None,
                 progress: Optional[Callable] = None) -> VAEEvaluation:
    r"""Reconstruction error of every clip of ``dataset`` (one clip at a time, so the time is per clip).

    Args:
        model (DyMeshVAE): the VAE (put in eval mode).
        dataset: clips as PyG ``Data`` (``pos``, ``traj``, ``edge_index``; e.g. from
            :func:`open_eval_clips`), normalised.
        tokens (int, optional): K; default the model's inference default per mesh.
        seed (int): seed of the posterior samples.
        device: where to run (default: the model's).
        progress (callable, optional): wraps the iterable of clips (e.g. ``tqdm``).

    Returns:
        :class:`VAEEvaluation` with per clip: ``source``, ``caption``, ``vertices``,
        ``tokens``, ``error`` (posterior mean), ``error_sample``, ``error_still``
        (the no-motion baseline, :func:`still_error`), ``seconds`` (encode + decode of the mean).
    """
    model = model.eval()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    L = model.latent_dim
    out = VAEEvaluation(tokens=tokens)
    indices = range(len(dataset))
    for i in (progress(indices) if progress is not None else indices):
        data = dataset[i].to(device)
        N = data.num_nodes
        K = tokens if tokens is not None else model.num_tokens(N)
        target = data.pos.unsqueeze(1) + data.traj  # (N, T, 3)
        batch = torch.zeros(N, dtype=torch.long, device=device)
        start = time.perf_counter()
        e0 = model.embed_vertices(data)
        latents, posterior = model.encode(data, num_tokens=K, sample_posterior=False, vertex_embed=e0)
        recon = model.decode(latents, data, vertex_embed=e0, token_index=posterior.token_index)  # (N, T, 3)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        sampled = torch.cat([latents[..., :L], posterior.sample(generator)], dim=-1)
        recon_sample = model.decode(sampled, data, vertex_embed=e0, token_index=posterior.token_index)
        error = per_graph_mean(per_vertex_error(recon, target), batch, 1)
        error_sample = per_graph_mean(per_vertex_error(recon_sample, target), batch, 1)
        out.rows.append({"source": str(getattr(data, "source", i)), "caption": str(getattr(data, "caption", "")),
                         "vertices": int(N), "tokens": int(K), "error": float(error),
                         "error_sample": float(error_sample), "error_still": still_error(data.traj),
                         "seconds": seconds})
    return out


# --------------------------------------------------------------- round trip ---
def reconstruct(model, vertices, faces, num_tokens: Optional[int] = None, weld: bool = True,
                device=None, sample_posterior: bool = False,
                generator: Optional[torch.Generator] = None, rigidity: float = 0.0) -> Tuple["np.ndarray", float, int]:
    r"""VAE round trip of an animation with the posterior mean (or a posterior sample).

    The sequence is normalised the original way (frame-0 bounding-box centre,
    frame-0 max abs coordinate), vertices at identical frame-0 positions are
    welded for the graph (each keeps the first one's trajectory), and the
    reconstruction is mapped back to every input vertex.

    Args:
        model: a :class:`DyMeshVAE` (put in eval mode).
        vertices: (T, N, 3) positions with T = ``model.T``.
        faces: (F, 3) triangles.
        num_tokens: K (default: :meth:`DyMeshVAE.num_tokens` of the welded mesh).
        weld: merge vertices at identical frame-0 positions. (default: ``True``)
        device: where to run (default: the model's device).
        sample_posterior: decode a posterior sample instead of the mean. (default: ``False``)
        generator: for the posterior sample.
        rigidity: refine the decoded motion as :meth:`~meshflow.pipeline.AnimationPipeline.__call__`
            does (:func:`~meshflow.data.rigidity.refine_shape` on the welded graph); 0 is off. (default: 0)

    Returns:
        ``(reconstruction (T, N, 3) in the input's units, mean per-vertex Euclidean
        error over frames and vertices in normalised units, K)``.
    """

    V = np.asarray(vertices, dtype=np.float32)
    if V.ndim != 3 or V.shape[2] != 3:
        raise ValueError(f"Expected 'vertices' to have shape (T, N, 3) (got {V.shape})")
    if V.shape[0] != model.T:
        raise ValueError(f"Expected {model.T} frames for this model (got {V.shape[0]})")
    device = torch.device(device) if device is not None else model.query_proj.weight.device
    data = mesh_graph(V[0], faces, weld=weld)
    center, scale = data.center.numpy().reshape(1, 1, 3), float(data.scale)
    normalised = (V - center) / scale  # (T, N_file, 3)
    moving = normalised[:, first_file_vertices(data)]
    data.traj = torch.from_numpy(np.ascontiguousarray((moving - moving[:1]).transpose(1, 0, 2)))  # (N, T, 3)
    K = num_tokens if num_tokens is not None else model.num_tokens(data.num_nodes)
    model.eval()
    with torch.no_grad():
        out = model(data.to(device), num_tokens=K, sample_posterior=sample_posterior, generator=generator)
    recon = refine_shape(data.pos, out.recon.float().cpu(), data.edge_index, rigidity)  # (N, T, 3), normalised
    recon = recon[data.source_index.cpu()].permute(1, 0, 2).numpy()  # (T, N_file, 3)
    error = float(np.linalg.norm(recon - normalised, axis=-1).mean())
    return recon * scale + center, error, K
