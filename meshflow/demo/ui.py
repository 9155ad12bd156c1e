"""The page of ``meshflow demo``: a Gradio Blocks app over :class:`~meshflow.demo.handlers.Demo`.

This is the only module that imports Gradio (load it with :func:`meshflow.demo.load_ui`, which says
``pip install meshflow[demo]`` when Gradio is missing). The page::

    mesh upload | example mesh, prompt (+ example prompts), seed, steps, guidance, frames, loop, samples,
      Advanced: solver, proxy, rigidity, match the prompt to a trained phrase
      [Animate] --queue, one request at a time, progress per sampler step-->
    3D viewer (Gradio's Model3D: Babylon.js, plays the GLB's morph-target animation), preview GIF,
    summary, [Download GLB] [Download npz]

The button's event is also the API endpoint ``/animate`` (``gradio_client``)::

    from gradio_client import Client, handle_file
    glb, gif, summary, glb_file, npz_file = Client("http://127.0.0.1:7860/").predict(
        handle_file("mesh.glb"), "quadruped", "the dog walks forward", 0, 8, 3.0, None, True, 1, "heun", None,
        0.003, False, api_name="/animate")

Errors a user can cause (:class:`~meshflow.errors.MeshflowError`) come back as the page's error
message (``gr.Error``), never a traceback; the app keeps running.
"""
from __future__ import annotations

import logging
import os
from typing import List, Optional

import gradio as gr

from ..data.examples import EXAMPLES
from ..data.proxy import ProxyConfig
from ..errors import MeshflowError
from ..flow import SOLVERS
from ..io.mesh import EXTENSIONS
from . import USER_GRADIO_TEMP_DIR
from .handlers import EXAMPLE_PROMPTS, Demo, DemoConfig, DemoRequest

log = logging.getLogger(__name__)
#: the endpoint of the button's event (``Client.predict(..., api_name="/animate")``).
API_NAME = "animate"


