"""A process pool on one machine, for ODE propagators whose fine solve is expensive."""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from .._validation import check_choice, check_int
from ..propagator import Propagator

__all__ = ["ProcessBackend"]


# The propagator a pool worker evaluates, installed once per worker by the pool initializer
# so each iteration ships only states, not the propagator and its factorisations.
_worker_propagator: Any = None


_worker_barrier: Any = None


def _install_propagator(propagator: Any, barrier: Any) -> None:
    global _worker_propagator, _worker_barrier
    # Ctrl-C reaches the whole process group: the parent handles it (and terminates the
    # workers); a worker that also raised KeyboardInterrupt would print its own traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_propagator = propagator
    _worker_barrier = barrier


def _wait_for_all_workers(_: Any) -> int:
    # Each of `workers` tasks blocks until all workers hold one, so every process exists.
    _worker_barrier.wait(timeout=120)
    return os.getpid()


def _propagate_chunk(chunk: list[tuple[Any, int]]) -> list[Any]:
    return [_worker_propagator(u, j) for u, j in chunk]


class ProcessBackend:
    """A ``concurrent.futures`` process pool on this machine, for expensive fine propagators.

    Each worker receives the propagator once (pickled at pool start) and then, every
    iteration, one contiguous chunk of slices: ``ceil(N / workers)`` fine evaluations. The
    states travel by pickling, so this pays off only when a fine slice costs much more than
    sending a state (e.g. implicit Euler or RK4 with many substeps). The result equals the
    serial backend's exactly: the same code runs on the same inputs.

    Use as a context manager, or call ``close()``; :func:`~parareal_toolkit.parareal` closes a pool it
    created itself from the name ``"processes"``.

    Parameters
    ----------
    workers : int, optional
        Number of worker processes (default: ``os.cpu_count()``).
    start_method : str
        ``multiprocessing`` start method; ``"spawn"`` (default) is safe with threads and
        torch, ``"fork"`` starts faster.
    """

    name = "processes"

    def __init__(self, workers: int | None = None, *, start_method: str = "spawn"):
        if workers is None:
            workers = os.cpu_count() or 1
        workers = check_int(workers, "workers", minimum=1)
        check_choice(start_method, "start_method", multiprocessing.get_all_start_methods())
        self.workers = int(workers)
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None
        self._installed: Any = None

    def start(self, propagator: Propagator) -> ProcessBackend:
        """Start (or restart) the pool with ``propagator`` installed in every worker, and wait for it.

        Returns
        -------
        ProcessBackend
            ``self``, with every worker process running.
        """
        self.close()
        context = multiprocessing.get_context(self.start_method)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_install_propagator,
            initargs=(propagator, context.Barrier(self.workers)),
        )
        self._installed = propagator
        # Start every worker now, so that start-up is not charged to the first iteration.
        pids = set(self._pool.map(_wait_for_all_workers, range(self.workers)))
        if len(pids) != self.workers:  # pragma: no cover - the barrier makes this impossible
            raise RuntimeError(f"expected {self.workers} worker processes, got {len(pids)}.")
        return self

    def map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """The fine sweep in the pool, one contiguous chunk of slices per worker.

        Starts the pool on first use, and restarts it when ``propagator`` is not the one
        its workers hold.

        Returns
        -------
        list
            One state per slice, equal to the serial backend's.
        """
        if self._pool is None or self._installed is not propagator:
            self.start(propagator)
        assert self._pool is not None  # start() created it
        pairs = list(zip(states, slices))
        size = math.ceil(len(pairs) / self.workers) if pairs else 1
        chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
        return [value for chunk in self._pool.map(_propagate_chunk, chunks) for value in chunk]

    def close(self) -> None:
        """Shut the pool down (waiting for its workers); the next :meth:`map` starts a new one."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None
        self._installed = None

    def terminate(self) -> None:
        """Stop the workers at once, without waiting for the chunks they are computing (after Ctrl-C).

        The next :meth:`map` starts a new pool.
        """
        if self._pool is not None:
            processes = list(getattr(self._pool, "_processes", {}).values())  # the executor keeps them here
            for process in processes:
                process.terminate()
            self._pool.shutdown(wait=True, cancel_futures=True)
            for process in processes:
                process.join()
        self._pool = None
        self._installed = None

    def __enter__(self) -> ProcessBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ProcessBackend(workers={self.workers}, start_method={self.start_method!r})"
