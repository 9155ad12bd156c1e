"""DyMesh .bin pickles read safely, and meshflow's npz animation format."""
import os
import pickle

import numpy as np
import pytest

from meshflow.errors import MeshFileError
from meshflow.io import Animation, load_animation, save_animation
from meshflow.io.dymesh import (AnimationFileError, UnsafePickleError, check_animation, load_dymesh, safe_unpickle,
                                save_dymesh)


def sample(T=4, N=5):
    rng = np.random.default_rng(0)
    return rng.standard_normal((T, N, 3)).astype(np.float32), np.array([[0, 1, 2], [2, 3, 4]])


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_reads_the_original_dict_layout(tmp_path, protocol):
    v, f = sample()
    path = tmp_path / "000001.bin"
    with open(path, "wb") as fh:  # as the original's data pipeline writes them
        pickle.dump({"vertices": v.astype(np.float64), "faces": f.astype(np.int32), "caption": "a fox runs"},
                    fh, protocol=protocol)
    out = load_dymesh(path)
    assert out["vertices"].dtype == np.float32 and out["faces"].dtype == np.int64
    np.testing.assert_allclose(out["vertices"], v, rtol=1e-6)
    np.testing.assert_array_equal(out["faces"], f)
    assert out["caption"] == "a fox runs"
    assert load_animation(path).prompt == "a fox runs"


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_refuses_a_malicious_pickle_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    v, f = sample()
    with open(path, "wb") as fh:
        pickle.dump({"vertices": v, "faces": f, "caption": _Exploit(marker)}, fh)
    with pytest.raises(UnsafePickleError, match=r"evil\.bin: refused to unpickle: the pickle asks for "
                                                r"(posix|nt|os)\.system.*nothing was executed"):
        load_dymesh(path)
    assert not marker.exists()
    # a plain pickle.load would have run it: the test really is malicious
    with open(path, "rb") as fh:
        pickle.load(fh)
    assert marker.exists()


class _Call:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("payload", [
    b"cbuiltins\neval\n(S'1+1'\ntR.",
    pickle.dumps(_Call(exec, "x = 1"), protocol=4),
    pickle.dumps({"vertices": _Call(getattr, "builtins", "upper")}, protocol=5),
])
def test_refuses_other_globals(payload):
    with pytest.raises(UnsafePickleError, match="builtins"):
        safe_unpickle(payload, "x.bin")


def test_codecs_encode_only_for_latin1():
    bad = b"c_codecs\nencode\n(S'abc'\nS'rot13'\ntR."
    with pytest.raises(AnimationFileError, match="not a readable pickle"):
        safe_unpickle(bad, "x.bin")


def test_structural_problems_are_reported(tmp_path):
    p = tmp_path / "ragged.bin"
    with open(p, "wb") as fh:
        pickle.dump({"vertices": [np.zeros((5, 3)), np.zeros((4, 3))], "faces": np.zeros((1, 3), int)}, fh)
    with pytest.raises(AnimationFileError, match="vertex count changes across frames") as e:
        load_dymesh(p)
    assert e.value.reason == "vertex count changes"
    p = tmp_path / "nodict.bin"
    p.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(MeshFileError, match="Expected a dict with 'vertices' and 'faces' \\(got list\\)"):
        load_dymesh(p)
    p = tmp_path / "trunc.bin"
    p.write_bytes(pickle.dumps({"vertices": np.zeros((2, 3, 3))})[:-10])
    with pytest.raises(AnimationFileError, match="trunc.bin: not a readable pickle"):
        load_dymesh(p)


def test_npz_round_trip(tmp_path):
    v, f = sample()
    path = save_animation(tmp_path / "anim.npz", Animation(v, f, fps=15, prompt="a cube spins"))
    out = load_animation(path)
    np.testing.assert_array_equal(out.vertices, v)
    np.testing.assert_array_equal(out.faces, f)
    assert out.prompt == "a cube spins" and out.fps == 15.0
    with np.load(path, allow_pickle=False) as z:  # readable by anyone without pickles
        assert z["vertices"].shape == (4, 5, 3) and str(z["caption"]) == "a cube spins"
    with pytest.raises(ValueError, match=r"Face indices must lie in \[0, 5\)"):
        save_animation(tmp_path / "bad.npz", Animation(v, f + 3))


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, vertices=np.zeros((1, 3, 3)), faces=np.array([[0, 1, 2]]), caption=np.array([{"a": 1}]))
    with pytest.raises(AnimationFileError, match="holds pickled objects"):
        load_animation(path)


def test_save_dymesh_round_trip_and_unknown_suffix(tmp_path):
    v, f = sample()
    out = load_dymesh(save_dymesh(tmp_path / "s.bin", v, f, "hello"))
    np.testing.assert_array_equal(out["vertices"], v)
    with pytest.raises(AnimationFileError, match="unknown animation type '.txt'"):
        load_animation(tmp_path / "s.txt")


def test_check_animation_reasons():
    v, f = sample()
    assert check_animation(v, f) is None
    bad = v.copy()
    bad[2, 1, 0] = np.nan
    assert check_animation(bad, f) == "non-finite vertices"
    assert check_animation(v, f + 10) == "faces out of range"
    assert check_animation(np.repeat(v[:1], 4, axis=0), f, min_motion=1e-3) == "no motion"
    assert check_animation(np.zeros((4, 5, 3)), f) == "degenerate frame 0"
    assert check_animation(v, np.zeros((0, 3), int)) == "no faces"
