r"""Procedural motions: animate any static mesh with a labelled motion and a caption.

:func:`make_motion` turns a static mesh (N, 3) into T frames (T, N, 3) with frame
0 equal to the input, a label and a caption. Rigid labels move the whole mesh;
non-rigid labels deform it:

==================  ==============================================================
``spin``            rotation about the vertical axis (or a horizontal one: flips,
                    cartwheels) through the bounding-box centre, monotone angle
``hop``             one jump: the mesh rises and lands, optionally travelling
``bounce``          two to four jumps in a row
``sway``            rocking side to side about the forward axis at the base
``slide``           translation along the ground, no rotation
``nod``             tilting forward about the lateral axis at the base and back
``roll``            rolling along the ground: rotation about a horizontal axis
                    with the matching translation
``bend``            circular bending of the long axis towards one side, base fixed
``twist``           rotation of cross-sections about the long axis by an angle
                    growing from the base
``squash_stretch``  vertical scaling with the inverse horizontal scaling (volume
                    kept), anchored at the base
``wave``            a travelling wave of sideways displacement along the long axis
``breathe``         uniform scaling about the centre, out and back
``wag``             the part farthest from the centre swings from side to side
==================  ==============================================================

Amplitude, speed, axis and direction are drawn at random and the caption says
them where they matter ("spins clockwise", "bends to the left").

The adherence checks that tell these labels apart live in
:mod:`meshflow.eval.checks`.

Conventions (glTF's): +y is up, +z is the front of the object, +x its left.
"Clockwise" about an axis is as seen looking down that axis from its positive
end (for ``spin``: seen from above), i.e. a negative angle by the right-hand rule.
"""
from __future__ import annotations

from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from ..io.geometry import smoothstep

RIGID_LABELS = ("spin", "hop", "bounce", "sway", "slide", "nod", "roll")
NONRIGID_LABELS = ("bend", "twist", "squash_stretch", "wave", "breathe", "wag")
#: every motion label, rigid first.
LABELS = RIGID_LABELS + NONRIGID_LABELS

#: the coordinate axes x, y, z as rows; ``AXES[UP]`` is the up direction.
AXES = np.eye(3)
#: index of the vertical axis (+y is up).
UP = 1
_DIRECTION_WORDS = {(0, 1): "to the left", (0, -1): "to the right", (1, 1): "upward", (1, -1): "downward",
                    (2, 1): "forward", (2, -1): "backward"}


class _MotionBase(NamedTuple):
    frames: np.ndarray
    label: str
    caption: str


class Motion(_MotionBase):
    """``(frames (T, N, 3) float32, label, caption)``; ``params`` holds the drawn parameters."""

    params: dict


