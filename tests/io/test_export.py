"""Animated glTF/GLB, NPZ and OBJ-sequence writers (meshflow.io.export), through meshflow.io.save_animation."""
import base64
import io
import os
import struct
import types

import numpy as np
import pygltflib
import pytest
import trimesh
from PIL import Image

from meshflow.data.graph import file_graph
from meshflow.errors import MeshFileError, MeshflowError
from meshflow.io import Animation, load_animation, read_mesh, save_animation
from meshflow.io import export
from meshflow.io.export import output_format


def save(path, mesh, vertices, fps=24.0, loop=False, prompt="", normals=True):
    """Writes per-file-vertex ``vertices`` on the scene ``mesh`` as the pipeline's Animation.save does."""
    anim = Animation(vertices, mesh.faces, fps=fps, prompt=prompt, mesh=mesh, loop=loop)
    return save_animation(path, anim, normals=normals)


def textured_scene(path):
    """Two parts: a cube split at every face (UV seams) with a texture, a transformed ball with a PBR colour."""
    rng = np.random.default_rng(1)
    box = trimesh.creation.box()
    box.unmerge_vertices()  # 36 file vertices, 8 positions
    image = Image.fromarray((rng.random((4, 4, 3)) * 255).astype(np.uint8))
    box.visual = trimesh.visual.TextureVisuals(uv=rng.random((len(box.vertices), 2)), image=image)
    ball = trimesh.creation.icosphere(1)
    ball.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.PBRMaterial(
        baseColorFactor=[200, 30, 40, 255], metallicFactor=0.1, roughnessFactor=0.7))
    transform = trimesh.transformations.rotation_matrix(0.5, [0, 1, 0])
    transform[:3, 3] = [2.0, 0.0, 0.0]
    scene = trimesh.Scene()
    scene.add_geometry(box, node_name="box", geom_name="box")
    scene.add_geometry(ball, node_name="ball", geom_name="ball", transform=transform)
    scene.export(str(path))
    return path


def pipeline_like_vertices(mesh, frames=6, seed=0):
    """Per-welded-vertex random motion mapped to every file vertex, as the pipeline does (T, N_file, 3)."""
    graph = file_graph(mesh)
    rng = np.random.default_rng(seed)
    pos = graph.pos.numpy()[None] + 0.1 * rng.standard_normal((frames, graph.num_nodes, 3)).astype(np.float32)
    world = pos * graph.scale.numpy() + graph.center.numpy()
    return world[:, graph.source_index.numpy()].astype(np.float32)


def node_world(gltf, index):
    """Rest world matrix (4, 4) of a node: its parents' local matrices (``matrix`` or T @ R @ S) times its own."""
    parents = {c: i for i, n in enumerate(gltf.nodes) for c in n.children or []}
    world = np.eye(4)
    while index is not None:
        node = gltf.nodes[index]
        if node.matrix is not None:
            local = np.array(node.matrix, dtype=np.float64).reshape(4, 4).T  # column-major
        else:
            x, y, z, w = node.rotation or (0.0, 0.0, 0.0, 1.0)
            local = trimesh.transformations.quaternion_matrix([w, x, y, z])
            local[:3, :3] = local[:3, :3] * np.array(node.scale or (1.0, 1.0, 1.0))[None, :]
            local[:3, 3] = node.translation or (0.0, 0.0, 0.0)
        world = local @ world
        index = parents.get(index)
    return world


def accessor(gltf, blob, index):
    """Plain reading of a tightly packed accessor (what meshflow writes)."""
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc.type]
    dtype = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}[acc.componentType]
    data = np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=view.byteOffset + (acc.byteOffset or 0))
    return data.reshape(acc.count, width) if width > 1 else data


@pytest.fixture
def scene_file(tmp_path):
    return textured_scene(tmp_path / "scene.glb")


