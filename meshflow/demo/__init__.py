"""``meshflow demo``: a local web app (Gradio) that animates meshes and shows them playing in 3D.

:mod:`meshflow.demo.handlers` does the work (no Gradio: tests call it directly);
:mod:`meshflow.demo.ui` is the page, loaded by :func:`load_ui` because Gradio is an optional
extra (``pip install meshflow[demo]``). Three ways to start it::

    meshflow demo [--model DIR] [--host 127.0.0.1] [--port 7860] [--share-off]
    python -m meshflow.demo              # the same app, configured by the environment (DemoConfig.from_env)
    python app.py                        # the repository's app.py: what a Hugging Face Space runs
"""
import os
import sys
import warnings
from importlib import import_module
from importlib.util import find_spec

# The app prints to a terminal: the same noise from library imports that `meshflow` filters (commands/__init__.py).
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)

from ..errors import MeshflowError  # noqa: E402
from .handlers import EXAMPLE_PROMPTS, Demo, DemoConfig, DemoRequest, DemoResult

#: the one line a missing Gradio gives.
INSTALL_HINT = "the web demo needs Gradio, which is not installed: pip install meshflow[demo]"
#: the user's own $GRADIO_TEMP_DIR, if any; otherwise Gradio writes into the app's folder (Demo.root).
USER_GRADIO_TEMP_DIR = os.environ.get("GRADIO_TEMP_DIR")


def load_ui(demo: Demo = None):
    """The page module :mod:`meshflow.demo.ui` (it imports Gradio).

    Gradio reads ``$GRADIO_TEMP_DIR`` once, when it is imported, for some of its files: given the
    ``demo`` before that, it is set to ``demo.root`` (unless the user set it), so that everything
    Gradio writes goes with :meth:`Demo.close`.

    Raises:
        MeshflowError: Gradio is not installed (:data:`INSTALL_HINT`).
    """
    if find_spec("gradio") is None:
        raise MeshflowError(INSTALL_HINT)
    if demo is not None and "gradio" not in sys.modules and not USER_GRADIO_TEMP_DIR:
        os.environ["GRADIO_TEMP_DIR"] = str(demo.root)
    return import_module(f"{__name__}.ui")


__all__ = ["EXAMPLE_PROMPTS", "INSTALL_HINT", "Demo", "DemoConfig", "DemoRequest", "DemoResult", "load_ui"]
