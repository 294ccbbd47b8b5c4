"""scipy's adaptive integrators (``scipy.integrate.solve_ivp``) as fine propagators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.integrate

from .._validation import check_choice, check_real
from ..errors import InputError
from ..propagator import ODEWithJacobian, TimeGrid
from .base import SlicePropagator, check_ode

__all__ = ["SolveIVPPropagator", "SOLVE_IVP_METHODS"]

# The order of the propagated solution (scipy's documentation): RK45 and RK23 advance with
# their higher-order formula (local extrapolation), DOP853 is order 8, Radau IIA order 5;
# BDF (orders 1 to 5) and LSODA (Adams or BDF) change their order as they go.
_ORDERS: dict[str, int | None] = {"RK45": 5, "RK23": 3, "DOP853": 8, "Radau": 5, "BDF": None, "LSODA": None}
SOLVE_IVP_METHODS = tuple(_ORDERS)
_IMPLICIT = ("Radau", "BDF", "LSODA")


class SolveIVPPropagator(SlicePropagator):
    """``scipy.integrate.solve_ivp`` over each slice, with error control ``rtol`` / ``atol``.

    Each slice is one adaptive integration from ``T_j`` to ``T_{j+1}`` started afresh (the
    step size is not carried across slices, so a slice's value depends only on its
    start state, as parareal requires). The implicit methods (``"Radau"``, ``"BDF"``,
    ``"LSODA"``) get the equation's Jacobian when it has one. The local error per step is
    kept below about ``atol + rtol |u|``; the global error is not controlled, so check it
    against a tighter run. A failed integration raises ``RuntimeError`` with scipy's
    message; the result is never a partial state. A right-hand side (or Jacobian) that
    returns a non-finite value stops the integration at once (scipy's step control would
    otherwise shrink the step forever on NaN): the slice's result is then all NaN, the
    non-finite state the driver reports as such (``stop_reason == "non-finite"``). ``order`` is the method's order (5
    for RK45 and Radau, 3 for RK23, 8 for DOP853) and None for the variable-order BDF and
    LSODA.

    Parameters
    ----------
    ode : ODE
        The equation: a :class:`~parareal_toolkit.ode.NonlinearODE`,
        :class:`~parareal_toolkit.ode.LinearODE` or anything satisfying
        :class:`~parareal_toolkit.ode.ODE`.
    grid : TimeGrid
        The slices.
    method : str, keyword-only
        One of :data:`SOLVE_IVP_METHODS` (default ``"RK45"``).
    rtol, atol : float, keyword-only
        Tolerances passed to ``solve_ivp`` (default 1e-8 and 1e-10): ``100 eps <= rtol < 1``
        (solve_ivp would raise a smaller ``rtol`` to ``100 eps``), ``atol > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import LinearODE, SolveIVPPropagator
    >>> fine = SolveIVPPropagator(LinearODE([[-1.0]]), TimeGrid.uniform(1.0, 2), method="DOP853", rtol=1e-12)
    >>> bool(abs(fine(np.array([1.0]), 0)[0] - np.exp(-0.5)) < 1e-10)
    True
    >>> fine.order, SolveIVPPropagator(LinearODE([[-1.0]]), TimeGrid.uniform(1.0, 2), method="BDF").order
    (8, None)
    """

    supports_tensors = False  # scipy integrates numpy arrays

    def __init__(self, ode: Any, grid: TimeGrid, *, method: str = "RK45", rtol: float = 1e-8, atol: float = 1e-10):
        super().__init__(check_ode(ode), grid)
        self.method = check_choice(method, "method", SOLVE_IVP_METHODS)
        self.rtol = check_real(rtol, "rtol", minimum=0, maximum=1, strict=True)
        if self.rtol < _MIN_RTOL:
            raise InputError(
                f"`rtol` must be at least 100 eps = {_MIN_RTOL:.3g} (solve_ivp raises a smaller one to that, "
                f"so it would not be the tolerance asked for); got {self.rtol!r}."
            )
        self.atol = check_real(atol, "atol", minimum=0, strict=True)
        self.name = f"solve_ivp {method}"
        self.order = _ORDERS[method]
        self._options: dict[str, Any] = {}
        # an implicit method gets the equation's own Jacobian; finite differences scipy does itself
        if method in _IMPLICIT and isinstance(ode, ODEWithJacobian) and getattr(ode, "has_jacobian", True):
            self._options["jac"] = ode.jacobian

    def _propagate_rows(self, rows: list[np.ndarray], slices: Sequence[int]) -> list[np.ndarray]:
        # one adaptive integration per slice, started afresh: scipy has no batched form
        return [self._propagate(u, j) for u, j in zip(rows, slices)]

    def _propagate(self, u: np.ndarray, j: int) -> np.ndarray:
        times = self.grid.times
        if not np.all(np.isfinite(u)):
            return np.full(np.shape(u), np.nan)  # a non-finite start stays non-finite, without a step
        options = dict(self._options)
        if "jac" in options:
            options["jac"] = _stop_on_nonfinite(options["jac"])
        try:
            solution = scipy.integrate.solve_ivp(
                _stop_on_nonfinite(self.ode.rhs),
                (float(times[j]), float(times[j + 1])),
                u,
                method=self.method,
                rtol=self.rtol,
                atol=self.atol,
                **options,
            )
        except FloatingPointError as exc:
            if exc.args != (_NONFINITE,):
                raise
            return np.full(np.shape(u), np.nan)  # the driver's non-finite policy reports it
        if not solution.success:
            raise RuntimeError(
                f"solve_ivp ({self.method}) failed on slice {j} [{times[j]:g}, {times[j + 1]:g}]: {solution.message}"
            )
        return np.ascontiguousarray(solution.y[:, -1])  # a row of its own, not a strided view of y

    def __repr__(self) -> str:
        return f"SolveIVPPropagator({self.ode!r}, {self.grid!r}, method={self.method!r}, rtol={self.rtol:g}, atol={self.atol:g})"


# the smallest rtol solve_ivp honours (it raises a smaller one to this, with a warning)
_MIN_RTOL = 100 * float(np.finfo(float).eps)

# raised (as FloatingPointError(_NONFINITE)) inside solve_ivp when the right-hand side or the
# Jacobian returned NaN or infinity, and caught by the slice that called solve_ivp
_NONFINITE = "solve_ivp: a non-finite right-hand side or Jacobian value"


def _stop_on_nonfinite(function: Any) -> Any:
    """``function`` that raises ``FloatingPointError(_NONFINITE)`` instead of returning a non-finite value."""

    def checked(t: float, y: np.ndarray) -> Any:
        value = function(t, y)
        if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
            finite = bool(np.isfinite(value).all())
        elif hasattr(value, "data") and hasattr(value, "nnz"):  # a sparse Jacobian: its stored entries
            finite = bool(np.isfinite(value.data).all())
        else:  # anything else is for scipy (and the equation's own checks) to judge
            finite = True
        if not finite:
            raise FloatingPointError(_NONFINITE)
        return value

    return checked
