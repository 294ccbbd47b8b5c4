"""
Parareal on the heat equation, under its bounds
===============================================

Classical parareal on the 1-D heat equation ``u_t = u_xx`` (``m`` interior points,
Dirichlet boundaries, hat initial value) over ``[0, 0.1]`` cut into ``N = 10`` slices: the
fine propagator is exact (``expm(ΔT A)``), the coarse one is a single implicit-Euler step
``(I - ΔT A)^{-1}``.

The measured error at the slice boundaries is drawn against the Gander–Vandewalle bounds,
applied eigenmode by eigenmode: the *linear* bound contracts by at most
:func:`~parareal_toolkit.ode.heat_contraction_factor` (:value:`.4f parareal_toolkit.ode:heat_contraction_factor()`) per iteration whatever the
mesh, the *superlinear* one reaches zero at ``k = N``. The right panel shows the other fact
that defines parareal: after ``k`` iterations the first ``k + 1`` boundaries are exact.
"""

import os

import matplotlib.pyplot as plt

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import (
    ExactPropagator,
    ImplicitEulerPropagator,
    error_bounds,
    heat_1d,
    heat_contraction_factor,
)
from parareal_toolkit.plotting import plot_convergence, plot_error_over_time, semilogy_errors, show_or_save

QUICK = os.environ.get("PARAREAL_DOCS_QUICK", "0") not in ("", "0")

# %%
# The problem and the two propagators
# -----------------------------------
# ``TimeGrid`` holds the slice boundaries ``T_0 < ... < T_N``; each propagator caches one
# matrix exponential or LU factorisation per distinct slice length.


def run(m=50, slices=10, t_final=0.1):
    """Parareal (exact fine, one implicit-Euler coarse step) on ``heat_1d(m)``, and its two bounds.

    Returns
    -------
    tuple
        ``(problem, grid, result, bounds)``: ``bounds`` maps ``"linear"`` and ``"superlinear"``
        to one bound per iteration.
    """
    problem = heat_1d(m, t_final=t_final)
    grid = TimeGrid.uniform(problem.t_final, slices)
    fine = ExactPropagator(problem.ode, grid)
    coarse = ImplicitEulerPropagator(problem.ode, grid)
    reference = propagate_sequentially(fine, problem.u0)  # the sequential fine solution
    # No ``tol``: the run goes to K = N, where the standard form reproduces the fine solution
    # (``stop_reason="exact"``); ``converged`` says that, not that a tolerance was met.
    result = parareal(fine, coarse, problem.u0, reference=reference)
    initial_error = [u - r for u, r in zip(result.iterates[0], reference)]
    bounds = {
        kind: error_bounds(problem.ode, grid, initial_error, result.iterations, kind=kind)
        for kind in ("linear", "superlinear")
    }
    return problem, grid, result, bounds


problem, grid, result, bounds = run()
print(
    f"{problem.description}: converged={result.converged} ({result.stop_reason}) after {result.iterations} iterations"
)

# %%
# The bounds
# ----------
# :func:`~parareal_toolkit.ode.error_bounds` (called in ``run`` above) takes the initial
# error ``U^0_j - u(T_j)`` and returns one bound per iteration (the smaller of the two, mode
# by mode, with ``kind="best"``).
print(f"{'k':>2}  {'error':>9}  {'linear':>9}  {'superlinear':>11}  ratio")
for k, error in enumerate(result.errors):
    ratio = error / result.errors[k - 1] if k and result.errors[k - 1] > 0 else float("nan")
    print(f"{k:>2}  {error:9.2e}  {bounds['linear'][k]:9.2e}  {bounds['superlinear'][k]:11.2e}  {ratio:.3f}")
print(f"mesh-independent contraction factor of implicit Euler: {heat_contraction_factor():.4f}")

# %%
# Error per iteration, and exactness sweeping forward in time
# -----------------------------------------------------------
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
plot_convergence(result, bounds={f"{kind} bound": values for kind, values in bounds.items()}, ax=left)
left.set_title(f"{problem.description}, N = {grid.num_slices}")
plot_error_over_time(result, grid.times, ax=right)
right.set_title("error at T_j: the first k + 1 states are exact")
fig.tight_layout()
show_or_save(fig, "plot_heat_convergence_1")

# %%
# The bound does not depend on the mesh
# -------------------------------------
# Refining the mesh adds stiffer modes (``z = λ ΔT`` further out on the negative real
# axis), and the implicit-Euler factor ``((1 + x) e^{-x} - 1) / x`` stays below
# :value:`.4f parareal_toolkit.ode:heat_contraction_factor()` for
# every ``x = -z > 0``: the convergence per iteration does not degrade.
sizes = (25, 50, 100) if QUICK else (25, 50, 100, 200, 400)
fig, ax = plt.subplots(figsize=(6.4, 4.4))
# the curves coincide: open markers of decreasing size and different dashes keep each visible
styles = [("o-", 9), ("s--", 7), ("^:", 5), ("v-.", 4), ("D-", 2)]
for m, (fmt, size) in zip(sizes, styles):
    p = heat_1d(m)
    f, g = ExactPropagator(p.ode, grid), ImplicitEulerPropagator(p.ode, grid)
    r = parareal(f, g, p.u0, reference=propagate_sequentially(f, p.u0))
    semilogy_errors(ax, range(r.iterations + 1), r.errors, fmt, ms=size, mfc="none", label=f"m = {m}")
ax.set(
    xlabel="iteration k",
    ylabel="max error at slice boundaries",
    title="heat equation: the same contraction on every mesh",
)
ax.grid(True, which="both", alpha=0.3)
ax.legend()
show_or_save(fig, "plot_heat_convergence_2")
