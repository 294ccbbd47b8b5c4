"""Certificates that cannot lie: the Gander–Hairer bound and the a-posteriori estimate's ``L`` (issue 21).

Gander–Hairer: :func:`gander_hairer_bound` is the worst case (equality) of the theorem's error
recurrence ``E^{k+1}_n <= α E^k_{n-1} + β E^{k+1}_{n-1}``, so it must equal that recurrence
run in exact arithmetic, dominate it in float64 for β on both sides of 1, and dominate the
observed error of parareal on linear problems whose constants are known exactly.

The estimate: :func:`fine_lipschitz` differentiates the fine propagator actually used, so on
affine fine maps it is the exact slice amplification, and a run that stops by
``criterion="estimate"`` has an error against the fine solution of at most ``tol`` on stiff,
time-dependent, non-normal, oscillatory and long-horizon families, with every stepper.

Rounding allowances are ``eps`` times the problem's scale times a count of operations, never
tuned to one machine's result.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.errors import InputError
from parareal_toolkit.ode import (
    ExplicitEulerStepper,
    ImplicitEulerStepper,
    NonlinearODE,
    RK4Stepper,
    TrapezoidStepper,
    allen_cahn,
    fine_lipschitz,
    fine_lipschitz_estimate,
    gander_hairer_bound,
    lipschitz_constants,
)
from parareal_toolkit.ode.nonlinear_theory import FINE_LIPSCHITZ_SAFETY

EPS = float(np.finfo(float).eps)
_settings = settings(max_examples=25, deadline=None)


def recurrence_worst_case(alpha, beta, n_slices, iterations, e0):
    """``max_n E^k_n`` of the recurrence with equality, by the recurrence itself (exact for Fractions)."""
    zero = alpha * 0
    row = [zero] + [e0] * n_slices  # E^0_n, n = 0..N (E^0_0 = 0: u0 is exact)
    out = [max(row)]
    for _ in range(iterations):
        new = [zero]
        for n in range(1, n_slices + 1):
            new.append(alpha * row[n - 1] + beta * new[n - 1])
        row = new
        out.append(max(row))
    return out


# ---------------------------------------------------------------- Gander–Hairer


@_settings
@given(
    st.fractions(min_value=0, max_value=3, max_denominator=8),
    st.fractions(min_value=0, max_value=3, max_denominator=8),
    st.integers(1, 12),
    st.integers(0, 14),
    st.fractions(min_value=0, max_value=5, max_denominator=8),
)
def test_the_bound_is_the_recurrence_worst_case_computed_exactly(alpha, beta, n, k, e0):
    alpha, beta, e0 = float(alpha), float(beta), float(e0)  # the recurrence on the very floats passed
    exact = recurrence_worst_case(Fraction(alpha), Fraction(beta), n, k, Fraction(e0))
    bound = gander_hairer_bound(alpha, beta, n, k, e0)
    for value, truth in zip(bound, exact):
        # not below the exact value, and above it only by the log-space rounding allowance
        assert Fraction(float(value)) >= truth
        assert value <= float(truth) * (1 + 1e3 * EPS * (n + k + 10)) + 0.0


@_settings
@given(
    st.floats(0, 4),
    st.one_of(st.floats(0, 0.999), st.floats(1.0, 4)),
    st.integers(1, 60),
    st.integers(0, 70),
    st.floats(0, 10),
)
def test_the_bound_dominates_the_recurrence_for_beta_on_both_sides_of_one(alpha, beta, n, k, e0):
    worst = recurrence_worst_case(alpha, beta, n, k, e0)
    bound = gander_hairer_bound(alpha, beta, n, k, e0)
    assert not np.any(np.isnan(bound))
    for value, truth in zip(bound, worst):
        # the float64 recurrence itself carries up to ~2n rounding errors
        assert value >= truth * (1 - 4 * n * EPS)
    assert np.all(bound[n:] == 0)  # slices 1..k exact after k iterations
    # the closed form with max(β, 1) is a (looser) bound too
    for kk in range(1, min(k, n - 1) + 1):
        closed = alpha**kk * max(beta, 1.0) ** (n - 1 - kk) * math.comb(n - 1, kk) * e0
        if math.isfinite(closed):
            assert bound[kk] <= closed * (1 + 1e3 * EPS * (n + 10))


def test_the_closed_form_was_below_the_recurrence_for_a_contracting_coarse_propagator():
    # β < 1: α^k β^{n-1-k} C(n-1, k) drops the sum over earlier slices; the worst case does not
    alpha, beta, n = 0.0601, 2 / 3, 10
    closed = max(alpha * beta ** (m - 2) * (m - 1) for m in range(2, n + 1))
    bound = gander_hairer_bound(alpha, beta, n, 1, 1.0)[1]
    assert closed < bound
    assert bound == pytest.approx(alpha * sum(beta**j for j in range(n - 1)), rel=1e3 * EPS * n)


def _scalar_run(z, n):
    """Exact fine ``e^z``, implicit-Euler coarse ``1/(1-z)`` per slice, u0 = 1; errors per iteration."""

    class Multiply:
        num_slices = n

        def __init__(self, factor):
            self.factor = factor

        def __call__(self, u, j):
            return self.factor * u

    fine, coarse = Multiply(np.exp(z)), Multiply(1 / (1 - z))
    u0 = np.array([1.0 + 0j])
    reference = propagate_sequentially(fine, u0)
    result = parareal(fine, coarse, u0, iterations=n, reference=reference)
    return result, abs(np.exp(z) - 1 / (1 - z)), abs(1 / (1 - z))


def test_dahlquist_with_exact_constants_regression():
    # issue 21: λ = -1, T = 5, N = 10, β = 0.667; the error 9.8e-3 at k = 1 exceeded the old 6.1e-3
    result, alpha, beta = _scalar_run(-0.5, 10)
    assert beta == pytest.approx(2 / 3)
    assert result.errors[1] == pytest.approx(9.8e-3, rel=0.01)
    bound = gander_hairer_bound(alpha, beta, 10, 10, result.errors[0])
    assert np.all(np.asarray(result.errors) <= bound * (1 + 64 * EPS) + 64 * EPS)


@_settings
@given(
    st.floats(-4.0, 0.5),  # Re(λ ΔT): contracting and growing
    st.floats(-4.0, 4.0),  # Im(λ ΔT)
    st.integers(2, 16),
)
def test_the_bound_dominates_the_observed_error_on_dahlquist_with_exact_constants(re, im, n):
    z = complex(re, im)
    assume(abs(1 - z) > 1e-3)
    result, alpha, beta = _scalar_run(z, n)
    scale = max(1.0, max(abs(np.exp(z)) ** j for j in range(n + 1)))
    bound = gander_hairer_bound(alpha, beta, n, n, result.errors[0])
    for error, value in zip(result.errors, bound):
        assert error <= value * (1 + 64 * n * EPS) + 64 * n * EPS * scale


@_settings
@given(st.integers(0, 2**32 - 1), st.integers(2, 4), st.integers(2, 12), st.floats(0.05, 1.0))
def test_the_bound_dominates_the_observed_error_on_random_matrices_with_exact_constants(seed, m, n, step):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, m)) * 2.0  # any matrix: the theorem needs no stability
    fine_map = scipy.linalg.expm(step * A)
    coarse_map = np.linalg.inv(np.eye(m) - step * A)
    assume(np.linalg.cond(np.eye(m) - step * A) < 1e8)

    class Apply:
        num_slices = n

        def __init__(self, matrix):
            self.matrix = matrix

        def __call__(self, u, j):
            return self.matrix @ u

    alpha = float(np.abs(fine_map - coarse_map).sum(axis=1).max())  # induced ∞-norms: exact constants
    beta = float(np.abs(coarse_map).sum(axis=1).max())
    u0 = rng.standard_normal(m)
    fine = Apply(fine_map)
    reference = propagate_sequentially(fine, u0)
    result = parareal(fine, Apply(coarse_map), u0, iterations=n, reference=reference)
    scale = max(float(np.abs(r).max()) for r in reference) + max(
        float(np.abs(u).max()) for u in result.iterates_array()
    )
    bound = gander_hairer_bound(alpha, beta, n, n, result.errors[0])
    for error, value in zip(result.errors, bound):
        assert error <= value * (1 + 64 * n * m * EPS) + 64 * n * m * EPS * scale * max(1.0, alpha + beta) ** n


def test_the_bound_has_no_nan_and_needs_no_n_by_n_array_for_large_n():
    bound = gander_hairer_bound(0.3, 1.0, 10**6, 3, 1.0)  # β = 1: α^k C(N - 1, k), the closed form
    expected = [1.0] + [0.3**k * math.comb(10**6 - 1, k) for k in (1, 2, 3)]
    np.testing.assert_allclose(bound, expected, rtol=1e-6)
    huge = gander_hairer_bound(2.0, 3.0, 2000, 2005, 1.0)  # overflows: inf, never NaN (0 · inf)
    assert not np.any(np.isnan(huge)) and np.isinf(huge[5]) and np.all(huge[2000:] == 0)
    assert np.all(gander_hairer_bound(0.0, 5.0, 50, 60, 1.0)[1:] == 0)


@pytest.mark.parametrize("name", ["alpha", "beta", "initial_error"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0])
def test_the_bound_refuses_constants_outside_its_hypotheses(name, value):
    arguments = {"alpha": 0.1, "beta": 0.5, "initial_error": 1.0} | {name: value}
    with pytest.raises(InputError, match=f"`{name}`.*{value!r}"):
        gander_hairer_bound(arguments["alpha"], arguments["beta"], 5, 3, arguments["initial_error"])


def test_lipschitz_constants_refuse_non_finite_states():
    problem = allen_cahn(8)
    grid = TimeGrid.uniform(problem.t_final, 3)
    fine, coarse = RK4Stepper(problem.ode, grid, substeps=4), ImplicitEulerStepper(problem.ode, grid)
    states = [problem.u0, np.full(8, np.nan), problem.u0]
    with pytest.raises(InputError, match=r"`states\[1\]` must be finite"):
        lipschitz_constants(fine, coarse, states)


# ---------------------------------------------------------------- the fine Lipschitz constant


def _stiff(rate=1000.0):
    """``u' = -rate (u - cos t)``: the issue's stiff, time-dependent counter-example."""
    return NonlinearODE(lambda t, u: -rate * (u - np.cos(t)), 1, lambda t, u: np.array([[-rate]]), vectorized=False)


@pytest.mark.parametrize(
    "kind, amplification",
    [
        (TrapezoidStepper, lambda z: (1 + z / 2) / (1 - z / 2)),
        (ImplicitEulerStepper, lambda z: 1 / (1 - z)),
        (ExplicitEulerStepper, lambda z: 1 + z),
        (RK4Stepper, lambda z: 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24),
    ],
)
@pytest.mark.parametrize("substeps", [1, 3])
def test_fine_lipschitz_is_the_discrete_slice_amplification(kind, amplification, substeps):
    grid = TimeGrid.uniform(0.1, 10)
    fine = kind(_stiff(), grid, substeps=substeps)
    reference = propagate_sequentially(fine, np.array([0.0]))
    expected = abs(amplification(-1000.0 * 0.01 / substeps)) ** substeps
    # forward differences at s = sqrt(eps) max(1, |u|): rounding of about sqrt(eps) relative
    assert fine_lipschitz(fine, reference, safety=1.0) == pytest.approx(expected, rel=1e3 * math.sqrt(EPS))
    assert fine_lipschitz(fine, reference) == pytest.approx(FINE_LIPSCHITZ_SAFETY * expected, rel=1e-5)


def test_stiff_trapezoid_regression():
    # issue 21: the exact flow gives L = e^{-10} = 4.5e-5 while one trapezoid step amplifies by 2/3
    grid = TimeGrid.uniform(0.2, 20)
    fine, coarse = TrapezoidStepper(_stiff(), grid), ImplicitEulerStepper(_stiff(), grid)
    u0 = np.array([0.0])
    reference = propagate_sequentially(fine, u0)
    old = fine_lipschitz_estimate(_stiff(), grid, reference)
    new = fine_lipschitz(fine, reference, safety=1.0)
    assert old < 1e-4 and new == pytest.approx(2 / 3, rel=1e-6)
    for tol in (1e-3, 1e-4, 1e-6):
        result = parareal(fine, coarse, u0, tol=tol, criterion="estimate", fine_lipschitz=new, reference=reference)
        assert all(e <= b for e, b in zip(result.errors[1:], result.estimates))
        assert result.errors[-1] <= tol


def test_time_dependent_f_is_differenced_at_each_slice_s_own_times():
    # u' = (-5 + 10 t) u contracts at t = 0 and grows later; the slice maps are linear, F_j(u) = F_j(1) u
    ode = NonlinearODE(lambda t, u: (-5 + 10 * t) * u, 1, lambda t, u: np.array([[-5 + 10 * t]]))
    grid = TimeGrid.uniform(1.5, 10)
    fine = RK4Stepper(ode, grid, substeps=20)
    reference = propagate_sequentially(fine, np.array([1.0]))
    truth = max(abs(float(fine(np.array([1.0]), j)[0])) for j in range(10))
    assert fine_lipschitz(fine, reference, safety=1.0) == pytest.approx(truth, rel=1e3 * math.sqrt(EPS))
    assert fine_lipschitz_estimate(ode, grid, reference) < truth / 2  # the t = 0 Jacobian misses the growth


def test_fine_lipschitz_refuses_what_it_cannot_bound():
    problem = allen_cahn(8)
    grid = TimeGrid.uniform(problem.t_final, 3)
    fine = RK4Stepper(problem.ode, grid, substeps=4)
    reference = propagate_sequentially(fine, problem.u0)
    with pytest.raises(InputError, match="`norm` must be the max-abs norm"):
        fine_lipschitz(fine, reference, norm=lambda x: float(np.linalg.norm(x)))
    with pytest.raises(InputError, match="size at most max_size = 4"):
        fine_lipschitz(fine, reference, max_size=4)
    with pytest.raises(InputError, match=r"`states\[2\]` must be finite"):
        fine_lipschitz(fine, [*reference[:2], np.full(8, np.inf)])
    with pytest.raises(InputError, match="`safety`"):
        fine_lipschitz(fine, reference, safety=0.5)
    exploding = ExplicitEulerStepper(NonlinearODE(lambda t, u: u**3 * 1e200, 1), TimeGrid.uniform(1.0, 2))
    with pytest.raises(InputError, match="must be finite"), np.errstate(over="ignore", invalid="ignore"):
        fine_lipschitz(exploding, [np.array([1e60]), np.array([1e60])])


def _affine_family(draw_kind, seed, m, n, horizon):
    """``u' = A(t) u + b(t)``: stiff, non-normal, oscillatory or time-dependent, by ``draw_kind``."""
    rng = np.random.default_rng(seed)
    if draw_kind == "stiff":
        A = np.diag(-rng.uniform(100, 2000, m))
    elif draw_kind == "nonnormal":
        A = -np.eye(m) * rng.uniform(0.5, 2) + np.triu(rng.uniform(-30, 30, (m, m)), 1)
    elif draw_kind == "oscillatory":
        S = rng.standard_normal((m, m)) * 3
        A = S - S.T
    else:
        A = rng.standard_normal((m, m))
    varying = draw_kind == "timedependent"
    b = rng.standard_normal(m)

    def rhs(t, u):
        factor = (1 + np.sin(3 * t)) if varying else 1.0
        return factor * (u @ A.T) + np.cos(t) * b

    ode = NonlinearODE(rhs, m, vectorized=True)
    return ode, rng.standard_normal(m)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["stiff", "nonnormal", "oscillatory", "timedependent"]),
    st.sampled_from([ExplicitEulerStepper, RK4Stepper, ImplicitEulerStepper, TrapezoidStepper]),
    st.integers(0, 2**32 - 1),
    st.integers(1, 3),
    st.integers(2, 12),
    st.sampled_from([0.2, 1.0, 8.0]),
    st.integers(1, 8),
    st.floats(-8, -1),
)
def test_a_stop_by_the_estimate_certifies_the_error_on_affine_families(
    family, kind, seed, m, n, horizon, substeps, log_tol
):
    ode, u0 = _affine_family(family, seed, m, n, horizon)
    grid = TimeGrid.uniform(horizon, n)
    fine, coarse = kind(ode, grid, substeps=substeps), ImplicitEulerStepper(ode, grid)
    with np.errstate(all="ignore"):
        try:
            reference = propagate_sequentially(fine, u0)
        except Exception:  # Newton's own refusal of a step it cannot take: not a parareal run
            assume(False)
        scale = max(float(np.abs(r).max()) for r in reference)
        assume(np.isfinite(scale) and scale < 1e8)
        L = fine_lipschitz(fine, reference)
        tol = 10.0**log_tol
        result = parareal(fine, coarse, u0, tol=tol, criterion="estimate", fine_lipschitz=L, reference=reference)
    slack = 64 * n * m * EPS * scale
    # an affine fine map: every estimate bounds its iterate's error (a certificate) ...
    for error, estimate in zip(result.errors[1:], result.estimates):
        if math.isfinite(estimate):
            assert error <= estimate * (1 + 64 * n * EPS) + slack
    # ... so a stop by the estimate certifies tol
    if result.estimates and result.estimates[-1] <= tol:
        assert result.errors[-1] <= tol + slack


