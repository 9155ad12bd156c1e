"""The page's event function and the ways to start the demo, without a browser (meshflow.demo.ui,
meshflow.commands.demo, python -m meshflow.demo)."""
import subprocess
import sys
import tempfile

import pytest

import meshflow.demo
from meshflow.commands.main import main
from meshflow.data.proxy import ProxyConfig
from meshflow.demo import INSTALL_HINT, DemoConfig, DemoRequest
from meshflow.flow import SOLVERS

gr = pytest.importorskip("gradio", reason="the demo extra is not installed (pip install meshflow[demo])")
ui = meshflow.demo.load_ui()


def no_progress(*args, **kwargs):
    pass


def test_to_request_takes_the_endpoint_order():
    assert ui.to_request(None, "fish", None, 2.0, 8.0, 3.5, None, 1, 2.0) == DemoRequest(
        mesh=None, example="fish", prompt="", seed=2, steps=8, guidance=3.5, frames=None, loop=True, num_samples=2)
    assert ui.to_request("a.obj", "", "hop", None, 2, 3, 5.0, False, None).seed is None  # None: random
    assert ui.to_request(None, "fish", "x", 0, 2, 3, None, True, 1, "heun", 300.0) == DemoRequest(
        example="fish", prompt="x", seed=0, steps=2, guidance=3, solver="heun", proxy=300, num_samples=1)
    advanced = ui.to_request(None, "fish", "x", 0, 2, 3, None, True, 1, "", None)
    assert advanced.solver is None and advanced.proxy is None  # empty: the model's solver, the pipeline's proxy
    assert advanced.rigidity is None and advanced.match_prompt is None  # not sent: the model's
    sampler = ui.to_request(None, "fish", "x", 0, 2, 3, None, True, 1, "heun", None, 0.003, True)
    assert (sampler.rigidity, sampler.match_prompt, sampler.solver) == (0.003, True, "heun")


def test_event_passes_the_solver_and_proxy(demo):
    _, _, summary, _, _ = ui.animate_event(demo)(None, "fish", "x", 0, 2, 3.0, None, True, 1, "euler", 0,
                                                 progress=no_progress)
    assert "2 steps, guidance 3, euler, seed 0" in summary
    with pytest.raises(gr.Error) as info:
        ui.animate_event(demo)(None, "fish", "x", 0, 2, 3.0, None, True, 1, "adams", None, progress=no_progress)
    assert info.value.message == "Expected 'solver' to be one of midpoint, euler, heun, rk4 (got 'adams')"
    assert ui.to_request("a.obj", "", "hop", 1.5, 2, 3, 5, False, 1).seed == 1.5  # left for the check to refuse


def test_event_passes_rigidity_and_match_prompt(make_demo, vocab_pipe):
    demo = make_demo(pipeline=vocab_pipe)
    _, _, summary, _, _ = ui.animate_event(demo)(None, "fish", "the fish leaps up", 0, 2, 3.0, None, True, 1, None,
                                                 None, 0.02, True, progress=no_progress)
    assert '- note: prompt read as "the fish jumps"' in summary and "(rigidity 0.02)" in summary
    _, _, summary, _, _ = ui.animate_event(demo)(None, "fish", "the fish leaps up", 0, 2, 3.0, None, True, 1, None,
                                                 None, 0.0, False, progress=no_progress)
    assert "read as" not in summary and "rigidity" not in summary


@pytest.mark.parametrize("rigidity, match_prompt, message", [
    (-0.01, None, "Expected 'rigidity' to be a finite number >= 0 (got -0.01)"),
    (None, True, "Expected a model with a prompt vocabulary ({}/vocabulary.json) to match prompts (got none; run "
                 "without prompt matching)"),
])
def test_bad_sampler_options_are_page_messages(demo, tiny_pipe, rigidity, match_prompt, message):
    with pytest.raises(gr.Error) as info:
        ui.animate_event(demo)(None, "fish", "x", 0, 2, 3.0, None, True, 1, None, None, rigidity, match_prompt,
                               progress=no_progress)
    assert info.value.message == message.format(tiny_pipe.model_dir) and not info.value.print_exception


