"""The project's own example meshes, built from primitives (no external assets).

Each builder returns a :class:`trimesh.Scene` of a few coloured parts (PBR
base colours), y up, standing on y = 0 and facing +z, with a few thousand
vertices: small enough to animate in seconds on a CPU. ``scripts/make_examples.py``
writes them to ``graphs/examples/*.glb``.
"""
from __future__ import annotations

from typing import Callable, Dict

import numpy as np
import trimesh
from trimesh.visual.material import PBRMaterial


def _part(mesh: trimesh.Trimesh, rgba, matrix=None) -> trimesh.Trimesh:
    mesh = mesh.copy()
    if matrix is not None:
        mesh.apply_transform(matrix)
    # UVs from a spherical projection so the parts carry texture coordinates like real assets.
    d = mesh.vertices - mesh.vertices.mean(axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
    uv = np.stack([0.5 + np.arctan2(d[:, 0], d[:, 2]) / (2 * np.pi), 0.5 + np.arcsin(np.clip(d[:, 1], -1, 1)) / np.pi], 1)
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=PBRMaterial(baseColorFactor=rgba, roughnessFactor=0.8))
    return mesh


def _upright(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """trimesh builds cylinders and cones along +z; turn them to +y (up)."""
    return mesh.copy().apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))


def _cylinder(radius, height, sections):
    return _upright(trimesh.creation.cylinder(radius=radius, height=height, sections=sections))


def _cone(radius, height, sections):
    return _upright(trimesh.creation.cone(radius=radius, height=height, sections=sections))


def _tf(translate=(0, 0, 0), scale=(1, 1, 1), rotate=None):
    m = np.diag([*scale, 1.0])
    if rotate is not None:
        axis, angle = rotate
        m = trimesh.transformations.rotation_matrix(np.radians(angle), axis) @ m
    m[:3, 3] = translate
    return m


def _scene(parts: Dict[str, trimesh.Trimesh]) -> trimesh.Scene:
    scene = trimesh.Scene()
    for name, mesh in parts.items():
        scene.add_geometry(mesh, node_name=name, geom_name=name)
    return scene


def quadruped() -> trimesh.Scene:
    """A low-poly four-legged animal: body, neck, head, ears, four legs, tail."""
    fur, dark = (0.72, 0.52, 0.33, 1.0), (0.35, 0.24, 0.16, 1.0)
    sphere = trimesh.creation.icosphere(subdivisions=3)
    leg = _cylinder(0.09, 0.7, 16)
    parts = {
        "body": _part(sphere, fur, _tf((0, 0.95, 0), (0.38, 0.32, 0.75))),
        "neck": _part(_cylinder(0.12, 0.5, 16), fur,
                      _tf((0, 1.3, 0.62), rotate=([1, 0, 0], 35))),
        "head": _part(trimesh.creation.icosphere(subdivisions=2), fur, _tf((0, 1.55, 0.88), (0.17, 0.16, 0.26))),
        "ear_l": _part(_cone(0.05, 0.14, 8), dark, _tf((0.08, 1.68, 0.8))),
        "ear_r": _part(_cone(0.05, 0.14, 8), dark, _tf((-0.08, 1.68, 0.8))),
        "tail": _part(_cone(0.06, 0.45, 10), dark,
                      _tf((0, 1.05, -0.72), rotate=([1, 0, 0], -50))),
    }
    for name, x, z in (("leg_fl", 0.2, 0.45), ("leg_fr", -0.2, 0.45), ("leg_bl", 0.2, -0.45), ("leg_br", -0.2, -0.45)):
        parts[name] = _part(leg, dark, _tf((x, 0.35, z)))
    return _scene(parts)


def fish() -> trimesh.Scene:
    """A fish swimming along +z: body, tail fin, dorsal fin, two side fins, eyes."""
    scales, fin = (0.25, 0.55, 0.85, 1.0), (0.95, 0.6, 0.2, 1.0)
    fin_shape = _cone(0.25, 0.4, 12)
    parts = {
        "body": _part(trimesh.creation.icosphere(subdivisions=3), scales, _tf((0, 0.5, 0), (0.22, 0.3, 0.7))),
        "tail": _part(fin_shape, fin, _tf((0, 0.5, -0.75), (0.15, 1.0, 1.0), rotate=([1, 0, 0], -90))),
        "dorsal": _part(fin_shape, fin, _tf((0, 0.85, -0.05), (0.1, 0.6, 0.6), rotate=([1, 0, 0], -30))),
        "fin_l": _part(fin_shape, fin, _tf((0.28, 0.4, 0.15), (0.5, 0.5, 0.12), rotate=([0, 0, 1], -100))),
        "fin_r": _part(fin_shape, fin, _tf((-0.28, 0.4, 0.15), (0.5, 0.5, 0.12), rotate=([0, 0, 1], 100))),
        "eye_l": _part(trimesh.creation.icosphere(subdivisions=1), (0.05, 0.05, 0.05, 1), _tf((0.13, 0.6, 0.48), (0.05, 0.05, 0.05))),
        "eye_r": _part(trimesh.creation.icosphere(subdivisions=1), (0.05, 0.05, 0.05, 1), _tf((-0.13, 0.6, 0.48), (0.05, 0.05, 0.05))),
    }
    return _scene(parts)


