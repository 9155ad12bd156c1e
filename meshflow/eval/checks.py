r"""Motion adherence checks: whether an animation has a motion label's defining property.

:func:`check_motion` tests whether an animation (T, N, 3) has a label's defining
property, without knowing the parameters (a spin keeps every vertex's distance to
a fixed axis, a hop moves the centroid up then down, a twist rotates
cross-sections by an angle growing along the axis, ...). It returns a
:class:`MotionCheck` that is truthy when the check passes and carries a score in
[0, 1] (0.5 at the decision threshold) and the measured quantities; the
evaluation of prompt adherence reuses it.

Conventions are those of :mod:`meshflow.data.motions` (glTF's: +y is up).
"""
from __future__ import annotations

from typing import Callable, Dict, List, NamedTuple, Tuple

import numpy as np

from ..data.motions import AXES, LABELS, UP, MeshFrame, direction_word


class MotionCheck(NamedTuple):
    """Result of :func:`check_motion`: truthy when ``ok``; ``score`` in [0, 1], 0.5 at the threshold."""

    ok: bool
    score: float
    info: dict

    def __bool__(self) -> bool:
        return bool(self.ok)


def _soft(x: float, lo: float, hi: float) -> float:
    """Ramp from 0 at ``lo`` to 1 at ``hi`` (``hi < lo`` for 'smaller is better'); 0.5 at the midpoint."""
    if not np.isfinite(x):
        return 0.0
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def _kabsch(a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float]:
    """Best rotation R and translation t with ``b ~= a @ R.T + t``; rms residual."""
    ca, cb = a.mean(0), b.mean(0)
    H = (a - ca).T @ (b - cb)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0
    R = Vt.T @ np.diag([1.0, 1.0, d]) @ U.T
    t = cb - ca @ R.T
    res = float(np.sqrt(np.mean(np.sum((a @ R.T + t - b) ** 2, axis=1))))
    return R, t, res


def _angle_axis(R: np.ndarray) -> Tuple[float, np.ndarray]:
    angle = float(np.arccos(np.clip((np.trace(R) - 1) / 2, -1.0, 1.0)))
    axis = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    n = np.linalg.norm(axis)
    if n < 1e-9:
        if angle < 1e-6:
            return 0.0, np.array([0.0, 1.0, 0.0])
        w, V = np.linalg.eigh((R + R.T) / 2)  # angle ~ pi: axis is the eigenvector of eigenvalue 1
        return angle, V[:, int(np.argmax(w))]
    return angle, axis / n


class _Analysis:
    """Per-frame quantities shared by the checks, in units of the frame-0 half size."""

    def __init__(self, vertices: np.ndarray, max_points: int = 2000):
        X = np.asarray(vertices, dtype=np.float64)
        if X.ndim != 3 or X.shape[2] != 3 or X.shape[0] < 2 or X.shape[1] < 3:
            raise ValueError(f"Expected 'vertices' to have shape (T >= 2, N >= 3, 3) (got {X.shape})")
        if X.shape[1] > max_points:
            X = X[:, np.linspace(0, X.shape[1] - 1, max_points).astype(np.int64)]
        f = MeshFrame(X[0])
        self.frame = f
        self.X = (X - f.center) / f.size  # normalised like the training data
        self.T = X.shape[0]
        X0 = self.X[0]
        self.D = self.X - X0[None]
        self.motion = float(np.linalg.norm(self.D, axis=2).max())
        fits = [_kabsch(X0, Xt) for Xt in self.X]
        self.R = np.stack([r for r, _, _ in fits])
        self.t = np.stack([t for _, t, _ in fits])
        self.rigid_residual = max(res for _, _, res in fits)
        aa = [_angle_axis(r) for r in self.R]
        self.angle = np.array([a for a, _ in aa])
        self.main = int(np.argmax(self.angle))
        self.axis = aa[self.main][1]
        # signed angle about the main axis, accumulated frame to frame (unwrapped past 180 degrees)
        steps = []
        for k in range(1, self.T):
            a, n = _angle_axis(self.R[k] @ self.R[k - 1].T)
            steps.append(a * float(np.sign(n @ self.axis)) if a > 1e-9 else 0.0)
        self.steps = np.array(steps)
        self.signed_angle = np.concatenate([[0.0], np.cumsum(self.steps)])
        self.centroid = self.X.mean(1) - X0.mean(0)  # (T, 3)

    def affine(self):
        """Least-squares affine maps X0 -> Xt: (T, 3, 3) matrices and the largest rms residual."""
        X0 = self.X[0]
        A0 = np.concatenate([X0, np.ones((len(X0), 1))], axis=1)
        mats, res = [], 0.0
        for Xt in self.X:
            sol, *_ = np.linalg.lstsq(A0, Xt, rcond=None)
            mats.append(sol[:3].T)
            res = max(res, float(np.sqrt(np.mean(np.sum((A0 @ sol - Xt) ** 2, axis=1)))))
        return np.stack(mats), res

    def rigid(self) -> float:
        return _soft(self.rigid_residual, 0.03, 0.005)

    def nonrigid(self) -> float:
        return _soft(self.rigid_residual, 0.005, 0.03)


