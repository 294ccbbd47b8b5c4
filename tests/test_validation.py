"""Bad input gets a ValueError/TypeError at the public entry point, naming the argument and echoing the value."""

import numpy as np
import pytest

from parareal_toolkit import TimeGrid, parareal
from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, LinearODE, heat_1d


@pytest.fixture
def heat():
    problem = heat_1d(6)
    grid = TimeGrid.uniform(0.1, 4)
    return problem, ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)


def test_non_square_matrix():
    with pytest.raises(ValueError, match=r"`A` must be a square matrix; got shape \(2, 3\)"):
        LinearODE(np.ones((2, 3)))


def test_non_finite_matrix():
    with pytest.raises(ValueError, match="`A` must be finite"):
        LinearODE(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="`A` must be finite"):
        LinearODE(np.array([[np.inf]]))


def test_non_numeric_matrix():
    with pytest.raises(TypeError, match="`A` must be a real matrix"):
        LinearODE([["a", "b"], ["c", "d"]])


def test_u0_of_the_wrong_shape(heat):
    problem, fine, coarse = heat
    with pytest.raises(ValueError, match=r"`u0` must have shape \(6,\); got \(5,\)"):
        parareal(fine, coarse, np.ones(5))
    with pytest.raises(ValueError, match=r"`initial\[1\]` must have shape \(6,\)"):
        parareal(fine, coarse, problem.u0, initial=[np.ones(6), np.ones(2), np.ones(6)])
    with pytest.raises(ValueError, match="`u0` must be finite"):
        parareal(fine, coarse, np.full(6, np.nan))


def test_non_increasing_grid():
    with pytest.raises(ValueError, match=r"`times` must be strictly increasing; got \[0.0, 0.5, 0.5, 1.0\]"):
        TimeGrid([0.0, 0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        TimeGrid([0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="`times` must be finite"):
        TimeGrid([0.0, np.inf])


def test_zero_slices():
    with pytest.raises(ValueError, match="`num_slices` must be at least 1; got 0"):
        TimeGrid.uniform(1.0, 0)
    with pytest.raises(ValueError, match="at least 2 boundaries"):
        TimeGrid([0.0])

    class Empty:
        num_slices = 0

        def __call__(self, u, j):
            return u

    with pytest.raises(ValueError, match="`fine.num_slices` must be at least 1; got 0"):
        parareal(Empty(), Empty(), np.ones(1))


def test_negative_iterations(heat):
    problem, fine, coarse = heat
    with pytest.raises(ValueError, match="`iterations` must be non-negative; got -1"):
        parareal(fine, coarse, problem.u0, iterations=-1)
    with pytest.raises(TypeError, match="`iterations` must be an integer; got 2.5"):
        parareal(fine, coarse, problem.u0, iterations=2.5)


def test_non_positive_tolerance(heat):
    problem, fine, coarse = heat
    for bad in (0.0, -1e-8, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="`tol` must be positive and finite"):
            parareal(fine, coarse, problem.u0, tol=bad)
    with pytest.raises(ValueError, match="monitor"):
        parareal(fine, coarse, problem.u0, tol=1e-3, monitor=False)


def test_mismatched_slice_counts(heat):
    problem, fine, _ = heat
    other = ImplicitEulerPropagator(problem.ode, TimeGrid.uniform(0.1, 5))
    with pytest.raises(ValueError, match="fine.num_slices=4 and coarse.num_slices=5"):
        parareal(fine, other, problem.u0)


def test_other_bad_arguments(heat):
    problem, fine, coarse = heat
    with pytest.raises(ValueError, match="`form` must be one of"):
        parareal(fine, coarse, problem.u0, form="literal")
    with pytest.raises(ValueError, match="`backend` must be one of"):
        parareal(fine, coarse, problem.u0, backend="gpu-magic")
    with pytest.raises(TypeError, match="`fine` must be a propagator"):
        parareal(42, coarse, problem.u0)
    with pytest.raises(TypeError, match="`coarse` must have an integer attribute `num_slices`"):
        parareal(fine, lambda u, j: u, problem.u0)
    with pytest.raises(ValueError, match="`initial` must hold N - 1 = 3"):
        parareal(fine, coarse, problem.u0, initial=[problem.u0])
    with pytest.raises(
        ValueError, match="`iterations` must be at least 1 when `initial` holds no guess of the end state"
    ):
        parareal(fine, coarse, problem.u0, initial=[problem.u0] * 3, iterations=0)
    assert parareal(fine, coarse, problem.u0, initial=[problem.u0] * 4, iterations=0).final is not None
    with pytest.raises(ValueError, match="`reference` must hold N \\+ 1 = 5"):
        parareal(fine, coarse, problem.u0, reference=[problem.u0])
    with pytest.raises(ValueError, match="`substeps` must be at least 1; got 0"):
        ImplicitEulerPropagator(problem.ode, TimeGrid.uniform(0.1, 4), substeps=0)
    with pytest.raises(IndexError, match="0 <= j < 4; got 4"):
        fine(problem.u0, 4)
    with pytest.raises(TypeError, match="`ode` must be a LinearODE"):
        ExactPropagator(np.eye(2), TimeGrid.uniform(1.0, 2))
