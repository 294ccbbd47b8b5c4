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

The equations that the ODE propagators of :mod:`parareal_toolkit.ode` integrate are declared
here too, as :class:`~parareal_toolkit.ode.ODE` (what an explicit time stepper evaluates) and
:class:`~parareal_toolkit.ode.ODEWithJacobian` (what Newton's method and scipy's implicit integrators also need).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._checked import StateChecker, check_initial_state, is_torch_tensor
from ._resources import require_memory
from ._validation import check_int, check_real, check_real_array
from .errors import InputError, InputTypeError

__all__ = [
    "Propagator",
    "BatchPropagator",
    "ODE",
    "ODEWithJacobian",
    "TimeGrid",
    "check_propagator",
    "propagate_sequentially",
]


@runtime_checkable
class Propagator(Protocol):
    """Advances a state across slice ``j`` of a partition into ``num_slices`` slices.

    Any object with an integer attribute ``num_slices >= 1`` and a method
    ``__call__(u, j)`` that returns the state at the end of slice ``j`` started from ``u``
    is a propagator; nothing needs to inherit from this protocol. The driver only adds and
    subtracts the returned states, so numpy arrays and torch tensors both work.

    Examples
    --------
    >>> from parareal_toolkit import Propagator, check_propagator, propagate_sequentially
    >>> class Doubling:
    ...     num_slices = 3
    ...     def __call__(self, u, j):
    ...         return 2 * u
    >>> isinstance(Doubling(), Propagator), check_propagator(Doubling(), "doubling")
    (True, 3)
    >>> propagate_sequentially(Doubling(), 1)
    [1, 2, 4, 8]
    """

    @property
    def num_slices(self) -> int:
        """The number ``N >= 1`` of slices the propagator covers."""

    def __call__(self, u: Any, j: int) -> Any:
        """The state at the end of slice ``j`` (``0 <= j < N``) started from ``u`` at its start.

        Returns
        -------
        state
            A new state of the same kind as ``u``.
        """


