"""Up-front estimates of a measured speedup study: memory from the factors' fill-in, time from a pilot.

:func:`estimate_speedup_study` prices :func:`~parareal_toolkit.ode.speedup_study` before it
builds anything: the sparse factors' fill-in (a model of the factorisation of each kind of
problem) and the worker processes give the memory; one factorisation and one substep timed
on the problem itself, times the substeps every sweep does, give the seconds per iteration.
The number of iterations ``K`` is known only once the study has run; the pilot estimates
it by running parareal on a small shift-invert Krylov space of ``u0``
(:meth:`SpeedupEstimate.least_iterations`, with a margin of ten on ``rtol``), and the study
checks again while ``K`` is sought and once it is known.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_ints
from ..errors import InputTypeError
from ..propagator import TimeGrid
from .implicit_euler import ImplicitEulerPropagator
from .linear import LinearProblem

__all__ = ["SpeedupEstimate", "estimate_speedup_study", "factor_entries", "speedup_study_bytes"]

# One worker process of the pool before it holds any matrix: the interpreter with numpy and
# scipy imported (about 60 MiB resident where measured); counted so many workers are not free.
_PROCESS_BYTES = 80 * 2**20
# Seconds to spawn one worker and import the package in it (the `ode` estimate counts the same).
_SECONDS_PER_WORKER_START = 1.5
# Dimension of the shift-invert Krylov space on which the coarse solution's error is estimated
# (one sparse solve per dimension, on the pilot's factor) and the margin over rtol beyond which
# that estimate counts as "the coarse solution alone misses rtol".
_KRYLOV_DIMENSION = 12
_COARSE_ERROR_MARGIN = 10.0
# Slices over which the coarse and fine solutions are compared in the Krylov space: the error
# is a maximum over slices, so stopping early can only make it smaller (never claims K >= 1 wrongly).
_COMPARED_SLICES = 4096
_ITERATIONS_RUN = 30


@dataclass(frozen=True)
class SpeedupEstimate:
    """What :func:`speedup_study` will need, known before the study runs.

    ``K``, the iterations parareal needs, is known only once it has run: ``seconds`` is the
    study's time with ``K = 0`` (a lower bound) and every further iteration adds
    ``seconds_per_iteration``, so ``seconds + K * seconds_per_iteration`` is the estimate
    for a given ``K`` (at most ``N``).

    Attributes
    ----------
    bytes : float
        Peak memory of this process and the pool: the sparse LU factors (``12`` bytes per
        stored entry; ``0.7 m^1.5`` entries for the 2-D heat equation's nested structure,
        ``4 nnz(A)`` otherwise) of the fine and coarse step in this process and the fine step
        in each worker, the stored states, and a fixed share per worker process.
    seconds : float
        Run time with ``K = 0``: pool start-up, the reference solve, and per repeat one
        sequential fine solve, three coarse sweeps and one coarse sweep per ``W``.
    seconds_per_iteration : float
        The time one more parareal iteration adds: a fine sweep of ``ceil(N / W)`` slices and
        a coarse sweep, for the run that finds ``K`` and for each ``W`` in each repeat.
    substep_s : float
        Seconds of one implicit-Euler substep, the unit of every count above.
    measured : bool
        True when ``substep_s`` was timed on a one-substep pilot (a factorisation and a
        solve of the real size), False when it is the model ``3 µs + 5 ns`` per factor entry.
    parts : dict
        ``seconds`` split by cause, with ``"one parareal iteration"`` beside them.
    search_iteration_s : float
        The part of ``seconds_per_iteration`` spent in the run that finds ``K``.
    timed_s, timed_iteration_s : float
        The timed repeats after ``K`` is found: ``timed_s + K * timed_iteration_s``.
    estimated_errors : tuple of float or None
        Parareal's relative error against the fine solution after ``k = 0, 1, ...``
        iterations, estimated by running it on a 12-dimensional shift-invert Krylov space
        of ``u0`` (2-norms; the first 4096 slices, 30 iterations at most); None without a
        pilot.
    """

    bytes: float
    seconds: float
    seconds_per_iteration: float
    substep_s: float
    measured: bool
    parts: dict[str, float] = field(default_factory=dict)
    search_iteration_s: float = 0.0
    timed_s: float = 0.0
    timed_iteration_s: float = 0.0
    estimated_errors: tuple[float, ...] | None = None

    def least_iterations(self, rtol: float) -> int:
        """The fewest parareal iterations the study is expected to need to reach ``rtol``.

        Returns
        -------
        int
            The first ``k`` whose estimated error is at most ``10 rtol`` (a margin for the
            estimate: the count is one the study will almost surely need), or the number
            of estimated iterations when none is; 0 without a pilot.
        """
        if self.estimated_errors is None:
            return 0
        within = [k for k, error in enumerate(self.estimated_errors) if error <= _COARSE_ERROR_MARGIN * rtol]
        return within[0] if within else len(self.estimated_errors) - 1

    def total(self, iterations: int) -> float:
        """The estimated seconds for ``K = iterations``.

        Returns
        -------
        float
            ``seconds + iterations * seconds_per_iteration``.
        """
        return self.seconds + iterations * self.seconds_per_iteration


def factor_entries(name: str, size: int, nonzeros: int) -> float:
    """Stored entries of a sparse LU factorisation of ``I - h A`` (a fill-in model).

    The 2-D heat equation's five-point stencil fills in like nested dissection, about
    ``0.7 m^1.5`` entries for ``m`` unknowns; the banded 1-D problems keep about ``4 nnz(A)``.

    Returns
    -------
    float
        The modelled number of entries of ``L`` and ``U`` together.
    """
    return 0.7 * size**1.5 if name == "heat2d" else 4.0 * nonzeros


def _factor_entries(problem: LinearProblem) -> float:
    import scipy.sparse as sp

    A = problem.ode.A
    if not sp.issparse(A):
        return float(problem.ode.size) ** 2
    return factor_entries(problem.name, problem.ode.size, A.nnz)


def speedup_study_bytes(entries: float, size: int, slices: int, workers: int) -> float:
    """Peak bytes of a speedup study: LU factors with ``entries`` entries in this process (fine and
    coarse) and in each of ``workers`` workers (fine), states of ``size`` in twelve sets of
    ``slices + 1`` (reference, iterates, guesses, batches in flight, here and in the pool), and
    80 MiB per worker process.

    Returns
    -------
    float
        Bytes.
    """
    return 12.0 * entries * (2 + workers) + 8.0 * size * (slices + 1) * 12 + _PROCESS_BYTES * workers


def check_study_sizes(
    problem: LinearProblem, slices: int, fine_substeps: int, coarse_substeps: int, workers: Sequence[int], repeats: int
) -> tuple[int, int, int, list[int], int]:
    """The arguments a speedup study and its estimate share, checked: ``(N, M, M_c, workers, repeats)``.

    Returns
    -------
    tuple
        ``slices``, ``fine_substeps``, ``coarse_substeps`` and ``repeats`` as positive ``int``,
        ``workers`` as a list of them.
    """
    if not isinstance(problem, LinearProblem):
        raise InputTypeError(f"`problem` must be a LinearProblem; got {type(problem).__name__}.")
    return (
        check_int(slices, "slices", minimum=1),
        check_int(fine_substeps, "fine_substeps", minimum=1),
        check_int(coarse_substeps, "coarse_substeps", minimum=1),
        check_ints(workers, "workers", minimum=1),
        check_int(repeats, "repeats", minimum=1),
    )


def estimate_speedup_study(
    problem: LinearProblem,
    *,
    slices: int = 16,
    fine_substeps: int = 200,
    coarse_substeps: int = 4,
    workers: Sequence[int] = (1, 2),
    repeats: int = 3,
    pilot: bool = True,
) -> SpeedupEstimate:
    """The memory and time :func:`speedup_study` needs with these arguments, before it runs.

    The memory comes from a fill-in model of the sparse factors (nothing is built); the time
    counts implicit-Euler substeps (``N M`` per fine sweep, ``N M_c`` per coarse sweep,
    ``ceil(N / W) M`` per parallel fine sweep) times the seconds of one substep, timed on a
    one-substep pilot of the real size when ``pilot`` is true (one factorisation and two
    solves; run only when the memory model says it fits) and else the model ``3 µs + 5 ns``
    per factor entry. Communication with the pool is not counted. Calibrated to be right
    within a small factor on an idle machine, enough to refuse runs of hours.

    Parameters
    ----------
    problem : LinearProblem
        The problem, with a sparse ``A`` (a dense one is counted as fully filled).
    slices, fine_substeps, coarse_substeps, workers, repeats
        As for :func:`speedup_study`.
    pilot : bool, keyword-only
        Time one substep (default) or use the model only.

    Returns
    -------
    SpeedupEstimate
        Peak bytes, seconds for ``K = 0`` and seconds per iteration.

    Examples
    --------
    >>> from parareal_toolkit.ode import heat_2d
    >>> from parareal_toolkit.ode.speedup_estimate import estimate_speedup_study
    >>> cost = estimate_speedup_study(heat_2d(32, sparse=True), slices=100000, workers=[1, 2])
    >>> cost.seconds > 600  # 2e7 substeps per sequential solve, four solves
    True
    """
    n_slices, m_fine, m_coarse, counts, repeats = check_study_sizes(
        problem, slices, fine_substeps, coarse_substeps, workers, repeats
    )
    size = problem.ode.size
    entries = _factor_entries(problem)
    pool = max(counts)
    factor_bytes = 12.0 * entries
    memory = speedup_study_bytes(entries, size, n_slices, pool)
    substep = 3e-6 + 5e-9 * entries
    factorisation = 1e-7 * entries
    measured = False
    errors = None
    if pilot:
        from .._resources import available_memory

        available = available_memory()
        if available is None or 3 * factor_bytes < available:  # the pilot holds one factor (and splu's workspace)
            h = problem.t_final / n_slices / m_fine
            start = time.perf_counter()
            step = ImplicitEulerPropagator(problem.ode, TimeGrid([0.0, h])).prepare()
            factorisation = time.perf_counter() - start
            step(problem.u0, 0)  # the first call pays for caches
            start = time.perf_counter()
            step(problem.u0, 0)
            substep = time.perf_counter() - start
            measured = True
            errors = _krylov_parareal_errors(lambda v: step(v, 0), problem, n_slices, m_fine, m_coarse)
    fine_sweep = n_slices * m_fine * substep
    coarse_sweep = n_slices * m_coarse * substep
    parts = {
        "pool start-up": _SECONDS_PER_WORKER_START * pool + factorisation * (2 + pool),
        "sequential fine solves": (1 + repeats) * fine_sweep,
        "coarse sweeps": coarse_sweep * (1 + repeats * (3 + len(counts))),
    }
    search_iteration = math.ceil(n_slices / pool) * m_fine * substep + coarse_sweep
    timed_iteration = repeats * sum(math.ceil(n_slices / w) * m_fine * substep + coarse_sweep for w in counts)
    parts["one parareal iteration"] = search_iteration + timed_iteration
    return SpeedupEstimate(
        bytes=memory,
        seconds=parts["pool start-up"] + parts["sequential fine solves"] + parts["coarse sweeps"],
        seconds_per_iteration=search_iteration + timed_iteration,
        substep_s=substep,
        measured=measured,
        parts=parts,
        search_iteration_s=search_iteration,
        timed_s=repeats * (fine_sweep + (3 + len(counts)) * coarse_sweep),
        timed_iteration_s=timed_iteration,
        estimated_errors=errors,
    )


def _krylov_parareal_errors(
    solve: Callable[[np.ndarray], np.ndarray], problem: LinearProblem, slices: int, fine: int, coarse: int
) -> tuple[float, ...]:
    """Parareal's relative error per iteration, ``k = 0, 1, ...``, run on a shift-invert Krylov space of ``u0``.

    ``solve`` applies ``B = (I - h A)^{-1}`` with ``h = ΔT / M`` (one fine substep, the
    pilot's factor), so the fine slice map is ``B^M`` exactly; Arnoldi on ``B`` from ``u0``
    gives ``V^T B V = H`` on an orthonormal ``V`` whose leading directions are the slow
    modes that carry the solution. On that space ``A ~ (I - H^{-1}) / h``, the fine slice
    is ``H^M`` and the coarse one ``(I - (ΔT / M_c) A)^{-M_c}``, and parareal runs on
    ``k``-vectors; errors and scale are maxima over slices of 2-norms. Only the first 4096
    slices and 30 iterations are run: parareal's error on the first slices is at most that
    on all, so both caps can only make the count of iterations smaller.
    """
    beta = float(np.linalg.norm(problem.u0))
    if not math.isfinite(beta) or beta == 0:
        return (0.0,)
    V = np.zeros((problem.ode.size, _KRYLOV_DIMENSION + 1))
    H = np.zeros((_KRYLOV_DIMENSION + 1, _KRYLOV_DIMENSION))
    V[:, 0] = problem.u0 / beta
    k = _KRYLOV_DIMENSION
    for j in range(_KRYLOV_DIMENSION):
        w = np.asarray(solve(V[:, j]), dtype=float)
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to working precision
            c = V[:, : j + 1].T @ w
            w = w - V[:, : j + 1] @ c
            H[: j + 1, j] += c
        H[j + 1, j] = np.linalg.norm(w)
        if H[j + 1, j] <= 1e-12 * np.abs(H[: j + 1, j]).max():  # invariant space: the projection is exact
            k = j + 1
            break
        V[:, j + 1] = w / H[j + 1, j]
    Hk, identity = H[:k, :k], np.eye(k)
    try:
        A = (identity - np.linalg.inv(Hk)) * (slices * fine / problem.t_final)
        F = np.linalg.matrix_power(Hk, fine)
        G = np.linalg.matrix_power(np.linalg.inv(identity - problem.t_final / slices / coarse * A), coarse)
    except np.linalg.LinAlgError:
        return (0.0,)  # no estimate: K >= 0 stays the bound
    n = min(slices, _COMPARED_SLICES)

    def sweep(propagator: np.ndarray, corrections: np.ndarray) -> np.ndarray:
        """States at the n + 1 slice starts: u_{j+1} = propagator u_j + corrections[:, j], from e1."""
        states = np.empty((k, n + 1))
        states[:, 0] = identity[:, 0]
        for j in range(n):
            states[:, j + 1] = propagator @ states[:, j] + corrections[:, j]
        return states

    exact = sweep(F, np.zeros((k, n)))
    scale = float(np.linalg.norm(exact, axis=0).max())
    iterate = sweep(G, np.zeros((k, n)))
    errors = [float(np.linalg.norm(iterate - exact, axis=0).max()) / scale]
    while len(errors) <= min(n, _ITERATIONS_RUN) and math.isfinite(errors[-1]) and errors[-1] > 0:
        iterate = sweep(G, F @ iterate[:, :-1] - G @ iterate[:, :-1])
        errors.append(float(np.linalg.norm(iterate - exact, axis=0).max()) / scale)
    return tuple(e if math.isfinite(e) else 0.0 for e in errors)
