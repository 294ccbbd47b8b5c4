"""The teaching figures draw what they claim to draw."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import (
    ExactPropagator,
    ImplicitEulerPropagator,
    error_bounds,
    heat_1d,
    plot_convergence_factor,
)
from parareal_toolkit.plotting import plot_convergence, plot_error_over_time


@pytest.fixture(scope="module")
def heat_run():
    problem = heat_1d(20)
    grid = TimeGrid.uniform(0.1, 6)
    fine = ExactPropagator(problem.ode, grid)
    reference = propagate_sequentially(fine, problem.u0)
    result = parareal(fine, ImplicitEulerPropagator(problem.ode, grid), problem.u0, reference=reference)
    bounds = error_bounds(problem.ode, grid, [u - r for u, r in zip(result.iterates[0], reference)], result.iterations)
    return problem, grid, result, bounds


def test_convergence_plot_has_the_errors_and_the_bound(heat_run):
    _, _, result, bounds = heat_run
    ax = plot_convergence(result, bounds={"bound": bounds})
    lines = [line for line in ax.get_lines() if line.get_gid() == "parareal-log-errors"]
    assert len(lines) == 2 and ax.get_yscale() == "log"
    np.testing.assert_array_equal(lines[0].get_ydata(), result.errors)
    # K = N: the last error and the superlinear bound are exactly 0, one legend entry marks them
    assert result.errors[-1] == 0 and bounds[-1] == 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["parareal (standard form)", "exact (0)", "bound"]
    drawn = np.concatenate([result.errors, bounds])
    positive = drawn[drawn > 0].min()
    assert positive / 100 <= ax.get_ylim()[0] <= positive
    plt.close(ax.figure)


def test_error_over_time_has_one_line_per_iterate(heat_run):
    _, grid, result, _ = heat_run
    ax = plot_error_over_time(result, grid.times)
    lines = [line for line in ax.get_lines() if line.get_gid() == "parareal-log-errors"]
    assert len(lines) == result.iterations + 1
    np.testing.assert_allclose(lines[0].get_xdata(), grid.times)
    # U^k_0 = u0 exactly: every iterate's error at T_0 is 0, marked on the floor, not at 2e-308
    zeros = [line for line in ax.get_lines() if line.get_gid() == "parareal-exact-zeros"]
    assert sum(len(line.get_xdata()) for line in zeros) == int((result.slice_errors == 0).sum()) > 0
    positive = result.slice_errors[result.slice_errors > 0].min()
    assert ax.get_ylim()[0] >= positive / 100
    assert all(np.all(line.get_ydata() == ax.get_ylim()[0]) for line in zeros)
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="`times` must have N \\+ 1 = 7"):
        plot_error_over_time(result, grid.times[:-1])


def test_convergence_factor_plane(tmp_path):
    ax = plot_convergence_factor(resolution=61)
    assert ax.get_xlabel() == "Re z" and len(ax.collections) >= 2
    ax.figure.savefig(tmp_path / "plane.png")
    assert (tmp_path / "plane.png").stat().st_size > 5_000
    plt.close(ax.figure)


def test_plot_without_reference_is_a_clear_error(heat_run):
    problem, grid, _, _ = heat_run
    fine = ExactPropagator(problem.ode, grid)
    result = parareal(fine, fine, problem.u0, iterations=1)
    with pytest.raises(ValueError, match="reference"):
        plot_convergence(result)
