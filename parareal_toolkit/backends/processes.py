"""A persistent process pool on one machine, for ODE propagators whose fine solve is expensive.

A fine sweep costs ``ceil(N / W)`` fine slices per worker only if nothing else competes:
every worker therefore runs its numerical libraries (OpenBLAS, MKL, OpenMP) on
``threads_per_worker`` threads (default one, pinned with ``threadpoolctl`` and the usual
environment variables before the propagator is unpickled), so ``W`` workers use ``W``
cores and not ``W`` times the library's default. The pool is started once, with the
propagator (or every level of an MGRIT hierarchy) installed and prepared (its factorisations
built) in every worker, and reused by every later sweep and every later run, so start-up is paid, and can be timed, on its own.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import signal
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from .._validation import check_choice, check_int
from ..propagator import Propagator

__all__ = ["ProcessBackend", "PoolView", "worker_thread_limits", "THREAD_VARIABLES"]

# Read by the numerical libraries when they load: set in a worker before anything is unpickled.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

# The propagator a pool worker evaluates, installed once per worker by the pool initializer
# so each iteration ships only states, not the propagator and its factorisations.
_worker_propagator: Any = None
_worker_barrier: Any = None
_worker_limits: Any = None  # the threadpoolctl limiter, kept alive for the worker's lifetime


def _initialise_worker(payload: bytes, barrier: Any, threads: int) -> None:
    global _worker_propagator, _worker_barrier, _worker_limits
    # Ctrl-C reaches the whole process group: the parent handles it (and terminates the
    # workers); a worker that also raised KeyboardInterrupt would print its own traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    propagator = pickle.loads(payload)  # imports numpy/scipy (and their BLAS) under the variables above
    from threadpoolctl import threadpool_limits

    # Libraries already loaded by the spawn bootstrap ignore the variables: limit them too.
    _worker_limits = threadpool_limits(limits=threads)
    _prepare(propagator)  # factorisations are built at start-up, not in the first sweep
    _worker_propagator = propagator
    _worker_barrier = barrier


def _parts(propagator: Any) -> list[Any] | None:
    """The levels of a hierarchy (an object with a ``levels`` list, as MGRIT's ``AllLevels``), else None."""
    levels = getattr(propagator, "levels", None)
    return levels if isinstance(levels, list) else None


def _prepare(propagator: Any) -> None:
    """``propagator.prepare()``, or, for a hierarchy without one, every level's; nothing where there is none."""
    own = callable(getattr(propagator, "prepare", None))
    for part in [propagator] if own else _parts(propagator) or []:
        prepare = getattr(part, "prepare", None)
        if callable(prepare):
            prepare()


def _holds_same_propagator(installed: Any, propagator: Any) -> bool:
    """Whether a pool holding ``installed`` evaluates ``propagator`` as it is: the same object, or a hierarchy of the same levels.

    :func:`~parareal_toolkit.mgrit` hands the backend a new hierarchy (``AllLevels``) of
    its levels on every run; one of the same type over the very same level objects, with
    the same slice numbering (``offsets``), evaluates the same slices to the same values,
    so the pool keeps it and need not restart.

    Returns
    -------
    bool
        True for ``installed is propagator`` or for two hierarchies of one type whose levels
        are the same objects, in order, with equal ``offsets``.
    """
    if installed is propagator:
        return True
    mine, theirs = _parts(installed), _parts(propagator)
    return (
        mine is not None
        and theirs is not None
        and type(installed) is type(propagator)
        and len(mine) == len(theirs)
        and all(a is b for a, b in zip(mine, theirs))
        and getattr(installed, "offsets", None) == getattr(propagator, "offsets", None)
    )


def _wait_for_all_workers(_: Any) -> int:
    # Each of `workers` tasks blocks until all workers hold one, so every process exists.
    _worker_barrier.wait(timeout=300)
    return os.getpid()


def _propagate_chunk(chunk: list[tuple[Any, int]]) -> tuple[list[Any], float]:
    started = time.process_time()
    values = [_worker_propagator(u, j) for u, j in chunk]
    return values, time.process_time() - started


def worker_thread_limits(_: Any = None) -> list[dict[str, Any]]:
    """The thread pools a pool worker runs, as ``threadpoolctl.threadpool_info()`` reports them.

    Submitted to a :class:`ProcessBackend`'s pool (``backend.submit(worker_thread_limits)``)
    it shows what the workers really use; in this process it shows this process's pools.

    Returns
    -------
    list of dict
        One entry per loaded library (``internal_api``, ``num_threads``, ...).
    """
    from threadpoolctl import threadpool_info

    return threadpool_info()


# workers (and threads per worker) allowed per core: the command line's --workers bound
_PER_CORE = 4


class ProcessBackend:
    """A persistent ``concurrent.futures`` process pool on this machine, for expensive fine propagators.

    Each worker receives the propagator once (pickled at pool start, then prepared: its
    factorisations built) and then, every iteration, one contiguous chunk of slices:
    ``ceil(N / workers)`` fine evaluations. Every worker runs BLAS and OpenMP on
    ``threads_per_worker`` threads. The states travel by pickling, so this pays off only
    when a fine slice costs much more than sending a state (e.g. implicit Euler with many
    substeps). The result equals the serial backend's exactly: the same code runs on the
    same inputs.

    The pool persists: ``start()`` (or the first ``map()``) starts it and every later
    sweep reuses it, for as long as the same propagator is passed (or, for MGRIT, a
    hierarchy of the same levels: ``_holds_same_propagator``); ``startup_seconds``
    is what the last start took, and ``worker_cpu_seconds`` counts the CPU time the
    workers spent on sweeps (against the wall-clock, it shows whether each worker had a
    core of its own). ``view()`` runs sweeps on fewer workers of the same pool.

    Use as a context manager, or call ``close()``; :func:`~parareal_toolkit.parareal` closes a pool it
    created itself from the name ``"processes"``.

    Parameters
    ----------
    workers : int, optional
        Number of worker processes (default: ``os.cpu_count()``; at most 4 per core).
    start_method : str
        ``multiprocessing`` start method; ``"spawn"`` (default) is safe with threads and
        torch, ``"fork"`` starts faster.
    threads_per_worker : int
        BLAS/OpenMP threads of each worker (default 1: ``workers`` workers use ``workers``
        cores; at most 4 per core).
    """

    name = "processes"

    def __init__(self, workers: int | None = None, *, start_method: str = "spawn", threads_per_worker: int = 1):
        if workers is None:
            workers = os.cpu_count() or 1
        # more processes (or threads) than a few per core only wait for a core, and a typo such
        # as 10**6 would start a million processes
        most = _PER_CORE * (os.cpu_count() or 1)
        workers = check_int(workers, "workers", minimum=1, maximum=most)
        check_choice(start_method, "start_method", multiprocessing.get_all_start_methods())
        self.workers = int(workers)
        self.start_method = start_method
        self.threads_per_worker = int(check_int(threads_per_worker, "threads_per_worker", minimum=1, maximum=most))
        self.startup_seconds: float | None = None
        self.worker_cpu_seconds = 0.0
        self._pool: ProcessPoolExecutor | None = None
        self._installed: Any = None

    @property
    def running(self) -> bool:
        """Whether the pool's workers are running."""
        return self._pool is not None

    @property
    def worker_pids(self) -> list[int]:
        """The process ids of the running workers (empty when the pool is not running)."""
        if self._pool is None:
            return []
        return sorted(getattr(self._pool, "_processes", {}))  # the executor keeps its processes by pid

    def start(self, propagator: Propagator) -> ProcessBackend:
        """Start (or restart) the pool with ``propagator`` installed and prepared in every worker, and wait for it.

        The seconds it took (spawning, importing, unpickling, factorising) are kept in
        ``startup_seconds``.

        Returns
        -------
        ProcessBackend
            ``self``, with every worker process running.
        """
        self.close()
        started = time.perf_counter()
        context = multiprocessing.get_context(self.start_method)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_initialise_worker,
            initargs=(pickle.dumps(propagator), context.Barrier(self.workers), self.threads_per_worker),
        )
        self._installed = propagator
        # Start every worker now, so that start-up is not charged to the first iteration.
        pids = set(self._pool.map(_wait_for_all_workers, range(self.workers)))
        if len(pids) != self.workers:  # pragma: no cover - the barrier makes this impossible
            raise RuntimeError(f"expected {self.workers} worker processes, got {len(pids)}.")
        self.startup_seconds = time.perf_counter() - started
        return self

    def submit(self, function: Any, *args: Any) -> Any:
        """Run ``function(*args)`` in one worker of the running pool (a picklable, module-level function).

        Returns
        -------
        object
            What ``function`` returned.
        """
        if self._pool is None:
            raise RuntimeError("the pool is not running: call start(propagator) first.")
        return self._pool.submit(function, *args).result()

    def map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """The fine sweep in the pool, one contiguous chunk of slices per worker.

        Starts the pool on first use, and restarts it when ``propagator`` is not the one
        its workers hold (``_holds_same_propagator``).

        Returns
        -------
        list
            One state per slice, equal to the serial backend's.
        """
        return self._map(propagator, states, slices, self.workers)

    def _map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int], workers: int) -> list[Any]:
        if self._pool is None or not _holds_same_propagator(self._installed, propagator):
            self.start(propagator)
        assert self._pool is not None  # start() created it
        pairs = list(zip(states, slices))
        size = math.ceil(len(pairs) / workers) if pairs else 1
        chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
        out: list[Any] = []
        for values, cpu_seconds in self._pool.map(_propagate_chunk, chunks):
            out.extend(values)
            self.worker_cpu_seconds += cpu_seconds
        return out

    def view(self, workers: int) -> PoolView:
        """A backend that runs each sweep as ``workers`` chunks on this pool (at most :attr:`workers`).

        A study over ``W = 1..workers`` then starts one pool, not one per ``W``; the idle
        workers of a view wait and take no core.

        Returns
        -------
        PoolView
            A backend sharing this pool; closing it does not close the pool.
        """
        workers = check_int(workers, "workers", minimum=1, maximum=self.workers)
        return PoolView(self, int(workers))

    def close(self) -> None:
        """Shut the pool down (waiting for its workers); the next ``map()`` starts a new one."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None
        self._installed = None

    def terminate(self) -> None:
        """Stop the workers at once, without waiting for the chunks they are computing (after Ctrl-C).

        The next ``map()`` starts a new pool.
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
        return (
            f"ProcessBackend(workers={self.workers}, start_method={self.start_method!r}, "
            f"threads_per_worker={self.threads_per_worker})"
        )


class PoolView:
    """Sweeps on ``workers`` chunks of a running :class:`ProcessBackend`'s pool (see :meth:`ProcessBackend.view`)."""

    name = "processes"

    def __init__(self, pool: ProcessBackend, workers: int):
        self.pool = pool
        self.workers = workers

    def map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """The fine sweep as ``workers`` contiguous chunks on the shared pool.

        Returns
        -------
        list
            One state per slice, equal to the serial backend's.
        """
        return self.pool._map(propagator, states, slices, self.workers)

    def __repr__(self) -> str:
        return f"PoolView({self.pool!r}, workers={self.workers})"
