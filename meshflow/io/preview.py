"""Headless previews of animations: shaded frames rendered with OpenGL, written as GIF, MP4 or PNG.

Rendering goes through `moderngl <https://github.com/moderngl/moderngl>`_ on an
offscreen EGL context, so it needs no window or display: on a machine without
a GPU, Mesa's llvmpipe software rasteriser does the work (Debian packages
``libegl1 libgl1-mesa-dri``); with an NVIDIA driver, the GPU does.

The camera is fixed for the whole clip: it looks at the centre of the box that
holds every frame, from the front-right and slightly above (+Y is up, +Z
faces the viewer, as in glTF), and is far enough away that the sphere around
that box fits the picture. Surfaces are lit by a key light, a fill light and
ambient light, with smooth normals computed per frame on the welded mesh (so
UV seams leave no shading seam); meshes without faces are drawn as points.
"""
from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple, Union

import imageio.v2 as iio2
import imageio.v3 as iio
import moderngl
import numpy as np

from ..errors import MeshflowError
from .animation import Animation, load_animation
from .atomic import atomic_file
from .geometry import vertex_normals, weld_vertices

PREVIEW_EXTENSIONS = (".gif", ".mp4", ".png")

_VERTEX_SHADER = """
#version 330
uniform mat4 mvp;
uniform float point_size;
in vec3 in_position;
in vec3 in_normal;
out vec3 v_normal;
void main() {
    v_normal = in_normal;
    gl_PointSize = point_size;
    gl_Position = mvp * vec4(in_position, 1.0);
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform vec3 color;
uniform vec3 key_direction;
uniform vec3 fill_direction;
uniform vec3 view_direction;
uniform bool lit;
in vec3 v_normal;
out vec4 f_color;
void main() {
    if (!lit) { f_color = vec4(color * 0.85, 1.0); return; }
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;  // two-sided: a flipped triangle is still lit
    float key = max(dot(n, key_direction), 0.0);
    float fill = max(dot(n, fill_direction), 0.0);
    float rim = pow(1.0 - max(dot(n, view_direction), 0.0), 3.0);
    vec3 half_vector = normalize(key_direction + view_direction);
    float specular = pow(max(dot(n, half_vector), 0.0), 32.0) * 0.15;
    vec3 shade = color * (0.25 + 0.7 * key + 0.25 * fill) + vec3(specular + 0.1 * rim);
    f_color = vec4(pow(clamp(shade, 0.0, 1.0), vec3(1.0 / 1.1)), 1.0);
}
"""


@dataclass
class PreviewResult:
    """What :func:`render_preview` wrote: the file, frame count, size, fps and seconds spent."""

    path: Path
    frames: int
    size: int
    fps: float
    seconds: float


def create_context():
    """An offscreen OpenGL 3.3 context (EGL; a window-system context as a fallback).

    Raises:
        MeshflowError: no OpenGL implementation could be opened, with what to install.
    """
    errors = []
    for kwargs in ({"backend": "egl"}, {}):
        try:
            return moderngl.create_standalone_context(require=330, **kwargs)
        except Exception as e:  # glcontext raises plain Exceptions with the loader's message
            errors.append(f"{kwargs.get('backend', 'default')}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    raise MeshflowError(
        "cannot open an offscreen OpenGL 3.3 context for the preview (" + "; ".join(errors) + "). "
        "On Debian/Ubuntu install EGL and Mesa's software renderer: apt-get install libegl1 libgl1-mesa-dri"
    )


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """World-to-camera matrix (4, 4), OpenGL convention (the camera looks down -Z)."""
    forward = target - eye
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, up)
    right = right / np.linalg.norm(right)
    true_up = np.cross(right, forward)
    view = np.eye(4)
    view[0, :3], view[1, :3], view[2, :3] = right, true_up, -forward
    view[:3, 3] = -view[:3, :3] @ eye
    return view


def perspective(fov_y: float, aspect: float, near: float, far: float) -> np.ndarray:
    """OpenGL perspective projection (4, 4); ``fov_y`` in radians."""
    f = 1.0 / math.tan(fov_y / 2)
    proj = np.zeros((4, 4))
    proj[0, 0], proj[1, 1] = f / aspect, f
    proj[2, 2] = (far + near) / (near - far)
    proj[2, 3] = 2 * far * near / (near - far)
    proj[3, 2] = -1.0
    return proj


