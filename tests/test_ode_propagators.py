"""The linear propagators against their definitions, dense against sparse, batched against the loop."""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from parareal_toolkit import TimeGrid
from parareal_toolkit.ode import (
    ExactPropagator,
    ImplicitEulerPropagator,
    LinearODE,
    advection_periodic,
    dahlquist,
    damped_oscillator,
    heat_1d,
    heat_2d,
    make_problem,
)
from parareal_toolkit.testing.ode import linear_problems, time_grids


@given(linear_problems())
def test_exact_propagator_applies_expm_of_each_slice(problem):
    ode, grid, u0 = problem
    prop = ExactPropagator(ode, grid)
    for j, h in enumerate(grid.steps):
        np.testing.assert_allclose(prop(u0, j), scipy.linalg.expm(h * ode.A) @ u0, rtol=1e-12, atol=1e-12)


@given(linear_problems(), st.integers(1, 4))
def test_implicit_euler_solves_m_backward_steps(problem, m_sub):
    ode, grid, u0 = problem
    prop = ImplicitEulerPropagator(ode, grid, substeps=m_sub)
    identity = np.eye(ode.size)
    for j, h in enumerate(grid.steps):
        expected = u0
        for _ in range(m_sub):
            expected = np.linalg.solve(identity - (h / m_sub) * ode.A, expected)
        np.testing.assert_allclose(prop(u0, j), expected, rtol=1e-10, atol=1e-12)


@given(linear_problems(), st.integers(0, 2**32 - 1))
def test_batched_evaluation_equals_the_loop(problem, seed):
    ode, grid, _u0 = problem
    rng = np.random.default_rng(seed)
    slices = list(rng.integers(0, grid.num_slices, size=5))
    states = [rng.standard_normal(ode.size) for _ in slices]
    for prop in (ExactPropagator(ode, grid), ImplicitEulerPropagator(ode, grid, substeps=2)):
        batched = prop.propagate_batch(states, slices)
        for u, j, b in zip(states, slices, batched):
            np.testing.assert_allclose(b, prop(u, j), rtol=1e-12, atol=1e-12)


@given(time_grids(max_slices=6), st.integers(0, 2**32 - 1))
def test_sparse_matches_dense(grid, seed):
    problem_dense = heat_1d(12, t_final=1.0)
    A = problem_dense.ode.A * 0.01  # moderate stiffness keeps expm_multiply cheap
    dense, sparse = LinearODE(A), LinearODE(sp.csr_matrix(A))
    u = np.random.default_rng(seed).standard_normal(12)
    for cls in (ExactPropagator, ImplicitEulerPropagator):
        pd, ps = cls(dense, grid), cls(sparse, grid)
        for j in range(grid.num_slices):
            np.testing.assert_allclose(ps(u, j), pd(u, j), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(
            np.array(ps.propagate_batch([u] * grid.num_slices, range(grid.num_slices))),
            np.array(pd.propagate_batch([u] * grid.num_slices, range(grid.num_slices))),
            rtol=1e-10,
            atol=1e-12,
        )


def test_one_factorisation_per_distinct_slice_length():
    ode = heat_1d(8).ode
    uniform = TimeGrid.uniform(1.0, 7)  # linspace steps differ in the last bits
    prop = ImplicitEulerPropagator(ode, uniform)
    for j in range(7):
        prop(np.ones(8), j)
    assert uniform.is_uniform and len(prop._factors) == 1
    graded = TimeGrid([0.0, 0.1, 0.2, 0.5, 0.8, 1.0])
    prop = ExactPropagator(ode, graded)
    prop.propagate_batch([np.ones(8)] * 5, range(5))
    assert len(prop._factors) == len(graded.distinct_steps) == 3


def test_dahlquist_is_exact_and_implicit_euler_matches_its_amplification():
    problem = dahlquist(-3.0, t_final=2.0)
    grid = TimeGrid.uniform(2.0, 4)
    exact = ExactPropagator(problem.ode, grid)
    coarse = ImplicitEulerPropagator(problem.ode, grid, substeps=3)
    assert exact(problem.u0, 0)[0] == pytest.approx(np.exp(-1.5), rel=1e-14)
    assert coarse(problem.u0, 0)[0] == pytest.approx((1 + 1.5 / 3) ** -3, rel=1e-14)


def test_catalogue_problems_have_the_advertised_structure():
    heat = heat_1d(20).ode.A
    assert np.allclose(heat, heat.T) and np.linalg.eigvalsh(heat).max() < 0
    heat2 = heat_2d(5).ode.A
    assert heat2.shape == (25, 25) and np.linalg.eigvalsh(heat2).max() < 0
    adv = advection_periodic(16).ode.A
    assert np.allclose(adv, -adv.T)  # skew: purely imaginary spectrum
    assert np.abs(np.linalg.eigvals(adv).real).max() < 1e-10
    osc = damped_oscillator().ode
    assert not osc.is_normal() and np.linalg.eigvals(osc.A).real.max() < 0
    assert heat_1d(20, sparse=True).ode.is_sparse
    assert make_problem("heat2d", size=4).ode.size == 16


def test_exact_propagator_conserves_advection_energy():
    problem = advection_periodic(32, t_final=1.0)
    grid = TimeGrid.uniform(1.0, 4)
    u = problem.u0
    for j in range(4):
        u = ExactPropagator(problem.ode, grid)(u, j)
    assert np.linalg.norm(u) == pytest.approx(np.linalg.norm(problem.u0), rel=1e-12)
