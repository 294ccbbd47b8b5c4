"""The facts of parareal hold for nonlinear problems with the new time steppers (hypothesis, float64).

Standard form only: the correction form adds ``G_j(0)``, which a nonlinear coarse
propagator need not map to zero (the driver's documentation says so).
"""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import ExplicitEulerStepper, ImplicitEulerStepper, RK4Stepper, TrapezoidStepper
from parareal_toolkit.testing.ode import nonlinear_problems

_settings = settings(max_examples=12, deadline=None)


steppers = st.sampled_from([ExplicitEulerStepper, RK4Stepper, ImplicitEulerStepper, TrapezoidStepper])


def stable_substeps(kind, problem, grid, substeps):
    """At least ``substeps``; for an explicit stepper enough that ``h ||J(u0)||_∞ <= 1``.

    Explicit steps beyond their stability limit make iterates grow without bound, and the
    implicit steppers' Newton iteration then fails on them (an error, by design); the
    properties are about what parareal computes, so the strategy keeps the steps stable.
    """
    if kind in (ExplicitEulerStepper, RK4Stepper):
        rate = float(np.abs(problem.ode.jacobian(0.0, problem.u0)).sum(axis=1).max())
        substeps = max(substeps, math.ceil(float(grid.steps.max()) * rate))
    return substeps


def setup(problem, n, fine_kind, coarse_kind, fine_substeps):
    grid = TimeGrid.uniform(problem.t_final, n)
    fine = fine_kind(problem.ode, grid, substeps=stable_substeps(fine_kind, problem, grid, fine_substeps))
    coarse = coarse_kind(problem.ode, grid, substeps=stable_substeps(coarse_kind, problem, grid, 1))
    return fine, coarse, propagate_sequentially(fine, problem.u0)


def tolerance(reference):
    return 1e-9 * max(1.0, max(float(np.abs(r).max()) for r in reference))


@_settings
@given(nonlinear_problems(), st.integers(2, 6), steppers, steppers, st.integers(2, 8))
def test_after_k_iterations_the_first_k_plus_one_states_are_exact(problem, n, fine_kind, coarse_kind, m):
    fine, coarse, reference = setup(problem, n, fine_kind, coarse_kind, m)
    result = parareal(fine, coarse, problem.u0, iterations=n, reference=reference)
    iterates = result.iterates_array()
    atol = tolerance(reference)
    for k in range(n + 1):
        np.testing.assert_allclose(iterates[k, : k + 1], np.array(reference)[: k + 1], rtol=0, atol=atol)
    # K = N gives the fine solution everywhere
    np.testing.assert_allclose(result.states_array(), np.array(reference), rtol=0, atol=atol)
    assert result.converged


@_settings
@given(nonlinear_problems(), st.integers(2, 6), steppers, steppers, st.integers(2, 8))
def test_the_fine_solution_is_a_fixed_point(problem, n, fine_kind, coarse_kind, m):
    fine, coarse, reference = setup(problem, n, fine_kind, coarse_kind, m)
    result = parareal(fine, coarse, problem.u0, iterations=1, initial=np.array(reference[1:]), reference=reference)
    assert result.increments[0] <= tolerance(reference)
    assert result.errors[-1] <= tolerance(reference)


@_settings
@given(nonlinear_problems(), st.integers(2, 6), steppers, st.integers(1, 4))
def test_coarse_equal_to_fine_converges_in_one_iteration(problem, n, kind, m):
    grid = TimeGrid.uniform(problem.t_final, n)
    m = stable_substeps(kind, problem, grid, m)
    fine = kind(problem.ode, grid, substeps=m)
    reference = propagate_sequentially(fine, problem.u0)
    result = parareal(fine, kind(problem.ode, grid, substeps=m), problem.u0, iterations=1, reference=reference)
    assert result.errors[-1] <= tolerance(reference)


@_settings
@given(nonlinear_problems(), st.integers(2, 5), steppers, st.integers(1, 4))
def test_a_batch_of_slices_equals_one_call_per_slice(problem, n, kind, m):
    grid = TimeGrid.uniform(problem.t_final, n)
    stepper = kind(problem.ode, grid, substeps=stable_substeps(kind, problem, grid, m))
    states = propagate_sequentially(stepper, problem.u0)[:-1]
    slices = list(range(n))[::-1]
    batch = stepper.propagate_batch(states[::-1], slices)
    for u, j, value in zip(states[::-1], slices, batch):
        np.testing.assert_allclose(value, stepper(u, j), rtol=0, atol=1e-13 * max(1.0, float(np.abs(value).max())))


@_settings
@given(nonlinear_problems(), st.integers(2, 6), st.integers(2, 8))
def test_the_a_posteriori_estimate_bounds_the_error_when_the_fine_propagator_contracts(problem, n, m):
    """With ``L`` measured as the largest ratio the fine propagator shows, the estimate is above the error.

    ``L`` here is a finite-difference estimate over the iterates (not a certificate), large
    enough on these short slices; the test checks the bookkeeping of the recursion.
    """
    fine, coarse, reference = setup(problem, n, RK4Stepper, ImplicitEulerStepper, m)
    result = parareal(fine, coarse, problem.u0, iterations=n, reference=reference, fine_lipschitz=1.0)
    iterates = result.iterates_array()
    # the smallest L for which the estimate's recursion is valid on these very states
    ratios = [
        np.abs(fine(iterates[k, j], j) - reference[j + 1]).max() / np.abs(iterates[k, j] - reference[j]).max()
        for k in range(n + 1)
        for j in range(n)
        if np.abs(iterates[k, j] - reference[j]).max() > 1e-12
    ]
    lipschitz = max([1.0, *ratios])
    result = parareal(fine, coarse, problem.u0, iterations=n, reference=reference, fine_lipschitz=lipschitz)
    for error, estimate in zip(result.errors[1:], result.estimates):
        assert error <= estimate * (1 + 1e-9) + tolerance(reference)