@pytest.mark.parametrize("loop", [False, True])
def test_glb_structure_and_frames(scene_file, tmp_path, loop):
    mesh = read_mesh(scene_file)
    assert len(file_graph(mesh).pos) < len(mesh.vertices)  # the cube is split at UV seams
    T, fps = 6, 12.0
    v = pipeline_like_vertices(mesh, T)
    out = save(tmp_path / "anim.glb", mesh, v, fps=fps, loop=loop, prompt="it wobbles")

    raw = out.read_bytes()
    magic, version, length = struct.unpack("<4sII", raw[:12])
    assert (magic, version, length) == (b"glTF", 2, len(raw))
    gltf = pygltflib.GLTF2.load_from_bytes(raw)
    blob = gltf.binary_blob()
    assert gltf.buffers[0].byteLength == len(blob) or gltf.buffers[0].byteLength + 3 >= len(blob)
    for view in gltf.bufferViews:
        assert view.byteOffset + view.byteLength <= gltf.buffers[0].byteLength
    for acc in gltf.accessors:
        assert acc.bufferView is not None and acc.bufferView < len(gltf.bufferViews)

    # Every primitive has T morph targets (POSITION with min/max), the mesh T default weights.
    mesh_nodes = [i for i, n in enumerate(gltf.nodes) if n.mesh is not None]
    assert len(mesh_nodes) == len(mesh.parts)
    src = pygltflib.GLTF2().load(str(scene_file))
    positions = []
    for i in mesh_nodes:
        gmesh = gltf.meshes[gltf.nodes[i].mesh]
        assert gmesh.weights == [1.0] + [0.0] * (T - 1)
        assert gmesh.extras["targetNames"] == [f"frame_{t:04d}" for t in range(T)]
        assert gltf.nodes[i].name == src.nodes[i].name and gltf.nodes[i].matrix == src.nodes[i].matrix
        world = node_world(gltf, i)  # the input's node transforms are kept: targets are in local space
        for prim in gmesh.primitives:
            assert len(prim.targets) == T
            base = accessor(gltf, blob, prim.attributes.POSITION)
            frames = []
            for target in prim.targets:
                index = target["POSITION"] if isinstance(target, dict) else target.POSITION
                acc = gltf.accessors[index]
                delta = accessor(gltf, blob, index)
                assert acc.count == len(base) and acc.type == "VEC3"
                np.testing.assert_allclose(acc.min, delta.min(axis=0), rtol=0, atol=0)
                np.testing.assert_allclose(acc.max, delta.max(axis=0), rtol=0, atol=0)
                frames.append((base + delta) @ world[:3, :3].T + world[:3, 3])
            positions.append(np.stack(frames))
    # Frame t (weight 1 on target t) is the trajectory at t, for every file vertex (seams included).
    np.testing.assert_allclose(np.concatenate(positions, axis=1), v, atol=1e-5)

    # One animation: T (or T + 1 closing) keyframes at t / fps, weights one-hot, one channel per mesh node.
    assert len(gltf.animations) == 1
    anim = gltf.animations[0]
    keys = T + 1 if loop else T
    sampler = anim.samplers[0]
    assert sampler.interpolation == "LINEAR"
    np.testing.assert_allclose(accessor(gltf, blob, sampler.input), np.arange(keys) / fps, rtol=1e-6)
    weights = accessor(gltf, blob, sampler.output).reshape(keys, T)
    np.testing.assert_array_equal(weights[:T], np.eye(T))
    if loop:
        np.testing.assert_array_equal(weights[T], np.eye(T)[0])
    assert sorted(c.target.node for c in anim.channels) == mesh_nodes
    assert all(c.target.path == "weights" for c in anim.channels)

    # Reading back gives the T frames and the prompt.
    back = load_animation(out)
    assert back.num_frames == T and back.fps == fps and back.prompt == "it wobbles"
    np.testing.assert_allclose(back.vertices, v, atol=1e-5)
    np.testing.assert_array_equal(back.faces, mesh.faces)


