r"""The web demo's work without a browser: one :class:`Demo` checks a request, runs
:class:`~meshflow.pipeline.AnimationPipeline` and writes what the page shows.

Gradio is not imported here (:mod:`meshflow.demo.ui` is the page); these are plain functions
that tests call directly::

    request (mesh upload or example, prompt, seed, steps, guidance, frames, loop, samples, solver, proxy,
             rigidity, match_prompt)
      --Demo.check_mesh--> MeshFile            (extension, upload size, read_mesh, vertex limit)
      --AnimationPipeline.check_inputs--> ok   (the CLI's checks: same messages)
      --AnimationPipeline(...)--> Animation    (model loaded once, on first use)
      --Animation.save / render_preview--> RUN/<stem>.glb, RUN/<stem>.npz, RUN/<stem>.gif
      --summarize--> markdown (vertices, tokens, sampling, seconds per stage, notes)

Every file the app writes is under one temporary folder, :attr:`Demo.root` (Gradio's uploads and
cache go there too, see :func:`meshflow.demo.ui.build_app`): ``runs/NNNN-XXXXXXXX/`` holds one
finished request (the last :attr:`DemoConfig.keep_runs` are kept), a request that fails leaves
nothing, and :meth:`Demo.close` removes the folder.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional

from ..data.examples import EXAMPLES
from ..errors import MeshFileError, MeshflowError, check_finite, check_integer
from ..io.animation import Animation
from ..io.mesh import EXTENSIONS, MeshFile, read_mesh
from ..io.preview import render_preview
from ..models.remote import describe_model
from ..pipeline import AnimationPipeline, SamplingConfig
from ..progress import step_ticker, summary_rows, time_row

#: where the repository keeps the example meshes (``scripts/make_examples.py``); an installed package
#: without them builds them from :data:`meshflow.data.examples.EXAMPLES` into the app's folder.
EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "graphs" / "examples"
#: example mesh -> a prompt for it (the page's examples).
EXAMPLE_PROMPTS = {
    "quadruped": "the dog walks forward",
    "fish": "the fish swims forward, its tail swinging",
    "plant": "the plant sways in the wind",
}
#: ``progress(done, total, what)``: called as the request advances (the sampler per step).
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class DemoConfig:
    """Settings of one app, the one place of each default (``meshflow demo`` flags, :meth:`from_env`)."""

    model: Optional[str] = None  # as `meshflow animate --model`; None: $MESHFLOW_MODEL, else the bundled model
    device: str = "auto"  # the pipeline's device policy: CUDA when available
    host: str = "127.0.0.1"  # local only; 0.0.0.0 serves the network (a Space sets $GRADIO_SERVER_NAME)
    port: int = 7860  # Gradio's usual port
    share: Optional[bool] = None  # Gradio's public link: None lets Gradio decide (off here, on in Colab); False never
    max_upload_mb: float = 50.0  # a GLB of about a million vertices; Gradio refuses larger uploads at the door
    max_vertices: int = 50_000  # file vertices: a 5k mesh takes ~13 s with the starter model on 2 CPU cores
    max_steps: int = 128  # twice the original's 64: more costs time and changes little
    max_frames: int = 240  # 10 s at 24 fps (the model's T frames are resampled in time)
    max_samples: int = 4  # seeds per request, one batch: memory and time grow with it
    keep_runs: int = 16  # finished requests kept on disk for their download links (older ones are removed)
    preview_size: int = 320  # pixels of the preview GIF
    temp_dir: Optional[str] = None  # where the app's temporary folder goes (default: the system's)

    #: environment variable -> field, for :meth:`from_env` (a Space has no command line).
    ENV = {"MESHFLOW_DEMO_DEVICE": "device", "GRADIO_SERVER_NAME": "host", "GRADIO_SERVER_PORT": "port",
           "MESHFLOW_DEMO_MAX_UPLOAD_MB": "max_upload_mb", "MESHFLOW_DEMO_MAX_VERTICES": "max_vertices",
           "MESHFLOW_DEMO_MAX_STEPS": "max_steps", "MESHFLOW_DEMO_MAX_FRAMES": "max_frames",
           "MESHFLOW_DEMO_MAX_SAMPLES": "max_samples"}

    @classmethod
    def from_env(cls, environ=None) -> "DemoConfig":
        """The defaults with the variables of :attr:`ENV` applied (``$MESHFLOW_MODEL`` is the pipeline's own).

        Raises:
            MeshflowError: a variable that does not parse as its field's type.
        """
        environ = os.environ if environ is None else environ
        values = {}
        for var, name in cls.ENV.items():
            if environ.get(var):
                kind = type(getattr(cls, name))
                try:
                    values[name] = kind(environ[var])
                except ValueError:
                    raise MeshflowError(f"${var}: Expected {'an integer' if kind is int else 'a number'} "
                                        f"(got {environ[var]!r})") from None
        return replace(cls(), **values).checked()

    def checked(self) -> "DemoConfig":
        """This config, its limits checked with :func:`~meshflow.errors.check_integer` and
        :func:`~meshflow.errors.check_finite`: ``Expected 'max_vertices' to be an integer of at least 1 (got 0)``,
        ``Expected 'port' to be an integer from 1 to 65535 (got 7860.5)``."""
        check_integer("port", self.port, 1, maximum=65535)
        check_finite("max_upload_mb", self.max_upload_mb, positive=True)
        for name in ("max_vertices", "max_frames", "max_samples", "keep_runs", "preview_size"):
            check_integer(name, getattr(self, name), 1)
        check_integer("max_steps", self.max_steps, 2)  # the sampler's least grid
        return self


@dataclass
class DemoRequest:
    """The inputs of one request, as the page and the API send them (the defaults are the page's)."""

    mesh: Optional[str] = None  # an uploaded mesh file; wins over ``example``
    example: Optional[str] = None  # a name of EXAMPLES
    prompt: str = ""  # "" samples unconditionally
    seed: Optional[int] = 0  # None: drawn at random (the summary says which)
    steps: Optional[int] = None  # None: the model's
    guidance: Optional[float] = None  # None: the model's
    frames: Optional[int] = None  # None: the model's T
    loop: bool = True  # the viewer repeats the clip: blend its end into its start
    num_samples: Optional[int] = None  # seeds in one batch, the best kept (meshflow.ranking.score_sample); None: the model's
    solver: Optional[str] = None  # one of meshflow.flow.SOLVERS; None: the model's (`meshflow animate --solver`)
    proxy: Optional[int] = None  # proxy vertex budget for huge meshes, 0 off; None: the pipeline's (`--proxy`)
    rigidity: Optional[float] = None  # shape-preserving refinement, >= 0, 0 off; None: the model's (`--rigidity`)
    match_prompt: Optional[bool] = None  # read the prompt as its closest trained phrase (the model's vocabulary.json);
    # None: the model's (`--match-prompt/--no-match-prompt`)
    # Options the CLI grows (rig export, region, timeline) get a field here, a control in
    # meshflow.demo.ui.option_controls and a keyword in Demo.animate's pipeline call.


@dataclass
class DemoResult:
    """What one request wrote and what the page shows."""

    glb: Path  # the animated scene, one morph target per frame
    npz: Path  # trajectories and faces
    preview: Optional[Path]  # a GIF, None when this machine cannot render one (see ``warnings``)
    summary: str  # markdown
    animation: Animation
    warnings: List[str] = field(default_factory=list)  # shown beside the result, not as errors


class Demo:
    """One app's state: the config, the pipeline (loaded once, on first use) and the temporary folder.

    Args:
        config: the settings. (default: :class:`DemoConfig` ())
        pipeline: an already loaded pipeline (tests); default: loaded from ``config.model`` on first use.
    """

    def __init__(self, config: Optional[DemoConfig] = None, pipeline: Optional[AnimationPipeline] = None):
        self.config = (config or DemoConfig()).checked()
        self.root = Path(tempfile.mkdtemp(prefix="meshflow-demo-", dir=self.config.temp_dir))
        self.runs = self.root / "runs"
        self._pipeline = pipeline
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()  # the pipeline is one model: requests take turns (the queue does too)
        self._count = 0

    # ------------------------------------------------------------ model ---
    def pipeline(self) -> AnimationPipeline:
        """The pipeline, loaded on first use; a failed load is tried again on the next request.

        Raises:
            MeshflowError: the model cannot be loaded (the message names it and why).
        """
        with self._load_lock:
            if self._pipeline is None:
                try:
                    self._pipeline = AnimationPipeline.from_pretrained(self.config.model, device=self.config.device)
                except MeshflowError as e:
                    raise MeshflowError(f"the model failed to load: {e}") from None
                except Exception as e:  # a corrupt weight file, a bad JSON: a message, the app keeps running
                    raise MeshflowError(f"the model failed to load: {self.config.model or 'default model'}: "
                                        f"{type(e).__name__}: {e}") from None
            return self._pipeline

    def model_status(self) -> str:
        """One line for the page: which model answers, or why none does (loads it if needed)."""
        try:
            pipe = self.pipeline()
        except MeshflowError as e:
            return f"**{e}**; requests fail until it loads (the app keeps running)"
        return (f"model `{describe_model(pipe.model_dir)}` (T = {pipe.frames} frames, text encoder {pipe.text_encoder.name}, "
                f"{pipe.device})")

    def defaults(self) -> SamplingConfig:
        """The sampler defaults of the page: the model's once loaded, else :class:`SamplingConfig`'s."""
        return self._pipeline.sampling if self._pipeline is not None else SamplingConfig()

    def model_frames(self) -> Optional[int]:
        """The model's T once loaded, else None."""
        return self._pipeline.frames if self._pipeline is not None else None

    def has_vocabulary(self) -> Optional[bool]:
        """Whether the model can match prompts (its ``vocabulary.json``) once loaded, else None."""
        return self._pipeline.vocabulary is not None if self._pipeline is not None else None

    # ------------------------------------------------------------ input ---
    def example_path(self, name: str) -> Path:
        """The GLB of example mesh ``name`` (graphs/examples, else built into the app's folder).

        Raises:
            MeshflowError: an unknown name.
        """
        if name not in EXAMPLES:
            raise MeshflowError(f"Expected an example mesh among {', '.join(EXAMPLES)} (got {name!r})")
        path = EXAMPLE_DIR / f"{name}.glb"
        if path.is_file():
            return path
        path = self.root / "examples" / f"{name}.glb"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            EXAMPLES[name]().export(path)
        return path

    def check_mesh(self, path) -> MeshFile:
        """Reads an uploaded mesh within the app's limits.

        Raises:
            MeshFileError: not a mesh file of a known type (named by its file name, not the temporary
                path), larger than ``max_upload_mb``, more vertices than ``max_vertices``, or unreadable.
        """
        path = Path(path)
        name = path.name
        if path.suffix.lower() not in EXTENSIONS:
            got = path.suffix or "no extension"
            raise MeshFileError(name, f"Expected a mesh file ({', '.join(EXTENSIONS)}) (got '{got}')")
        if not path.is_file():
            raise MeshFileError(name, "file not found (the upload did not arrive; upload it again)")
        limit = self.config.max_upload_mb
        size = path.stat().st_size / 2 ** 20
        if size > limit:
            raise MeshFileError(name, f"Expected an upload of at most {limit:g} MB (got {size:.1f} MB; "
                                      "start the demo with --max-upload-mb to allow more)")
        try:
            mesh = read_mesh(path)
        except MeshFileError as e:
            raise MeshFileError(name, e.problem) from None
        if len(mesh.vertices) > self.config.max_vertices:
            raise MeshFileError(name, f"Expected a mesh of at most {self.config.max_vertices} vertices "
                                      f"(got {len(mesh.vertices)}; start the demo with --max-vertices to allow more)")
        return mesh

    def check_request(self, request: DemoRequest) -> Path:
        """The mesh file of ``request``, after the checks of its numbers (the pipeline's, then the app's limits).

        Raises:
            MeshflowError: no mesh, an unknown example, a number out of range, a value over a limit.
        """
        prompt = request.prompt if request.prompt is not None else ""
        if not isinstance(prompt, str):  # the pipeline batches a list; a request is one animation
            raise MeshflowError(f"Expected 'prompt' to be one string (got {type(prompt).__name__})")
        AnimationPipeline.check_inputs(None, prompt, frames=request.frames, steps=request.steps,
                                       guidance=request.guidance, seed=request.seed, num_samples=request.num_samples,
                                       solver=request.solver, proxy=request.proxy, rigidity=request.rigidity,
                                       match_prompt=request.match_prompt)
        limits = (("steps", request.steps, self.config.max_steps), ("frames", request.frames, self.config.max_frames),
                  ("num_samples", request.num_samples, self.config.max_samples))
        for name, value, limit in limits:
            if value is not None and value > limit:
                raise MeshflowError(f"Expected '{name}' to be at most {limit} in this demo (got {value})")
        if request.mesh:
            return Path(request.mesh)
        if request.example:
            return self.example_path(request.example)
        raise MeshflowError("Expected a mesh: upload one or pick an example (got neither)")

    # ------------------------------------------------------------- work ---
    def animate(self, request: DemoRequest, progress: Optional[Progress] = None) -> DemoResult:
        """Runs one request and writes its GLB, npz and preview GIF into a new folder under :attr:`runs`.

        Raises:
            MeshflowError: bad input or a model that does not load; nothing is left on disk.
        """
        begin = time.perf_counter()
        report = progress or (lambda done, total, what: None)
        path = self.check_request(request)
        report(0, 1, "reading the mesh")
        start = time.perf_counter()
        mesh = self.check_mesh(path)
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        report(0, 1, "loading the model")
        cached = self._pipeline is not None
        pipe = self.pipeline()
        load_s = time.perf_counter() - start
        opts = pipe.sampling_options(steps=request.steps, guidance=request.guidance, num_samples=request.num_samples,
                                     solver=request.solver, rigidity=request.rigidity,
                                     match_prompt=request.match_prompt)
        with self._run_lock:
            run = self._new_run()
            try:
                ranked = pipe(mesh, request.prompt or "", frames=request.frames, steps=opts.steps,
                              guidance=opts.guidance, solver=opts.solver, seed=request.seed,
                              num_samples=opts.num_samples, proxy=request.proxy, rigidity=opts.rigidity,
                              match_prompt=opts.match_prompt, return_all=True,
                              progress=step_ticker(opts.steps, lambda done, total: report(done, total, "sampling")))
                anim = ranked[0].looped() if request.loop else ranked[0]
                report(opts.steps - 1, opts.steps - 1, "writing the GLB and npz")
                start = time.perf_counter()
                stem = Path(path).stem or "mesh"
                glb, npz = anim.save(run / f"{stem}.glb"), anim.save(run / f"{stem}.npz")
                write_s = time.perf_counter() - start
                report(opts.steps - 1, opts.steps - 1, "rendering the preview")
                start = time.perf_counter()
                warnings = []
                try:
                    preview = render_preview(anim, run / f"{stem}.gif", size=self.config.preview_size).path
                except MeshflowError as e:  # no OpenGL here: the viewer and the downloads still work
                    preview = None
                    warnings.append(f"no preview GIF: {e}")
                preview_s = time.perf_counter() - start
            except BaseException:
                shutil.rmtree(run, ignore_errors=True)
                raise
        self._evict()
        timings = dict(read=read_s, load=load_s, write=write_s, preview=preview_s, total=time.perf_counter() - begin)
        summary = summarize([anim, *ranked[1:]], mesh, Path(path).name, pipe, opts, request, [glb, npz], timings,
                            cached=cached)
        return DemoResult(glb=glb, npz=npz, preview=preview, summary=summary, animation=anim, warnings=warnings)

    def _new_run(self) -> Path:
        self._count += 1
        run = self.runs / f"{self._count:04d}-{uuid.uuid4().hex[:8]}"
        run.mkdir(parents=True)
        return run

    def _evict(self) -> None:
        """Removes the oldest finished runs beyond :attr:`DemoConfig.keep_runs`."""
        runs = sorted(p for p in self.runs.iterdir() if p.is_dir())
        for old in runs[:max(0, len(runs) - self.config.keep_runs)]:
            shutil.rmtree(old, ignore_errors=True)

    def close(self) -> None:
        """Removes the app's temporary folder (every run, upload and cached file in it)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Demo":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def summarize(ranked: List[Animation], mesh: MeshFile, name: str, pipe: AnimationPipeline, opts: SamplingConfig,
              request: DemoRequest, outputs: List[Path], timings: Dict[str, float], cached: bool = False) -> str:
    """The markdown list the page shows under the viewer: the rows of ``meshflow animate``'s summary
    (:func:`meshflow.progress.summary_rows`: input, model, sampling, output, seconds per stage), then the notes.

    ``ranked``: the request's animations, best (as shown) first; ``outputs``: the files written.
    """
    rows = summary_rows(ranked, mesh, name, pipe, describe_model(pipe.model_dir), opts,
                        ", ".join(p.name for p in outputs), looping=request.loop)
    rows.append(time_row(ranked[0].timings, [("read", timings["read"]), ("load", timings["load"])],
                         [("write", timings["write"]), ("preview", timings["preview"])], total=timings["total"],
                         note="model already loaded" if cached else ""))
    return "\n".join([f"- **{k}**: {v}" for k, v in rows] + [f"- note: {n}" for n in ranked[0].notes])


__all__ = ["Demo", "DemoConfig", "DemoRequest", "DemoResult", "EXAMPLE_PROMPTS", "summarize"]
