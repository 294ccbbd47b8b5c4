"""Two-level MGRIT theory (parareal_toolkit.ode.mgrit_theory) against an explicit iteration and its bounds.

The explicit two-level iteration below is written from the definition (Falgout et al. 2014),
independently of the module: F- or FCF-relaxation on the fine system ``u_i = λ u_{i-1}``,
the fine residual injected at the C-points, the FAS coarse equation with the coarse step
``μ`` solved exactly, the C-points overwritten, a final F-relaxation. The system is
homogeneous with ``u_0 = 0``, so its solution is 0 and the iterate IS the error.

Tolerances (float64, ``u = EPS/2``, Higham's ``γ_n``; complex products count as 3 rounded
operations, since their normwise relative error is at most ``√2 γ_2 < γ_3``):

* two evaluations of the same quantity whose longest chain has ``K`` rounded operations
  differ by at most ``γ_K`` times the same computation done in absolute values;
* an entry ``c μ^k`` of ``E`` carries ``3(k + 1)`` roundings; ``E e`` and the 2-norms add
  ``2 N_c``; ``|μ|`` (one rounding) moves the geometric sums by at most ``N_c`` times that;
  ``|| |E| ||_2 <= `` the Dobrev sum ``D``, so the rounding of a computed ``||E e||`` is
  at most ``γ(8 N_c + 20) D ||e||``;
* LAPACK's SVD returns ``σ(E + F)`` with ``||F|| <= p(n) u ||E||``, ``p`` "a modestly growing
  function of n" (LAPACK Users' Guide §4.9); we take ``p(n) = n^2``.
"""

from __future__ import annotations

import cmath
import math
import operator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from rounding import EPS, gamma

from parareal_toolkit import TimeGrid
from parareal_toolkit.errors import InputError, InputTypeError
from parareal_toolkit.ode import (
    STEPPERS,
    LinearODE,
    convergence_factor,
    heat_1d,
    implicit_euler_amplification,
    mgrit_bound,
    mgrit_convergence_factor,
    mgrit_dobrev_bound,
    mgrit_error_propagator,
    mgrit_southworth_bound,
    mgrit_southworth_estimate,
    modal_decomposition,
    plot_mgrit_convergence_factor,
)
from parareal_toolkit.ode.mgrit_theory import MGRIT_STEPPERS, _amplification


def moduli(low: float, high: float) -> st.SearchStrategy[float]:
    """0 or a modulus in ``[max(low, 1e-3), high]``: powers up to ~40 stay normal (>= 1e-120)."""
    return st.one_of(st.just(0.0), st.floats(max(low, 1e-3), high)) if low == 0 else st.floats(low, high)


def modes(low: float, high: float) -> st.SearchStrategy[complex]:
    """A real or complex eigenvalue with modulus in ``[low, high]`` (or 0 when ``low == 0``)."""
    angle = st.floats(-math.pi, math.pi)
    complex_mode = st.builds(lambda r, t: complex(cmath.rect(r, t)), moduli(low, high), angle)
    real_mode = st.builds(lambda r, s: complex(s * r), moduli(low, high), st.sampled_from([1.0, -1.0]))
    return st.one_of(complex_mode, real_mode)


RELAX = st.sampled_from(["F", "FCF"])


def two_level_iteration(lam, mu, m: int, u: list, relax: str, sub=operator.sub, mul=operator.mul) -> list:
    """One two-level MGRIT iteration on ``u_i = λ u_{i-1}``, ``u_0 = 0`` (the iterate is the error).

    With ``sub=operator.add`` and absolute values for ``lam``, ``mu``, ``u`` it computes the
    same quantities in absolute values: the scale of the rounding errors.
    """
    u = list(u)
    num_coarse = (len(u) - 1) // m

    def f_relax():
        for j in range(num_coarse):
            for i in range(1, m):
                u[j * m + i] = mul(lam, u[j * m + i - 1])

    def c_relax():  # every C-point from the point before it, all at once (with m = 1 that is a C-point)
        new = [mul(lam, u[j * m - 1]) for j in range(1, num_coarse + 1)]
        for j in range(1, num_coarse + 1):
            u[j * m] = new[j - 1]

    f_relax()
    if relax == "FCF":
        c_relax()
        f_relax()
    # the fine residual g - (u_i - λ u_{i-1}) at the C-points, g = 0, injected
    residual = [sub(0.0, sub(u[j * m], mul(lam, u[j * m - 1]))) for j in range(1, num_coarse + 1)]
    # FAS: v_j - μ v_{j-1} = (u_{jm} - μ u_{(j-1)m}) + r_j, v_0 = u_0, solved exactly
    v = [u[0]]
    for j in range(1, num_coarse + 1):
        v.append(mul(mu, v[-1]) + (sub(u[j * m], mul(mu, u[(j - 1) * m])) + residual[j - 1]))
    for j in range(1, num_coarse + 1):  # the FAS correction u += (v - u) at the C-points
        u[j * m] = u[j * m] + sub(v[j], u[j * m])
    f_relax()  # interpolation to the F-points
    return u