@settings(max_examples=15, deadline=None)
@given(
    st.sampled_from([ExplicitEulerStepper, RK4Stepper, TrapezoidStepper]),
    st.integers(2, 10),
    st.integers(1, 10),
    st.floats(-8, -1),
)
def test_a_stop_by_the_estimate_holds_on_allen_cahn(kind, n, substeps, log_tol):
    problem = allen_cahn(8)
    grid = TimeGrid.uniform(problem.t_final, n)
    fine, coarse = kind(problem.ode, grid, substeps=substeps), ImplicitEulerStepper(problem.ode, grid)
    with np.errstate(all="ignore"):
        reference = propagate_sequentially(fine, problem.u0)
        assume(all(np.all(np.isfinite(r)) for r in reference))
        tol = 10.0**log_tol
        result = parareal(
            fine,
            coarse,
            problem.u0,
            tol=tol,
            criterion="estimate",
            fine_lipschitz=fine_lipschitz(fine, reference),
            reference=reference,
        )
    if result.estimates and result.estimates[-1] <= tol:
        assert result.errors[-1] <= tol + 64 * n * EPS


def test_fisher_kpp_with_locally_estimated_constants_regression():
    # issue 21: with β < 1 estimated on Fisher-KPP the closed form α^k β^(n-1-k) C(n-1, k) E0 fell below the
    # error; the recurrence's worst case does not (the constants are local estimates: an estimate, checked here)
    m, n = 32, 20
    x = np.arange(m) / m
    laplacian = (np.roll(np.eye(m), 1, 0) + np.roll(np.eye(m), -1, 0) - 2 * np.eye(m)) * m**2
    ode = NonlinearODE(
        lambda t, u: 1e-2 * (u @ laplacian.T) + 2.0 * u * (1 - u),
        m,
        lambda t, u: 1e-2 * laplacian + np.diag(2.0 * (1 - 2 * u)),
        vectorized=True,
    )
    u0 = 0.1 + 0.8 * np.exp(-100 * (x - 0.5) ** 2)
    grid = TimeGrid.uniform(10.0, n)
    fine, coarse = RK4Stepper(ode, grid, substeps=20), ImplicitEulerStepper(ode, grid)
    reference = propagate_sequentially(fine, u0)
    result = parareal(fine, coarse, u0, reference=reference)
    alpha, beta = lipschitz_constants(fine, coarse, reference)
    assert beta < 1
    closed = [  # the old bound: the closed form's maximum over the slices
        max(alpha**k * beta ** (j - 1 - k) * math.comb(j - 1, k) for j in range(k + 1, n + 1)) * result.errors[0]
        for k in range(1, n)
    ]
    assert any(e > c for e, c in zip(result.errors[1:], closed))  # the old closed form was exceeded
    bound = gander_hairer_bound(alpha, beta, n, result.iterations, result.errors[0])
    assert np.all(np.asarray(result.errors) <= bound * (1 + 64 * n * EPS) + 64 * n * EPS)
