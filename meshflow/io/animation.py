r"""Evaluate glTF animations into per-vertex trajectories.

:func:`sample_animation` turns one clip of an animated glTF / GLB file into
world-space vertex positions (T, N, 3), frame ``i`` being the pose at
``start + i / fps`` seconds after the clip's first keyframe (held at the last
pose past the clip's end). It evaluates

* node ``translation`` / ``rotation`` / ``scale`` channels with ``LINEAR``
  (quaternions by shortest-arc slerp), ``STEP`` and ``CUBICSPLINE`` (Hermite,
  with the stored tangents scaled by the keyframe interval) interpolation,
* the node hierarchy (world = parent world @ local),
* linear blend skinning, :math:`v' = \sum_k w_k\, W_{j_k} B_{j_k} v` with the
  joint world matrices :math:`W` and inverse bind matrices :math:`B`, over every
  ``JOINTS_i`` / ``WEIGHTS_i`` set, weights renormalised to sum to one (a vertex
  whose weights are all zero follows its node instead),
* morph targets (``weights`` channels or the mesh's default weights), applied
  before skinning,
* every triangle primitive of every mesh node of the scene, in scene order.

Vertices come out per file vertex (split at UV seams as the file stores them);
:func:`weld_animation` merges those that share a position and a trajectory.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import MeshFileError
from .gltf import Channel, Clip, GltfFile

#: frame rate used by ``meshflow data sample`` and ``meshflow data build`` unless told otherwise.
DEFAULT_FPS = 15.0


# ------------------------------------------------------------ quaternions ---
def quat_normalize(q: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(n > 0, q / np.where(n > 0, n, 1.0), np.array([0.0, 0.0, 0.0, 1.0]))


def quat_slerp(q0: np.ndarray, q1: np.ndarray, u: np.ndarray) -> np.ndarray:
    r"""Spherical interpolation on the short arc: ``q1`` is negated where ``q0 . q1 < 0``.

    Shapes:
        - **input:** q0, q1 (M, 4) xyzw; u (M,) in [0, 1]
        - **output:** (M, 4) unit quaternions
    """
    q0, q1 = quat_normalize(q0), quat_normalize(q1)
    dot = np.sum(q0 * q1, axis=-1)
    q1 = np.where((dot < 0)[:, None], -q1, q1)
    dot = np.abs(dot)
    u = u[:, None]
    close = (dot > 0.9995)[:, None]
    theta = np.arccos(np.clip(dot, -1.0, 1.0))[:, None]
    sin = np.sin(theta)
    safe = np.where(close, 1.0, sin)
    a = np.where(close, 1 - u, np.sin((1 - u) * theta) / safe)
    b = np.where(close, u, np.sin(u * theta) / safe)
    return quat_normalize(a * q0 + b * q1)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions ``(x, y, z, w)`` -> (..., 3, 3) rotation matrices."""
    q = quat_normalize(np.asarray(q, dtype=np.float64))
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], axis=-1).reshape(q.shape[:-1] + (3, 3))


