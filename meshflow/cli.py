"""The ``meshflow`` command line.

Every subcommand is a pair: ``_add_<name>(subparsers)`` declares its arguments
and ``_run_<name>(args)`` does the work by calling the library. Errors a user
can cause (:class:`meshflow.errors.MeshflowError`) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from . import __version__
from .errors import MeshflowError


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


# ---------------------------------------------------------------- inspect ---
def _add_inspect(sub) -> None:
    p = sub.add_parser("inspect", help="print a mesh file's vertex, face, edge and component counts")
    p.add_argument("path", help="mesh file (.glb .gltf .obj .ply .stl .off)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run_inspect)


def _run_inspect(args) -> int:
    from .io import inspect_mesh

    info = inspect_mesh(args.path)
    if args.json:
        _print_json(info)
        return 0
    fmt = lambda v: " ".join(f"{x:.6g}" for x in v)  # noqa: E731
    rows = [
        ("file", args.path),
        ("vertices (file)", info["vertices"]),
        ("vertices (welded)", info["welded_vertices"]),
        ("faces (triangles)", info["faces"]),
        ("edges (undirected)", info["edges"]),
        ("connected components", info["components"]),
        ("primitives", info["primitives"]),
        ("bbox min", fmt(info["bbox_min"])),
        ("bbox max", fmt(info["bbox_max"])),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


# ------------------------------------------------------------ reconstruct ---
def _add_reconstruct(sub) -> None:
    p = sub.add_parser("reconstruct", help="DyMeshVAE round trip of an animation (posterior mean)")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="meshflow model directory with a 'vae' component")
    p.add_argument("--input", required=True, metavar="ANIM", help="animation: .npz with vertices (T, N, 3) and faces (F, 3), or DyMesh .bin")
    p.add_argument("--output", required=True, metavar="OUT.npz", help="written with vertices (T, N, 3) in the input's units and faces")
    p.add_argument("--tokens", type=int, default=None, metavar="K", help="tokens per mesh (default: max(num_traj, N // 8), capped by max_tokens)")
    p.add_argument("--no-weld", action="store_true", help="keep vertices at identical positions apart")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.set_defaults(func=_run_reconstruct)


def _run_reconstruct(args) -> int:
    import time

    import numpy as np
    import torch

    from .io.dymesh import load_animation
    from .models.dymesh_vae import load_vae, reconstruct

    if args.tokens is not None and args.tokens < 1:
        raise MeshflowError(f"Expected --tokens to be at least 1 (got {args.tokens})")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_vae(args.checkpoint, device=device)
    anim = load_animation(args.input)
    T, N = anim["vertices"].shape[:2]
    if T != model.T:
        raise MeshflowError(f"{args.input}: expected {model.T} frames for this model (got {T})")
    start = time.perf_counter()
    try:
        recon, error, K = reconstruct(model, anim["vertices"], anim["faces"], args.tokens, weld=not args.no_weld)
    except ValueError as e:  # e.g. face indices out of range
        raise MeshflowError(f"{args.input}: {e}") from None
    seconds = time.perf_counter() - start
    np.savez_compressed(args.output, vertices=recon.astype(np.float32), faces=anim["faces"])
    print(f"mean per-vertex error: {error:.6g} (normalised units; {N} vertices, {T} frames, {K} tokens, "
          f"{seconds:.1f} s)")
    print(f"wrote {args.output}")
    return 0

# ------------------------------------------------------- convert-original ---
def _add_convert_original(sub) -> None:
    p = sub.add_parser(
        "convert-original",
        help="turn original AnimateAnyMesh checkpoints into a meshflow model directory (no pickles)",
        description="Reads the original release's files (pickles only through torch.load(weights_only=True)) "
        "and writes config.json + safetensors.",
    )
    p.add_argument("--vae", help="original DyMeshVAE checkpoint (dvae_*.pth)")
    p.add_argument("--rf", help="original MMDiT checkpoint (rf_epoch_*.pth); with --vae a full model, "
                                "without it a VAE-only directory (for `meshflow reconstruct`)")
    p.add_argument("--config", required=True, help="original training_config.json (vae_config, rf_config)")
    p.add_argument("--factors", help="latent rescale JSON (f0_mean, f0_std, ft_mean, ft_std); needed with --rf")
    p.add_argument("--clip", default=None, help="local CLIP ViT-L/14 weights (open_clip or Hugging Face layout); "
                   "default: the CLIP weights inside --rf if present, else none stored")
    p.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default=None,
                   help="store the weights in this dtype (default: as found)")
    p.add_argument("-o", "--output", required=True, help="model directory to write")
    p.set_defaults(func=_run_convert_original)


def _run_convert_original(args) -> int:
    import torch

    from .models.convert import convert_original

    out = convert_original(args.output, rf=args.rf, config=args.config, factors=args.factors, vae=args.vae,
                           clip=args.clip, dtype=getattr(torch, args.dtype) if args.dtype else None)
    print(f"wrote {out}")
    return 0

# ------------------------------------------------------------------- data ---
def _add_data(sub) -> None:
    p = sub.add_parser("data", help="animation data: list and sample glTF clips, build training clips")
    dsub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    q = dsub.add_parser("clips", help="list the animations of a glTF/GLB file with their durations")
    q.add_argument("path", help="animated .glb or .gltf file")
    q.add_argument("--json", action="store_true", help="print one JSON list")
    q.set_defaults(func=_run_data_clips)

    q = dsub.add_parser("sample", help="evaluate one glTF animation into an npz (vertices (T, N, 3) welded, faces, caption)")
    q.add_argument("path", metavar="GLB", help="animated .glb or .gltf file")
    q.add_argument("--clip", default=None, metavar="NAME", help="clip: full name, the part after '|', or an index (default: the first)")
    q.add_argument("--frames", type=int, default=None, help="number of frames T (default: the whole clip)")
    q.add_argument("--fps", type=float, default=15.0, help="frames per second (default: 15)")
    q.add_argument("--start", type=float, default=0.0, help="seconds into the clip of frame 0 (default: 0)")
    q.add_argument("--caption", default=None, help="caption to store (default: from the file and clip names)")
    q.add_argument("-o", "--output", required=True, metavar="ANIM.npz", help="output npz")
    q.set_defaults(func=_run_data_sample)

    q = dsub.add_parser("build", help="turn animated glTF, DyMesh .bin and npz files into sharded training clips")
    q.add_argument("sources", nargs="+", metavar="SRC", help="folders (searched recursively) or files")
    q.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder (shards, index.jsonl, manifest.json)")
    q.add_argument("--frames", type=int, default=16, help="frames per clip T (default: 16)")
    q.add_argument("--stride", type=int, default=None, help="frames between window starts (default: --frames)")
    q.add_argument("--fps", type=float, default=15.0, help="sampling rate of glTF clips (default: 15)")
    q.add_argument("--workers", type=int, default=None, help="processes (default: CPU count, at most 8; 0: none)")
    q.add_argument("--shard-size", type=int, default=256, help="clips per shard file (default: 256)")
    q.add_argument("--max-vertices", type=int, default=None, help="vertex cap per clip (default: none)")
    q.add_argument("--over-limit", choices=("skip", "simplify"), default="skip", help="clips over the cap (default: skip)")
    q.add_argument("--min-motion", type=float, default=1e-3, help="skip windows moving less than this, normalised (default: 1e-3)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(func=_run_data_build)


def _run_data_clips(args) -> int:
    from .io.animation import list_clips

    clips = list_clips(args.path)
    if args.json:
        _print_json([{"name": c.name, "short_name": c.short_name, "duration": round(c.duration, 6),
                      "channels": c.channels} for c in clips])
        return 0
    width = max([len(c.name) for c in clips] + [4])
    for c in clips:
        print(f"{c.name:<{width}}  {c.duration:7.3f} s  {c.channels} channels")
    if not clips:
        print(f"{args.path}: no animations")
    return 0


def _run_data_sample(args) -> int:
    from pathlib import Path

    from .data.clips import caption_for
    from .io.animation import sample_animation
    from .io.dymesh import save_animation

    if args.frames is not None and args.frames < 1:
        raise MeshflowError(f"Expected --frames to be at least 1 (got {args.frames})")
    if args.fps <= 0:
        raise MeshflowError(f"Expected --fps > 0 (got {args.fps})")
    clip = int(args.clip) if args.clip is not None and args.clip.isdigit() else args.clip
    anim = sample_animation(args.path, clip, fps=args.fps, frames=args.frames, start=args.start, weld=True)
    caption = args.caption if args.caption is not None else caption_for(Path(args.path).name, anim.clip)
    out = save_animation(args.output, anim.vertices, anim.faces, caption, fps=args.fps)
    T, N = anim.vertices.shape[:2]
    print(f"{anim.clip}: {T} frames x {N} vertices, {len(anim.faces)} faces, \"{caption}\"")
    print(f"wrote {out}")
    return 0


def _run_data_build(args) -> int:
    from .data.clips import build_clips, format_report

    if args.frames < 2:
        raise MeshflowError(f"Expected --frames to be at least 2 (got {args.frames})")
    if args.stride is not None and args.stride < 1:
        raise MeshflowError(f"Expected --stride to be at least 1 (got {args.stride})")
    report = build_clips(args.sources, args.output, frames=args.frames, stride=args.stride, fps=args.fps,
                         workers=args.workers, shard_size=args.shard_size, max_vertices=args.max_vertices,
                         over_limit=args.over_limit, min_motion=args.min_motion, progress=not args.no_progress)
    print(format_report(report))
    print(f"wrote {args.output}")
    return 0

# ------------------------------------------------------------------ train ---
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train the DyMeshVAE or the flow (Accelerate; also under accelerate launch/torchrun)")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    from .train import add_train_arguments

    for kind, what in (("vae", "the DyMeshVAE"), ("flow", "the text-to-trajectory MMDiT over a trained VAE")):
        k = kinds.add_parser(kind, help=f"train {what}", description=f"Train {what}. Configs: configs/{kind}/*.yaml")
        add_train_arguments(k)
        k.set_defaults(func=_run_train)
    c = kinds.add_parser("cache-latents", help="encode clips once with a trained VAE for flow training")
    c.add_argument("--vae", required=True, metavar="DIR", help="model directory with the VAE")
    c.add_argument("--data", required=True, metavar="ROOT", help="clip folder or folder of npz animations")
    c.add_argument("-o", "--output", required=True, metavar="DIR", help="cache folder (use as data.root or latent_cache)")
    c.add_argument("--tokens", type=int, default=512, help="K latent tokens per clip (default: 512)")
    c.add_argument("--frames", type=int, default=16)
    c.add_argument("--batch-size", type=int, default=8)
    c.add_argument("--device", default="cpu")
    c.set_defaults(func=_run_cache_latents)


def _run_train(args) -> int:
    from .train import run

    out = run(args.kind, args)
    if out.get("export"):
        print(f"model directory: {out['export']}")
    return 0


def _run_cache_latents(args) -> int:
    from .train.data import cache_latents

    out = cache_latents(args.vae, args.data, args.output, num_tokens=args.tokens, frames=args.frames,
                        batch_size=args.batch_size, device=args.device)
    print(f"latent cache: {out}")
    return 0

# ---------------------------------------------------------------- animate ---
def _add_animate(sub) -> None:
    p = sub.add_parser(
        "animate", help="animate a mesh from a text prompt and write .glb/.gltf, .npz or an OBJ sequence",
        description="Animate a mesh from a text prompt. The output type follows OUT: .glb/.gltf (the input scene "
                    "with one morph target per frame and an animation, materials and UVs kept), .npz "
                    "(trajectories and faces), or a folder ending in '/' (frame_0000.obj, ...).")
    p.add_argument("input", help="mesh file (.glb .gltf .obj .ply .stl .off)")
    p.add_argument("--prompt", "-p", required=True, help="what the mesh does; \"\" samples unconditionally")
    p.add_argument("-o", "--output", required=True, help="OUT.glb, OUT.gltf, OUT.npz or FOLDER/")
    p.add_argument("--model", metavar="DIR",
                   help="model directory (from `meshflow train` or `meshflow convert-original`); "
                        "default $MESHFLOW_MODEL, else the bundled starter model")
    p.add_argument("--seed", type=int, help="seed of the sampling noise (default: random, printed)")
    p.add_argument("--steps", type=int, help="ODE grid points (default: the model's, else 64)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model's, else 3.0)")
    p.add_argument("--tokens", type=int, metavar="K",
                   help="latent tokens (default: max(512, N/8), capped for huge meshes)")
    p.add_argument("--frames", type=int, help="output frames (default: the model's T; others are resampled)")
    p.add_argument("--fps", type=float, default=24.0, help="playback rate (default: 24)")
    p.add_argument("--loop", action="store_true", help="blend the end into the start so the clip loops without a jump")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--clip", metavar="PATH", help="CLIP ViT-L/14 weight file for models that use CLIP without "
                                                  "shipping it (default: $MESHFLOW_CLIP_WEIGHTS)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_animate)


def _progress_bar(steps: int, quiet: bool):
    """``progress`` for the pipeline: a tqdm bar over solver steps, fed by model calls."""
    from tqdm import tqdm

    state = {}

    def start(total_calls: int):
        bar = tqdm(total=steps - 1, desc="sampling", unit="step", file=sys.stderr, disable=quiet, leave=False)
        per_step = max(1, total_calls // max(1, steps - 1))
        state.update(bar=bar, calls=0)

        def tick():
            state["calls"] += 1
            if state["calls"] % per_step == 0:
                bar.update(1)
        return tick

    return start, state


def _run_animate(args) -> int:
    import time

    from .io.export import output_format
    from .io.mesh import read_mesh
    from .pipeline import AnimationPipeline, default_model_dir, resolve_device

    begin = time.perf_counter()
    kind = output_format(args.output)  # refuse an unknown output type before any work
    if not args.model and default_model_dir() is None:
        raise MeshflowError("no model given and this install has no bundled model: pass --model DIR (a model "
                            "directory from `meshflow train` or `meshflow convert-original`) or set $MESHFLOW_MODEL")
    device = resolve_device(args.device)
    for name in ("steps", "tokens", "frames"):
        value = getattr(args, name)
        if value is not None and value < (2 if name == "steps" else 1):
            raise MeshflowError(f"--{name} must be at least {2 if name == 'steps' else 1} (got {value})")
    if args.fps <= 0:
        raise MeshflowError(f"--fps must be positive (got {args.fps})")

    start = time.perf_counter()
    mesh = read_mesh(args.input)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    pipe = AnimationPipeline.from_pretrained(args.model, device=device, clip_weights=args.clip)
    load_s = time.perf_counter() - start
    steps = args.steps if args.steps is not None else int(pipe.flow.get("steps", 64))
    progress, bar = _progress_bar(steps, args.quiet)
    try:
        anim = pipe(mesh, args.prompt, frames=args.frames, steps=steps, guidance=args.guidance, seed=args.seed,
                    tokens=args.tokens, fps=args.fps, progress=progress)
    finally:
        if "bar" in bar:
            bar["bar"].close()
    if args.loop:
        anim = anim.looped()
    start = time.perf_counter()
    out = anim.save(args.output, fps=args.fps)
    write_s = time.perf_counter() - start

    what = {"glb": "binary glTF, one morph target per frame", "gltf": "glTF, one morph target per frame",
            "npz": "trajectories and faces", "obj": "OBJ sequence"}[kind]
    t = anim.timings
    guidance = args.guidance if args.guidance is not None else pipe.flow.get("guidance", 3.0)
    rows = [
        ("input", f"{args.input} ({anim.num_vertices} vertices, {anim.welded_vertices} welded, "
                  f"{len(mesh.faces)} faces, {len(mesh.parts)} primitive{'s' if len(mesh.parts) != 1 else ''})"),
        ("prompt", repr(args.prompt) if args.prompt.strip() else "(empty: unconditional)"),
        ("model", f"{pipe.model_dir} (T={pipe.frames}, text encoder {pipe.text_encoder.name})"),
        ("tokens", anim.tokens),
        ("device", anim.device),
        ("sampling", f"{steps} steps, guidance {guidance:g}, {pipe.flow.get('solver', 'midpoint')}, seed {anim.seed}"),
        ("output", f"{out} ({anim.num_frames} frames at {args.fps:g} fps{', looping' if args.loop else ''}; {what})"),
        ("time", f"read {read_s:.2f} s, load {load_s:.2f} s, text {t['text']:.2f} s, encode {t['encode']:.2f} s, "
                 f"sample {t['sample']:.2f} s, decode {t['decode']:.2f} s, write {write_s:.2f} s "
                 f"(total {time.perf_counter() - begin:.2f} s)"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    for note in anim.notes:
        print(f"note: {note}")
    return 0


def _add_preview(sub) -> None:
    p = sub.add_parser("preview", help="render an animation (.glb/.gltf/.npz) to a .gif, .mp4 or .png headlessly",
                       description="Render an animation offscreen (OpenGL through EGL; Mesa's software renderer "
                                   "on machines without a GPU): shaded, one fixed camera framing the whole motion. "
                                   ".png writes a contact sheet of up to 16 frames.")
    p.add_argument("animation", help="ANIM.glb, ANIM.gltf or ANIM.npz")
    p.add_argument("-o", "--output", required=True, help="preview.gif, preview.mp4 or preview.png")
    p.add_argument("--size", type=int, default=512, help="width and height in pixels (default: 512)")
    p.add_argument("--fps", type=float, help="playback rate (default: the animation's)")
    p.set_defaults(func=_run_preview)


def _run_preview(args) -> int:
    from .io.preview import render_preview

    if args.size < 16 or args.size > 4096:
        raise MeshflowError(f"--size must lie in [16, 4096] (got {args.size})")
    result = render_preview(args.animation, args.output, size=args.size, fps=args.fps)
    print(f"wrote {result.path} ({result.frames} frames, {result.size}x{result.size}, {result.fps:g} fps) "
          f"in {result.seconds:.2f} s")
    return 0

# ------------------------------------------------------------------- eval ---
def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a model: VAE reconstruction, quality of (generated) animations")
    kinds = p.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    q = kinds.add_parser(
        "vae", help="DyMeshVAE reconstruction error on clips (mean per-vertex error, normalised units)",
        description="Mean per-vertex Euclidean reconstruction error over frames in the original's normalised "
                    "units (its test metric), per clip and summarised (mean, 90th percentile), decoding the "
                    "posterior mean and one posterior sample; time per clip.")
    q.add_argument("--data", required=True, nargs="+", metavar="CLIPS",
                   help="a clip folder from `meshflow data build`, or animation files/folders (.npz, .bin)")
    q.add_argument("--model", metavar="DIR", help="model directory with a 'vae' component (default: "
                                                  "$MESHFLOW_MODEL, else the bundled model)")
    q.add_argument("--tokens", type=int, metavar="K", help="latent tokens (default: the model's per mesh)")
    q.add_argument("--limit", type=int, metavar="N", help="first N clips only")
    q.add_argument("--seed", type=int, default=0, help="seed of the posterior samples (default: 0)")
    q.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    q.add_argument("--json", action="store_true", help="print one JSON object (mean, p90, clips, ...)")
    q.set_defaults(func=_run_eval_vae)

    q = kinds.add_parser(
        "motion", help="shape preservation, smoothness, motion amount, prompt adherence and time of animations",
        description="Evaluate animations: given ones (ANIM: clip folders, .npz/.bin files, animated .glb/.gltf) "
                    "or ones generated with --generate (every mesh x prompt x seed). Prompt adherence is "
                    "checked for labelled prompts: --prompts procedural phrases every motion label for each "
                    "mesh as the procedural generator does; a prompt file may prefix lines with LABEL<TAB>.")
    q.add_argument("animations", nargs="*", metavar="ANIM", help="animations to evaluate (without --generate)")
    q.add_argument("--generate", action="store_true", help="generate the animations with --model")
    q.add_argument("--model", metavar="DIR", help="model directory (default: $MESHFLOW_MODEL, else the bundled model)")
    q.add_argument("--meshes", nargs="+", metavar="MESH", help="meshes to animate (with --generate)")
    q.add_argument("--prompts", default="procedural", metavar="P",
                   help="'procedural' (default) or a text file, one prompt per line, optionally LABEL<TAB>TEXT")
    q.add_argument("--prompt", action="append", metavar="TEXT", help="a prompt (repeatable; replaces --prompts)")
    q.add_argument("--label", help="motion label of the given animations or --prompt texts (checks adherence)")
    q.add_argument("--match", metavar="REGEX", help="only animations whose caption matches (e.g. 'walk|gallop|swim')")
    q.add_argument("--seeds", type=int, default=1, help="seeds 0..S-1 per mesh and prompt (default: 1)")
    q.add_argument("--steps", type=int, help="ODE grid points (default: the model's, else 64)")
    q.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model's)")
    q.add_argument("--tokens", type=int, metavar="K", help="latent tokens (default: the model's per mesh)")
    q.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    q.add_argument("--json", action="store_true", help="print one JSON object (summary and animations)")
    q.set_defaults(func=_run_eval_motion)


def _eval_progress(desc: str, quiet: bool):
    from tqdm import tqdm

    from .progress import min_interval

    return lambda it: tqdm(it, desc=desc, file=sys.stderr, disable=quiet, leave=False, mininterval=min_interval())


def _run_eval_vae(args) -> int:
    from .eval.vae import evaluate_vae, open_eval_clips
    from .models.dymesh_vae import load_vae
    from .pipeline import default_model_dir, resolve_device

    model_dir = args.model or default_model_dir()
    if model_dir is None:
        raise MeshflowError("no model given and this install has no bundled model: pass --model DIR")
    if args.tokens is not None and args.tokens < 1:
        raise MeshflowError(f"--tokens must be at least 1 (got {args.tokens})")
    device = resolve_device(args.device)
    model = load_vae(model_dir, device=device)
    dataset = open_eval_clips(args.data, frames=model.T)
    if args.limit is not None:
        from torch.utils.data import Subset

        dataset = Subset(dataset, range(min(args.limit, len(dataset))))
    result = evaluate_vae(model, dataset, tokens=args.tokens, seed=args.seed, device=device,
                          progress=_eval_progress("clips", args.json))
    result.model, result.data = str(model_dir), " ".join(args.data)
    if args.json:
        _print_json(result.to_json())
        return 0
    print(f"{'clip':<48} {'N':>6} {'K':>5} {'error':>8} {'sample':>8} {'s':>6}")
    for r in result.rows:
        print(f"{r['source'][:48]:<48} {r['vertices']:6d} {r['tokens']:5d} {r['error']:8.4f} "
              f"{r['error_sample']:8.4f} {r['seconds']:6.2f}")
    s = result.summary()
    print(f"\n{s['num_clips']} clips, model {model_dir}: mean per-vertex error {s['mean']:.4f} (90th percentile "
          f"{s['p90']:.4f}) with the posterior mean, {s['mean_sample']:.4f} (p90 {s['p90_sample']:.4f}) with a "
          f"posterior sample; {s['seconds_per_clip']:.2f} s per clip")
    return 0


def _run_eval_motion(args) -> int:
    from .eval.motion import (PROCEDURAL, PromptCase, evaluate_animations, format_table,
                              generate_and_evaluate, read_prompts, check_label)
    from .pipeline import AnimationPipeline, default_model_dir, resolve_device

    if args.seeds < 1:
        raise MeshflowError(f"--seeds must be at least 1 (got {args.seeds})")
    if args.label is not None:
        check_label(args.label)
    if not args.generate:
        if not args.animations:
            raise MeshflowError("give animations to evaluate (ANIM ...) or --generate --meshes MESH ...")
        if args.meshes or args.prompt:
            raise MeshflowError("--meshes and --prompt need --generate")
        result = evaluate_animations(args.animations, label=args.label, match=args.match,
                                     progress=_eval_progress("animations", args.json))
    else:
        if args.animations:
            raise MeshflowError("--generate makes its own animations: give --meshes, not ANIM arguments")
        if not args.meshes:
            raise MeshflowError("--generate needs --meshes MESH ...")
        if not args.model and default_model_dir() is None:
            raise MeshflowError("no model given and this install has no bundled model: pass --model DIR")
        if args.prompt:
            prompts = [PromptCase(p, args.label) for p in args.prompt]
        elif args.prompts == PROCEDURAL:
            prompts = PROCEDURAL
        else:
            prompts = read_prompts(args.prompts)
        from .io.mesh import read_mesh

        meshes = [read_mesh(m) for m in args.meshes]  # every mesh is checked before any work
        pipe = AnimationPipeline.from_pretrained(args.model, device=resolve_device(args.device))
        result = generate_and_evaluate(pipe, meshes, prompts, seeds=range(args.seeds), steps=args.steps,
                                       guidance=args.guidance, tokens=args.tokens,
                                       progress=_eval_progress("animations", args.json))
    if args.json:
        _print_json(result.to_json())
    else:
        print(format_table(result))
    return 0



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshflow", description="Animate any 3D mesh from a text prompt (AnimateAnyMesh on PyTorch Geometric)."
    )
    parser.add_argument("--version", action="version", version=f"meshflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, add in sorted(globals().items()):
        if name.startswith("_add_") and callable(add):
            add(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    import warnings

    # Noise from library imports that users can do nothing about.
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if argv is None and len(sys.argv) <= 1 else 2
    try:
        return int(args.func(args) or 0)
    except MeshflowError as e:
        print(f"meshflow {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"meshflow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
