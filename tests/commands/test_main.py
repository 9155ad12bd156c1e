"""`meshflow` itself: the list of subcommands, --help of each, the console entry point."""
import subprocess
import sys

import pytest

from meshflow.commands import COMMAND_MODULES, SUMMARIES
from meshflow.commands.main import build_parser, load_command, main

SUBCOMMANDS = ["animate", "convert-original", "data", "eval", "inspect", "preview", "reconstruct", "train"]
HELP = [[name] for name in SUBCOMMANDS] + [
    ["data", "clips"], ["data", "sample"], ["data", "build"],
    ["train", "vae"], ["train", "flow"], ["train", "cache-latents"],
    ["eval", "vae"], ["eval", "motion"],
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