def plant() -> trimesh.Scene:
    """A potted plant: pot, soil, stem and five leaves around it."""
    green, pot = (0.25, 0.6, 0.2, 1.0), (0.7, 0.35, 0.25, 1.0)
    parts = {
        "pot": _part(_cylinder(0.3, 0.4, 24), pot, _tf((0, 0.2, 0))),
        "soil": _part(_cylinder(0.28, 0.02, 24), (0.25, 0.17, 0.1, 1), _tf((0, 0.41, 0))),
        "stem": _part(_cylinder(0.035, 1.0, 12), green, _tf((0, 0.9, 0))),
    }
    leaf = trimesh.creation.icosphere(subdivisions=2)
    for i in range(5):
        angle = 72 * i
        h = 0.75 + 0.12 * i
        a = np.radians(angle)
        parts[f"leaf_{i}"] = _part(
            leaf, green,
            trimesh.transformations.translation_matrix([0.22 * np.sin(a), h, 0.22 * np.cos(a)])
            @ trimesh.transformations.rotation_matrix(a, [0, 1, 0])
            @ trimesh.transformations.rotation_matrix(np.radians(-30), [1, 0, 0])
            @ np.diag([0.1, 0.02, 0.22, 1.0]),
        )
    return _scene(parts)


def bird() -> trimesh.Scene:
    """A perched bird (held out from training): body, head, beak, two wings, tail, two legs."""
    feather, beak = (0.2, 0.35, 0.75, 1.0), (0.95, 0.7, 0.1, 1.0)
    wing = trimesh.creation.icosphere(subdivisions=2)
    parts = {
        "body": _part(trimesh.creation.icosphere(subdivisions=3), feather, _tf((0, 0.55, 0), (0.22, 0.24, 0.36))),
        "head": _part(trimesh.creation.icosphere(subdivisions=2), feather, _tf((0, 0.85, 0.25), (0.14, 0.14, 0.14))),
        "beak": _part(_cone(0.05, 0.16, 10), beak, _tf((0, 0.84, 0.38), rotate=([1, 0, 0], 90))),
        "wing_l": _part(wing, feather, _tf((0.22, 0.6, -0.02), (0.04, 0.16, 0.3), rotate=([0, 0, 1], -15))),
        "wing_r": _part(wing, feather, _tf((-0.22, 0.6, -0.02), (0.04, 0.16, 0.3), rotate=([0, 0, 1], 15))),
        "tail": _part(_cone(0.1, 0.35, 10), feather, _tf((0, 0.5, -0.45), (1.0, 0.3, 1.0), rotate=([1, 0, 0], -110))),
        "leg_l": _part(_cylinder(0.02, 0.35, 8), beak, _tf((0.08, 0.17, 0))),
        "leg_r": _part(_cylinder(0.02, 0.35, 8), beak, _tf((-0.08, 0.17, 0))),
    }
    return _scene(parts)


def robot() -> trimesh.Scene:
    """A boxy robot (held out from training): torso, head, antenna, two arms, two legs."""
    metal, dark = (0.6, 0.62, 0.68, 1.0), (0.2, 0.2, 0.25, 1.0)
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    box = box.subdivide().subdivide().subdivide()  # enough vertices to bend
    parts = {
        "torso": _part(box, metal, _tf((0, 1.1, 0), (0.6, 0.7, 0.35))),
        "head": _part(box, metal, _tf((0, 1.7, 0), (0.36, 0.3, 0.3))),
        "antenna": _part(_cylinder(0.02, 0.25, 8), dark, _tf((0, 1.95, 0))),
        "arm_l": _part(_cylinder(0.07, 0.7, 12), dark, _tf((0.4, 1.1, 0))),
        "arm_r": _part(_cylinder(0.07, 0.7, 12), dark, _tf((-0.4, 1.1, 0))),
        "leg_l": _part(_cylinder(0.09, 0.75, 12), dark, _tf((0.16, 0.375, 0))),
        "leg_r": _part(_cylinder(0.09, 0.75, 12), dark, _tf((-0.16, 0.375, 0))),
    }
    return _scene(parts)


def random_assembly(seed: int) -> trimesh.Scene:
    """A random toy-like object of 3 to 7 primitives (spheres, boxes, cylinders, cones) joined to a
    body at random places, sizes and angles, standing on y = 0: diverse shapes for procedural
    training data (``scripts/make_procedural.py --random-meshes``)."""
    rng = np.random.default_rng(seed)
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0)).subdivide().subdivide()
    shapes = [trimesh.creation.icosphere(subdivisions=2), box, _cylinder(0.5, 1.0, 12), _cone(0.5, 1.0, 12)]
    parts = {}
    body_size = rng.uniform(0.3, 0.6, 3)
    for k in range(int(rng.integers(3, 8))):
        shape = shapes[0 if k == 0 else int(rng.integers(len(shapes)))]
        size = body_size if k == 0 else rng.uniform(0.08, 0.45, 3)
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction) + 1e-12
        at = np.zeros(3) if k == 0 else direction * body_size / 2
        axis = rng.normal(size=3)
        rgba = (*rng.uniform(0.2, 0.9, 3), 1.0)
        parts[f"part_{k}"] = _part(shape, rgba, _tf(at, size, rotate=(axis, float(rng.uniform(0, 180)))))
    scene = _scene(parts)
    low = scene.bounds[0][1]
    scene.apply_translation([0.0, -low, 0.0])
    return scene


#: meshes written to graphs/examples/ (and used for procedural training data).
EXAMPLES: Dict[str, Callable[[], trimesh.Scene]] = {"quadruped": quadruped, "fish": fish, "plant": plant}
#: meshes written to graphs/eval/, never used in training: unseen meshes for prompt adherence.
EVAL_MESHES: Dict[str, Callable[[], trimesh.Scene]] = {"bird": bird, "robot": robot}
