"""``meshflow animate``: animate a mesh from a text prompt and write .glb/.gltf, .npz or an OBJ sequence."""
from __future__ import annotations

import time

from . import SUMMARIES
from ..io.export import check_output
from ..io.mesh import read_mesh
from ..pipeline import AnimationPipeline, SamplingConfig, resolve_device, resolve_model_dir
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
    add_device_argument(p)
    p.add_argument("--clip", metavar="PATH", help="CLIP ViT-L/14 weight file for models that use CLIP without "
                                                  "shipping it (default: $MESHFLOW_CLIP_WEIGHTS)")
    p.add_argument("--overwrite", action="store_true", help="allow OUT to be the input file (replaced)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    begin = time.perf_counter()
    kind = check_output(args.output, inputs=[args.input], overwrite=args.overwrite)  # before any work
    model_dir = resolve_model_dir(args.model)
    AnimationPipeline.check_inputs(args.input, args.prompt, frames=args.frames, steps=args.steps,
                                   guidance=args.guidance, seed=args.seed, tokens=args.tokens, fps=args.fps,
                                   device=args.device)
    device = resolve_device(args.device)

    start = time.perf_counter()
    mesh = read_mesh(args.input)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    pipe = AnimationPipeline.from_pretrained(model_dir, device=device, clip_weights=args.clip)
    load_s = time.perf_counter() - start
    sampling = pipe.sampling_options(steps=args.steps, guidance=args.guidance, fps=args.fps)
    progress, bar = progress_bar(sampling.steps, args.quiet)
    try:
        anim = pipe(mesh, args.prompt, frames=args.frames, steps=sampling.steps, guidance=sampling.guidance,
                    solver=sampling.solver, seed=args.seed, tokens=args.tokens, fps=sampling.fps, progress=progress)
    finally:
        if "bar" in bar:
            bar["bar"].close()
    if args.loop:
        anim = anim.looped()
    start = time.perf_counter()
    out = anim.save(args.output, fps=sampling.fps)
    write_s = time.perf_counter() - start

    what = {"glb": "binary glTF, one morph target per frame", "gltf": "glTF, one morph target per frame",
            "npz": "trajectories and faces", "obj": "OBJ sequence"}[kind]
    t = anim.timings
    print_rows([
        ("input", f"{args.input} ({anim.num_vertices} vertices, {anim.welded_vertices} welded, "
                  f"{len(mesh.faces)} faces, {len(mesh.parts)} primitive{'s' if len(mesh.parts) != 1 else ''})"),
        ("prompt", repr(args.prompt) if args.prompt.strip() else "(empty: unconditional)"),
        ("model", f"{pipe.model_dir} (T={pipe.frames}, text encoder {pipe.text_encoder.name})"),
        ("tokens", anim.tokens),
        ("device", anim.device),
        ("sampling", f"{sampling.steps} steps, guidance {sampling.guidance:g}, {sampling.solver}, seed {anim.seed}"),
        ("output", f"{out} ({anim.num_frames} frames at {sampling.fps:g} fps{', looping' if args.loop else ''}; {what})"),
        ("time", f"read {read_s:.2f} s, load {load_s:.2f} s, text {t['text']:.2f} s, encode {t['encode']:.2f} s, "
                 f"sample {t['sample']:.2f} s, decode {t['decode']:.2f} s, write {write_s:.2f} s "
                 f"(total {time.perf_counter() - begin:.2f} s)"),
    ])
    for note in anim.notes:
        print(f"note: {note}")
    return 0
