"""The ODE solvers of meshflow.flow.sample: their order on a known linear ODE, their model calls, and heun / rk4
with fewer steps against the original's 64-step midpoint solve on a tiny MMDiT."""
import math

import pytest
import torch

from meshflow import flow
from meshflow.flow import SOLVER_CALLS, SOLVERS, model_calls
from meshflow.models.mmdit import MMDiT, MMDiTConfig

ORDER = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}


class Linear:
    """v(x, t) = (a + b t) x on every channel, in float64; records each call's batch and cond."""

    def __init__(self, a=-1.3, b=0.8):
        self.a, self.b, self.calls = a, b, []

    def __call__(self, x, t, text, text_mask=None, cond=None):
        self.calls.append((x.shape[0], cond.clone()))
        return (self.a + self.b * t.view(-1, 1, 1)) * x

    def exact(self, x0):  # x(1) = x0 exp(a + b / 2)
        return x0 * math.exp(self.a + self.b / 2)


def solve(model, solver, steps, x0):
    f0 = torch.zeros(1, 3, 1, dtype=torch.float64)
    noise = torch.cat([f0, x0], dim=-1)
    return flow.sample(model, f0, torch.zeros(1, 2, 4, dtype=torch.float64), steps=steps, guidance=None,
                       solver=solver, noise=noise)[..., 1:]


def test_solvers_are_listed_with_their_calls():
    assert SOLVERS[0] == "midpoint" and set(SOLVERS) == set(ORDER)  # the original's first
    assert SOLVER_CALLS == {"midpoint": 2, "euler": 1, "heun": 2, "rk4": 4}
    assert model_calls("midpoint", 64) == 126 and model_calls("rk4", 9) == 32


@pytest.mark.parametrize("solver", SOLVERS)
def test_order_on_a_linear_ode(solver):
    """Halving the step divides the error by 2^order."""
    x0 = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64).view(1, 3, 1)
    model = Linear()
    errors = []
    for steps in (5, 9, 17, 33):
        errors.append((solve(model, solver, steps, x0) - model.exact(x0)).abs().max().item())
    rates = [math.log2(e0 / e1) for e0, e1 in zip(errors, errors[1:])]
    assert abs(rates[-1] - ORDER[solver]) < 0.15, (solver, errors, rates)
    assert errors[-1] < {1: 3e-2, 2: 1e-3, 4: 1e-6}[ORDER[solver]]


@pytest.mark.parametrize("solver", SOLVERS)
def test_one_batched_call_per_evaluation(solver):
    """Every evaluation is one model call holding [cond; uncond] (2B items); their number is model_calls."""
    model = Linear()
    B = 3
    f0 = torch.zeros(B, 4, 2, dtype=torch.float64)
    flow.sample(model, f0, torch.zeros(B, 2, 4, dtype=torch.float64), steps=5, guidance=2.5, solver=solver,
                noise=torch.randn(B, 4, 4, dtype=torch.float64))
    assert len(model.calls) == model_calls(solver, 5)
    for batch, cond in model.calls:
        assert batch == 2 * B and cond.tolist() == [True] * B + [False] * B


def tiny_mmdit():
    torch.manual_seed(0)
    model = MMDiT(MMDiTConfig(input_channels=16, output_channels=16, width=32, layers=2, heads=2, text_dim=24))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def test_fewer_steps_close_to_the_midpoint_reference():
    """heun and rk4 on a fraction of the calls land near the 64-step midpoint solve, nearer than euler on as many."""
    model = tiny_mmdit()
    gen = torch.Generator().manual_seed(1)
    f0 = torch.randn(2, 24, 8, generator=gen)
    text = (torch.randn(2, 5, 24, generator=gen), torch.ones(2, 5, dtype=torch.bool))
    noise = torch.randn(2, 24, 16, generator=gen)

    def run(solver, steps):
        return flow.sample(model, f0, text, steps=steps, guidance=3.0, solver=solver, noise=noise)[..., 8:]

    ref = run("midpoint", 64)
    scale = (ref - noise[..., 8:]).norm()

    def deviation(solver, steps):
        return ((run(solver, steps) - ref).norm() / scale).item()

    rk4, heun, euler = deviation("rk4", 9), deviation("heun", 17), deviation("euler", 33)  # 32 calls each
    assert rk4 < 1e-3 and heun < 1e-3, (rk4, heun)  # measured 6e-6 and 9e-5; euler 5e-3
    assert rk4 < euler / 10 and heun < euler / 10, (rk4, heun, euler)