def c_points(u: list, m: int) -> np.ndarray:
    return np.array(u[m::m], dtype=complex)


def initial_error(seed: int, m: int, num_coarse: int) -> list:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(m * num_coarse + 1) + 1j * rng.standard_normal(m * num_coarse + 1)
    return [0j] + [complex(v) for v in values[1:]]


@given(
    lam=modes(0, 1.5),
    mu=modes(0, 1.5),
    m=st.integers(1, 6),
    num_coarse=st.integers(1, 12),
    relax=RELAX,
    seed=st.integers(0, 2**32 - 1),
)
def test_the_explicit_two_level_iteration_propagates_the_c_point_error_by_the_propagator(
    lam, mu, m, num_coarse, relax, seed
):
    u = initial_error(seed, m, num_coarse)
    after = c_points(two_level_iteration(lam, mu, m, u, relax), m)
    predicted = mgrit_error_propagator(lam, mu, m, num_coarse, relax) @ c_points(u, m)
    # the longest chains: 2m + 1 relaxation products, N_c coarse steps, 6 adds (iteration);
    # m + N_c + 2 products and N_c adds (E e); complex products count 3
    depth = 3 * ((2 * m + 1 + num_coarse + 6) + (m + 2 * num_coarse + 2))
    scale = c_points(two_level_iteration(abs(lam), abs(mu), m, [abs(x) for x in u], relax, sub=operator.add), m).real
    assert np.all(np.abs(after - predicted) <= gamma(depth) * scale)


@given(lam=modes(0, 1.5), mu=modes(0, 1.5), m=st.integers(1, 5), num_coarse=st.integers(1, 10), relax=RELAX)
def test_f_is_exact_after_n_c_iterations_and_fcf_after_half_as_many(lam, mu, m, num_coarse, relax):
    index = num_coarse if relax == "F" else math.ceil(num_coarse / 2)
    c = (lam**m - mu) * (lam**m if relax == "FCF" else 1)
    assume(abs(c) > 1e-3)
    E = mgrit_error_propagator(lam, mu, m, num_coarse, relax)
    assert np.all(np.linalg.matrix_power(E, index) == 0)  # exactly: the zero pattern survives rounding
    # the last nonzero power: its subdiagonal (index - 1) or 2(index - 1) holds c^(index - 1)
    step = 1 if relax == "F" else 2
    corner = np.linalg.matrix_power(E, index - 1)[step * (index - 1), 0]
    if index > 1:
        assert corner != 0 and abs(corner - c ** (index - 1)) <= gamma(6 * index) * abs(c) ** (index - 1)
    # the explicit iteration reaches the exact (zero) solution after `index` iterations, not before
    u = initial_error(7, m, num_coarse)
    for _ in range(index):
        assert np.any(c_points(u, m) != 0)
        u = two_level_iteration(lam, mu, m, u, relax)
    assert all(x == 0 for x in u)


def _rounding(num_coarse: int) -> float:
    """The relative rounding of a computed ``||E e||``, ``||E||_2`` or bound, in units of the Dobrev sum."""
    return gamma(8 * num_coarse + 20) + gamma(num_coarse**2)


