"""The input glTF scene behind an animated glTF output (:mod:`meshflow.io.export`).

:func:`source_slots` matches the parts of a :class:`~meshflow.io.mesh.MeshFile` read from a glTF
to the primitives of its scene (scene order, each moved by its node's rest world matrix, checked
against the part's vertices and faces); :func:`copy_scene` copies the input's images (the same
bytes and MIME type), samplers, textures, materials, cameras, nodes and scenes into the output, so
the exporter only adds the animated meshes where the input had them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import numpy as np
import pygltflib

from ..errors import MeshFileError
from .gltf import GltfFile
from .mesh import image_bytes, MeshFile, rest_world_matrices


@dataclass
class Slot:
    """Where a part sits in the input glTF: its node, that node's rest world matrix (4, 4), the
    primitive's faces over its own vertices and its material index."""

    node: int
    world: np.ndarray
    faces: np.ndarray
    material: Optional[int]


#: input extensions kept in the output (materials and textures, which are copied as they are).
KEPT_EXTENSIONS = ("KHR_materials_", "KHR_texture_", "EXT_texture_")
_VARIANTS = "KHR_materials_variants"  # its mappings live on the primitives, which are new


def source_slots(mesh: MeshFile) -> Optional[Tuple[GltfFile, List[Slot]]]:
    """``(GltfFile, [Slot per part])`` when ``mesh`` was read from a glTF whose triangle / point
    primitives, in scene order and moved by their nodes, are exactly its parts; else None."""
    if mesh.path.suffix.lower() not in (".glb", ".gltf") or not mesh.path.is_file():
        return None
    try:
        g = GltfFile(mesh.path)
        world = rest_world_matrices(g)
        slots = []
        for node in g.scene_nodes():
            index = g.gltf.nodes[node].mesh
            for p in [] if index is None else g.primitives(index, points=True):
                slots.append((node, p))
    except MeshFileError:
        return None
    if len(slots) != len(mesh.parts):
        return None
    out = []
    for part, (node, p) in zip(mesh.parts, slots):
        m = world[node]
        geom_faces = np.asarray(getattr(part.mesh, "faces", np.zeros((0, 3), dtype=np.int64)))
        if len(p.positions) != part.num_vertices or geom_faces.shape != p.faces.shape or abs(np.linalg.det(m)) < 1e-12:
            return None
        if not (np.array_equal(geom_faces, p.faces) or np.array_equal(geom_faces, p.faces[:, ::-1])):
            return None  # trimesh reverses the winding under a mirroring transform
        moved = p.positions @ m[:3, :3].T + m[:3, 3]
        scale = max(1.0, float(np.abs(moved).max())) if len(moved) else 1.0
        if not np.allclose(moved, part.mesh.vertices, rtol=0, atol=1e-4 * scale):
            return None
        out.append(Slot(node=node, world=m, faces=np.asarray(p.faces), material=p.material))
    return g, out


def copy_scene(gltf: pygltflib.GLTF2, g: GltfFile, view: Callable[[bytes], int]) -> None:
    """Copies the input's images (bytes and MIME type as they are, into the binary buffer), samplers,
    textures, materials, cameras, nodes (names, children, transforms; no meshes, skins or weights yet)
    and scenes into ``gltf``, with the texture and material extensions they use (``view`` stores
    bytes in the output's buffer and returns the new buffer view's index)."""
    src = g.gltf
    for image in src.images or []:
        data, mime = image_bytes(g, image)
        gltf.images.append(pygltflib.Image(name=image.name, mimeType=mime, bufferView=view(data),
                                           extras=copy.deepcopy(image.extras),
                                           extensions=copy.deepcopy(image.extensions)))
    for name in ("samplers", "textures", "materials", "cameras"):
        setattr(gltf, name, copy.deepcopy(getattr(src, name) or []))
    for node in src.nodes or []:
        node = copy.deepcopy(node)
        node.mesh = node.skin = node.weights = None
        node.extensions = {}
        gltf.nodes.append(node)
    roots = [i for i in range(g.num_nodes) if g.parents[i] < 0]
    gltf.scenes = copy.deepcopy(src.scenes) or [pygltflib.Scene(nodes=roots)]
    gltf.scene = src.scene if src.scene is not None else 0
    for key in ("extensionsUsed", "extensionsRequired"):
        kept = [e for e in getattr(src, key) or [] if e.startswith(KEPT_EXTENSIONS) and e != _VARIANTS]
        setattr(gltf, key, kept)


__all__ = ["KEPT_EXTENSIONS", "Slot", "copy_scene", "source_slots"]