def test_event_returns_the_outputs(demo):
    glb, gif, summary, glb_file, npz_file = ui.animate_event(demo)(
        None, "fish", "the fish swims", 0, 2, 3.0, None, True, 1, progress=no_progress)
    assert glb == glb_file and glb.endswith("fish.glb") and npz_file.endswith("fish.npz") and gif.endswith(".gif")
    assert "'the fish swims'" in summary and glb.startswith(str(demo.runs))


@pytest.mark.parametrize("values, message", [
    ((None, "fish", "x", 0, 1, 3.0, None, True, 1), "Expected 'steps' to be an integer of at least 2 (got 1)"),
    ((None, "fish", "x", 1.5, 2, 3.0, None, True, 1), "Expected 'seed' to be an integer of at least 0 (got 1.5)"),
    ((None, None, "x", 0, 2, 3.0, None, True, 1), "Expected a mesh: upload one or pick an example (got neither)"),
    ((None, "fish", ["x"], 0, 2, 3.0, None, True, 1), "Expected 'prompt' to be one string (got list)"),
])
def test_errors_are_page_messages_not_tracebacks(demo, values, message):
    with pytest.raises(gr.Error) as info:
        ui.animate_event(demo)(*values, progress=no_progress)
    assert info.value.message.startswith(message) and not info.value.print_exception
    assert info.value.duration is None  # stays in the page until closed
    assert "Traceback" not in info.value.message


def test_an_unexpected_error_is_one_line(demo, monkeypatch, caplog):
    def broken(request, progress=None):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(demo, "animate", broken)
    with pytest.raises(gr.Error) as info:
        ui.animate_event(demo)(None, "fish", "x", 0, 2, 3.0, None, True, 1, progress=no_progress)
    assert info.value.message == "internal error (RuntimeError: CUDA out of memory); the server log has the details"
    assert "Traceback" in caplog.text  # the details stay on the server


def test_the_page_has_its_endpoint_queue_and_folder(demo, monkeypatch):
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)  # build_app sets it: put it back after the test
    # Gradio read $GRADIO_TEMP_DIR when this process imported it (load_ui(demo) sets it in a fresh one).
    monkeypatch.setattr("gradio.routes.DEFAULT_TEMP_DIR", str(demo.root), raising=False)
    app = ui.build_app(demo)
    fn = next(f for f in app.fns.values() if f.api_name == ui.API_NAME)
    assert fn.concurrency_limit == 1 and len(fn.inputs) == 13 and len(fn.outputs) == 5
    labels = [c.label for c in fn.inputs]
    assert labels[2] == "prompt (empty: unconditional)" and labels[4] == "sampler steps"
    steps = fn.inputs[4]
    assert steps.value == demo.defaults().steps == 4 and steps.maximum == demo.config.max_steps
    solver, proxy, rigidity, match = fn.inputs[9:]
    assert solver.elem_id == "solver" and [c[1] for c in solver.choices] == list(SOLVERS)
    assert solver.value == demo.defaults().solver == "midpoint"  # the model's
    assert fn.inputs[8].value == demo.defaults().num_samples == 1  # the model's (the tiny model sets none)
    assert ui.to_request(None, "fish", "", 0, None, None, None, True, None).num_samples is None  # -> the model's
    assert proxy.elem_id == "proxy" and proxy.value is None and proxy.precision == 0 and proxy.minimum == 0
    assert labels[10].startswith(f"proxy vertices for huge meshes (empty: {ProxyConfig.vertices} above")
    assert rigidity.elem_id == "rigidity" and rigidity.value == demo.defaults().rigidity == 0.0  # the model's
    assert (rigidity.minimum, rigidity.maximum, rigidity.step) == (0.0, 0.05, 0.001)
    # the tiny model has no vocabulary.json: the checkbox is unchecked, locked and says why
    assert match.elem_id == "match-prompt" and match.label == "match the prompt to a trained phrase"
    assert match.value is False and match.interactive is False and "no prompt vocabulary" in match.info
    accordion = next(b for b in app.blocks.values() if isinstance(b, gr.Accordion))
    assert accordion.label == "Advanced" and accordion.open is False
    assert app._queue is not None and app.GRADIO_CACHE == str(demo.root)  # uploads land in the app's folder
    assert "model `" in app.blocks[next(k for k, b in app.blocks.items() if b.elem_id == "model-status")].value


