"""The propagator contract shared by ODE solvers and neural blocks, and slice partitions.

A *propagator* advances a state across one slice of a partition: for an ODE a slice is a
time interval ``[T_j, T_{j+1}]``, for a network it is a block of layers. The parareal
driver (:func:`parareal_toolkit.parareal`) only calls propagators and adds and subtracts
the states they return, so one driver runs numpy arrays and torch tensors alike, and stays
differentiable under autograd.

The contract, in the spirit of scipy's ``OdeSolver``:

``num_slices``
    The number ``N >= 1`` of slices the propagator covers.
``__call__(u, j)``
    The state at the end of slice ``j`` (``0 <= j < N``) started from ``u`` at its start.
``propagate_batch(states, slices)`` (optional)
    ``[self(u, j) for u, j in zip(states, slices)]`` computed in fewer, larger operations
    (for example one matrix product for all slices of a uniform grid). A propagator that
    defines it must return the same values as the loop, up to floating-point reordering.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._validation import check_int, check_real

__all__ = [
    "Propagator",
    "BatchPropagator",
    "TimeGrid",
    "check_propagator",
    "propagate_sequentially",
]


@runtime_checkable
class Propagator(Protocol):
    """Advances a state across slice ``j`` of a partition into ``num_slices`` slices."""

    @property
    def num_slices(self) -> int: ...

    def __call__(self, u: Any, j: int) -> Any: ...


@runtime_checkable
class BatchPropagator(Propagator, Protocol):
    """A propagator that can also evaluate many (state, slice) pairs in one call."""

    def propagate_batch(self, states: Sequence[Any], slices: Sequence[int]) -> list[Any]: ...


def check_propagator(obj: Any, name: str) -> int:
    """Return ``obj.num_slices`` after checking that ``obj`` honours the propagator contract.

    Raises ``TypeError`` naming ``name`` if ``obj`` is not callable or has no integer
    ``num_slices``, and ``ValueError`` if ``num_slices < 1``.
    """
    if not callable(obj):
        raise TypeError(f"`{name}` must be a propagator (callable as {name}(u, j)); got {obj!r}.")
    n = getattr(obj, "num_slices", None)
    if n is None:
        raise TypeError(f"`{name}` must have an integer attribute `num_slices`; got {obj!r}.")
    return check_int(n, f"{name}.num_slices", minimum=1)


def propagate_sequentially(propagator: Propagator, u0: Any) -> list[Any]:
    """The sequential solution ``[u0, P_0(u0), P_1(P_0(u0)), ...]`` (``N + 1`` states).

    With the fine propagator this is the reference that parareal reproduces exactly after
    ``N`` iterations; it costs ``N`` sequential fine evaluations.
    """
    n = check_propagator(propagator, "propagator")
    states = [u0]
    for j in range(n):
        states.append(propagator(states[-1], j))
    return states


class TimeGrid:
    """A partition ``T_0 < T_1 < … < T_N`` of a time interval into ``N`` slices.

    Slices need not be uniform. Propagators cache one factorisation or matrix exponential
    per *distinct* step ``ΔT_j = T_{j+1} - T_j``; steps that agree to a relative 1e-12
    share a cache entry (``numpy.linspace`` produces such near-duplicates).

    Parameters
    ----------
    times : array_like, shape (N + 1,)
        Strictly increasing, finite slice boundaries, ``N >= 1``.
    """

    def __init__(self, times: Sequence[float] | np.ndarray):
        t = np.asarray(times, dtype=float)
        if t.ndim != 1:
            raise ValueError(f"`times` must be 1-dimensional; got shape {t.shape}.")
        if t.size < 2:
            raise ValueError(f"`times` must hold at least 2 boundaries (at least one slice); got {t.tolist()}.")
        if not np.all(np.isfinite(t)):
            raise ValueError(f"`times` must be finite; got {t.tolist()}.")
        if not np.all(np.diff(t) > 0):
            raise ValueError(f"`times` must be strictly increasing; got {t.tolist()}.")
        self._times = t
        self._times.setflags(write=False)
        steps = np.diff(t)
        # Group near-identical steps so each distinct ΔT is factorised once.
        keys: list[float] = []
        index = np.empty(steps.size, dtype=int)
        for j, h in enumerate(steps):
            for i, key in enumerate(keys):
                if abs(h - key) <= 1e-12 * max(abs(h), abs(key)):
                    index[j] = i
                    break
            else:
                keys.append(float(h))
                index[j] = len(keys) - 1
        self._distinct = np.array(keys)
        self._step_index = index

    @classmethod
    def uniform(cls, t_final: float, num_slices: int, *, t_start: float = 0.0) -> TimeGrid:
        """``num_slices`` equal slices of ``[t_start, t_final]``."""
        num_slices = check_int(num_slices, "num_slices", minimum=1)
        t_start = check_real(t_start, "t_start")
        t_final = check_real(t_final, "t_final")
        if t_final <= t_start:
            raise ValueError(
                f"`t_final` must be finite and greater than `t_start`; got t_start={t_start!r}, t_final={t_final!r}."
            )
        return cls(np.linspace(t_start, t_final, num_slices + 1))

    @property
    def times(self) -> np.ndarray:
        """The boundaries ``T_0..T_N`` (read-only)."""
        return self._times

    @property
    def num_slices(self) -> int:
        return self._times.size - 1

    @property
    def steps(self) -> np.ndarray:
        """``ΔT_j = T_{j+1} - T_j`` for each slice."""
        return np.diff(self._times)

    @property
    def distinct_steps(self) -> np.ndarray:
        """The distinct slice lengths, each the representative of its cache entry."""
        return self._distinct

    def step_index(self, j: int) -> int:
        """Index into :attr:`distinct_steps` of slice ``j``'s length."""
        return int(self._step_index[j])

    @property
    def is_uniform(self) -> bool:
        return self._distinct.size == 1

    def __len__(self) -> int:
        return self.num_slices

    def __repr__(self) -> str:
        t = self._times
        if self.is_uniform:
            return f"TimeGrid.uniform(t_final={t[-1]!r}, num_slices={self.num_slices}, t_start={t[0]!r})"
        return f"TimeGrid({t.tolist()!r})"


def check_slice(j: Any, num_slices: int) -> int:
    """Validate a slice index; raises ``IndexError`` outside ``0 <= j < num_slices``."""
    j = check_int(j, "j")
    if not 0 <= j < num_slices:
        raise IndexError(f"slice index `j` must satisfy 0 <= j < {num_slices}; got {j}.")
    return int(j)
