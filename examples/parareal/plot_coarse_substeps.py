"""
Choosing the coarse propagator: 1 to M implicit-Euler substeps
==============================================================

A better coarse propagator needs fewer iterations but costs more per sequential sweep, and
the sequential coarse sweeps are what limits parareal's speedup. Here the coarse
propagator takes ``M`` implicit-Euler substeps per slice, ``R(z) = (1 - z/M)^{-M}``, on the
heat equation with an exact fine propagator.

Three views of the trade-off: the error per iteration for each ``M``; the measured
contraction per iteration beside the theoretical mesh-independent factor
:func:`~parareal_toolkit.ode.heat_contraction_factor` ``(M)``; and the cost model's speedup
when the coarse cost grows like ``M`` (:func:`~parareal_toolkit.ode.speedup`).
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, heat_1d, heat_contraction_factor, speedup
from parareal_toolkit.plotting import semilogy_errors, show_or_save

QUICK = os.environ.get("PARAREAL_DOCS_QUICK", "0") not in ("", "0")
SUBSTEPS = (1, 2, 4, 8) if QUICK else (1, 2, 3, 4, 6, 8, 12, 16)
TOL = 1e-8


def run(m=100 if QUICK else 200, slices=20, substeps=SUBSTEPS, iterations=12, diffusivity=1.0):
    """Parareal on ``heat_1d(m)`` (exact fine) with ``M`` implicit-Euler coarse substeps, each ``M``.

    Returns
    -------
    tuple
        ``(problem, grid, results)``: ``results`` maps ``M`` to its
        :class:`~parareal_toolkit.PararealResult` (errors against the fine solution).
    """
    problem = heat_1d(m, diffusivity=diffusivity)
    grid = TimeGrid.uniform(problem.t_final, slices)
    fine = ExactPropagator(problem.ode, grid)
    reference = propagate_sequentially(fine, problem.u0)
    results = {}
    for substeps_m in substeps:
        coarse = ImplicitEulerPropagator(problem.ode, grid, substeps=substeps_m)
        results[substeps_m] = parareal(fine, coarse, problem.u0, reference=reference, iterations=iterations)
    return problem, grid, results


def contraction(result):
    """The geometric mean of ``e^{k+1} / e^k`` over the first five iterations.

    Returns
    -------
    float
        The measured contraction per iteration.
    """
    errors = np.array(result.errors)
    return float(np.exp(np.mean(np.log(errors[1:6] / errors[0:5]))))


problem, grid, results = run()

# %%
# Iterations to reach a tolerance, and the contraction per iteration
# ------------------------------------------------------------------
# The measured contraction is the geometric mean of ``e^{k+1} / e^k`` over the first five
# iterations (before the superlinear, finite-``N`` regime takes over).
print(f"{'M':>3}  {'iters to 1e-8':>13}  {'measured':>8}  {'theory sup':>10}")
measured, theory, needed = [], [], []
for m, r in results.items():
    errors = np.array(r.errors)
    k_tol = int(np.argmax(errors <= TOL)) if np.any(errors <= TOL) else None
    rate = contraction(r)
    measured.append(rate)
    theory.append(heat_contraction_factor(m))
    needed.append(k_tol)
    print(f"{m:>3}  {k_tol!s:>13}  {rate:8.4f}  {theory[-1]:10.4f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
colours = plt.colormaps["viridis"](np.linspace(0, 0.9, len(SUBSTEPS)))
for colour, (m, r) in zip(colours, results.items()):
    semilogy_errors(left, range(r.iterations + 1), r.errors, "o-", ms=3, color=colour, label=f"M = {m}")
left.axhline(TOL, color="grey", ls=":", label="tolerance 1e-8")
left.set(
    xlabel="iteration k", ylabel="max error at slice boundaries", title=f"{problem.description}, N = {grid.num_slices}"
)
left.grid(True, which="both", alpha=0.3)
left.legend(ncol=2, fontsize="small")

right.plot(SUBSTEPS, theory, "s--", label="sup over the negative real axis (bound)")
right.plot(SUBSTEPS, measured, "o-", label="measured (geometric mean, k = 1..5)")
right.set(
    xlabel="coarse substeps M",
    ylabel="contraction per iteration",
    xscale="log",
    title="more substeps, faster contraction",
)
right.set_xticks(SUBSTEPS, [str(m) for m in SUBSTEPS])
right.xaxis.set_minor_formatter("")  # no 3x10^0 between the substep counts
right.grid(True, alpha=0.3)
right.legend()
fig.tight_layout()
show_or_save(fig, "plot_coarse_substeps_1")

# %%
# What it buys in the cost model
# ------------------------------
# If one coarse substep costs ``α_1`` of a fine slice, ``M`` substeps cost ``α = M α_1``.
# With ``N`` workers and the ``K`` iterations needed for the tolerance, the model speedup
# ``1 / ((K + 1) α + K / N)`` first rises (fewer iterations), then falls (dearer sweeps).
fig, ax = plt.subplots(figsize=(6.4, 4.4))
for alpha_1 in (0.002, 0.01, 0.05):
    model = [speedup(alpha_1 * m, grid.num_slices, k) if k else np.nan for m, k in zip(SUBSTEPS, needed)]
    ax.plot(SUBSTEPS, model, "o-", label=f"α per substep = {alpha_1}")
ax.set(
    xlabel="coarse substeps M",
    ylabel="model speedup over the sequential fine solve",
    xscale="log",
    title=f"speedup at tolerance {TOL:g}, N = {grid.num_slices} workers",
)
ax.set_xticks(SUBSTEPS, [str(m) for m in SUBSTEPS])
ax.xaxis.set_minor_formatter("")
ax.grid(True, alpha=0.3)
ax.legend()
show_or_save(fig, "plot_coarse_substeps_2")