# ------------------------------------------------------------- geometry ---
def _rotation(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rodrigues: unit axis (3,), angles (T,) -> (T, 3, 3)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    th = np.asarray(angles, dtype=np.float64)[:, None, None]
    return np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * (K @ K)


def _rotate(v: np.ndarray, rot: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """(N, 3) points rotated by (T, 3, 3) about ``pivot`` -> (T, N, 3)."""
    return np.einsum("tij,nj->tni", rot, v - pivot) + pivot




class MeshFrame:
    """Reference geometry of a static mesh: bbox centre, half size, base point, long axis."""

    def __init__(self, v: np.ndarray):
        self.lo, self.hi = v.min(0), v.max(0)
        self.center = (self.lo + self.hi) / 2
        self.size = float(np.abs(v - self.center).max()) or 1.0
        self.base = self.center.copy()
        self.base[UP] = self.lo[UP]
        self.long_axis = int(np.argmax(self.hi - self.lo))
        ext = self.hi[self.long_axis] - self.lo[self.long_axis]
        self.s = (v[:, self.long_axis] - self.lo[self.long_axis]) / (ext if ext > 0 else 1.0)  # 0 at base, 1 at tip
        self.length = float(ext) if ext > 0 else 1.0


def direction_word(axis: int, sign: int) -> str:
    """The caption's words for a direction along an axis: ``(0, -1)`` -> "to the right"."""
    return _DIRECTION_WORDS[(axis, 1 if sign >= 0 else -1)]


# ------------------------------------------------------------ generators ---
def _gen_spin(v, f: MeshFrame, tau, rng):
    axis = int(rng.choice([1, 1, 1, 1, 2, 0]))
    sign = int(rng.choice([-1, 1]))
    turns = float(rng.uniform(0.25, 2.0))
    angle = sign * 2 * np.pi * turns * _ease(tau, rng)
    frames = _rotate(v, _rotation(AXES[axis], angle), f.center)
    return frames, {"axis": axis, "sign": sign, "turns": turns}


def _ease(tau, rng):
    """Linear or eased-in-out progress 0 -> 1 over the clip."""
    return tau if rng.random() < 0.5 else smoothstep(tau)


def _cap_spin(p, rng):
    clock = "clockwise" if p["sign"] < 0 else "counterclockwise"
    speed = " quickly" if p["turns"] >= 1.25 else (" slowly" if p["turns"] <= 0.4 else "")
    if p["axis"] == UP:
        return str(rng.choice([f"spins {clock}{speed}", f"turns around {clock}", f"rotates {clock} in place",
                               f"twirls {clock}{speed}"]))
    if p["axis"] == 0:  # +angle about +x carries the top towards +z: a forward flip
        fb = "forward" if p["sign"] > 0 else "backward"
        return str(rng.choice([f"flips {fb}", f"somersaults {fb}", f"tumbles {fb} in place"]))
    lr = "to the right" if p["sign"] > 0 else "to the left"  # +angle about +z carries the top towards -x
    return str(rng.choice([f"cartwheels {lr}", f"spins like a wheel {lr}"]))


def _travel(rng):
    """A horizontal direction (axis, sign) or None for in place."""
    choice = int(rng.integers(0, 6))
    if choice < 2:
        return None
    return [(2, 1), (2, -1), (0, 1), (0, -1)][choice - 2]


def _gen_hop(v, f, tau, rng):
    t0, t1 = float(rng.uniform(0.0, 0.2)), float(rng.uniform(0.8, 1.0))
    u = np.clip((tau - t0) / (t1 - t0), 0, 1)
    height = float(rng.uniform(0.2, 0.7)) * f.size
    offset = np.zeros((len(tau), 3))
    offset[:, UP] = height * 4 * u * (1 - u)
    travel = _travel(rng)
    dist = 0.0
    if travel is not None:
        dist = float(rng.uniform(0.3, 0.8)) * f.size
        offset[:, travel[0]] = travel[1] * dist * u
    return v[None] + offset[:, None], {"height": height / f.size, "travel": travel, "distance": dist / f.size}


def _cap_hop(p, rng):
    if p["travel"] is None:
        if p["height"] >= 0.5:
            return str(rng.choice(["jumps high", "leaps high into the air", "jumps up high and lands"]))
        if p["height"] <= 0.3:
            return str(rng.choice(["does a small hop", "hops a little", "makes a small jump"]))
        return str(rng.choice(["hops", "jumps once", "hops up and lands", "jumps up and comes back down"]))
    d = direction_word(*p["travel"])
    return str(rng.choice([f"hops {d}", f"jumps {d}", f"leaps {d}"]))


def _gen_bounce(v, f, tau, rng):
    # at least five frames per bounce, so that every landing is seen
    count = int(rng.integers(2, max(3, min(4, (len(tau) - 1) // 5) + 1)))
    height = float(rng.uniform(0.15, 0.5)) * f.size
    decay = float(rng.uniform(0.0, 0.5))
    air = 0.75  # airborne part of each bounce; the rest is spent on the ground
    u = np.clip(((tau * count) % 1.0) / air, 0.0, 1.0)
    offset = np.zeros((len(tau), 3))
    offset[:, UP] = height * 4 * u * (1 - u) * (1 - decay * tau)
    return v[None] + offset[:, None], {"count": count, "height": height / f.size, "decay": decay}


def _cap_bounce(p, rng):
    words = {2: "twice", 3: "three times", 4: "four times", 5: "five times"}
    return str(rng.choice(["bounces up and down", f"bounces {words[p['count']]}", "keeps bouncing",
                           "bounces like a ball"]))


def _gen_sway(v, f, tau, rng):
    amp = np.deg2rad(float(rng.uniform(10, 25)))
    cycles = int(rng.integers(1, 3))
    sign = int(rng.choice([-1, 1]))
    angle = sign * amp * np.sin(2 * np.pi * cycles * tau)
    return _rotate(v, _rotation(AXES[2], angle), f.base), {"amplitude": float(np.rad2deg(amp)), "cycles": cycles,
                                                              "sign": sign}


def _cap_sway(p, rng):
    return str(rng.choice(["sways from side to side", "rocks side to side", "sways left and right",
                           "wobbles from side to side"]))


def _gen_slide(v, f, tau, rng):
    axis, sign = [(2, 1), (2, -1), (0, 1), (0, -1)][int(rng.integers(0, 4))]
    dist = float(rng.uniform(0.4, 1.2)) * f.size
    offset = np.zeros((len(tau), 3))
    offset[:, axis] = sign * dist * _ease(tau, rng)
    return v[None] + offset[:, None], {"axis": axis, "sign": sign, "distance": dist / f.size}


def _cap_slide(p, rng):
    d = direction_word(p["axis"], p["sign"])
    return str(rng.choice([f"slides {d}", f"glides {d}", f"moves {d} without turning", f"slides {d} smoothly"]))


def _gen_nod(v, f, tau, rng):
    amp = np.deg2rad(float(rng.uniform(12, 30)))
    count = int(rng.integers(1, 3))
    sign = 1  # +angle about +x tips the top forward (+z)
    angle = sign * amp * (1 - np.cos(2 * np.pi * count * tau)) / 2
    return _rotate(v, _rotation(AXES[0], angle), f.base), {"amplitude": float(np.rad2deg(amp)), "count": count}


def _cap_nod(p, rng):
    twice = " twice" if p["count"] == 2 else ""
    return str(rng.choice([f"nods{twice}", "nods forward", "tilts forward and back",
                           "bows forward and straightens up"]))


def _gen_roll(v, f, tau, rng):
    travel_axis, sign = [(2, 1), (2, -1), (0, 1), (0, -1)][int(rng.integers(0, 4))]
    # Rolling along +z turns about +x (x cross y = z); along +x about -z.
    rot_axis = AXES[0] if travel_axis == 2 else -AXES[2]
    total = float(rng.uniform(0.5, 2.0)) * np.pi
    radius = max(f.center[UP] - f.lo[UP], 1e-6)
    angle = sign * total * _ease(tau, rng)
    frames = _rotate(v, _rotation(rot_axis, angle), f.center)
    frames[:, :, travel_axis] += (sign * radius * np.abs(angle))[:, None] * 1.0
    return frames, {"axis": travel_axis, "sign": sign, "turns": total / (2 * np.pi)}


def _cap_roll(p, rng):
    d = direction_word(p["axis"], p["sign"])
    return str(rng.choice([f"rolls {d}", f"rolls over {d}", f"tumbles {d} along the ground"]))


def _perpendicular_choice(long_axis: int, rng) -> Tuple[int, int]:
    axes = [a for a in range(3) if a != long_axis]
    return int(rng.choice(axes)), int(rng.choice([-1, 1]))


def _gen_bend(v, f, tau, rng):
    L = f.long_axis
    d_axis, sign = _perpendicular_choice(L, rng)
    phi_max = np.deg2rad(float(rng.uniform(35, 80)))
    back = rng.random() < 0.4
    prof = np.sin(np.pi * tau) if back else smoothstep(tau / 0.8)
    a = (v[:, L] - f.lo[L])[None]  # (1, N) arc length from the base
    u = sign * (v[:, d_axis] - f.center[d_axis])[None]  # offset towards the bend side
    kappa = (phi_max * prof / f.length)[:, None]  # (T, 1) curvature
    phi = kappa * a
    # (1 - cos phi) / kappa and sin(phi) / kappa written stably for kappa -> 0
    one_minus_cos = a * phi * np.sinc(phi / (2 * np.pi)) ** 2 / 2
    sin_over = a * np.sinc(phi / np.pi)
    new_d = one_minus_cos + u * np.cos(phi)
    new_a = sin_over - u * np.sin(phi)
    frames = np.repeat(v[None], len(tau), axis=0)
    frames[:, :, d_axis] = f.center[d_axis] + sign * new_d
    frames[:, :, L] = f.lo[L] + new_a
    return frames, {"long_axis": L, "axis": d_axis, "sign": sign, "angle": float(np.rad2deg(phi_max)),
                    "and_back": bool(back)}


def _cap_bend(p, rng):
    d = direction_word(p["axis"], p["sign"])
    back = " and straightens again" if p["and_back"] else ""
    verb = "bends" if p["axis"] != UP else ("arches" if p["sign"] > 0 else "droops")
    return str(rng.choice([f"{verb} {d}{back}", f"curves {d}{back}", f"leans over {d}{back}", f"bends {d}"]))


def _gen_twist(v, f, tau, rng):
    L = f.long_axis
    sign = int(rng.choice([-1, 1]))
    amax = np.deg2rad(float(rng.uniform(45, 120)))
    back = rng.random() < 0.4
    prof = np.sin(np.pi * tau) if back else smoothstep(tau / 0.8)
    ang = sign * amax * prof[:, None] * f.s[None]  # (T, N)
    i, j = [a for a in range(3) if a != L]
    # rotation about +L: (i, j) -> cyclic order (L, i, j) is right-handed when (i, j) follow L
    if (L, i, j) not in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        i, j = j, i
    x, y = v[:, i] - f.center[i], v[:, j] - f.center[j]
    c, s = np.cos(ang), np.sin(ang)
    frames = np.repeat(v[None], len(tau), axis=0)
    frames[:, :, i] = f.center[i] + c * x - s * y
    frames[:, :, j] = f.center[j] + s * x + c * y
    return frames, {"long_axis": L, "sign": sign, "angle": float(np.rad2deg(amax)), "and_back": bool(back)}


def _cap_twist(p, rng):
    clock = "clockwise" if p["sign"] < 0 else "counterclockwise"
    return str(rng.choice([f"twists {clock}", "twists around its long axis", f"wrings itself {clock}",
                           f"twists {clock} along its length"]))


def _gen_squash(v, f, tau, rng):
    amp = float(rng.uniform(0.15, 0.35))
    cycles = int(rng.integers(1, 3))
    sign = int(rng.choice([-1, 1]))
    sy = 1 + sign * amp * np.sin(2 * np.pi * cycles * tau)  # (T,)
    scale = np.repeat((1 / np.sqrt(sy))[:, None], 3, axis=1)  # (T, 3)
    scale[:, UP] = sy
    frames = f.base + (v[None] - f.base) * scale[:, None, :]
    return frames, {"amplitude": amp, "cycles": cycles, "squash_first": sign < 0}


def _cap_squash(p, rng):
    rep = " repeatedly" if p["cycles"] > 1 else ""
    first = "squishes down and stretches up" if p["squash_first"] else "stretches up and squashes down"
    return str(rng.choice([f"squashes and stretches{rep}", first, "squashes and stretches like jelly"]))


def _gen_wave(v, f, tau, rng):
    L = f.long_axis
    d_axis, _ = _perpendicular_choice(L, rng)
    amp = float(rng.uniform(0.08, 0.2)) * f.size
    waves = float(rng.uniform(0.6, 1.4))
    cycles = int(rng.integers(1, 3))
    towards_tip = bool(rng.random() < 0.5)
    direction = 1 if towards_tip else -1
    env = 0.3 + 0.7 * f.s
    ramp = smoothstep(tau / 0.3)
    phase = 2 * np.pi * (waves * f.s[None] - direction * cycles * tau[:, None])
    frames = np.repeat(v[None], len(tau), axis=0)
    frames[:, :, d_axis] += amp * env[None] * ramp[:, None] * np.sin(phase)
    return frames, {"long_axis": L, "axis": d_axis, "amplitude": amp / f.size, "waves": waves, "cycles": cycles,
                    "towards_tip": towards_tip}


def _cap_wave(p, rng):
    return str(rng.choice(["ripples in a wave along its body", "undulates along its length", "wiggles like a wave",
                           "sends a wave along its body"]))


def _gen_breathe(v, f, tau, rng):
    amp = float(rng.uniform(0.06, 0.2))
    cycles = int(rng.integers(1, 4))
    s = 1 + amp * (1 - np.cos(2 * np.pi * cycles * tau)) / 2
    return f.center + (v[None] - f.center) * s[:, None, None], {"amplitude": amp, "cycles": cycles}


def _cap_breathe(p, rng):
    return str(rng.choice(["breathes in and out", "pulses", "expands and contracts rhythmically",
                           "swells and shrinks as if breathing"]))


def _gen_wag(v, f, tau, rng):
    dist = np.linalg.norm(v - f.center, axis=1)
    tip = v[int(np.argmax(dist))]
    a = tip - f.center
    reach = float(np.linalg.norm(a)) or 1.0
    a = a / reach
    proj = (v - f.center) @ a
    h0 = float(rng.uniform(0.45, 0.6)) * reach
    w = smoothstep((proj - h0) / (0.2 * reach))  # 0 near the centre, 1 on the far part
    # swing about the up axis when the part points sideways, else about the forward axis
    axis = AXES[UP] if abs(a[UP]) < 0.7 else AXES[2]
    axis = axis - (axis @ a) * a
    axis = axis / np.linalg.norm(axis)
    amp = np.deg2rad(float(rng.uniform(20, 40)))
    cycles = int(rng.integers(1, 4))
    theta = amp * np.sin(2 * np.pi * cycles * tau)  # (T,)
    pivot = f.center + h0 * a
    ang = theta[:, None] * w[None]  # (T, N)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    r = v - pivot
    kr = r @ K.T
    kkr = kr @ K.T
    frames = pivot + r[None] + np.sin(ang)[..., None] * kr[None] + (1 - np.cos(ang))[..., None] * kkr[None]
    return frames, {"amplitude": float(np.rad2deg(amp)), "cycles": cycles, "part_fraction": float((w > 0.5).mean())}


def _cap_wag(p, rng):
    return str(rng.choice(["wags its tail", "wags its end from side to side", "swings its tip back and forth",
                           "waggles its far end"]))


_GENERATORS: Dict[str, Tuple[Callable, Callable]] = {
    "spin": (_gen_spin, _cap_spin), "hop": (_gen_hop, _cap_hop), "bounce": (_gen_bounce, _cap_bounce),
    "sway": (_gen_sway, _cap_sway), "slide": (_gen_slide, _cap_slide), "nod": (_gen_nod, _cap_nod),
    "roll": (_gen_roll, _cap_roll), "bend": (_gen_bend, _cap_bend), "twist": (_gen_twist, _cap_twist),
    "squash_stretch": (_gen_squash, _cap_squash), "wave": (_gen_wave, _cap_wave),
    "breathe": (_gen_breathe, _cap_breathe), "wag": (_gen_wag, _cap_wag),
}


def _subject(name: Optional[str]) -> str:
    if not name:
        return "the object"
    name = name.strip()
    if name.lower().startswith(("a ", "an ", "the ")):
        return name
    return ("an " if name[0].lower() in "aeiou" else "a ") + name


def make_motion(vertices, faces=None, label: Optional[str] = None,
                rng: Union[None, int, np.random.Generator] = None, frames: int = 16,
                name: Optional[str] = None) -> Motion:
    r"""Animates a static mesh with a procedural motion.

    Args:
        vertices: (N, 3) positions (any units; amplitudes scale with the mesh).
        faces: (F, 3) triangles, unused by the motions themselves (accepted so that
            callers can pass a mesh as it is).
        label (str, optional): one of :data:`LABELS` (default: drawn at random).
        rng (int or numpy.random.Generator, optional): randomness for the label,
            the parameters and the phrasing.
        frames (int, optional): number of frames T. (default: :obj:`16`)
        name (str, optional): what the mesh is, for the caption ("cow" -> "a cow
            spins clockwise"; default "the object").

    Returns:
        :class:`Motion` ``(frames (T, N, 3) float32, label, caption)`` with
        ``frames[0]`` equal to ``vertices`` and the drawn parameters in ``.params``.
    """
    rng = np.random.default_rng(rng)
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ValueError(f"Expected 'vertices' to have shape (N, 3) with N > 0 (got {v.shape})")
    if frames < 2:
        raise ValueError(f"Expected 'frames' >= 2 (got {frames})")
    if label is None:
        label = str(rng.choice(LABELS))
    if label not in _GENERATORS:
        raise ValueError(f"Unknown motion label {label!r} (expected one of {', '.join(LABELS)})")
    gen, cap = _GENERATORS[label]
    tau = np.linspace(0.0, 1.0, frames)
    out, params = gen(v, MeshFrame(v), tau, rng)
    out = out.astype(np.float32)
    out[0] = v  # exact rest pose in frame 0
    motion = Motion(out, label, f"{_subject(name)} {cap(params, rng)}")
    motion.params = params
    return motion


def motion_phrases(labels: Optional[Sequence[str]] = None, draws: int = 3000) -> List[str]:
    """The phrasings the generators give their captions, without the subject ("spins clockwise
    quickly", ...): every distinct one of ``draws`` random motions per label (seeds ``0 .. draws-1``,
    drawn as :func:`make_motion` draws them), sorted. The phrasing depends only on the drawn
    parameters, so a small box stands in for any mesh.

    Args:
        labels: only these labels. (default: :data:`LABELS`)
        draws: motions drawn per label; the default finds every phrasing (8000 draws give the same set).
    """
    box = np.array([[x, y, z] for x in (-1.0, 1.0) for y in (-0.5, 0.5) for z in (-0.3, 0.3)])  # a long box
    frame, tau = MeshFrame(box), np.linspace(0.0, 1.0, 2)
    phrases = set()
    for label in labels or LABELS:
        gen, cap = _GENERATORS[label]
        for seed in range(draws):
            rng = np.random.default_rng(seed)
            _, params = gen(box, frame, tau, rng)
            phrases.add(cap(params, rng))
    return sorted(phrases)
