"""scipy's adaptive integrators (``scipy.integrate.solve_ivp``) as fine propagators."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.integrate

from .._validation import check_choice, check_real
from ..propagator import TimeGrid
from .steppers import TimeStepper

__all__ = ["SolveIVPPropagator", "SOLVE_IVP_METHODS"]

SOLVE_IVP_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")


class SolveIVPPropagator(TimeStepper):
    """``scipy.integrate.solve_ivp`` over each slice, with error control ``rtol`` / ``atol``.

    Each slice is one adaptive integration from ``T_j`` to ``T_{j+1}`` started afresh (the
    step size is not carried across slices, so a slice's value depends only on its
    start state, as parareal requires). The implicit methods (``"Radau"``, ``"BDF"``,
    ``"LSODA"``) get the equation's Jacobian when it has one. The local error per step is
    kept below about ``atol + rtol |u|``; the global error is not controlled, so check it
    against a tighter run. A failed integration raises ``RuntimeError`` with scipy's
    message; the result is never a partial state.

    Parameters
    ----------
    ode : NonlinearODE or LinearODE
        The equation.
    grid : TimeGrid
        The slices.
    method : str, keyword-only
        One of :data:`SOLVE_IVP_METHODS` (default ``"RK45"``).
    rtol, atol : float, keyword-only
        Tolerances passed to ``solve_ivp`` (default 1e-8 and 1e-10).

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import LinearODE, SolveIVPPropagator
    >>> fine = SolveIVPPropagator(LinearODE([[-1.0]]), TimeGrid.uniform(1.0, 2), method="DOP853", rtol=1e-12)
    >>> bool(abs(fine(np.array([1.0]), 0)[0] - np.exp(-0.5)) < 1e-10)
    True
    """

    supports_tensors = False  # scipy integrates numpy arrays

    def __init__(self, ode: Any, grid: TimeGrid, *, method: str = "RK45", rtol: float = 1e-8, atol: float = 1e-10):
        super().__init__(ode, grid, substeps=1)
        self.method = check_choice(method, "method", SOLVE_IVP_METHODS)
        self.rtol = check_real(rtol, "rtol", minimum=0, strict=True)
        self.atol = check_real(atol, "atol", minimum=0, strict=True)
        self.name = f"solve_ivp {method}"
        self.order = {"RK45": 5, "RK23": 3, "DOP853": 8, "Radau": 5, "BDF": 5, "LSODA": 5}[method]

    def _advance(self, U: np.ndarray, slices) -> np.ndarray:
        times = self.grid.times
        implicit = self.method in ("Radau", "BDF", "LSODA")
        options: dict[str, Any] = {}
        if implicit and hasattr(self.ode, "jacobian") and getattr(self.ode, "has_jacobian", True):
            options["jac"] = self.ode.jacobian
        out = np.empty_like(U)
        for row, j in enumerate(slices):
            solution = scipy.integrate.solve_ivp(
                self.ode.rhs,
                (float(times[j]), float(times[j + 1])),
                U[row],
                method=self.method,
                rtol=self.rtol,
                atol=self.atol,
                **options,
            )
            if not solution.success:
                raise RuntimeError(
                    f"solve_ivp ({self.method}) failed on slice {j} [{times[j]:g}, {times[j + 1]:g}]: "
                    f"{solution.message}"
                )
            out[row] = solution.y[:, -1]
        return out

    def __repr__(self) -> str:
        return f"SolveIVPPropagator({self.ode!r}, {self.grid!r}, method={self.method!r}, rtol={self.rtol:g}, atol={self.atol:g})"
