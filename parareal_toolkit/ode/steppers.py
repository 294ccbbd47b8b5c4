"""One-step time steppers for ``u' = f(t, u)`` as slice propagators: ``M`` substeps per slice.

The scipy ``OdeSolver`` pattern: :class:`TimeStepper` does the bookkeeping (slice times,
substeps, batching over slices; :class:`~parareal_toolkit.ode.SlicePropagator` validates)
and a subclass implements one private method, ``_step(t, U, h)``, that advances the rows of ``U`` (shape ``(k, m)``) by one step of length
``h`` (shape ``(k, 1)``) from times ``t`` (shape ``(k, 1)``). When the equation's ``rhs``
is vectorized, a whole fine sweep of parareal (one state per slice) is one stepper run on a
``(N, m)`` array: ``M`` substeps of ``N`` states at once.

=======================  =====  ==================  ========================================
stepper                  order  stability           cost per substep
=======================  =====  ==================  ========================================
explicit Euler           1      ``|1 + z| <= 1``    1 evaluation of ``f``
classical RK4            4      ``|z| ≲ 2.8``       4 evaluations of ``f``
implicit Euler (Newton)  1      L-stable            Newton: ``f``, Jacobian, a linear solve
trapezoid (Newton)       2      A-stable            the same, plus one evaluation of ``f``
=======================  =====  ==================  ========================================

The implicit steppers live in :mod:`parareal_toolkit.ode.implicit_steppers`.

The explicit steppers also run on torch tensors (float32 or float64, any device) when the
equation's right-hand side accepts them, as every catalogue problem's and
:class:`~parareal_toolkit.ode.LinearODE`'s does: the same problem then runs on a GPU, with
autograd through the steps. States keep their dtype and device; a batch is one tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_int
from ..propagator import TimeGrid
from ._arrays import constant_like, is_tensor
from .base import SlicePropagator, check_ode

__all__ = ["TimeStepper", "ExplicitEulerStepper", "RK4Stepper"]


class TimeStepper(SlicePropagator):
    """``M`` steps of a one-step method per slice of a :class:`~parareal_toolkit.TimeGrid`.

    Slice ``j`` is covered by ``M`` equal steps ``h = ΔT_j / M`` starting at ``T_j``. A
    subclass implements ``_step(t, U, h)`` on stacked states; the public methods validate,
    and ``propagate_batch()`` advances all requested slices together (steps of different
    lengths are rows of ``h``), with the same values as one call per slice.

    Parameters
    ----------
    ode : ODE
        A :class:`~parareal_toolkit.ode.NonlinearODE` or :class:`~parareal_toolkit.ode.LinearODE`,
        or anything satisfying the :class:`~parareal_toolkit.ode.ODE` protocol (the implicit
        steppers need :class:`~parareal_toolkit.ode.ODEWithJacobian`).
    grid : TimeGrid
        The slices.
    substeps : int, keyword-only
        ``M >= 1`` steps per slice (default 1).

    Attributes
    ----------
    order : int
        The classical order ``p``: the error over a fixed time falls like ``h^p``.
    name : str
        The stepper's key in :data:`~parareal_toolkit.ode.STEPPERS` (what ``parareal ode
        --fine/--coarse`` calls it).
    """

    order: int | None = 0
    name = "stepper"
    supports_tensors = True
    needs_jacobian = False  # whether `ode` must be an ODEWithJacobian (Newton's method)

    def __init__(self, ode: Any, grid: TimeGrid, *, substeps: int = 1):
        super().__init__(check_ode(ode, jacobian=self.needs_jacobian), grid)
        self.substeps = check_int(substeps, "substeps", minimum=1)

    def _advance(self, U: Any, slices: Sequence[int]) -> Any:
        times = self.grid.times
        t0 = np.array([times[j] for j in slices])[:, None]
        h = (np.array([times[j + 1] for j in slices])[:, None] - t0) / self.substeps
        if is_tensor(U):
            t0, h = constant_like(t0, U, {}), constant_like(h, U, {})
        for i in range(self.substeps):
            U = self._step(t0 + i * h, U, h)
        return U

    def _propagate(self, u: Any, j: int) -> Any:
        return self._advance(u[None], [j])[0]

    def _propagate_rows(self, rows: list[Any], slices: Sequence[int]) -> list[Any]:
        # the states advance together as the rows of one array
        if is_tensor(rows[0]):
            import torch

            return list(self._advance(torch.stack(rows), slices).unbind(0))
        return list(self._advance(np.stack(rows), slices))

    def _propagate_stacked(self, X: np.ndarray, slices: Sequence[int]) -> np.ndarray:
        return self._advance(X, slices)

    def _step(self, t: np.ndarray, U: np.ndarray, h: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ode!r}, {self.grid!r}, substeps={self.substeps})"


class ExplicitEulerStepper(TimeStepper):
    """Explicit Euler, ``U <- U + h f(t, U)``, ``M`` steps per slice: order 1, one ``f`` per step.

    Stable on ``u' = λu`` only for ``|1 + hλ| <= 1``: a cheap coarse propagator for
    non-stiff problems.

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import ExplicitEulerStepper, LinearODE
    >>> euler = ExplicitEulerStepper(LinearODE([[-1.0]]), TimeGrid.uniform(1.0, 1), substeps=4)
    >>> float(euler(np.array([1.0]), 0)[0])  # (1 - 1/4)^4
    0.31640625
    """

    order = 1
    name = "explicit-euler"

    def _step(self, t, U, h):
        return U + h * self.ode.rhs_rows(t, U)


class RK4Stepper(TimeStepper):
    """The classical fourth-order Runge–Kutta method, ``M`` steps per slice: four ``f`` per step.

    Error ``O(h^4)`` over a fixed time: halving ``h`` divides it by about 16. On
    ``u' = λu`` one step multiplies by ``1 + z + z^2/2 + z^3/6 + z^4/24``, ``z = hλ``.

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import LinearODE, RK4Stepper
    >>> rk4 = RK4Stepper(LinearODE([[-1.0]]), TimeGrid.uniform(1.0, 1), substeps=10)
    >>> f"{abs(float(rk4(np.array([1.0]), 0)[0]) - np.exp(-1.0)):.1e}"
    '3.3e-07'
    """

    order = 4
    name = "rk4"

    def _step(self, t, U, h):
        f = self.ode.rhs_rows
        k1 = f(t, U)
        k2 = f(t + h / 2, U + (h / 2) * k1)
        k3 = f(t + h / 2, U + (h / 2) * k2)
        k4 = f(t + h, U + h * k3)
        return U + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
