"""``meshflow animate``: animate a mesh from a text prompt and write .glb/.gltf, .npz or an OBJ sequence."""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from . import SUMMARIES
from ..errors import MeshflowError
from ..io.export import check_output
from ..io.mesh import read_mesh
from ..models.remote import describe_model
from ..data.proxy import ProxyConfig
from ..progress import summary_rows, time_row
from ..pipeline import MIN_MOTION, AnimationPipeline, SamplingConfig, resolve_device, resolve_model_dir
from ..region import RegionConfig, animate_region, check_region_inputs, make_region
from ..sequence import animate_sequence, check_sequence_inputs, make_timeline
from ._common import add_device_argument, print_rows, progress_bar
from ..rig.export import rig_animation, save_rigged
from .rig import add_rig_arguments, check_bone_count, check_rig_arguments, rig_rows

NAME = "animate"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        NAME, help=SUMMARIES[NAME],
        description="Animate a mesh from a text prompt. The output type follows OUT: .glb/.gltf (the input scene "
                    "with one morph target per frame and an animation, materials and UVs kept), .npz "
                    "(trajectories and faces), or a folder ending in '/' (frame_0000.obj, ...).")
    p.add_argument("input", help="mesh file (.glb .gltf .obj .ply .stl .off)")
    p.add_argument("--prompt", "-p", help="what the mesh does; \"\" samples unconditionally (or --timeline)")
    p.add_argument("-o", "--output", required=True, help="OUT.glb, OUT.gltf, OUT.npz or FOLDER/")
    p.add_argument("--model", metavar="DIR",
                   help="model directory (from `meshflow train` or `meshflow convert-original`) or a Hugging Face "
                        "model id owner/name[@revision] (downloaded and converted once, see `meshflow models`); "
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
                        "of meshflow.ranking.score_sample (lower is better): the mean relative edge-length change "
                        f"against frame 0, plus a penalty for barely moving (mean displacement under {MIN_MOTION * 100:g}%% "
                        "of the mesh's half-extent; more motion earns nothing), scored before --loop "
                        f"(default: the model's, else {SamplingConfig.num_samples})")
    p.add_argument("--keep-all", action="store_true",
                   help="with --num-samples N, also write the other samples beside OUT in ranked order: "
                        "STEM.sample2SUFFIX is the runner-up, ..., STEM.sampleNSUFFIX the worst (FOLDER.sampleK/ for "
                        "an OBJ sequence)")
    p.add_argument("--rigidity", type=float, metavar="R",
                   help="shape-preserving refinement of the decoded motion, before ranking: stretching over short "
                        "lengths is pulled back to as-rigid-as-possible motion while rigid and articulated motion "
                        "pass unchanged; larger R makes more of the mesh rigid (R is a squared length in units of "
                        "half the mesh's size), 0 is off, the original's decode (default: the model's, else "
                        f"{SamplingConfig.rigidity:g})")
    p.add_argument("--match-prompt", action=argparse.BooleanOptionalAction, default=None,
                   help="read the prompt as the closest phrase the model was trained on, its subject kept "
                        "(\"the dog leaps into the air\" -> \"the dog makes a small jump\"; the model's "
                        "vocabulary.json; the reading is printed); --no-match-prompt conditions on the prompt as "
                        "it is, the original's way (default: the model's, else off)")
    add_rig_arguments(p, "--rig")  # --rig [BONES], --rig-residual [MAX]: a skinned glTF (meshflow rig)
    p.add_argument("--solver", help=f"ODE solver: midpoint (the original's), euler, heun or rk4; heun and rk4 come "
                                    f"close to midpoint with fewer steps (default: the model's, else {SamplingConfig.solver})")
    p.add_argument("--proxy", type=int, metavar="N",
                   help=f"animate a decimated proxy of at most N vertices and carry its motion to every vertex "
                        f"(UVs, materials and all vertices kept); 0 animates every vertex (default: "
                        f"{ProxyConfig.vertices} above {ProxyConfig.above} welded vertices, at least {ProxyConfig.minimum})")
    # long clips, timelines, region control (meshflow.sequence, meshflow.region)
    p.add_argument("--then", action="append", metavar="PROMPT",
                   help="what the mesh does next (repeatable): one continuous animation, one window per prompt")
    p.add_argument("--timeline", metavar="FILE", help="a timeline instead of --prompt: rows 'prompt, frames' "
                                                      "(text/CSV) or a JSON list of {\"prompt\", \"frames\"}")
    p.add_argument("--region", metavar="SPEC", help="only this part moves: a glTF node, mesh or material name, a "
                                                    "file of vertex indices, or a box x0,y0,z0,x1,y1,z1")
    p.add_argument("--falloff", type=float, metavar="F",
                   help=f"with --region, the band over which the motion fades out, in units of the extent "
                        f"(default: {RegionConfig.falloff:g})")
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


def keep_all_paths(args, num_samples: int, kind: str) -> list:
    """The runner-up paths ``--keep-all`` writes for ``num_samples`` (given, or the model's), each checked
    before any work: an error when there is no runner-up."""
    if num_samples < 2:
        raise MeshflowError(f"--keep-all: Expected --num-samples of at least 2 (got {num_samples})")
    others = [sample_path(args.output, rank, kind) for rank in range(2, num_samples + 1)]
    for path in others:
        check_output(path, inputs=[args.input], overwrite=args.overwrite)
    return others


