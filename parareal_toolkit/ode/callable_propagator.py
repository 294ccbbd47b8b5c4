"""Any plain function as a propagator: ``(u, j) -> state`` or ``(t0, t1, u) -> state``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from .._validation import check_callable, check_choice, check_int
from ..errors import InputError, InputTypeError
from ..propagator import TimeGrid, check_slice

__all__ = ["CallablePropagator", "CALLABLE_SIGNATURES"]

CALLABLE_SIGNATURES = ("auto", "slice", "interval")


def _positional_count(func: Callable) -> int | None:
    """How many positional arguments ``func`` requires, or None when it takes ``*args`` or cannot be inspected."""
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return None
    return sum(1 for p in parameters if p.kind in kinds and p.default is inspect.Parameter.empty)


class CallablePropagator:
    """A plain function as a propagator over the slices of a :class:`~parareal_toolkit.TimeGrid`.

    Two kinds of function are accepted:

    * ``"slice"``: ``func(u, j)``, the state at the end of slice ``j`` started from ``u``;
    * ``"interval"``: ``func(t0, t1, u)``, the state at ``t1`` started from ``u`` at ``t0``
      (called with ``t0 = T_j``, ``t1 = T_{j+1}``): any integrator written for times.

    ``signature="auto"`` (default) tells them apart by the number of required positional
    arguments (2 or 3); a function taking ``*args`` needs ``signature`` given. The returned
    state is passed on unchanged; :func:`~parareal_toolkit.parareal` and
    :func:`~parareal_toolkit.propagate_sequentially` check it where it enters (an array or
    tensor of ``u0``'s kind and shape and the run's one dtype, real for a real ``u0``) and
    refuse a mismatch naming ``fine``, ``coarse`` or ``propagator`` and the slice; an
    exception raised by ``func`` itself propagates unchanged.

    Parameters
    ----------
    func : callable
        The function.
    grid : TimeGrid or int
        The slices, or just their number ``N`` for a ``"slice"`` function (an
        ``"interval"`` function needs times).
    signature : {"auto", "slice", "interval"}, keyword-only
        How ``func`` is called.

    Examples
    --------
    The exact flow of ``u' = -u`` written with times, and the same as a slice function:

    >>> import math
    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid, parareal
    >>> from parareal_toolkit.ode import CallablePropagator
    >>> grid = TimeGrid.uniform(1.0, 4)
    >>> fine = CallablePropagator(lambda t0, t1, u: u * math.exp(-(t1 - t0)), grid)
    >>> coarse = CallablePropagator(lambda u, j: u / (1 + 0.25), 4)  # one implicit-Euler step
    >>> fine.signature, coarse.signature, fine.num_slices
    ('interval', 'slice', 4)
    >>> result = parareal(fine, coarse, np.array([1.0]))
    >>> bool(abs(result.final[0] - math.exp(-1.0)) < 1e-15)
    True
    """

    def __init__(self, func: Callable[..., Any], grid: TimeGrid | int, *, signature: str = "auto"):
        self.func = check_callable(func, "func")
        check_choice(signature, "signature", CALLABLE_SIGNATURES)
        if isinstance(grid, TimeGrid):
            self.grid: TimeGrid | None = grid
            self._num_slices = grid.num_slices
        else:
            self.grid = None
            self._num_slices = check_int(grid, "grid", minimum=1)
        if signature == "auto":
            count = _positional_count(func)
            if count not in (2, 3):
                raise InputTypeError(
                    f"`func` must take (u, j) or (t0, t1, u); got {func!r} with "
                    f"{'variable' if count is None else count} required positional argument(s); "
                    "pass signature='slice' or 'interval'."
                )
            signature = "slice" if count == 2 else "interval"
        if signature == "interval" and self.grid is None:
            raise InputTypeError(
                f"`grid` must be a TimeGrid for a (t0, t1, u) function (it needs the slice times); got {grid!r}."
            )
        self.signature = signature

    @property
    def num_slices(self) -> int:
        """``N``, the number of slices."""
        return self._num_slices

    def prepare(self) -> CallablePropagator:
        """Nothing to cache (the function owns its state); returns ``self``.

        Returns
        -------
        CallablePropagator
            ``self``.
        """
        return self

    def __call__(self, u: Any, j: int) -> Any:
        """``func(u, j)`` or ``func(T_j, T_{j+1}, u)``.

        Returns
        -------
        state
            Whatever ``func`` returns.
        """
        if type(j) is not int or not 0 <= j < self._num_slices:
            j = check_slice(j, self._num_slices)
        if self.signature == "slice":
            return self.func(u, j)
        times = self.grid.times  # type: ignore[union-attr]  # checked in __init__
        return self.func(float(times[j]), float(times[j + 1]), u)

    def propagate_batch(self, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """``[self(u, j) for u, j in zip(states, slices)]`` (a plain function has no faster way).

        Returns
        -------
        list
            One state per pair.
        """
        if len(states) != len(slices):
            raise InputError(f"`states` and `slices` must have equal lengths; got {len(states)} and {len(slices)}.")
        return [self(u, j) for u, j in zip(states, slices)]

    def __repr__(self) -> str:
        where = self.grid if self.grid is not None else f"{self._num_slices} slices"
        return f"CallablePropagator({self.func!r}, {where!r}, signature={self.signature!r})"
