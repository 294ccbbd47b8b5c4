"""The MGRIT driver against the two-level theory: its error per mode is the propagator's action, under the bounds.

On ``u' = A u`` with diagonal ``A`` (random negative real and complex eigenvalues ``a``),
every component of the state is one mode: the fine step multiplies it by ``λ`` (exact,
``e^{δt a}``, or implicit Euler, ``1/(1 - δt a)``) and the coarse step by
``μ = 1/(1 - m δt a)`` (implicit Euler). The propagators below are those multiplications,
with the very floats ``λ`` and ``μ`` that the theory functions receive. The run starts from
``u0 = 0`` with random given C-point values, so the fine solution is exactly 0 and the
iterate at the C-points ``1..N_1`` IS the error ``e^k`` (no cancellation against a solution).

Checked for :func:`parareal_toolkit.mgrit` with two levels, F- and FCF-relaxation, mode by
mode and iteration by iteration:

* ``e^{k+1} = E e^k`` to round-off, ``E`` from
  :func:`~parareal_toolkit.ode.mgrit_error_propagator`;
* ``||e^{k+1}||_2 <= B ||e^k||_2`` for each rigorous bound ``B`` of
  ``parareal_toolkit.ode.mgrit_theory``: the exact factor ``||E||_2``
  (:func:`~parareal_toolkit.ode.mgrit_convergence_factor`), Dobrev et al.'s finite sum
  (:func:`~parareal_toolkit.ode.mgrit_dobrev_bound`) and, for ``|μ| < 1``, Southworth's
  (:func:`~parareal_toolkit.ode.mgrit_southworth_bound`);
* started from the top right singular vector of ``E``, one iteration attains ``||E||_2``
  (so the bound check above can fail).

Round-off (float64, ``u = EPS/2``, Higham's ``γ_n``; a complex product counts as 3 rounded
operations, its normwise relative error being at most ``√2 γ_2 < γ_3``; a complex sum as 1):

* the driver computes a C-point value of F-relaxation MGRIT by ``m`` fine products
  (``2m`` with FCF), then the coarse sweep ``w_c = a_c + (μ w_{c-1} - μ v_{c-1})``, one
  product and two sums per step: at most ``3·2m + 5 N_1`` roundings in a chain;
  ``mgrit_error_propagator``'s entry ``c μ^k`` carries ``3(k + 1) <= 3 N_1`` and the product
  ``E e`` adds ``3 + N_1``. Both computed values lie within ``γ_K`` (``K = 6m + 9 N_1 + 3``)
  of the exact ``E e`` times the same computation in absolute values;
* that absolute computation is a nonnegative matrix applied to ``|e|``, with 2-norm at most
  ``sqrt(||·||_1 ||·||_∞) <= S = max(1, |λ|^m) (|λ|^m + |μ|) Σ_{k<N_1} |μ|^k``
  (F: ``|a_c| + |μ| W_{c-1} + |μ| |v_{c-1}|`` with ``|a_c|, |v_c| <= |λ|^m |e_{c-1}|, |e_c|``;
  FCF multiplies by one more ``|λ|^m``); so ``||fl(e^{k+1}) - E e^k||_2 <= 2 γ_K S ||e^k||_2``;
* a computed 2-norm of ``N_1`` entries is within ``γ_{N_1 + 2}`` of the exact one, and the
  SVD returns ``σ(E + F)`` with ``||F|| <= p(n) u ||E||`` (LAPACK Users' Guide §4.9), taken
  here as ``p(n) = n^2`` with ``||E||_2 <= S``.

Every value stays in the normal range (``|z| <= 50``, at most ``N_1 <= 8`` powers of
factors ``>= 1/(1 + 50)`` per entry and ``<= 4`` iterations of such products), where the
model behind ``γ_n`` holds.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from rounding import EPS, gamma

from parareal_toolkit import mgrit
from parareal_toolkit.ode import (
    mgrit_convergence_factor,
    mgrit_dobrev_bound,
    mgrit_error_propagator,
    mgrit_southworth_bound,
)


class Multiply:
    """A propagator that multiplies the state by fixed factors, one per mode, on every slice."""

    def __init__(self, factors: np.ndarray, num_slices: int):
        self.factors = factors
        self.num_slices = num_slices

    def __call__(self, u, j):
        return self.factors * u


# z = ΔT a for the coarse step ΔT = 1: negative real, or complex with Re z <= 0 (advection-like
# included); |z| >= 1e-3 so that λ^m - μ stays well away from underflow over the iterations
NEGATIVE = st.floats(-50.0, -1e-3)
COMPLEX = st.builds(complex, st.floats(-50.0, 0.0), st.floats(1e-3, 50.0) | st.floats(-50.0, -1e-3))
EIGENVALUES = st.lists(st.one_of(NEGATIVE.map(complex), COMPLEX), min_size=1, max_size=4)


def steps(z: np.ndarray, m: int, fine: str) -> tuple[np.ndarray, np.ndarray]:
    """``(λ, μ)`` per mode: the fine step ``δt = ΔT / m`` (exact or implicit Euler) and one implicit-Euler coarse step."""
    lam = np.exp(z / m) if fine == "exact" else 1 / (1 - z / m)
    return lam, 1 / (1 - z)


def run(z, m, num_coarse, relax, fine, seed):
    """The two-level MGRIT run from ``u0 = 0`` and random C-point values, and ``(λ, μ)``.

    Returns
    -------
    tuple
        ``(errors, lam, mu)``: ``errors[k]`` is the ``(N_1, modes)`` array of C-point values
        ``1..N_1`` of iterate ``k`` (the error: the fine solution is 0).
    """
    z = np.array(z, dtype=complex)
    lam, mu = steps(z, m, fine)
    levels = [Multiply(lam, m * num_coarse), Multiply(mu, num_coarse)]
    rng = np.random.default_rng(seed)
    initial = rng.standard_normal((num_coarse, z.size)) + 1j * rng.standard_normal((num_coarse, z.size))
    return run_from(levels, initial, m, relax), lam, mu


def run_from(levels, initial, m, relax):
    """The C-point values ``1..N_1`` of every iterate of two-level MGRIT from ``u0 = 0`` and the given ``initial``."""
    result = mgrit(
        levels,
        np.zeros(initial.shape[1], dtype=complex),
        coarsening=m,
        relax=relax,
        initial=list(initial),
        backend="serial",
        monitor=False,
    )
    return [np.array(states[1:]) for states in result.iterates]


def scale(lam, mu, m, num_coarse):
    """``S``: the absolute-value computation's 2-norm gain per mode (module docstring)."""
    power, r = np.abs(lam) ** m, np.abs(mu)
    geometric = sum(r**k for k in range(num_coarse))
    return np.maximum(1.0, power) * (power + r) * geometric


