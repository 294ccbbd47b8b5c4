"""
Van der Pol: a stiff problem needs an implicit coarse propagator
================================================================

The van der Pol oscillator ``x' = y``, ``y' = μ (1 - x^2) y - x`` with ``μ = 10`` over
``[0, 10]`` on ``N = 10`` slices, fine propagator the implicit trapezoidal rule with step
0.01 (Newton on the exact Jacobian). With ``μ = 10`` the slow phases have a Jacobian
eigenvalue near ``-μ (x^2 - 1) ≈ -30``: the explicit-Euler coarse propagator with step 0.1
is unstable there (``|1 + hλ| > 1``) and parareal's iterates leave every bound, while
implicit Euler with the same step (Newton with damping) converges superlinearly. The right
panel shows the solution and the boundaries of the slices.

The a-posteriori estimate printed by the driver (``fine_lipschitz``) is useless here: the
logarithmic norm of the Jacobian is large on the fast phases, so ``L`` is huge. On
dissipative problems (Allen–Cahn, Burgers, heat) it is within a factor of ten of the error.
"""

import matplotlib.pyplot as plt
import numpy as np

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import ExplicitEulerStepper, ImplicitEulerStepper, TrapezoidStepper, van_der_pol
from parareal_toolkit.plotting import semilogy_errors, show_or_save

COARSE_SUBSTEPS = 10  # per slice of length 1: the coarse step h = 0.1


def run(mu=10.0, t_final=10.0, slices=10, fine_substeps=100, coarse_substeps=COARSE_SUBSTEPS, u0=(2.0, 0.0)):
    """The fine solution and one parareal run per coarse stepper (explicit, implicit Euler).

    Returns
    -------
    tuple
        ``(problem, grid, reference, results)``, ``results`` a dict from the stepper's name
        to its :class:`~parareal_toolkit.PararealResult`.
    """
    problem = van_der_pol(mu, t_final=t_final, u0=u0)
    grid = TimeGrid.uniform(problem.t_final, slices)
    fine = TrapezoidStepper(problem.ode, grid, substeps=fine_substeps)
    reference = propagate_sequentially(fine, problem.u0)
    results = {}
    for kind in (ExplicitEulerStepper, ImplicitEulerStepper):
        coarse = kind(problem.ode, grid, substeps=coarse_substeps)
        with np.errstate(all="ignore"):  # the explicit run overflows: the driver reports it (result.finite)
            results[kind.name] = parareal(fine, coarse, problem.u0, reference=reference)
    return problem, grid, reference, results


problem, grid, reference, results = run()

# %%
# Two coarse propagators with the same step
# -----------------------------------------
# The error against the fine solution per iteration (``nan`` once an iterate is not finite):
coarse_step = grid.steps[0] / COARSE_SUBSTEPS
for name, result in results.items():
    status = "finite" if result.finite else f"non-finite at iteration {result.nonfinite_iteration}"
    print(f"{name:>15} ({status}): " + " ".join(f"{e:.1e}" for e in result.errors))

# %%
# The errors and the solution
# ---------------------------
# Left, the error per iteration of each run; right, the solution (a fine trapezoidal run on
# a dense grid) and the boundaries of the slices. The whole figure is drawn in this one
# block: the gallery saves and closes the open figures at the end of each block.
dense = TimeGrid.uniform(problem.t_final, 400)
path = np.array(propagate_sequentially(TrapezoidStepper(problem.ode, dense, substeps=3), problem.u0))
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
for name, result in results.items():
    errors = np.array(result.errors, dtype=float)
    semilogy_errors(left, range(len(errors)), errors, "o-", ms=3, label=f"coarse: {name}, h = {coarse_step:g}")
left.set_xlabel("iteration k")
left.set_ylabel("max error against the fine solution")
left.set_title(problem.description)
left.legend()
right.plot(dense.times, path[:, 0], lw=1)
for t in grid.times:
    right.axvline(t, color="grey", lw=0.5)
right.set_xlabel("t")
right.set_ylabel("x(t)")
right.set_title("the solution and the slices")
fig.tight_layout()
show_or_save(fig, "plot_van_der_pol_1")
