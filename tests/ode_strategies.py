"""Hypothesis strategies for random stable linear ODEs and slice partitions (float64)."""

import numpy as np
from hypothesis import strategies as st

from parareal_toolkit import TimeGrid
from parareal_toolkit.ode import LinearODE


@st.composite
def symmetric_stable_matrices(draw, min_size=1, max_size=6, max_rate=50.0):
    """Symmetric negative definite ``A = Q diag(λ) Q^T`` with ``λ`` in ``[-max_rate, -0.01]``."""
    m = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    eigenvalues = -np.array(draw(st.lists(st.floats(0.01, max_rate), min_size=m, max_size=m)))
    Q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    A = Q @ np.diag(eigenvalues) @ Q.T
    return (A + A.T) / 2


@st.composite
def nonnormal_stable_matrices(draw, min_size=2, max_size=6):
    """``A = -(M M^T + c I) + (K - K^T)``: negative definite symmetric part, so stable; non-normal."""
    m = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    M = rng.standard_normal((m, m))
    K = 3.0 * rng.standard_normal((m, m))
    c = draw(st.floats(0.1, 5.0))
    return -(M @ M.T + c * np.eye(m)) + (K - K.T)


def stable_matrices(max_size=6):
    return st.one_of(symmetric_stable_matrices(max_size=max_size), nonnormal_stable_matrices(max_size=max_size))


@st.composite
def time_grids(draw, min_slices=1, max_slices=8, uniform=None):
    """Uniform or random non-uniform partitions of ``[0, T]``."""
    n = draw(st.integers(min_slices, max_slices))
    is_uniform = draw(st.booleans()) if uniform is None else uniform
    if is_uniform:
        return TimeGrid.uniform(draw(st.floats(0.05, 2.0)), n)
    steps = draw(st.lists(st.floats(0.01, 0.5), min_size=n, max_size=n))
    return TimeGrid(np.concatenate([[0.0], np.cumsum(steps)]))


@st.composite
def linear_problems(draw, matrices=None, grids=None):
    """``(ode, grid, u0)`` with a random stable ``A``, a random grid and a random ``u0``."""
    A = draw(matrices if matrices is not None else stable_matrices())
    grid = draw(grids if grids is not None else time_grids())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return LinearODE(A), grid, rng.standard_normal(A.shape[0])
