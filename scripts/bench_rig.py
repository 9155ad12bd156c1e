"""Rig fit (SSDR, meshflow.rig) on real and large clips: error, bones, time, GLB sizes (a table; not a test).

    OMP_NUM_THREADS=2 python scripts/bench_rig.py [--bones 32] [--frames 16] [--files Fox.glb ...] [--large 50000]

For each Quaternius file (in ../shared/data/quaternius) its first clips are sampled as 16-frame clips at
15 fps (as meshflow.data.clips builds them) and rigged with their own bind pose; the no-motion error
(every frame = the bind pose) is the baseline beside the fit's. The large case is the first file's clip
with its mesh subdivided (midpoint subdivision, the same for every frame) up to about ``--large``
vertices: the fit time at 50k vertices (wall clock and this process's CPU time, which a busy
machine does not inflate), and the size of its skinned GLB next to the morph-target one.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh

from meshflow.io import Animation, list_clips, read_mesh, sample_animation
from meshflow.io.geometry import weld_animation
from meshflow.rig import fit_skinning
from meshflow.rig.export import save_rigged

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "quaternius"
DEFAULT_FILES = ["animals_pack/Fox.glb", "animals_pack/Stag.glb", "cute_fish_pack/Koi.glb",
                 "dinosaurs_pack/Apatosaurus.glb", "mech_pack/George.glb", "cyberpunk_pack/Character.glb"]


def clips(path: Path, frames: int, fps: float, count: int):
    mesh = read_mesh(path)
    for info in list_clips(path)[:count]:
        anim = sample_animation(path, clip=info.index, fps=fps, frames=frames)
        yield mesh, info.short_name, anim


def no_motion_error(rest, frames):
    extent = float(np.ptp(rest, axis=0).max()) or 1.0
    return float(np.linalg.norm(frames - rest[None], axis=-1).mean() / extent)


def subdivided(mesh, anim, target: int):
    """The clip on a midpoint-subdivided mesh of at least ``target`` vertices (welded first)."""
    stacked, faces, _ = weld_animation(np.concatenate([mesh.vertices[None], anim.vertices]), mesh.faces)
    while stacked.shape[1] < target:
        out = [trimesh.remesh.subdivide(v, faces) for v in stacked]
        faces = out[0][1]
        stacked = np.stack([v for v, _ in out])
    return stacked[0].astype(np.float32), stacked[1:].astype(np.float32), faces


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bones", type=int, default=32)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--clips", type=int, default=2, help="clips per file")
    ap.add_argument("--files", nargs="*", default=DEFAULT_FILES, help="paths under shared/data/quaternius")
    ap.add_argument("--large", type=int, default=50_000, help="vertices of the large case (0: none)")
    args = ap.parse_args()

    print("| clip | vertices | bones | no-motion error | fit mean error | fit max error | fit (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    means, first = [], None
    for name in args.files:
        path = SHARED / name
        if not path.is_file():
            print(f"| {name}: missing | | | | | | |")
            continue
        for mesh, clip, anim in clips(path, args.frames, args.fps, args.clips):
            first = first or (mesh, anim)
            fit = fit_skinning(mesh.vertices, anim.vertices, mesh.faces, bones=args.bones)
            means.append(fit.mean_error)
            print(f"| {Path(name).stem} {clip} | {len(mesh.vertices):,} | {fit.bones} "
                  f"| {100 * no_motion_error(mesh.vertices, anim.vertices):.2f}% | {100 * fit.mean_error:.3f}% "
                  f"| {100 * fit.max_error:.2f}% | {fit.seconds:.2f} |")
    if means:
        print(f"\nmean fit error over {len(means)} clips: {100 * np.mean(means):.3f}% of the extent "
              f"(worst clip {100 * np.max(means):.3f}%)")
    if args.large and first is not None:
        rest, frames, faces = subdivided(*first, args.large)
        start, cpu = time.perf_counter(), time.process_time()
        fit = fit_skinning(rest, frames, faces, bones=args.bones)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        mesh = trimesh.Trimesh(rest, faces, process=False)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "large.ply"
            mesh.export(src)
            scene = read_mesh(src)
            anim = Animation(frames, scene.faces, fps=args.fps, mesh=scene)
            written = save_rigged(Path(tmp) / "large.glb", anim, fit)
        print("\n| large case | vertices | frames | bones | mean error | max error | fit (s) | fit CPU (s) | "
              "skinned GLB | morph-target GLB | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {Path(args.files[0]).stem} subdivided | {len(rest):,} | {len(frames)} | {fit.bones} "
              f"| {100 * fit.mean_error:.3f}% | {100 * fit.max_error:.2f}% | {seconds:.1f} | {cpu:.1f} "
              f"| {written.size / 2 ** 20:.2f} MB | {written.morph_size / 2 ** 20:.2f} MB | {written.ratio:.1f}x |")


if __name__ == "__main__":
    main()
