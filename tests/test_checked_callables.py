"""User callables are checked at the boundary: adversarial propagators, right-hand sides, Jacobians and norms.

Each bad callable is drawn from a family (wrong shape, scalar, None, list, complex, wrong
dtype, raising its own exception, NaN at iteration k) and placed on a drawn slice, in a drawn
role and form. The promise: a return outside the domain is refused with
``InputError``/``InputTypeError`` naming the callable (``fine``, ``coarse``, ``f``,
``jacobian``, ``norm``) and what came back; an exception of the user's own propagates
unchanged (the same object); a NaN is not refused but reported (``finite=False`` at the
iteration it appeared); and valid callables are unaffected (the checked run equals the
unchecked recurrence bit for bit).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given
from hypothesis import strategies as st

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.errors import InputError, InputTypeError
from parareal_toolkit.nn import ModulePropagator
from parareal_toolkit.ode import (
    ExactPropagator,
    ImplicitEulerStepper,
    NonlinearODE,
    NonlinearProblem,
    RK4Stepper,
    SolveIVPPropagator,
    heat_1d,
)

N, M = 5, 4


class _Linear:
    """``u -> a u`` on every slice: a valid propagator whose parareal run is known exactly."""

    def __init__(self, a: float):
        self.a, self.num_slices = a, N

    def __call__(self, u, j):
        return self.a * u


class _Bad:
    """``good`` except on slice ``slice_`` from its ``after``-th call there on, where it returns ``bad(u)``."""

    def __init__(self, good, bad, slice_: int, after: int = 0):
        self.good, self.bad, self.slice_, self.after = good, bad, slice_, after
        self.num_slices = good.num_slices
        self.calls = 0

    def __call__(self, u, j):
        if j == self.slice_:
            self.calls += 1
            if self.calls > self.after:
                return self.bad(u)
        return self.good(u, j)


class _OwnError(Exception):
    """An exception of the user's own: it must come out unchanged, not wrapped."""


def _raise(error):
    raise error


# name -> (bad return as a function of the state, the exception expected, what the message shows)
BAD_RETURNS = {
    "scalar": (lambda u: 1.0, InputTypeError, r"a Python float"),
    "numpy-scalar": (lambda u: np.float64(u.sum()), InputTypeError, r"numpy scalar"),
    "none": (lambda u: None, InputTypeError, r"returned None"),
    "list": (lambda u: list(u), InputTypeError, r"a list of length 4"),
    "short": (lambda u: u[:-1], InputError, r"shape \(3,\).*expected shape \(4,\)"),
    "column": (lambda u: u[:, None], InputError, r"shape \(4, 1\).*expected shape \(4,\)"),
    "complex": (lambda u: u + 1j, InputError, r"complex128.*expected a real state"),
    "float32": (lambda u: u.astype(np.float32), InputError, r"float32.*expected dtype float64"),
    "object": (lambda u: u.astype(object), InputError, r"dtype object.*real or complex numbers"),
    "tensor": (lambda u: torch.as_tensor(u), InputTypeError, r"torch tensor.*expected a numpy array"),
}


def _u0():
    return np.linspace(1.0, 2.0, M)


@given(
    family=st.sampled_from(sorted(BAD_RETURNS)),
    role=st.sampled_from(["fine", "coarse"]),
    slice_=st.integers(0, N - 1),
    after=st.integers(0, 2),
    form=st.sampled_from(["standard", "correction"]),
)
def test_a_bad_propagator_return_is_refused_naming_the_callable_and_slice(family, role, slice_, after, form):
    bad, error, shows = BAD_RETURNS[family]
    good_fine, good_coarse = _Linear(0.5), _Linear(0.6)
    wrapped = _Bad(good_fine if role == "fine" else good_coarse, bad, slice_, after)
    fine, coarse = (wrapped, good_coarse) if role == "fine" else (good_fine, wrapped)
    try:
        parareal(fine, coarse, _u0(), form=form)
    except (InputError, InputTypeError) as e:
        assert isinstance(e, error)
        assert f"`{role}` returned" in str(e) and f"on slice {slice_}" in str(e)
        assert re.search(shows, str(e)), str(e)
        return
    # not refused: the bad slice was never reached as often as `after` (the coarse
    # propagator on slice 0 runs once, in the initial sweep; the correction form's coarse
    # never runs on slice 0 after it)
    assert wrapped.calls <= after