def compose_trs(t: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Translation (..., 3), rotation (..., 4) xyzw, scale (..., 3) -> (..., 4, 4) ``T @ R @ S``."""
    m = np.zeros(t.shape[:-1] + (4, 4))
    m[..., :3, :3] = quat_to_matrix(r) * s[..., None, :]
    m[..., :3, 3] = t
    m[..., 3, 3] = 1.0
    return m


# ---------------------------------------------------------- interpolation ---
def interpolate(channel: Channel, t: np.ndarray) -> np.ndarray:
    r"""Evaluates one channel at times ``t`` (seconds, in the file's time line).

    Times before the first keyframe take the first value, times after the last
    take the last. ``rotation`` results are unit quaternions.

    CUBICSPLINE follows the glTF specification: with interval length
    :math:`\Delta = t_{k+1} - t_k` and :math:`s = (t - t_k) / \Delta`,

    .. math::
        p(s) = (2s^3 - 3s^2 + 1) v_k + (s^3 - 2s^2 + s) \Delta b_k
             + (-2s^3 + 3s^2) v_{k+1} + (s^3 - s^2) \Delta a_{k+1}

    where :math:`b_k` is keyframe k's out-tangent and :math:`a_{k+1}` the next in-tangent.

    Shapes:
        - **input:** t (T,)
        - **output:** (T, c)
    """
    times, values = channel.times, channel.values
    t = np.asarray(t, dtype=np.float64).ravel()
    rotation = channel.path == "rotation"
    cubic = channel.interpolation == "CUBICSPLINE"
    k = len(times)
    if k == 1:
        out = np.repeat((values[:, 1] if cubic else values)[:1], len(t), axis=0)
        return quat_normalize(out) if rotation else out
    if channel.interpolation == "STEP":
        idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, k - 1)
        out = values[idx]
        return quat_normalize(out) if rotation else out
    i0 = np.clip(np.searchsorted(times, t, side="right") - 1, 0, k - 2)
    i1 = i0 + 1
    dt = times[i1] - times[i0]
    u = np.where(dt > 0, (t - times[i0]) / np.where(dt > 0, dt, 1.0), 0.0)
    u = np.clip(u, 0.0, 1.0)
    if cubic:
        v0, b0 = values[i0, 1], values[i0, 2]
        v1, a1 = values[i1, 1], values[i1, 0]
        u2, u3 = u * u, u * u * u
        h00, h10 = 2 * u3 - 3 * u2 + 1, u3 - 2 * u2 + u
        h01, h11 = -2 * u3 + 3 * u2, u3 - u2
        d = dt[:, None]
        out = h00[:, None] * v0 + (h10[:, None] * d) * b0 + h01[:, None] * v1 + (h11[:, None] * d) * a1
        return quat_normalize(out) if rotation else out
    if rotation:
        return quat_slerp(values[i0], values[i1], u)
    return values[i0] * (1 - u)[:, None] + values[i1] * u[:, None]


# ------------------------------------------------------------------ clips ---
@dataclass
class ClipInfo:
    """Name, index and time span (seconds) of one animation of a file."""

    name: str
    index: int
    duration: float
    start: float = 0.0
    end: float = 0.0
    channels: int = 0

    @property
    def short_name(self) -> str:
        return self.name.rsplit("|", 1)[-1]


def list_clips(path) -> List[ClipInfo]:
    """The animations of a glTF / GLB file with their names and durations, in file order."""
    g = path if isinstance(path, GltfFile) else GltfFile(path)
    return [ClipInfo(c.name, c.index, c.duration, c.start, c.end, len(c.channels)) for c in g.clips]


def find_clip(clips: Sequence[Clip], name: Union[str, int, None], path="") -> Clip:
    """Picks a clip by index, full name or the part after ``|`` (exact, then case-insensitive)."""
    if not clips:
        raise MeshFileError(path, "has no animations")
    if name is None:
        return clips[0]
    if isinstance(name, int):
        if not 0 <= name < len(clips):
            raise MeshFileError(path, f"has no clip {name} (it has {len(clips)})")
        return clips[name]
    for match in (lambda c: c.name == name, lambda c: c.short_name == name,
                  lambda c: c.name.lower() == name.lower(), lambda c: c.short_name.lower() == name.lower()):
        found = [c for c in clips if match(c)]
        if found:
            return found[0]
    names = ", ".join(repr(c.name) for c in clips)
    raise MeshFileError(path, f"has no clip named {name!r} (clips: {names})")


def frame_times(duration: float, fps: float, frames: Optional[int] = None, start: float = 0.0) -> np.ndarray:
    """Times ``start + i / fps`` for ``frames`` frames (default: every frame up to ``duration``)."""
    if fps <= 0:
        raise ValueError(f"Expected 'fps' > 0 (got {fps})")
    if frames is None:
        frames = int(np.floor(max(duration - start, 0.0) * fps + 1e-6)) + 1
    if frames < 1:
        raise ValueError(f"Expected 'frames' >= 1 (got {frames})")
    return start + np.arange(frames) / fps


# -------------------------------------------------------------- animation ---
@dataclass
class Animation:
    r"""A sampled animation.

    Attributes:
        vertices (numpy.ndarray): (T, N, 3) float32 world-space positions.
        faces (numpy.ndarray): (F, 3) int64 triangles.
        times (numpy.ndarray): (T,) seconds after the clip's first keyframe.
        fps (float): sampling rate.
        clip (str): clip name (empty for a file without animations).
        source (str): file the animation came from.
        source_index (numpy.ndarray or None): after :meth:`welded`, (N_file,) file vertex
            -> welded vertex.
    """

    vertices: np.ndarray
    faces: np.ndarray
    times: np.ndarray
    fps: float
    clip: str = ""
    source: str = ""
    source_index: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def num_frames(self) -> int:
        return self.vertices.shape[0]

    @property
    def num_vertices(self) -> int:
        return self.vertices.shape[1]

    def welded(self) -> "Animation":
        """The same animation over welded vertices (see :func:`weld_animation`)."""
        v, f, src = weld_animation(self.vertices, self.faces)
        if self.source_index is not None:
            src = src[self.source_index]
        return replace(self, vertices=v, faces=f, source_index=src)


def weld_animation(vertices: np.ndarray, faces: np.ndarray, tol: float = 1e-6
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Merges vertices that coincide in frame 0 and stay together in every frame.

    Vertices with bit-identical frame-0 positions are grouped (as
    :func:`meshflow.data.graph.weld_vertices` does); a vertex whose trajectory
    leaves its group's by more than ``tol`` times the frame-0 extent keeps its own
    index. Triangles that collapse are dropped.

    Returns:
        ``(vertices (T, M, 3), faces (F', 3), source_index (N,))`` with
        ``vertices[:, source_index] ~= input vertices``.
    """
    from ..data.graph import drop_degenerate_faces, weld_vertices

    vertices = np.asarray(vertices)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    n = vertices.shape[1]
    if n == 0:
        return vertices, faces, np.zeros(0, dtype=np.int64)
    _, group = weld_vertices(vertices[0])
    first = np.full(group.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, group, np.arange(n))
    rep = first[group]
    extent = float(np.ptp(vertices[0], axis=0).max()) or 1.0
    dev = np.abs(vertices - vertices[:, rep]).max(axis=(0, 2))
    keep = dev <= tol * extent
    owner = np.where(keep, rep, np.arange(n))  # file vertex -> representative file vertex
    reps, source_index = np.unique(owner, return_inverse=True)
    # np.unique sorts by representative index = first occurrence order, as weld_vertices does.
    out_v = np.ascontiguousarray(vertices[:, reps])
    out_f = source_index[faces] if faces.size else faces
    out_f, _ = drop_degenerate_faces(out_f)
    return out_v, out_f, source_index.astype(np.int64)


class AnimationSampler:
    r"""Evaluates the clips of one glTF file; the static parts are prepared once.

    Args:
        source (str, Path or GltfFile): the file.
        scene (int, optional): scene to evaluate (default: the file's default scene).
        chunk (int, optional): frames x vertices blended at once in skinning,
            bounding memory. (default: :obj:`262144`)
    """

    def __init__(self, source, scene: Optional[int] = None, chunk: int = 1 << 18):
        self.file = source if isinstance(source, GltfFile) else GltfFile(source)
        self.path = self.file.path
        self.chunk = chunk
        g = self.file.gltf
        self.instances = []  # (node, mesh, skin or None, primitives, vertex offset)
        offset, faces = 0, []
        skins = self.file.skins
        for node in self.file.scene_nodes(scene):
            nd = g.nodes[node]
            if nd.mesh is None:
                continue
            prims = self.file.primitives(nd.mesh)
            skin = None
            if nd.skin is not None:
                try:
                    skin = skins[nd.skin]
                except (IndexError, TypeError):
                    raise MeshFileError(self.path, f"node {node} uses skin {nd.skin}, which does not exist") from None
            blend = []
            for p in prims:
                if p.joints is not None and skin is not None and p.joints.size and p.joints.max() >= len(skin.joints):
                    raise MeshFileError(self.path, f"mesh {p.mesh} primitive {p.index} uses joint "
                                                   f"{p.joints.max()} of a skin with {len(skin.joints)} joints")
                blend.append(self._blend_weights(p) if skin is not None and p.joints is not None else None)
                faces.append(p.faces + offset)
                offset += len(p.positions)
            self.instances.append((node, nd.mesh, skin, prims, blend))
        self.num_vertices = offset
        self.faces = np.concatenate(faces) if faces else np.zeros((0, 3), dtype=np.int64)
        self.rest = np.concatenate([p.positions for _, _, _, ps, _ in self.instances for p in ps]) \
            if offset else np.zeros((0, 3))

    #: number of vertices whose skin weights were missing or invalid and were borrowed from a neighbour.
    repaired_vertices: int = 0

    def _blend_weights(self, p):
        r"""Skin weights ready to blend: ``(joints (n, K), weights (n, K) summing to 1, loose (n,) bool)``.

        Non-finite and negative weights count as zero. A vertex left with no weight
        (invalid in glTF, yet some exporters write NaN weights) takes the joints and
        weights of the nearest vertex of its primitive that has some; only when the
        whole primitive has none does it follow its node (``loose``).
        """
        w = np.where(np.isfinite(p.weights), p.weights, 0.0)
        w = np.clip(w, 0.0, None)
        joints = p.joints
        total = w.sum(axis=1)
        loose = total <= 0
        if np.any(loose) and not np.all(loose):
            from scipy.spatial import cKDTree

            good = np.flatnonzero(~loose)
            _, nearest = cKDTree(p.positions[good]).query(p.positions[loose])
            w, joints = w.copy(), joints.copy()
            w[loose], joints[loose] = w[good[nearest]], joints[good[nearest]]
            self.repaired_vertices += int(loose.sum())
            total = w.sum(axis=1)
            loose = total <= 0
        w = w / np.where(loose, 1.0, total)[:, None]
        return joints, w, loose

    @property
    def clips(self) -> List[Clip]:
        return self.file.clips

    def clip(self, name: Union[str, int, None] = None) -> Clip:
        return find_clip(self.clips, name, self.path)

    def node_matrices(self, clip: Optional[Clip], times: np.ndarray):
        """World matrices (T, num_nodes, 4, 4) and animated morph weights {node: (T, m)}."""
        t0, r0, s0 = self.file.rest_trs
        T, n = len(times), self.file.num_nodes
        trans = np.broadcast_to(t0, (T, n, 3)).copy()
        rot = np.broadcast_to(r0, (T, n, 4)).copy()
        scale = np.broadcast_to(s0, (T, n, 3)).copy()
        weights, animated = {}, set()
        for ch in clip.channels if clip is not None else []:
            v = interpolate(ch, times)
            if ch.path == "translation":
                trans[:, ch.node] = v
            elif ch.path == "rotation":
                rot[:, ch.node] = v
            elif ch.path == "scale":
                scale[:, ch.node] = v
            else:
                weights[ch.node] = v
                continue
            animated.add(ch.node)
        local = compose_trs(trans, rot, scale)
        for node, mat in self.file.matrix_nodes().items():
            if node not in animated:
                local[:, node] = mat  # exact, shear included
        return self.file.world_matrices(local), weights

    def evaluate(self, clip: Optional[Clip], times: np.ndarray) -> np.ndarray:
        """World-space positions (T, N, 3) float32 at ``times`` (seconds on the file's time line)."""
        times = np.asarray(times, dtype=np.float64).ravel()
        T = len(times)
        out = np.empty((T, self.num_vertices, 3), dtype=np.float32)
        world, anim_weights = self.node_matrices(clip, times)
        offset = 0
        for node, _mesh, skin, prims, blend in self.instances:
            mw = anim_weights.get(node)
            if mw is None:
                default = self.file.mesh_weights(node)
                mw = np.broadcast_to(default, (T, len(default)))
            joint_mats = None
            if skin is not None and len(skin.joints):
                joint_mats = world[:, skin.joints] @ skin.inverse_bind  # (T, J, 4, 4)
            for p, bw in zip(prims, blend):
                n = len(p.positions)
                pos = p.positions
                m = min(p.targets.shape[0], mw.shape[1])
                if m and np.any(mw[:, :m] != 0):
                    pos = pos[None] + np.einsum("tm,mnc->tnc", mw[:, :m], p.targets[:m])  # (T, n, 3)
                if joint_mats is not None and bw is not None:
                    v = self._skin(pos, *bw, joint_mats, world[:, node])
                else:
                    v = _apply(world[:, node][:, None], pos)
                out[:, offset:offset + n] = v
                offset += n
        return out

    def _skin(self, pos, joints, w, loose, joint_mats, node_mat) -> np.ndarray:
        T, n = joint_mats.shape[0], len(joints)
        used = [k for k in range(w.shape[1]) if np.any(w[:, k] > 0)]
        out = np.empty((T, n, 3))
        step = max(1, self.chunk // max(n, 1))
        for a in range(0, T, step):
            b = min(T, a + step)
            mats = np.zeros((b - a, n, 3, 4))
            for k in used:
                mats += w[None, :, k, None, None] * joint_mats[a:b][:, joints[:, k], :3, :]
            p = pos[a:b] if pos.ndim == 3 else pos[None]
            out[a:b] = _apply(mats, p)
        if np.any(loose):
            p = pos[:, loose] if pos.ndim == 3 else pos[loose]
            out[:, loose] = _apply(node_mat[:, None], p)
        return out

    def sample(self, clip: Union[str, int, None] = None, fps: float = DEFAULT_FPS,
               frames: Optional[int] = None, start: float = 0.0) -> Animation:
        """Samples one clip (default: the first; a file without animations gives its rest pose)."""
        c = self.clip(clip) if (self.clips or clip is not None) else None
        duration = c.duration if c is not None else 0.0
        rel = frame_times(duration, fps, frames, start)
        t = (c.start if c is not None else 0.0) + np.clip(rel, 0.0, duration)
        v = self.evaluate(c, t)
        return Animation(v, self.faces.copy(), rel, float(fps), c.name if c is not None else "", str(self.path))


def _apply(mats: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Affine (..., 3|4, 4) matrices applied to points (..., 3), elementwise (no reductions).

    Written out per component so that equal inputs give bit-equal outputs wherever
    they sit in the array (welding relies on it).
    """
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    return np.stack([mats[..., i, 0] * x + mats[..., i, 1] * y + mats[..., i, 2] * z + mats[..., i, 3]
                     for i in range(3)], axis=-1)


def sample_animation(path, clip: Union[str, int, None] = None, fps: float = DEFAULT_FPS,
                     frames: Optional[int] = None, start: float = 0.0, weld: bool = False,
                     scene: Optional[int] = None) -> Animation:
    r"""Evaluates one animation of a glTF / GLB file into vertex trajectories.

    Args:
        path (str or Path): ``.gltf`` or ``.glb`` file.
        clip (str or int, optional): clip index, full name or the part after ``|``
            (default: the first clip).
        fps (float, optional): frames per second. (default: :obj:`15.0`)
        frames (int, optional): number of frames; frame ``i`` is the pose at
            ``start + i / fps`` seconds, held at the last pose past the clip's end.
            (default: every frame of the clip)
        start (float, optional): seconds into the clip of frame 0. (default: :obj:`0.0`)
        weld (bool, optional): merge vertices split at seams. (default: :obj:`False`)
        scene (int, optional): scene to evaluate. (default: the file's default scene)

    Returns:
        :class:`Animation` with ``vertices`` (T, N, 3) float32 in world space.
    """
    anim = AnimationSampler(path, scene=scene).sample(clip, fps=fps, frames=frames, start=start)
    return anim.welded() if weld else anim