def test_the_match_prompt_checkbox_follows_the_model(make_demo, vocab_pipe, monkeypatch):
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    demo = make_demo(pipeline=vocab_pipe)
    monkeypatch.setattr("gradio.routes.DEFAULT_TEMP_DIR", str(demo.root), raising=False)
    fn = next(f for f in ui.build_app(demo).fns.values() if f.api_name == ui.API_NAME)
    rigidity, match = fn.inputs[11:]
    assert rigidity.value == 0.01 and match.value is True  # the model's flow section
    assert match.interactive is not False and "closest phrase" in match.info


def test_cli_passes_its_flags(monkeypatch, capsys, tmp_path):
    seen = {}
    monkeypatch.setattr(ui, "launch", lambda demo: seen.setdefault("config", demo.config))
    assert main(["demo", "--model", str(tmp_path), "--host", "0.0.0.0", "--port", "7999", "--share-off",
                 "--max-vertices", "1234", "--max-upload-mb", "3", "--device", "cpu"]) == 0
    assert seen["config"] == DemoConfig(model=str(tmp_path), host="0.0.0.0", port=7999, share=False,
                                        max_vertices=1234, max_upload_mb=3.0, device="cpu")
    assert "serving on http://0.0.0.0:7999/" in capsys.readouterr().out
    assert main(["demo", "--port", "0"]) == 2
    assert capsys.readouterr().err.strip() == ("meshflow demo: error: Expected 'port' to be an integer from 1 to "
                                               "65535 (got 0)")
    assert main(["demo", "--device", "tpu"]) == 2
    assert capsys.readouterr().err.strip() == ("meshflow demo: error: Expected 'device' to be auto, cpu, cuda or "
                                               "cuda:N (got 'tpu')")


def test_cli_without_gradio_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(meshflow.demo, "find_spec", lambda name: None)
    assert main(["demo"]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"meshflow demo: error: {INSTALL_HINT}\n" and "pip install meshflow[demo]" in INSTALL_HINT
    assert captured.out == ""


def test_help_does_not_import_gradio():
    code = ("import sys\nfrom meshflow.commands.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
            "    pass\nprint('gradio' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "demo" in out and out.strip().endswith("False False")


def test_python_m_meshflow_demo(monkeypatch, capsys):
    from meshflow.demo.__main__ import main as module_main

    assert module_main(["--port", "1"]) == 2
    assert capsys.readouterr().err.startswith("python -m meshflow.demo: takes no arguments (got --port 1); use "
                                              "`meshflow demo --help` for flags, or the variables MESHFLOW_DEMO_DEVICE")
    seen = {}
    monkeypatch.setattr(ui, "launch", lambda demo: seen.setdefault("config", demo.config))
    monkeypatch.setenv("MESHFLOW_DEMO_MAX_VERTICES", "77")
    assert module_main([]) == 0 and seen["config"].max_vertices == 77
    monkeypatch.setenv("MESHFLOW_DEMO_MAX_VERTICES", "-1")
    assert module_main([]) == 2
    assert capsys.readouterr().err == ("python -m meshflow.demo: error: Expected 'max_vertices' to be an integer "
                                       "of at least 1 (got -1)\n")


def test_space_app_py(tiny_model_dir, monkeypatch, tmp_path):
    import runpy
    from pathlib import Path

    monkeypatch.setenv("MESHFLOW_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("MESHFLOW_DEMO_MAX_VERTICES", "500")
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the app's folder, and Gradio's files with it
    monkeypatch.setattr("gradio.routes.DEFAULT_TEMP_DIR", str(tmp_path / "gradio"), raising=False)
    space = runpy.run_path(str(Path(__file__).resolve().parents[2] / "app.py"), run_name="space")
    try:
        assert isinstance(space["demo"], gr.Blocks) and space["app_state"].config.max_vertices == 500
        assert any(f.api_name == ui.API_NAME for f in space["demo"].fns.values())
        assert str(tiny_model_dir) in space["app_state"].model_status()
    finally:
        space["app_state"].close()
    assert not space["app_state"].root.exists()