@runtime_checkable
class BatchPropagator(Propagator, Protocol):
    """A propagator that can also evaluate many (state, slice) pairs in one call.

    ``propagate_batch(states, slices)`` must equal ``[self(u, j) for u, j in zip(states,
    slices)]`` up to floating-point reordering; the batched backend calls it for a whole
    fine sweep.
    """

    def propagate_batch(self, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """``[self(u, j) for u, j in zip(states, slices)]`` in fewer, larger operations.

        Returns
        -------
        list
            One state per ``(state, slice)`` pair, in order.
        """


@runtime_checkable
class ODE(Protocol):
    """The equation ``u' = f(t, u)`` for a real state of size ``m``, as the time steppers evaluate it.

    :class:`~parareal_toolkit.ode.NonlinearODE` and :class:`~parareal_toolkit.ode.LinearODE`
    satisfy it; nothing needs to inherit from this protocol. The explicit steppers
    (:class:`~parareal_toolkit.ode.ExplicitEulerStepper`, :class:`~parareal_toolkit.ode.RK4Stepper`)
    need only this; the implicit ones need :class:`~parareal_toolkit.ode.ODEWithJacobian`.

    Examples
    --------
    >>> from parareal_toolkit.ode import ODE, LinearODE, NonlinearODE
    >>> isinstance(LinearODE([[-1.0]]), ODE), isinstance(NonlinearODE(lambda t, u: -u, 1), ODE)
    (True, True)
    """

    @property
    def size(self) -> int:
        """``m >= 1``, the dimension of the state."""

    def rhs(self, t: Any, u: Any) -> Any:
        """``f(t, u)`` for one state ``u`` of shape ``(m,)``.

        Returns
        -------
        state
            The time derivative, of the shape of ``u``.
        """

    def rhs_rows(self, t: Any, U: Any) -> Any:
        """``f(t_i, U_i)`` for the ``k`` rows of ``U`` (shape ``(k, m)``), ``t`` of shape ``(k, 1)``.

        Returns
        -------
        array, shape (k, m)
            The derivatives, row by row.
        """


@runtime_checkable
class ODEWithJacobian(ODE, Protocol):
    """An :class:`~parareal_toolkit.ode.ODE` that also gives ``∂f/∂u``: what Newton's method and scipy's implicit integrators use.

    An optional boolean attribute ``has_jacobian`` set to False says that ``jacobian`` is
    only finite differences of ``f``; :class:`~parareal_toolkit.ode.SolveIVPPropagator` then
    lets scipy difference ``f`` itself.
    """

    def jacobian(self, t: float, u: np.ndarray) -> Any:
        """``∂f/∂u`` at one state ``u`` of shape ``(m,)``.

        Returns
        -------
        numpy.ndarray or scipy.sparse matrix, shape (m, m)
            The Jacobian.
        """


def check_propagator(obj: Any, name: str) -> int:
    """Return ``obj.num_slices`` after checking that ``obj`` honours the propagator contract.

    Parameters
    ----------
    obj : object
        The candidate propagator.
    name : str
        The argument name used in error messages.

    Returns
    -------
    int
        ``N = obj.num_slices``, at least 1.

    Raises
    ------
    TypeError
        If ``obj`` is not callable or has no integer ``num_slices`` (the message names ``name``).
    ValueError
        If ``num_slices < 1``.

    Examples
    --------
    >>> from parareal_toolkit import TimeGrid, check_propagator
    >>> from parareal_toolkit.ode import ExactPropagator, dahlquist
    >>> check_propagator(ExactPropagator(dahlquist().ode, TimeGrid.uniform(1.0, 4)), "fine")
    4
    """
    if not callable(obj):
        raise InputTypeError(f"`{name}` must be a propagator (callable as {name}(u, j)); got {obj!r}.")
    n = getattr(obj, "num_slices", None)
    if n is None:
        raise InputTypeError(f"`{name}` must have an integer attribute `num_slices`; got {obj!r}.")
    return check_int(n, f"{name}.num_slices", minimum=1)


def propagate_sequentially(propagator: Propagator, u0: Any) -> list[Any]:
    """The sequential solution ``[u0, P_0(u0), P_1(P_0(u0)), ...]`` (``N + 1`` states).

    With the fine propagator this is the reference that parareal reproduces exactly after
    ``N`` iterations; it costs ``N`` sequential fine evaluations.

    Parameters
    ----------
    propagator : Propagator
        ``P`` over ``N`` slices.
    u0 : state
        The initial value.

    Returns
    -------
    list
        The ``N + 1`` states ``u0, P_0(u0), ..., P_{N-1}(...(P_0(u0)))`` at the slice boundaries.

    Raises
    ------
    InputError, InputTypeError
        For an array or tensor ``u0``, when a return of ``propagator`` is not a state of its
        kind, shape and the run's one dtype (as in :func:`parareal_toolkit.parareal`), naming
        ``propagator`` and the slice. Other states (numbers, custom types) pass unchecked.

    Examples
    --------
    The exact solution ``e^{-t}`` of ``u' = -u`` at ``t = 0, 0.5, 1``:

    >>> from parareal_toolkit import TimeGrid, propagate_sequentially
    >>> from parareal_toolkit.ode import ExactPropagator, dahlquist
    >>> problem = dahlquist(-1.0)
    >>> fine = ExactPropagator(problem.ode, TimeGrid.uniform(1.0, 2))
    >>> [round(float(u[0]), 6) for u in propagate_sequentially(fine, problem.u0)]
    [1.0, 0.606531, 0.367879]
    """
    n = check_propagator(propagator, "propagator")
    states = [u0]
    if isinstance(u0, np.ndarray) or is_torch_tensor(u0):  # array states: every return checked like the driver's
        check_initial_state(u0)
        check = StateChecker(u0).check
        for j in range(n):
            states.append(check(propagator(states[-1], j), "propagator", j))
        return states
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
        Strictly increasing, finite slice boundaries with finite steps, ``N >= 1``.

    Examples
    --------
    Non-uniform slices; the two steps of length 0.2 (one of them 0.19999999999999998 in
    floating point) share one cache entry:

    >>> from parareal_toolkit import TimeGrid
    >>> grid = TimeGrid([0.0, 0.1, 0.3, 0.5])
    >>> grid.num_slices, grid.steps.round(12).tolist(), grid.distinct_steps.size
    (3, [0.1, 0.2, 0.2], 2)
    >>> TimeGrid.uniform(1.0, 4).times.tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """

    def __init__(self, times: Sequence[float] | np.ndarray):
        t = check_real_array(times, "times", finite=False)  # strings, None and complex are refused by kind
        if t.ndim != 1:
            raise InputError(f"`times` must be 1-dimensional; got shape {t.shape}.")
        if t.size < 2:
            raise InputError(f"`times` must hold at least 2 boundaries (at least one slice); got {t.tolist()}.")
        if not np.all(np.isfinite(t)):
            raise InputError(f"`times` must be finite; got {t.tolist()}.")
        with np.errstate(over="ignore"):  # finite boundaries can be more than the largest float apart
            differences = np.diff(t)
        if not np.all(differences > 0):
            raise InputError(f"`times` must be strictly increasing; got {t.tolist()}.")
        if not np.all(np.isfinite(differences)):
            raise InputError(
                f"`times` must have finite steps T_(j+1) - T_j (they overflow to infinity); got {t.tolist()}."
            )
        self._times = t
        self._times.setflags(write=False)
        steps = np.diff(t)
        # Group near-identical steps (within a relative 1e-12) so each distinct ΔT is factorised
        # once: along the sorted steps, each group runs from its smallest step to the last one
        # within 1e-12 of it, in O(N log N) (comparing every step with every group was
        # quadratic: minutes for a random grid of 20,000 slices). A group's representative is
        # its step that comes first in time, and the groups are numbered in that order.
        order = np.argsort(steps, kind="stable")
        ordered = steps[order]
        tolerance = 1 + 1e-12
        # a step more than 1e-12 above the one before it starts a group; inside a run of closer
        # steps, a group ends at the last step within 1e-12 of the group's smallest
        starts = [0, *(np.flatnonzero(ordered[1:] > ordered[:-1] * tolerance) + 1).tolist(), ordered.size]
        begins: list[int] = []
        for begin, stop in zip(starts[:-1], starts[1:]):
            if stop == begin + 1:  # a group of one (the common case of a random grid)
                begins.append(begin)
                continue
            while begin < stop:
                begins.append(begin)
                begin = max(begin + 1, int(np.searchsorted(ordered[:stop], ordered[begin] * tolerance, side="right")))
        first_in_time = np.minimum.reduceat(order, begins)  # each group's first slice
        rank = np.empty(len(begins), dtype=int)
        rank[np.argsort(first_in_time, kind="stable")] = np.arange(len(begins))
        index = np.empty(steps.size, dtype=int)
        index[order] = np.repeat(rank, np.diff([*begins, ordered.size]))
        keys = steps[np.sort(first_in_time)].tolist()
        self._distinct = np.array(keys)
        self._step_index = index

    @classmethod
    def uniform(cls, t_final: float, num_slices: int, *, t_start: float = 0.0) -> TimeGrid:
        """``num_slices`` equal slices of ``[t_start, t_final]``.

        Parameters
        ----------
        t_final : float
            The end of the interval, greater than ``t_start``.
        num_slices : int
            ``N >= 1``.
        t_start : float, keyword-only
            The start of the interval (default 0).

        Returns
        -------
        TimeGrid
            The grid with boundaries ``numpy.linspace(t_start, t_final, N + 1)``.
        """
        num_slices = check_int(num_slices, "num_slices", minimum=1)
        require_memory(8.0 * (num_slices + 1), f"TimeGrid.uniform(num_slices={num_slices})")
        t_start = check_real(t_start, "t_start")
        t_final = check_real(t_final, "t_final")
        if t_final <= t_start:
            raise InputError(
                f"`t_final` must be finite and greater than `t_start`; got t_start={t_start!r}, t_final={t_final!r}."
            )
        return cls(np.linspace(t_start, t_final, num_slices + 1))

    @property
    def times(self) -> np.ndarray:
        """The boundaries ``T_0..T_N`` (read-only)."""
        return self._times

    @property
    def num_slices(self) -> int:
        """``N``, the number of slices."""
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
        """Index into :attr:`distinct_steps` of slice ``j``'s length.

        Returns
        -------
        int
            ``i`` such that ``distinct_steps[i]`` is the cached representative of ``ΔT_j``.
        """
        return int(self._step_index[j])

    @property
    def is_uniform(self) -> bool:
        """Whether every slice has the same length (up to a relative 1e-12)."""
        return self._distinct.size == 1

    def __len__(self) -> int:
        return self.num_slices

    def __repr__(self) -> str:
        t = self._times
        if self.is_uniform:
            return f"TimeGrid.uniform(t_final={t[-1]!r}, num_slices={self.num_slices}, t_start={t[0]!r})"
        return f"TimeGrid({t.tolist()!r})"


def check_slice(j: Any, num_slices: int) -> int:
    """Validate a slice index; raises ``IndexError`` outside ``0 <= j < num_slices``.

    Returns
    -------
    int
        ``j`` as a Python int.
    """
    j = check_int(j, "j")
    if not 0 <= j < num_slices:
        raise IndexError(f"slice index `j` must satisfy 0 <= j < {num_slices}; got {j}.")
    return int(j)
