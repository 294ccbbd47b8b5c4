"""The declared ODE interface, the one base of the slice propagators, and the stepper registry."""

import numpy as np
import pytest

from parareal_toolkit import TimeGrid, _names, propagate_sequentially
from parareal_toolkit.cli import build_parser
from parareal_toolkit.errors import InputTypeError
from parareal_toolkit.ode import (
    ODE,
    SOLVE_IVP_METHODS,
    STEPPERS,
    ExactPropagator,
    ExplicitEulerStepper,
    ImplicitEulerPropagator,
    ImplicitEulerStepper,
    LinearODE,
    LinearSlicePropagator,
    NonlinearODE,
    ODEWithJacobian,
    SlicePropagator,
    SolveIVPPropagator,
    TimeStepper,
    van_der_pol,
)


class _Decay:
    """``u' = -u`` written by hand: an ODE with no Jacobian."""

    size = 2

    def rhs(self, t, u):
        return -u

    def rhs_rows(self, t, U):
        return -U


class _NoRows:
    size = 2

    def rhs(self, t, u):
        return -u


def test_the_linear_and_nonlinear_equations_satisfy_the_declared_protocols():
    for ode in (LinearODE([[-1.0]]), NonlinearODE(lambda t, u: -u, 1)):
        assert isinstance(ode, ODE) and isinstance(ode, ODEWithJacobian)
    assert isinstance(_Decay(), ODE) and not isinstance(_Decay(), ODEWithJacobian)
    assert not isinstance(_NoRows(), ODE)


def test_an_explicit_stepper_needs_only_the_rhs_an_implicit_one_the_jacobian_too():
    grid = TimeGrid.uniform(1.0, 2)
    euler = ExplicitEulerStepper(_Decay(), grid, substeps=4)
    np.testing.assert_allclose(euler(np.ones(2), 0), np.full(2, (1 - 0.5 / 4) ** 4), rtol=1e-15)
    with pytest.raises(InputTypeError, match="`ode` must have a `jacobian` method for an implicit stepper"):
        ImplicitEulerStepper(_Decay(), grid)
    for kind in (ExplicitEulerStepper, SolveIVPPropagator):
        with pytest.raises(InputTypeError, match=r"`ode` must be a NonlinearODE or LinearODE .*`rhs_rows`"):
            kind(_NoRows(), grid)
    # scipy's implicit methods difference f themselves when the equation has no Jacobian
    bdf = SolveIVPPropagator(_Decay(), grid, method="BDF", rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bdf(np.ones(2), 0), np.full(2, np.exp(-0.5)), rtol=1e-7)


def test_every_ode_propagator_shares_one_base_and_its_bookkeeping():
    for kind in (TimeStepper, LinearSlicePropagator, SolveIVPPropagator):
        assert issubclass(kind, SlicePropagator)
    assert not issubclass(SolveIVPPropagator, TimeStepper)  # scipy's integrators take no fixed steps
    for kind in (TimeStepper, LinearSlicePropagator, SolveIVPPropagator):
        for method in ("__call__", "propagate_batch", "validate_state", "_state", "_tensor_state"):
            assert method not in vars(kind), (kind.__name__, method)


@pytest.mark.parametrize(
    "make",
    [
        lambda ode, grid: ExactPropagator(ode, grid),
        lambda ode, grid: ImplicitEulerPropagator(ode, grid, substeps=3),
        lambda ode, grid: STEPPERS["trapezoid"](ode, grid, substeps=3),
        lambda ode, grid: STEPPERS["rk4"](ode, grid, substeps=3),
        lambda ode, grid: SolveIVPPropagator(ode, grid, method="Radau"),
    ],
)
def test_a_batch_on_a_non_uniform_grid_gives_the_values_of_one_call_per_slice(make):
    ode = LinearODE([[-2.0, 1.0], [1.0, -3.0]])
    propagator = make(ode, TimeGrid([0.0, 0.1, 0.3, 0.4, 0.7]))
    states = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1, 2]), np.array([0.5, -0.5])]
    slices = [3, 1, 0, 1]
    batch = propagator.propagate_batch(states, slices)
    for u, j, value in zip(states, slices, batch):
        np.testing.assert_allclose(value, propagator(u, j), rtol=1e-14, atol=1e-15)
    assert propagator.propagate_batch([], []) == []
    with pytest.raises(IndexError):
        propagator(states[0], 4)


def test_the_stepper_registry_is_what_the_cli_offers():
    assert tuple(STEPPERS) == _names.STEPPER_NAMES
    for name, kind in STEPPERS.items():
        assert issubclass(kind, TimeStepper) and kind.name == name
    assert tuple(f"ivp-{method.lower()}" for method in SOLVE_IVP_METHODS) == _names.SOLVE_IVP_NAMES
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    choices = {a.dest: tuple(a.choices) for a in commands["ode"]._actions if a.choices}
    assert choices["coarse"] == tuple(STEPPERS)
    assert choices["fine"] == ("exact", *STEPPERS, *_names.SOLVE_IVP_NAMES)


@pytest.mark.parametrize("name", list(STEPPERS))
def test_each_registered_stepper_has_the_order_it_claims(name):
    # halving the step divides the error over a fixed time by 2^order
    problem = van_der_pol(1.0, t_final=1.0)
    grid = TimeGrid.uniform(1.0, 1)
    exact = SolveIVPPropagator(problem.ode, grid, method="DOP853", rtol=1e-13, atol=1e-13)(problem.u0, 0)
    kind = STEPPERS[name]
    errors = [np.abs(kind(problem.ode, grid, substeps=m)(problem.u0, 0) - exact).max() for m in (20, 40, 80)]
    for ratio in (errors[0] / errors[1], errors[1] / errors[2]):
        assert 0.9 < ratio / 2**kind.order < 1.15, (name, ratio)


def test_solve_ivp_orders_are_none_where_the_method_changes_its_order():
    grid = TimeGrid.uniform(1.0, 1)
    orders = {m: SolveIVPPropagator(LinearODE([[-1.0]]), grid, method=m).order for m in SOLVE_IVP_METHODS}
    assert orders == {"RK45": 5, "RK23": 3, "DOP853": 8, "Radau": 5, "BDF": None, "LSODA": None}


def test_the_linear_propagators_refuse_tensors_naming_the_steppers_that_take_them():
    torch = pytest.importorskip("torch")
    problem_ode, grid = LinearODE([[-1.0]]), TimeGrid.uniform(1.0, 2)
    exact = ExactPropagator(problem_ode, grid)
    for call in (lambda: exact(torch.ones(1), 0), lambda: exact.validate_state(torch.ones(1), "u0")):
        with pytest.raises(InputTypeError, match="must be a numpy array for ExactPropagator.*explicit steppers"):
            call()
    # numpy states still go through, as a sequence
    assert len(propagate_sequentially(exact, np.ones(1))) == 3
