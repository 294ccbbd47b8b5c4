"""
Burgers: a steepening front, and tol on the error estimate
==========================================================

Viscous Burgers ``u_t + (u^2/2)_x = ν u_xx`` on the periodic unit interval (64 points,
centred differences), ``u(0) = sin(2πx)``, over ``[0, 0.5]`` on ``N = 10`` slices: the
front at ``x = 1/2`` forms near ``t = 1/(2π)``. Fine propagator RK4 with step 0.0025,
coarse one implicit-Euler step per slice. The smaller the viscosity, the steeper the front
and the slower parareal converges.

The driver's a-posteriori estimate bounds the error against the fine solution (here ``L``
is the max-norm of the Jacobian of each RK4 slice map along the fine solution, by
:func:`~parareal_toolkit.ode.fine_lipschitz`: an estimate with a safety factor for a
nonlinear problem), so ``tol`` with ``criterion="estimate"`` stops when the *error* is below
``tol``; the increment criterion says nothing of the kind.
"""

import matplotlib.pyplot as plt
import numpy as np

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import ImplicitEulerStepper, RK4Stepper, burgers, fine_lipschitz
from parareal_toolkit.plotting import semilogy_errors, show_or_save


def run(viscosity, m=64, slices=10, fine_substeps=20, coarse_substeps=1, t_final=0.5, tol=1e-6):
    """Parareal on Burgers: RK4 fine, implicit-Euler coarse; a full run and one stopped by the estimate.

    Returns
    -------
    tuple
        ``(reference, lipschitz, result, stopped)``: the sequential fine solution, the
        estimated fine Lipschitz constant, the run to ``K = N`` and the run stopped at ``tol``
        on the a-posteriori estimate.
    """
    problem = burgers(m, viscosity=viscosity, t_final=t_final)
    grid = TimeGrid.uniform(problem.t_final, slices)
    fine = RK4Stepper(problem.ode, grid, substeps=fine_substeps)
    coarse = ImplicitEulerStepper(problem.ode, grid, substeps=coarse_substeps)
    reference = propagate_sequentially(fine, problem.u0)
    lipschitz = fine_lipschitz(fine, reference)  # of the RK4 slice maps themselves, along the fine solution
    result = parareal(fine, coarse, problem.u0, reference=reference, fine_lipschitz=lipschitz)
    stopped = parareal(
        fine, coarse, problem.u0, reference=reference, tol=tol, criterion="estimate", fine_lipschitz=lipschitz
    )
    return reference, lipschitz, result, stopped


fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
for viscosity in (0.05, 0.02, 0.01):
    reference, lipschitz, result, stopped = run(viscosity)
    errors = result.errors
    line = semilogy_errors(left, range(len(errors)), errors, "o-", ms=3, label=f"error, ν = {viscosity:g}")
    semilogy_errors(left, range(1, len(errors)), result.estimates, "--", color=line.get_color(), label="its estimate")
    print(
        f"ν = {viscosity:g}: L = {lipschitz:.3f}; tol 1e-6 on the estimate stops at K = {stopped.iterations} "
        f"with error {stopped.errors[-1]:.1e}"
    )
    right.plot(np.arange(64) / 64, reference[-1], label=f"u(0.5), ν = {viscosity:g}")
left.set_xlabel("iteration k")
left.set_ylabel("max error against the fine solution")
left.set_title("Burgers, N = 10: error and a-posteriori estimate")
left.legend(fontsize=8)
right.plot(np.arange(64) / 64, burgers(64).u0, "k:", label="u(0)")
right.set_xlabel("x")
right.legend(fontsize=8)
right.set_title("the front")
fig.tight_layout()
show_or_save(fig, "plot_burgers_1")
