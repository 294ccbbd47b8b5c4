"""Figures of the ODE convergence theory (matplotlib, imported on first use)."""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_int, check_real
from ..errors import InputError
from .mgrit_theory import MGRIT_STEPPERS, _amplification, mgrit_convergence_factor, mgrit_southworth_bound
from .theory import convergence_factor

__all__ = ["plot_convergence_factor", "plot_mgrit_convergence_factor"]


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


def _axis_range(value, name: str) -> tuple[float, float]:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise InputError(f"`{name}` must be a pair (low, high); got {value!r}.") from None
    low = check_real(low, f"{name}[0]", minimum=0, strict=True)
    high = check_real(high, f"{name}[1]", minimum=low, strict=True)
    return low, high


def plot_mgrit_convergence_factor(
    *,
    num_coarse: int = 32,
    m: int = 4,
    fine: str = "exact",
    coarse: str = "implicit-euler",
    real: tuple[float, float] = (1e-2, 1e2),
    imag: tuple[float, float] = (1e-2, 1e2),
    resolution: int = 200,
    fig=None,
):
    """Two-level MGRIT factors ``||E_F||_2``, ``||E_FCF||_2`` and the parareal bound against ``z = ΔT a``.

    Left: the negative real axis ``z = -x`` (diffusion), right: the imaginary axis
    ``z = i y`` (advection), both on log scales; ``ΔT = m δt`` is the coarse step and ``a``
    an eigenvalue of ``A``, so ``μ = R_coarse(z)`` and ``λ = R_fine(z/m)``. The third line
    is the ``N_c``-independent bound ``|λ^m - μ|/(1 - |μ|)``, which for exact fine and
    implicit-Euler coarse steps is the parareal factor of
    :func:`~parareal_toolkit.ode.plot_convergence_factor`. F-relaxation stays below it,
    FCF below F wherever ``|λ|^m <= 1``; on the imaginary axis F exceeds 1 for large ``y``.

    Parameters
    ----------
    num_coarse : int, keyword-only
        ``N_c`` coarse intervals (default 32, at most 2048).
    m : int, keyword-only
        Coarsening factor (default 4; no effect with exact fine steps).
    fine, coarse : str, keyword-only
        One of :data:`~parareal_toolkit.ode.MGRIT_STEPPERS` (defaults
        ``"exact"`` and ``"implicit-euler"``).
    real, imag : tuple of float, keyword-only
        The ranges of ``x = -z`` and ``y = Im z`` drawn (positive, increasing).
    resolution : int, keyword-only
        Points per axis (default 200, at least 2).
    fig : matplotlib.figure.Figure, keyword-only, optional
        Where to draw (default: a new figure); two axes are added to it.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; each axis has the lines labelled ``"F"``, ``"FCF"`` and
        ``"parareal bound"`` (their y-data are the factors at the x-data) and a grey line at 1.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from parareal_toolkit.ode import plot_mgrit_convergence_factor
    >>> fig = plot_mgrit_convergence_factor(num_coarse=8, resolution=20)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['F', 'FCF', 'parareal bound', '_child3']
    """
    n = check_int(num_coarse, "num_coarse", minimum=1, maximum=2048)
    m = check_int(m, "m", minimum=1, maximum=2**53)
    check_choice(fine, "fine", MGRIT_STEPPERS)
    check_choice(coarse, "coarse", MGRIT_STEPPERS)
    axes_data = (
        ("negative real axis", "x = -ΔT a", -1.0, _axis_range(real, "real")),
        ("imaginary axis", "y = ΔT Im a", 1j, _axis_range(imag, "imag")),
    )
    points = check_int(resolution, "resolution", minimum=2, maximum=10**5)
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(10.0, 4.2))
    for index, (title, label, direction, (low, high)) in enumerate(axes_data):
        ax = fig.add_subplot(1, 2, index + 1)
        t = np.geomspace(low, high, points)
        z = direction * t
        lam, mu = _amplification(fine, z / m), _amplification(coarse, z)
        factors = {
            "F": mgrit_convergence_factor(lam, mu, m, n, "F"),
            "FCF": mgrit_convergence_factor(lam, mu, m, n, "FCF"),
        }
        ax.loglog(t, factors["F"], lw=2.5, label="F")
        ax.loglog(t, factors["FCF"], "-.", lw=1.5, label="FCF")
        ax.loglog(t, mgrit_southworth_bound(lam, mu, m, "F"), "k--", lw=1.0, label="parareal bound")
        ax.axhline(1.0, color="0.6", lw=0.8)
        smallest = min(float(np.min(f[f > 0], initial=np.inf)) for f in factors.values())
        ax.set_ylim(bottom=max(smallest / 2, 1e-6))  # FCF falls like |λ|^m = e^{-x}: show F, not 1e-40
        ax.set_xlabel(label)
        ax.set_ylabel("convergence factor" if index == 0 else "")
        ax.set_title(title)
        ax.legend()
    fig.suptitle(f"two-level MGRIT, N_c = {n}, m = {m}: fine {fine}, coarse {coarse}")
    return fig
