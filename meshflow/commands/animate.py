"""``meshflow animate``: animate a mesh from a text prompt and write .glb/.gltf, .npz or an OBJ sequence."""
from __future__ import annotations

import time
from pathlib import Path

from . import SUMMARIES
from ..errors import MeshflowError
from ..io.export import check_output
from ..io.mesh import read_mesh
from ..pipeline import MIN_MOTION, AnimationPipeline, SamplingConfig, resolve_device, resolve_model_dir
from ._common import add_device_argument, print_rows, progress_bar

NAME = "animate"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        NAME, help=SUMMARIES[NAME],
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
    p.add_argument("--steps", type=int, help=f"ODE grid points (default: the model's, else {SamplingConfig.steps})")
    p.add_argument("--guidance", type=float,
                   help=f"classifier-free guidance scale (default: the model's, else {SamplingConfig.guidance:g})")
    p.add_argument("--tokens", type=int, metavar="K",
                   help="latent tokens (default: the model's, max(num_traj, N/8) capped at max_tokens; "
                        "at most the welded vertex count)")
    p.add_argument("--frames", type=int, help="output frames (default: the model's T; others are resampled)")
    p.add_argument("--fps", type=float, help=f"playback rate (default: {SamplingConfig.fps:g})")
    p.add_argument("--loop", action="store_true", help="blend the end into the start so the clip loops without a jump")
    p.add_argument("--num-samples", type=int, metavar="N",
                   help="sample N seeds (SEED, SEED+1, ...) in one batch and write the best to OUT, by the score "
                        "of meshflow.pipeline.score_sample (lower is better): the mean relative edge-length change "
                        f"against frame 0, plus a penalty for barely moving (mean displacement under {MIN_MOTION * 100:g}%% "
                        "of the mesh's half-extent; more motion earns nothing), scored before --loop "
                        f"(default: {SamplingConfig.num_samples})")
    p.add_argument("--keep-all", action="store_true",
                   help="with --num-samples N, also write the other samples beside OUT in ranked order: "
                        "STEM.sample2SUFFIX is the runner-up, ..., STEM.sampleNSUFFIX the worst (FOLDER.sampleK/ for "
                        "an OBJ sequence)")
    add_device_argument(p)
    p.add_argument("--clip", metavar="PATH", help="CLIP ViT-L/14 weight file for models that use CLIP without "
                                                  "shipping it (default: $MESHFLOW_CLIP_WEIGHTS)")
    p.add_argument("--overwrite", action="store_true", help="allow OUT to be the input file (replaced)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def sample_path(output: str, rank: int, kind: str) -> str:
    """Where ``--keep-all`` writes the sample of ``rank`` (2 = runner-up): ``STEM.sample<rank>SUFFIX`` beside
    ``output``, or ``FOLDER.sample<rank>/`` for an OBJ sequence."""
    out = Path(output)
    if kind == "obj":
        return str(out.with_name(f"{out.name}.sample{rank}")) + "/"
    return str(out.with_name(f"{out.stem}.sample{rank}{out.suffix}"))


def run(args) -> int:
    begin = time.perf_counter()
    kind = check_output(args.output, inputs=[args.input], overwrite=args.overwrite)  # before any work
    model_dir = resolve_model_dir(args.model)
    AnimationPipeline.check_inputs(args.input, args.prompt, frames=args.frames, steps=args.steps,
                                   guidance=args.guidance, seed=args.seed, tokens=args.tokens, fps=args.fps,
                                   device=args.device, num_samples=args.num_samples)
    num_samples = args.num_samples or SamplingConfig.num_samples
    if args.keep_all and num_samples < 2:
        raise MeshflowError(f"--keep-all: Expected --num-samples of at least 2 (got {num_samples})")
    others = [sample_path(args.output, rank, kind) for rank in range(2, num_samples + 1)] if args.keep_all else []
    for path in others:
        check_output(path, inputs=[args.input], overwrite=args.overwrite)
    device = resolve_device(args.device)

    start = time.perf_counter()
    mesh = read_mesh(args.input)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    pipe = AnimationPipeline.from_pretrained(model_dir, device=device, clip_weights=args.clip)
    load_s = time.perf_counter() - start
    sampling = pipe.sampling_options(steps=args.steps, guidance=args.guidance, fps=args.fps,
                                     num_samples=args.num_samples)
    progress, bar = progress_bar(sampling.steps, args.quiet)  # one bar: the N samples are one batched solve
    try:
        ranked = pipe(mesh, args.prompt, frames=args.frames, steps=sampling.steps, guidance=sampling.guidance,
                      solver=sampling.solver, seed=args.seed, tokens=args.tokens, fps=sampling.fps,
                      num_samples=sampling.num_samples, return_all=True, progress=progress)
    finally:
        if "bar" in bar:
            bar["bar"].close()
    if args.loop:
        ranked = [a.looped() for a in ranked]
    anim = ranked[0]
    start = time.perf_counter()
    out = anim.save(args.output, fps=sampling.fps)
    kept = [a.save(path, fps=sampling.fps) for a, path in zip(ranked[1:], others)]
    write_s = time.perf_counter() - start

    what = {"glb": "binary glTF, one morph target per frame", "gltf": "glTF, one morph target per frame",
            "npz": "trajectories and faces", "obj": "OBJ sequence"}[kind]
    t = anim.timings
    rows = [
        ("input", f"{args.input} ({anim.num_vertices} vertices, {anim.welded_vertices} welded, "
                  f"{len(mesh.faces)} faces, {len(mesh.parts)} primitive{'s' if len(mesh.parts) != 1 else ''})"),
        ("prompt", repr(args.prompt) if args.prompt.strip() else "(empty: unconditional)"),
        ("model", f"{pipe.model_dir} (T={pipe.frames}, text encoder {pipe.text_encoder.name})"),
        ("tokens", anim.tokens),
        ("device", anim.device),
        ("sampling", f"{sampling.steps} steps, guidance {sampling.guidance:g}, {sampling.solver}, seed {anim.seed}"),
    ]
    if len(ranked) > 1:
        seeds = sorted(a.seed for a in ranked)
        rows.append(("samples", f"{len(ranked)} seeds {seeds[0]}-{seeds[-1]} in one batch; best: seed {anim.seed}, "
                                f"score {anim.score:.4f} (lower is better)"))
    rows.append(("output", f"{out} ({anim.num_frames} frames at {sampling.fps:g} fps"
                           f"{', looping' if args.loop else ''}; {what})"))
    rows += [(f"sample {rank}", f"{path} (seed {a.seed}, score {a.score:.4f})")
             for rank, (a, path) in enumerate(zip(ranked[1:], kept), start=2)]
    score_s = f"score {t['score']:.2f} s, " if "score" in t else ""
    rows.append(("time", f"read {read_s:.2f} s, load {load_s:.2f} s, text {t['text']:.2f} s, "
                         f"encode {t['encode']:.2f} s, sample {t['sample']:.2f} s, decode {t['decode']:.2f} s, "
                         f"{score_s}write {write_s:.2f} s (total {time.perf_counter() - begin:.2f} s)"))
    print_rows(rows)
    for note in anim.notes:
        print(f"note: {note}")
    return 0