@given(
    lam=modes(0, 1.5),
    r=st.floats(0.0, 0.999),
    angle=st.floats(-math.pi, math.pi),
    m=st.integers(1, 6),
    num_coarse=st.integers(1, 40),
    relax=RELAX,
    seed=st.integers(0, 2**32 - 1),
)
def test_the_observed_error_reduction_never_exceeds_the_bounds_for_mu_inside_the_unit_disc(
    lam, r, angle, m, num_coarse, relax, seed
):
    mu = cmath.rect(r, angle)
    E = mgrit_error_propagator(lam, mu, m, num_coarse, relax)
    e = initial_error(seed, 1, num_coarse)[1:]
    observed = np.linalg.norm(E @ e) / np.linalg.norm(e)
    exact = mgrit_convergence_factor(lam, mu, m, num_coarse, relax)
    dobrev = mgrit_dobrev_bound(lam, mu, m, num_coarse, relax)
    southworth = mgrit_southworth_bound(lam, mu, m, relax)
    slack = _rounding(num_coarse) * dobrev
    assert observed <= exact * (1 + _rounding(num_coarse)) + slack
    assert exact <= dobrev + slack
    assert dobrev <= southworth * (1 + gamma(8))  # the finite sum is below its limit
    assert exact <= southworth + slack


@given(
    lam=modes(0, 1.5),
    r=st.floats(1.0, 2.0),
    angle=st.floats(-math.pi, math.pi),
    m=st.integers(1, 6),
    num_coarse=st.integers(1, 30),
    relax=RELAX,
    seed=st.integers(0, 2**32 - 1),
)
def test_for_mu_outside_the_unit_disc_only_the_dobrev_sum_bounds_the_reduction(
    lam, r, angle, m, num_coarse, relax, seed
):
    mu = cmath.rect(r, angle)
    E = mgrit_error_propagator(lam, mu, m, num_coarse, relax)
    e = initial_error(seed, 1, num_coarse)[1:]
    observed = np.linalg.norm(E @ e) / np.linalg.norm(e)
    exact = mgrit_convergence_factor(lam, mu, m, num_coarse, relax)
    dobrev = mgrit_dobrev_bound(lam, mu, m, num_coarse, relax)
    slack = _rounding(num_coarse) * dobrev
    assert observed <= exact * (1 + _rounding(num_coarse)) + slack
    assert exact <= dobrev + slack
    # the prefactor |λ^m - μ| (times |λ|^m for FCF) is the Dobrev sum of one term
    prefactor_zero = mgrit_dobrev_bound(lam, mu, m, 1 if relax == "F" else 2, relax) == 0  # E = 0
    if np.abs(mu) >= 1:  # (rect(1, θ) may round to a modulus just below 1)
        assert mgrit_southworth_bound(lam, mu, m, relax) == (0.0 if prefactor_zero else math.inf)


@given(
    lam=modes(0, 1.2),
    r=st.floats(0.0, 1.0),
    angle=st.floats(-math.pi, math.pi),
    m=st.integers(1, 4),
    num_coarse=st.integers(100, 300),
    relax=RELAX,
)
def test_southworth_s_estimate_is_within_its_derived_accuracy_of_the_exact_norm(lam, r, angle, m, num_coarse, relax):
    mu = cmath.rect(r, angle)
    prefactor = mgrit_dobrev_bound(lam, mu, m, 1, "F") * (abs(lam) ** m if relax == "FCF" else 1)
    assume(prefactor > 1e-100)
    inv_exact = (prefactor / mgrit_convergence_factor(lam, mu, m, num_coarse, relax)) ** 2  # 1/ρ^2
    inv_estimate = (prefactor / mgrit_southworth_estimate(lam, mu, m, num_coarse, relax)) ** 2
    # ||E|| and the estimate are each within η relatively (η: entries, SVD and |E|/||E|| <= N_c)
    eta = 4 * (num_coarse * gamma(3 * num_coarse + 6) + gamma(num_coarse**2) + gamma(8))
    slack = eta * (inv_exact + inv_estimate)
    difference = inv_estimate - inv_exact
    band = math.pi**2 * r / (num_coarse if relax == "F" else num_coarse - 1) ** 2
    assert (1 - r) ** 2 - slack <= inv_exact  # the N_c-independent upper bound
    if relax == "F":  # a lower bound on ||E_F||, O(1/N_c^2) accurate
        assert -slack <= difference <= band + slack
    else:  # on either side, within the band for N_c - 1
        assert abs(difference) <= band + slack


