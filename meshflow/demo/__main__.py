"""``python -m meshflow.demo``: the web demo, configured by the environment the way a Space is.

``$MESHFLOW_MODEL`` picks the model, ``$GRADIO_SERVER_NAME`` / ``$GRADIO_SERVER_PORT`` the address, and
the other variables of :attr:`meshflow.demo.DemoConfig.ENV` the limits; ``meshflow demo --help`` has
the same settings as flags.
"""
import sys

from . import Demo, DemoConfig, load_ui
from ..errors import MeshflowError


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        print(f"python -m meshflow.demo: takes no arguments (got {' '.join(argv)}); use `meshflow demo "
              f"--help` for flags, or the variables {', '.join(DemoConfig.ENV)}", file=sys.stderr)
        return 2
    try:
        with Demo(DemoConfig.from_env()) as demo:  # its folder first: Gradio, once imported, writes there too
            load_ui(demo).launch(demo=demo)
    except MeshflowError as e:
        print(f"python -m meshflow.demo: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
