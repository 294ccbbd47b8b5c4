r"""
Parareal on u' = λu, by hand and by the code
============================================

The scalar model problem ``u' = λu``, ``u(0) = 1``, on ``N`` slices of length ``ΔT``, with
``z = λΔT``. The exact fine propagator multiplies by ``F = e^z``, one implicit-Euler step by
``R = 1/(1 - z)``; write ``δ = F - R`` for the defect of the coarse propagator. The
parareal update ``U^{k+1}_{j+1} = R U^{k+1}_j + δ U^k_j`` unrolls to a truncated binomial
expansion of ``F^j = (R + δ)^j``:

.. math::

   U^0_j = R^j, \qquad
   U^1_j = R^j + j\,δ R^{j-1}, \qquad
   U^2_j = R^j + j\,δ R^{j-1} + \binom{j}{2} δ^2 R^{j-2},
   \qquad U^k_j = \sum_{i=0}^{k} \binom{j}{i} δ^i R^{j-i}.

This example evaluates those formulas with plain Python floats ("by hand"), runs
:func:`~parareal_toolkit.parareal` on :func:`~parareal_toolkit.ode.dahlquist`, prints both
side by side and checks that they agree to round-off. Then it compares the errors with the
contraction factor ``|δ| / (1 - |R|)`` and with
:func:`~parareal_toolkit.ode.error_bounds`. The course page :doc:`/course/dahlquist`
derives the formulas.
"""

import math

import matplotlib.pyplot as plt
import numpy as np

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import (
    ExactPropagator,
    ImplicitEulerPropagator,
    convergence_factor,
    dahlquist,
    error_bounds,
)
from parareal_toolkit.plotting import semilogy_errors, show_or_save

LAM, T_FINAL, N = -2.0, 2.0, 4  # ΔT = 0.5, z = -1

# %%
# By hand
# -------
# Three numbers define everything: ``F``, ``R`` and ``δ``.
dT = T_FINAL / N
z = LAM * dT
F = math.exp(z)
R = 1.0 / (1.0 - z)
delta = F - R
print(f"z = λΔT = {z:g}   F = e^z = {F:.10f}   R = 1/(1 - z) = {R:.10f}   δ = F - R = {delta:.10f}")


def by_hand(k, j, delta, R):
    """U^k_j = sum_{i <= k} C(j, i) δ^i R^(j - i): the first k + 1 terms of (R + δ)^j."""
    return sum(math.comb(j, i) * delta**i * R ** (j - i) for i in range(k + 1))


# %%
# By the code
# -----------
# The same problem through the toolkit: the exact propagator computes ``expm(ΔT A)`` of the
# 1x1 matrix ``A = [[λ]]`` and the implicit-Euler one solves ``(1 - ΔT λ) u_{new} = u``.
def run(lam=LAM, t_final=T_FINAL, n=N):
    """Parareal on ``u' = λu`` (exact fine, one implicit-Euler coarse step per slice) against the closed form.

    Returns
    -------
    tuple
        ``(grid, result, code, largest, bounds)``: the time grid, the run, its iterates
        ``code[k][j]`` as floats, the largest difference from :func:`by_hand` over all ``k``
        and ``j``, and :func:`~parareal_toolkit.ode.error_bounds` per iteration.
    """
    problem = dahlquist(lam, t_final=t_final)
    grid = TimeGrid.uniform(problem.t_final, n)
    fine = ExactPropagator(problem.ode, grid)
    coarse = ImplicitEulerPropagator(problem.ode, grid)
    reference = propagate_sequentially(fine, problem.u0)
    result = parareal(fine, coarse, problem.u0, reference=reference, store_iterates=True)
    code = [[float(state[0]) for state in iterate] for iterate in result.iterates]
    z_ = lam * t_final / n
    r_ = 1.0 / (1.0 - z_)
    hand = [[by_hand(k, j, math.exp(z_) - r_, r_) for j in range(n + 1)] for k in range(n + 1)]
    largest = max(abs(hand[k][j] - code[k][j]) for k in range(n + 1) for j in range(n + 1))
    initial_error = [u - r for u, r in zip(result.iterates[0], reference)]
    bounds = error_bounds(problem.ode, grid, initial_error, n)
    return grid, result, code, largest, bounds


