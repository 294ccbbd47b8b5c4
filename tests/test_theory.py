"""Gander-Vandewalle bounds and the cost model, checked against measured parareal errors."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import (
    ExactPropagator,
    ImplicitEulerPropagator,
    LinearODE,
    advection_periodic,
    convergence_factor,
    error_bounds,
    heat_1d,
    heat_contraction_factor,
    implicit_euler_amplification,
    speedup,
    speedup_from_result,
)
from parareal_toolkit.testing.ode import linear_problems, symmetric_stable_matrices, time_grids


def run(ode, grid, u0, m_sub, iterations):
    fine = ExactPropagator(ode, grid)
    coarse = ImplicitEulerPropagator(ode, grid, substeps=m_sub)
    reference = propagate_sequentially(fine, u0)
    result = parareal(fine, coarse, u0, iterations=iterations, reference=reference)
    initial_error = [u - r for u, r in zip(result.iterates[0], reference)]
    return result, initial_error, reference


@given(
    linear_problems(matrices=symmetric_stable_matrices()),
    st.integers(1, 3),
    st.sampled_from(["linear", "superlinear", "best"]),
)
def test_measured_errors_never_exceed_the_bounds_for_symmetric_a(problem, m_sub, kind):
    ode, grid, u0 = problem
    result, initial_error, reference = run(ode, grid, u0, m_sub, grid.num_slices)
    bounds = error_bounds(ode, grid, initial_error, result.iterations, substeps=m_sub, kind=kind)
    roundoff = 1e-12 * max(1.0, max(np.abs(r).max() for r in reference))
    assert np.all(np.asarray(result.errors) <= bounds * (1 + 1e-9) + roundoff)


@given(time_grids(min_slices=2, max_slices=10), st.integers(8, 40))
def test_superlinear_bound_holds_where_contraction_is_lost(grid, m):
    problem = advection_periodic(m, t_final=float(grid.times[-1]))
    result, initial_error, _reference = run(problem.ode, grid, problem.u0, 1, grid.num_slices)
    bounds = error_bounds(problem.ode, grid, initial_error, result.iterations, kind="superlinear")
    assert np.all(np.asarray(result.errors) <= bounds * (1 + 1e-9) + 1e-12)


def test_heat_contraction_factor_is_mesh_independent_and_attained():
    factor = heat_contraction_factor(1)
    assert factor == pytest.approx(0.2984256, abs=1e-6)
    x = np.linspace(1e-4, 50.0, 200_001)
    assert np.max(convergence_factor(-x)) == pytest.approx(factor, rel=1e-6)
    # every mode of every heat grid contracts at least that fast
    for m in (10, 100, 400):
        eigenvalues = np.linalg.eigvalsh(heat_1d(m).ode.A)
        for dt in (1e-4, 1e-2, 0.1):
            assert np.max(convergence_factor(eigenvalues * dt)) <= factor + 1e-12
    assert heat_contraction_factor(4) < heat_contraction_factor(2) < factor  # more substeps, better coarse


def test_imaginary_axis_loses_contraction():
    y = np.linspace(0.01, 20, 500)
    assert np.all(convergence_factor(1j * y) > 1.0)
    assert np.all(np.abs(implicit_euler_amplification(1j * y)) < 1.0)  # damped, yet no contraction
    assert convergence_factor(0.5) == math.inf  # |R| >= 1: the linear bound does not apply


def test_measured_heat_contraction_follows_the_mode_factor():
    problem = heat_1d(40, t_final=0.1)
    grid = TimeGrid.uniform(0.1, 16)
    result, _, _ = run(problem.ode, grid, problem.u0, 1, 6)
    ratios = np.array(result.errors[1:]) / np.array(result.errors[:-1])
    assert np.all(ratios < 0.3)


def test_speedup_model():
    assert speedup(0.01, 10, 2) == pytest.approx(1 / (3 * 0.01 + 0.2))
    assert speedup(0.01, 10, 2, pipelined=True) == pytest.approx(1 / (1.2 * 0.01 + 0.2))
    assert speedup(0.0, 8, 1) == pytest.approx(8.0)  # free coarse, one iteration: N
    assert speedup(1.5, 64, 3) < 1  # an exact (expm) fine propagator is cheaper than the coarse
    for alpha in (0.001, 0.05, 0.3):
        assert speedup(alpha, 16, 4, pipelined=True) >= speedup(alpha, 16, 4)
    result = parareal(
        ImplicitEulerPropagator(heat_1d(5).ode, TimeGrid.uniform(0.1, 4)),
        ImplicitEulerPropagator(heat_1d(5).ode, TimeGrid.uniform(0.1, 4)),
        heat_1d(5).u0,
        iterations=2,
    )
    assert speedup_from_result(result, fine_cost=10.0, coarse_cost=1.0) == pytest.approx(speedup(0.1, 4, 2))
    with pytest.raises(ValueError, match="alpha"):
        speedup(-1.0, 4, 2)
    with pytest.raises(ValueError, match="num_slices"):
        speedup(0.1, 0, 2)


def test_error_bounds_validate_input():
    ode = LinearODE(-np.eye(2))
    grid = TimeGrid.uniform(1.0, 2)
    with pytest.raises(ValueError, match="kind"):
        error_bounds(ode, grid, [np.zeros(2)] * 3, 1, kind="quadratic")
    with pytest.raises(ValueError, match="initial_error"):
        error_bounds(ode, grid, [np.zeros(2)] * 2, 1)
