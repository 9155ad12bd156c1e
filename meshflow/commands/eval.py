"""``meshflow eval vae|motion``: VAE reconstruction error, quality of (generated) animations."""
from __future__ import annotations

from torch.utils.data import Subset

from . import SUMMARIES
from ..errors import MeshflowError, check_integer
from ..eval.motion import (PROCEDURAL, PromptCase, check_label, evaluate_animations, format_table,
                           generate_and_evaluate, read_prompts)
from ..eval.vae import evaluate_vae, open_eval_clips
from ..io.mesh import read_mesh
from ..models.dymesh_vae import load_vae
from ..pipeline import AnimationPipeline, SamplingConfig, resolve_device, resolve_model_dir
from ._common import add_device_argument, iter_progress, print_json

NAME = "eval"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help=SUMMARIES[NAME])
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
    add_device_argument(q)
    q.add_argument("--json", action="store_true", help="print one JSON object (mean, p90, clips, ...)")

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
    q.add_argument("--steps", type=int, help=f"ODE grid points (default: the model's, else {SamplingConfig.steps})")
    q.add_argument("--guidance", type=float,
                   help=f"classifier-free guidance scale (default: the model's, else {SamplingConfig.guidance:g})")
    q.add_argument("--tokens", type=int, metavar="K", help="latent tokens (default: the model's per mesh)")
    add_device_argument(q)
    q.add_argument("--json", action="store_true", help="print one JSON object (summary and animations)")
    p.set_defaults(func=run)


def run(args) -> int:
    return {"vae": run_vae, "motion": run_motion}[args.eval_command](args)


def run_vae(args) -> int:
    model_dir = resolve_model_dir(args.model)
    if args.tokens is not None:
        check_integer("tokens", args.tokens, 1)
    device = resolve_device(args.device)
    model = load_vae(model_dir, device=device)
    dataset = open_eval_clips(args.data, frames=model.T)
    if args.limit is not None:
        dataset = Subset(dataset, range(min(args.limit, len(dataset))))
    result = evaluate_vae(model, dataset, tokens=args.tokens, seed=args.seed, device=device,
                          progress=iter_progress("clips", args.json))
    result.model, result.data = str(model_dir), " ".join(args.data)
    if args.json:
        print_json(result.to_json())
        return 0
    print(f"{'clip':<48} {'N':>6} {'K':>5} {'error':>8} {'sample':>8} {'still':>8} {'s':>6}")
    for r in result.rows:
        print(f"{r['source'][:48]:<48} {r['vertices']:6d} {r['tokens']:5d} {r['error']:8.4f} "
              f"{r['error_sample']:8.4f} {r['error_still']:8.4f} {r['seconds']:6.2f}")
    s = result.summary()
    print(f"\n{s['num_clips']} clips, model {model_dir}: mean per-vertex error {s['mean']:.4f} (90th percentile "
          f"{s['p90']:.4f}) with the posterior mean, {s['mean_sample']:.4f} (p90 {s['p90_sample']:.4f}) with a "
          f"posterior sample; no motion (the rest pose in every frame) {s['mean_still']:.4f}; "
          f"{s['seconds_per_clip']:.2f} s per clip")
    return 0


def run_motion(args) -> int:
    check_integer("seeds", args.seeds, 1)
    if args.label is not None:
        check_label(args.label)
    if not args.generate:
        if not args.animations:
            raise MeshflowError("give animations to evaluate (ANIM ...) or --generate --meshes MESH ...")
        if args.meshes or args.prompt:
            raise MeshflowError("--meshes and --prompt need --generate")
        result = evaluate_animations(args.animations, label=args.label, match=args.match,
                                     progress=iter_progress("animations", args.json))
    else:
        if args.animations:
            raise MeshflowError("--generate makes its own animations: give --meshes, not ANIM arguments")
        if not args.meshes:
            raise MeshflowError("--generate needs --meshes MESH ...")
        resolve_model_dir(args.model)
        AnimationPipeline.check_inputs(steps=args.steps, guidance=args.guidance, tokens=args.tokens,
                                       device=args.device)
        if args.prompt:
            prompts = [PromptCase(p, args.label) for p in args.prompt]
        elif args.prompts == PROCEDURAL:
            prompts = PROCEDURAL
        else:
            prompts = read_prompts(args.prompts)
        meshes = [read_mesh(m) for m in args.meshes]  # every mesh is checked before any work
        pipe = AnimationPipeline.from_pretrained(args.model, device=resolve_device(args.device))
        result = generate_and_evaluate(pipe, meshes, prompts, seeds=range(args.seeds), steps=args.steps,
                                       guidance=args.guidance, tokens=args.tokens,
                                       progress=iter_progress("animations", args.json))
    if args.json:
        print_json(result.to_json())
    else:
        print(format_table(result))
    return 0
