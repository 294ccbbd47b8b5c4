"""Figures for teaching parareal convergence (matplotlib).

Each function draws on a given ``Axes`` (or a new figure) and returns the ``Axes``, in the
style of pandas and seaborn, so figures can be combined and saved by the caller. These take
a :class:`~parareal_toolkit.PararealResult` (and the numbers to overlay) and work for any
propagators; figures of the ODE theory live with it (:func:`parareal_toolkit.ode.plot_convergence_factor`).

Every log-scale plot of errors goes through :func:`semilogy_errors`: an exact zero (the
fine solution reproduced, a bound that reached 0) cannot sit on a log axis, so it is drawn
as a marker on the axis floor, labelled ``"exact (0)"``, and the floor is at most two
decades under the smallest nonzero value drawn, never at the smallest float.
:func:`show_or_save` ends a script's figure: shown on screen, written to a PNG when
there is no screen, left alone under sphinx-gallery.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from .errors import InputError, InputTypeError

__all__ = [
    "plot_convergence",
    "plot_error_over_time",
    "semilogy_errors",
    "show_or_save",
    "ZERO_LABEL",
    "NONFINITE_LABEL",
]

ZERO_LABEL = "exact (0)"
NONFINITE_LABEL = "not finite"
_SERIES = "parareal-log-errors"  # gid of a series drawn by semilogy_errors
_ZEROS = "parareal-exact-zeros"  # gid of its markers on the axis floor
_NONFINITE = "parareal-nonfinite"  # gid of its markers on the axis top
_EMPTY_FLOOR = 1e-16  # floor of an axis whose series are all exactly zero (no nonzero value to scale by)


def _log_range(positive: np.ndarray) -> tuple[float, float]:
    """The axis range for these nonzero finite values: the decade at or under min / 10, and max * 3.

    The floor is ``>= min / 100`` (the decade under ``min / 10`` is above ``min / 100``; the
    ``max`` guards the decade's rounding).
    """
    if positive.size == 0:
        return _EMPTY_FLOOR, 100 * _EMPTY_FLOOR
    low, high = float(positive.min()), float(positive.max())
    floor = max(10.0 ** math.floor(math.log10(low / 10)), low / 100)
    return floor, 3 * high


def semilogy_errors(ax, x: ArrayLike, y: ArrayLike, fmt: str = "o-", *, label: str | None = None, **kwargs):
    """Draw nonnegative errors against ``x`` on a log y-axis, exact zeros as markers on its floor.

    The y-axis runs from a floor at least ``1/100`` of the smallest nonzero finite value of
    every series drawn on ``ax`` by this function (the decade at or under a tenth of it) to
    three times the largest. Each exact zero is a down-triangle on that floor, in the series'
    colour; each NaN or infinity an ``x`` on the top edge (the line has a gap there). The
    first such markers on ``ax`` get the legend entries ``"exact (0)"`` and ``"not finite"``.
    Every call recomputes the range and moves the markers, so series can be added in any
    order; lines drawn on ``ax`` by other means do not enter the range.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw; its y-scale is set to ``"log"``.
    x, y : array_like, shape (n,)
        Abscissae and errors (``y >= 0``, NaN and infinity allowed).
    fmt : str, optional
        Matplotlib format string of the line (default ``"o-"``).
    label : str, optional
        Legend entry of the line.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.plot` (``color``, ``ms``, ...).

    Returns
    -------
    matplotlib.lines.Line2D
        The line; its y-data are ``y`` unchanged.

    Raises
    ------
    InputError
        ``x`` and ``y`` differ in shape or are not one-dimensional, or ``y`` has a negative entry.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from parareal_toolkit.plotting import semilogy_errors
    >>> fig, ax = plt.subplots()
    >>> line = semilogy_errors(ax, [0, 1, 2, 3], [1e-2, 1e-5, 1e-9, 0.0], label="error")
    >>> float(ax.get_ylim()[0])  # the decade under 1e-9 / 10, not 2e-308
    1e-10
    >>> [t.get_text() for t in ax.legend().get_texts()]
    ['error', 'exact (0)']
    >>> plt.close(fig)
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if ys.ndim != 1 or xs.shape != ys.shape:
        raise InputError(
            f"`x` and `y` must be one-dimensional of the same length; got shapes {xs.shape} and {ys.shape}."
        )
    if np.any(ys < 0):
        raise InputError(f"`y` must be nonnegative (errors, bounds); got {ys[ys < 0][:3].tolist()}.")
    ax.set_yscale("log", nonpositive="mask")  # a zero breaks the line; its marker sits on the floor
    (line,) = ax.plot(xs, ys, fmt, label=label, gid=_SERIES, **kwargs)
    colour = line.get_color()
    for mask, gid, marker, text in (
        (ys == 0, _ZEROS, "v", ZERO_LABEL),
        (~np.isfinite(ys), _NONFINITE, "x", NONFINITE_LABEL),
    ):
        if mask.any():
            first = not any(other.get_gid() == gid for other in ax.get_lines())
            ax.plot(
                xs[mask],
                np.ones(int(mask.sum())),  # placed by _place_markers
                marker,
                ls="none",
                ms=8,
                color=colour,
                mec="black",
                clip_on=False,
                gid=gid,
                label=text if first else "_nolegend_",
                zorder=3,
            )
    _place_markers(ax)
    return line


def _place_markers(ax) -> None:
    """Set the y-range from every series on ``ax`` and put the zero and non-finite markers on its edges."""
    values = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines() if line.get_gid() == _SERIES]
    data = np.concatenate(values) if values else np.empty(0)
    floor, top = _log_range(data[np.isfinite(data) & (data > 0)])
    for line in ax.get_lines():
        if line.get_gid() in (_ZEROS, _NONFINITE):
            line.set_ydata(np.full(len(line.get_xdata()), floor if line.get_gid() == _ZEROS else top))
    ax.set_ylim(floor, top)


def show_or_save(fig, name: str, *, folder: str | Path | None = None) -> Path | None:
    """End an example's figure: saved as ``name.png`` when no screen can show it, shown otherwise.

    Under sphinx-gallery (the docs build: ``sphinx_gallery.gen_rst`` is imported), nothing
    happens: the build captures the open figures itself. With a non-interactive matplotlib backend (``Agg``:
    no display, or ``MPLBACKEND=Agg``), the figure is written to ``folder/name.png``
    (``folder`` defaults to the current directory) and the path printed. With an
    interactive backend, :func:`matplotlib.pyplot.show` opens the figures.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    name : str
        File name without extension (letters, digits, ``_``, ``-``, ``.``).
    folder : str or path-like, optional
        Where to write (created if missing; default the current directory).

    Returns
    -------
    pathlib.Path or None
        The file written, or None when nothing was written.

    Raises
    ------
    InputError
        ``name`` is empty or holds a character other than those above.

    Examples
    --------
    >>> import tempfile
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from parareal_toolkit.plotting import show_or_save
    >>> fig, ax = plt.subplots()
    >>> path = show_or_save(fig, "demo", folder=tempfile.mkdtemp())  # doctest: +ELLIPSIS
    saved figure: ...demo.png
    >>> path.stat().st_size > 0
    True
    >>> plt.close(fig)
    """
    if not name or not all(c.isalnum() or c in "_-." for c in name):
        raise InputError(f"`name` must be a nonempty file name of letters, digits, '_', '-', '.'; got {name!r}.")
    if "sphinx_gallery.gen_rst" in sys.modules:  # the docs build: its scraper takes the figure
        return None
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.backends import BackendFilter, backend_registry

    if matplotlib.get_backend().lower() in backend_registry.list_builtin(BackendFilter.INTERACTIVE):
        plt.show()
        return None
    target = Path.cwd() if folder is None else Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"saved figure: {path}")
    return path


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
    semilogy_errors(ax, k, result.errors, "o-", label=label or f"parareal ({result.form} form)")
    for name, values in (bounds or {}).items():
        bound = np.asarray(values, dtype=float)[: k.size]
        finite = np.isfinite(bound) & (bound >= 0)
        semilogy_errors(ax, k[: bound.size][finite], bound[finite], "--", label=name)
    ax.set_xlabel("iteration k")
    ax.set_ylabel("max error at slice boundaries")
    ax.set_xticks(k)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax


def plot_error_over_time(result, times: ArrayLike, *, ax=None):
    """Error at each slice boundary ``T_j``, one line per iterate: exactness sweeps forward in time.

    After ``k`` iterations the first ``k + 1`` boundaries are exact (the error drops to
    round-off there, or to an exact zero, drawn as a marker on the axis floor by
    :func:`semilogy_errors`).

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
    cmap = __import__("matplotlib").colormaps["viridis"]
    for k, row in enumerate(errors):
        colour = cmap(k / max(len(errors) - 1, 1))
        semilogy_errors(ax, boundaries, row, "o-", ms=3, color=colour, label=f"k = {k}")
    ax.set_xlabel("time T_j")
    ax.set_ylabel("error at T_j")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(ncol=2, fontsize="small")
    return ax
