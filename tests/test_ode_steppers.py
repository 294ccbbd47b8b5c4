"""Time steppers, the callable and solve_ivp propagators, the nonlinear catalogue and its theory."""

import math

import numpy as np
import pytest

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import (
    NONLINEAR_PROBLEMS,
    CallablePropagator,
    ExactPropagator,
    ExplicitEulerStepper,
    ImplicitEulerPropagator,
    ImplicitEulerStepper,
    NewtonConvergenceError,
    NonlinearODE,
    RK4Stepper,
    SolveIVPPropagator,
    TrapezoidStepper,
    allen_cahn,
    fine_lipschitz_estimate,
    gander_hairer_bound,
    heat_1d,
    lipschitz_constants,
    van_der_pol,
)


def _order_ratios(kind, problem, exact):
    grid = TimeGrid.uniform(problem.t_final, 1)
    errors = [np.abs(kind(problem.ode, grid, substeps=m)(problem.u0, 0) - exact).max() for m in (20, 40, 80)]
    return [errors[0] / errors[1], errors[1] / errors[2]]


@pytest.fixture(scope="module")
def van_der_pol_exact():
    problem = van_der_pol(1.0, t_final=1.0)
    fine = SolveIVPPropagator(problem.ode, TimeGrid.uniform(1.0, 1), method="DOP853", rtol=1e-13, atol=1e-13)
    return problem, fine(problem.u0, 0)


@pytest.mark.parametrize(
    ("kind", "ratio"),
    [(RK4Stepper, 16.0), (ImplicitEulerStepper, 2.0), (ExplicitEulerStepper, 2.0), (TrapezoidStepper, 4.0)],
)
def test_measured_order_halving_the_step_divides_the_error_by_two_to_the_order(kind, ratio, van_der_pol_exact):
    problem, exact = van_der_pol_exact
    for measured in _order_ratios(kind, problem, exact):
        assert ratio * 0.9 < measured < ratio * 1.15, (kind.__name__, measured)


def test_implicit_euler_stepper_equals_the_linear_implicit_euler_propagator():
    problem = heat_1d(12)
    grid = TimeGrid.uniform(problem.t_final, 3)
    newton = ImplicitEulerStepper(problem.ode, grid, substeps=4)
    lu = ImplicitEulerPropagator(problem.ode, grid, substeps=4)
    u = problem.u0
    for j in range(3):
        np.testing.assert_allclose(newton(u, j), lu(u, j), rtol=0, atol=1e-13)


