r"""Animation files: the original DyMesh ``.bin`` pickles (read safely) and meshflow's npz.

The original release stores each sample as a pickled dict ``{"vertices": (T, N, 3)
float, "faces": (F, 3) int, "caption": str}``. A pickle can run any code while it
loads, so :func:`load_dymesh` never calls :func:`pickle.load`: its
:class:`RestrictedUnpickler` resolves only the handful of numpy callables that
rebuild arrays, dtypes and scalars (plus ``_codecs.encode`` restricted to
latin-1, which protocol-2 pickles use for raw bytes). Any other global, such as
``os.system`` or ``builtins.eval``, is refused before anything runs, with a
:class:`UnsafePickleError` naming the file and the global.

meshflow's own format is a numpy ``.npz`` (no pickles inside, read with
``allow_pickle=False``):

* ``vertices`` (T, N, 3) float32 positions per frame,
* ``faces`` (F, 3) int64 triangles,
* ``caption`` 0-d unicode string,
* optionally ``fps`` 0-d float.

:func:`load_dymesh` and :func:`load_npz_animation` return the same dict;
:func:`meshflow.io.animation.load_animation` turns either (and every other
animation format) into an :class:`~meshflow.io.animation.Animation`, and
:func:`meshflow.io.export.write_npz` writes the npz.
"""
from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Optional, Union

import numpy as np

try:
    from numpy._core import multiarray as _ma, numeric as _num
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _ma, numeric as _num

from ..errors import MeshFileError
from .atomic import atomic_file

PICKLE_SUFFIXES = (".bin", ".pkl", ".pickle")
NPZ_SUFFIXES = (".npz",)
#: the suffixes of these raw animation files (what datasets of animation files read).
ANIMATION_SUFFIXES = NPZ_SUFFIXES + PICKLE_SUFFIXES


class AnimationFileError(MeshFileError):
    """An animation file that cannot be used; ``reason`` is a short key for reports
    (``"unreadable"``, ``"unsafe pickle"``, ``"vertex count changes"``, ...)."""

    def __init__(self, path, problem: str, reason: str = "unreadable"):
        super().__init__(path, problem)
        self.reason = reason


class UnsafePickleError(AnimationFileError):
    """A pickle that asks for a global outside the allow-list; nothing was executed."""

    def __init__(self, path, module: str, name: str):
        super().__init__(path, f"refused to unpickle: the pickle asks for {module}.{name}, which is not "
                               "allowed in an animation file (only numpy arrays, strings and numbers are); "
                               "nothing was executed", reason="unsafe pickle")
        self.module, self.name = module, name


