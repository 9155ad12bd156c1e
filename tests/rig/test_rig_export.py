"""Skinned glTF output (meshflow.io.gltf_skin through meshflow.rig.export): skinning the written file's
own accessors reproduces the fit; scenes, materials and UVs kept; residual targets; loops; sizes."""
from dataclasses import replace

import numpy as np
import pygltflib
import pytest
import trimesh

from meshflow.io import Animation, load_animation, read_mesh
from meshflow.io.gltf_skin import joint_keys
from meshflow.rig.export import load_rig_input, residual_offsets, rig_animation, save_rigged
from meshflow.rig.solvers import blend_skin
from tests.io.test_export import accessor, nested_scene
from tests.rig.conftest import lbs_animation


def trs(t, q):
    """4x4 of a translation and an xyzw quaternion, written out."""
    x, y, z, w = q
    m = trimesh.transformations.quaternion_matrix([w, x, y, z])
    m[:3, 3] = t
    return m


def skin_from_file(path):
    """Plain linear blend skinning from a written GLB's accessors: (T, N, 3) world positions, per key."""
    gltf = pygltflib.GLTF2().load(str(path))
    blob = gltf.binary_blob()
    skin = gltf.skins[0]
    ibm = accessor_mat4(gltf, blob, skin.inverseBindMatrices)
    parents = {c: i for i, n in enumerate(gltf.nodes) for c in n.children or []}
    anim = gltf.animations[0]
    keys = {}
    for ch in anim.channels:
        s = anim.samplers[ch.sampler]
        keys[(ch.target.node, ch.target.path)] = accessor(gltf, blob, s.output)
    times = accessor(gltf, blob, anim.samplers[0].input)
    frames = []
    for k in range(len(times)):
        def world(node):
            local = trs(keys[(node, "translation")][k], keys[(node, "rotation")][k])
            return local if node not in parents else world(parents[node]) @ local
        mats = [world(j) @ ibm[i] for i, j in enumerate(skin.joints)]
        out = []
        for node in gltf.nodes:
            if node.mesh is None or node.skin is None:
                continue
            for prim in gltf.meshes[node.mesh].primitives:
                pos = accessor(gltf, blob, prim.attributes.POSITION).astype(np.float64)
                if prim.targets:
                    pos = pos + accessor(gltf, blob, prim.targets[min(k, len(prim.targets) - 1)]["POSITION"])
                joints = accessor(gltf, blob, prim.attributes.JOINTS_0)
                weights = accessor(gltf, blob, prim.attributes.WEIGHTS_0)
                for p, js, ws in zip(pos, joints, weights):
                    out.append(sum(w * (mats[j] @ np.r_[p, 1.0])[:3] for j, w in zip(js, ws)))
        frames.append(np.array(out))
    return np.array(frames), gltf


def accessor_mat4(gltf, blob, index):
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    data = np.frombuffer(blob, dtype=np.float32, count=acc.count * 16, offset=view.byteOffset + (acc.byteOffset or 0))
    return data.reshape(acc.count, 4, 4).transpose(0, 2, 1).astype(np.float64)  # column-major


@pytest.fixture
def lbs_anim():
    rest, frames, faces, *_ = lbs_animation(bones=3, frames=5, subdivisions=2)
    return Animation(frames.astype(np.float32), faces, fps=10.0, prompt="it bends")


def test_skinning_the_file_reproduces_the_fit(lbs_anim, tmp_path):
    fit = rig_animation(lbs_anim, bones=3)
    written = save_rigged(tmp_path / "bar.glb", lbs_anim, fit)
    skinned, gltf = skin_from_file(written.path)
    np.testing.assert_allclose(skinned, fit.frames(), atol=1e-5 * fit.extent)
    # A standard rig: one skin, joints in one hierarchy, the root in the scene, JOINTS_0 unsigned bytes.
    assert len(gltf.skins) == 1 and len(gltf.skins[0].joints) == fit.bones
    root = gltf.skins[0].skeleton
    assert root in gltf.scenes[gltf.scene].nodes
    prim = gltf.meshes[0].primitives[0]
    assert gltf.accessors[prim.attributes.JOINTS_0].componentType == 5121 and not prim.targets
    assert gltf.animations[0].extras["meshflow"]["rig"]["bones"] == fit.bones
    # Read back by meshflow's own sampler: the rig's frames; and by trimesh.
    back = load_animation(written.path)
    np.testing.assert_allclose(back.vertices, fit.frames(), atol=1e-5 * fit.extent)
    assert back.fps == 10.0 and back.prompt == "it bends"
    assert len(trimesh.load(written.path, force="scene").geometry) == 1
    assert written.size < written.morph_size


