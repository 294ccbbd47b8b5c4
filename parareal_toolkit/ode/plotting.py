"""Figures of the ODE convergence theory (matplotlib, imported on first use)."""

from __future__ import annotations

import numpy as np

from .theory import convergence_factor

__all__ = ["plot_convergence_factor"]


def plot_convergence_factor(
    *,
    substeps: int = 1,
    real: tuple[float, float] = (-10.0, 1.0),
    imag: tuple[float, float] = (-8.0, 8.0),
    resolution: int = 301,
    ax=None,
):
    """The linear-bound factor ``|e^z - R(z)| / (1 - |R(z)|)`` over the complex ``z = λΔT`` plane.

    The contour at 1 separates contraction (heat: the negative real axis, factor <= 0.2984
    for one implicit-Euler substep) from its loss (advection: the imaginary axis).

    Parameters
    ----------
    substeps : int, keyword-only
        Implicit-Euler substeps of the coarse propagator (default 1).
    real, imag : tuple of float, keyword-only
        The ranges of ``Re z`` and ``Im z`` drawn.
    resolution : int, keyword-only
        Grid points per axis (default 301).
    ax : matplotlib.axes.Axes, keyword-only, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on (log10 of the factor, with the contour at 1 in white).
    """
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.figure(figsize=(6.4, 4.4)).add_subplot()
    x = np.linspace(*real, resolution)
    y = np.linspace(*imag, resolution)
    X, Y = np.meshgrid(x, y)
    factor = convergence_factor(X + 1j * Y, substeps)
    levels = np.linspace(-3, 1, 17)
    with np.errstate(divide="ignore"):
        shown = np.clip(np.log10(np.where(np.isfinite(factor), factor, 10.0)), levels[0], levels[-1])
    filled = ax.contourf(X, Y, shown, levels=levels, cmap="viridis", extend="both")
    ax.contour(X, Y, np.where(np.isfinite(factor), factor, 10.0), levels=[1.0], colors="white", linewidths=1.5)
    ax.figure.colorbar(filled, ax=ax, label="log10 convergence factor")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("Re z")
    ax.set_ylabel("Im z")
    ax.set_title(f"implicit Euler, {substeps} substep(s): factor < 1 left of the white contour")
    return ax
