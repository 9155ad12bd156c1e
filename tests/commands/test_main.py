"""`meshflow` itself: the list of subcommands, --help of each, the console entry point, the signal policy
(its end-to-end rows, signals while importing, sampling and writing, are in tests/test_reliability.py)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from meshflow.commands import COMMAND_MODULES, SUMMARIES
from meshflow.errors import Interrupted
from meshflow.commands.main import build_parser, load_command, main

SUBCOMMANDS = ["animate", "convert-original", "data", "demo", "eval", "inspect", "models", "preview", "reconstruct",
               "rig", "train"]
HELP = [[name] for name in SUBCOMMANDS] + [
    ["data", "clips"], ["data", "sample"], ["data", "build"],
    ["train", "vae"], ["train", "flow"], ["train", "cache-latents"],
    ["eval", "vae"], ["eval", "motion"], ["models", "pull"], ["models", "list"], ["models", "rm"],
]


def test_commands_are_listed():
    assert list(COMMAND_MODULES) == list(SUMMARIES) == SUBCOMMANDS
    commands = [load_command(name) for name in SUBCOMMANDS]
    assert [command.NAME for command in commands] == SUBCOMMANDS
    assert all(callable(command.add_parser) and callable(command.run) for command in commands)


def test_top_level_help_imports_no_library():
    """`meshflow --help` lists every subcommand with its summary without importing torch or PyG."""
    code = ("import sys\nfrom meshflow.commands.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'torch_geometric', 'meshflow.pipeline') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]"), out
    assert all(SUMMARIES[name][:40] in " ".join(out.split()) for name in SUBCOMMANDS), out


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(f"    {name}" in out for name in SUBCOMMANDS), out


@pytest.mark.parametrize("argv", HELP, ids=" ".join)
def test_subcommand_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: meshflow {' '.join(argv)} ")


def test_no_subcommand_prints_help_and_exits_2(capsys):
    assert main([]) == 2 and "COMMAND" in capsys.readouterr().out
    assert main(["data"]) == 2 and "DATA_COMMAND" in capsys.readouterr().out


def test_device_default_is_auto():
    parser = build_parser()
    for argv in (["animate", "m.obj", "-p", "x", "-o", "a.glb"], ["reconstruct", "--checkpoint", "c", "--input", "a",
                 "--output", "b"], ["eval", "vae", "--data", "d"], ["eval", "motion"]):
        assert parser.parse_args(argv).device == "auto"


def test_console_script_entry_point():
    out = subprocess.run([sys.executable, "-m", "meshflow", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "inspect" in out.stdout


class _Swallows:
    """A stand-in for the `inspect` module whose run() gets a signal, swallows the exception (as trimesh's
    import wrappers do) and then fails with another error, or finishes."""

    NAME = "inspect"

    def __init__(self, sig, then):
        self.sig, self.then = sig, then

    def add_parser(self, subparsers):
        subparsers.add_parser("inspect").set_defaults(func=self.run)

    def run(self, args):
        try:
            os.kill(os.getpid(), self.sig)
            time.sleep(5)  # the handler raises here
        except BaseException:
            pass
        if self.then == "error":
            raise TypeError("'ExceptionWrapper' object is not callable")
        return 0


@pytest.mark.parametrize("then", ["error", "finish"])
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_swallowed_interrupt_still_ends_as_interrupted(sig, code, then, monkeypatch, capsys):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr("meshflow.commands.main.load_command", lambda name: _Swallows(sig, then))
    assert main(["inspect"]) == code
    assert capsys.readouterr().err == "meshflow inspect: interrupted\n"
    assert {s: signal.getsignal(s) for s in before} == before  # main(argv) puts the handlers back


def test_interrupted_carries_the_exit_code():
    assert Interrupted(signal.SIGTERM).exit_code == 143 and Interrupted(signal.SIGINT).exit_code == 130
    assert isinstance(Interrupted(signal.SIGTERM), KeyboardInterrupt)  # every Ctrl-C cleanup runs for SIGTERM too