@given(lam=modes(0, 1.0), mu=modes(0, 2.0), m=st.integers(1, 6), num_coarse=st.integers(1, 30))
def test_fcf_contracts_at_least_as_fast_as_f_when_the_fine_step_does_not_grow(lam, mu, m, num_coarse):
    f = mgrit_convergence_factor(lam, mu, m, num_coarse, "F")
    fcf = mgrit_convergence_factor(lam, mu, m, num_coarse, "FCF")
    eta = gamma(5 * num_coarse**2 + 20)  # each norm, relative (|| |E| || <= N_c ||E||)
    assert fcf <= f * (1 + eta) / (1 - eta)


def test_fcf_can_be_slower_than_f_when_the_fine_step_grows():
    # |λ|^m > 1: the C-relaxation multiplies the error by λ^m
    assert mgrit_convergence_factor(1.5, 0.5, 2, 16, "FCF") > mgrit_convergence_factor(1.5, 0.5, 2, 16, "F")


@given(x=st.floats(-50.0, 0.0), y=st.floats(-20.0, 20.0))
def test_the_f_limit_bound_is_the_parareal_factor_for_exact_fine_and_implicit_euler_coarse_steps(x, y):
    z = complex(x, y)
    lam, mu = np.exp(z), implicit_euler_amplification(z)
    # where e^z and R(z) round to the same number (z = 0 or nearly) E = 0 and the bound is 0; the
    # parareal factor keeps its convention (inf where |R| rounds to 1)
    assume(lam != mu)
    bound = mgrit_southworth_bound(lam, mu, 1)
    assert bound == pytest.approx(convergence_factor(z), rel=4 * EPS, abs=0)


def test_small_cases_by_hand():
    # N_c = 1: nothing to correct after C-point 0; N_c = 2: one entry λ^m - μ
    assert mgrit_convergence_factor(0.5, 0.2, 3, 1) == 0.0
    assert mgrit_convergence_factor(0.5, 0.2, 3, 2) == pytest.approx(abs(0.125 - 0.2), rel=4 * EPS)
    assert mgrit_convergence_factor(0.5, 0.2, 3, 2, "FCF") == 0.0
    # |μ| = 1: the Dobrev sum is N_c |λ^m - μ|
    assert mgrit_dobrev_bound(0.0, -1.0, 2, 7) == 7.0 and mgrit_dobrev_bound(0.0, 1j, 2, 7, "FCF") == 0.0
    # vectorised: the shape of broadcast(lam, mu), a float for scalars
    lam, mu = np.array([0.9, 0.5]), np.array([[0.5], [0.1], [0.0]])
    assert mgrit_convergence_factor(lam, mu, 2, 5).shape == (3, 2)
    assert mgrit_error_propagator(lam, mu, 2, 5).shape == (3, 2, 5, 5)
    assert mgrit_error_propagator(0.5, 0.2, 1, 3).dtype == np.float64
    assert mgrit_error_propagator(0.5j, 0.2, 1, 3).dtype == np.complex128
    values = mgrit_convergence_factor(lam, mu, 2, 5)
    assert values[1, 0] == mgrit_convergence_factor(0.9, 0.1, 2, 5)


def test_overflow_is_refused_by_the_matrix_and_inf_in_the_factors():
    with pytest.raises(InputError, match="overflow"):
        mgrit_error_propagator(1e200, 0.5, 2, 3)
    assert mgrit_convergence_factor(1e200, 0.5, 2, 3) == math.inf
    assert mgrit_dobrev_bound(0.5, 10.0, 1, 10**6) == math.inf
    assert mgrit_dobrev_bound(10.0, 10.0, 1, 10**6) == 0.0  # λ^m = μ: E = 0 whatever N_c