def _peaks(h: np.ndarray, prominence: float) -> List[int]:
    """Indices of local maxima of ``h`` standing ``prominence`` above the lowest point on each side."""
    out = []
    for k in range(1, len(h) - 1):
        if h[k] >= h[k - 1] and h[k] > h[k + 1]:
            left, right = h[: k + 1].min(), h[k:].min()
            if h[k] - max(left, right) >= prominence:
                out.append(k)
    return out


def _result(criteria: Dict[str, float], info: dict) -> MotionCheck:
    score = float(min(criteria.values())) if criteria else 0.0
    info = dict(info, criteria={k: round(float(v), 3) for k, v in criteria.items()})
    return MotionCheck(score >= 0.5, score, info)


def _check_spin(a: _Analysis) -> MotionCheck:
    n = a.axis
    # fixed axis line through p: solve (I - R) p = t for the frame of largest rotation
    R, t = a.R[a.main], a.t[a.main]
    p = np.linalg.lstsq(np.eye(3) - R, t, rcond=None)[0]
    p = p - (p @ n) * n
    rel = a.X - p
    along = rel @ n  # (T, N)
    dist = np.linalg.norm(rel - along[..., None] * n, axis=2)
    keep = float(max(np.abs(dist - dist[:1]).max(), np.abs(along - along[:1]).max()))
    total = float(a.signed_angle[-1])
    same_sign = float(np.mean(np.sign(a.steps) == np.sign(total))) if total else 0.0
    crit = {"rigid": a.rigid(), "angle": _soft(abs(total), np.deg2rad(15), np.deg2rad(45)),
            "keeps_axis_distance": _soft(keep, 0.05, 0.01), "monotone": _soft(same_sign, 0.6, 0.9)}
    clock = "clockwise" if total * n[UP] < 0 else "counterclockwise"
    return _result(crit, {"angle_deg": float(np.rad2deg(total)), "axis": n.tolist(), "axis_deviation": keep,
                          "direction": clock})


def _hop_like(a: _Analysis, bounces: bool) -> MotionCheck:
    h = a.centroid[:, UP]
    peak = float(h.max())
    prom = 0.5 * peak
    peaks = _peaks(np.concatenate([[h[0]], h, [h[-1]]]), prom) if peak > 0 else []
    horizontal = np.delete(a.centroid, UP, axis=1)
    crit = {"rigid": a.rigid(), "no_rotation": _soft(float(np.rad2deg(a.angle.max())), 20, 5),
            "height": _soft(peak, 0.04, 0.12),
            "lands": _soft(float(h[-1]) / max(peak, 1e-9), 0.5, 0.1) if not bounces else 1.0}
    if bounces:
        crit["several_peaks"] = 1.0 if len(peaks) >= 2 else 0.0
        if len(peaks) >= 2:
            dips = [h[i:j + 1].min() for i, j in zip(peaks[:-1], peaks[1:])]
            crit["returns_between"] = _soft(max(dips) / peak, 0.6, 0.2)
    else:
        crit["single_peak"] = 1.0 if len(peaks) == 1 else 0.0
    return _result(crit, {"peak_height": peak, "peaks": len(peaks),
                          "travel": float(np.linalg.norm(horizontal[-1]))})


