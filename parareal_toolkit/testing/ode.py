"""Hypothesis strategies for ODEs: linear ``u' = A u`` and the nonlinear catalogue (float64 numpy; imports no torch)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..ode.linear import LinearODE
from ..ode.nonlinear import NonlinearProblem
from ..ode.nonlinear_problems import allen_cahn, brusselator, burgers, lorenz, van_der_pol
from ..propagator import TimeGrid
from ._common import seeds

__all__ = [
    "symmetric_stable_matrices",
    "nonnormal_stable_matrices",
    "stable_matrices",
    "time_grids",
    "linear_problems",
    "nonlinear_problems",
]


@st.composite
def symmetric_stable_matrices(draw, *, min_size: int = 1, max_size: int = 6, max_rate: float = 50.0) -> np.ndarray:
    """Symmetric negative definite ``A = Q diag(λ) Q^T``, ``λ`` in ``[-max_rate, -0.01]`` (normal).

    On these, each parareal iteration with an implicit-Euler coarse propagator multiplies the
    error bound by a factor of at most 0.2984.

    Parameters
    ----------
    min_size, max_size : int, keyword-only
        Bounds of the dimension ``m``.
    max_rate : float, keyword-only
        The largest decay rate ``|λ|``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of numpy.ndarray
        ``(m, m)`` float64 symmetric matrices, exactly symmetric.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from parareal_toolkit.testing.ode import symmetric_stable_matrices
    >>> @settings(max_examples=10, deadline=None)
    ... @given(symmetric_stable_matrices(max_rate=10.0))
    ... def test_negative_definite(A):
    ...     assert np.array_equal(A, A.T) and np.linalg.eigvalsh(A).max() < 0
    >>> test_negative_definite()
    """
    m = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(seeds()))
    eigenvalues = -np.array(draw(st.lists(st.floats(0.01, max_rate), min_size=m, max_size=m)))
    Q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    A = Q @ np.diag(eigenvalues) @ Q.T
    return (A + A.T) / 2


@st.composite
def nonnormal_stable_matrices(draw, *, min_size: int = 2, max_size: int = 6) -> np.ndarray:
    """``A = -(M M^T + c I) + (K - K^T)``: a negative definite symmetric part makes it stable, the skew part non-normal.

    Every eigenvalue has real part at most ``-c < 0``; the eigenvectors are not orthogonal,
    so modal bounds carry a factor ``||V||_2 > 1``.

    Parameters
    ----------
    min_size, max_size : int, keyword-only
        Bounds of the dimension ``m``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of numpy.ndarray
        ``(m, m)`` float64 stable matrices.
    """
    m = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(seeds()))
    M = rng.standard_normal((m, m))
    K = 3.0 * rng.standard_normal((m, m))
    c = draw(st.floats(0.1, 5.0))
    return -(M @ M.T + c * np.eye(m)) + (K - K.T)


def stable_matrices(*, max_size: int = 6) -> st.SearchStrategy[np.ndarray]:
    """Either kind of random stable matrix.

    Parameters
    ----------
    max_size : int, keyword-only
        The largest dimension ``m``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of numpy.ndarray
        Draws from :func:`symmetric_stable_matrices` or :func:`nonnormal_stable_matrices`.
    """
    return st.one_of(symmetric_stable_matrices(max_size=max_size), nonnormal_stable_matrices(max_size=max_size))


@st.composite
def time_grids(draw, *, min_slices: int = 1, max_slices: int = 8, uniform: bool | None = None) -> TimeGrid:
    """Uniform or random non-uniform partitions of ``[0, T]`` (``uniform=None``: either).

    Parameters
    ----------
    min_slices, max_slices : int, keyword-only
        Bounds of ``N``.
    uniform : bool or None, keyword-only
        Only uniform grids (True), only non-uniform ones (False) or either (None).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of TimeGrid
        Uniform grids with ``T`` in ``[0.05, 2]``, or steps in ``[0.01, 0.5]``.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from parareal_toolkit.testing.ode import time_grids
    >>> @settings(max_examples=10, deadline=None)
    ... @given(time_grids(min_slices=2, max_slices=5, uniform=False))
    ... def test_increasing(grid):
    ...     assert 2 <= grid.num_slices <= 5 and np.all(grid.steps > 0)
    >>> test_increasing()
    """
    n = draw(st.integers(min_slices, max_slices))
    is_uniform = draw(st.booleans()) if uniform is None else uniform
    if is_uniform:
        return TimeGrid.uniform(draw(st.floats(0.05, 2.0)), n)
    steps = draw(st.lists(st.floats(0.01, 0.5), min_size=n, max_size=n))
    return TimeGrid(np.concatenate([[0.0], np.cumsum(steps)]))


@st.composite
def linear_problems(draw, *, matrices: st.SearchStrategy | None = None, grids: st.SearchStrategy | None = None):
    """``(ode, grid, u0)``: a random stable :class:`~parareal_toolkit.ode.LinearODE`, grid and ``u0``.

    Parameters
    ----------
    matrices : hypothesis.strategies.SearchStrategy, keyword-only, optional
        Draws ``A`` (default :func:`stable_matrices`).
    grids : hypothesis.strategies.SearchStrategy, keyword-only, optional
        Draws the grid (default :func:`time_grids`).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of tuple
        ``(LinearODE, TimeGrid, numpy.ndarray)`` with a standard-normal ``u0``.

    Examples
    --------
    A property over random stable problems: ``N`` iterations reproduce the fine solution.

    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from parareal_toolkit import parareal, propagate_sequentially
    >>> from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator
    >>> from parareal_toolkit.testing.ode import linear_problems
    >>> @settings(max_examples=10, deadline=None)
    ... @given(linear_problems())
    ... def test_exact_after_n_iterations(problem):
    ...     ode, grid, u0 = problem
    ...     fine, coarse = ExactPropagator(ode, grid), ImplicitEulerPropagator(ode, grid)
    ...     reference = propagate_sequentially(fine, u0)
    ...     result = parareal(fine, coarse, u0, reference=reference)
    ...     assert result.errors[-1] <= 1e-12 * max(np.abs(r).max() for r in reference)
    >>> test_exact_after_n_iterations()
    """
    A = draw(matrices if matrices is not None else stable_matrices())
    grid = draw(grids if grids is not None else time_grids())
    rng = np.random.default_rng(draw(seeds()))
    return LinearODE(A), grid, rng.standard_normal(A.shape[0])


@st.composite
def nonlinear_problems(draw, *, max_time: float = 0.3) -> NonlinearProblem:
    """Catalogue problems with random parameters, initial values and short final times.

    Short times (at most ``max_time``) keep every stepper of :mod:`parareal_toolkit.ode`
    stable with a few substeps per slice, and Newton's method converging: Lorenz from a
    random point near the attractor, van der Pol with ``μ <= 5``, a Brusselator of 1 to 5
    points, Burgers and Allen–Cahn of 3 to 10 points with random initial values in
    ``[-1, 1]``.

    Parameters
    ----------
    max_time : float, keyword-only
        The largest final time (default 0.3).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of NonlinearProblem
        The problems.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from parareal_toolkit.testing.ode import nonlinear_problems
    >>> @settings(max_examples=5, database=None)
    ... @given(nonlinear_problems())
    ... def check(problem):
    ...     assert problem.t_final <= 0.3 and problem.u0.shape == (problem.ode.size,)
    >>> check()
    """
    kind = draw(st.sampled_from(["lorenz", "vanderpol", "brusselator", "burgers", "allencahn"]))
    t = draw(st.floats(0.05, max_time))
    if kind == "lorenz":
        start = np.array(draw(st.lists(st.floats(-10, 10), min_size=3, max_size=3))) + np.array([0.0, 0.0, 20.0])
        return lorenz(t_final=t, u0=start)
    if kind == "vanderpol":
        start = draw(st.lists(st.floats(-2, 2), min_size=2, max_size=2))
        return van_der_pol(draw(st.floats(0, 5)), t_final=t, u0=start)
    if kind == "brusselator":
        return brusselator(draw(st.integers(1, 5)), t_final=t)
    m = draw(st.integers(3, 10))
    values = np.array(draw(st.lists(st.floats(-1, 1), min_size=m, max_size=m)))
    if kind == "burgers":
        return burgers(m, viscosity=draw(st.floats(0.05, 0.2)), t_final=t, initial=values)
    return allen_cahn(m, diffusion=draw(st.floats(1e-3, 1e-2)), t_final=t, initial=values)