def test_glb_keeps_materials_and_uvs(scene_file, tmp_path):
    mesh = read_mesh(scene_file)
    out = save(tmp_path / "anim.glb", mesh, pipeline_like_vertices(mesh))
    src = pygltflib.GLTF2().load(str(scene_file))
    dst = pygltflib.GLTF2().load(str(out))
    assert [m.to_dict() for m in dst.materials] == [m.to_dict() for m in src.materials]
    assert len(dst.images) == len(src.images) == 1

    loaded = trimesh.load(str(out), force="scene", process=False)
    assert list(loaded.geometry) == ["box", "ball"]
    for part in mesh.parts:
        geom = loaded.geometry[part.name].copy()
        geom.apply_transform(loaded.graph[part.name][0])  # the input's node transform, kept
        assert len(geom.vertices) == part.num_vertices
        np.testing.assert_allclose(geom.vertices, part.mesh.vertices, atol=1e-6)  # the rest pose
        np.testing.assert_array_equal(geom.faces, part.mesh.faces)
        if getattr(part.mesh.visual, "uv", None) is not None:
            np.testing.assert_allclose(geom.visual.uv, part.mesh.visual.uv, atol=1e-7)
            a = np.asarray(geom.visual.material.baseColorTexture.convert("RGB"))
            b = np.asarray(part.mesh.visual.material.baseColorTexture.convert("RGB"))
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_array_equal(geom.visual.material.baseColorFactor,
                                          part.mesh.visual.material.baseColorFactor)


def test_glb_spot_uvs(shared, tmp_path):
    mesh = read_mesh(shared("data", "static", "spot.obj"))
    v = pipeline_like_vertices(mesh, 4)
    out = save(tmp_path / "spot.glb", mesh, v)
    loaded = trimesh.load(str(out), force="scene", process=False)
    (geom,) = loaded.geometry.values()
    np.testing.assert_allclose(geom.visual.uv, mesh.parts[0].mesh.visual.uv, atol=1e-7)
    np.testing.assert_allclose(load_animation(out).vertices, v, atol=1e-5)


@pytest.mark.parametrize("uv, written", [
    ([[0.25, 0.0], [1.0, 0.75], [0.5, 0.5]], [[0.25, 1.0], [1.0, 0.25], [0.5, 0.5]]),
    ([[0.25, 0.0, 9.0], [1.0, 0.75, 9.0], [0.5, 0.5, 9.0]], [[0.25, 1.0], [1.0, 0.25], [0.5, 0.5]]),  # (u, v, w)
    ([[0.25, 0.0], [1.0, 0.75]], None),  # not one per vertex
    (None, None),
])
def test_texcoords_are_the_uvs_with_v_flipped(uv, written):
    """The one TEXCOORD_0 writer of both material cases (the input glTF's material, a part's own): (u, 1 - v)
    as float32, none where the part has no UV for each of its vertices."""
    doc, attributes = export._Document(), pygltflib.Attributes()
    export._add_texcoords(doc, attributes, types.SimpleNamespace(uv=None if uv is None else np.array(uv)), 3)
    if written is None:
        assert attributes.TEXCOORD_0 is None and doc.gltf.accessors == []
        return
    accessor = doc.gltf.accessors[attributes.TEXCOORD_0]
    view = doc.gltf.bufferViews[accessor.bufferView]
    data = b"".join(doc.blob.chunks)[view.byteOffset:view.byteOffset + view.byteLength]
    assert accessor.type == "VEC2" and accessor.count == 3
    np.testing.assert_array_equal(np.frombuffer(data, dtype=np.float32).reshape(3, 2),
                                  np.array(written, dtype=np.float32))


def test_gltf_json_and_normals(scene_file, tmp_path):
    mesh = read_mesh(scene_file)
    v = pipeline_like_vertices(mesh, 3)
    out = save(tmp_path / "anim.gltf", mesh, v)
    gltf = pygltflib.GLTF2().load(str(out))
    assert gltf.buffers[0].uri.startswith("data:application/octet-stream;base64,")
    prim = gltf.meshes[0].primitives[0]
    assert prim.attributes.NORMAL is not None
    assert all((t.get("NORMAL") if isinstance(t, dict) else t.NORMAL) is not None for t in prim.targets)
    np.testing.assert_allclose(load_animation(out).vertices, v, atol=1e-5)

    plain = save(tmp_path / "plain.glb", mesh, v, normals=False)
    prim = pygltflib.GLTF2().load(str(plain)).meshes[0].primitives[0]
    assert all((t.get("NORMAL") if isinstance(t, dict) else t.NORMAL) is None for t in prim.targets)


