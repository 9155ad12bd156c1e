"""Every glTF meshflow writes passes the Khronos glTF-Validator with zero errors.

Each case of ``CASES`` writes one file into ``tmp_path`` and returns its path; adding a case is one
line (a name and a function of ``(tmp_path, shared)``). The warnings are printed (``pytest -s``).
"""
from dataclasses import replace

import numpy as np
import pygltflib
import pytest
import trimesh

from meshflow.io import Animation, read_mesh, sample_animation, save_animation
from meshflow.pipeline import AnimationPipeline
from meshflow.region import animate_region, make_region
from meshflow.rig.export import load_rig_input, rig_animation, save_rigged
from meshflow.sequence import animate_sequence, make_timeline
from tests.commands.test_animate import MESH
from tests.test_pipeline import make_model_dir
from tests.io.test_export import nested_scene, textured_scene, wobble
from tests.rig.conftest import lbs_animation

QUATERNIUS = ("data", "quaternius")
DRACO = QUATERNIUS + ("ultimate_space_pack", "Enemy_Small-transformed.glb")
FOX = QUATERNIUS + ("animals_pack", "Fox.glb")


def morph(mesh, name, tmp_path, frames=4, loop=False):
    anim = Animation(wobble(mesh, frames), mesh.faces, fps=12.0, mesh=mesh, prompt="it wobbles")
    return save_animation(tmp_path / name, anim.looped() if loop else anim)


def rigged(anim, name, tmp_path, bones=8, residual=None):
    return save_rigged(tmp_path / name, anim, rig_animation(anim, bones=bones), residual=residual).path


def bar_anim(loop=False):
    rest, frames, faces, *_ = lbs_animation(bones=3, frames=6, subdivisions=2)
    anim = Animation(frames.astype(np.float32), faces, fps=12.0)
    return anim.looped() if loop else anim


def moved_scene(tmp_path, suffix=".glb"):
    path, _ = nested_scene(tmp_path / f"scene{suffix}", "JPEG")
    mesh = read_mesh(path)
    return Animation(wobble(mesh, 4), mesh.faces, fps=12.0, mesh=mesh)


def clip(shared, parts, frames=4):
    anim = load_rig_input(shared(*parts))
    return replace(anim, vertices=anim.vertices[:frames])


_PIPE = {}


def generated(tmp_path, name, then=(), region=None, frames=None, loop=False):
    """What `meshflow animate` writes with a tiny random model: a chained timeline (``then``, ``frames``) or a region."""
    if "pipe" not in _PIPE:
        _PIPE["pipe"] = AnimationPipeline.from_pretrained(make_model_dir(tmp_path / "tiny", frames=8), device="cpu")
    pipe, mesh = _PIPE["pipe"], read_mesh(MESH)
    if region is not None:
        anim = animate_region(pipe, mesh, "the dog wags its tail", make_region(region, mesh), seed=0, steps=2)
    else:
        anim = animate_sequence(pipe, mesh, make_timeline("the dog walks", list(then)), frames=frames, seed=0, steps=2)
    return save_animation(tmp_path / name, anim.looped() if loop else anim)


CASES = {
    "morph-textured": lambda tmp, shared: morph(read_mesh(textured_scene(tmp / "in.glb")), "out.glb", tmp),
    "morph-scene-gltf": lambda tmp, shared: morph(read_mesh(nested_scene(tmp / "in.gltf")[0]), "out.gltf", tmp),
    "morph-looped": lambda tmp, shared: morph(read_mesh(nested_scene(tmp / "in.glb")[0]), "out.glb", tmp, loop=True),
    "morph-spot-obj": lambda tmp, shared: morph(read_mesh(shared("data", "static", "spot.obj")), "spot.glb", tmp, 2),
    "morph-points": lambda tmp, shared: save_animation(tmp / "cloud.glb", Animation(
        np.random.default_rng(0).random((3, 30, 3)).astype(np.float32), np.zeros((0, 3), dtype=np.int64))),
    "morph-draco-input": lambda tmp, shared: morph(read_mesh(shared(*DRACO)), "draco.glb", tmp, 3),
    "morph-quaternius": lambda tmp, shared: save_animation(tmp / "fox.glb", sample_animation(shared(*FOX), frames=4)),
    "rigged": lambda tmp, shared: rigged(bar_anim(), "bar.glb", tmp, bones=3),
    "rigged-looped": lambda tmp, shared: rigged(bar_anim(loop=True), "loop.glb", tmp, bones=3),
    "rigged-residual": lambda tmp, shared: rigged(bar_anim(), "res.glb", tmp, bones=1, residual=0.0),
    "rigged-textured-scene": lambda tmp, shared: rigged(moved_scene(tmp), "scene.glb", tmp, bones=4),
    "rigged-gltf": lambda tmp, shared: rigged(moved_scene(tmp, ".gltf"), "scene.gltf", tmp, bones=4),
    "rigged-quaternius": lambda tmp, shared: rigged(clip(shared, FOX), "fox.glb", tmp, bones=32),
    "rigged-draco-input": lambda tmp, shared: rigged(clip(shared, DRACO), "draco.glb", tmp, bones=16),
    "long-timeline": lambda tmp, shared: generated(tmp, "long.glb", then=("it jumps",)),
    "long-looped": lambda tmp, shared: generated(tmp, "loop.glb", frames=20, loop=True),
    "region-box": lambda tmp, shared: generated(tmp, "region.glb", region="-10,-10,-10,10,10,0"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_written_gltf_is_valid(case, tmp_path, shared, gltf_validator):
    path = CASES[case](tmp_path, shared)
    (report,) = gltf_validator(path)
    errors = [m for m in report["messages"] if m["severity"] == "error"]
    warnings = [f"{m['code']} at {m['pointer']}: {m['message']}" for m in report["messages"] if m["severity"] == "warning"]
    print(f"{case}: {report['errors']} errors, {report['warnings']} warnings {warnings}")
    assert report["errors"] == 0, errors


def test_the_validator_finds_errors(tmp_path, gltf_validator):
    """The bar can fail: a triangle index past the vertices is an error."""
    box = trimesh.creation.box()
    path = tmp_path / "box.glb"
    box.export(path)
    gltf = pygltflib.GLTF2().load(str(path))
    blob = bytearray(gltf.binary_blob())
    acc = gltf.accessors[gltf.meshes[0].primitives[0].indices]
    view = gltf.bufferViews[acc.bufferView]
    width = {5125: 4, 5123: 2, 5121: 1}[acc.componentType]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    blob[start:start + width] = (200).to_bytes(width, "little")
    gltf.set_binary_blob(bytes(blob))
    gltf.save_binary(str(path))
    (report,) = gltf_validator(path)
    assert report["errors"] > 0
    assert any(m["code"].startswith("ACCESSOR_") for m in report["messages"] if m["severity"] == "error")
