
import re

import numpy as np
import pytest
import trimesh

from meshflow.errors import MeshFileError
from meshflow.data.graph import inspect_mesh, load_mesh
from meshflow.io import read_mesh
from meshflow.data.shapes import icosphere


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_quads_and_polygons_are_triangulated(tmp_path):
    p = write(tmp_path, "quad.obj", "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0.5 1.5 0\nf 1 2 3 4\nf 4 3 5\n")
    mesh = read_mesh(p)
    assert mesh.faces.shape == (3, 3)
    assert load_mesh(p).edge_index.size(1) == 2 * 7


def test_ply_quad_mesh_is_triangulated(tmp_path):
    p = write(tmp_path, "q.ply", "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
              "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
              "0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n")
    assert read_mesh(p).faces.shape == (2, 3)


@pytest.mark.parametrize("ext", [".stl", ".off", ".ply", ".glb", ".obj"])
def test_formats_round_trip_through_trimesh(tmp_path, ext):
    v, f = icosphere(1)
    path = tmp_path / f"ball{ext}"
    trimesh.Trimesh(v, f, process=False).export(path)
    data = load_mesh(path)
    assert data.num_nodes == 42 and data.face.size(1) == 80  # STL stores corners per face: welding restores 42


def test_degenerate_faces_dropped_with_count(tmp_path):
    p = write(tmp_path, "d.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 1 2\nf 2 2 3\n")
    with pytest.warns(UserWarning, match="dropped 2 degenerate face"):
        mesh = read_mesh(p)
    assert len(mesh.faces) == 1


def test_point_cloud_loads_without_edges(tmp_path):
    p = write(tmp_path, "pc.ply", "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
              "property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n")
    data = load_mesh(p)
    assert data.num_nodes == 3 and data.edge_index.shape == (2, 0)


def test_scene_parts_are_flattened_with_world_transforms(tmp_path):
    v, f = icosphere(0)
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.Trimesh(v, f, process=False), node_name="a")
    shift = np.eye(4)
    shift[:3, 3] = [10, 0, 0]
    scene.add_geometry(trimesh.Trimesh(v, f, process=False), node_name="b", transform=shift)
    path = tmp_path / "two.glb"
    scene.export(path)
    mesh = read_mesh(path)
    assert [p.name for p in mesh.parts] == ["a", "b"] and len(mesh.vertices) == 24
    np.testing.assert_allclose(mesh.vertices[12:], mesh.vertices[:12] + [10, 0, 0], atol=1e-5)
    np.testing.assert_array_equal(mesh.part_index, [0] * 12 + [1] * 12)
    assert inspect_mesh(path)["components"] == 2


# ---- bad input: one clear error naming the file ----
def test_missing_file(tmp_path):
    with pytest.raises(MeshFileError, match=r"nope\.obj: file not found"):
        read_mesh(tmp_path / "nope.obj")


def test_unknown_extension(tmp_path):
    p = write(tmp_path, "x.xyz", "1 2 3")
    with pytest.raises(MeshFileError, match=r"x\.xyz: unknown extension '\.xyz' \(expected one of \.glb"):
        read_mesh(p)


def test_directory_and_empty_file(tmp_path):
    (tmp_path / "d.obj").mkdir()
    with pytest.raises(MeshFileError, match="is a directory"):
        read_mesh(tmp_path / "d.obj")
    with pytest.raises(MeshFileError, match=r"e\.obj: file is empty"):
        read_mesh(write(tmp_path, "e.obj", ""))


def test_mesh_without_vertices(tmp_path):
    with pytest.raises(MeshFileError, match=r"c\.obj: contains no mesh vertices"):
        read_mesh(write(tmp_path, "c.obj", "# just a comment\n"))


def test_non_finite_coordinates(tmp_path):
    p = write(tmp_path, "n.obj", "v 0 0 0\nv nan 0 0\nv 0 1 0\nv inf 0 0\nf 1 2 3\nf 1 3 4\n")
    with pytest.raises(MeshFileError, match=r"n\.obj: 2 vertices have NaN or infinite coordinates"):
        read_mesh(p)