def _rocking(a: _Analysis, axis: int, both_sides: bool) -> MotionCheck:
    n = a.axis
    ang = a.signed_angle
    amp = float(np.abs(ang).max())
    hi, lo = float(ang.max()), float(ang.min())
    crit = {"rigid": a.rigid(), "angle": _soft(float(np.rad2deg(amp)), 3, 8),
            "axis": _soft(abs(float(n[axis])), 0.5, 0.8)}
    if both_sides:
        crit["both_sides"] = _soft(min(hi, -lo) / max(amp, 1e-9), 0.1, 0.4)
    else:
        k = int(np.argmax(np.abs(ang)))
        after = np.abs(ang[k:]).min() if k < len(ang) - 1 else amp
        crit["returns"] = _soft(float(after) / max(amp, 1e-9), 0.6, 0.2)
    return _result(crit, {"amplitude_deg": float(np.rad2deg(amp)), "axis": n.tolist()})


def _check_slide(a: _Analysis) -> MotionCheck:
    c = a.centroid
    horizontal = c.copy()
    horizontal[:, UP] = 0
    dist = float(np.linalg.norm(horizontal[-1]))
    d = horizontal[-1] / max(dist, 1e-9)
    progress = horizontal @ d
    back = float(np.max(np.maximum.accumulate(progress) - progress))
    vertical = float(np.abs(c[:, UP]).max())
    crit = {"rigid": a.rigid(), "no_rotation": _soft(float(np.rad2deg(a.angle.max())), 10, 3),
            "distance": _soft(dist, 0.08, 0.2), "flat": _soft(vertical / max(dist, 1e-9), 0.4, 0.15),
            "monotone": _soft(back / max(dist, 1e-9), 0.2, 0.05)}
    axis = int(np.argmax(np.abs(d)))
    return _result(crit, {"distance": dist, "direction": direction_word(axis, int(np.sign(d[axis])))})


def _check_roll(a: _Analysis) -> MotionCheck:
    n = a.axis
    total = float(a.signed_angle[-1])
    c = a.centroid.copy()
    c[:, UP] = 0
    travel = c[-1]
    dist = float(np.linalg.norm(travel))
    expect = np.sign(total) * np.cross(n, AXES[UP])
    agree = float(travel @ expect) / max(dist * max(np.linalg.norm(expect), 1e-9), 1e-9)
    same_sign = float(np.mean(np.sign(a.steps) == np.sign(total))) if total else 0.0
    crit = {"rigid": a.rigid(), "horizontal_axis": _soft(abs(float(n[UP])), 0.5, 0.2),
            "angle": _soft(abs(total), np.deg2rad(20), np.deg2rad(50)), "monotone": _soft(same_sign, 0.6, 0.9),
            "travel": _soft(dist, 0.1, 0.25), "rolls_not_skids": _soft(agree, 0.4, 0.8)}
    axis = int(np.argmax(np.abs(travel)))
    return _result(crit, {"angle_deg": float(np.rad2deg(total)), "distance": dist,
                          "direction": direction_word(axis, int(np.sign(travel[axis])))})


def _long_axis_bins(a: _Analysis, bins: int = 8):
    s = a.frame.s
    idx = np.minimum((s * bins).astype(np.int64), bins - 1)
    return s, idx


