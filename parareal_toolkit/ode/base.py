"""Shared bookkeeping of the linear slice propagators (the scipy ``OdeSolver`` pattern).

A subclass implements two small private methods: ``_factor(h)`` builds whatever one slice
of length ``h`` needs (a matrix exponential, an LU factorisation) and ``_apply(factor, X)``
applies it to one state ``X`` of shape ``(m,)`` or to ``k`` states stacked as the rows of
``X``, shape ``(k, m)`` (rows keep every returned state contiguous). The public methods
validate, cache one factor per distinct slice length, and group a batch by slice length so
each group is one operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_real_array
from ..errors import InputError, InputTypeError
from ..propagator import TimeGrid, check_slice
from .linear import LinearODE

__all__ = ["LinearSlicePropagator"]

_FLOAT64 = np.dtype(np.float64)


class LinearSlicePropagator:
    """A linear propagator ``u -> P(ΔT_j) u`` on the slices of a :class:`~parareal_toolkit.TimeGrid`.

    The base of :class:`ExactPropagator` and :class:`ImplicitEulerPropagator`, and of your
    own linear propagators: implement ``_factor(h)`` (what one slice of length ``h`` needs)
    and ``_apply(factor, X)`` (apply it to a state of shape ``(m,)`` or to ``k`` states as
    the rows of a ``(k, m)`` array). The public methods validate states, cache one factor
    per distinct slice length, and batch slices of equal length into one operation.

    States are real arrays of shape ``(m,)`` (computed in float64): a complex state is
    refused with ``TypeError``, never cut to its real part.
    """

    def __init__(self, ode: LinearODE, grid: TimeGrid):
        if not isinstance(ode, LinearODE):
            raise InputTypeError(f"`ode` must be a LinearODE; got {type(ode).__name__}.")
        if not isinstance(grid, TimeGrid):
            raise InputTypeError(f"`grid` must be a TimeGrid; got {type(grid).__name__}.")
        self.ode = ode
        self.grid = grid
        self._sparse = ode.is_sparse
        self._size = ode.size
        self._keys = [grid.step_index(j) for j in range(grid.num_slices)]
        self._factors: dict[int, object] = {}
        self._shape = (ode.size,)

    @property
    def num_slices(self) -> int:
        """``N``, the number of slices of :attr:`grid`."""
        return self.grid.num_slices

    def __getstate__(self):
        # Factors (LAPACK handles, SuperLU objects) do not pickle; a process-pool worker
        # rebuilds the ones it needs on first use.
        state = self.__dict__.copy()
        state["_factors"] = {}
        return state

    def validate_state(self, u, name: str = "u") -> None:
        """Raise ``ValueError``/``TypeError`` naming ``name`` unless ``u`` is a real, finite (m,) array."""
        if not isinstance(u, np.ndarray):
            raise InputTypeError(f"`{name}` must be a numpy array; got {type(u).__name__}.")
        check_real_array(u, name, shape=(self.ode.size,))

    def prepare(self) -> LinearSlicePropagator:
        """Build the factor of every distinct slice length now, as the first evaluations would.

        Timings taken afterwards then measure applications only; nothing is propagated.

        Returns
        -------
        LinearSlicePropagator
            ``self``, with one cached factor per distinct slice length.
        """
        for j in range(self.num_slices):
            self._factor_for(j)
        return self

    def _state(self, u, name: str) -> np.ndarray:
        """``u`` as a float64 (m,) array; complex or wrongly shaped states are refused, not cast."""
        if type(u) is np.ndarray and u.dtype is _FLOAT64 and u.shape == self._shape:
            return u  # what the driver passes, checked in three comparisons: this is its sequential path
        u = np.asarray(u)
        if u.dtype.kind not in "fiu":
            check_real_array(u, name, finite=False)  # raises the message for complex and other kinds
        if u.shape != (self._size,):
            raise InputError(f"`{name}` must have shape ({self._size},); got {u.shape}.")
        return u.astype(float, copy=False)

    def _factor_for(self, j: int):
        key = self._keys[j]
        factor = self._factors.get(key)
        if factor is None:
            factor = self._factors[key] = self._factor(float(self.grid.distinct_steps[key]))
        return factor

    def __call__(self, u: np.ndarray, j: int) -> np.ndarray:
        """The state at the end of slice ``j`` started from ``u``: ``P(ΔT_j) u``.

        Returns
        -------
        numpy.ndarray, shape (m,)
            The propagated state (a new array).
        """
        # The coarse sweep calls this N - 1 times in sequence each iteration: what the driver
        # passes (an int slice, a float64 (m,) array, a cached factor) costs a few comparisons.
        if type(j) is not int or not 0 <= j < len(self._keys):
            j = check_slice(j, self.num_slices)
        factor = self._factors.get(self._keys[j])
        if factor is None:
            factor = self._factor_for(j)
        if type(u) is not np.ndarray or u.dtype is not _FLOAT64 or u.shape != self._shape:
            u = self._state(u, "u")
        return self._apply(factor, u)

    def propagate_batch(self, states: Sequence[np.ndarray], slices: Sequence[int]) -> list[np.ndarray]:
        """All ``self(u, j)`` at once: one matrix-matrix operation per distinct slice length.

        Returns
        -------
        list of numpy.ndarray
            ``[self(u, j) for u, j in zip(states, slices)]``, up to floating-point reordering.
        """
        if len(states) != len(slices):
            raise InputError(f"`states` and `slices` must have equal lengths; got {len(states)} and {len(slices)}.")
        groups: dict[int, list[int]] = {}
        keys, count = self._keys, len(self._keys)
        for position, j in enumerate(slices):
            if type(j) is not int or not 0 <= j < count:  # the driver's ints skip the full check
                j = check_slice(j, count)
            groups.setdefault(keys[j], []).append(position)
        out: list[Any] = [None] * len(slices)  # every position is filled below
        for positions in groups.values():
            # concatenate + reshape: the same (k, m) array as np.stack, at a fraction of its per-state cost
            parts = []
            for p in positions:
                u = states[p]
                if type(u) is not np.ndarray or u.dtype is not _FLOAT64 or u.shape != self._shape:
                    u = self._state(u, f"states[{p}]")  # the message's name is built only here
                parts.append(u)
            X = np.concatenate(parts)
            Y = self._apply(self._factor_for(slices[positions[0]]), X.reshape(len(positions), self._size))
            if len(groups) == 1:  # a uniform grid: the rows in order
                return list(Y)
            for row, p in enumerate(positions):
                out[p] = Y[row]
        return out

    def _factor(self, h: float):  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self, factor, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError
