"""The glTF reader and the animation sampler on tiny files built here with pygltflib."""
import numpy as np
import pygltflib
import pytest
from pygltflib import (Accessor, AccessorSparseIndices, AccessorSparseValues, Animation,
                       AnimationChannel, AnimationChannelTarget, AnimationSampler, Asset, Attributes, Buffer,
                       BufferView, Mesh, Node, Primitive, Scene, Skin, Sparse)

from meshflow.errors import MeshFileError
from meshflow.io.animation import find_clip, frame_times, interpolate, list_clips, sample_animation
from meshflow.io.geometry import quat_slerp, quat_to_matrix, weld_animation
from meshflow.io.gltf import Channel, GltfFile, _triangulate

FLOAT, UBYTE, BYTE, USHORT, UINT = 5126, 5121, 5120, 5123, 5125
TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}


class Builder:
    """Packs numpy arrays into one buffer and declares accessors for them."""

    def __init__(self):
        self.blob = bytearray()
        self.g = pygltflib.GLTF2(asset=Asset(version="2.0"), scene=0, scenes=[Scene(nodes=[])], nodes=[],
                                 meshes=[], accessors=[], bufferViews=[], buffers=[], animations=[], skins=[])

    def view(self, data: bytes, stride=None) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        self.g.bufferViews.append(BufferView(buffer=0, byteOffset=len(self.blob), byteLength=len(data),
                                             byteStride=stride))
        self.blob.extend(data)
        return len(self.g.bufferViews) - 1

    def add(self, array, ctype=FLOAT, normalized=False, stride=None, width=None) -> int:
        dtype = {FLOAT: "<f4", UBYTE: "u1", BYTE: "i1", USHORT: "<u2", UINT: "<u4"}[ctype]
        a = np.asarray(array).astype(dtype)
        a2 = a.reshape(len(a), -1)
        width = width or a2.shape[1]
        raw = a2.tobytes()
        if stride:  # interleave with padding
            row = a2.shape[1] * a2.itemsize
            raw = b"".join(a2[i].tobytes() + b"\xee" * (stride - row) for i in range(len(a2)))
        bv = self.view(raw, stride)
        acc = Accessor(bufferView=bv, componentType=ctype, count=len(a2), type=TYPES[width], normalized=normalized)
        if ctype == FLOAT and width <= 4 and len(a2):
            acc.min, acc.max = a2.min(0).tolist(), a2.max(0).tolist()
        self.g.accessors.append(acc)
        return len(self.g.accessors) - 1

    def node(self, root=True, **kw) -> int:
        self.g.nodes.append(Node(**kw))
        i = len(self.g.nodes) - 1
        if root:
            self.g.scenes[0].nodes.append(i)
        return i

    def animate(self, name, channels):
        """channels: (node, path, times, values, interpolation)."""
        anim = Animation(name=name, samplers=[], channels=[])
        for node, path, times, values, interp in channels:
            anim.samplers.append(AnimationSampler(input=self.add(np.asarray(times, np.float32)[:, None]),
                                                  output=self.add(values), interpolation=interp))
            anim.channels.append(AnimationChannel(sampler=len(anim.samplers) - 1,
                                                  target=AnimationChannelTarget(node=node, path=path)))
        self.g.animations.append(anim)

    def save(self, path):
        self.g.buffers = [Buffer(byteLength=len(self.blob))]
        self.g.set_binary_blob(bytes(self.blob))
        self.g.save_binary(str(path))
        return path


def rot_z(deg):
    t = np.deg2rad(deg) / 2
    return [0.0, 0.0, np.sin(t), np.cos(t)]


def two_bone_file(tmp_path, mesh_offset=(5.0, 0.0, 0.0)):
    """A strip of 5 rows (y = 0 .. 2) skinned to a two-bone chain under an armature at z = 3.

    Bone 1 (at y = 1) turns 90 degrees about z between t = 0 and t = 1. Row y = 1 is shared
    half-half, its second influence in a second weight set and the weights unnormalised.
    """
    b = Builder()
    ys = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    pos = np.array([[x, y, 0.0] for y in ys for x in (-0.1, 0.1)], np.float32)
    faces = np.array([[2 * r + a for a in tri] for r in range(4) for tri in ((0, 1, 3), (0, 3, 2))], np.uint32)
    j0 = np.zeros((10, 4)); w0 = np.zeros((10, 4))
    j1 = np.zeros((10, 4)); w1 = np.zeros((10, 4))
    for i, (_, y, _) in enumerate(pos):
        if y < 0.75:
            w0[i, 0] = 1.0
        elif y < 1.25:
            j0[i, 0], w0[i, 0] = 0, 0.25  # unnormalised: 0.25 + 0.25
            j1[i, 0], w1[i, 0] = 1, 0.25
        else:
            j0[i, 0], w0[i, 0] = 1, 1.0
    attrs = Attributes(POSITION=b.add(pos), JOINTS_0=b.add(j0, USHORT), WEIGHTS_0=b.add(w0))
    attrs.JOINTS_1, attrs.WEIGHTS_1 = b.add(j1, USHORT), b.add(w1)
    b.g.meshes.append(Mesh(primitives=[Primitive(attributes=attrs, indices=b.add(faces.ravel()[:, None], UINT))]))
    arm = b.node(name="Armature", translation=[0.0, 0.0, 3.0], children=[1])
    bone0 = b.node(root=False, name="bone0", children=[2])
    bone1 = b.node(root=False, name="bone1", translation=[0.0, 1.0, 0.0])
    ibm = np.stack([np.linalg.inv(m).T.ravel() for m in (
        np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1.0]]),
        np.array([[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 3], [0, 0, 0, 1.0]]))])
    b.g.skins.append(Skin(joints=[bone0, bone1], inverseBindMatrices=b.add(ibm, width=16), skeleton=arm))
    b.node(name="Body", mesh=0, skin=0, translation=list(mesh_offset))  # ignored for skinned meshes
    b.animate("Armature|Bend", [(bone1, "rotation", [0.0, 1.0], np.array([rot_z(0), rot_z(90)]), "LINEAR")])
    return b.save(tmp_path / "two_bone.glb"), pos


def test_two_bone_skin_matches_hand_computation(tmp_path):
    path, pos = two_bone_file(tmp_path)
    anim = sample_animation(path, "Bend", fps=1.0, frames=3)  # t = 0, 1, 2 (held)
    assert anim.vertices.shape == (3, 10, 3)
    np.testing.assert_allclose(anim.vertices[0], pos, atol=1e-6)  # bind pose, node offset ignored
    expect = pos.copy()
    for i, (x, y, _) in enumerate(pos):
        if y > 1.25:  # bone 1 only: (x, y) -> (1 - y, 1 + x)
            expect[i] = [1.0 - y, 1.0 + x, 0.0]
        elif y > 0.75:  # half of bone 0 (rest) and half of bone 1 (1 + x on y, -0 on x)
            expect[i] = [x / 2, 1.0 + x / 2, 0.0]
    np.testing.assert_allclose(anim.vertices[1], expect, atol=1e-6)
    np.testing.assert_allclose(anim.vertices[2], expect, atol=1e-6)  # held past the end


def test_morph_target_cube(tmp_path):
    b = Builder()
    cube = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], np.float32)
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.uint16)
    top = (cube[:, 1] == 1)
    t0 = np.where(top[:, None], [0.0, 0.5, 0.0], 0.0).astype(np.float32)  # raise the top
    # second target as a sparse accessor without a buffer view: push the x = 1 face out
    right = np.flatnonzero(cube[:, 0] == 1)
    sparse_acc = Accessor(componentType=FLOAT, count=8, type="VEC3", sparse=Sparse(
        count=len(right), indices=AccessorSparseIndices(bufferView=b.view(right.astype(np.uint16).tobytes()),
                                                        componentType=USHORT),
        values=AccessorSparseValues(bufferView=b.view(np.tile([0.3, 0, 0], (len(right), 1)).astype(
            np.float32).tobytes()))))
    b.g.accessors.append(sparse_acc)
    t1 = len(b.g.accessors) - 1
    prim = Primitive(attributes=Attributes(POSITION=b.add(cube)), indices=b.add(faces.ravel()[:, None], USHORT),
                     targets=[{"POSITION": b.add(t0)}, {"POSITION": t1}])
    b.g.meshes.append(Mesh(primitives=[prim], weights=[0.0, 1.0]))
    cube_node = b.node(name="Cube", mesh=0, translation=[0.0, 0.0, 2.0])
    b.animate("Morph", [(cube_node, "weights", [0.0, 1.0], np.array([0, 0, 1, 0.5], np.float32)[:, None],
                         "LINEAR")])
    path = b.save(tmp_path / "cube.glb")

    anim = sample_animation(path, "Morph", fps=2.0, frames=3)
    shift = np.array([0.0, 0.0, 2.0])
    right_delta = np.where((cube[:, 0] == 1)[:, None], [0.3, 0, 0], 0.0)
    for i, (w0, w1) in enumerate([(0, 0), (0.5, 0.25), (1, 0.5)]):
        np.testing.assert_allclose(anim.vertices[i], cube + w0 * t0 + w1 * right_delta + shift, atol=1e-6)
    # the mesh's default weights apply without an animation
    g = GltfFile(path)
    from meshflow.io.animation import AnimationSampler

    rest = AnimationSampler(g).evaluate(None, np.zeros(1))[0]
    np.testing.assert_allclose(rest, cube + right_delta + shift, atol=1e-6)