def _check_bend(a: _Analysis) -> MotionCheck:
    L = a.frame.long_axis
    mag = np.linalg.norm(a.D, axis=2)
    k = int(np.argmax(mag.mean(1)))
    D = a.D[k]
    perp = D.copy()
    perp[:, L] = 0
    s = a.frame.s
    lo_end, hi_end = mag[k][s < 0.15].mean(), mag[k][s > 0.85].mean()
    if lo_end > hi_end:  # the fixed end is the far one
        s = 1 - s
        lo_end, hi_end = hi_end, lo_end
    pm = np.linalg.norm(perp, axis=1)
    mean_dir = perp.sum(0)
    md = mean_dir / max(np.linalg.norm(mean_dir), 1e-12)
    agree = float(np.sum(pm * (perp @ md > 0)) / max(pm.sum(), 1e-12))
    share = float(pm.sum() / max(mag[k].sum(), 1e-12))
    corr = float(np.corrcoef(s, pm)[0, 1]) if pm.std() > 0 else 0.0
    tip = s > 0.85
    sway = (a.D[:, tip] @ md).mean(1)  # (T,) the tip's sideways excursion over time
    other_side = float(max(-sway.min(), 0.0) / max(sway.max(), 1e-12))
    crit = {"nonrigid": a.nonrigid(), "sideways": _soft(share, 0.4, 0.7), "one_side": _soft(agree, 0.7, 0.95),
            "stays_on_one_side": _soft(other_side, 0.4, 0.15),
            "grows_along_axis": _soft(corr, 0.5, 0.85), "base_fixed": _soft(lo_end / max(hi_end, 1e-12), 0.35, 0.1),
            "amount": _soft(float(hi_end), 0.05, 0.15)}
    axis = int(np.argmax(np.abs(md)))
    return _result(crit, {"direction": direction_word(axis, int(np.sign(md[axis]))), "tip_displacement": hi_end})


def _section_angles(a: _Analysis, k: int, bins: int = 8):
    """Signed rotation angle about the long axis of each cross-section between frame 0 and frame k."""
    L = a.frame.long_axis
    n = AXES[L]
    s, idx = _long_axis_bins(a, bins)
    r0 = a.X[0].copy()
    rk = a.X[k].copy()
    r0[:, L] = 0
    rk[:, L] = 0
    cross = np.cross(r0, rk) @ n
    dot = np.sum(r0 * rk, axis=1)
    w = np.sum(r0 * r0, axis=1)
    centers, angles, radii_change = [], [], []
    for b in range(bins):
        m = idx == b
        if m.sum() < 3 or w[m].sum() < 1e-6:
            continue
        centers.append(s[m].mean())
        angles.append(np.arctan2(cross[m].sum(), dot[m].sum()))
        radii_change.append(np.abs(np.linalg.norm(rk[m], axis=1) - np.sqrt(w[m])).mean())
    return np.array(centers), np.array(angles), np.array(radii_change)


def _check_twist(a: _Analysis) -> MotionCheck:
    L = a.frame.long_axis
    k = int(np.argmax(np.linalg.norm(a.D, axis=2).mean(1)))
    centers, angles, dr = _section_angles(a, k)
    if len(angles) < 3:
        return _result({"sections": 0.0}, {})
    span = float(np.abs(angles[-1] - angles[0]))
    corr = float(abs(np.corrcoef(centers, angles)[0, 1])) if angles.std() > 0 else 0.0
    along = float(np.abs(a.D[k][:, L]).max())
    crit = {"nonrigid": a.nonrigid(), "angle_grows": _soft(float(np.rad2deg(span)), 10, 30),
            "linear_in_axis": _soft(corr, 0.7, 0.95), "sections_keep_shape": _soft(float(dr.max()), 0.08, 0.02),
            "no_stretch": _soft(along, 0.1, 0.03)}
    sign = np.sign(angles[-1] - angles[0])
    return _result(crit, {"angles_deg": np.rad2deg(angles).round(1).tolist(),
                          "direction": "clockwise" if sign < 0 else "counterclockwise"})