def test_point_cloud_glb(tmp_path):
    points = np.random.default_rng(0).random((50, 3)).astype(np.float32)
    trimesh.PointCloud(points).export(str(tmp_path / "cloud.ply"))
    mesh = read_mesh(tmp_path / "cloud.ply")
    assert len(mesh.faces) == 0
    v = np.stack([mesh.vertices + 0.01 * t for t in range(4)])
    out = save(tmp_path / "cloud.glb", mesh, v)
    gltf = pygltflib.GLTF2().load(str(out))
    assert gltf.meshes[0].primitives[0].mode == 0  # POINTS
    back = load_animation(out)
    np.testing.assert_allclose(back.vertices, v, atol=1e-6)
    assert back.faces.shape == (0, 3)


def test_npz_round_trip(scene_file, tmp_path):
    mesh = read_mesh(scene_file)
    v = pipeline_like_vertices(mesh)
    out = save(tmp_path / "anim.npz", mesh, v, fps=30, prompt="a ball rolls")
    assert out == tmp_path / "anim.npz" and sorted(os.listdir(tmp_path)) == ["anim.npz", "scene.glb"]
    back = load_animation(out)
    np.testing.assert_array_equal(back.vertices, v)
    np.testing.assert_array_equal(back.faces, mesh.faces)
    assert back.fps == 30 and back.prompt == "a ball rolls"
    from meshflow.io.dymesh import load_npz_animation  # the data tools read it too

    assert load_npz_animation(out)["caption"] == "a ball rolls"


def test_obj_sequence_round_trip(scene_file, tmp_path):
    mesh = read_mesh(scene_file)
    v = pipeline_like_vertices(mesh, 3)
    folder = save(str(tmp_path / "seq") + "/", mesh, v)
    files = sorted(os.listdir(folder))
    assert [f for f in files if f.endswith(".obj")] == ["frame_0000.obj", "frame_0001.obj", "frame_0002.obj"]
    assert "material.mtl" in files and any(f.endswith(".png") for f in files)
    uvs = np.concatenate([p.mesh.visual.uv for p in mesh.parts if getattr(p.mesh.visual, "uv", None) is not None])
    for t in range(3):
        obj = parse_obj(folder / f"frame_{t:04d}.obj")
        assert obj["o"] == [p.name for p in mesh.parts]
        np.testing.assert_allclose(obj["v"], v[t], atol=1e-5)  # every file vertex, in order
        np.testing.assert_array_equal(obj["f"], mesh.faces)
        np.testing.assert_allclose(obj["vt"], uvs, atol=1e-7)


def test_obj_sequence_reads_back(shared, tmp_path):
    mesh = read_mesh(shared("data", "static", "spot.obj"))
    v = pipeline_like_vertices(mesh, 2)
    folder = save(str(tmp_path / "spot") + "/", mesh, v)
    frame = read_mesh(folder / "frame_0001.obj")
    np.testing.assert_allclose(frame.vertices, v[1], atol=1e-5)
    np.testing.assert_array_equal(frame.faces, mesh.faces)
    np.testing.assert_allclose(frame.parts[0].mesh.visual.uv, mesh.parts[0].mesh.visual.uv, atol=1e-7)


def parse_obj(path):
    """Objects, vertices, UVs and (vertex-index) faces of an OBJ file, in file order."""
    out = {"o": [], "v": [], "vt": [], "f": []}
    for line in path.read_text().splitlines():
        key, *rest = line.split() or [""]
        if key == "o":
            out["o"].append(rest[0])
        elif key in ("v", "vt"):
            out[key].append([float(x) for x in rest])
        elif key == "f":
            out["f"].append([int(x.split("/")[0]) - 1 for x in rest])
    return {k: (np.array(x) if k != "o" else x) for k, x in out.items()}


def test_output_format():
    assert output_format("a.GLB") == "glb" and output_format("a.gltf") == "gltf"
    assert output_format("x.npz") == "npz" and output_format("frames/") == "obj"
    with pytest.raises(MeshflowError, match=r"unknown output type '\.fbx'"):
        output_format("cow.fbx")


def test_failed_write_leaves_nothing(scene_file, tmp_path, monkeypatch):
    mesh = read_mesh(scene_file)
    with pytest.raises(ValueError, match=r"Expected 'vertices' to have shape \(T, 78, 3\)"):
        save(tmp_path / "bad.glb", mesh, np.zeros((2, 5, 3)))

    def broken(fh, gltf, blob):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(export, "_write_glb", broken)
    with pytest.raises(OSError, match="disk full"):
        save(tmp_path / "anim.glb", mesh, pipeline_like_vertices(mesh))
    assert sorted(os.listdir(tmp_path)) == ["scene.glb"]