def test_steppers_run_numpy_free_user_functions_and_differences_match_the_jacobian():
    def rhs(t, u):  # not vectorized, time-dependent
        return np.array([u[1], -math.sin(u[0]) + 0.1 * math.cos(t)])

    def jac(t, u):
        return np.array([[0.0, 1.0], [-math.cos(u[0]), 0.0]])

    grid = TimeGrid.uniform(2.0, 4)
    u0 = np.array([1.0, 0.0])
    with_jac = ImplicitEulerStepper(NonlinearODE(rhs, 2, jac), grid, substeps=10)
    by_differences = ImplicitEulerStepper(NonlinearODE(rhs, 2), grid, substeps=10)
    np.testing.assert_allclose(
        propagate_sequentially(with_jac, u0), propagate_sequentially(by_differences, u0), atol=1e-11
    )
    batch = with_jac.propagate_batch([u0, u0], [0, 3])  # rows at different times
    np.testing.assert_allclose(batch[1], with_jac(u0, 3), rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", sorted(NONLINEAR_PROBLEMS))
def test_catalogue_jacobians_match_forward_differences(name):
    problem = NONLINEAR_PROBLEMS[name]()
    rng = np.random.default_rng(1)
    u = problem.u0 + 0.1 * rng.standard_normal(problem.ode.size)
    differences = NonlinearODE(problem.ode.rhs, problem.ode.size, vectorized=True).jacobian(0.0, u)
    exact = problem.ode.jacobian(0.0, u)
    assert np.abs(differences - exact).max() <= 1e-5 * max(1.0, np.abs(exact).max())
    stacked = problem.ode.rhs(0.0, np.stack([u, 2 * u]))  # vectorized: rows are states
    np.testing.assert_allclose(stacked[1], problem.ode.rhs(0.0, 2 * u), rtol=0, atol=1e-12)


def test_newton_failure_is_an_error_not_a_state():
    problem = van_der_pol(1000.0, t_final=3000.0)
    stepper = ImplicitEulerStepper(problem.ode, TimeGrid.uniform(3000.0, 1), max_newton=3)
    with pytest.raises(NewtonConvergenceError, match="did not converge in 3 iterations"):
        stepper(problem.u0, 0)


def test_solve_ivp_propagator_reaches_its_tolerance_and_reports_failure():
    problem = van_der_pol(50.0, t_final=1.0)
    grid = TimeGrid.uniform(1.0, 2)
    radau = SolveIVPPropagator(problem.ode, grid, method="Radau", rtol=1e-10, atol=1e-10)
    bdf = SolveIVPPropagator(problem.ode, grid, method="BDF", rtol=1e-10, atol=1e-10)
    assert np.abs(radau(problem.u0, 1) - bdf(problem.u0, 1)).max() < 1e-6
    blowup = NonlinearODE(lambda t, u: u**2, 1)  # u = 1/(1 - t) leaves at t = 1
    with pytest.raises(RuntimeError, match="solve_ivp \\(RK45\\) failed on slice 0"):
        SolveIVPPropagator(blowup, TimeGrid.uniform(2.0, 1))(np.array([1.0]), 0)


def test_callable_propagators_of_both_signatures_run_the_driver():
    grid = TimeGrid.uniform(1.0, 5)
    exact = CallablePropagator(lambda t0, t1, u: u * np.exp(-(t1 - t0)), grid)
    coarse = CallablePropagator(lambda u, j: u / 1.2, 5)
    result = parareal(exact, coarse, np.array([1.0]), tol=1e-12)
    assert result.converged and abs(result.final[0] - math.exp(-1.0)) < 1e-12
    with pytest.raises(TypeError, match="pass signature="):
        CallablePropagator(lambda *args: args[0], grid)
    assert CallablePropagator(lambda *args: args[0], grid, signature="slice")(np.ones(1), 0)[0] == 1.0
    with pytest.raises(TypeError, match="must be a TimeGrid for a \\(t0, t1, u\\) function"):
        CallablePropagator(lambda t0, t1, u: u, 3)


def test_the_estimate_criterion_certifies_tol_on_the_heat_equation():
    problem = heat_1d(30, initial="sine")
    grid = TimeGrid.uniform(problem.t_final, 12)
    fine, coarse = ExactPropagator(problem.ode, grid, prepare=True), ImplicitEulerPropagator(problem.ode, grid)
    reference = np.array(propagate_sequentially(fine, problem.u0))
    lipschitz = fine_lipschitz_estimate(problem.ode, grid, [problem.u0])
    assert lipschitz == 1.0  # rows of the heat matrix sum to at most 0: exp(ΔT A) is a max-norm contraction
    for tol in (1e-4, 1e-7, 1e-10):
        result = parareal(
            fine, coarse, problem.u0, tol=tol, criterion="estimate", fine_lipschitz=lipschitz, reference=reference
        )
        assert result.converged and result.criterion == "estimate"
        assert result.errors[-1] <= result.estimates[-1] <= tol
        assert all(e <= b for e, b in zip(result.errors[1:], result.estimates))


def test_gander_hairer_bound_with_estimated_constants_holds_on_allen_cahn():
    problem = allen_cahn(24, t_final=2.0)
    grid = TimeGrid.uniform(problem.t_final, 8)
    fine, coarse = RK4Stepper(problem.ode, grid, substeps=40), ImplicitEulerStepper(problem.ode, grid)
    reference = propagate_sequentially(fine, problem.u0)
    result = parareal(fine, coarse, problem.u0, reference=reference)
    alpha, beta = lipschitz_constants(fine, coarse, reference)
    bound = gander_hairer_bound(alpha, beta, 8, result.iterations, result.errors[0])
    assert 0 < alpha < 1 and beta > 0
    assert np.all(np.array(result.errors) <= bound * (1 + 1e-12) + 1e-14)  # round-off at K = N
    assert bound[-1] == 0.0  # K = N: exact


def test_arrays_are_accepted_as_state_sequences_and_iterates_come_as_one_array():
    problem = heat_1d(8)
    grid = TimeGrid.uniform(problem.t_final, 4)
    fine, coarse = ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)
    reference = np.array(propagate_sequentially(fine, problem.u0))
    as_lists = parareal(
        fine, coarse, problem.u0, iterations=2, initial=list(reference[1:-1]), reference=list(reference)
    )
    as_arrays = parareal(fine, coarse, problem.u0, iterations=2, initial=reference[1:-1], reference=reference)
    assert as_lists.errors == as_arrays.errors
    iterates = as_arrays.iterates_array()
    assert iterates.shape == (3, 5, 8) and np.isnan(iterates[0, -1]).all()  # U^0_N was not guessed
    np.testing.assert_array_equal(iterates[-1], as_arrays.states_array())
    with pytest.raises(ValueError, match="store_iterates=False"):
        parareal(fine, coarse, problem.u0, iterations=1, store_iterates=False).iterates_array()