TRI = "v 0 0 0\nv 1 0 0\nv 0 1 0\n"
OFF3 = "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n"
BAD_TEXT = [  # (name, text, the error after "NAME: "): the file's own line and index, not numpy's words
    ("x.obj", TRI + "v 1 1 0\n# c\n\nf 1 2 3\nf 1 2 9\n",
     r"line 8: face index 9 is out of range \(the file has 4 vertices\)$"),
    ("x.obj", TRI + "f 1 2 -4\n", r"line 4: face index -4 is out of range \(3 vertices precede it\)"),
    ("x.obj", TRI + "f 0 1 2\n", r"line 4: face index 0 is not valid \(OBJ counts from 1\)"),
    ("x.obj", TRI + "vt 0 0\nf 1/1 2/1 3/2\n", r"line 5: texture index 2 is out of range \(the file has 1 texture"),
    ("x.obj", TRI + "vn 0 0 1\nf 1//1 2//1 3//3\n", r"line 5: normal index 3 is out of range \(the file has 1 normals"),
    ("x.obj", "v 0 0 0\nv 1 x 0\nv 0 1 0\nf 1 2 3\n", r"line 2: 'x' is not a number \(in 'v 1 x 0'\)"),
    ("x.obj", "v 0 0 0\nv 1 0\nv 0 1 0\nf 1 2 3\n", r"line 2: expected 'v x y z' with 3 numbers \(got 'v 1 0'\)"),
    ("x.obj", TRI + "f 1 2 a\n", r"line 4: 'a' is not a vertex index \(in 'f 1 2 a'\)"),
    ("x.obj", TRI + "f 1 2\n", r"line 4: a face needs at least 3 vertices \(got 2 in 'f 1 2'\)"),
    ("x.off", OFF3 + "3 0 1 7\n", r"line 6: face index 7 is out of range \(the file has 3 vertices, indexed from 0\)"),
    ("x.off", OFF3 + "3 0 1 -1\n", r"line 6: face index -1 is out of range \(the file has 3 vertices"),
    ("x.off", "OFF\n4 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n",
     r"line 2: the counts say 4 vertices and 1 faces, so 5 rows should follow \(got 4\)"),
    ("x.off", OFF3 + "3 0 1 2\n3 0 2 1\n",
     r"line 2: the counts say 3 vertices and 1 faces, so 4 rows should follow "
     r"\(got 5; the first extra one is line 7\)"),
    ("x.off", "OFF\n3 1 0\n0 0 0\n1 0\n0 1 0\n3 0 1 2\n", r"line 4: expected 'x y z' with 3 numbers \(got '1 0'\)"),
    ("x.off", "OFF\n3 1 0\n0 0 0\n1 y 0\n0 1 0\n3 0 1 2\n", r"line 4: 'y' is not a number"),
    ("x.off", OFF3 + "3 0 1\n", r"line 6: the face row counts 3 vertices but lists 2 \(in '3 0 1'\)"),
    ("x.off", OFF3 + "2 0 1\n", r"line 6: a face needs at least 3 vertices \(got 2 in '2 0 1'\)"),
    ("x.off", "OFF\n3 x 0\n", r"line 2: expected the counts 'vertices faces edges' \(got '3 x 0'\)"),
    ("x.off", "# made by hand\nMESH\n3 1 0\n", r"line 2: expected the 'OFF' keyword \(got 'MESH'\)"),
]


@pytest.mark.parametrize("name, text, problem", BAD_TEXT, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BAD_TEXT)])
def test_obj_and_off_errors_name_the_line(tmp_path, name, text, problem):
    with pytest.raises(MeshFileError, match=rf"^{re.escape(str(tmp_path / name))}: {problem}") as e:
        read_mesh(write(tmp_path, name, text))
    assert "\n" not in str(e.value) and "shape" not in str(e.value)


@pytest.mark.parametrize("name, text, faces", [
    ("ok.obj", TRI + "v 1 1 0\nf -4 -3 -2\nf 1/1 2/1 4/1\nvt 0 0\n", [[0, 1, 2], [0, 1, 3]]),  # relative, forward vt
    ("ok.obj", "v 0 0 0\nf 1 2 3\nv 1 0 \\\n 0\nv 0 1 0\n", [[0, 1, 2]]),  # forward index; continued line
    # counts on the header line, a comment after data, a blank line, a face colour
    ("ok.off", "OFF 3 1 0\n0 0 0 # a comment\n\n1 0 0\n0 1 0\n3 0 1 2 255 0 0\n", [[0, 1, 2]]),
])
def test_valid_obj_and_off_variants_still_load(tmp_path, name, text, faces):
    assert read_mesh(write(tmp_path, name, text)).faces.tolist() == faces


@pytest.mark.parametrize("name, text", [
    ("c.obj", "# head\nv 0 0 0 # a comment after data\nv 1 0 0\n# mid\nv 0 1 0\nf 1 2 3 # c\n"),  # trimesh refused
    ("c.off", "OFF\n3 1 0\n# c\n0 0 0\n\n1 0 0\n0 1 0\n3 0 1 2\n"),  # trimesh read the counts as a vertex
])
def test_comments_are_not_misread(tmp_path, name, text):
    mesh = read_mesh(write(tmp_path, name, text))
    assert mesh.vertices.tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0]] and mesh.faces.tolist() == [[0, 1, 2]]


def test_file_that_is_not_what_its_extension_says(tmp_path):
    with pytest.raises(MeshFileError, match=r"fake\.glb: not a valid binary glTF \(GLB\) file"):
        read_mesh(write(tmp_path, "fake.glb", "this is text, not a GLB"))
    with pytest.raises(MeshFileError, match=r"fake\.gltf: not a valid glTF JSON file"):
        read_mesh(write(tmp_path, "fake.gltf", "{not json"))
    (tmp_path / "bin.stl").write_bytes(b"\x00\x01garbage" * 3)
    with pytest.raises(MeshFileError, match=r"bin\.stl: (cannot be read as STL|contains no mesh vertices)"):
        read_mesh(tmp_path / "bin.stl")