def _integer(value) -> Optional[int]:
    """A number from the page (sliders send floats) as an int when it is whole; None and others unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def to_request(mesh, example, prompt, seed, steps, guidance, frames, loop, num_samples, solver=None,
               proxy=None, rigidity=None, match_prompt=None) -> DemoRequest:
    """The page's (or the API's) values, in the order of the endpoint's inputs, as a :class:`DemoRequest`
    (an empty ``solver`` or ``proxy``: the model's, the pipeline's; a None ``rigidity`` or ``match_prompt``:
    the model's)."""
    return DemoRequest(mesh=mesh or None, example=example or None, prompt=prompt or "",
                       seed=_integer(seed), steps=_integer(steps), guidance=guidance, frames=_integer(frames),
                       loop=bool(loop), num_samples=_integer(num_samples), solver=solver or None,
                       proxy=_integer(proxy), rigidity=rigidity, match_prompt=match_prompt)


def animate_event(demo: Demo):
    """The button's function: the values in, ``(viewer GLB, preview GIF, summary, GLB file, npz file)`` out.

    Errors become ``gr.Error`` with the message alone; an unexpected one is logged with its
    traceback on the server and shown as one line.
    """
    def animate(mesh, example, prompt, seed, steps, guidance, frames, loop, num_samples, solver=None, proxy=None,
                rigidity=None, match_prompt=None, progress=gr.Progress()):
        def report(done: int, total: int, what: str) -> None:
            progress((done, total), desc=what, unit="steps")

        try:
            result = demo.animate(to_request(mesh, example, prompt, seed, steps, guidance, frames, loop,
                                             num_samples, solver, proxy, rigidity, match_prompt), progress=report)
        except (MeshflowError, TypeError) as e:  # TypeError: check_inputs on a value of the wrong type
            raise gr.Error(str(e), duration=None, print_exception=False) from None  # stays until closed
        except Exception as e:
            log.exception("meshflow demo: request failed")
            raise gr.Error(f"internal error ({type(e).__name__}: {e}); the server log has the details",
                           duration=None, print_exception=False) from None
        for warning in result.warnings:
            gr.Warning(warning)
        if not result.animation.prompt.strip():
            gr.Info("Empty prompt: sampled unconditionally (no text guidance)")
        glb, npz = str(result.glb), str(result.npz)
        return glb, (str(result.preview) if result.preview else None), result.summary, glb, npz
    return animate


def option_controls(demo: Demo) -> List[gr.components.Component]:
    """The controls after the prompt, in the order of :func:`to_request` (seed ... samples, then the
    "Advanced" accordion's solver, proxy, rigidity and prompt matching).

    The prompt-matching checkbox is unchecked and locked, with a line saying why, when the loaded model
    has no prompt vocabulary (``vocabulary.json``): checking it could only fail.

    Options the CLI grows (rig export, region, timeline) add a control here, a parameter to
    :func:`to_request` and the event, and a field to :class:`DemoRequest`.
    """
    config, sampling, frames = demo.config, demo.defaults(), demo.model_frames()
    with gr.Row():
        seed = gr.Number(value=DemoRequest.seed, precision=0, minimum=0, label="seed (empty: random)")
        samples = gr.Slider(1, config.max_samples, value=min(sampling.num_samples, config.max_samples), step=1,
                            label="samples (seeds in one batch, the least distorted kept)")
    with gr.Row():
        steps = gr.Slider(2, config.max_steps, value=sampling.steps, step=1, label="sampler steps", elem_id="steps")
        guidance = gr.Slider(0.0, 10.0, value=sampling.guidance, step=0.5, label="guidance (classifier-free)")
    with gr.Row():
        frames = gr.Number(value=frames, precision=0, minimum=1, maximum=config.max_frames,
                           label="frames (empty: the model's T)")
        loop = gr.Checkbox(value=DemoRequest.loop, label="loop (blend the end into the start)")
    with gr.Accordion("Advanced", open=False):
        with gr.Row():
            solver = gr.Dropdown(choices=list(SOLVERS), value=sampling.solver, elem_id="solver",
                                 label="ODE solver (midpoint: the original's; heun and rk4 need fewer steps)")
            proxy = gr.Number(value=DemoRequest.proxy, precision=0, minimum=0, elem_id="proxy",
                              label=f"proxy vertices for huge meshes (empty: {ProxyConfig.vertices} above "
                                    f"{ProxyConfig.above} welded vertices; 0: every vertex)")
        with gr.Row():
            # R is a squared length in units of half the mesh's size: the bundled model's 0.003, the sweep's up to 0.05
            rigidity = gr.Slider(0.0, max(0.05, sampling.rigidity), value=sampling.rigidity, step=0.001,
                                 elem_id="rigidity", label="rigidity (shape-preserving refinement; 0: off)",
                                 info="stretching is pulled back to as-rigid-as-possible motion; larger keeps more "
                                      "of the mesh rigid")
            matchable = demo.has_vocabulary() is not False  # None: not loaded yet, a request will say
            match = gr.Checkbox(value=sampling.match_prompt and matchable, interactive=matchable,
                                elem_id="match-prompt", label="match the prompt to a trained phrase",
                                info="read the prompt as the closest phrase of the model's training captions, its "
                                     "subject kept (the summary notes the reading)" if matchable else
                                     "this model has no prompt vocabulary (vocabulary.json)")
    return [seed, steps, guidance, frames, loop, samples, solver, proxy, rigidity, match]


def build_app(demo: Demo) -> gr.Blocks:
    """The page over ``demo`` (tries to load its model: the page says which one, or why none)."""
    # Gradio's uploads and its copies of our outputs go into the app's folder (removed by demo.close()).
    os.environ["GRADIO_TEMP_DIR"] = USER_GRADIO_TEMP_DIR or str(demo.root)
    status = demo.model_status()
    with gr.Blocks(title="meshflow demo", analytics_enabled=False, delete_cache=(1800, 3600)) as app:
        gr.Markdown("# meshflow: animate any 3D mesh from a text prompt\n"
                    "Upload a mesh or pick an example, say what it does, press **Animate**. "
                    "The result plays in the viewer (drag to turn it) and downloads as an animated GLB "
                    "(one morph target per frame) or npz trajectories.")
        gr.Markdown(status, elem_id="model-status")
        with gr.Row():
            with gr.Column(scale=1):
                limits = f"at most {demo.config.max_upload_mb:g} MB, {demo.config.max_vertices} vertices"
                upload = gr.File(label=f"mesh ({', '.join(e[1:] for e in EXTENSIONS)}; {limits})",
                                 file_types=list(EXTENSIONS), type="filepath", height=120, elem_id="mesh-upload")
                example = gr.Dropdown(choices=list(EXAMPLES), value=next(iter(EXAMPLES)),
                                      label="or an example mesh (used when nothing is uploaded)", elem_id="example")
                prompt = gr.Textbox(label="prompt (empty: unconditional)", placeholder=EXAMPLE_PROMPTS["quadruped"],
                                    elem_id="prompt")
                controls = option_controls(demo)
                button = gr.Button("Animate", variant="primary", elem_id="animate")
                gr.Examples([[name, text] for name, text in EXAMPLE_PROMPTS.items()], inputs=[example, prompt],
                            label="example prompts")
            with gr.Column(scale=1):
                viewer = gr.Model3D(label="animated GLB", height=420, camera_position=(35, 70, None),
                                    elem_id="viewer")
                preview = gr.Image(label="preview", type="filepath", height=240, elem_id="preview")
                summary = gr.Markdown(elem_id="summary")
                with gr.Row():
                    glb_file = gr.DownloadButton("Download GLB", elem_id="download-glb")
                    npz_file = gr.DownloadButton("Download npz", elem_id="download-npz")
        button.click(animate_event(demo), inputs=[upload, example, prompt, *controls],
                     outputs=[viewer, preview, summary, glb_file, npz_file], api_name=API_NAME,
                     concurrency_limit=1)
    app.queue(default_concurrency_limit=1)  # one request at a time: one model, a few CPU cores
    return app


def launch(config: Optional[DemoConfig] = None, block: bool = True, demo: Optional[Demo] = None,
           app: Optional[gr.Blocks] = None):
    """Serves the page on ``config.host:config.port`` (``demo.config``'s when a ``demo`` is given).

    Args:
        config: the settings of a new :class:`Demo`. (default: :class:`DemoConfig` ())
        block: return once the server stops (Ctrl-C), after removing the app's folder; otherwise
            return ``(app, demo, url)`` at once, and the caller closes both.
        demo: an existing Demo instead of a new one; app: its page, already built (``app.py``).
    """
    demo = demo or Demo(config)
    config = demo.config
    try:
        app = app or build_app(demo)
        app.launch(server_name=config.host, server_port=config.port, share=config.share,
                   max_file_size=int(config.max_upload_mb * 2 ** 20), allowed_paths=[str(demo.root)],
                   prevent_thread_lock=not block, ssr_mode=False, quiet=not block, theme=gr.themes.Soft())
    except BaseException:
        demo.close()
        raise
    if not block:
        return app, demo, app.local_url
    demo.close()
    return None


__all__ = ["API_NAME", "animate_event", "build_app", "launch", "option_controls", "to_request"]