@pytest.mark.filterwarnings("ignore:pygltflib does not support")
def test_read_animation_errors(tmp_path):
    with pytest.raises(MeshFileError, match="file not found"):
        load_animation(tmp_path / "missing.glb")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(MeshFileError, match=r"unknown animation type '\.txt'"):
        load_animation(tmp_path / "a.txt")
    (tmp_path / "a.npz").write_text("not a zip")
    with pytest.raises(MeshFileError, match=r"a\.npz: (not a readable npz|refused to load)"):
        load_animation(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", faces=np.zeros((1, 3)))
    with pytest.raises(MeshFileError, match="missing key.s. vertices"):
        load_animation(tmp_path / "b.npz")
    (tmp_path / "c.glb").write_bytes(b"glTF garbage")
    with pytest.raises(MeshFileError, match="not a readable glTF file"):
        load_animation(tmp_path / "c.glb")


def test_normals_unit_hard_edges_smooth_seams(scene_file, shared, tmp_path):
    # The cube is split at every face: hard edges, so each corner copy keeps its face's normal.
    mesh = read_mesh(scene_file)
    out = save(tmp_path / "scene.glb", mesh, pipeline_like_vertices(mesh, 2))
    gltf = pygltflib.GLTF2().load(str(out))
    blob = gltf.binary_blob()
    box = accessor(gltf, blob, gltf.meshes[0].primitives[0].attributes.NORMAL)
    np.testing.assert_allclose(np.linalg.norm(box, axis=1), 1, atol=1e-6)
    assert np.allclose(np.abs(box).max(axis=1), 1, atol=1e-6)  # axis-aligned: face normals of the cube

    # A two-sided sheet (front and back faces on the same positions) keeps unit normals.
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float64)
    trimesh.Trimesh(v, [[0, 1, 2], [3, 5, 4]], process=False).export(tmp_path / "sheet.ply")
    sheet = read_mesh(tmp_path / "sheet.ply")
    out = save(tmp_path / "sheet.glb", sheet, np.stack([sheet.vertices] * 2))
    gltf = pygltflib.GLTF2().load(str(out))
    n = accessor(gltf, gltf.binary_blob(), gltf.meshes[0].primitives[0].attributes.NORMAL)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1, atol=1e-6)

    # Spot is split at UV seams only: both copies of a seam vertex get the same (smooth) normal.
    spot = read_mesh(shared("data", "static", "spot.obj"))
    out = save(tmp_path / "spot.glb", spot, np.stack([spot.vertices] * 2))
    gltf = pygltflib.GLTF2().load(str(out))
    n = accessor(gltf, gltf.binary_blob(), gltf.meshes[0].primitives[0].attributes.NORMAL)
    src = file_graph(spot).source_index.numpy()
    first = np.zeros(src.max() + 1, dtype=np.int64)
    first[src[::-1]] = np.arange(len(src))[::-1]
    np.testing.assert_allclose(n, n[first[src]], atol=1e-6)


