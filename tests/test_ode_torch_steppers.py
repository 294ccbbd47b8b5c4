"""The explicit steppers run the same problems on torch tensors (CPU here; CUDA where present)."""

import numpy as np
import pytest
import torch

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import (
    NONLINEAR_PROBLEMS,
    ExplicitEulerStepper,
    ImplicitEulerStepper,
    RK4Stepper,
    SolveIVPPropagator,
    heat_1d,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _short(name):
    kwargs = {"t_final": 0.2}
    if name in ("brusselator", "burgers", "allencahn"):
        kwargs["m"] = 8
    return NONLINEAR_PROBLEMS[name](**kwargs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(NONLINEAR_PROBLEMS))
def test_tensor_states_give_the_numpy_values_and_parareal_runs_on_them(name, device):
    problem = _short(name)
    grid = TimeGrid.uniform(problem.t_final, 4)
    fine, coarse = RK4Stepper(problem.ode, grid, substeps=10), ExplicitEulerStepper(problem.ode, grid, substeps=5)
    reference = propagate_sequentially(fine, problem.u0)
    u0 = torch.tensor(problem.u0, dtype=torch.float64, device=device)
    result = parareal(fine, coarse, u0, reference=propagate_sequentially(fine, u0))
    states = result.states_array()
    assert states.device.type == device and states.dtype == torch.float64
    np.testing.assert_allclose(states.cpu().numpy(), np.array(reference), rtol=0, atol=1e-12)
    assert result.converged and result.errors[-1] <= 1e-12


def test_float32_tensors_stay_float32_and_gradients_flow_through_the_steps():
    problem = heat_1d(6)
    grid = TimeGrid.uniform(problem.t_final, 2)
    rk4 = RK4Stepper(problem.ode, grid, substeps=40)
    u0 = torch.tensor(problem.u0, dtype=torch.float32, requires_grad=True)
    end = propagate_sequentially(rk4, u0)[-1]
    assert end.dtype == torch.float32
    end.sum().backward()
    # d(sum of u(T)) / d u0 = 1^T expm(T A): positive entries, at most 1 (the heat flow loses mass)
    assert bool((u0.grad > 0).all() and (u0.grad <= 1).all())


def test_newton_and_solve_ivp_propagators_refuse_tensors_naming_the_explicit_ones():
    problem = heat_1d(4)
    grid = TimeGrid.uniform(problem.t_final, 2)
    u0 = torch.tensor(problem.u0)
    for propagator in (ImplicitEulerStepper(problem.ode, grid), SolveIVPPropagator(problem.ode, grid)):
        with pytest.raises(TypeError, match="explicit steppers"):
            propagator(u0, 0)
    with pytest.raises(TypeError, match="real floating-point tensor"):
        RK4Stepper(problem.ode, grid)(torch.ones(4, dtype=torch.int64), 0)
