r"""
The convergence factor over the z-plane
=======================================

For a mode ``A v = λ v`` and a slice of length ``ΔT``, parareal with an exact fine
propagator and an implicit-Euler coarse one multiplies the bound on that mode's error by

.. math:: \rho(z) = \frac{|e^z - R(z)|}{1 - |R(z)|}, \qquad z = \lambda \Delta T,
   \qquad R(z) = (1 - z/M)^{-M}

per iteration (Gander & Vandewalle 2007), a contraction where it is below 1. The figure
shows :func:`~parareal_toolkit.ode.convergence_factor` over the complex plane with the values of
``z`` that two problems put there: the heat equation (negative real axis: contraction) and
periodic advection (imaginary axis: no contraction).
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from parareal_toolkit import TimeGrid
from parareal_toolkit.ode import (
    advection_periodic,
    convergence_factor,
    heat_1d,
    modal_decomposition,
    plot_convergence_factor,
)
from parareal_toolkit.plotting import show_or_save

QUICK = os.environ.get("PARAREAL_DOCS_QUICK", "0") not in ("", "0")
RESOLUTION = 151 if QUICK else 401


def mode_values(slices=10, heat_t_final=0.1, advection_t_final=1.0):
    """``z = λ ΔT`` for every mode of ``heat_1d(50)`` and ``advection_periodic(64)`` on ``slices`` slices.

    Returns
    -------
    tuple of numpy.ndarray
        ``(z_heat, z_advection)``, complex.
    """
    heat = heat_1d(50, t_final=heat_t_final)
    advection = advection_periodic(64, t_final=advection_t_final)
    z_heat = modal_decomposition(heat.ode)[0] * TimeGrid.uniform(heat.t_final, slices).steps[0]
    z_advection = modal_decomposition(advection.ode)[0] * TimeGrid.uniform(advection.t_final, slices).steps[0]
    return z_heat, z_advection


def axis_factors(x, y, z_heat, z_advection):
    """The factors the page prints: on ``z = -x`` and ``z = iy`` (one substep) and on the two problems' modes.

    Returns
    -------
    tuple of float
        ``(max over -x, min over iy, max over the heat modes, min over the advection modes z != 0)``.
    """
    return (
        float(convergence_factor(-x, 1).max()),
        float(convergence_factor(1j * y, 1).min()),
        float(convergence_factor(z_heat).max()),
        float(convergence_factor(z_advection[np.abs(z_advection) > 1e-9]).min()),
    )


z_heat, z_advection = mode_values()

fig, axes = plt.subplots(1, 2, figsize=(13, 5))
for ax, substeps in zip(axes, (1, 4)):
    plot_convergence_factor(substeps=substeps, real=(-10, 2), imag=(-8, 8), resolution=RESOLUTION, ax=ax)
    inside = z_heat[(z_heat.real > -10)]
    ax.plot(inside.real, inside.imag, "o", ms=3, color="tab:red", label="heat1d, N = 10 (z = λΔT)")
    shown = z_advection[np.abs(z_advection.imag) < 8]
    ax.plot(shown.real, shown.imag, "^", ms=3, color="tab:orange", label="advection, N = 10")
    ax.legend(loc="lower left", fontsize="small")
fig.tight_layout()
show_or_save(fig, "plot_convergence_factor_1")

# %%
# Along the two axes
# ------------------
# On the negative real axis the factor peaks at :value:`.4f parareal_toolkit.ode:heat_contraction_factor()`
# (at ``x ≈`` :value:`.2f computed_values:heat_worst_mode()`) for one substep; on
# the imaginary axis ``|e^{iy}| = 1`` and the factor exceeds 1 for every ``y != 0``.
x = np.logspace(-3, 3, 400)
y = np.logspace(-3, 2, 400)
fig, ax = plt.subplots(figsize=(6.4, 4.4))
for m in (1, 2, 4):
    ax.loglog(x, convergence_factor(-x, m), label=f"z = -x, M = {m}")
    ax.loglog(y, convergence_factor(1j * y, m), "--", label=f"z = iy, M = {m}")
ax.axhline(1, color="k", lw=0.8)
ax.set(xlabel="|z|", ylabel="convergence factor", title="heat (solid) contracts, advection (dashed) does not")
ax.grid(True, which="both", alpha=0.3)
ax.legend(ncol=2, fontsize="small")

real_max, imaginary_min, heat_max, advection_min = axis_factors(x, y, z_heat, z_advection)
print(f"max factor on the negative real axis (M = 1): {real_max:.4f}")
print(f"min factor on the imaginary axis (M = 1, |y| >= 1e-3): 1 + {imaginary_min - 1:.2e}")
print(f"heat modes: max factor {heat_max:.4f}; advection modes: min factor over z != 0 {advection_min:.4f}")
show_or_save(fig, "plot_convergence_factor_2")
