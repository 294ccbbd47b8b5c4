"""The linear catalogue checked by its own physics, for every size (hypothesis, float64).

``heat1d``/``heat2d`` (Dirichlet second differences) from ``m = 1``, ``advection``
(periodic centred differences) from ``m = 3``, the damped oscillator for every
``(ω, ζ)``: the stencil on the padded grid, exact discrete eigenpairs, symmetry,
decay or conservation, and the symmetries of the grid, several of them bitwise (the
matrices are built from exact ``±1`` patterns times one rounded scale).

Tolerances come from the arithmetic: a matrix–vector product of length ``n`` is within
``γ_n |A| |u|`` (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.5), with
``γ_n = n u / (1 - n u)``, ``u = eps / 2``. The sines of an eigenvector are taken within
``4`` ulps (numpy's float64 ``sin``) of the sine of the rounded argument, itself within
``3 eps |θ|`` of the exact one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rounding import EPS, gamma, reals

from parareal_toolkit.ode import advection_periodic, damped_oscillator, heat_1d, heat_2d


def sine_error(argument: np.ndarray) -> np.ndarray:
    """A bound on ``|fl(sin(fl(θ))) - sin(θ)|`` for an argument computed in three operations."""
    return EPS * (3 * np.abs(argument) + 4)


def eigen_residual_tolerance(A: np.ndarray, vector, vector_error, eigenvalue, eigenvalue_error) -> np.ndarray:
    """Componentwise bound on ``|fl(A v) - λ v|`` when ``v`` and ``λ`` are computed within errors."""
    absolute = np.abs(A)
    return (
        absolute @ vector_error
        + abs(eigenvalue) * vector_error
        + eigenvalue_error * np.abs(vector)
        + gamma(A.shape[0] + 4) * (absolute @ np.abs(vector) + abs(eigenvalue) * np.abs(vector))
    )


SIZES = st.integers(1, 14)
DIFFUSIVITY = st.floats(1e-3, 1e3)


def vectors(size: int, bound: float = 3.0) -> st.SearchStrategy[np.ndarray]:
    return st.lists(reals(-bound, bound), min_size=size, max_size=size).map(np.array)


# --- heat ------------------------------------------------------------------------------------


def first_eigenvalue(m: int, kappa: float, k: int = 1) -> float:
    """``λ_k = -4κ/h^2 sin^2(kπh/2)``, ``h = 1/(m+1)``: the decay rate of the ``k``-th sine."""
    return -4 * kappa * (m + 1) ** 2 * math.sin(k * math.pi / (2 * (m + 1))) ** 2


@given(SIZES, DIFFUSIVITY, st.data())
@example(m=1, kappa=1.0, data=None)
@example(m=2, kappa=3.0, data=None)
def test_heat_1d_is_the_dirichlet_stencil_symmetric_and_reflection_invariant(m, kappa, data):
    problem = heat_1d(m, diffusivity=kappa)
    A = problem.ode.A
    assert (heat_1d(m, diffusivity=kappa, sparse=True).ode.A.toarray() == A).all()
    assert (A == A.T).all()  # symmetric, bitwise
    assert (A[::-1, ::-1] == A).all()  # x -> 1 - x, bitwise
    u = data.draw(vectors(m)) if data is not None else np.linspace(-1.0, 2.0, m)
    padded = np.concatenate([[0.0], u, [0.0]])  # u = 0 at x = 0 and x = 1
    stencil = kappa * (m + 1) ** 2 * (padded[:-2] - 2 * u + padded[2:])
    tol = 2 * gamma(m + 4) * np.abs(A) @ np.abs(u)
    assert np.all(np.abs(problem.ode.rhs(0.0, u) - stencil) <= tol)


@given(SIZES, DIFFUSIVITY, st.data())
@example(m=1, kappa=1.0, data=None)
def test_heat_1d_sine_modes_decay_at_their_discrete_rates(m, kappa, data):
    """``A sin(kπx) = λ_k sin(kπx)`` on the grid, ``k = 1..m``, ``λ_k`` above."""
    A = heat_1d(m, diffusivity=kappa).ode.A
    k = data.draw(st.integers(1, m)) if data is not None else 1
    argument = k * np.pi * (np.arange(1, m + 1) / (m + 1))
    mode = np.sin(argument)
    eigenvalue = first_eigenvalue(m, kappa, k)
    tol = eigen_residual_tolerance(A, mode, sine_error(argument), eigenvalue, 20 * EPS * abs(eigenvalue))
    assert np.all(np.abs(A @ mode - eigenvalue * mode) <= tol)


@given(SIZES, DIFFUSIVITY, st.data())
@example(m=1, kappa=1.0, data=None)
def test_heat_decays_the_norm_at_least_at_the_first_mode_s_rate(m, kappa, data):
    """``A`` symmetric negative definite: ``u·Au <= λ_1 |u|^2 < 0`` (``2λ_1`` in 2-D), so
    ``|u(t)| <= e^{λ_1 t} |u(0)|`` and zero is the only steady state."""
    for problem, rate, size in [
        (heat_1d(m, diffusivity=kappa), first_eigenvalue(m, kappa), m),
        (heat_2d(min(m, 6), diffusivity=kappa), 2 * first_eigenvalue(min(m, 6), kappa), min(m, 6) ** 2),
    ]:
        A = problem.ode.A
        u = data.draw(vectors(size)) if data is not None else np.ones(size)
        quadratic = u @ problem.ode.rhs(0.0, u)
        tol = 2 * gamma(size + 4) * np.abs(u) @ np.abs(A) @ np.abs(u) + 20 * EPS * abs(rate) * (u @ u)
        assert quadratic <= rate * (u @ u) + tol


@given(st.integers(1, 6), DIFFUSIVITY, st.data())
@example(m=1, kappa=1.0, data=None)
def test_heat_2d_is_the_five_point_stencil_with_the_square_s_symmetries(m, kappa, data):
    """Row-major ``u[i, j]`` at ``(x_i, y_j)``; invariant under ``x -> 1-x``, ``y -> 1-y`` and
    ``x <-> y`` (bitwise); product sines are eigenvectors with ``λ_k + λ_l``."""
    problem = heat_2d(m, diffusivity=kappa)
    A = problem.ode.A
    assert (heat_2d(m, diffusivity=kappa, sparse=True).ode.A.toarray() == A).all()
    assert (A == A.T).all()
    index = np.arange(m * m).reshape(m, m)
    for permutation in (index[::-1, :], index[:, ::-1], index.T):
        p = permutation.ravel()
        assert (A[np.ix_(p, p)] == A).all()
    u = data.draw(vectors(m * m)) if data is not None else np.linspace(-1.0, 2.0, m * m)
    padded = np.pad(u.reshape(m, m), 1)  # zero on the boundary of the square
    centre = padded[1:-1, 1:-1]
    stencil = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:] - 4 * centre
    stencil = (kappa * (m + 1) ** 2 * stencil).ravel()
    tol = 2 * gamma(m * m + 6) * np.abs(A) @ np.abs(u)
    assert np.all(np.abs(problem.ode.rhs(0.0, u) - stencil) <= tol)
    k = data.draw(st.integers(1, m)) if data is not None else 1
    l = data.draw(st.integers(1, m)) if data is not None else 1
    x = np.arange(1, m + 1) / (m + 1)
    first, second = np.sin(k * np.pi * x), np.sin(l * np.pi * x)
    mode = np.outer(first, second).ravel()
    error = np.outer(sine_error(k * np.pi * x), np.abs(second)) + np.outer(np.abs(first), sine_error(l * np.pi * x))
    error = error.ravel() + EPS * np.abs(mode)
    eigenvalue = first_eigenvalue(m, kappa, k) + first_eigenvalue(m, kappa, l)
    tol = eigen_residual_tolerance(A, mode, error, eigenvalue, 40 * EPS * abs(eigenvalue))
    assert np.all(np.abs(A @ mode - eigenvalue * mode) <= tol)


# --- advection -------------------------------------------------------------------------------


@given(st.integers(3, 16), reals(-10.0, 10.0), st.data())
@example(m=3, speed=1.0, data=None)
def test_advection_is_skew_conservative_and_translation_invariant(m, speed, data):
    """Centred, not upwind: ``A = -A^T`` and ``1^T A = 0`` (bitwise), so ``Σ u`` and ``|u|^2``
    are conserved; ``A`` commutes with the cyclic shift, and ``x -> -x`` turns ``c`` into ``-c``."""
    A = advection_periodic(m, speed=speed).ode.A
    assert (advection_periodic(m, speed=speed, sparse=True).ode.A.toarray() == A).all()
    assert (A == -A.T).all()
    assert (A.sum(axis=0) == 0).all()
    shift = np.roll(np.arange(m), 1)
    assert (A[np.ix_(shift, shift)] == A).all()
    reflection = np.roll(np.arange(m)[::-1], 1)  # j -> -j mod m
    assert (A[np.ix_(reflection, reflection)] == advection_periodic(m, speed=-speed).ode.A).all()
    u = data.draw(vectors(m)) if data is not None else np.linspace(-1.0, 2.0, m)
    rates = advection_periodic(m, speed=speed).ode.rhs(0.0, u)
    stencil = -speed * m / 2 * (np.roll(u, -1) - np.roll(u, 1))  # -c (u_{j+1} - u_{j-1}) / (2h)
    bound = np.abs(A) @ np.abs(u)
    assert np.all(np.abs(rates - stencil) <= 2 * gamma(m + 4) * bound)
    assert abs(rates.sum()) <= gamma(2 * m + 4) * bound.sum()
    assert abs(u @ rates) <= gamma(2 * m + 4) * np.abs(u) @ bound


@given(st.integers(3, 16), reals(-10.0, 10.0), st.data())
@example(m=3, speed=1.0, data=None)
def test_advection_fourier_modes_follow_the_centred_dispersion_relation(m, speed, data):
    """With ``θ = 2πk/m``: ``A sin(θj) = -c m sin θ cos(θj)`` and ``A cos(θj) = c m sin θ sin(θj)``:
    the mode travels at ``c sin(θ)/θ``, not ``c`` (and the saw-tooth ``k = m/2`` stands still)."""
    A = advection_periodic(m, speed=speed).ode.A
    k = data.draw(st.integers(0, m - 1)) if data is not None else 1
    argument = 2 * np.pi * k * np.arange(m) / m
    sine, cosine = np.sin(argument), np.cos(argument)
    error = sine_error(argument)
    frequency = speed * m * math.sin(2 * math.pi * k / m)
    frequency_error = 8 * EPS * abs(speed) * m
    tol = np.abs(A) @ error + abs(frequency) * error + frequency_error + gamma(m + 4) * np.abs(A) @ np.ones(m)
    tol += gamma(m + 4) * abs(frequency)
    assert np.all(np.abs(A @ sine + frequency * cosine) <= tol)
    assert np.all(np.abs(A @ cosine - frequency * sine) <= tol)


# --- the damped oscillator -------------------------------------------------------------------


@given(st.floats(0.01, 100.0), reals(0.0, 3.0))
@example(omega=1.0, zeta=0.0)
def test_oscillator_energy_decays_by_its_damping(omega, zeta):
    """``E = (ω^2 x^2 + x'^2)/2`` with ``W = diag(ω^2, 1)``: ``W A + A^T W = diag(0, -4ζω)``
    (bitwise), so ``E' = -2ζω x'^2 <= 0``; trace ``-2ζω`` and determinant ``ω^2`` give the
    eigenvalues ``ω(-ζ ± i sqrt(1 - ζ^2))``."""
    A = damped_oscillator(frequency=omega, damping=zeta).ode.A
    W = np.diag([-A[1, 0], 1.0])
    rate = W @ A + (W @ A).T
    assert (rate == np.diag([0.0, 2 * A[1, 1]])).all()
    assert A[1, 1] == -2.0 * zeta * omega and A[1, 1] <= 0
    assert A[1, 0] == -(omega**2) and A[0, 0] == 0 and A[0, 1] == 1
    assert abs(np.linalg.det(A) - omega**2) <= 8 * EPS * omega**2


@given(st.floats(0.01, 100.0), reals(0.0, 3.0))
@example(omega=1.0, zeta=0.0)
@example(omega=2.0, zeta=0.0)
@example(omega=1.0, zeta=0.1)
def test_oscillator_is_non_normal_except_the_unit_rotation(omega, zeta):
    """``A A^T - A^T A = [[1 - ω^4, -2ζω(1 + ω^2)], [-2ζω(1 + ω^2), ω^4 - 1]]``: normal only for
    ``ω = 1``, ``ζ = 0`` (a rotation)."""
    problem = damped_oscillator(frequency=omega, damping=zeta)
    A = problem.ode.A
    off = -2 * zeta * omega * (1 + omega**2)
    expected = np.array([[1 - omega**4, off], [off, omega**4 - 1]])
    commutator = A @ A.T - A.T @ A
    assert np.all(np.abs(commutator - expected) <= 16 * EPS * (1 + omega**4 + abs(off)))
    clear = np.linalg.norm(expected) > 1e-6 * np.linalg.norm(A) ** 2  # far from the is_normal threshold
    if clear:
        assert not problem.ode.is_normal()
    if omega == 1.0 and zeta == 0.0:
        assert problem.ode.is_normal()


@pytest.mark.parametrize(("builder", "m"), [(heat_1d, 0), (heat_2d, 0), (advection_periodic, 2)])
def test_sizes_below_the_stencil_are_refused(builder, m):
    from parareal_toolkit.errors import InputError

    with pytest.raises(InputError, match="m"):
        builder(m)
