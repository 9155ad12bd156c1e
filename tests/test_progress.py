"""meshflow.progress: the sampler's progress in solver steps and the summary rows, which the command line
and the web demo share (their own tests check the printed and shown text end to end)."""
from types import SimpleNamespace

import pytest

from meshflow.flow import model_calls
from meshflow.progress import step_ticker, summary_rows, time_row


@pytest.mark.parametrize("solver", ["euler", "midpoint", "heun", "rk4"])
def test_step_ticker_reports_every_solver_step(solver):
    steps, seen = 5, []
    tick = step_ticker(steps, lambda done, total: seen.append((done, total)))(model_calls(solver, steps))
    for _ in range(model_calls(solver, steps)):
        tick()
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_step_ticker_restarts_its_count():
    seen = []
    start = step_ticker(3, lambda done, total: seen.append(done))
    for _ in range(2):
        tick = start(2)
        tick(), tick()
    assert seen == [1, 2, 1, 2]


def animation(seed, score=None, prompt="the dog hops"):
    return SimpleNamespace(num_vertices=10, welded_vertices=8, num_frames=16, prompt=prompt, tokens=4, device="cpu",
                           seed=seed, score=score)


MESH = SimpleNamespace(faces=[0] * 12, parts=[0])
PIPE = SimpleNamespace(frames=16, text_encoder=SimpleNamespace(name="clip"))
SAMPLING = SimpleNamespace(steps=8, guidance=3.0, solver="heun", fps=24.0)


def test_summary_rows():
    rows = summary_rows([animation(6, 0.01234), animation(5, 0.2)], MESH, "dog.obj", PIPE, "owner/model", SAMPLING,
                        "out.glb", what="binary glTF", looping=True)
    assert rows == [
        ("input", "dog.obj (10 vertices, 8 welded, 12 faces, 1 primitive)"),
        ("prompt", "'the dog hops'"),
        ("model", "owner/model (T=16, text encoder clip)"),
        ("tokens", "4"),
        ("device", "cpu"),
        ("sampling", "8 steps, guidance 3, heun, seed 6"),
        ("samples", "2 seeds 5-6 in one batch; best: seed 6, score 0.0123 (lower is better)"),
        ("output", "out.glb (16 frames at 24 fps, looping; binary glTF)"),
    ]
    one = dict(summary_rows([animation(0, prompt=" ")], MESH, "dog.obj", PIPE, "m", SAMPLING, "a.glb, a.npz"))
    assert one["prompt"] == "(empty: unconditional)" and "samples" not in one
    assert one["output"] == "a.glb, a.npz (16 frames at 24 fps)"


def test_time_row():
    timings = {"text": 0.1, "encode": 0.2, "sample": 1.0, "decode": 0.3, "windows": 9.0}
    assert time_row(timings, [("read", 0.01)], [("write", 0.5)], total=2.5) == (
        "time", "read 0.01 s, text 0.10 s, encode 0.20 s, sample 1.00 s, decode 0.30 s, write 0.50 s (total 2.50 s)")
    assert time_row({**timings, "score": 0.04}, [], [], total=1, note="model already loaded")[1].endswith(
        "decode 0.30 s, score 0.04 s (total 1.00 s; model already loaded)")