def _latin1_encode(obj, encoding="latin1", errors="strict"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: latin-1 text only."""
    if not isinstance(obj, str) or encoding.lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"_codecs.encode is only allowed for latin-1 text (got {encoding!r})")
    return codecs.encode(obj, "latin1", errors)


def _allowed_globals() -> dict:
    """(module, name) -> object: everything a dict of numpy arrays needs, under both numpy 1 and 2 names."""
    allowed = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = _ma._reconstruct
        allowed[(mod, "scalar")] = _ma.scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        if hasattr(_num, "_frombuffer"):
            allowed[(mod, "_frombuffer")] = _num._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    allowed[("_codecs", "encode")] = _latin1_encode
    allowed[("codecs", "encode")] = _latin1_encode
    allowed[("collections", "OrderedDict")] = __import__("collections").OrderedDict
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    r"""An unpickler that builds only plain containers, strings, numbers and numpy arrays.

    Args:
        file: binary file object.
        path: name used in error messages.

    Every global the pickle names is looked up in a fixed table; nothing is
    imported by name, so a malicious pickle fails at its first ``GLOBAL`` opcode.
    Persistent ids and extension codes are refused too.
    """

    _ALLOWED: Optional[dict] = None

    def __init__(self, file, path=""):
        super().__init__(file)
        self.path = str(path)
        if RestrictedUnpickler._ALLOWED is None:
            RestrictedUnpickler._ALLOWED = _allowed_globals()

    def find_class(self, module, name):
        obj = self._ALLOWED.get((module, name))
        if obj is None:
            raise UnsafePickleError(self.path, module, name)
        return obj

    def persistent_load(self, pid):
        raise AnimationFileError(self.path, "refused to unpickle: the pickle uses persistent ids", "unsafe pickle")


def safe_unpickle(data: Union[bytes, "io.BufferedIOBase"], path="") -> object:
    """Unpickles ``data`` (bytes or a binary file) with :class:`RestrictedUnpickler`."""
    f = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        return RestrictedUnpickler(f, path).load()
    except AnimationFileError:
        raise
    except Exception as e:  # truncated or malformed data
        raise AnimationFileError(path, f"not a readable pickle ({type(e).__name__}: {e})") from None


def as_frames(value, path) -> np.ndarray:
    """vertices as given (array, or list of per-frame arrays) -> (T, N, 3) float32."""
    if isinstance(value, (list, tuple)):
        frames = [np.asarray(f) for f in value]
        counts = [f.shape[0] if f.ndim else -1 for f in frames]
        if frames and any(c != counts[0] for c in counts):
            bad = next(i for i, c in enumerate(counts) if c != counts[0])
            raise AnimationFileError(path, f"vertex count changes across frames (frame 0 has {counts[0]} "
                                           f"vertices, frame {bad} has {counts[bad]})", "vertex count changes")
        value = np.stack(frames) if frames else np.zeros((0, 0, 3))
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "fiu":
        raise AnimationFileError(path, f"Expected 'vertices' to be numeric (got dtype {arr.dtype})")
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise AnimationFileError(path, f"Expected 'vertices' to have shape (T, N, 3) (got {arr.shape})")
    return np.ascontiguousarray(arr, dtype=np.float32)


def as_faces(value, path) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object or (arr.size and arr.dtype.kind not in "iu"):
        if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise AnimationFileError(path, f"Expected 'faces' to be integers (got dtype {arr.dtype})")
    if arr.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise AnimationFileError(path, f"Expected 'faces' to have shape (F, 3) (got {arr.shape})")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _caption(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return str(value.item()) if value.size == 1 else " ".join(map(str, value.ravel()))
    if isinstance(value, (list, tuple)):
        return str(value[0]) if value else ""
    return str(value)


def _to_sample(obj, path) -> dict:
    if not isinstance(obj, dict):
        raise AnimationFileError(path, f"Expected a dict with 'vertices' and 'faces' (got {type(obj).__name__})")
    missing = [k for k in ("vertices", "faces") if k not in obj]
    if missing:
        raise AnimationFileError(path, f"missing key(s) {', '.join(missing)} (found {', '.join(map(str, obj))})")
    return {
        "vertices": as_frames(obj["vertices"], path),
        "faces": as_faces(obj["faces"], path),
        "caption": _caption(obj.get("caption")),
    }


def load_dymesh(path) -> dict:
    r"""Reads an original DyMesh ``.bin`` sample without running any code.

    Returns:
        ``{"vertices": (T, N, 3) float32, "faces": (F, 3) int64, "caption": str}``.

    Raises:
        UnsafePickleError: the pickle names a global outside the allow-list.
        AnimationFileError: the file is not such a dict.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            obj = safe_unpickle(f, path)
    except OSError as e:
        raise AnimationFileError(path, f"cannot read ({e.strerror})") from None
    return _to_sample(obj, path)


def save_dymesh(path, vertices, faces, caption: str = "") -> Path:
    """Writes a sample in the original ``.bin`` layout (a pickled dict of numpy arrays), atomically."""
    path = Path(path)
    obj = {"vertices": np.asarray(vertices, dtype=np.float32), "faces": np.asarray(faces, dtype=np.int64),
           "caption": str(caption)}
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    return path


def load_npz_animation(path) -> dict:
    """Reads meshflow's animation npz: ``{"vertices", "faces", "caption"[, "fps"]}``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            obj = {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise AnimationFileError(path, "refused to load: the npz holds pickled objects", "unsafe pickle") from None
        raise AnimationFileError(path, f"not a readable npz ({e})") from None
    except Exception as e:
        raise AnimationFileError(path, f"not a readable npz ({type(e).__name__}: {e})") from None
    sample = _to_sample(obj, path)
    if "fps" in obj:
        sample["fps"] = float(np.asarray(obj["fps"]).item())
    return sample


def check_animation(vertices: np.ndarray, faces: np.ndarray, min_motion: float = 0.0) -> Optional[str]:
    r"""Why an animation is unusable for training, or ``None`` when it is fine.

    Returns one of the report keys ``"no frames"``, ``"no vertices"``,
    ``"non-finite vertices"``, ``"no faces"``, ``"faces out of range"``,
    ``"degenerate frame 0"`` (all vertices at one point) and ``"no motion"``
    (no vertex moves more than ``min_motion`` times the frame-0 half extent).
    """
    if vertices.shape[0] == 0:
        return "no frames"
    if vertices.shape[1] == 0:
        return "no vertices"
    if not np.all(np.isfinite(vertices)):
        return "non-finite vertices"
    if faces.size == 0:
        return "no faces"
    if faces.min() < 0 or faces.max() >= vertices.shape[1]:
        return "faces out of range"
    v0 = vertices[0]
    half = float(np.abs(v0 - (v0.max(0) + v0.min(0)) / 2).max())
    if half <= 0:
        return "degenerate frame 0"
    motion = float(np.abs(vertices - v0[None]).max()) / half
    if motion <= min_motion:
        return "no motion"
    return None