def test_a_step_whose_implicit_equation_has_no_root_is_split_not_accepted_worse():
    # u' = u^2 + 1, u(0) = 0 (u = tan t): the implicit-Euler equation h Y^2 - Y + u + h = 0 has no
    # real root when 4 h (u + h) > 1, so one step of 1.2 cannot be solved by any Newton; it is
    # split in halves where (and only where) needed, and every piece solves its own equation.
    riccati = NonlinearODE(lambda t, u: u**2 + 1, 1, jacobian=lambda t, u: np.array([[2 * u[0]]]), vectorized=True)

    def implicit_euler_root(u, h):  # the root continuous in h -> 0 (the other one is spurious)
        return (1 - math.sqrt(1 - 4 * h * (u + h))) / (2 * h)

    whole = ImplicitEulerStepper(riccati, TimeGrid([0.0, 0.6]))  # 4 h (u + h) = 1.44: no root
    halves = ImplicitEulerStepper(riccati, TimeGrid([0.0, 0.6]), substeps=2)
    y = float(whole(np.array([0.0]), 0)[0])
    assert whole.step_splits == 1 and halves.step_splits == 0
    assert y == pytest.approx(implicit_euler_root(implicit_euler_root(0.0, 0.3), 0.3), rel=1e-12)
    assert y == pytest.approx(float(halves(np.array([0.0]), 0)[0]), rel=1e-12)
    with pytest.raises(NewtonConvergenceError, match="split 10 times"):
        ImplicitEulerStepper(riccati, TimeGrid([0.0, 2.0]))(np.array([0.0]), 0)  # tan t leaves at t = pi/2


@pytest.mark.parametrize("coarse_substeps", [10, 5])  # h = 0.1 (the gallery's), and one notch coarser
@pytest.mark.parametrize("perturbation", [0.0, 1e-12])
def test_van_der_pol_with_an_implicit_coarse_step_survives_a_coarser_step_and_a_perturbed_start(
    coarse_substeps, perturbation
):
    problem = van_der_pol(10.0, t_final=10.0)
    grid = TimeGrid.uniform(problem.t_final, 10)
    u0 = problem.u0 * (1 + perturbation)
    fine = TrapezoidStepper(problem.ode, grid, substeps=50)
    coarse = ImplicitEulerStepper(problem.ode, grid, substeps=coarse_substeps)
    reference = propagate_sequentially(fine, u0)
    result = parareal(fine, coarse, u0, reference=reference, tol=1e-8)
    assert result.finite and result.errors[-1] <= 1e-8 * max(1.0, float(np.abs(np.array(reference)).max()))
