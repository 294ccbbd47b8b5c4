"""NaN and infinity are results the driver reports, never hides: the iteration, the flags, the errors."""

import math
import warnings

import numpy as np
import pytest
import torch

from parareal_toolkit import IterationInfo, TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, advection_periodic, heat_1d


class HalfSquare:
    """``F(u) = u^2 - u^2 / 2``: finite while ``u^2`` is, NaN (``inf - inf``) once it overflows.

    From ``u0 = 1e40`` the sequential solution is ``5e79, 1.25e159, NaN``: parareal's
    iterate is exact on one more slice per iteration, so the NaN appears at iteration 3.
    """

    num_slices = 5

    def __call__(self, u, j):
        square = u * u
        return square - square / 2


class Identity:
    num_slices = 5

    def __call__(self, u, j):
        return u + 0


@pytest.fixture(autouse=True)
def quiet_overflow():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_a_nan_produced_at_iteration_3_is_reported_at_iteration_3(kind):
    u0 = np.array([1e40]) if kind == "numpy" else torch.tensor([1e40], dtype=torch.float64)
    seen: list[IterationInfo] = []
    result = parareal(HalfSquare(), Identity(), u0, callback=seen.append)
    assert result.nonfinite_iteration == 3 and not result.finite and not result.converged
    assert result.iterations == 3  # stopped there: nothing is left to gain
    assert result.fine_evaluations == 3 * 5
    assert [info.finite for info in seen] == [True, True, True, False]
    assert all(math.isfinite(v) for v in result.increments[:2]) and math.isnan(result.increments[2])
    assert bool(torch.isnan(torch.as_tensor(result.states[3])).all())  # the non-finite iterate is returned


def test_errors_are_nan_not_skipped_and_unknown_entries_are_masked():
    u0 = np.array([1e40])
    reference = propagate_sequentially(HalfSquare(), u0)  # 1e40, 5e79, 1.25e159, NaN, NaN, NaN
    result = parareal(HalfSquare(), Identity(), u0, reference=reference)
    assert all(math.isnan(e) for e in result.errors)  # np.nanmax would have printed finite errors
    assert not np.ma.is_masked(result.slice_errors)
    assert result.slice_errors[1, 1] == 0.0 and math.isnan(result.slice_errors[1, 3])

    # given guesses without the end state: U^0_N is unknown (masked), not non-finite
    problem = heat_1d(8)
    grid = TimeGrid.uniform(0.1, 4)
    fine, coarse = ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)
    exact = propagate_sequentially(fine, problem.u0)
    result = parareal(fine, coarse, problem.u0, iterations=1, initial=exact[1:-1], reference=exact)
    assert result.slice_errors.mask[0].tolist() == [False, False, False, False, True]
    assert not result.slice_errors.mask[1].any()
    assert result.errors[0] == pytest.approx(0.0, abs=1e-15) and result.finite


def test_advection_over_1e300_is_not_zero_error_and_converged():
    """The issue's case: expm fails (NaN) for slices of length 1e299; the iterate is NaN at k = 1."""
    problem = advection_periodic(16, t_final=1e300)
    grid = TimeGrid.uniform(problem.t_final, 4)
    fine, coarse = ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)
    reference = propagate_sequentially(fine, problem.u0)
    result = parareal(fine, coarse, problem.u0, reference=reference)
    assert (result.finite, result.nonfinite_iteration, result.converged, result.iterations) == (False, 1, False, 1)
    assert math.isnan(result.errors[0]) and math.isnan(result.errors[1])  # against a NaN reference
    assert math.isnan(result.increments[0])


def test_k_at_least_n_converges_only_when_finite():
    # monitor=False: the end state's norm is the one computed, and it says so
    result = parareal(HalfSquare(), Identity(), np.array([1e40]), monitor=False)
    assert result.iterations == 5 and not result.converged and not result.finite
    assert result.nonfinite_iteration == 5 and result.increments == []
    ok = parareal(HalfSquare(), Identity(), np.array([0.5]), monitor=False)
    assert ok.converged and ok.finite and ok.nonfinite_iteration is None


@pytest.mark.parametrize("monitor", [True, False])
def test_a_nan_torch_u0_is_reported(monitor):
    u0 = torch.tensor([float("nan"), 1.0], dtype=torch.float64)
    result = parareal(Identity(), Identity(), u0, monitor=monitor)
    assert not result.finite and not result.converged
    assert result.nonfinite_iteration == (0 if monitor else 5)
    assert result.iterations == (0 if monitor else 5)  # monitored: stopped before any fine sweep


def test_an_infinite_guess_is_found_in_the_initial_iterate():
    guesses = [np.ones(1), np.array([np.inf]), np.ones(1), np.ones(1)]
    result = parareal(Identity(), Identity(), np.ones(1), initial=guesses)
    assert (result.nonfinite_iteration, result.iterations, result.fine_evaluations) == (0, 0, 0)


def test_an_unguessed_end_state_is_checked_too():
    class LastSliceBlowsUp(Identity):
        def __call__(self, u, j):
            return u * np.inf if j == 4 else u + 0

    # guesses for U_1..U_4 only: U^1_5 = F_4(U^0_4) is compared with no earlier state
    result = parareal(LastSliceBlowsUp(), Identity(), np.ones(1), initial=[np.ones(1)] * 4, iterations=3)
    assert result.nonfinite_iteration == 1 and result.iterations == 1
    assert result.increments[0] == 0.0  # the known states did not move


def test_an_overflowing_difference_of_finite_states_is_not_a_non_finite_state():
    class Negate:
        num_slices = 1

        def __call__(self, u, j):
            return -u

    class Keep:
        num_slices = 1

        def __call__(self, u, j):
            return u + 0

    result = parareal(Negate(), Keep(), np.array([1.5e308]))
    assert result.increments == [math.inf]  # |-1.5e308 - 1.5e308| overflows ...
    assert result.finite and result.converged  # ... but every state is finite, and K = N = 1 is exact


def test_complex_states_run_end_to_end_through_the_driver():
    """The driver only adds, subtracts and takes max |.|: complex Dahlquist works (the ODE side refuses complex)."""

    class Multiply:
        num_slices = 4

        def __init__(self, factor):
            self.factor = factor

        def __call__(self, u, j):
            return self.factor * u

    lam, step = -0.5 + 2.0j, 0.25
    result = parareal(Multiply(np.exp(lam * step)), Multiply(1 / (1 - lam * step)), np.array([1.0 + 0.0j]))
    assert result.finite and result.converged
    assert result.final[0] == pytest.approx(np.exp(lam), rel=1e-13)
    assert result.increments[0] > 0.01  # the coarse guess was wrong in both parts