def nested_scene(path, image_format="JPEG"):
    """A parent node (moved and turned) over two mesh nodes: a crate (non-uniform scale, JPEG or PNG texture,
    a sampler with non-default filters and wraps) and an orb (translated, plain colour). A ``.gltf`` path
    keeps a PNG as a file beside it and a JPEG as a data URI, a ``.glb`` either in a buffer view. Returns the path and image bytes."""
    rng = np.random.default_rng(0)
    box = trimesh.creation.box()
    box.unmerge_vertices()
    ball = trimesh.creation.icosphere(1)
    buf, views, accessors = bytearray(), [], []

    def add(data, target=None):
        buf.extend(b"\x00" * ((-len(buf)) % 4))
        views.append(pygltflib.BufferView(buffer=0, byteOffset=len(buf), byteLength=len(data), target=target))
        buf.extend(data)
        return len(views) - 1

    def add_accessor(array, type_, target):
        array = np.ascontiguousarray(array)
        acc = pygltflib.Accessor(bufferView=add(array.tobytes(), target), count=len(array), type=type_,
                                 componentType=5126 if array.dtype == np.float32 else 5125)
        if type_ == "VEC3":
            acc.min, acc.max = array.min(0).tolist(), array.max(0).tolist()
        accessors.append(acc)
        return len(accessors) - 1

    with io.BytesIO() as fh:
        Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8)).save(fh, format=image_format)
        data = fh.getvalue()
    mime = f"image/{image_format.lower()}"
    if path.suffix == ".gltf" and image_format == "JPEG":  # a data URI, the MIME type only in it
        image = pygltflib.Image(uri=f"data:{mime};base64," + base64.b64encode(data).decode("ascii"))
    elif path.suffix == ".gltf":
        (path.parent / f"tex.{image_format.lower()}").write_bytes(data)
        image = pygltflib.Image(uri=f"tex.{image_format.lower()}", mimeType=mime)
    else:
        image = pygltflib.Image(bufferView=add(data), mimeType=mime)
    primitives = []
    for i, geom in enumerate((box, ball)):
        attributes = pygltflib.Attributes(POSITION=add_accessor(geom.vertices.astype(np.float32), "VEC3", 34962))
        if i == 0:
            attributes.TEXCOORD_0 = add_accessor(rng.random((len(geom.vertices), 2)).astype(np.float32), "VEC2", 34962)
        indices = add_accessor(geom.faces.astype(np.uint32).reshape(-1), "SCALAR", 34963)
        primitives.append(pygltflib.Primitive(attributes=attributes, indices=indices, material=i))
    texture = pygltflib.TextureInfo(index=0)
    gltf = pygltflib.GLTF2(
        asset=pygltflib.Asset(version="2.0"), scene=0, scenes=[pygltflib.Scene(name="main", nodes=[0])],
        nodes=[pygltflib.Node(name="root", children=[1, 2], translation=[1.0, 2.0, 3.0],
                              rotation=[0.0, 0.3826834, 0.0, 0.9238795]),
               pygltflib.Node(name="crate", mesh=0, scale=[2.0, 1.0, 0.5]),
               pygltflib.Node(name="orb", mesh=1, translation=[3.0, 0.0, 0.0])],
        meshes=[pygltflib.Mesh(name="crate_mesh", primitives=[primitives[0]]),
                pygltflib.Mesh(name="orb_mesh", primitives=[primitives[1]])],
        materials=[pygltflib.Material(name="wood", pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
                       baseColorTexture=texture, metallicFactor=0.0)),
                   pygltflib.Material(name="red", pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
                       baseColorFactor=[0.8, 0.1, 0.1, 1.0]))],
        textures=[pygltflib.Texture(sampler=0, source=0)],
        samplers=[pygltflib.Sampler(magFilter=9728, minFilter=9984, wrapS=33071, wrapT=33648)],
        images=[image], accessors=accessors, bufferViews=views, buffers=[pygltflib.Buffer(byteLength=len(buf))])
    gltf.set_binary_blob(bytes(buf))
    if path.suffix == ".gltf":
        gltf.convert_buffers(pygltflib.BufferFormat.DATAURI)
        gltf.save(str(path))
    else:
        gltf.save_binary(str(path))
    return path, data


def wobble(mesh, frames=4, seed=0):
    rng = np.random.default_rng(seed)
    return (mesh.vertices[None] + 0.05 * rng.standard_normal((frames,) + mesh.vertices.shape)).astype(np.float32)


@pytest.mark.parametrize("name,image_format", [("in.glb", "JPEG"), ("in.glb", "PNG"), ("in.gltf", "PNG"),
                                                  ("in.gltf", "JPEG")])
