r"""
Advection: where parareal loses its contraction
===============================================

Periodic advection ``u_t + u_x = 0`` with centred differences has a skew-symmetric matrix:
its eigenvalues are purely imaginary, ``|e^z| = 1`` for every mode, and implicit Euler
damps them (``|R(iy)| = 1/\sqrt{1 + y^2}``). The linear Gander–Vandewalle factor then
exceeds 1 for every mode: nothing guarantees a decrease per iteration, and only the
finite-``N`` (superlinear) bound, which reaches zero at ``k = N``, remains.

The same driver and the same propagators as for the heat equation; only ``A`` changes.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import (
    ExactPropagator,
    ImplicitEulerPropagator,
    advection_periodic,
    convergence_factor,
    error_bounds,
    heat_1d,
    heat_contraction_factor,
    modal_decomposition,
)
from parareal_toolkit.plotting import semilogy_errors, show_or_save

QUICK = os.environ.get("PARAREAL_DOCS_QUICK", "0") not in ("", "0")
N = 16 if QUICK else 32


def run(problem, slices=N):
    """Parareal with the exact fine and one implicit-Euler coarse step per slice, and its bound.

    Returns
    -------
    tuple
        ``(grid, result, bound, z)``: the time grid, the :class:`~parareal_toolkit.PararealResult`,
        the superlinear bound per iteration and the modes' ``z = λ ΔT``.
    """
    grid = TimeGrid.uniform(problem.t_final, slices)
    fine = ExactPropagator(problem.ode, grid)
    coarse = ImplicitEulerPropagator(problem.ode, grid)
    reference = propagate_sequentially(fine, problem.u0)
    result = parareal(fine, coarse, problem.u0, reference=reference)
    initial_error = [u - r for u, r in zip(result.iterates[0], reference)]
    bound = error_bounds(problem.ode, grid, initial_error, result.iterations, kind="superlinear")
    z = modal_decomposition(problem.ode)[0] * grid.steps[0]
    return grid, result, bound, z


heat = heat_1d(64)
advection = advection_periodic(64)
runs = {problem.name: (problem, *run(problem)) for problem in (heat, advection)}

# %%
# Error per iteration: heat against advection
# -------------------------------------------
fig, left = plt.subplots(figsize=(6.4, 4.4))
for name, (problem, _grid, result, bound, z) in runs.items():
    k = np.arange(result.iterations + 1)
    line = semilogy_errors(left, k, result.errors, "o-", ms=3, label=f"{name}: measured")
    semilogy_errors(left, k, bound, "--", color=line.get_color(), label=f"{name}: superlinear bound")
    nonzero = np.abs(z) > 1e-9
    print(
        f"{problem.description}: error {result.errors[0]:.2e} -> {result.errors[N // 2]:.2e} after "
        f"{N // 2} iterations; linear-bound factor over its modes in "
        f"[{convergence_factor(z[nonzero]).min():.3f}, {convergence_factor(z[nonzero]).max():.3f}]"
    )
left.set(xlabel="iteration k", ylabel="max error at slice boundaries", title=f"N = {N} slices")
left.grid(True, which="both", alpha=0.3)
left.legend(fontsize="small")
show_or_save(fig, "plot_advection_1")

# %%
# The slice errors show why: on advection the error is transported, not damped; each
# iteration only makes one more slice exact.
problem, grid, result, bound, z = runs["advection"]
fig, right = plt.subplots(figsize=(6.4, 4.4))
cmap = plt.colormaps["viridis"]
for k, row in enumerate(result.slice_errors[: N // 2 + 1]):
    semilogy_errors(right, grid.times, row, "o-", ms=2, color=cmap(k / (N // 2)), label=f"k = {k}")
right.set(xlabel="time T_j", ylabel="error at T_j", title="advection: exactness advances one slice per iteration")
right.grid(True, which="both", alpha=0.3)
right.legend(ncol=3, fontsize="x-small")
fig.tight_layout()
show_or_save(fig, "plot_advection_2")

# %%
# The linear factor mode by mode
# ------------------------------
fig, ax = plt.subplots(figsize=(6.4, 4.4))
for name, (*_, z) in runs.items():
    nonzero = np.abs(z) > 1e-9
    ax.loglog(np.abs(z[nonzero]), convergence_factor(z[nonzero]), "o", ms=3, label=name)
ax.axhline(1, color="k", lw=0.8)
sup = heat_contraction_factor()  # the supremum over the negative real axis, any mesh
ax.axhline(sup, color="grey", ls=":", label=f"heat's bound, any mesh: {sup:.4f}")
ax.set(xlabel="|z| = |λ ΔT|", ylabel="linear-bound factor", title="heat modes contract, advection modes do not")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
show_or_save(fig, "plot_advection_3")