@given(
    role=st.sampled_from(["fine", "coarse"]),
    slice_=st.integers(0, N - 1),
    form=st.sampled_from(["standard", "correction"]),
)
def test_an_exception_raised_by_a_users_propagator_propagates_unchanged(role, slice_, form):
    error = _OwnError(f"mine, slice {slice_}")
    good_fine, good_coarse = _Linear(0.5), _Linear(0.6)
    wrapped = _Bad(good_fine if role == "fine" else good_coarse, lambda u: _raise(error), slice_)
    fine, coarse = (wrapped, good_coarse) if role == "fine" else (good_fine, wrapped)
    with pytest.raises(_OwnError) as caught:
        parareal(fine, coarse, _u0(), form=form)
    assert caught.value is error


@given(
    slice_=st.integers(0, N - 1), after=st.integers(1, N - 1), value=st.sampled_from([math.nan, math.inf, -math.inf])
)
def test_a_nan_from_the_fine_propagator_at_iteration_k_is_reported_not_refused(slice_, after, value):
    """The fine sweep of iteration k evaluates every slice once: a NaN from the k-th call is first in U^k."""
    fine = _Bad(_Linear(0.5), lambda u: np.full_like(u, value), slice_, after - 1)
    result = parareal(fine, _Linear(0.6), _u0(), tol=1e-300)
    # fine's `after`-th call on the slice is in the fine sweep of iteration `after` < N, and
    # the increment never reaches 1e-300 before N (coarse != fine)
    assert not result.finite and result.nonfinite_iteration == result.iterations == after
    assert result.stop_reason == "non-finite" and not result.converged


@given(a=st.floats(-2, 2), b=st.floats(-2, 2), form=st.sampled_from(["standard", "correction"]))
def test_valid_propagators_are_unaffected(a, b, form):
    """The checked driver computes the recurrence exactly as written (float64, bit for bit)."""
    u0 = _u0()
    result = parareal(_Linear(a), _Linear(b), u0, form=form)
    states = [u0] + [b**j * u0 for j in range(1, N + 1)]  # the coarse sweep, a * (b^j u0) below
    for _ in range(result.iterations):
        new = [states[0], a * states[0]]
        for j in range(1, N):
            if form == "standard":
                new.append(a * states[j] + (b * new[j] - b * states[j]))
            else:
                new.append(a * states[j] + b * (new[j] - states[j]))
        states = new
    for got, want in zip(result.states, states):
        assert np.array_equal(got, want)


# ---- norms -----------------------------------------------------------------------------


@given(value=st.sampled_from([-1.0, -1e-300, -math.inf, None, 1j, "1", [1.0]]))
def test_a_norm_returning_a_negative_or_non_real_value_is_refused_naming_norm(value):
    with pytest.raises((InputError, InputTypeError), match=r"`norm` must return"):
        parareal(_Linear(0.5), _Linear(0.6), _u0(), norm=lambda x: value)


@given(value=st.sampled_from([math.nan, math.inf]))
def test_a_nan_or_infinite_norm_is_the_non_finite_policy_not_a_refusal(value):
    result = parareal(_Linear(0.5), _Linear(0.6), _u0(), norm=lambda x: value)
    assert not result.finite and result.nonfinite_iteration == 0


def test_a_valid_custom_norm_gives_the_same_run_as_the_default():
    u0 = _u0()
    default = parareal(_Linear(0.5), _Linear(0.6), u0, tol=1e-12)
    custom = parareal(_Linear(0.5), _Linear(0.6), u0, tol=1e-12, norm=lambda x: np.abs(x).max())
    tensor_norm = parareal(_Linear(0.5), _Linear(0.6), u0, tol=1e-12, norm=lambda x: torch.as_tensor(x).abs().max())
    assert default.increments == custom.increments == tensor_norm.increments