def run(args) -> int:
    begin = time.perf_counter()
    kind = check_output(args.output, inputs=[args.input], overwrite=args.overwrite)  # before any work
    if args.rig is not None:
        check_rig_arguments(args.output, kind, args.rig, args.rig_residual)
    elif args.rig_residual is not None:
        raise MeshflowError("--rig-residual: Expected --rig with it (got --rig-residual alone)")
    model_dir = resolve_model_dir(args.model)
    AnimationPipeline.check_inputs(args.input, args.prompt, frames=args.frames, steps=args.steps,
                                   guidance=args.guidance, seed=args.seed, tokens=args.tokens, fps=args.fps,
                                   device=args.device, num_samples=args.num_samples, solver=args.solver,
                                   proxy=args.proxy, rigidity=args.rigidity, match_prompt=args.match_prompt)
    check_sequence_inputs(args.prompt, args.then, args.timeline)
    check_region_inputs(falloff=args.falloff)
    if args.falloff is not None and args.region is None:
        raise MeshflowError("--falloff: Expected --region with it (got --falloff alone)")
    timeline = make_timeline(args.prompt, args.then or (), args.timeline)  # a bad row fails here, before any work
    if args.keep_all and (len(timeline) > 1 or args.timeline or args.region):
        raise MeshflowError("--keep-all: not available with --then, --timeline or --region (got both)")
    if args.keep_all and args.num_samples is not None:  # else checked against the model's default once it is read
        keep_all_paths(args, args.num_samples, kind)
    device = resolve_device(args.device)

    start = time.perf_counter()
    mesh = read_mesh(args.input)
    if args.rig is not None:
        check_bone_count(args.input, args.rig, mesh)  # the welded count the fit will see
    region = make_region(args.region, mesh, falloff=args.falloff) if args.region else None
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    pipe = AnimationPipeline.from_pretrained(model_dir, device=device, clip_weights=args.clip)
    load_s = time.perf_counter() - start
    sampling = pipe.sampling_options(steps=args.steps, guidance=args.guidance, fps=args.fps,
                                     num_samples=args.num_samples, solver=args.solver, rigidity=args.rigidity,
                                     match_prompt=args.match_prompt)
    others = keep_all_paths(args, sampling.num_samples, kind) if args.keep_all else []
    progress, bar = progress_bar(sampling.steps, args.quiet)  # one bar: the N samples are one batched solve
    chained = len(timeline) > 1 or args.timeline is not None or (args.frames or 0) > pipe.frames
    if args.keep_all and chained:
        raise MeshflowError(f"--keep-all: not available with --frames above the model's {pipe.frames} (got both)")
    try:
        options = dict(steps=sampling.steps, guidance=sampling.guidance, solver=sampling.solver, seed=args.seed,
                       tokens=args.tokens, fps=sampling.fps, num_samples=sampling.num_samples, progress=progress,
                       proxy=args.proxy, rigidity=sampling.rigidity, match_prompt=sampling.match_prompt)
        if chained:
            ranked = [animate_sequence(pipe, mesh, timeline, frames=args.frames, region=region, **options)]
        elif region is not None:
            ranked = [animate_region(pipe, mesh, timeline[0].prompt, region, frames=args.frames, **options)]
        else:
            ranked = pipe(mesh, timeline[0].prompt, frames=args.frames, return_all=True, **options)
    finally:
        if "bar" in bar:
            bar["bar"].close()
    if args.loop:
        ranked = [a.looped() for a in ranked]
    anim = ranked[0]
    start = time.perf_counter()
    rigged = None
    if args.rig is not None:  # the best sample as a skinned glTF; --keep-all's others keep morph targets
        fit = rig_animation(replace(anim, fps=sampling.fps), bones=args.rig)
        rigged = save_rigged(args.output, replace(anim, fps=sampling.fps), fit, residual=args.rig_residual)
        out = rigged.path
    else:
        out = anim.save(args.output, fps=sampling.fps)
    kept = [a.save(path, fps=sampling.fps) for a, path in zip(ranked[1:], others)]
    write_s = time.perf_counter() - start

    what = {"glb": "binary glTF, one morph target per frame", "gltf": "glTF, one morph target per frame",
            "npz": "trajectories and faces", "obj": "OBJ sequence"}[kind]
    what = f"skinned glTF, {fit.bones} bones" if rigged is not None else what
    rows = summary_rows(ranked, mesh, args.input, pipe, describe_model(pipe.model_dir), sampling, str(out),
                        what=what, looping=args.loop)
    rows += rig_rows(fit, rigged) if rigged is not None else []
    rows += [(f"sample {rank}", f"{path} (seed {a.seed}, score {a.score:.4f})")
             for rank, (a, path) in enumerate(zip(ranked[1:], kept), start=2)]
    rows.append(time_row(anim.timings, [("read", read_s), ("load", load_s)], [("write", write_s)],
                         total=time.perf_counter() - begin))
    print_rows(rows)
    for note in anim.notes:
        print(f"note: {note}")
    return 0
