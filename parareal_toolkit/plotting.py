"""Figures for teaching parareal convergence (matplotlib).

Each function draws on a given ``Axes`` (or a new figure) and returns the ``Axes``, in the
style of pandas and seaborn, so figures can be combined and saved by the caller. These take
a :class:`~parareal_toolkit.PararealResult` (and the numbers to overlay) and work for any
propagators; figures of the ODE theory live with it (:func:`parareal_toolkit.ode.plot_convergence_factor`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from .errors import InputError, InputTypeError

__all__ = ["plot_convergence", "plot_error_over_time"]


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(6.4, 4.4)).add_subplot()


def plot_convergence(result, *, bounds: Mapping[str, ArrayLike] | None = None, label: str | None = None, ax=None):
    """Error against iteration (log scale) with theoretical bounds overlaid as dashed lines.

    Parameters
    ----------
    result : PararealResult
        A result computed with ``reference=`` (so it has per-iteration errors).
    bounds : mapping of str to array_like, optional
        A label and one bound per iterate ``k = 0..K`` for each curve to overlay; non-finite
        and non-positive entries are left out.
    label : str, optional
        Legend entry of the measured errors.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    if not hasattr(result, "errors"):
        raise InputTypeError(f"`result` must be a PararealResult; got {type(result).__name__}.")
    if result.errors is None:
        raise InputError("`result` has no errors: run parareal with `reference=` to plot convergence.")
    ax = _axes(ax)
    k = np.arange(len(result.errors))
    floor = np.finfo(float).tiny
    ax.semilogy(k, np.maximum(result.errors, floor), "o-", label=label or f"parareal ({result.form} form)")
    for name, values in (bounds or {}).items():
        bound = np.asarray(values, dtype=float)[: k.size]
        finite = np.isfinite(bound) & (bound > 0)
        ax.semilogy(k[finite], bound[finite], "--", label=name)
    ax.set_xlabel("iteration k")
    ax.set_ylabel("max error at slice boundaries")
    ax.set_xticks(k)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax


def plot_error_over_time(result, times: ArrayLike, *, ax=None):
    """Error at each slice boundary ``T_j``, one line per iterate: exactness sweeps forward in time.

    After ``k`` iterations the first ``k + 1`` boundaries are exact (the error drops to
    round-off there, drawn at the bottom of the axis).

    Parameters
    ----------
    result : PararealResult
        A result computed with ``reference=`` (so it has per-slice errors).
    times : array_like, shape (N + 1,)
        The slice boundaries ``T_0..T_N`` (for example ``grid.times``).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    if result.slice_errors is None:
        raise InputError("`result` has no slice errors: run parareal with `reference=`.")
    boundaries = np.asarray(times, dtype=float)
    if boundaries.shape != (result.num_slices + 1,):
        raise InputError(f"`times` must have N + 1 = {result.num_slices + 1} entries; got shape {boundaries.shape}.")
    ax = _axes(ax)
    errors = result.slice_errors
    positive = errors[np.isfinite(errors) & (errors > 0)]
    floor = positive.min() / 10 if positive.size else 1e-300
    cmap = __import__("matplotlib").colormaps["viridis"]
    for k, row in enumerate(errors):
        colour = cmap(k / max(len(errors) - 1, 1))
        ax.semilogy(boundaries, np.maximum(row, floor), "o-", ms=3, color=colour, label=f"k = {k}")
    ax.set_xlabel("time T_j")
    ax.set_ylabel("error at T_j")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(ncol=2, fontsize="small")
    return ax