def test_joint_keys_compose_back_to_world_matrices():
    rest, frames, faces, *_ = lbs_animation(bones=4, frames=3)
    rng = np.random.default_rng(0)
    rot, trans = lbs_animation(bones=4, frames=3)[5:]
    centers = rng.standard_normal((4, 3))
    parents = np.array([-1, 0, 1, 0])
    local_t, local_q = joint_keys(rot, trans, centers, parents)
    for t in range(3):
        world = {}
        for j in (0, 1, 2, 3):
            local = trs(local_t[t, j], local_q[t, j])
            world[j] = local if parents[j] < 0 else world[parents[j]] @ local
            expect = np.eye(4)
            expect[:3, :3], expect[:3, 3] = rot[t, j], rot[t, j] @ centers[j] + trans[t, j]
            np.testing.assert_allclose(world[j], expect, atol=1e-10)
    assert np.all(np.sum(local_q[1:] * local_q[:-1], axis=-1) >= 0)  # continuous signs


@pytest.mark.parametrize("out_name", ["out.glb", "out.gltf"])
def test_scene_materials_and_uvs_kept(tmp_path, out_name):
    path, image = nested_scene(tmp_path / "in.glb", "PNG")
    mesh = read_mesh(path)
    rng = np.random.default_rng(0)
    shift = 0.2 * rng.standard_normal((4, 1, 3))  # every frame a translation of the whole scene
    anim = Animation((mesh.vertices[None] + shift).astype(np.float32), mesh.faces, fps=8.0, mesh=mesh)
    fit = rig_animation(anim, bones=2)
    assert fit.max_error < 1e-5
    out = save_rigged(tmp_path / out_name, anim, fit).path
    src, dst = pygltflib.GLTF2().load(str(path)), pygltflib.GLTF2().load(str(out))
    dst.convert_buffers(pygltflib.BufferFormat.BINARYBLOB)
    for key in ("samplers", "textures", "materials"):
        assert [x.to_dict() for x in getattr(dst, key)] == [x.to_dict() for x in getattr(src, key)]
    view = dst.bufferViews[dst.images[0].bufferView]
    assert dst.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength] == image
    skinned = [n for n in dst.nodes if n.skin is not None]
    assert [n.name for n in skinned] == ["crate", "orb"]
    crate = dst.meshes[skinned[0].mesh].primitives[0]
    assert crate.material == 0 and crate.attributes.TEXCOORD_0 is not None
    uv = accessor(dst, dst.binary_blob(), crate.attributes.TEXCOORD_0)
    source_uv = accessor(src, src.binary_blob(), src.meshes[0].primitives[0].attributes.TEXCOORD_0)
    np.testing.assert_allclose(uv, source_uv, atol=1e-6)  # through trimesh's v flip and back
    back = load_animation(out)
    np.testing.assert_allclose(back.vertices, anim.vertices, atol=1e-4)


def test_residual_targets_restore_the_frames(lbs_anim, tmp_path):
    fit = rig_animation(lbs_anim, bones=1)  # one bone cannot bend the bar
    assert fit.max_error > 0.01
    offsets = residual_offsets(fit, lbs_anim.vertices)
    A = sum(fit.weights[None, :, k, None, None] * fit.rotations[:, fit.joints[:, k]] for k in range(4))
    pred = blend_skin(fit.rest, fit.joints, fit.weights, fit.rotations, fit.translations)
    np.testing.assert_allclose(pred + np.einsum("tnab,tnb->tna", A, offsets), lbs_anim.vertices, atol=1e-4)
    plain = save_rigged(tmp_path / "plain.glb", lbs_anim, fit, residual=0.5)  # above the error: no residual
    assert not plain.residual
    written = save_rigged(tmp_path / "res.glb", lbs_anim, fit, residual=0.001)
    assert written.residual and written.size > plain.size
    np.testing.assert_allclose(load_animation(written.path).vertices, lbs_anim.vertices, atol=1e-4 * fit.extent)
    skinned, _ = skin_from_file(written.path)
    np.testing.assert_allclose(skinned, lbs_anim.vertices, atol=1e-4 * fit.extent)


def test_loop_closes_on_frame_zero(lbs_anim, tmp_path):
    anim = lbs_anim.looped()
    fit = rig_animation(anim, bones=3)
    out = save_rigged(tmp_path / "loop.glb", anim, fit).path
    gltf = pygltflib.GLTF2().load(str(out))
    times = accessor(gltf, gltf.binary_blob(), gltf.animations[0].samplers[0].input)
    np.testing.assert_allclose(times, np.arange(6) / 10.0, atol=1e-6)
    skinned, _ = skin_from_file(out)
    np.testing.assert_allclose(skinned[-1], skinned[0], atol=1e-6)
    assert load_animation(out).num_frames == 5


def test_quaternius_rig_input_keeps_the_bind_pose(shared, tmp_path):
    path = shared("data", "quaternius", "animals_pack", "Fox.glb")
    anim = load_rig_input(path)
    assert anim.mesh is not None
    np.testing.assert_array_equal(anim.mesh.vertices, read_mesh(path).vertices)
    short = replace(anim, vertices=anim.vertices[:4])
    fit = rig_animation(short, bones=16)
    written = save_rigged(tmp_path / "fox.glb", short, fit)
    back = load_animation(written.path)
    np.testing.assert_allclose(back.vertices, fit.frames(), atol=1e-5 * fit.extent)
    assert written.ratio > 2
