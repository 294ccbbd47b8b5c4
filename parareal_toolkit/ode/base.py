"""The bases of the ODE slice propagators: shared bookkeeping, and the linear ones' factor cache.

:class:`SlicePropagator` holds what every ODE propagator on a
:class:`~parareal_toolkit.TimeGrid` does the same way (the scipy ``OdeSolver`` pattern):
it validates slice indices and states, and turns ``self(u, j)`` and
``propagate_batch(states, slices)`` into one private method, ``_propagate_rows(rows,
slices)``, that advances validated states. The time steppers, scipy's integrators and the
linear propagators differ only there. States handed over already stacked, as the rows of one
float64 ``(k, m)`` array, go to ``_propagate_stacked(X, slices)`` instead and come back stacked
(MGRIT's relaxations keep every level's states that way); its default stacks
``_propagate_rows``'s states.

:class:`LinearSlicePropagator` adds, for ``u' = A u``, two small private methods:
``_factor(h)`` builds whatever one slice of length ``h`` needs (a matrix exponential, an LU
factorisation) and ``_apply(factor, X)`` applies it to one state ``X`` of shape ``(m,)`` or
to ``k`` states stacked as the rows of ``X``, shape ``(k, m)`` (rows keep every returned
state contiguous). It caches one factor per distinct slice length and groups a batch by
slice length so each group is one operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_real_array
from ..errors import InputError, InputTypeError
from ..propagator import ODE, ODEWithJacobian, TimeGrid, check_slice
from ._arrays import is_tensor
from .linear import LinearODE

__all__ = ["SlicePropagator", "LinearSlicePropagator"]

_FLOAT64 = np.dtype(np.float64)


def check_ode(ode: Any, *, jacobian: bool = False) -> Any:
    """``ode`` itself after checking that it is an :class:`~parareal_toolkit.ode.ODE` (with a Jacobian if asked).

    Returns
    -------
    ODE
        ``ode``, unchanged.

    Raises
    ------
    TypeError
        Naming the first member of the protocol that ``ode`` lacks.
    """
    if not isinstance(ode, ODE):
        raise InputTypeError(
            f"`ode` must be a NonlinearODE or LinearODE (an ODE with `size`, `rhs` and `rhs_rows`); "
            f"got {type(ode).__name__}."
        )
    if jacobian and not isinstance(ode, ODEWithJacobian):
        raise InputTypeError(f"`ode` must have a `jacobian` method for an implicit stepper; got {type(ode).__name__}.")
    return ode


class SlicePropagator:
    """A propagator over the slices of a :class:`~parareal_toolkit.TimeGrid`: the bookkeeping all ODE propagators share.

    ``self(u, j)`` and ``propagate_batch(states, slices)`` validate the slice indices and
    the states (real ``(m,)`` arrays computed in float64; torch tensors where
    ``supports_tensors``), then call ``_propagate_rows(rows, slices)``, which a subclass
    implements: the states at the ends of ``slices`` started from ``rows``, in order.
    The driver's own arguments (an int slice, a float64 ``(m,)`` array) pass in a few
    comparisons: this is parareal's sequential path.

    Parameters
    ----------
    ode : ODE
        The equation; a subclass checks its kind before calling this constructor.
    grid : TimeGrid
        The slices.

    Attributes
    ----------
    order : int or None
        The order ``p`` of the method (the error over a fixed time falls like ``h^p``);
        None for an exact propagator or a variable-order one.
    supports_tensors : bool
        Whether torch tensors are propagated as tensors (else they are refused).
    stacked_batch : bool
        True: ``propagate_batch`` also takes the states as the rows of one float64 ``(k, m)``
        array and then returns the ``k`` results as the rows of one ``(k, m)`` array (a
        sequence of states all the same, without splitting and stacking them per state).
    """

    order: int | None = None
    supports_tensors = False
    stacked_batch = True

    def __init__(self, ode: Any, grid: TimeGrid):
        if not isinstance(grid, TimeGrid):
            raise InputTypeError(f"`grid` must be a TimeGrid; got {type(grid).__name__}.")
        self.ode = ode
        self.grid = grid
        self._size = int(ode.size)
        self._shape = (self._size,)
        self._num_slices = grid.num_slices

    @property
    def num_slices(self) -> int:
        """``N``, the number of slices of :attr:`grid`."""
        return self.grid.num_slices

    def prepare(self) -> SlicePropagator:
        """Build whatever the first evaluations would cache (nothing here); nothing is propagated.

        Present so that every ODE propagator can be prepared the same way before timing.

        Returns
        -------
        SlicePropagator
            ``self``.
        """
        return self

    def validate_state(self, u, name: str = "u") -> None:
        """Raise ``ValueError``/``TypeError`` naming ``name`` unless ``u`` is a real, finite (m,) array (or tensor)."""
        if is_tensor(u):
            self._tensor_state(u, name)
            if not bool(u.isfinite().all()):
                raise InputError(f"`{name}` must be finite; got a tensor holding NaN or infinity.")
            return
        if not isinstance(u, np.ndarray):
            raise InputTypeError(f"`{name}` must be a numpy array; got {type(u).__name__}.")
        check_real_array(u, name, shape=self._shape)

    def _tensor_state(self, u, name: str):
        if not self.supports_tensors:
            raise InputTypeError(
                f"`{name}` must be a numpy array for {type(self).__name__} (it computes in numpy); "
                "the explicit steppers (explicit Euler, RK4) also run on torch tensors."
            )
        if u.is_complex() or not u.is_floating_point():
            raise InputTypeError(f"`{name}` must be a real floating-point tensor; got dtype {u.dtype}.")
        if tuple(u.shape) != self._shape:
            raise InputError(f"`{name}` must have shape ({self._size},); got {tuple(u.shape)}.")
        return u

    def _state(self, u, name: str):
        """``u`` as a float64 (m,) array (or a checked tensor); complex or wrongly shaped states are refused, not cast."""
        if is_tensor(u):
            return self._tensor_state(u, name)
        u = np.asarray(u)
        if u.dtype.kind not in "fiu":
            check_real_array(u, name, finite=False)  # raises the message for complex and other kinds
        if u.shape != self._shape:
            raise InputError(f"`{name}` must have shape ({self._size},); got {u.shape}.")
        return u.astype(float, copy=False)

    def __call__(self, u: np.ndarray, j: int) -> np.ndarray:
        """The state at the end of slice ``j`` started from ``u``.

        Returns
        -------
        numpy.ndarray, shape (m,)
            The propagated state (a new array; a tensor for a tensor ``u`` where supported).
        """
        # The coarse sweep calls this N - 1 times in sequence each iteration: what the driver
        # passes (an int slice, a float64 (m,) array) costs a few comparisons.
        if type(j) is not int or not 0 <= j < self._num_slices:
            j = check_slice(j, self._num_slices)
        if type(u) is not np.ndarray or u.dtype is not _FLOAT64 or u.shape != self._shape:
            u = self._state(u, "u")
        return self._propagate(u, j)

    def propagate_batch(self, states: Sequence[Any], slices: Sequence[int]) -> Any:
        """All ``self(u, j)`` at once, in as few operations as the method allows.

        ``states`` given as the rows of one float64 ``(k, m)`` array come back as the rows of
        one ``(k, m)`` array (the same values, computed the same way).

        Returns
        -------
        list of numpy.ndarray, or numpy.ndarray of shape (k, m)
            ``[self(u, j) for u, j in zip(states, slices)]``, up to floating-point reordering.
        """
        if len(states) != len(slices):
            raise InputError(f"`states` and `slices` must have equal lengths; got {len(states)} and {len(slices)}.")
        count = self._num_slices
        if type(slices) is range and (
            not slices or 0 <= min(slices[0], slices[-1]) <= max(slices[0], slices[-1]) < count
        ):
            checked: Sequence[int] = slices  # the driver's slices: a range, checked in O(1)
        else:
            checked = [j if type(j) is int and 0 <= j < count else check_slice(j, count) for j in slices]
        if (
            type(states) is np.ndarray
            and states.ndim == 2
            and states.dtype is _FLOAT64
            and states.shape[1:] == self._shape
            and len(states)
        ):
            # one C-ordered (k, m) array: the layout the row path builds, so the same arithmetic
            return self._propagate_stacked(np.ascontiguousarray(states), checked)
        rows = []
        for p, u in enumerate(states):
            if type(u) is not np.ndarray or u.dtype is not _FLOAT64 or u.shape != self._shape:
                u = self._state(u, f"states[{p}]")  # the message's name is built only here
            rows.append(u)
        if not rows:
            return []
        return self._propagate_rows(rows, checked)

    def _propagate(self, u: Any, j: int) -> Any:
        """The state at the end of slice ``j`` started from the validated ``u`` (a batch of one unless overridden)."""
        return self._propagate_rows([u], [j])[0]

    def _propagate_rows(self, rows: list[Any], slices: Sequence[int]) -> list[Any]:  # pragma: no cover - abstract
        """The states at the ends of ``slices`` started from the validated ``rows``, in order."""
        raise NotImplementedError

    def _propagate_stacked(self, X: np.ndarray, slices: Sequence[int]) -> np.ndarray:
        """``_propagate_rows`` on the rows of the C-ordered float64 ``(k, m)`` array ``X``, stacked (overridable)."""
        return np.stack(self._propagate_rows(list(X), slices))


class LinearSlicePropagator(SlicePropagator):
    """A linear propagator ``u -> P(ΔT_j) u`` on the slices of a :class:`~parareal_toolkit.TimeGrid`.

    The base of :class:`ExactPropagator` and :class:`ImplicitEulerPropagator`, and of your
    own linear propagators: implement ``_factor(h)`` (what one slice of length ``h`` needs)
    and ``_apply(factor, X)`` (apply it to a state of shape ``(m,)`` or to ``k`` states as
    the rows of a ``(k, m)`` array). The public methods validate states, cache one factor
    per distinct slice length, and batch slices of equal length into one operation.

    States are real arrays of shape ``(m,)`` (computed in float64): a complex state is
    refused with ``TypeError``, never cut to its real part.
    """

    #: ``u -> P u`` is linear (``P 0 = 0``), so the correction form reproduces the fine
    #: solution after ``N`` iterations with this coarse propagator (read by the driver).
    linear = True

    def __init__(self, ode: LinearODE, grid: TimeGrid):
        if not isinstance(ode, LinearODE):
            raise InputTypeError(f"`ode` must be a LinearODE; got {type(ode).__name__}.")
        super().__init__(ode, grid)
        self._sparse = ode.is_sparse
        self._keys = [grid.step_index(j) for j in range(grid.num_slices)]
        self._uniform = len(set(self._keys)) == 1  # one slice length: every batch is one group
        self._factors: dict[int, object] = {}

    def __getstate__(self):
        # Factors (LAPACK handles, SuperLU objects) do not pickle; a process-pool worker
        # rebuilds the ones it needs on first use.
        state = self.__dict__.copy()
        state["_factors"] = {}
        return state

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

    def _factor_for(self, j: int):
        key = self._keys[j]
        factor = self._factors.get(key)
        if factor is None:
            factor = self._factors[key] = self._factor(float(self.grid.distinct_steps[key]))
        return factor

    def _propagate(self, u: np.ndarray, j: int) -> np.ndarray:
        # one (m,) state: a matrix-vector operation with the cached factor, on the sequential path
        factor = self._factors.get(self._keys[j])
        if factor is None:
            factor = self._factor_for(j)
        return self._apply(factor, u)

    def _propagate_rows(self, rows: list[np.ndarray], slices: Sequence[int]) -> list[np.ndarray]:
        # one matrix-matrix operation per distinct slice length
        if self._uniform:  # concatenate + reshape: the (k, m) array of np.stack at a fraction of its cost
            return list(self._apply(self._factor_for(0), np.concatenate(rows).reshape(len(rows), self._size)))
        groups: dict[int, list[int]] = {}
        keys = self._keys
        for position, j in enumerate(slices):
            groups.setdefault(keys[j], []).append(position)
        out: list[Any] = [None] * len(slices)  # every position is filled below
        for positions in groups.values():
            # concatenate + reshape: the same (k, m) array as np.stack, at a fraction of its per-state cost
            X = np.concatenate([rows[p] for p in positions]).reshape(len(positions), self._size)
            Y = self._apply(self._factor_for(slices[positions[0]]), X)
            if len(groups) == 1:  # a uniform grid: the rows in order
                return list(Y)
            for row, p in enumerate(positions):
                out[p] = Y[row]
        return out

    def _propagate_stacked(self, X: np.ndarray, slices: Sequence[int]) -> np.ndarray:
        if self._uniform:
            return self._apply(self._factor_for(0), X)
        groups: dict[int, list[int]] = {}
        keys = self._keys
        for position, j in enumerate(slices):
            groups.setdefault(keys[j], []).append(position)
        out = np.empty_like(X)
        for positions in groups.values():  # X[positions]: the C-ordered (k, m) array the row path builds
            out[positions] = self._apply(self._factor_for(slices[positions[0]]), X[positions])
        return out

    def _factor(self, h: float):  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self, factor, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError
