"""``meshflow data clips|sample|build|shards|verify``: list and sample glTF clips, build training clips,
write streaming shards, check archives."""
from __future__ import annotations

from pathlib import Path

from . import SUMMARIES
from ..data.clips import build_clips, caption_for, format_report
from ..data.shards import verify_archives, write_shards
from ..errors import check_finite, check_integer
from ..io.animation import Animation, list_clips, sample_animation, save_animation
from ._common import print_json

NAME = "data"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(NAME, help=SUMMARIES[NAME])
    dsub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    p.set_defaults(func=run, print_help=p.print_help)

    q = dsub.add_parser("clips", help="list the animations of a glTF/GLB file with their durations")
    q.add_argument("path", help="animated .glb or .gltf file")
    q.add_argument("--json", action="store_true", help="print one JSON list")

    q = dsub.add_parser("sample", help="evaluate one glTF animation into an npz (vertices (T, N, 3) welded, faces, caption)")
    q.add_argument("path", metavar="GLB", help="animated .glb or .gltf file")
    q.add_argument("--clip", default=None, metavar="NAME", help="clip: full name, the part after '|', or an index (default: the first)")
    q.add_argument("--frames", type=int, default=None, help="number of frames T (default: the whole clip)")
    q.add_argument("--fps", type=float, default=15.0, help="frames per second (default: 15)")
    q.add_argument("--start", type=float, default=0.0, help="seconds into the clip of frame 0 (default: 0)")
    q.add_argument("--caption", default=None, help="caption to store (default: from the file and clip names)")
    q.add_argument("-o", "--output", required=True, metavar="ANIM.npz", help="output npz")

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

    q = dsub.add_parser("shards", help="write streaming shards (.tar.zst of npz clips) for data.source=dymesh-archives")
    q.add_argument("sources", nargs="+", metavar="SRC", help="clip folders, folders of animated files, or files")
    q.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder (written whole or not at all)")
    q.add_argument("--shard-size", type=int, default=2000, help="clips per shard (default: 2000)")
    q.add_argument("--frames", type=int, default=16, help="frames per clip T (default: 16)")
    q.add_argument("--stride", type=int, default=None, help="frames between window starts (default: --frames)")
    q.add_argument("--fps", type=float, default=15.0, help="sampling rate of glTF clips (default: 15)")
    q.add_argument("--workers", type=int, default=None, help="processes (default: CPU count, at most 8; 0: none)")
    q.add_argument("--max-vertices", type=int, default=None, help="vertex cap per clip (default: none)")
    q.add_argument("--over-limit", choices=("skip", "simplify"), default="skip", help="clips over the cap (default: skip)")
    q.add_argument("--min-motion", type=float, default=1e-3, help="skip windows moving less than this, normalised (default: 1e-3)")

    q = dsub.add_parser("verify", help="count samples and bad members per archive (DyMesh parts or shards)")
    q.add_argument("root", metavar="DIR", help="folder of .tar.zst archives or split parts (or a glob)")
    q.add_argument("--json", action="store_true", help="print one JSON list")


def run(args) -> int:
    if args.data_command is None:
        args.print_help()
        return 2
    return {"clips": run_clips, "sample": run_sample, "build": run_build, "shards": run_shards,
            "verify": run_verify}[args.data_command](args)


def run_clips(args) -> int:
    clips = list_clips(args.path)
    if args.json:
        print_json([{"name": c.name, "short_name": c.short_name, "duration": round(c.duration, 6),
                     "channels": c.channels} for c in clips])
        return 0
    width = max([len(c.name) for c in clips] + [4])
    for c in clips:
        print(f"{c.name:<{width}}  {c.duration:7.3f} s  {c.channels} channels")
    if not clips:
        print(f"{args.path}: no animations")
    return 0


def run_sample(args) -> int:
    if args.frames is not None:
        check_integer("frames", args.frames, 1)
    check_finite("fps", args.fps, positive=True)
    clip = int(args.clip) if args.clip is not None and args.clip.isdigit() else args.clip
    anim = sample_animation(args.path, clip, fps=args.fps, frames=args.frames, start=args.start, weld=True)
    caption = args.caption if args.caption is not None else caption_for(Path(args.path).name, anim.clip)
    out = save_animation(args.output, Animation(anim.vertices, anim.faces, fps=args.fps, prompt=caption))
    T, N = anim.vertices.shape[:2]
    print(f"{anim.clip}: {T} frames x {N} vertices, {len(anim.faces)} faces, \"{caption}\"")
    print(f"wrote {out}")
    return 0


def run_build(args) -> int:
    check_integer("frames", args.frames, 2)
    if args.stride is not None:
        check_integer("stride", args.stride, 1)
    report = build_clips(args.sources, args.output, frames=args.frames, stride=args.stride, fps=args.fps,
                         workers=args.workers, shard_size=args.shard_size, max_vertices=args.max_vertices,
                         over_limit=args.over_limit, min_motion=args.min_motion, progress=not args.no_progress)
    print(format_report(report))
    print(f"wrote {args.output}")
    return 0


def run_shards(args) -> int:
    check_integer("shard-size", args.shard_size, 1)
    check_integer("frames", args.frames, 2)
    if args.stride is not None:
        check_integer("stride", args.stride, 1)
    report = write_shards(args.sources, args.output, shard_size=args.shard_size, frames=args.frames,
                          stride=args.stride, fps=args.fps, max_vertices=args.max_vertices,
                          over_limit=args.over_limit, min_motion=args.min_motion, workers=args.workers)
    count = lambda d: ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"  # noqa: E731
    print(f"{report['clips']} clips in {report['shards']} shards from {report['files']} files and "
          f"{report['clip_folders']} clip folders in {report['seconds']:.1f} s")
    print(f"files failed: {count(report['files_failed'])}; windows skipped: {count(report['skipped'])}")
    print(f"wrote {args.output}")
    return 0


def run_verify(args) -> int:
    rows = verify_archives(args.root)
    if args.json:
        print_json(rows)
    else:
        width = max(len(r["archive"]) for r in rows)
        print(f"{'archive':<{width}}  parts  members  samples  bad  problem")
        for r in rows:
            problem = r["error"] or ", ".join(f"{k} {v}" for k, v in sorted(r["reasons"].items()))
            print(f"{r['archive']:<{width}}  {len(r['parts']):5d}  {r['members']:7d}  {r['samples']:7d}  "
                  f"{r['bad']:3d}  {problem}")
        total = sum(r["samples"] for r in rows)
        print(f"{len(rows)} archives, {total} samples, {sum(r['bad'] for r in rows)} bad members, "
              f"{sum(bool(r['error']) for r in rows)} damaged")
    return 1 if any(r["error"] or r["bad"] for r in rows) else 0
