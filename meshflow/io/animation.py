r"""Animations: the one :class:`Animation` value, glTF sampling, and every animation file in and out.

:class:`Animation` holds per-vertex trajectories ``vertices`` (T, N, 3) with their
triangles, frame rate, prompt, the input scene when there is one (so glTF output keeps
its materials and UVs), the file-vertex -> graph-vertex map and how it was made.
:func:`load_animation` reads every animation format and :func:`save_animation`
writes every one, atomically (:mod:`meshflow.io.atomic`):

* ``.glb`` / ``.gltf``: read (skinned, morphed or node animations; the first clip, at
  its keyframes, which for meshflow's own files are its frames) and written (morph targets);
* ``.npz``: meshflow's npz (:mod:`meshflow.io.dymesh`), read and written;
* ``.bin`` / ``.pkl``: the original DyMesh pickles, read safely;
* a folder (a path ending in ``/``): ``frame_0000.obj``, ..., read and written.

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
:meth:`Animation.welded` merges those that share a position and a trajectory.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from ..errors import MeshFileError
from .dymesh import NPZ_SUFFIXES, PICKLE_SUFFIXES, AnimationFileError, load_dymesh, load_npz_animation
from .export import output_format, write_gltf, write_npz, write_obj_sequence
from .geometry import compose_trs, quat_normalize, quat_slerp, weld_animation
from .gltf import Channel, Clip, GltfFile
from .mesh import MeshFile, MeshPart, read_mesh

#: frame rate used by ``meshflow data sample`` and ``meshflow data build`` unless told otherwise.
DEFAULT_FPS = 15.0
#: file types :func:`load_animation` reads (and a folder of ``frame_*.obj``).
ANIMATION_EXTENSIONS = (".glb", ".gltf") + NPZ_SUFFIXES + PICKLE_SUFFIXES


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
    r"""An animation: per-vertex trajectories and everything needed to write them back.

    Attributes:
        vertices (numpy.ndarray): (T, N, 3) float32 world-space positions per frame
            (per file vertex when ``mesh`` is given).
        faces (numpy.ndarray): (F, 3) int64 triangles ((0, 3) for point clouds).
        fps (float or None): frames per second (``None``: the file does not say).
        prompt (str): the text prompt or caption (``""`` = unconditional).
        mesh (MeshFile, optional): the input scene (parts with UVs and materials);
            glTF and OBJ output is written onto it.
        source_index (numpy.ndarray, optional): (N_file,) file vertex -> graph (welded)
            vertex. With ``mesh``, ``vertices`` are per file vertex and this says which
            ones are one graph vertex (export then never welds again); after
            :meth:`welded`, ``vertices`` are per welded vertex.
        clip (str): the glTF clip sampled (``""`` otherwise). source (str): the file read.
        start (float): seconds into the clip of frame 0 (see :attr:`times`).
        loop (bool): whether :meth:`looped` made the end blend into the start.
        seed, steps, guidance, tokens, model: provenance of a generated animation
            (noise seed, ODE grid points, CFG scale, latent tokens K, model directory).
        device (str): where it ran.
        timings (dict): seconds per stage (``read``, ``text``, ``encode``, ``sample``, ``decode``);
            stages shared by a batch are counted in full for each of its animations.
        notes (list): remarks for the user (point cloud, unconditional, loop).
        score (float, optional): the ranking score of a candidate of ``num_samples > 1``
            (:func:`meshflow.ranking.score_sample`; lower is better). Provenance like ``seed``:
            not written by :func:`save_animation`, ``None`` after :func:`load_animation`.
    """

    vertices: np.ndarray
    faces: np.ndarray
    fps: Optional[float] = None
    prompt: str = ""
    mesh: Optional[MeshFile] = field(default=None, repr=False)
    source_index: Optional[np.ndarray] = field(default=None, repr=False)
    clip: str = ""
    source: str = ""
    start: float = 0.0
    loop: bool = False
    seed: Optional[int] = None
    steps: Optional[int] = None
    guidance: Optional[float] = None
    tokens: int = 0
    model: str = ""
    device: str = ""
    timings: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    score: Optional[float] = None

    @property
    def num_frames(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[1])

    @property
    def welded_vertices(self) -> int:
        """Vertices of the graph (the model's view): from ``source_index``, else every vertex."""
        return int(self.source_index.max()) + 1 if self.source_index is not None else self.num_vertices

    @property
    def times(self) -> np.ndarray:
        """(T,) seconds after the clip's first keyframe, ``start + i / fps``."""
        return self.start + np.arange(self.num_frames) / (self.fps or DEFAULT_FPS)

    @property
    def displacements(self) -> np.ndarray:
        """(T, N, 3) motion relative to the input positions (frame 0 without an input scene)."""
        rest = self.mesh.vertices if self.mesh is not None else self.vertices[0]
        return self.vertices - rest[None]

    def welded(self) -> "Animation":
        """The same animation over welded vertices (see :func:`meshflow.io.geometry.weld_animation`)."""
        v, f, src = weld_animation(self.vertices, self.faces)
        if self.source_index is not None:
            src = src[self.source_index]
        return replace(self, vertices=v, faces=f, source_index=src, mesh=None)

    def looped(self, blend: Optional[int] = None) -> "Animation":
        """A copy whose last ``blend`` frames ease into frame 0, so the clip repeats without a jump.

        See :func:`loop_frames`; saved as glTF, the clip also gets a closing keyframe equal to frame 0.
        """
        vertices, blend = loop_frames(self.vertices, blend)
        note = (f"loop: blended the last {blend} of {self.num_frames} frames into the first; "
                "the clip repeats without a jump")
        return replace(self, vertices=vertices, loop=True, notes=self.notes + [note])

    def save(self, path, fps: Optional[float] = None, normals: bool = True) -> Path:
        """Writes ``.glb``/``.gltf`` (morph targets on the input scene), ``.npz``, or an OBJ sequence
        (a path ending in ``/``); see :func:`save_animation`."""
        return save_animation(path, self if fps is None else replace(self, fps=fps), normals=normals)

    def __repr__(self) -> str:
        return (f"Animation(frames={self.num_frames}, vertices={self.num_vertices}, tokens={self.tokens}, "
                f"prompt={self.prompt!r})")


def loop_frames(vertices: np.ndarray, blend: Optional[int] = None):
    r"""Eases the last ``blend`` frames towards frame 0 so that a repeating clip has no jump.

    .. math::
        V'_{T-b+i} = (1 - w_i) V_{T-b+i} + w_i V_0, \qquad
        w_i = \operatorname{smoothstep}\big(\tfrac{i + 1}{b + 1}\big), \quad i < b

    Frame 0 and the frames before the blend are unchanged; the step from the
    last frame back to frame 0 shrinks to :math:`1 - w_{b-1}` of what it was.

    Args:
        vertices: (T, N, 3) positions.
        blend: frames to blend (default: a quarter of the clip, at least 2, at most T - 1).

    Returns:
        ``(vertices (T, N, 3), blend)``.
    """
    v = np.asarray(vertices, dtype=np.float32)
    T = v.shape[0]
    if T < 3:
        return v.copy(), 0
    blend = max(2, T // 4) if blend is None else int(blend)
    blend = min(max(blend, 0), T - 1)
    out = v.copy()
    for i in range(blend):
        x = (i + 1) / (blend + 1)
        w = np.float32(x * x * (3 - 2 * x))
        out[T - blend + i] = (1 - w) * v[T - blend + i] + w * v[0]
    return out, blend


class AnimationSampler:
    r"""Evaluates the clips of one glTF file; the static parts are prepared once.

    Args:
        source (str, Path or GltfFile): the file.
        scene (int, optional): scene to evaluate (default: the file's default scene).
        chunk (int, optional): frames x vertices blended at once in skinning,
            bounding memory. (default: :obj:`262144`)
        points (bool, optional): evaluate point primitives too (as vertices without
            faces). (default: :obj:`False`)
    """

    def __init__(self, source, scene: Optional[int] = None, chunk: int = 1 << 18, points: bool = False):
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
            prims = self.file.primitives(nd.mesh, points=points)
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
        return Animation(v, self.faces.copy(), fps=float(fps), clip=c.name if c is not None else "",
                         source=str(self.path), start=float(rel[0]))


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


# ------------------------------------------------------------------ files ---
def _scene(animation: Animation) -> MeshFile:
    """The input scene, or one part built from frame 0 and the faces for an animation read from a file."""
    if animation.mesh is not None:
        return animation.mesh
    v0 = np.asarray(animation.vertices[0], dtype=np.float32)
    faces = np.asarray(animation.faces, dtype=np.int64).reshape(-1, 3)
    geom = trimesh.Trimesh(v0, faces, process=False) if len(faces) else trimesh.PointCloud(v0)
    return MeshFile(path=Path(animation.source or "animation"), vertices=v0, faces=faces,
                    parts=[MeshPart(name="mesh", mesh=geom, start=0)])


def save_animation(path, animation: Animation, normals: bool = True) -> Path:
    r"""Writes an animation, choosing the format from ``path`` (see :func:`meshflow.io.export.output_format`).

    ``.glb`` / ``.gltf``: the input scene with one morph target per frame and an
    animation driving the weights; ``.npz``: ``vertices``, ``faces``, ``caption``,
    ``fps``; a folder (a path ending in ``/``): ``frame_0000.obj``, ... Every format is
    written to a temporary file or folder beside ``path`` and renamed into place.

    Args:
        path: the output.
        animation (Animation): what to write.
        normals (bool, optional): per-frame normals in glTF output. (default: :obj:`True`)
    """
    kind = output_format(path)
    fps = animation.fps or 24.0
    if kind == "npz":
        return write_npz(path, animation.vertices, animation.faces, fps=animation.fps, prompt=animation.prompt)
    mesh = _scene(animation)
    if kind in ("glb", "gltf"):
        return write_gltf(path, mesh, animation.vertices, fps=fps, loop=animation.loop, normals=normals,
                          prompt=animation.prompt, source_index=animation.source_index)
    return write_obj_sequence(path, mesh, animation.vertices)


def _read_gltf(path: Path) -> Animation:
    """A glTF animation through :class:`AnimationSampler`: its first clip, at the keyframes of its
    longest ``weights`` channel (meshflow's morph-target files: every frame), else of its longest
    channel; without animations, the rest pose. meshflow's ``extras`` give fps, frames and prompt."""
    try:
        sampler = AnimationSampler(GltfFile(path), points=True)
    except MeshFileError as e:
        raise MeshFileError(path, f"not a readable glTF file ({e.problem})") from None
    if sampler.num_vertices == 0:
        raise MeshFileError(path, "contains no mesh primitives")
    clip = sampler.clips[0] if sampler.clips else None
    anims = sampler.file.gltf.animations or []
    extras = (anims[0].extras or {}).get("meshflow", {}) if anims else {}
    channels = [] if clip is None else ([c for c in clip.channels if c.path == "weights"] or clip.channels)
    times = max((c.times for c in channels), key=len) if channels else np.zeros(1)
    vertices = sampler.evaluate(clip, times)
    total = extras.get("frames")
    if isinstance(total, int) and 0 < total < len(vertices):
        vertices = vertices[:total]  # a looping file closes with a keyframe equal to the first
    fps = float(extras.get("fps") or 0.0)
    if not fps and len(times) > 1 and times[1] > times[0]:
        fps = float(1.0 / (times[1] - times[0]))
    return Animation(np.ascontiguousarray(vertices), sampler.faces.copy(), fps=fps or 24.0,
                     prompt=str(extras.get("prompt", "")), clip=clip.name if clip is not None else "",
                     source=str(path))


def _read_obj_sequence(folder: Path) -> Animation:
    """``frame_0000.obj``, ... written by :func:`save_animation`; the faces and parts of frame 0."""
    frames = sorted(folder.glob("frame_*.obj"))
    if not frames:
        raise MeshFileError(folder, "has no frame_*.obj files")
    meshes = [read_mesh(p) for p in frames]
    counts = {len(m.vertices) for m in meshes}
    if len(counts) > 1:
        raise AnimationFileError(folder, f"vertex count changes across frames ({sorted(counts)})",
                                 "vertex count changes")
    vertices = np.stack([m.vertices for m in meshes]).astype(np.float32)
    return Animation(vertices, meshes[0].faces, mesh=meshes[0], source=str(folder))


def load_animation(path) -> Animation:
    r"""Reads any animation file meshflow knows (see the module docstring).

    Raises:
        MeshFileError: a missing or unreadable file, an unknown type.
        AnimationFileError: an npz or pickle that is not an animation (an
            :class:`~meshflow.io.dymesh.UnsafePickleError` for a pickle that asks to run code).
    """
    path = Path(path)
    if path.is_dir():
        return _read_obj_sequence(path)
    ext = path.suffix.lower()
    if ext not in ANIMATION_EXTENSIONS:
        raise AnimationFileError(path, f"unknown animation type '{path.suffix}' (expected "
                                       f"{', '.join(ANIMATION_EXTENSIONS)} or a folder of frame_*.obj)")
    if not path.is_file():
        raise MeshFileError(path, "file not found")
    if ext in (".glb", ".gltf"):
        return _read_gltf(path)
    sample = load_npz_animation(path) if ext in NPZ_SUFFIXES else load_dymesh(path)
    return Animation(sample["vertices"], sample["faces"], fps=sample.get("fps"), prompt=sample["caption"],
                     source=str(path))


__all__ = ["ANIMATION_EXTENSIONS", "DEFAULT_FPS", "Animation", "AnimationSampler", "ClipInfo", "find_clip",
           "frame_times", "interpolate", "list_clips", "load_animation", "loop_frames", "sample_animation",
           "save_animation"]
