"""
Lorenz: chaos and the loss of convergence over long times
=========================================================

Parareal on the Lorenz system (σ = 10, ρ = 28, β = 8/3), chaotic with largest Lyapunov
exponent about 0.9: two nearby trajectories separate like ``e^{0.9 t}``. Fine propagator:
RK4 with step 0.01; coarse: RK4 with step 0.025, on ``N = 20`` slices of
``[0, T]``. (RK4 loses stability on the attractor between steps 0.05 and 0.1: at 0.1 the
coarse sweep overflows. The coarse step keeps a factor two to spare below 0.05, so the
figure does not hang on the last stable step; ``tests/test_examples_margin.py`` checks the
claims below at twice both steps too.) On a short interval the coarse correction works and
the error falls superlinearly; as ``T`` grows the error stays at the size of the attractor
for more and more iterations, until parareal needs more than half of the ``N`` iterations
(no speedup possible), after which the first ``k`` slices are exact by construction.
"""

import math

import matplotlib.pyplot as plt

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import RK4Stepper, lorenz
from parareal_toolkit.plotting import semilogy_errors, show_or_save

N = 20


def run(t_final, slices=N, fine_step=0.01, coarse_step=0.025, u0=None):
    """Parareal with RK4 fine and coarse propagators of about the given steps on ``[0, t_final]``.

    Returns
    -------
    tuple
        ``(result, needed)``: the :class:`~parareal_toolkit.PararealResult` (errors against the
        sequential fine solution) and the first iteration with error at most 1e-6 (None if none).
    """
    problem = lorenz(t_final=t_final, u0=u0)
    grid = TimeGrid.uniform(t_final, slices)
    dt = t_final / slices
    fine = RK4Stepper(problem.ode, grid, substeps=math.ceil(dt / fine_step - 1e-9))
    coarse = RK4Stepper(problem.ode, grid, substeps=math.ceil(dt / coarse_step - 1e-9))
    reference = propagate_sequentially(fine, problem.u0)
    result = parareal(fine, coarse, problem.u0, reference=reference)
    needed = next((k for k, e in enumerate(result.errors) if e <= 1e-6), None)
    return result, needed


# %%
# Error per iteration for growing final times
# -------------------------------------------
# Each run reports the max-abs error at the slice boundaries against the sequential fine
# solution; ``K`` needed is the first iteration with error at most 1e-6.
fig, ax = plt.subplots(figsize=(7, 4.5))
for t_final in (2.0, 5.0, 10.0, 20.0, 40.0):
    result, needed = run(t_final)
    errors = result.errors  # K = N is exact: its 0 is a marker on the axis floor
    print(f"T = {t_final:4g}: K needed for error <= 1e-6: {needed} of N = {N}")
    semilogy_errors(ax, range(len(errors)), errors, "o-", ms=3, label=f"T = {t_final:g} (K = {needed})")
ax.axhline(1e-6, color="grey", lw=0.8, ls=":")
ax.set_xlabel("iteration k")
ax.set_ylabel("max error against the fine solution")
ax.set_title(f"Parareal on Lorenz, N = {N} slices: convergence is lost as T grows")
ax.legend()
fig.tight_layout()
show_or_save(fig, "plot_lorenz_1")