def _check_squash(a: _Analysis) -> MotionCheck:
    A, res = a.affine()
    sy = A[:, UP, UP]
    other = [i for i in range(3) if i != UP]
    sh = A[:, other, other].mean(axis=1)
    off = float(np.abs(A - np.einsum("tii->ti", A)[..., None] * np.eye(3)).max())
    k = int(np.argmax(np.abs(sy - 1)))
    opposite = float(-(sy[k] - 1) * (sh[k] - 1))
    vol = float(np.abs(np.linalg.det(A) - 1).max())
    crit = {"affine": _soft(res, 0.03, 0.005), "axis_aligned": _soft(off, 0.1, 0.03),
            "vertical_scale": _soft(float(np.abs(sy - 1).max()), 0.05, 0.12),
            "opposite_horizontal": _soft(opposite / max(abs(sy[k] - 1), 1e-9), 0.0, 0.05),
            "keeps_volume": _soft(vol, 0.35, 0.15)}
    return _result(crit, {"vertical_scale": sy.round(3).tolist(), "horizontal_scale": sh.round(3).tolist()})


def _check_breathe(a: _Analysis) -> MotionCheck:
    A, res = a.affine()
    s = np.einsum("tii->t", A) / 3
    aniso = float(np.abs(A - s[:, None, None] * np.eye(3)).max())
    amp = float(np.abs(s - 1).max())
    k = int(np.argmax(np.abs(s - 1)))
    after = float(np.abs(s[k:] - 1).min()) if k < len(s) - 1 else amp
    crit = {"affine": _soft(res, 0.03, 0.005), "isotropic": _soft(aniso / max(amp, 1e-9), 0.5, 0.2),
            "scales": _soft(amp, 0.02, 0.05), "returns": _soft(after / max(amp, 1e-9), 0.6, 0.25),
            "centred": _soft(float(np.linalg.norm(a.centroid, axis=1).max()) / max(amp, 1e-9), 0.5, 0.2)}
    return _result(crit, {"scale": s.round(3).tolist()})


def _check_wave(a: _Analysis, bins: int = 8) -> MotionCheck:
    L = a.frame.long_axis
    s, idx = _long_axis_bins(a, bins)
    D = a.D.copy()
    D[..., L] = 0
    share = float(np.linalg.norm(D, axis=2).sum() / max(np.linalg.norm(a.D, axis=2).sum(), 1e-12))
    flat = D.reshape(-1, 3)
    _, _, Vt = np.linalg.svd(flat - flat.mean(0), full_matrices=False)
    e = Vt[0]
    series, centers, coherent, total = [], [], 0.0, 0.0
    for b in range(bins):
        m = idx == b
        if m.sum() < 2:
            continue
        y = D[:, m] @ e
        series.append(y.mean(1))
        centers.append(s[m].mean())
        coherent += float(np.linalg.norm(D[:, m].mean(1), axis=1).sum())
        total += float(np.linalg.norm(D[:, m], axis=2).mean(1).sum())
    coherence = coherent / max(total, 1e-12)  # 1 when each cross-section moves as a whole
    if len(series) < 3:
        return _result({"sections": 0.0}, {})
    Y = np.stack(series)  # (B, T)
    Y = Y - Y.mean(1, keepdims=True)
    F = np.fft.rfft(Y, axis=1)
    power = np.abs(F[:, 1:]) ** 2
    if power.size == 0 or power.sum() <= 0:
        return _result({"oscillates": 0.0}, {})
    kf = 1 + int(np.argmax(power.sum(0)))
    strong = np.abs(F[:, kf]) > 0.2 * np.abs(F[:, kf]).max()
    phase = np.unwrap(np.angle(F[strong, kf]))
    c = np.array(centers)[strong]
    if len(phase) < 3:
        return _result({"sections": 0.0}, {})
    span = float(np.abs(phase[-1] - phase[0]))
    corr = float(abs(np.corrcoef(c, phase)[0, 1])) if phase.std() > 0 else 0.0
    crit = {"nonrigid": a.nonrigid(), "sideways": _soft(share, 0.5, 0.8), "coherent": _soft(coherence, 0.4, 0.7),
            "travels": _soft(float(np.rad2deg(span)), 30, 75), "steady_phase_shift": _soft(corr, 0.6, 0.9),
            # a travelling wave shifts phase gradually; a flip of sign between sections (pi) is not one
            "gradual": _soft(float(np.rad2deg(np.abs(np.diff(phase)).max())), 150, 100)}
    return _result(crit, {"phase_span_deg": float(np.rad2deg(span)), "frequency_bin": kf})


