"""Implicit Euler with ``M`` substeps: the coarse solver of classical parareal."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg

from .._validation import check_int
from ..errors import InputError
from ..propagator import TimeGrid
from .base import LinearSlicePropagator
from .linear import LinearODE

__all__ = ["ImplicitEulerPropagator"]


class ImplicitEulerPropagator(LinearSlicePropagator):
    """``M`` implicit-Euler steps of length ``h = ΔT_j / M``: ``u -> (I - h A)^{-M} u``.

    On a mode ``A v = λ v`` this multiplies by ``R(z) = (1 - z/M)^{-M}``, ``z = λ ΔT``;
    ``|R(z)| < 1`` on the whole open left half-plane (A-stable, L-stable), first-order
    accurate: ``R(z) - e^z = O(z^2 / M)``.

    ``I - h A`` is factorised once per distinct slice length (``scipy.linalg.lu_factor``,
    or ``scipy.sparse.linalg.splu`` for sparse ``A``); no inverse is ever formed. With many
    substeps it is also an *expensive* fine propagator, the regime in which parareal can
    actually win (see :func:`~parareal_toolkit.ode.speedup`).

    Parameters
    ----------
    ode : LinearODE
        The equation ``u' = A u``.
    grid : TimeGrid
        The slices.
    substeps : int, keyword-only
        ``M >= 1``, the implicit-Euler steps per slice (default 1).
    prepare : bool, keyword-only
        Factorise ``I - hA`` for every distinct slice length in the constructor (as
        ``prepare()`` does) instead of on first use (default False).

    Examples
    --------
    On ``u' = -u`` over one slice of length 1: ``R(-1) = 1/2`` with one step,
    ``(1 + 1/4)^{-4} = 0.4096`` with four, against ``e^{-1} = 0.3679``.

    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import ImplicitEulerPropagator, LinearODE
    >>> ode, grid, u0 = LinearODE([[-1.0]]), TimeGrid.uniform(1.0, 1), np.array([1.0])
    >>> float(ImplicitEulerPropagator(ode, grid)(u0, 0)[0])
    0.5
    >>> round(float(ImplicitEulerPropagator(ode, grid, substeps=4)(u0, 0)[0]), 6)
    0.4096
    """

    def __init__(self, ode: LinearODE, grid: TimeGrid, *, substeps: int = 1, prepare: bool = False):
        super().__init__(ode, grid)
        self.substeps = check_int(substeps, "substeps", minimum=1)
        if prepare:
            self.prepare()

    def _factor(self, h: float):
        step = h / self.substeps
        with np.errstate(over="ignore", invalid="ignore"):
            if self._sparse:
                matrix = (sp.identity(self.ode.size, format="csc") - step * self.ode.A).tocsc()
                entries = matrix.data
            else:
                matrix = entries = np.eye(self.ode.size) - step * self.ode.A
        if not np.all(np.isfinite(entries)):  # a singular factor (sparse) or NaN states (dense) otherwise
            raise InputError(
                f"the implicit-Euler step {step:g} times A overflows float64 (I - h A is not finite); "
                "use a shorter interval, more slices or more substeps."
            )
        if self._sparse:
            return scipy.sparse.linalg.splu(matrix)
        lu, pivots = scipy.linalg.lu_factor(matrix, check_finite=False)
        # LAPACK getrs straight away: scipy.linalg.lu_solve's own checks cost as much as
        # the solve itself for small m, and this sits on parareal's sequential path.
        (getrs,) = scipy.linalg.get_lapack_funcs(("getrs",), (lu,))
        return getrs, lu, pivots

    def _apply(self, factor, X: np.ndarray, substeps: int | None = None) -> np.ndarray:
        # `substeps` below self.substeps: that many of the slice's substeps (one fine step of MGRIT)
        count = self.substeps if substeps is None else substeps
        Y = X.T if X.ndim > 1 else X  # (m,) or (m, k) Fortran-ordered: what LAPACK and SuperLU expect
        if self._sparse:
            for _ in range(count):
                Y = factor.solve(Y)
        else:
            getrs, lu, pivots = factor
            for _ in range(count):
                Y, info = getrs(lu, pivots, Y)
                if info != 0:  # pragma: no cover - getrs only fails on malformed input
                    raise RuntimeError(f"LAPACK getrs failed with info={info}.")
        return Y.T if Y.ndim > 1 else Y

    def __repr__(self) -> str:
        return f"ImplicitEulerPropagator({self.ode!r}, {self.grid!r}, substeps={self.substeps})"