def frame_camera(vertices: np.ndarray, azimuth: float = 35.0, elevation: float = 20.0,
                 fov: float = 35.0) -> Tuple[np.ndarray, np.ndarray]:
    """A fixed camera framing every frame: ``(mvp (4, 4), view_direction (3,))``.

    Args:
        vertices: (T, N, 3) positions of all frames.
        azimuth: degrees around +Y from the +Z axis towards +X.
        elevation: degrees above the horizontal plane.
        fov: vertical field of view in degrees.
    """
    lo = vertices.reshape(-1, 3).min(axis=0).astype(np.float64)
    hi = vertices.reshape(-1, 3).max(axis=0).astype(np.float64)
    center = (lo + hi) / 2
    radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-6)
    az, el = math.radians(azimuth), math.radians(elevation)
    direction = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
    up = np.array([0.0, 1.0, 0.0])
    # Back the camera off until all eight corners of the box lie inside the view, with a margin.
    basis = look_at(direction, np.zeros(3), up)[:3, :3]  # rows: right, up, backwards
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    local = (corners - center) @ basis.T  # (8, 3) in camera axes, camera at the origin of the box
    tan = math.tan(math.radians(fov) / 2) / 1.08
    distance = float(np.max(np.abs(local[:, :2]).max(axis=1) / tan + local[:, 2]))
    distance = max(distance, radius * 1e-3)
    eye = center + distance * direction
    view = look_at(eye, center, up)
    near = max(distance - radius * 1.5, distance * 1e-3)
    proj = perspective(math.radians(fov), 1.0, near, distance + radius * 1.5)
    return proj @ view, direction


def render_frames(vertices, faces, size: int = 512, color=(0.72, 0.74, 0.78), background=(1.0, 1.0, 1.0),
                  samples: int = 4, azimuth: float = 35.0, elevation: float = 20.0) -> np.ndarray:
    """Renders every frame of an animation from one fixed camera.

    Args:
        vertices: (T, N, 3) positions per frame.
        faces: (F, 3) triangles, or (0, 3) to draw the vertices as points.
        size: width and height in pixels. (default: 512)
        color: surface colour, RGB in [0, 1].
        background: background colour, RGB in [0, 1]. (default: white)
        samples: multisample anti-aliasing samples (0 or 1 to turn it off). (default: 4)
        azimuth, elevation: camera direction in degrees (see :func:`frame_camera`).

    Returns:
        (T, size, size, 3) uint8 images.
    """
    vertices = np.asarray(vertices, dtype=np.float32)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if vertices.ndim != 3 or vertices.shape[-1] != 3 or vertices.shape[0] == 0 or vertices.shape[1] == 0:
        raise ValueError(f"Expected 'vertices' to have shape (T, N, 3) with T, N > 0 (got {vertices.shape})")
    if faces.size and (faces.min() < 0 or faces.max() >= vertices.shape[1]):
        raise ValueError(f"Face indices must lie in [0, {vertices.shape[1]}) (got [{faces.min()}, {faces.max()}])")
    # Weld on frame 0 so that smooth normals do not break at UV seams; render the welded mesh.
    _, source_index = weld_vertices(vertices[0])
    representative = np.zeros(int(source_index.max()) + 1, dtype=np.int64)
    representative[source_index] = np.arange(len(source_index))
    vertices = vertices[:, representative]
    faces = source_index[faces] if faces.size else faces
    mvp, view_direction = frame_camera(vertices, azimuth, elevation)
    key = np.array([0.4, 0.8, 0.6]) + 0.5 * view_direction
    fill = np.array([-0.6, 0.2, 0.3]) + 0.3 * view_direction

    ctx = create_context()
    try:
        program = ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        program["mvp"].write(mvp.T.astype("f4").tobytes())  # GLSL matrices are column-major
        program["color"].value = tuple(float(c) for c in color)
        program["key_direction"].value = tuple(key / np.linalg.norm(key))
        program["fill_direction"].value = tuple(fill / np.linalg.norm(fill))
        program["view_direction"].value = tuple(view_direction)
        program["lit"].value = bool(faces.size)
        program["point_size"].value = max(2.0, size / 200)
        n = vertices.shape[1]
        vbo = ctx.buffer(reserve=n * 6 * 4)
        ibo = ctx.buffer(faces.astype("u4").tobytes()) if faces.size else None
        vao = ctx.vertex_array(program, [(vbo, "3f 3f", "in_position", "in_normal")], index_buffer=ibo)
        samples = samples if samples and samples > 1 and ctx.max_samples >= samples else 0
        target = ctx.framebuffer(color_attachments=[ctx.renderbuffer((size, size), 3)],
                                 depth_attachment=ctx.depth_renderbuffer((size, size)))
        draw = target
        if samples:
            draw = ctx.framebuffer(color_attachments=[ctx.renderbuffer((size, size), 3, samples=samples)],
                                   depth_attachment=ctx.depth_renderbuffer((size, size), samples=samples))
        ctx.enable(ctx.DEPTH_TEST | ctx.PROGRAM_POINT_SIZE)
        mode = ctx.TRIANGLES if faces.size else ctx.POINTS
        images = np.empty((vertices.shape[0], size, size, 3), dtype=np.uint8)
        for t, frame in enumerate(vertices):
            normals = vertex_normals(frame, faces) if faces.size else np.zeros_like(frame)
            vbo.write(np.concatenate([frame, normals], axis=1).astype("f4").tobytes())
            draw.use()
            draw.clear(*background, 1.0)
            vao.render(mode)
            if draw is not target:
                ctx.copy_framebuffer(target, draw)
            pixels = np.frombuffer(target.read(components=3, alignment=1), dtype=np.uint8)
            images[t] = pixels.reshape(size, size, 3)[::-1]  # OpenGL rows start at the bottom
        return images
    finally:
        ctx.release()