def rotating_triangle(tmp_path, keys, times, interp="LINEAR", path="rotation", name="Turn"):
    b = Builder()
    tri = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], np.float32)
    b.g.meshes.append(Mesh(primitives=[Primitive(attributes=Attributes(POSITION=b.add(tri)))]))
    node = b.node(name="Tri", mesh=0)
    b.animate(name, [(node, path, times, np.asarray(keys, np.float32), interp)])
    return b.save(tmp_path / "tri.glb")


def test_quaternion_through_180_degrees_takes_the_short_arc(tmp_path):
    # 0 -> 190 degrees about y: the short way round is -170 degrees, so halfway is -85
    half = np.deg2rad(190) / 2
    path = rotating_triangle(tmp_path, [[0, 0, 0, 1], [0, np.sin(half), 0, np.cos(half)]], [0.0, 1.0])
    anim = sample_animation(path, fps=2.0, frames=2)
    th = np.deg2rad(-85)
    np.testing.assert_allclose(anim.vertices[1, 0], [np.cos(th), 0, -np.sin(th)], atol=1e-5)
    # and the unit-level slerp agrees
    q = quat_slerp(np.array([[0, 0, 0, 1.0]]), np.array([[0, np.sin(half), 0, np.cos(half)]]), np.array([0.5]))
    np.testing.assert_allclose(quat_to_matrix(q)[0] @ [1, 0, 0], [np.cos(th), 0, -np.sin(th)], atol=1e-6)


def test_cubicspline_uses_tangents_scaled_by_the_interval(tmp_path):
    # keys at t = 0 and 2, both values 0; out-tangent (1, 0, 0), in-tangent (-1, 0, 0)
    keys = np.array([[0, 0, 0], [0, 0, 0], [1, 0, 0],
                     [-1, 0, 0], [0, 0, 0], [0, 0, 0]], np.float32)
    path = rotating_triangle(tmp_path, keys, [0.0, 2.0], interp="CUBICSPLINE", path="translation")
    anim = sample_animation(path, fps=2.0, frames=3)  # t = 0, 0.5, 1
    x = anim.vertices[:, 0, 0] - 1.0  # vertex 0 sits at x = 1
    np.testing.assert_allclose(x, [0.0, 0.375, 0.5], atol=1e-6)


def test_step_interpolation_and_clamping():
    ch = Channel(0, "translation", np.array([0.0, 1.0]), np.array([[0.0, 0, 0], [1.0, 0, 0]]), "STEP")
    out = interpolate(ch, np.array([-1.0, 0.0, 0.99, 1.0, 5.0]))
    np.testing.assert_allclose(out[:, 0], [0, 0, 0, 1, 1])
    ch = Channel(0, "translation", np.array([1.0, 2.0]), np.array([[0.0, 0, 0], [1.0, 0, 0]]), "LINEAR")
    np.testing.assert_allclose(interpolate(ch, np.array([0.0, 1.5, 3.0]))[:, 0], [0, 0.5, 1])


