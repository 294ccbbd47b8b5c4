"""
MGRIT on the heat equation: two and three levels, F- and FCF-relaxation
========================================================================

:func:`~parareal_toolkit.mgrit` on the 1-D heat equation ``u_t = u_xx`` with implicit Euler
on every level (:func:`~parareal_toolkit.ode.time_hierarchy`): ``N_0`` fine steps,
coarsened by ``m = 4`` per level. Two levels with F-relaxation are parareal
(:doc:`/concepts/parareal_mgrit`); FCF-relaxation adds a C-relaxation and a second
F-relaxation to every iteration; a third level replaces the exact sequential coarse solve by
a recursive one (a V-cycle), which is cheaper and converges more slowly.

The error is measured at the level-0 C-points against the sequential fine solution (the
solution of the fine all-at-once system, which MGRIT reproduces exactly after ``N_1``
iterations with F-relaxation and ``ceil(N_1 / 2)`` with FCF).
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from parareal_toolkit import mgrit, propagate_sequentially
from parareal_toolkit.ode import heat_1d, time_hierarchy
from parareal_toolkit.plotting import semilogy_errors, show_or_save

QUICK = os.environ.get("PARAREAL_DOCS_QUICK", "0") not in ("", "0")
POINTS = 32 if QUICK else 64
STEPS = 128 if QUICK else 256
COARSENING = 4
TOL = 1e-8  # relative to the initial iterate's error
MAX_ITERATIONS = 20
RUNS = ((2, "F"), (2, "FCF"), (3, "F"), (3, "FCF"))

# %%
# The numerical core
# ------------------
# ``run`` builds the hierarchy, computes the sequential fine solution and runs MGRIT for each
# number of levels and relaxation; a callback records the fine-level propagator calls after
# every iteration, so the errors can also be drawn against the work.


def run(points=POINTS, steps=STEPS, coarsening=COARSENING, t_final=0.1, diffusivity=1.0):
    """MGRIT (V-cycles, implicit Euler on every level) on ``heat_1d(points)``, for every entry of ``RUNS``.

    Returns
    -------
    tuple
        ``(problem, results, calls)``: ``results[(levels, relax)]`` is the
        :class:`~parareal_toolkit.MGRITResult` of ``MAX_ITERATIONS`` iterations (fewer where
        the run is exact before) with the errors at the level-0 C-points against the
        sequential fine solution, and ``calls[(levels, relax)]`` the fine-level propagator
        calls after each iteration ``k = 0, 1, ...``.
    """
    problem = heat_1d(points, t_final=t_final, diffusivity=diffusivity)
    results, calls = {}, {}
    for num_levels, relax in RUNS:
        levels = time_hierarchy(problem, steps, coarsening=coarsening, num_levels=num_levels)
        fine = propagate_sequentially(levels[0], problem.u0)  # the sequential fine solution
        n1, counts = steps // coarsening, []
        exact = n1 if relax == "F" else -(-n1 // 2)  # every C-point exact after these iterations
        results[num_levels, relax] = mgrit(
            levels,
            problem.u0,
            coarsening=coarsening,
            relax=relax,
            iterations=min(MAX_ITERATIONS, exact),
            reference=fine[::coarsening],
            callback=lambda info, counts=counts: counts.append(info.fine_evaluations),
        )
        calls[num_levels, relax] = counts
    return problem, results, calls


def iterations_to_tol(result, tol=TOL):
    """The first iteration whose error is at most ``tol`` times the initial iterate's (None if none).

    Returns
    -------
    int or None
        ``k``.
    """
    errors = np.array(result.errors)
    below = np.flatnonzero(errors <= tol * errors[0])
    return int(below[0]) if below.size else None


problem, results, calls = run()
print(f"{problem.description}, N_0 = {STEPS} fine steps, coarsening m = {COARSENING}")
print(f"{'levels':>6} {'relax':>5} {'K to 1e-8':>10} {'fine calls':>10} {'error K=1':>10} {'K=2':>9} {'K=4':>9}")
for (num_levels, relax), result in results.items():
    k = iterations_to_tol(result)
    e = np.array(result.errors) / result.errors[0]
    print(
        f"{num_levels:>6} {relax:>5} {k:>10} {calls[num_levels, relax][k]:>10} {e[1]:>10.2e} {e[2]:>9.2e} {e[4]:>9.2e}"
    )

# %%
# Error against iteration, and against work
# -----------------------------------------
# FCF-relaxation divides the error by more per iteration than F-relaxation, at twice the
# fine-level calls per iteration: counted in fine-level calls, two-level F-relaxation
# (parareal) reaches the tolerance first. A third level costs F-relaxation iterations (FCF
# hardly any) but replaces the sequential coarse solve of ``N_1`` steps by one of
# ``N_2 = N_1 / m`` steps.
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
styles = {"F": "o-", "FCF": "s--"}
for (num_levels, relax), result in results.items():
    errors = np.array(result.errors) / result.errors[0]
    label = f"{num_levels} levels, {relax}"
    line = semilogy_errors(left, np.arange(errors.size), errors, styles[relax], ms=3, label=label)
    semilogy_errors(right, calls[num_levels, relax], errors, styles[relax], ms=3, color=line.get_color(), label=label)
for ax in (left, right):
    ax.axhline(TOL, color="grey", lw=0.8, ls=":")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_ylabel("error / initial error at the C-points")
    ax.legend(fontsize="small")
left.set(xlabel="iteration k", title=f"heat equation, N_0 = {STEPS}, m = {COARSENING}")
right.set(xlabel="fine-level propagator calls", title="the same errors against the fine work")
fig.tight_layout()
show_or_save(fig, "plot_mgrit_heat_1")