@pytest.mark.parametrize("out_name", ["out.glb", "out.gltf"])
def test_glb_keeps_input_scene(tmp_path, name, image_format, out_name):
    path, image = nested_scene(tmp_path / name, image_format)
    mesh = read_mesh(path)
    v = wobble(mesh)
    out = save(tmp_path / out_name, mesh, v, fps=10.0)
    src, dst = pygltflib.GLTF2().load(str(path)), pygltflib.GLTF2().load(str(out))
    for gltf in (src, dst):
        gltf.convert_buffers(pygltflib.BufferFormat.BINARYBLOB)  # a .gltf's data URI as the blob

    # Images byte for byte with their MIME type (in the output's buffer), samplers, textures, materials.
    assert len(dst.images) == 1 and dst.images[0].mimeType == f"image/{image_format.lower()}"
    view = dst.bufferViews[dst.images[0].bufferView]
    assert dst.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength] == image
    for key in ("samplers", "textures", "materials"):
        assert [x.to_dict() for x in getattr(dst, key)] == [x.to_dict() for x in getattr(src, key)]
    assert dst.samplers[0].magFilter == 9728 and dst.samplers[0].wrapT == 33648

    # The hierarchy, names and transforms; the meshes where they were, in the nodes' local space.
    assert dst.scene == 0 and [s.nodes for s in dst.scenes] == [[0]] and dst.scenes[0].name == "main"
    for a, b in zip(dst.nodes, src.nodes):
        assert (a.name, a.children, a.translation, a.rotation, a.scale, a.matrix) == \
            (b.name, b.children, b.translation, b.rotation, b.scale, b.matrix)
        assert (a.mesh is None) == (b.mesh is None)
    assert [dst.meshes[n.mesh].name for n in dst.nodes if n.mesh is not None] == ["crate_mesh", "orb_mesh"]
    blob = dst.binary_blob()
    for i, part in zip((1, 2), mesh.parts):
        prim = dst.meshes[dst.nodes[i].mesh].primitives[0]
        world = node_world(dst, i)
        base = accessor(dst, blob, prim.attributes.POSITION)
        source = src.meshes[i - 1].primitives[0].attributes.POSITION
        np.testing.assert_allclose(base, accessor(src, src.binary_blob(), source), atol=1e-5)
        np.testing.assert_allclose(base @ world[:3, :3].T + world[:3, 3], part.mesh.vertices, atol=1e-5)
        assert prim.material == i - 1

        # Normal targets: the local rest normal plus its delta is frame t's world normal seen from the node.
        surface = export._SurfaceNormals(mesh)
        rest_n = accessor(dst, blob, prim.attributes.NORMAL)
        for t, target in enumerate(prim.targets):
            local = rest_n + accessor(dst, blob, target["NORMAL"])
            world_n = local @ np.linalg.inv(world[:3, :3])
            world_n /= np.linalg.norm(world_n, axis=1, keepdims=True)
            np.testing.assert_allclose(world_n, surface(v[t])[part.start:part.start + part.num_vertices], atol=1e-4)

    back = load_animation(out)
    np.testing.assert_allclose(back.vertices, v, atol=1e-5)
    np.testing.assert_array_equal(back.faces, mesh.faces)
    assert back.fps == 10.0 and back.num_frames == 4


def test_glb_flatten_and_non_gltf_inputs(tmp_path, shared):
    path, _ = nested_scene(tmp_path / "in.glb")
    mesh = read_mesh(path)
    v = wobble(mesh, 3)
    out = export.write_gltf(tmp_path / "flat.glb", mesh, v, flatten=True)
    gltf = pygltflib.GLTF2().load(str(out))
    assert [(n.name, n.mesh, n.translation, n.rotation, n.scale, n.children) for n in gltf.nodes] == \
        [("crate", 0, None, None, None, []), ("orb", 1, None, None, None, [])]
    np.testing.assert_allclose(load_animation(out).vertices, v, atol=1e-5)

    # An OBJ input keeps today's scene: one world-space node per part.
    spot = read_mesh(shared("data", "static", "spot.obj"))
    out = save(tmp_path / "spot.glb", spot, wobble(spot, 2))
    gltf = pygltflib.GLTF2().load(str(out))
    assert len(gltf.nodes) == 1 and gltf.nodes[0].mesh == 0 and gltf.nodes[0].translation is None


def test_glb_scene_not_matching_parts_is_flattened(tmp_path):
    # A mesh whose parts do not match the file's primitives (another scene's parts) writes the flat scene.
    path, _ = nested_scene(tmp_path / "in.glb")
    mesh = read_mesh(path)
    mesh.parts[1].mesh.vertices = mesh.parts[1].mesh.vertices + 1.0
    assert export.source_slots(mesh) is None
    gltf, _ = export.gltf_document(mesh, wobble(mesh, 2))
    assert [n.name for n in gltf.nodes] == ["crate", "orb"] and all(n.mesh is not None for n in gltf.nodes)
