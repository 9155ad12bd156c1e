import numpy as np
import pytest

from meshflow.data.motions import make_motion
from meshflow.data.shapes import icosphere, subdivide, tetrahedron
from meshflow.io import Animation, save_animation


@pytest.fixture(scope="session")
def labelled_anims(tmp_path_factory):
    """Procedural 8-frame animations (npz) of three meshes, two labels each: ``(folder, {file: label})``."""
    root = tmp_path_factory.mktemp("eval_anims")
    meshes = {"ball": icosphere(1), "pyramid": subdivide(*tetrahedron(), loops=2), "blob": icosphere(2)}
    labels = {}
    for k, (name, (v, f)) in enumerate(meshes.items()):
        for label in ("spin", "breathe"):
            m = make_motion(v * np.array([1.0, 1.5, 0.8]), f, label=label, rng=k, frames=8, name=name)
            path = save_animation(root / f"{name}_{label}.npz", Animation(m.frames, f, prompt=m.caption))
            labels[path.name] = label
    return root, labels


@pytest.fixture(scope="session")
def clip_folder(labelled_anims, tmp_path_factory):
    """The same animations as a clip folder (``meshflow data build``), 8 frames per clip."""
    from meshflow.data.clips import build_clips

    out = tmp_path_factory.mktemp("eval_clips") / "clips"
    build_clips([labelled_anims[0]], out, frames=8, workers=1, progress=False)
    return out
