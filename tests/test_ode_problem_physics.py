"""The nonlinear catalogue checked by its own physics, for every size (hypothesis, float64).

Each right-hand side is compared with facts of the discretisation the code states:

* the stencil written out on the padded grid (Dirichlet values, periodic wrap), from the
  smallest size the builder accepts (``m = 1`` for the Brusselator, ``m = 3`` periodic);
* steady states, invariants and symmetries;
* its Jacobian, by differences that are exact for these polynomials of degree at most 3.

Tolerances come from the arithmetic, not from a run: one component of a right-hand side is
a sum of products over at most ``m + 10`` rounded operations, so it lies within
``γ_n M`` of the exact value (Higham, *Accuracy and Stability of Numerical Algorithms*,
§3.1), ``γ_n = n u / (1 - n u)``, ``u = eps / 2``, where ``M`` is the same expression
with every term replaced by its absolute value (``magnitude`` below). A state that is
itself rounded (``b / a``, ``sqrt(β(ρ - 1))``) adds ``|J| δu``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rounding import EPS, gamma, reals

from parareal_toolkit.errors import InputError
from parareal_toolkit.ode import allen_cahn, brusselator, burgers, lorenz, van_der_pol


def tridiagonal_abs(m: int, scale: float) -> np.ndarray:
    """``|L|`` of the Dirichlet second differences ``scale tridiag(1, -2, 1)``."""
    return scale * (2.0 * np.eye(m) + np.eye(m, k=1) + np.eye(m, k=-1))


def periodic_abs(m: int, scale: float) -> np.ndarray:
    """``|L|`` of the periodic second differences (``m >= 3``: the two neighbours differ)."""
    shift = np.roll(np.eye(m), 1, axis=1)
    return scale * (2.0 * np.eye(m) + shift + shift.T)


@dataclass
class Case:
    """A built problem with the absolute-value bounds its rounding error needs."""

    kind: str
    m: int
    params: dict
    rhs: Callable[[np.ndarray], np.ndarray]
    jacobian: Callable[[np.ndarray], np.ndarray]
    magnitude: Callable[[np.ndarray], np.ndarray]
    jacobian_magnitude: Callable[[np.ndarray], np.ndarray]
    size: int

    def rounding(self, u: np.ndarray) -> np.ndarray:
        """Componentwise bound on ``|fl(rhs(u)) - rhs(u)|``."""
        return gamma(self.m + 10) * self.magnitude(u)

    def __repr__(self) -> str:
        return f"Case({self.kind}, m={self.m}, {self.params})"


def make_case(kind: str, m: int = 3, **params) -> Case:
    """The problem ``kind`` of size ``m`` with ``params``, and its magnitude functions."""
    if kind == "lorenz":
        s, r, b = params["sigma"], params["rho"], params["beta"]
        problem = lorenz(sigma=s, rho=r, beta=b)

        def magnitude(u):
            x, y, z = np.abs(u)
            return np.array([abs(s) * (x + y), x * (abs(r) + z) + y, x * y + abs(b) * z])

        def jacobian_magnitude(u):
            x, y, z = np.abs(u)
            return np.array([[abs(s), abs(s), 0.0], [abs(r) + z, 1.0, x], [y, x, abs(b)]])

    elif kind == "vanderpol":
        mu = params["mu"]
        problem = van_der_pol(mu)

        def magnitude(u):
            x, y = np.abs(u)
            return np.array([y, mu * (1 + x * x) * y + x])

        def jacobian_magnitude(u):
            x, y = np.abs(u)
            return np.array([[0.0, 1.0], [2 * mu * x * y + 1, mu * (1 + x * x)]])

    elif kind == "brusselator":
        a, b, alpha = params["a"], params["b"], params["diffusion"]
        problem = brusselator(m, a=a, b=b, diffusion=alpha)
        scale = alpha * (m + 1) ** 2
        L = tridiagonal_abs(m, scale)
        ends = np.zeros(m)
        ends[0] += scale
        ends[-1] += scale  # both ends in the one row of m = 1

        def magnitude(w):
            u, v = np.abs(w[:m]), np.abs(w[m:])
            du = a + u * u * v + abs(b + 1) * u + L @ u + ends * a
            dv = abs(b) * u + u * u * v + L @ v + ends * abs(b / a)
            return np.concatenate([du, dv])

        def jacobian_magnitude(w):
            u, v = np.abs(w[:m]), np.abs(w[m:])
            return np.block(
                [
                    [L + np.diag(2 * u * v + abs(b + 1)), np.diag(u * u)],
                    [np.diag(abs(b) + 2 * u * v), L + np.diag(u * u)],
                ]
            )

    elif kind in ("burgers", "allencahn"):
        nu = params["nu"]
        L = periodic_abs(m, nu * m**2)
        if kind == "burgers":
            problem = burgers(m, viscosity=nu)

            def magnitude(u):
                u = np.abs(u)
                return (np.roll(u, -1) ** 2 + np.roll(u, 1) ** 2) * (m / 4) + L @ u

            def jacobian_magnitude(u):
                flux = np.abs(np.roll(np.eye(m), 1, axis=1) + np.roll(np.eye(m), -1, axis=1)) * (np.abs(u) * m / 2)
                return L + flux

        else:
            problem = allen_cahn(m, diffusion=nu)

            def magnitude(u):
                u = np.abs(u)
                return L @ u + u + u**3

            def jacobian_magnitude(u):
                return L + np.diag(1 + 3 * u * u)

    else:  # pragma: no cover - the strategies name only the kinds above
        raise AssertionError(kind)
    ode = problem.ode
    return Case(
        kind,
        m,
        params,
        lambda u: ode.rhs(0.0, u),
        lambda u: ode.jacobian(0.0, u),
        magnitude,
        jacobian_magnitude,
        ode.size,
    )


positive = st.floats(0.1, 30.0)
LORENZ = st.builds(lambda s, r, b: make_case("lorenz", sigma=s, rho=r, beta=b), positive, reals(-10.0, 60.0), positive)
VANDERPOL = st.builds(lambda mu: make_case("vanderpol", mu=mu), reals(0.0, 1000.0))
BRUSSELATOR = st.builds(
    lambda m, a, b, d: make_case("brusselator", m, a=a, b=b, diffusion=d),
    st.integers(1, 12),
    st.floats(0.1, 5.0),
    reals(-5.0, 5.0),
    st.floats(1e-3, 1.0),
)
BURGERS = st.builds(lambda m, nu: make_case("burgers", m, nu=nu), st.integers(3, 16), st.floats(1e-3, 1.0))
ALLENCAHN = st.builds(lambda m, nu: make_case("allencahn", m, nu=nu), st.integers(3, 16), st.floats(1e-4, 1.0))
ANY_CASE = st.one_of(LORENZ, VANDERPOL, BRUSSELATOR, BURGERS, ALLENCAHN)

# the edge sizes of every stencil, always run
EDGES = [
    make_case("brusselator", 1, a=1.3, b=2.1, diffusion=0.02),
    make_case("brusselator", 2, a=0.7, b=-1.5, diffusion=1.0),
    make_case("burgers", 3, nu=0.02),
    make_case("allencahn", 3, nu=1e-3),
]


def dyadic_states(size: int) -> st.SearchStrategy[np.ndarray]:
    """States in ``[-4, 4]`` on the grid ``2^-18``: ``u ± 1`` and ``u ± 2`` are exact."""
    return st.lists(st.integers(-(2**20), 2**20), min_size=size, max_size=size).map(
        lambda k: np.array(k, dtype=float) / 2**18
    )


def states(size: int, bound: float = 3.0) -> st.SearchStrategy[np.ndarray]:
    return st.lists(reals(-bound, bound), min_size=size, max_size=size).map(np.array)


def with_state(cases, make_state=states):
    return cases.flatmap(lambda case: st.tuples(st.just(case), make_state(case.size)))


# --- the stencils, on the padded grid --------------------------------------------------------


def brusselator_stencil(case: Case, w: np.ndarray) -> np.ndarray:
    m, a, b, alpha = case.m, case.params["a"], case.params["b"], case.params["diffusion"]
    u, v = w[:m], w[m:]

    def second_differences(values, end):
        padded = np.concatenate([[end], values, [end]])  # the Dirichlet value at x = 0 and x = 1
        return alpha * (m + 1) ** 2 * (padded[:-2] - 2 * padded[1:-1] + padded[2:])

    return np.concatenate(
        [a + u * u * v - (b + 1) * u + second_differences(u, a), b * u - u * u * v + second_differences(v, b / a)]
    )


def periodic_stencil(case: Case, u: np.ndarray) -> np.ndarray:
    m, nu = case.m, case.params["nu"]
    left, right = np.roll(u, 1), np.roll(u, -1)  # u_{i-1}, u_{i+1}
    diffusion = nu * m**2 * (left - 2 * u + right)
    if case.kind == "burgers":
        return -(right**2 - left**2) * (m / 4) + diffusion
    return diffusion + u - u**3


@given(with_state(st.one_of(BRUSSELATOR, BURGERS, ALLENCAHN)))
@example(case_and_state=(EDGES[0], np.array([0.3, 2.5])))
@example(case_and_state=(EDGES[1], np.array([0.3, -1.0, 2.5, 0.75])))
@example(case_and_state=(EDGES[2], np.array([0.3, -1.0, 2.5])))
@example(case_and_state=(EDGES[3], np.array([0.3, -1.0, 2.5])))
def test_rhs_is_the_stencil_on_the_padded_grid(case_and_state):
    """Second differences with the Dirichlet values (Brusselator, ``h = 1/(m+1)``) or the
    periodic wrap (Burgers, Allen–Cahn, ``h = 1/m``), from the smallest size accepted."""
    case, w = case_and_state
    stencil = brusselator_stencil if case.kind == "brusselator" else periodic_stencil
    assert np.all(np.abs(case.rhs(w) - stencil(case, w)) <= 2 * case.rounding(w)), case


def test_brusselator_of_one_point_is_at_rest_in_its_steady_state():
    """Regression: for ``m = 1`` the boundary term was added once, not for both ends."""
    case = EDGES[0]
    steady = np.array([1.3, 2.1 / 1.3])
    tol = case.rounding(steady) + case.jacobian_magnitude(steady) @ (EPS * np.abs(steady))
    assert np.all(np.abs(case.rhs(steady)) <= tol)  # it was (-0.104, -0.129)
    problem = brusselator(1, a=1.0, b=3.0, diffusion=0.5)  # every term an exact small integer
    assert problem.ode.rhs(0.0, np.array([1.0, 3.0])).tolist() == [0.0, 0.0]


def test_brusselator_boundary_term_runs_on_torch_for_one_point():
    torch = pytest.importorskip("torch")
    problem = brusselator(1, a=1.0, b=3.0, diffusion=0.5)
    rates = problem.ode.rhs(0.0, torch.tensor([[1.0, 3.0], [1.5, 3.0]], dtype=torch.float64))
    expected = np.stack([problem.ode.rhs(0.0, np.array(row)) for row in ([1.0, 3.0], [1.5, 3.0])])
    assert rates[0].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(rates.numpy(), expected, rtol=0, atol=64 * EPS * np.abs(expected).max())


# --- the Jacobians ---------------------------------------------------------------------------


@given(with_state(ANY_CASE, dyadic_states))
@example(case_and_state=(EDGES[0], np.array([0.75, -1.25])))
@example(case_and_state=(EDGES[2], np.array([0.5, -2.0, 1.25])))
def test_jacobian_is_the_derivative_of_rhs(case_and_state):
    """Every rhs is a polynomial of degree <= 3 in the state, so the central difference
    ``D(δ) = J e + δ^2/6 f'''[e, e, e]`` and ``(4 D(1) - D(2)) / 3 = J e`` exactly; the points
    ``u ± δ e`` are exact (dyadic states), so only the rounding of the evaluations remains."""
    case, u = case_and_state
    J = case.jacobian(u)
    JM = case.jacobian_magnitude(u)
    for j in range(case.size):
        e = np.zeros(case.size)
        e[j] = 1.0
        values = {d: case.rhs(u + d * e) for d in (-2.0, -1.0, 1.0, 2.0)}
        worst = np.max([case.magnitude(u + d * e) for d in values], axis=0)
        d1 = (values[1.0] - values[-1.0]) / 2
        d2 = (values[2.0] - values[-2.0]) / 4
        column = (4 * d1 - d2) / 3
        tol = 2 * gamma(case.m + 10) * (worst + JM[:, j]) + 2 * EPS * (4 * np.abs(d1) + np.abs(d2))
        assert np.all(np.abs(column - J[:, j]) <= tol), (case, j)


# --- steady states ---------------------------------------------------------------------------


@given(BRUSSELATOR)
@example(case=EDGES[0])
@example(case=EDGES[1])
def test_brusselator_homogeneous_state_is_steady_for_every_size(case):
    """``(u, v) = (a, b/a)`` zeroes the reaction and, matching the Dirichlet values, the
    diffusion: the boundary term enters both end rows (twice the one row of ``m = 1``)."""
    m, a, b = case.m, case.params["a"], case.params["b"]
    steady = np.concatenate([np.full(m, a), np.full(m, b / a)])
    tol = case.rounding(steady) + case.jacobian_magnitude(steady) @ (EPS * np.abs(steady))
    assert np.all(np.abs(case.rhs(steady)) <= tol)


@given(ALLENCAHN, st.sampled_from([-1.0, 0.0, 1.0]))
@example(case=EDGES[3], level=1.0)
def test_allen_cahn_constant_states_minus_one_zero_one_are_steady(case, level):
    steady = np.full(case.m, level)
    assert np.all(np.abs(case.rhs(steady)) <= case.rounding(steady))


@given(BURGERS, reals(-5.0, 5.0))
@example(case=EDGES[2], level=0.3)
def test_burgers_constants_are_steady(case, level):
    steady = np.full(case.m, level)
    assert np.all(np.abs(case.rhs(steady)) <= case.rounding(steady))


@given(LORENZ)
def test_lorenz_origin_and_the_two_fixed_points_are_steady(case):
    assert case.rhs(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    beta, rho = case.params["beta"], case.params["rho"]
    if beta * (rho - 1) <= 0:  # C± exist for β(ρ - 1) > 0 only
        return
    c = math.sqrt(beta * (rho - 1))
    for point in (np.array([c, c, rho - 1]), np.array([-c, -c, rho - 1])):
        # the rounded point is within 2 eps |p| of the fixed point (a product, a sqrt)
        tol = case.rounding(point) + case.jacobian_magnitude(point) @ (2 * EPS * np.abs(point))
        assert np.all(np.abs(case.rhs(point)) <= tol)


@given(VANDERPOL)
def test_van_der_pol_origin_is_steady(case):
    assert case.rhs(np.zeros(2)).tolist() == [0.0, 0.0]


# --- invariants ------------------------------------------------------------------------------


@given(with_state(BURGERS))
@example(case_and_state=(EDGES[2], np.array([2.0, 1.0, 0.0])))
def test_burgers_conserves_the_mean_and_its_energy_rate_is_the_scheme_s(case_and_state):
    """The flux form telescopes and the periodic Laplacian's columns sum to zero, so
    ``Σ f_i = 0`` and ``1^T J = 0``. ``Σ u_i^2`` is not conserved by the centred flux form:
    ``u·f = -(m/4) Σ u_i u_{i+1} (u_{i+1} - u_i) - ν m^2 Σ (u_{i+1} - u_i)^2``."""
    case, u = case_and_state
    m, nu = case.m, case.params["nu"]
    rates = case.rhs(u)
    assert abs(rates.sum()) <= case.rounding(u).sum() + gamma(m) * np.abs(rates).sum()
    J = case.jacobian(u)
    assert np.all(np.abs(J.sum(axis=0)) <= gamma(m + 4) * case.jacobian_magnitude(u).sum(axis=0))
    right = np.roll(u, -1)
    expected = -(m / 4) * np.sum(u * right * (right - u)) - nu * m**2 * np.sum((right - u) ** 2)
    a, r = np.abs(u), np.abs(right)
    scale = (m / 4) * np.sum(a * r * (a + r)) + nu * m**2 * np.sum((a + r) ** 2)
    tol = a @ case.rounding(u) + gamma(m + 10) * (a @ np.abs(rates) + scale)
    assert abs(u @ rates - expected) <= tol


def allen_cahn_energy(case: Case, u: np.ndarray) -> tuple[float, float]:
    """``E = h Σ ν/2 ((u_{i+1} - u_i)/h)^2 + (1 - u_i^2)^2/4`` and the bound of its terms."""
    m, nu = case.m, case.params["nu"]
    gradient = (np.roll(u, -1) - u) * m
    energy = (np.sum(nu / 2 * gradient**2) + np.sum((1 - u * u) ** 2 / 4)) / m
    a = np.abs(u)
    scale = (np.sum(nu / 2 * ((np.roll(a, -1) + a) * m) ** 2) + np.sum((1 + a * a) ** 2 / 4)) / m
    return float(energy), float(scale)


@given(with_state(ALLENCAHN, lambda size: st.tuples(dyadic_states(size), dyadic_states(size))))
def test_allen_cahn_is_the_gradient_flow_of_its_discrete_energy(case_and_states):
    """``f = -(1/h) ∇E`` with ``h = 1/m``, so ``dE/dt = -h |f|^2 <= 0``: the energy the
    docstring names decreases for the discretisation too. ``E`` is a quartic, so
    ``(4 D(1) - D(2)) / 3`` of its central differences along ``w`` is ``∇E·w`` exactly."""
    case, (u, w) = case_and_states
    values = {d: allen_cahn_energy(case, u + d * w) for d in (-2.0, -1.0, 1.0, 2.0)}
    d1 = (values[1.0][0] - values[-1.0][0]) / 2
    d2 = (values[2.0][0] - values[-2.0][0]) / 4
    derivative = (4 * d1 - d2) / 3
    worst = max(scale for _, scale in values.values())
    rates = case.rhs(u)
    expected = -(rates @ w) / case.m
    tol = 2 * gamma(case.m + 10) * worst + 2 * EPS * (4 * abs(d1) + abs(d2))
    tol += (np.abs(w) @ case.rounding(u) + gamma(case.m) * np.abs(w) @ np.abs(rates)) / case.m
    assert abs(derivative - expected) <= tol


@given(with_state(ALLENCAHN, lambda size: states(size, 1.0)), st.data())
@example(case_and_state=(EDGES[3], np.array([1.0, 1.0, -1.0])), data=None)
def test_allen_cahn_keeps_minus_one_to_one_invariant(case_and_state, data):
    """Maximum principle: where ``u_i = 1`` and ``|u| <= 1``, ``f_i <= 0`` (and ``>= 0`` at
    ``-1``). Exact in floating point: rounding is monotone, and the same operations on the
    constant state give exactly 0."""
    case, u = case_and_state
    if data is not None:
        u = u.copy()
        u[data.draw(st.integers(0, case.m - 1))] = data.draw(st.sampled_from([-1.0, 1.0]))
    rates = case.rhs(u)
    assert np.all(rates[u == 1.0] <= 0.0)
    assert np.all(rates[u == -1.0] >= 0.0)


@given(with_state(BRUSSELATOR, lambda size: states(size, 3.0).map(np.abs)), st.data())
@example(case_and_state=(EDGES[0], np.array([0.0, 0.0])), data=None)
def test_brusselator_concentrations_stay_non_negative(case_and_state, data):
    """Where ``u_i = 0`` (all else ``>= 0``), ``u_i' >= a > 0``; where ``v_i = 0``,
    ``v_i' >= 0`` when ``b >= 0``: the Dirichlet values and the off-diagonal second
    differences are non-negative. Exact in floating point: every term is ``>= 0``."""
    case, w = case_and_state
    m, b = case.m, case.params["b"]
    if data is not None:
        w = w.copy()
        w[data.draw(st.integers(0, 2 * m - 1))] = 0.0
    rates = case.rhs(w)
    assert np.all(rates[:m][w[:m] == 0.0] > 0.0)
    if b >= 0:
        assert np.all(rates[m:][w[m:] == 0.0] >= 0.0)


@given(with_state(LORENZ, dyadic_states))
def test_lorenz_divergence_is_minus_sigma_plus_one_plus_beta_everywhere(case_and_state):
    """Each ``f_i`` is affine in ``u_i``, so ``(f_i(u + e_i) - f_i(u - e_i)) / 2 = ∂f_i/∂u_i``
    exactly at dyadic states, and the divergence is ``-(σ + 1 + β)``: volumes contract."""
    case, u = case_and_state
    s, b = case.params["sigma"], case.params["beta"]
    expected = -(s + 1 + b)
    divergence, tol = 0.0, 4 * EPS * (abs(s) + 1 + abs(b))
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1.0
        divergence += (case.rhs(u + e)[i] - case.rhs(u - e)[i]) / 2
        tol += gamma(13) * max(case.magnitude(u + e)[i], case.magnitude(u - e)[i])
    assert abs(divergence - expected) <= tol
    assert abs(np.trace(case.jacobian(u)) - expected) <= 4 * EPS * (abs(s) + 1 + abs(b))


@given(LORENZ, reals(-50.0, 50.0))
def test_lorenz_z_axis_is_invariant(case, z):
    """On ``x = y = 0``: ``x' = y' = 0`` and ``z' = -βz`` (exact)."""
    assert case.rhs(np.array([0.0, 0.0, z])).tolist() == [0.0, 0.0, -case.params["beta"] * z]


@given(with_state(VANDERPOL))
def test_van_der_pol_energy_rate_is_the_damping_term(case_and_state):
    """``d/dt (x^2 + y^2)/2 = μ (1 - x^2) y^2``: pumped inside ``|x| < 1``, damped outside,
    conserved for ``μ = 0`` (the harmonic oscillator)."""
    case, (x, y) = case_and_state
    mu = case.params["mu"]
    rates = case.rhs(np.array([x, y]))
    expected = mu * (1 - x * x) * y * y
    magnitude = case.magnitude(np.array([x, y]))
    tol = gamma(10) * (abs(x) * magnitude[0] + abs(y) * magnitude[1] + mu * (1 + x * x) * y * y)
    assert abs(x * rates[0] + y * rates[1] - expected) <= tol


# --- symmetries ------------------------------------------------------------------------------


@given(with_state(LORENZ))
def test_lorenz_is_equivariant_under_the_half_turn_about_the_z_axis(case_and_state):
    case, u = case_and_state
    flip = np.array([-1.0, -1.0, 1.0])
    assert (case.rhs(flip * u) == flip * case.rhs(u)).all()  # negation is exact


@given(with_state(VANDERPOL))
def test_van_der_pol_is_odd(case_and_state):
    case, u = case_and_state
    assert (case.rhs(-u) == -case.rhs(u)).all()  # negation is exact


def reflect(u: np.ndarray) -> np.ndarray:
    """``u_j -> u_{-j mod m}``: ``x -> -x`` on the periodic grid ``x_j = j/m``."""
    return np.roll(u[::-1], 1)


@given(with_state(st.one_of(BURGERS, ALLENCAHN)), st.integers(0, 15))
@example(case_and_state=(EDGES[2], np.array([0.3, -1.0, 2.5])), shift=1)
@example(case_and_state=(EDGES[3], np.array([0.3, -1.0, 2.5])), shift=2)
def test_periodic_problems_commute_with_translation_and_reflection(case_and_state, shift):
    """Translation ``u -> S^k u`` for both; reflection ``x -> -x`` with ``u -> -u`` for Burgers
    (the flux ``u^2/2`` is even), ``u -> u`` (and separately ``u -> -u``) for Allen–Cahn."""
    case, u = case_and_state
    rates = case.rhs(u)
    tol = 2 * case.rounding(u)
    shifted = np.roll(u, shift)
    assert np.all(np.abs(case.rhs(shifted) - np.roll(rates, shift)) <= np.roll(tol, shift))
    if case.kind == "burgers":
        assert np.all(np.abs(case.rhs(-reflect(u)) + reflect(rates)) <= reflect(tol))
    else:
        assert np.all(np.abs(case.rhs(reflect(u)) - reflect(rates)) <= reflect(tol))
        assert np.all(np.abs(case.rhs(-u) + rates) <= tol)


@given(with_state(BRUSSELATOR))
@example(case_and_state=(EDGES[1], np.array([0.3, -1.0, 2.5, 0.75])))
def test_brusselator_is_symmetric_under_the_reflection_of_the_interval(case_and_state):
    """``x -> 1 - x`` (the same Dirichlet values at both ends) reverses each species."""
    case, w = case_and_state
    m = case.m

    def mirror(values):
        return np.concatenate([values[:m][::-1], values[m:][::-1]])

    tol = 2 * mirror(case.rounding(w))
    assert np.all(np.abs(case.rhs(mirror(w)) - mirror(case.rhs(w))) <= tol)


@pytest.mark.parametrize(
    ("builder", "m"), [(brusselator, 0), (burgers, 2), (allen_cahn, 2)], ids=["brusselator", "burgers", "allencahn"]
)
def test_sizes_below_the_stencil_are_refused(builder, m):
    with pytest.raises(InputError, match="m"):
        builder(m)


def test_the_periodic_second_differences_are_right_below_three_points():
    """The builders refuse ``m < 3``; their matrix is still the stencil there: the two
    neighbours of ``m = 2`` are the same point, and ``m = 1`` has nothing to diffuse."""
    from parareal_toolkit.ode.nonlinear_problems import _periodic_laplacian

    assert _periodic_laplacian(1).tolist() == [[0.0]]
    assert _periodic_laplacian(2).tolist() == [[-8.0, 8.0], [8.0, -8.0]]
    assert _periodic_laplacian(3).tolist() == [[-18.0, 9.0, 9.0], [9.0, -18.0, 9.0], [9.0, 9.0, -18.0]]
