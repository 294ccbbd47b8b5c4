"""Why parareal stopped, and when that is convergence (hypothesis, float64).

``K = N`` iterations reproduce the fine solution in the standard form whatever ``G`` is, and
in the correction form when ``G_j(0) = 0``; the correction form with an affine ``G`` misses
it by ``G_1(0)`` at ``U_2``. ``converged`` is True only for a met ``tol`` and for ``K = N``
where that theorem holds (``stop_reason`` ``"tolerance"`` or ``"exact"``).

Tolerances: with the serial backend the standard form adds ``G_j(u_j) - G_j(u_j) = 0`` and
the correction form ``G_j(0) = 0`` on exact interfaces, so the result is the sequential
fine solution to the last bit; the tests allow ``N`` roundings of the problem's scale
(``N eps max_j |u_j|``), what a reordered fine sweep could add.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parareal_toolkit import PararealResult, TimeGrid, parareal, propagate_sequentially
from parareal_toolkit._iteration import exact_after_all_slices
from parareal_toolkit._names import CONVERGED_STOP_REASONS, STOP_REASONS
from parareal_toolkit.ode import (
    ExactPropagator,
    ExplicitEulerStepper,
    ImplicitEulerPropagator,
    ImplicitEulerStepper,
    NonlinearODE,
    RK4Stepper,
    TrapezoidStepper,
)
from parareal_toolkit.testing.ode import linear_problems, nonlinear_problems, time_grids

EPS = float(np.finfo(np.float64).eps)
forms = st.sampled_from(["standard", "correction"])
steppers = st.sampled_from([ExplicitEulerStepper, RK4Stepper, ImplicitEulerStepper, TrapezoidStepper])


def max_abs(x):
    return float(np.abs(np.asarray(x)).max())


def roundoff(reference, n, extra=0.0):
    """``N`` roundings of the largest state (plus ``extra``, the size of anything added to it)."""
    return n * EPS * (max(max_abs(r) for r in reference) + extra)


def error(states, reference):
    return max(max_abs(u - r) for u, r in zip(states, reference))


class Matrix:
    """``u -> M u`` on ``n`` slices; ``linear`` (when given) is the declared flag."""

    def __init__(self, M, n, linear=None):
        self.M, self.num_slices = M, n
        if linear is not None:
            self.linear = linear

    def __call__(self, u, j):
        return self.M @ u


class Affine:
    """``u -> G_j(u) + b``: an affine coarse propagator, ``G_j(0) = b != 0`` (declares nothing)."""

    def __init__(self, linear_part, b):
        self.linear_part, self.b, self.num_slices = linear_part, b, linear_part.num_slices

    def __call__(self, u, j):
        return self.linear_part(u, j) + self.b


def offsets(size):
    """Vectors ``b`` with entries of size 1e-3..1: far above round-off, of either sign."""
    entry = st.builds(lambda s, m: s * m, st.sampled_from([-1.0, 1.0]), st.floats(1e-3, 1.0))
    return st.lists(entry, min_size=size, max_size=size).map(np.array)


@given(linear_problems(), st.integers(1, 3), forms)
def test_k_equal_n_is_exact_for_linear_coarse_propagators_in_both_forms(problem, substeps, form):
    ode, grid, u0 = problem
    fine, coarse = ExactPropagator(ode, grid), ImplicitEulerPropagator(ode, grid, substeps=substeps)
    reference = propagate_sequentially(fine, u0)
    n = grid.num_slices
    result = parareal(fine, coarse, u0, form=form, backend="serial")
    assert (result.iterations, result.stop_reason, result.converged) == (n, "exact", True)
    assert error(result.states, reference) <= roundoff(reference, n)


@settings(max_examples=12)
@given(nonlinear_problems(), st.integers(2, 6), steppers, steppers, st.integers(1, 4))
def test_k_equal_n_is_exact_in_the_standard_form_for_nonlinear_problems(problem, n, fine_kind, coarse_kind, m):
    grid = TimeGrid.uniform(problem.t_final, n)
    rate = float(np.abs(problem.ode.jacobian(0.0, problem.u0)).sum(axis=1).max())
    stable = max(m, math.ceil(float(grid.steps.max()) * rate))  # explicit steps within their stability limit
    fine, coarse = fine_kind(problem.ode, grid, substeps=stable + 4), coarse_kind(problem.ode, grid, substeps=stable)
    reference = propagate_sequentially(fine, problem.u0)
    result = parareal(fine, coarse, problem.u0, backend="serial")
    assert (result.iterations, result.stop_reason, result.converged) == (n, "exact", True)
    assert error(result.states, reference) <= roundoff(reference, n)


@given(linear_problems(grids=time_grids(min_slices=2)), st.data())
def test_the_correction_form_with_an_affine_coarse_propagator_is_not_exact_at_k_equal_n(problem, data):
    ode, grid, u0 = problem
    n = grid.num_slices
    b = data.draw(offsets(u0.shape[0]))
    fine, coarse = ExactPropagator(ode, grid), Affine(ImplicitEulerPropagator(ode, grid), b)
    reference = propagate_sequentially(fine, u0)
    result = parareal(fine, coarse, u0, form="correction", backend="serial")
    assert (result.iterations, result.stop_reason, result.converged) == (n, "all-slices", False)
    # U_1 = F_0(u0) and δ_1 = 0, so U_2 = F_1(u_1) + G_1(0) = u_2 + b, to one rounding
    assert max_abs(result.states[1] - reference[1]) <= roundoff(reference, n)
    one_rounding = EPS * (max_abs(reference[2]) + max_abs(b))
    assert max_abs(result.states[2] - reference[2] - b) <= one_rounding
    # so the error is |b|, not round-off
    assert error(result.states, reference) >= max_abs(b) - one_rounding > 1e3 * roundoff(reference, n, max_abs(b))
    # the standard form with the same affine G is exact, and converged
    standard = parareal(fine, coarse, u0, form="standard", backend="serial")
    assert (standard.stop_reason, standard.converged) == ("exact", True)
    assert error(standard.states, reference) <= roundoff(reference, n)


def test_an_affine_coarse_stepper_breaks_the_correction_form_and_the_result_says_so():
    # u' = 1 - u (f(t, 0) = 1): implicit Euler maps 0 to h / (1 + h); the issue's case, where
    # the correction form used to return converged=True with an error worse than its coarse start
    ode = NonlinearODE(lambda t, u: 1.0 - u, 1, lambda t, u: np.array([[-1.0]]))
    grid = TimeGrid.uniform(5.0, 10)
    fine, coarse = RK4Stepper(ode, grid, substeps=50), ImplicitEulerStepper(ode, grid)
    u0 = np.array([0.0])
    reference = propagate_sequentially(fine, u0)
    result = parareal(fine, coarse, u0, form="correction", reference=reference)
    assert (result.stop_reason, result.converged, result.finite) == ("all-slices", False, True)
    g0 = max_abs(coarse(np.zeros(1), 1))
    assert g0 == pytest.approx(0.5 / 1.5, rel=1e-12)  # h = 0.5
    assert result.slice_errors[-1, 2] >= g0 * (1 - 4 * EPS)
    assert result.errors[-1] > result.errors[0]  # worse than its coarse start
    standard = parareal(fine, coarse, u0, reference=reference)
    assert (standard.stop_reason, standard.converged) == ("exact", True)
    assert standard.errors[-1] <= roundoff(reference, 10)


@given(linear_problems(grids=time_grids(min_slices=2)), st.sampled_from([None, True, False]))
def test_the_correction_form_trusts_only_a_declared_linear_flag(problem, declared):
    ode, grid, u0 = problem
    n = grid.num_slices
    fine = ExactPropagator(ode, grid)
    coarse = Matrix(0.5 * np.eye(ode.size), n, linear=declared)  # linear, whether declared or not
    result = parareal(fine, coarse, u0, form="correction")
    expected = "exact" if declared is True else "all-slices"  # unknown (None) is not exact
    assert (result.stop_reason, result.converged) == (expected, declared is True)
    assert exact_after_all_slices(coarse, "standard", n)
    assert exact_after_all_slices(Affine(coarse, np.ones(ode.size)), "correction", 1)  # N = 1: nothing to correct


@given(linear_problems(), st.data())
def test_the_stop_reason_is_tolerance_exactly_when_the_increment_met_tol(problem, data):
    ode, grid, u0 = problem
    n = grid.num_slices
    fine, coarse = ExactPropagator(ode, grid), ImplicitEulerPropagator(ode, grid)
    tol = data.draw(st.floats(1e-12, 1.0))
    cap = data.draw(st.integers(0, n + 2))
    result = parareal(fine, coarse, u0, tol=tol, iterations=cap)
    assert all(i > tol for i in result.increments[:-1])  # it stops at the first increment <= tol
    met = bool(result.increments) and result.increments[-1] <= tol
    assert (result.stop_reason == "tolerance") == met
    if met:
        assert result.converged
    elif result.iterations >= n:
        assert (result.stop_reason, result.converged) == ("exact", True)
    else:
        assert result.iterations == cap < n
        assert (result.stop_reason, result.converged) == ("iteration-cap", False)


@given(linear_problems(), st.data())
def test_the_stop_reason_is_tolerance_exactly_when_the_estimate_met_tol(problem, data):
    ode, grid, u0 = problem
    fine, coarse = ExactPropagator(ode, grid), ImplicitEulerPropagator(ode, grid)
    tol = data.draw(st.floats(1e-12, 1.0))
    lipschitz = data.draw(st.floats(0.0, 3.0))
    result = parareal(fine, coarse, u0, tol=tol, criterion="estimate", fine_lipschitz=lipschitz)
    assert all(e > tol for e in result.estimates[:-1])
    assert (result.stop_reason == "tolerance") == (result.estimates[-1] <= tol)
    if result.stop_reason != "tolerance":
        assert (result.iterations, result.stop_reason) == (grid.num_slices, "exact")


@given(linear_problems(grids=time_grids(min_slices=2)), st.data())
def test_a_cap_below_n_and_a_callback_stop_are_not_convergence(problem, data):
    ode, grid, u0 = problem
    n = grid.num_slices
    fine, coarse = ExactPropagator(ode, grid), ImplicitEulerPropagator(ode, grid)
    cap = data.draw(st.integers(0, n - 1))
    capped = parareal(fine, coarse, u0, iterations=cap)
    assert (capped.iterations, capped.stop_reason, capped.converged) == (cap, "iteration-cap", False)
    stop_at = data.draw(st.integers(0, n - 1))

    def callback(info):
        if info.k == stop_at:
            raise StopIteration

    stopped = parareal(fine, coarse, u0, callback=callback)
    assert (stopped.iterations, stopped.stop_reason, stopped.converged) == (stop_at, "callback", False)

    def stop_at_n(info):
        if info.k == n:
            raise StopIteration

    # stopped by the callback at K = N (below the cap N + 1): the theorem still makes it exact
    at_n = parareal(fine, coarse, u0, iterations=n + 1, callback=stop_at_n)
    assert (at_n.iterations, at_n.stop_reason, at_n.converged) == (n, "exact", True)


def test_a_non_finite_iterate_stops_with_its_reason():
    # F overflows on its first slice (1e200 * 1e200 = inf): iterate 1 holds an infinity
    with np.errstate(over="ignore"):
        result = parareal(Matrix(np.array([[1e200]]), 4), Matrix(np.array([[1.0]]), 4), np.array([1e200]))
    assert (result.finite, result.nonfinite_iteration, result.stop_reason, result.converged) == (
        False,
        1,
        "non-finite",
        False,
    )


def test_the_vocabulary_and_the_result_agree():
    assert set(CONVERGED_STOP_REASONS) < set(STOP_REASONS)
    assert len(set(STOP_REASONS)) == len(STOP_REASONS) == 6
    fields = dict(
        states=[1.0],
        iterates=None,
        increments=[],
        errors=None,
        slice_errors=None,
        iterations=0,
        num_slices=1,
        fine_evaluations=0,
        coarse_evaluations=0,
        form="standard",
        initial="coarse",
    )
    for reason in STOP_REASONS:
        converged = reason in CONVERGED_STOP_REASONS
        assert PararealResult(**fields, converged=converged, stop_reason=reason).stop_reason == reason
        with pytest.raises(ValueError, match="`converged` must be True exactly for the stop reasons"):
            PararealResult(**fields, converged=not converged, stop_reason=reason)
    with pytest.raises(ValueError, match="`stop_reason` must be one of"):
        PararealResult(**fields, converged=False, stop_reason="done")