def test_mgrit_bound_takes_the_worst_mode_of_the_heat_equation():
    problem = heat_1d(12)
    eigenvalues = modal_decomposition(problem.ode)[0]
    dt, m, n = 2e-3, 4, 10
    z = dt * eigenvalues
    lam, mu = np.exp(z), implicit_euler_amplification(m * z)
    for relax in ("F", "FCF"):
        expected = np.max(mgrit_convergence_factor(lam, mu, m, n, relax))
        assert mgrit_bound(problem, dt, m, n, relax) == expected  # the same operations
        assert mgrit_bound(eigenvalues, dt, m, n, relax) == expected
        assert mgrit_bound(problem, dt, m, n, relax) <= mgrit_bound(problem, dt, m, n, relax, kind="dobrev") * (
            1 + _rounding(n)
        )
    # explicit Euler coarse steps beyond their stability limit give no bound
    assert mgrit_bound(problem, 1.0, m, n, kind="southworth", coarse="explicit-euler") == math.inf


@pytest.mark.parametrize(
    "call, exception, fragment",
    [
        (lambda: mgrit_error_propagator(0.5, 0.5, 2, 3, "CF"), InputError, "`relax` must be one of"),
        (lambda: mgrit_convergence_factor(0.5, 0.5, 0, 3), InputError, "`m` must be at least 1"),
        (lambda: mgrit_convergence_factor(0.5, 0.5, 2, 4096), InputError, "`num_coarse` must be at most 2048"),
        (lambda: mgrit_dobrev_bound(math.nan, 0.5, 2, 3), InputError, "`lam` must be finite"),
        (lambda: mgrit_dobrev_bound(0.5, "x", 2, 3), InputTypeError, "`mu` must be real or complex"),
        (lambda: mgrit_southworth_bound([0.5, 0.1], [0.1, 0.2, 0.3], 2), InputError, "broadcast"),
        (lambda: mgrit_bound("heat", 0.1, 2, 3), InputTypeError, "`problem_or_eigenvalues`"),
        (lambda: mgrit_bound([-1.0], 0.0, 2, 3), InputError, "`dt` must be positive"),
        (lambda: mgrit_bound([-1.0], 0.1, 2, 3, fine="euler"), InputError, "`fine` must be one of"),
    ],
)
def test_bad_arguments_are_refused_naming_them(call, exception, fragment):
    with pytest.raises(exception, match=fragment):
        call()


def test_the_figure_draws_the_factors_it_claims():
    fig = plot_mgrit_convergence_factor(num_coarse=16, m=4, resolution=40)
    (real_axis, imag_axis) = fig.axes[:2]
    for ax, direction in ((real_axis, -1.0), (imag_axis, 1j)):
        lines = {line.get_label(): line for line in ax.get_lines()}
        x = lines["F"].get_xdata()
        z = (direction * x).astype(complex)
        lam, mu = np.exp(z / 4), implicit_euler_amplification(z)
        np.testing.assert_array_equal(lines["F"].get_ydata(), mgrit_convergence_factor(lam, mu, 4, 16, "F"))
        np.testing.assert_array_equal(lines["FCF"].get_ydata(), mgrit_convergence_factor(lam, mu, 4, 16, "FCF"))
        # the third line is the parareal factor the docs draw in the plane
        # (with λ^4 = exp(z/4)^4 for e^z: 3·4 + 6 roundings of a numerator of size <= |λ|^4 + |μ|)
        tolerance = gamma(18) * (np.abs(np.exp(z)) + np.abs(mu)) / (1 - np.abs(mu))
        assert np.all(np.abs(lines["parareal bound"].get_ydata() - convergence_factor(z)) <= tolerance)
        assert np.all(lines["F"].get_ydata() <= lines["parareal bound"].get_ydata() * (1 + _rounding(16)))
    plt.close(fig)


@pytest.mark.parametrize("name", sorted(STEPPERS))
def test_the_amplification_factors_are_one_step_of_the_toolkit_s_steppers(name):
    assert set(MGRIT_STEPPERS) == {"exact", *STEPPERS}
    for a, h in ((-3.0, 0.25), (-40.0, 0.1), (0.5, 0.2)):
        grid = TimeGrid.uniform(h, 1)
        one_step = STEPPERS[name](LinearODE([[a]]), grid)(np.array([1.0]), 0)[0]
        # a few rounded operations per step; Newton solves the linear step to round-off in one iteration
        assert one_step == pytest.approx(complex(_amplification(name, h * a)).real, rel=gamma(16), abs=0)