# ---- u0, reference, guesses, iterations ------------------------------------------------


@pytest.mark.parametrize(
    ("u0", "error", "shows"),
    [
        (1.0, InputTypeError, r"`u0` must be a numpy array or a torch tensor; got a Python float 1.0"),
        (None, InputTypeError, r"`u0` must be a numpy array or a torch tensor; got None"),
        ([1.0, 2.0], InputTypeError, r"`u0` must be.*got a list"),
        (np.array([]), InputError, r"`u0` must hold at least one entry"),
        (np.array(["a"]), InputTypeError, r"`u0` must hold real or complex numbers"),
    ],
)
def test_u0_must_be_a_non_empty_numeric_array_or_tensor(u0, error, shows):
    with pytest.raises(error, match=shows):
        parareal(_Linear(0.5), _Linear(0.6), u0)


def test_states_of_the_other_kind_in_reference_or_initial_are_refused():
    u0 = _u0()
    with pytest.raises(InputTypeError, match=r"`reference\[0\]` must be a numpy array, the kind of `u0`"):
        parareal(_Linear(0.5), _Linear(0.6), u0, reference=[torch.as_tensor(u0)] * (N + 1))
    with pytest.raises(InputTypeError, match=r"`initial\[2\]` must be a torch tensor, the kind of `u0`"):
        guesses = [torch.as_tensor(u0)] * 2 + [u0] + [torch.as_tensor(u0)] * (N - 3)
        parareal(_Linear(0.5), _Linear(0.6), torch.as_tensor(u0), initial=guesses)


@given(extra=st.integers(1, 10**12))
def test_iterations_beyond_n_are_capped_at_n_with_a_warning(extra):
    """From K = N on the iterate no longer changes: the capped run is the run with iterations=N."""
    u0 = _u0()
    with pytest.warns(UserWarning, match=rf"`iterations` capped at N = {N}"):
        capped = parareal(_Linear(0.5), _Linear(0.6), u0, iterations=N + extra)
    exact = parareal(_Linear(0.5), _Linear(0.6), u0, iterations=N)
    assert capped.iterations == N and capped.stop_reason == exact.stop_reason == "exact"
    assert all(np.array_equal(a, b) for a, b in zip(capped.states, exact.states))


@pytest.mark.parametrize("form", ["standard", "correction"])
def test_the_iterate_is_stationary_after_n_iterations_which_justifies_the_cap(form):
    """U^k_j no longer changes once k >= j: run the recurrence by hand past N with an affine coarse."""
    u0 = _u0()
    fine = _Linear(0.5)

    def coarse(u, j):
        return 0.6 * u + 0.25  # affine: G(0) != 0, the correction form's worst case

    states = [u0] + [None] * N
    for j in range(N):
        states[j + 1] = coarse(states[j], j)
    history = [states]
    for _ in range(N + 3):
        old = history[-1]
        new = [u0, fine(u0, 0)]
        for j in range(1, N):
            if form == "standard":
                new.append(fine(old[j], j) + coarse(new[j], j) - coarse(old[j], j))
            else:
                new.append(fine(old[j], j) + coarse(new[j] - old[j], j))
        history.append(new)
    for k in range(1, len(history)):
        for j in range(min(k, N) + 1):
            assert np.array_equal(history[k][j], history[min(k, N)][j])


# ---- propagate_sequentially and TimeGrid -----------------------------------------------


@given(family=st.sampled_from(sorted(BAD_RETURNS)), slice_=st.integers(0, N - 1))
def test_propagate_sequentially_checks_array_returns_naming_propagator(family, slice_):
    bad, error, _ = BAD_RETURNS[family]
    with pytest.raises(error, match=rf"`propagator` returned .* on slice {slice_}"):
        propagate_sequentially(_Bad(_Linear(0.5), bad, slice_), _u0())


def test_propagate_sequentially_still_passes_custom_states_through():
    assert propagate_sequentially(_Linear(2), 1) == [1, 2, 4, 8, 16, 32]


