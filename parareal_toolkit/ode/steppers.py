"""One-step time steppers for ``u' = f(t, u)`` as slice propagators: ``M`` substeps per slice.

The scipy ``OdeSolver`` pattern: :class:`TimeStepper` does the bookkeeping (validation,
slice times, substeps, batching over slices) and a subclass implements one private method,
``_step(t, U, h)``, that advances the rows of ``U`` (shape ``(k, m)``) by one step of length
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

from .._validation import check_int, check_real_array
from ..errors import InputError, InputTypeError
from ..propagator import TimeGrid, check_slice
from ._arrays import constant_like, is_tensor

__all__ = ["TimeStepper", "ExplicitEulerStepper", "RK4Stepper"]


class TimeStepper:
    """``M`` steps of a one-step method per slice of a :class:`~parareal_toolkit.TimeGrid`.

    Slice ``j`` is covered by ``M`` equal steps ``h = ΔT_j / M`` starting at ``T_j``. A
    subclass implements ``_step(t, U, h)`` on stacked states; the public methods validate,
    and ``propagate_batch()`` advances all requested slices together (steps of different
    lengths are rows of ``h``), with the same values as one call per slice.

    Parameters
    ----------
    ode : NonlinearODE or LinearODE
        Anything with ``size``, ``rhs(t, u)``, ``rhs_rows(t, U)`` and (implicit steppers)
        ``jacobian(t, u)``.
    grid : TimeGrid
        The slices.
    substeps : int, keyword-only
        ``M >= 1`` steps per slice (default 1).

    Attributes
    ----------
    order : int
        The classical order ``p``: the error over a fixed time falls like ``h^p``.
    """

    order = 0
    name = "stepper"

    def __init__(self, ode: Any, grid: TimeGrid, *, substeps: int = 1):
        for attribute in ("size", "rhs", "rhs_rows"):
            if not hasattr(ode, attribute):
                raise InputTypeError(
                    f"`ode` must be a NonlinearODE or LinearODE (with `{attribute}`); got {type(ode).__name__}."
                )
        if not isinstance(grid, TimeGrid):
            raise InputTypeError(f"`grid` must be a TimeGrid; got {type(grid).__name__}.")
        self.ode = ode
        self.grid = grid
        self.substeps = check_int(substeps, "substeps", minimum=1)
        self._size = int(ode.size)

    @property
    def num_slices(self) -> int:
        """``N``, the number of slices of :attr:`grid`."""
        return self.grid.num_slices

    def prepare(self) -> TimeStepper:
        """Nothing to cache for a one-step method (Jacobians depend on the state); returns ``self``.

        Present so that every ODE propagator can be prepared the same way before timing.

        Returns
        -------
        TimeStepper
            ``self``.
        """
        return self

    supports_tensors = True

    def validate_state(self, u, name: str = "u") -> None:
        """Raise ``ValueError``/``TypeError`` naming ``name`` unless ``u`` is a real, finite (m,) array or tensor."""
        if is_tensor(u):
            self._tensor_state(u, name)
            if not bool(u.isfinite().all()):
                raise InputError(f"`{name}` must be finite; got a tensor holding NaN or infinity.")
            return
        if not isinstance(u, np.ndarray):
            raise InputTypeError(f"`{name}` must be a numpy array; got {type(u).__name__}.")
        check_real_array(u, name, shape=(self._size,))

    def _tensor_state(self, u, name: str):
        if not self.supports_tensors:
            raise InputTypeError(
                f"`{name}` must be a numpy array for {type(self).__name__} (Newton runs in numpy); "
                "the explicit steppers (explicit Euler, RK4) also run on torch tensors."
            )
        if u.is_complex() or not u.is_floating_point():
            raise InputTypeError(f"`{name}` must be a real floating-point tensor; got dtype {u.dtype}.")
        if tuple(u.shape) != (self._size,):
            raise InputError(f"`{name}` must have shape ({self._size},); got {tuple(u.shape)}.")
        return u

    def _state(self, u, name: str):
        if is_tensor(u):
            return self._tensor_state(u, name)
        u = np.asarray(u)
        if u.dtype.kind not in "fiu":
            check_real_array(u, name, finite=False)  # raises the message for complex and other kinds
        if u.shape != (self._size,):
            raise InputError(f"`{name}` must have shape ({self._size},); got {u.shape}.")
        return u.astype(float, copy=False)

    def _advance(self, U: Any, slices: Sequence[int]) -> Any:
        times = self.grid.times
        t0 = np.array([times[j] for j in slices])[:, None]
        h = (np.array([times[j + 1] for j in slices])[:, None] - t0) / self.substeps
        if is_tensor(U):
            t0, h = constant_like(t0, U, {}), constant_like(h, U, {})
        for i in range(self.substeps):
            U = self._step(t0 + i * h, U, h)
        return U

    def __call__(self, u: np.ndarray, j: int) -> np.ndarray:
        """The state at the end of slice ``j`` started from ``u``: ``M`` steps of the method.

        Returns
        -------
        numpy.ndarray, shape (m,)
            The propagated state (a new array).
        """
        if type(j) is not int or not 0 <= j < self.num_slices:
            j = check_slice(j, self.num_slices)
        return self._advance(self._state(u, "u")[None], [j])[0]

    def propagate_batch(self, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """All ``self(u, j)`` at once: the states advance together as the rows of one array.

        Returns
        -------
        list of numpy.ndarray
            ``[self(u, j) for u, j in zip(states, slices)]``, up to floating-point reordering.
        """
        if len(states) != len(slices):
            raise InputError(f"`states` and `slices` must have equal lengths; got {len(states)} and {len(slices)}.")
        slices = [check_slice(j, self.num_slices) for j in slices]
        if not slices:
            return []
        rows = [self._state(u, f"states[{p}]") for p, u in enumerate(states)]
        if is_tensor(rows[0]):
            import torch

            return list(self._advance(torch.stack(rows), slices).unbind(0))
        return list(self._advance(np.stack(rows), slices))

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
