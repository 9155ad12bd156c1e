
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


def test_face_index_out_of_range(tmp_path):
    p = write(tmp_path, "o.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")
    with pytest.raises(MeshFileError, match=r"o\.off: (face indices out of range|cannot be read)"):
        read_mesh(p)


def test_file_that_is_not_what_its_extension_says(tmp_path):
    with pytest.raises(MeshFileError, match=r"fake\.glb: not a valid binary glTF \(GLB\) file"):
        read_mesh(write(tmp_path, "fake.glb", "this is text, not a GLB"))
    with pytest.raises(MeshFileError, match=r"fake\.gltf: not a valid glTF JSON file"):
        read_mesh(write(tmp_path, "fake.gltf", "{not json"))
    (tmp_path / "bin.stl").write_bytes(b"\x00\x01garbage" * 3)
    with pytest.raises(MeshFileError, match=r"bin\.stl: (cannot be read as STL|contains no mesh vertices)"):
        read_mesh(tmp_path / "bin.stl")