def _check_wag(a: _Analysis) -> MotionCheck:
    mag = np.linalg.norm(a.D, axis=2).max(0)  # (N,) largest displacement of each vertex
    top = float(mag.max())
    if top <= 0:
        return _result({"moves": 0.0}, {})
    dist = np.linalg.norm(a.X[0], axis=1)
    reach = float(dist.max())
    moving = mag >= 0.3 * top
    central = dist <= 0.5 * reach
    still = float(mag[central].max() / top) if central.any() else 0.0
    far = float(dist[moving].mean() / reach)
    part = a.D[:, moving].mean(1)  # (T, 3) mean displacement of the moving part
    _, _, Vt = np.linalg.svd(part - part.mean(0), full_matrices=False)
    y = part @ Vt[0]
    amp = float(np.abs(y).max())
    both = min(float(y.max()), float(-y.min())) / max(amp, 1e-12)
    k = int(np.argmax(np.abs(y)))
    back = float(np.abs(y[k:]).min() / max(amp, 1e-12)) if k < len(y) - 1 else 1.0
    crit = {"nonrigid": a.nonrigid(), "amount": _soft(top, 0.05, 0.15),
            "part_only": _soft(float(moving.mean()), 0.6, 0.35), "centre_still": _soft(still, 0.3, 0.1),
            "far_part": _soft(far, 0.5, 0.7), "back_and_forth": max(_soft(both, 0.1, 0.4), _soft(back, 0.6, 0.2))}
    return _result(crit, {"moving_fraction": float(moving.mean()), "far": far})


_CHECKS: Dict[str, Callable[[_Analysis], MotionCheck]] = {
    "spin": _check_spin,
    "hop": lambda a: _hop_like(a, bounces=False),
    "bounce": lambda a: _hop_like(a, bounces=True),
    "sway": lambda a: _rocking(a, axis=2, both_sides=True),
    "slide": _check_slide,
    "nod": lambda a: _rocking(a, axis=0, both_sides=False),
    "roll": _check_roll,
    "bend": _check_bend,
    "twist": _check_twist,
    "squash_stretch": _check_squash,
    "wave": _check_wave,
    "breathe": _check_breathe,
    "wag": _check_wag,
}


def check_motion(label: str, vertices) -> MotionCheck:
    r"""Whether an animation has the defining property of a motion label.

    Args:
        label (str): one of :data:`LABELS`.
        vertices: (T, N, 3) positions per frame (any units; frame 0 is the reference).

    Returns:
        :class:`MotionCheck` ``(ok, score, info)``; ``bool(result)`` is ``ok``.
        ``score`` is the smallest of the per-criterion scores in ``info["criteria"]``
        (each 0.5 at its threshold); ``info`` also holds measured quantities such as
        a spin's direction or a bend's side.
    """
    if label not in _CHECKS:
        raise ValueError(f"Unknown motion label {label!r} (expected one of {', '.join(LABELS)})")
    a = vertices if isinstance(vertices, _Analysis) else _Analysis(vertices)
    if a.motion < 1e-6:
        return MotionCheck(False, 0.0, {"criteria": {"moves": 0.0}})
    return _CHECKS[label](a)


def motion_scores(vertices) -> Dict[str, MotionCheck]:
    """:func:`check_motion` for every label at once (the analysis is shared)."""
    a = _Analysis(vertices)
    return {label: check_motion(label, a) for label in LABELS}