@pytest.mark.parametrize("times", [[-1e308, 1e308], [-1e308, 9e307, 1.5e308]])
def test_a_time_grid_with_an_infinite_step_is_refused(times):
    """Finite boundaries whose difference overflows (more than about 1.8e308 apart)."""
    with pytest.raises(InputError, match=r"`times` must have finite steps"):
        TimeGrid(times)


@given(t_final=st.sampled_from([-1.0, 0.0, math.nan, math.inf, -math.inf]))
def test_a_nonlinear_problem_needs_a_positive_finite_t_final(t_final):
    ode = NonlinearODE(lambda t, u: -u, 1)
    with pytest.raises(InputError, match=r"`t_final` must be positive and finite"):
        NonlinearProblem("decay", ode, np.array([1.0]), t_final)


# ---- f and jacobian of a NonlinearODE --------------------------------------------------

F_BAD = {
    "scalar": (lambda t, u: 1.0, InputError, r"shape \(\)"),
    "none": (lambda t, u: None, InputTypeError, r"got None"),
    "short": (lambda t, u: -u[..., :-1], InputError, r"got shape \(.*3,?\)"),
    "complex": (lambda t, u: -u + 1j, InputError, r"must return real values"),
    "string": (lambda t, u: "x", InputTypeError, r"got 'x'"),
    "ragged": (lambda t, u: [[1.0], [1.0, 2.0]], InputTypeError, r"got list"),
}


STEPPERS = {
    "rk4": lambda ode, grid: RK4Stepper(ode, grid),
    "implicit-euler": lambda ode, grid: ImplicitEulerStepper(ode, grid),
    "ivp-rk45": lambda ode, grid: SolveIVPPropagator(ode, grid, method="RK45"),
    "ivp-bdf": lambda ode, grid: SolveIVPPropagator(ode, grid, method="BDF"),
}


@given(family=st.sampled_from(sorted(F_BAD)), vectorized=st.booleans(), stepper=st.sampled_from(sorted(STEPPERS)))
def test_a_bad_right_hand_side_is_refused_naming_f_in_every_stepper(family, vectorized, stepper):
    bad, error, shows = F_BAD[family]
    ode = NonlinearODE(bad, M, vectorized=vectorized)
    propagator = STEPPERS[stepper](ode, TimeGrid.uniform(1.0, N))
    with pytest.raises(error, match=r"`f` \(the `rhs` of NonlinearODE") as caught:
        propagator(_u0(), 0)
    assert re.search(shows, str(caught.value)), str(caught.value)


JAC_BAD = {
    "wrong-shape": (lambda t, u: -np.eye(M - 1), InputError, r"shape \(4, 4\).*got shape \(3, 3\)"),
    "vector": (lambda t, u: -np.ones(M), InputError, r"got shape \(4,\)"),
    "none": (lambda t, u: None, InputTypeError, r"got None"),
    "nan": (lambda t, u: np.full((M, M), np.nan), InputError, r"must be finite at a finite state; got 16"),
    "complex": (lambda t, u: -np.eye(M) * 1j, InputError, r"must return real values"),
    "sparse-shape": (lambda t, u: -sp.eye(M + 1, format="csr"), InputError, r"sparse matrix of shape \(5, 5\)"),
    "sparse-nan": (
        lambda t, u: sp.diags(np.r_[np.nan, -np.ones(M - 1)]).tocsc(),
        InputError,
        r"must be finite at a finite state; got 1",
    ),
}


@given(family=st.sampled_from(sorted(JAC_BAD)), stepper=st.sampled_from(["implicit-euler", "ivp-bdf"]))
def test_a_bad_jacobian_is_refused_naming_jacobian(family, stepper):
    bad, error, shows = JAC_BAD[family]
    ode = NonlinearODE(lambda t, u: -u, M, jacobian=bad, vectorized=True)
    with pytest.raises(error, match=r"`jacobian` \(the `jacobian` of NonlinearODE") as caught:
        STEPPERS[stepper](ode, TimeGrid.uniform(1.0, N))(_u0(), 0)
    assert re.search(shows, str(caught.value)), str(caught.value)