def test_list_clips_and_names(tmp_path):
    path, _ = two_bone_file(tmp_path)
    clips = list_clips(path)
    assert [(c.name, c.short_name) for c in clips] == [("Armature|Bend", "Bend")]
    assert clips[0].duration == pytest.approx(1.0)
    g = GltfFile(path)
    assert find_clip(g.clips, "Armature|Bend").name == "Armature|Bend"
    assert find_clip(g.clips, "bend").name == "Armature|Bend"
    with pytest.raises(MeshFileError, match=r"has no clip named 'Run' \(clips: 'Armature\|Bend'\)"):
        find_clip(g.clips, "Run", path)


def test_frame_times():
    np.testing.assert_allclose(frame_times(1.0, 4.0), [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(frame_times(1.0, 4.0, frames=2, start=0.5), [0.5, 0.75])
    with pytest.raises(ValueError, match="Expected 'fps' > 0"):
        frame_times(1.0, 0.0)


def test_accessor_strides_normalisation_and_matrix_padding(tmp_path):
    b = Builder()
    pos = np.arange(12, dtype=np.float32).reshape(4, 3)
    a_pos = b.add(pos, stride=16)
    a_u8 = b.add(np.array([[0], [255], [51]]), UBYTE, normalized=True)
    a_i8 = b.add(np.array([[-128], [-127], [127]]), BYTE, normalized=True)
    a_raw = b.add(np.array([[7], [8]]), USHORT)
    # MAT3 of unsigned bytes: every 3-byte column padded to 4 bytes
    cols = np.array([[1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0]], np.uint8)
    b.g.accessors.append(Accessor(bufferView=b.view(cols.tobytes()), componentType=UBYTE, count=1, type="MAT3"))
    a_mat = len(b.g.accessors) - 1
    g = GltfFile(b.save(tmp_path / "acc.glb"))
    np.testing.assert_array_equal(g.accessor(a_pos), pos)
    np.testing.assert_allclose(g.accessor(a_u8).ravel(), [0, 1, 0.2])
    np.testing.assert_allclose(g.accessor(a_i8).ravel(), [-1, -1, 1])
    assert g.accessor(a_raw).dtype == np.uint16
    np.testing.assert_array_equal(g.accessor(a_mat), [[1, 2, 3, 4, 5, 6, 7, 8, 9]])


def test_triangle_strips_and_fans():
    idx = np.arange(5)
    np.testing.assert_array_equal(_triangulate(idx, 5), [[0, 1, 2], [2, 1, 3], [2, 3, 4]])
    np.testing.assert_array_equal(_triangulate(idx, 6), [[1, 2, 0], [2, 3, 0], [3, 4, 0]])
    np.testing.assert_array_equal(_triangulate(np.arange(7), 4), [[0, 1, 2], [3, 4, 5]])


def test_draco_primitive_is_decoded(tmp_path):
    DracoPy = pytest.importorskip("DracoPy")
    from meshflow.data.shapes import icosphere

    v, f = icosphere(1)
    data = DracoPy.encode(v, f.astype(np.uint32), quantization_bits=16)
    b = Builder()
    bv = b.view(data)
    b.g.accessors.append(Accessor(componentType=FLOAT, count=len(v), type="VEC3", min=v.min(0).tolist(),
                                  max=v.max(0).tolist()))
    b.g.accessors.append(Accessor(componentType=UINT, count=f.size, type="SCALAR"))
    prim = Primitive(attributes=Attributes(POSITION=0), indices=1,
                     extensions={"KHR_draco_mesh_compression": {"bufferView": bv, "attributes": {"POSITION": 0}}})
    b.g.meshes.append(Mesh(primitives=[prim]))
    b.node(mesh=0)
    b.g.extensionsUsed = b.g.extensionsRequired = ["KHR_draco_mesh_compression"]
    anim = sample_animation(b.save(tmp_path / "draco.glb"), fps=1.0)
    from scipy.spatial import cKDTree

    # Draco may reorder vertices and rotate triangle corners: compare triangles by their centroids
    got, want = anim.vertices[0][anim.faces], v[f]  # (F, 3, 3)
    assert got.shape == want.shape
    d, match = cKDTree(got.mean(1)).query(want.mean(1))
    assert d.max() < 1e-3
    assert len(np.unique(match)) == len(f)
    d, _ = cKDTree(anim.vertices[0]).query(v)
    assert d.max() < 1e-3


def test_weld_animation_merges_only_vertices_that_move_together():
    v = np.zeros((2, 4, 3), np.float32)
    v[:, 1] = v[:, 0] = [1, 0, 0]  # together in both frames
    v[0, 2] = [0, 1, 0]
    v[0, 3] = [0, 1, 0]
    v[1, 3] = [0, 2, 0]  # same start as vertex 2, different path
    faces = np.array([[0, 2, 3], [1, 2, 3]])
    out, f, src = weld_animation(v, faces)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(src, [0, 0, 1, 2])
    np.testing.assert_array_equal(out[:, src], v)
    np.testing.assert_array_equal(f, [[0, 1, 2], [0, 1, 2]])  # remapped, none degenerate


@pytest.mark.parametrize("content, message", [
    (b"not a glb at all", "not a binary glTF file"),
    (b"glTF\x02\x00\x00\x00\xff\xff\x00\x00", "truncated binary glTF"),
])
def test_bad_files_are_refused_with_the_file_named(tmp_path, content, message):
    p = tmp_path / "bad.glb"
    p.write_bytes(content)
    with pytest.raises(MeshFileError, match=f"bad.glb: {message}"):
        sample_animation(p)


def test_missing_file_and_unsupported_extension(tmp_path):
    with pytest.raises(MeshFileError, match="nope.glb: no such file"):
        GltfFile(tmp_path / "nope.glb")
    b = Builder()
    b.g.meshes.append(Mesh(primitives=[Primitive(attributes=Attributes(POSITION=b.add(np.eye(3))))]))
    b.node(mesh=0)
    b.g.extensionsRequired = ["EXT_meshopt_compression"]
    with pytest.raises(MeshFileError, match="unsupported required extension"):
        GltfFile(b.save(tmp_path / "meshopt.glb"))


def test_external_buffer_gltf(tmp_path):
    path = rotating_triangle(tmp_path, [[0, 0, 0], [1, 0, 0]], [0.0, 1.0], path="translation")
    g = pygltflib.GLTF2().load(str(path))
    blob = g.binary_blob()
    (tmp_path / "tri.bin").write_bytes(blob)
    g.buffers[0].uri = "tri.bin"
    g.set_binary_blob(None) if hasattr(g, "set_binary_blob") else None
    g.save_json(str(tmp_path / "tri.gltf"))
    anim = sample_animation(tmp_path / "tri.gltf", fps=2.0, frames=3)
    np.testing.assert_allclose(anim.vertices[:, 0, 0], [1.0, 1.5, 2.0], atol=1e-6)


def test_several_primitives_and_instanced_meshes(tmp_path):
    b = Builder()
    tri = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    quad = np.array([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], np.float32)
    b.g.meshes.append(Mesh(primitives=[
        Primitive(attributes=Attributes(POSITION=b.add(tri))),
        Primitive(attributes=Attributes(POSITION=b.add(quad)), indices=b.add(np.array([[0], [1], [2], [3]]), USHORT),
                  mode=6),  # a fan
    ]))
    b.node(name="A", mesh=0)
    parent = b.node(name="Parent", translation=[10.0, 0.0, 0.0], children=[2])
    b.node(root=False, name="B", mesh=0, translation=[0.0, 5.0, 0.0])
    b.animate("Move", [(parent, "translation", [0.0, 1.0], np.array([[10, 0, 0], [20, 0, 0]], np.float32),
                        "LINEAR")])
    anim = sample_animation(b.save(tmp_path / "multi.glb"), fps=1.0)
    assert anim.vertices.shape == (2, 14, 3)
    np.testing.assert_array_equal(anim.faces, [[0, 1, 2], [4, 5, 3], [5, 6, 3],
                                               [7, 8, 9], [11, 12, 10], [12, 13, 10]])
    np.testing.assert_allclose(anim.vertices[:, :3], np.stack([tri, tri]))  # node A does not move
    np.testing.assert_allclose(anim.vertices[0, 7:10], tri + [10, 5, 0])  # B under its parent
    np.testing.assert_allclose(anim.vertices[1, 10:], quad + [20, 5, 0])
