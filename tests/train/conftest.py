import numpy as np
import pytest

from meshflow.data.motions import make_motion
from meshflow.data.shapes import icosphere, subdivide, tetrahedron
from meshflow.io import Animation, save_animation


@pytest.fixture(scope="session")
def anim_dir(tmp_path_factory):
    """Six small procedural animations (npz) over three meshes: a training folder in seconds."""
    root = tmp_path_factory.mktemp("anims")
    meshes = {"ball": icosphere(1), "pyramid": subdivide(*tetrahedron(), loops=2), "blob": icosphere(2)}
    rng = np.random.default_rng(0)
    for name, (v, f) in meshes.items():
        for label in ("spin", "hop"):
            m = make_motion(v, f, label=label, rng=rng, name=name)
            save_animation(root / f"{name}_{label}.npz", Animation(m.frames, f, prompt=m.caption))
    return root
