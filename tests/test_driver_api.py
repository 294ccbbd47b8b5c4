"""The driver's contract beyond the mathematics: callbacks, results, torch states, autograd."""

import numpy as np
import pytest
import torch

from parareal_toolkit import IterationInfo, TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, heat_1d


@pytest.fixture
def heat():
    problem = heat_1d(10)
    grid = TimeGrid.uniform(0.1, 6)
    fine = ExactPropagator(problem.ode, grid)
    return problem, fine, ImplicitEulerPropagator(problem.ode, grid), propagate_sequentially(fine, problem.u0)


def test_callback_sees_every_iterate_and_can_stop(heat):
    problem, fine, coarse, reference = heat
    seen: list[IterationInfo] = []
    parareal(fine, coarse, problem.u0, iterations=4, reference=reference, callback=seen.append)
    assert [info.k for info in seen] == [0, 1, 2, 3, 4]
    assert seen[0].increment is None and seen[0].fine_evaluations == 0 and seen[0].coarse_evaluations == 6
    assert [info.fine_evaluations for info in seen] == [0, 6, 12, 18, 24]
    assert seen[2].error == pytest.approx(max(np.abs(u - r).max() for u, r in zip(seen[2].states, reference)))

    def stop_after_two(info):
        if info.k == 2:
            raise StopIteration

    result = parareal(fine, coarse, problem.u0, iterations=5, callback=stop_after_two)
    assert result.iterations == 2 and not result.converged


def test_non_convergence_is_a_result_not_an_exception(heat):
    problem, fine, coarse, _ = heat
    result = parareal(fine, coarse, problem.u0, tol=1e-300, iterations=2)
    assert not result.converged and result.iterations == 2 and len(result.increments) == 2
    assert result.timings["total"] >= result.timings["fine"] + result.timings["coarse"]


def test_default_runs_n_iterations_and_is_exact(heat):
    problem, fine, coarse, reference = heat
    result = parareal(fine, coarse, problem.u0)
    assert result.iterations == 6 and result.converged
    np.testing.assert_allclose(result.final, reference[-1], atol=1e-12)


def test_state_types_pass_through_unchanged_and_gradients_flow():
    torch.manual_seed(0)
    A = -torch.eye(3, dtype=torch.float64) + 0.1 * torch.randn(3, 3, dtype=torch.float64)
    dt = 0.1
    E = torch.linalg.matrix_exp(dt * A)
    G = torch.linalg.inv(torch.eye(3, dtype=torch.float64) - dt * A)

    class MatrixPropagator:
        num_slices = 5

        def __init__(self, M):
            self.M = M

        def __call__(self, u, j):
            return self.M @ u

    u0 = torch.randn(3, dtype=torch.float64, requires_grad=True)
    result = parareal(MatrixPropagator(E), MatrixPropagator(G), u0, iterations=5, form="correction")
    assert isinstance(result.final, torch.Tensor)
    exact = torch.linalg.matrix_power(E, 5) @ u0
    torch.testing.assert_close(result.final, exact, rtol=0, atol=1e-12)
    (grad,) = torch.autograd.grad(result.final.sum(), u0)
    torch.testing.assert_close(
        grad, torch.linalg.matrix_power(E, 5).T @ torch.ones(3, dtype=torch.float64), atol=1e-12, rtol=0
    )


def test_initial_guesses_without_the_end_state(heat):
    problem, fine, coarse, reference = heat
    result = parareal(fine, coarse, problem.u0, iterations=1, initial=reference[1:-1], form="correction")
    assert result.iterates[0][-1] is None
    np.testing.assert_allclose(result.final, reference[-1], atol=1e-12)
    assert result.coarse_evaluations == 5  # slice 0 is never coarse-propagated