def contact_sheet(images: np.ndarray, columns: Optional[int] = None, max_frames: int = 16) -> np.ndarray:
    """Tiles up to ``max_frames`` evenly spaced frames into one image (for a still ``.png`` preview)."""
    count = min(len(images), max_frames)
    picked = images[np.linspace(0, len(images) - 1, count).round().astype(int)]
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    h, w = picked.shape[1:3]
    sheet = np.full((rows * h, columns * w, 3), 255, dtype=np.uint8)
    for i, image in enumerate(picked):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = image
    return sheet


def write_video(path, images: np.ndarray, fps: float) -> Path:
    """Writes frames as ``.gif`` (looping), ``.mp4`` (H.264 via imageio-ffmpeg) or ``.png`` (contact sheet)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in PREVIEW_EXTENSIONS:
        raise MeshflowError(f"{path}: unknown preview type '{path.suffix}' (expected {', '.join(PREVIEW_EXTENSIONS)})")
    if ext == ".mp4":
        if importlib.util.find_spec("imageio_ffmpeg") is None:
            raise MeshflowError("writing .mp4 needs the 'imageio-ffmpeg' package (pip install imageio-ffmpeg); "
                                "or write a .gif")
    with atomic_file(path, suffix=ext) as tmp:
        if ext == ".gif":
            iio.imwrite(tmp, images, extension=".gif", duration=1000.0 / fps, loop=0)
        elif ext == ".png":
            iio.imwrite(tmp, contact_sheet(images), extension=".png")
        else:
            with iio2.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=8,
                                 pixelformat="yuv420p", macro_block_size=16) as writer:
                for image in images:
                    writer.append_data(image)
    return path


def render_preview(source: Union[str, Path, Animation], out, size: int = 512,
                   fps: Optional[float] = None, **render_kwargs) -> PreviewResult:
    """Renders an animation file (any :func:`~meshflow.io.animation.load_animation` reads) or
    :class:`~meshflow.io.animation.Animation` to a GIF, MP4 or PNG.

    Args:
        source: the animation (a path or one already read).
        out: ``.gif`` (loops), ``.mp4``, or ``.png`` (a contact sheet of up to 16 frames).
        size: image width and height in pixels. (default: 512)
        fps: playback rate (default: the animation's).
        **render_kwargs: passed to :func:`render_frames`.
    """
    start = time.perf_counter()
    out = Path(out)
    if out.suffix.lower() not in PREVIEW_EXTENSIONS:
        raise MeshflowError(f"{out}: unknown preview type '{out.suffix}' (expected {', '.join(PREVIEW_EXTENSIONS)})")
    animation = source if isinstance(source, Animation) else load_animation(source)
    fps = float(fps or animation.fps or 24.0)
    if fps <= 0:
        raise MeshflowError(f"expected fps > 0 (got {fps})")
    images = render_frames(animation.vertices, animation.faces, size=size, **render_kwargs)
    write_video(out, images, fps)
    return PreviewResult(path=out, frames=len(images), size=size, fps=fps, seconds=time.perf_counter() - start)


__all__ = ["PREVIEW_EXTENSIONS", "PreviewResult", "contact_sheet", "create_context", "frame_camera",
           "render_frames", "render_preview", "write_video"]
