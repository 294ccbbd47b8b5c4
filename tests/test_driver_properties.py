"""The facts of parareal, pinned as hypothesis properties in float64 on random stable A."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from parareal_toolkit import parareal, propagate_sequentially
from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator
from parareal_toolkit.testing.ode import linear_problems, symmetric_stable_matrices, time_grids

substeps = st.integers(1, 3)
forms = st.sampled_from(["standard", "correction"])


def setup(problem, m_sub=1):
    ode, grid, u0 = problem
    fine = ExactPropagator(ode, grid)
    coarse = ImplicitEulerPropagator(ode, grid, substeps=m_sub)
    return fine, coarse, u0, propagate_sequentially(fine, u0)


def tolerance(reference):
    return 1e-9 * max(1.0, max(float(np.abs(r).max()) for r in reference))


@given(linear_problems(), substeps, forms)
def test_after_k_iterations_the_first_k_plus_one_states_are_exact(problem, m_sub, form):
    fine, coarse, u0, reference = setup(problem, m_sub)
    n = fine.num_slices
    result = parareal(fine, coarse, u0, iterations=n, form=form, reference=reference)
    atol = tolerance(reference)
    for k, iterate in enumerate(result.iterates):
        for j in range(min(k, n) + 1):
            np.testing.assert_allclose(iterate[j], reference[j], rtol=0, atol=atol, err_msg=f"k={k}, j={j}")


@given(linear_problems(), substeps, forms)
def test_n_iterations_reproduce_the_sequential_fine_solution(problem, m_sub, form):
    fine, coarse, u0, reference = setup(problem, m_sub)
    result = parareal(fine, coarse, u0, iterations=fine.num_slices, form=form)
    assert result.converged
    assert result.iterations == fine.num_slices
    for u, r in zip(result.states, reference):
        np.testing.assert_allclose(u, r, rtol=0, atol=tolerance(reference))


@given(linear_problems(), forms)
def test_the_fine_solution_is_a_fixed_point(problem, form):
    fine, coarse, u0, reference = setup(problem)
    result = parareal(fine, coarse, u0, iterations=3, initial=reference[1:], form=form, reference=reference)
    assert max(result.increments) <= tolerance(reference)
    assert max(result.errors) <= tolerance(reference)


@given(linear_problems(grids=time_grids(min_slices=2)), forms, st.integers(0, 2**32 - 1))
def test_coarse_equal_to_fine_converges_in_one_iteration(problem, form, seed):
    fine, _, u0, reference = setup(problem)
    rng = np.random.default_rng(seed)
    guesses = [r + rng.uniform(1.0, 2.0, u0.shape) for r in reference[1:-1]]
    result = parareal(fine, fine, u0, iterations=1, initial=guesses, form=form, reference=reference)
    assert result.errors[0] >= 1.0  # the guesses are wrong ...
    assert result.errors[1] <= tolerance(reference)  # ... and one iteration repairs every slice


@given(linear_problems(), substeps, st.integers(0, 6))
def test_standard_and_correction_forms_agree_for_linear_coarse(problem, m_sub, iterations):
    fine, coarse, u0, reference = setup(problem, m_sub)
    standard = parareal(fine, coarse, u0, iterations=iterations, form="standard")
    correction = parareal(fine, coarse, u0, iterations=iterations, form="correction")
    for a, b in zip(standard.states, correction.states):
        np.testing.assert_allclose(a, b, rtol=0, atol=tolerance(reference))


class ZeroPropagator:
    def __init__(self, num_slices):
        self.num_slices = num_slices

    def __call__(self, u, j):
        return np.zeros_like(u)


@given(linear_problems(grids=time_grids(min_slices=2)), forms, st.integers(0, 2**32 - 1))
def test_zero_coarse_propagator_is_the_jacobi_iteration(problem, form, seed):
    fine, _, u0, reference = setup(problem)
    n = fine.num_slices
    rng = np.random.default_rng(seed)
    guesses = [rng.standard_normal(u0.shape) for _ in range(n)]
    result = parareal(fine, ZeroPropagator(n), u0, iterations=3, initial=guesses, form=form)
    for previous, current in zip(result.iterates, result.iterates[1:]):
        expected = [u0] + [fine(previous[j], j) for j in range(n)]
        for a, b in zip(current, expected):
            np.testing.assert_allclose(a, b, rtol=0, atol=tolerance(reference))


@given(linear_problems(matrices=symmetric_stable_matrices()), substeps, forms)
def test_serial_and_batched_backends_agree(problem, m_sub, form):
    fine, coarse, u0, reference = setup(problem, m_sub)
    serial = parareal(fine, coarse, u0, iterations=3, form=form, backend="serial")
    batched = parareal(fine, coarse, u0, iterations=3, form=form, backend="batched")
    for a, b in zip(serial.states, batched.states):
        np.testing.assert_allclose(a, b, rtol=0, atol=tolerance(reference))


@settings(max_examples=15)
@given(linear_problems(), forms)
def test_tolerance_stopping_and_evaluation_counts(problem, form):
    fine, coarse, u0, reference = setup(problem)
    n = fine.num_slices
    result = parareal(fine, coarse, u0, tol=1e-6, form=form, reference=reference)
    assert result.converged
    k = result.iterations
    assert 1 <= k <= n
    if k < n:
        assert result.increments[-1] <= 1e-6
        assert all(inc > 1e-6 for inc in result.increments[:-1])
    assert result.fine_evaluations == k * n
    assert result.coarse_evaluations == n + k * (n - 1)
    assert len(result.errors) == k + 1 == len(result.iterates)
