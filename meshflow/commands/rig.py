"""``meshflow rig``: fit a skinned rig (linear blend skinning, SSDR) to an animation and write a skinned glTF."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from . import SUMMARIES
from ..errors import BoneCountError, MeshflowError, check_integer
from ..io.export import check_output
from ..rig import RigConfig, check_bones, fit_vertex_count
from ..rig.export import RESIDUAL_THRESHOLD, RiggedFile, load_rig_input, rig_animation, save_rigged
from ._common import print_rows

NAME = "rig"


def add_rig_arguments(p, option: str) -> None:
    """``OPTION`` (the bone count: ``--bones`` here, ``--rig [BONES]`` on animate) and ``--rig-residual``."""
    if option == "--bones":
        p.add_argument("--bones", type=int, default=RigConfig.bones, metavar="J",
                       help=f"bones of the rig (default: {RigConfig.bones})")
    else:
        p.add_argument("--rig", type=int, nargs="?", const=RigConfig.bones, metavar="BONES",
                       help="write OUT (.glb/.gltf) as a skinned mesh: a rig of BONES bones fitted to the animation "
                            f"(default: {RigConfig.bones}) instead of one morph target per frame")
    p.add_argument("--rig-residual", type=float, nargs="?", const=RESIDUAL_THRESHOLD, metavar="MAX",
                   help="keep what the rig misses as morph targets when its largest error is above MAX "
                        f"(fraction of the mesh's extent; default {RESIDUAL_THRESHOLD:g})")


def check_rig_arguments(output: str, kind: str, bones: int, residual) -> None:
    """Before any work: a glTF output, at least one bone, a residual threshold of at least 0."""
    if kind not in ("glb", "gltf"):
        raise MeshflowError(f"{output}: Expected a .glb or .gltf output for a rig (got '{Path(output).suffix}')")
    try:
        check_integer("bones", bones, 1)
    except MeshflowError as e:
        raise MeshflowError(f"--bones: {e}") from None
    if residual is not None and not residual >= 0:
        raise MeshflowError(f"--rig-residual: Expected a threshold of at least 0 (got {residual:g})")


@contextmanager
def bones_option(source: str):
    """Names ``--bones`` and the input in the bone-count error of :func:`~meshflow.rig.check_bones`
    (a :class:`~meshflow.errors.BoneCountError`); any other error passes through as it is."""
    try:
        yield
    except BoneCountError as e:
        raise BoneCountError(f"--bones: {source}: {e}") from None


def check_bone_count(source: str, bones: int, mesh) -> None:
    """:func:`~meshflow.rig.check_bones` before the work (``animate --rig``: before the model runs), against
    the welded vertex count the fit will see (:func:`~meshflow.rig.fit_vertex_count` of the input ``mesh``)."""
    with bones_option(source):
        check_bones(bones, fit_vertex_count(mesh.vertices, faces=mesh.faces))


def rig_rows(fit, written: RiggedFile):
    """The fit report and the file sizes, as rows for :func:`print_rows`."""
    mb = 1024 * 1024
    return [
        ("rig", f"{fit.bones} bones, {fit.iterations} iterations, {fit.seconds:.2f} s"),
        ("rig error", f"mean {100 * fit.mean_error:.3f}%, max {100 * fit.max_error:.3f}% of the extent "
                      f"({fit.extent:.4g})" + (", residual kept as morph targets" if written.residual else "")),
        ("size", f"{written.size / mb:.2f} MB skinned vs {written.morph_size / mb:.2f} MB with morph targets "
                 f"({written.ratio:.1f}x smaller)"),
    ]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        NAME, help=SUMMARIES[NAME],
        description="Fit linear blend skinning (Smooth Skinning Decomposition with Rigid Bones) to an animation: "
                    "bones grown as connected regions of the mesh graph, at most 4 weights per vertex, one rigid "
                    "transform per bone and frame; write it as a skinned glTF (joints, inverse bind matrices, "
                    "JOINTS_0/WEIGHTS_0, joint keyframes), the input's materials and UVs kept.")
    p.add_argument("input", metavar="ANIM", help="animation: .glb/.gltf (its first clip), .npz, DyMesh .bin/.pkl")
    p.add_argument("-o", "--output", required=True, help="OUT.glb or OUT.gltf")
    add_rig_arguments(p, "--bones")
    p.add_argument("--overwrite", action="store_true", help="allow OUT to be the input file (replaced)")
    p.set_defaults(func=run)


def run(args) -> int:
    begin = time.perf_counter()
    kind = check_output(args.output, inputs=[args.input], overwrite=args.overwrite)
    check_rig_arguments(args.output, kind, args.bones, args.rig_residual)
    anim = load_rig_input(args.input)
    with bones_option(args.input):  # the fit's first step: check_bones against the vertices it welds
        fit = rig_animation(anim, bones=args.bones)
    written = save_rigged(args.output, anim, fit, residual=args.rig_residual)
    rows = [("input", f"{args.input} ({anim.num_frames} frames, {anim.num_vertices} vertices"
                      f"{', bind pose from the file' if anim.mesh is not None else ', bind pose = frame 0'})")]
    rows += rig_rows(fit, written)
    rows += [("output", str(written.path)), ("time", f"{time.perf_counter() - begin:.2f} s")]
    print_rows(rows)
    return 0