SETUP = dict(
    z=EIGENVALUES,
    m=st.integers(2, 4),
    num_coarse=st.integers(2, 8),
    relax=st.sampled_from(["F", "FCF"]),
    fine=st.sampled_from(["exact", "implicit-euler"]),
    seed=st.integers(0, 2**16),
)


@given(**SETUP)
def test_driver_error_is_the_propagator_action_and_stays_under_every_bound(z, m, num_coarse, relax, fine, seed):
    errors, lam, mu = run(z, m, num_coarse, relax, fine, seed)
    assert len(errors) == 1 + (num_coarse if relax == "F" else math.ceil(num_coarse / 2))
    propagators = mgrit_error_propagator(lam, mu, m, num_coarse, relax)
    exact = np.atleast_1d(mgrit_convergence_factor(lam, mu, m, num_coarse, relax))
    dobrev = np.atleast_1d(mgrit_dobrev_bound(lam, mu, m, num_coarse, relax))
    southworth = np.atleast_1d(mgrit_southworth_bound(lam, mu, m, relax))
    s = scale(lam, mu, m, num_coarse)
    action = 2 * gamma(6 * m + 9 * num_coarse + 3) * s  # ||fl(e^{k+1}) - E e^k|| per unit ||e^k||
    svd = num_coarse**2 * EPS / 2 * s
    norm = gamma(num_coarse + 2)
    for before, after in zip(errors[:-1], errors[1:]):
        for i in range(len(z)):
            e, e_next = before[:, i], after[:, i]
            size, size_next = np.linalg.norm(e), np.linalg.norm(e_next)
            gap = np.linalg.norm(e_next - propagators[i] @ e)
            assert gap <= action[i] * size * (1 + norm), (i, gap, size)
            # the observed reduction never exceeds a rigorous bound, up to the derived round-off
            for name, bound in (("exact", exact[i] + svd[i]), ("dobrev", dobrev[i]), ("southworth", southworth[i])):
                assert size_next <= (bound + action[i]) * size * (1 + norm) ** 2, (name, i, size_next / size, bound)
    assert all(np.all(after == 0) for after in errors[-1:])  # the last iterate is exact: every C-point


@given(**SETUP)
def test_one_iteration_from_the_worst_error_attains_the_exact_factor(z, m, num_coarse, relax, fine, seed):
    lam, mu = steps(np.array(z, dtype=complex), m, fine)
    propagators = mgrit_error_propagator(lam, mu, m, num_coarse, relax)
    factors = np.atleast_1d(mgrit_convergence_factor(lam, mu, m, num_coarse, relax))
    # each mode starts from its top right singular vector (phase-randomised: any unit multiple attains)
    vectors = np.stack([np.linalg.svd(p)[2][0].conj() for p in propagators], axis=1)
    phase = np.exp(1j * np.random.default_rng(seed).uniform(0, 2 * np.pi, len(z)))
    levels = [Multiply(lam, m * num_coarse), Multiply(mu, num_coarse)]
    errors = run_from(levels, vectors * phase, m, relax)
    s = scale(lam, mu, m, num_coarse)
    slack = 2 * gamma(6 * m + 9 * num_coarse + 3) * s + 2 * num_coarse**2 * EPS / 2 * s + gamma(num_coarse + 2)
    observed = np.linalg.norm(errors[1], axis=0) / np.linalg.norm(errors[0], axis=0)
    assert np.all(np.abs(observed - factors) <= slack * (1 + factors)), (observed, factors)
