"""How the parallel sweeps of a parareal iteration are executed.

Within one parareal iteration the fine propagations ``F_j(U_j)``, ``j = 0..N-1``, are
independent (and so are a parareal network's preprocessings ``C^j(x)``): a backend decides
where and how they run. Backends own placement and communication; propagators never hold a
communicator. Every backend returns what :class:`SerialBackend` returns, up to
floating-point reordering inside a batched evaluation, and returns *every* slice's result
where the driver runs (the sequential coarse sweep is cheap and runs there).

=================  ===========================================================  =========
name               what runs where                                              needs
=================  ===========================================================  =========
``serial``         one call per slice, in order (the reference)                 -
``batched``        one ``propagate_batch`` call where the propagator offers it  -
``auto``           ``batched`` for states of at least 64 entries, else serial   -
``processes``      a ``concurrent.futures`` process pool on this machine        -
``devices``        slice j on device j (cycled); CUDA overlaps them             torch
``distributed``    slices split over the ranks of ``torch.distributed``         torchrun
=================  ===========================================================  =========
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import InputError, InputTypeError
from ..propagator import Propagator
from .processes import ProcessBackend

__all__ = [
    "Backend",
    "SerialBackend",
    "BatchedBackend",
    "AutoBackend",
    "ProcessBackend",
    "get_backend",
    "BACKENDS",
]


@runtime_checkable
class Backend(Protocol):
    """Evaluates ``[propagator(u, j) for u, j in zip(states, slices)]``.

    Any object with a ``name`` and this ``map`` method is a backend; it must return what
    :class:`SerialBackend` returns, up to floating-point reordering, and every slice's
    result where the driver runs. A backend that holds resources (a process pool) also has
    a ``close()`` method.
    """

    name: str

    def map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """``[propagator(u, j) for u, j in zip(states, slices)]``, evaluated where this backend decides.

        Returns
        -------
        list
            One state per slice, available where the driver runs.
        """


class SerialBackend:
    """The reference: one call per slice, in order, in this process."""

    name = "serial"

    def map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """One call per slice, in order.

        Returns
        -------
        list
            ``[propagator(u, j) for u, j in zip(states, slices)]``.
        """
        if len(states) != len(slices):  # zip would drop the extra ones without a word
            raise InputError(f"`states` and `slices` must have equal lengths; got {len(states)} and {len(slices)}.")
        return [propagator(u, j) for u, j in zip(states, slices)]

    def __repr__(self) -> str:
        return "SerialBackend()"


class BatchedBackend(SerialBackend):
    """One ``propagate_batch`` call for all slices where the propagator offers it.

    Falls back to the serial loop for propagators without ``propagate_batch`` (for
    example a chain of network blocks, whose slices have different parameters).
    """

    name = "batched"

    def map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """``propagator.propagate_batch(states, slices)``, or the serial loop without it.

        Returns
        -------
        list
            One state per slice, equal to the serial loop's up to floating-point reordering.
        """
        batch = getattr(propagator, "propagate_batch", None)
        if batch is None or len(slices) < 2:
            return super().map(propagator, states, slices)
        out = list(batch(list(states), list(slices)))
        if len(out) != len(slices):
            raise RuntimeError(
                f"{type(propagator).__name__}.propagate_batch returned {len(out)} states for {len(slices)} slices."
            )
        return out

    def __repr__(self) -> str:
        return "BatchedBackend()"


def _state_size(state: Any) -> int | None:
    """Entries of a numpy array or torch tensor (``size`` or ``numel()``); None for anything else."""
    size = getattr(state, "size", None)
    if isinstance(size, int):  # numpy; torch's `size` is a method
        return size
    numel = getattr(state, "numel", None)
    return int(numel()) if callable(numel) else None


class AutoBackend(SerialBackend):
    """``batched`` or ``serial``, whichever the problem favours: chosen from the propagator and the state size.

    A batched sweep turns ``N`` matrix-vector operations into one matrix-matrix operation
    but pays for stacking and splitting the states; below a few dozen entries per state
    the per-call overhead it saves is smaller than what it adds. So: one
    ``propagate_batch`` call when the propagator offers it, there are at least two slices
    and a state has at least ``min_batched_size`` entries (default 64: timing the fine
    sweeps of dense heat problems, batching stopped paying below a few dozen entries; the
    ``core_driver`` benchmark's backends table checks the choice); otherwise the serial loop.
    The choice depends on nothing timed at run time, so a run is reproducible; ``choice`` says
    what the last sweep used. The results are the serial backend's up to floating-point
    reordering (exactly them when ``serial`` is chosen).

    Parameters
    ----------
    min_batched_size : int
        The smallest state (in entries) for which a batched sweep is used.

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.backends import AutoBackend
    >>> from parareal_toolkit.ode import ExactPropagator, heat_1d
    >>> auto = AutoBackend()
    >>> for m in (20, 200):
    ...     problem = heat_1d(m)
    ...     fine = ExactPropagator(problem.ode, TimeGrid.uniform(problem.t_final, 4))
    ...     _ = auto.map(fine, [problem.u0] * 4, range(4))
    ...     print(m, auto.choice)
    20 serial
    200 batched
    """

    name = "auto"

    def __init__(self, min_batched_size: int = 64):
        from .._validation import check_int

        self.min_batched_size = check_int(min_batched_size, "min_batched_size", minimum=1)
        self.choice: str | None = None
        self._batched = BatchedBackend()

    def chooses_batched(self, propagator: Propagator, states: Sequence[Any]) -> bool:
        """Whether a sweep of ``propagator`` over ``states`` runs batched.

        Returns
        -------
        bool
            True when the propagator has ``propagate_batch``, there are at least two states
            and the first has at least ``min_batched_size`` entries.
        """
        if len(states) < 2 or not callable(getattr(propagator, "propagate_batch", None)):
            return False
        size = _state_size(states[0])
        return size is not None and size >= self.min_batched_size

    def map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """The batched sweep where :meth:`chooses_batched` says so, the serial loop otherwise.

        Returns
        -------
        list
            One state per slice, equal to the serial loop's up to floating-point reordering.
        """
        if self.chooses_batched(propagator, states):
            self.choice = "batched"
            return self._batched.map(propagator, states, slices)
        self.choice = "serial"
        return super().map(propagator, states, slices)

    def __repr__(self) -> str:
        return f"AutoBackend(min_batched_size={self.min_batched_size})"


# name -> "module:class"; torch-based backends are imported only when asked for by name.
BACKENDS: dict[str, str] = {
    "serial": f"{__name__}:SerialBackend",
    "batched": f"{__name__}:BatchedBackend",
    "auto": f"{__name__}:AutoBackend",
    "processes": f"{__name__}.processes:ProcessBackend",
    "devices": f"{__name__}.devices:DevicesBackend",
    "distributed": f"{__name__}.distributed:DistributedBackend",
}


def get_backend(backend: str | Backend) -> Backend:
    """Resolve a backend name (one of :data:`BACKENDS`, default options) or pass a backend object through.

    Parameters
    ----------
    backend : str or Backend
        A key of :data:`BACKENDS` (its module is imported only now, so ``"devices"`` and
        ``"distributed"`` import torch only when asked for), or an object with a
        ``map(propagator, states, slices)`` method.

    Returns
    -------
    Backend
        A new backend with default options for a name; ``backend`` itself otherwise.

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For an object without a ``map`` method.

    Examples
    --------
    >>> from parareal_toolkit import get_backend
    >>> get_backend("serial"), get_backend("batched")
    (SerialBackend(), BatchedBackend())
    """
    if isinstance(backend, str):
        if backend not in BACKENDS:
            raise InputError(f"`backend` must be one of {sorted(BACKENDS)} or a Backend object; got {backend!r}.")
        module_name, class_name = BACKENDS[backend].split(":")
        return getattr(importlib.import_module(module_name), class_name)()
    if not callable(getattr(backend, "map", None)):
        raise InputTypeError(
            f"`backend` must be a name or an object with a `map(propagator, states, slices)` method; got {backend!r}."
        )
    return backend
