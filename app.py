"""The meshflow web demo as a Hugging Face Space runs it: ``python app.py`` (the Space's entry point).

The same app as ``meshflow demo``, configured by the environment (a Space has no command line):
``$MESHFLOW_MODEL`` (model directory; default: the bundled starter model), ``$GRADIO_SERVER_NAME`` and
``$GRADIO_SERVER_PORT`` (a Space sets both) and the limits of ``meshflow.demo.DemoConfig.ENV``.
Gradio's reload mode (``gradio app.py``) finds the page as ``demo``.
"""
import atexit

from meshflow.demo import Demo, DemoConfig, load_ui

app_state = Demo(DemoConfig.from_env())  # its folder first: Gradio, once imported, writes there too
atexit.register(app_state.close)  # the app's temporary folder goes with the process
ui = load_ui(app_state)
demo = ui.build_app(app_state)

if __name__ == "__main__":
    ui.launch(demo=app_state, app=demo)