def test_a_jacobian_at_a_non_finite_state_is_not_refused():
    """Non-finite states are the non-finite policy's: only a finite state demands a finite Jacobian."""
    ode = NonlinearODE(lambda t, u: -u, M, jacobian=lambda t, u: np.full((M, M), np.nan))
    assert np.isnan(ode.jacobian(0.0, np.full(M, np.nan))).all()


def test_an_exception_raised_by_f_or_jacobian_propagates_unchanged():
    error = _OwnError("inside f")
    ode = NonlinearODE(lambda t, u: _raise(error), M)
    with pytest.raises(_OwnError) as caught:
        RK4Stepper(ode, TimeGrid.uniform(1.0, N))(_u0(), 0)
    assert caught.value is error


def test_valid_f_and_jacobian_pass_unchanged():
    J = np.array([[-2.0, 1.0], [1.0, -2.0]])
    dense = NonlinearODE(lambda t, u: u @ J.T, 2, jacobian=lambda t, u: J, vectorized=True)
    sparse = NonlinearODE(lambda t, u: u @ J.T, 2, jacobian=lambda t, u: sp.csr_matrix(J), vectorized=True)
    u = np.array([1.0, 3.0])
    assert np.array_equal(dense.rhs(0.0, u), J @ u) and np.array_equal(dense.jacobian(0.0, u), J)
    assert sp.issparse(sparse.jacobian(0.0, u))
    rows = np.stack([u, 2 * u])
    assert np.array_equal(dense.rhs_rows(np.zeros((2, 1)), rows), rows @ J.T)


# ---- ModulePropagator ------------------------------------------------------------------


def test_a_module_propagator_refuses_numpy_and_the_wrong_dtype_naming_the_expected_dtype():
    layer = torch.nn.Linear(3, 3).double()
    propagator = ModulePropagator([layer, torch.nn.Tanh()])
    with pytest.raises(InputTypeError, match=r"ModulePropagator slice 0 must be a torch tensor; got ndarray"):
        propagator(np.ones(3), 0)
    with pytest.raises(InputTypeError, match=r"must be a torch.float64 tensor on cpu.*got torch.float32 on cpu"):
        propagator(torch.ones(3), 0)
    assert propagator(torch.ones(3, dtype=torch.float64), 0).dtype == torch.float64
    assert propagator(torch.ones(3), 1).dtype == torch.float32  # no parameters: any tensor


def test_the_heat_run_of_the_docstring_is_unchanged():
    problem = heat_1d(20)
    grid = TimeGrid.uniform(problem.t_final, 8)
    from parareal_toolkit.ode import ImplicitEulerPropagator

    fine, coarse = ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)
    result = parareal(fine, coarse, problem.u0, reference=propagate_sequentially(fine, problem.u0))
    assert (result.iterations, result.stop_reason) == (8, "exact") and result.errors[-1] < 1e-14


def test_under_autocast_bfloat16_states_of_a_float32_network_are_accepted():
    """Inside torch.autocast each op picks its dtype: the dtype checks step aside, the rest stays."""
    torch.manual_seed(0)
    fine = ModulePropagator([torch.nn.Linear(3, 3) for _ in range(3)])
    coarse = ModulePropagator([torch.nn.Linear(3, 3) for _ in range(3)])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        result = parareal(fine, coarse, torch.ones(2, 3), monitor=False, iterations=2)
        assert result.final.dtype == torch.bfloat16 and result.iterations == 2
        with pytest.raises(InputTypeError, match=r"`fine` returned a numpy array of shape \(2, 3\).*expected a torch"):
            parareal(_Bad(fine, lambda u: u.detach().float().numpy(), 1), coarse, torch.ones(2, 3), iterations=2)
    with pytest.raises(
        InputError, match=r"`fine` returned .*torch.float64.*expected dtype torch.float32, the dtype of `u0`"
    ):
        parareal(_Bad(fine, lambda u: u.double(), 1), coarse, torch.ones(2, 3))
