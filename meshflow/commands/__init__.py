"""The ``meshflow`` command line, one module per subcommand (listed in :mod:`meshflow.commands.main`).

Each module has ``add_parser(subparsers)`` and ``run(args)``; only this package
parses arguments and prints.
"""
import warnings

# Noise from library imports that users can do nothing about (the subcommands import the library).
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