grid, result, code, largest, bounds = run()
print(f"\n{'j':>2} {'T_j':>4} | {'U^1_j by hand':>14} {'by the code':>14} | {'U^2_j by hand':>14} {'by the code':>14}")
for j in range(N + 1):
    print(
        f"{j:>2} {grid.times[j]:>4g} | {by_hand(1, j, delta, R):>14.10f} {code[1][j]:>14.10f} "
        f"| {by_hand(2, j, delta, R):>14.10f} {code[2][j]:>14.10f}"
    )
print(f"largest difference over all k and j: {largest:.1e}")
assert largest < 1e-14, "the closed form and the driver disagree"

# %%
# Errors and the contraction factor
# ---------------------------------
# The error ``e^k_j = U^k_j - F^j`` is minus the tail ``Σ_{i > k} C(j, i) δ^i R^{j-i}``: it is
# zero at slices ``j <= k`` (the first ``k + 1`` states are exact) and after ``k = N``
# iterations everywhere. The linear bound multiplies the largest error by at most
# ``ρ = |δ| / (1 - |R|)`` per iteration (:func:`~parareal_toolkit.ode.convergence_factor`);
# :func:`~parareal_toolkit.ode.error_bounds` takes, per iteration, the smaller of that
# and the superlinear bound ``|δ|^k C(N - 1, k)``.
rho = abs(delta) / (1.0 - abs(R))
assert math.isclose(rho, convergence_factor(z), rel_tol=1e-14)
e0 = result.errors[0]  # max_j |e^0_j|
print(f"\nρ = |δ| / (1 - |R|) = {rho:.6f} (convergence_factor(z) = {convergence_factor(z):.6f})")
print(f"{'k':>2} {'max_j |e^k_j|':>14} {'ρ^k max|e^0|':>14} {'error_bounds':>14} {'ratio e^k/e^(k-1)':>18}")
for k, error in enumerate(result.errors):
    ratio = f"{error / result.errors[k - 1]:.4f}" if k and result.errors[k - 1] > 0 else "-"
    print(f"{k:>2} {error:>14.3e} {rho**k * e0:>14.3e} {bounds[k]:>14.3e} {ratio:>18}")
    assert error <= bounds[k] * (1 + 1e-12) + 1e-300

# %%
# The iterates and their errors
# -----------------------------
# Left: the exact solution ``e^{λt}``, the coarse sweep ``U^0`` and the first two
# iterates. Right: the errors under the two bounds; the error of ``U^N``, zero up to
# round-off, is not drawn.
t = np.linspace(0.0, T_FINAL, 200)
fig, (ax_u, ax_e) = plt.subplots(1, 2, figsize=(12, 4.5))
ax_u.plot(t, np.exp(LAM * t), color="black", lw=1, label="exact $e^{\\lambda t}$")
for k, marker in zip(range(3), "osd"):
    ax_u.plot(grid.times, code[k], marker=marker, ls="--", label=f"$U^{k}_j$")
ax_u.set(xlabel="t", ylabel="u", title=f"iterates at the slice ends (λ = {LAM:g}, N = {N})")
ax_u.legend()
ks = np.arange(N)
semilogy_errors(ax_e, ks, result.errors[:N], "o-", label="measured $\\max_j |e^k_j|$")
semilogy_errors(ax_e, ks, rho**ks * e0, "s--", label=f"linear bound $\\rho^k \\max|e^0|$, ρ = {rho:.3f}")
semilogy_errors(ax_e, ks, bounds[:N], "d:", label="error_bounds (best of linear and superlinear)")
ax_e.set(xlabel="iteration k", ylabel="error", title="error per iteration under the bounds", xticks=ks)
ax_e.legend()
fig.tight_layout()
show_or_save(fig, "plot_dahlquist_by_hand_1")
