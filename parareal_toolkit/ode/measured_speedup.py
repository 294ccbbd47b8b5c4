"""The speedup study: parareal against the sequential fine solve, both at the same accuracy.

A speedup means something only at equal accuracy. The study therefore

1. solves sequentially with the fine propagator (``N`` fine slices, the reference ``U^F``);
2. finds ``K``, the first iteration whose error against ``U^F`` is at most ``rtol`` relative,
   ``max_j ||U^K_j - U^F_j||_inf <= rtol max_j ||U^F_j||_inf`` (parareal is exact after ``N``
   iterations, so some ``K <= N`` always reaches it unless a value is non-finite);
3. times parareal with exactly ``K`` iterations on ``W`` workers of one persistent process
   pool (started once, its start-up timed on its own, warmed by step 2; every worker and
   this process run BLAS on one thread), for every ``W`` asked for, and checks each timed
   result's error again;
4. puts each measured speedup ``T_seq / T_par`` beside the cost model's prediction from the
   counted costs: with ``c_F`` and ``c_G`` the measured seconds of one fine and one coarse
   slice (from the sequential fine solve and a coarse sweep),

   ``S_model(W) = N c_F / ((K + 1) N c_G + K ceil(N / W) c_F)``,

   which is :func:`~parareal_toolkit.ode.speedup` with ``α = c_G / c_F`` for ``K >= 1``
   (``K = 0``: one coarse sweep, ``1 / α``). Communication is not modelled, so the ratio
   measured/model says what the pool costs beyond the counted work.

Repeats interleave the sequential solve and the parareal runs, so a change of machine load
affects both sides alike; the medians are reported. The fine propagator is ``M``
implicit-Euler substeps with a sparse LU (``splu``) factorisation, the coarse one ``M_c``
substeps: a fine solve that dominates, as parareal needs.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_int, check_real
from ..backends import ProcessBackend
from ..driver import IterationInfo, parareal
from ..errors import InputError
from ..propagator import TimeGrid, propagate_sequentially
from ..results import results_table
from .implicit_euler import ImplicitEulerPropagator
from .linear import LinearProblem
from .speedup_estimate import (
    SpeedupEstimate,
    check_study_sizes,
    estimate_speedup_study,
    factor_entries,
)
from .theory import _modelled_speedup

__all__ = [
    "SpeedupRow",
    "SpeedupStudy",
    "SpeedupEstimate",
    "estimate_speedup_study",
    "factor_entries",
    "speedup_study",
    "modelled_speedup",
    "plot_speedup_study",
]


def modelled_speedup(
    fine_cost: float, coarse_cost: float, num_slices: int, iterations: int, workers: int, *, core_share: float = 1.0
) -> float:
    """The cost model's speedup ``N c_F / ((K + 1) N c_G + K ceil(N / W) c_F / s)``.

    One coarse sweep makes the initial iterate; each of the ``K`` iterations costs one fine
    sweep, ``ceil(N / W)`` fine slices on ``W`` workers, and one coarse sweep. Each worker
    has the share ``s`` of a core (default 1, a core of its own). For ``K >= 1`` and
    ``s = 1`` this is :func:`~parareal_toolkit.ode.speedup` with ``α = c_G / c_F``.

    Parameters
    ----------
    fine_cost, coarse_cost : float
        Seconds of one fine slice (positive) and one coarse slice.
    num_slices, iterations, workers : int
        ``N >= 1``, ``K >= 0``, ``W >= 1``.
    core_share : float, keyword-only
        ``0 < s <= 1``: the fraction of a core each worker gets, as measured when other
        processes compete for the cores (``SpeedupRow.core_share``).

    Returns
    -------
    float
        The modelled speedup over the sequential fine solve.

    Examples
    --------
    >>> from parareal_toolkit.ode import modelled_speedup, speedup
    >>> round(modelled_speedup(1.0, 0.01, 16, 4, 2), 4)  # 1 / (5 * 0.01 + 4 * 8 / 16)
    0.4878
    >>> modelled_speedup(1.0, 0.01, 16, 4, 2) == speedup(0.01, 16, 4, workers=2)
    True
    >>> round(modelled_speedup(1.0, 0.01, 16, 4, 2, core_share=0.5), 4)  # two workers sharing one core
    0.2469
    """
    c_f = check_real(fine_cost, "fine_cost", minimum=0, strict=True)
    c_g = check_real(coarse_cost, "coarse_cost", minimum=0)
    n = check_int(num_slices, "num_slices", minimum=1)
    k = check_int(iterations, "iterations", minimum=0)
    w = check_int(workers, "workers", minimum=1)
    share = check_real(core_share, "core_share", minimum=0, strict=True)
    if share > 1:
        raise InputError(f"`core_share` must be at most 1 (a whole core per worker); got {core_share!r}.")
    return _modelled_speedup(c_g / c_f, n, k, w, core_share=share)


@dataclass(frozen=True)
class SpeedupRow:
    """One worker count of a :class:`SpeedupStudy` (times are medians over the repeats).

    Attributes
    ----------
    workers : int
        ``W``.
    iterations : int
        ``K``, the iterations run (the first that reaches the tolerance).
    sequential_s, parareal_s : float
        Seconds of the sequential fine solve and of parareal with ``K`` iterations.
    measured, model : float
        ``sequential_s / parareal_s`` and :func:`modelled_speedup`.
    error : float
        The relative error of the timed parareal result against the fine solution (the
        largest over the repeats), at most the study's ``rtol``.
    core_share : float
        The CPU seconds the busy workers spent in the fine sweeps over their wall-clock
        seconds times the number of busy workers: 1 when each had a core of its own, less
        when other processes took CPU time the model counts on. The wall-clock includes
        sending the states, so sweeps not much longer than a round trip to the pool show a
        low share too.
    model_at_share : float
        :func:`modelled_speedup` with that ``core_share``: what the model predicts for the
        cores the workers actually got (shown beside, never instead of, ``model``).
    """

    workers: int
    iterations: int
    sequential_s: float
    parareal_s: float
    measured: float
    model: float
    error: float
    core_share: float
    model_at_share: float

    @property
    def ratio(self) -> float:
        """``measured / model``."""
        return self.measured / self.model


@dataclass
class SpeedupStudy:
    """What :func:`speedup_study` measured.

    Attributes
    ----------
    rows : list of SpeedupRow
        One per worker count, in the order asked for.
    description : str
        The problem and the propagators, in words.
    num_slices : int
        ``N``.
    rtol : float
        The relative tolerance against the fine solution.
    iterations : int
        ``K``, the first iteration whose relative error is at most ``rtol``.
    errors : list of float
        The relative error of iterate ``k = 0..K`` against the fine solution.
    startup_s : float
        Seconds the pool took to start: spawning the workers, importing, receiving and
        factorising the fine propagator. Not part of any parareal time.
    fine_slice_s, coarse_slice_s : float
        ``c_F`` and ``c_G``, measured medians of one slice.
    pool_workers : int
        Worker processes of the pool (the largest ``W``).
    repeats : int
        Timed runs per ``W`` (and sequential solves).
    settings : dict
        The arguments of the study (problem, sizes, substeps, ``W``, ``rtol``, repeats).
    load_average : tuple of float or None
        The machine's 1-minute load average before and after the timed runs
        (``os.getloadavg``; None where the system has none): above the core count, other
        processes took cores the workers were counted on.
    sequential_core_share : float or None
        CPU seconds over wall-clock seconds of the sequential fine solve (median): 1 when
        this process had a core of its own.
    method : str
        What was timed against the sequential fine solve: ``"parareal"`` or ``"MGRIT"``.
    """

    rows: list[SpeedupRow]
    description: str
    num_slices: int
    rtol: float
    iterations: int
    errors: list[float]
    startup_s: float
    fine_slice_s: float
    coarse_slice_s: float
    pool_workers: int
    repeats: int
    settings: dict[str, Any] = field(default_factory=dict)
    load_average: tuple[float, float] | None = None
    sequential_core_share: float | None = None
    method: str = "parareal"

    def table(self) -> dict[str, Any]:
        """The rows as a :func:`~parareal_toolkit.results.results_table` (the cells a page shows).

        Returns
        -------
        dict
            Columns W, K needed, sequential s, parareal s, start-up s, measured speedup,
            model speedup, measured/model, error.
        """
        columns = [
            "W",
            "K needed",
            "sequential s",
            f"{self.method} s",
            "start-up s",
            "measured speedup",
            "model speedup",
            "measured/model",
            "relative error",
            "worker core share",
            "model at core share",
        ]
        cells = [
            [
                str(r.workers),
                str(r.iterations),
                f"{r.sequential_s:.4g}",
                f"{r.parareal_s:.4g}",
                f"{self.startup_s:.3g}",
                f"{r.measured:.2f}",
                f"{r.model:.2f}",
                f"{r.ratio:.2f}",
                f"{r.error:.1e}",
                f"{r.core_share:.2f}",
                f"{r.model_at_share:.2f}",
            ]
            for r in self.rows
        ]
        title = (
            f"{self.description}; {self.method} to relative error {self.rtol:g} against the fine solution "
            f"(K = {self.iterations} of N = {self.num_slices}), persistent pool of {self.pool_workers} "
            f"worker(s), BLAS on 1 thread, medians of {self.repeats}"
        )
        if self.load_average is not None:
            title += f"; 1-min load average {self.load_average[0]:.1f} before, {self.load_average[1]:.1f} after"
        return results_table(title, columns, cells)

    def as_dict(self) -> dict[str, Any]:
        """Every number of the study, for a results file.

        Returns
        -------
        dict
            The settings, ``K``, the errors per iteration, start-up, ``c_F``, ``c_G`` and one
            dict per row.
        """
        return {
            "description": self.description,
            "method": self.method,
            "settings": self.settings,
            "num_slices": self.num_slices,
            "rtol": self.rtol,
            "iterations": self.iterations,
            "errors": self.errors,
            "startup_s": self.startup_s,
            "fine_slice_s": self.fine_slice_s,
            "coarse_slice_s": self.coarse_slice_s,
            "pool_workers": self.pool_workers,
            "repeats": self.repeats,
            "load_average": None if self.load_average is None else list(self.load_average),
            "sequential_core_share": self.sequential_core_share,
            "rows": [
                {
                    "workers": r.workers,
                    "iterations": r.iterations,
                    "sequential_s": r.sequential_s,
                    "parareal_s": r.parareal_s,
                    "measured_speedup": r.measured,
                    "model_speedup": r.model,
                    "measured_over_model": r.ratio,
                    "relative_error": r.error,
                    "worker_core_share": r.core_share,
                    "model_speedup_at_core_share": r.model_at_share,
                }
                for r in self.rows
            ],
        }


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):  # not every system keeps one
        return None


def _relative_error(states: Sequence[np.ndarray], reference: Sequence[np.ndarray], scale: float) -> float:
    return max(float(np.abs(u - r).max()) for u, r in zip(states, reference)) / scale


def speedup_study(
    problem: LinearProblem,
    *,
    slices: int = 16,
    fine_substeps: int = 200,
    coarse_substeps: int = 4,
    workers: Sequence[int] = (1, 2),
    rtol: float = 1e-6,
    repeats: int = 3,
    start_method: str = "spawn",
    progress: Any = None,
    time_limit: float | None = None,
) -> SpeedupStudy:
    """Measure parareal's speedup over the sequential fine solve at equal accuracy, for each ``W``.

    See the module docstring for the procedure and the model. Nothing is reported for an
    unconverged ``K``: the timed runs use the first ``K`` that reaches ``rtol`` and each
    timed result is checked against the fine solution again.

    Parameters
    ----------
    problem : LinearProblem
        ``u' = A u`` with its ``u0`` and ``t_final``; a sparse ``A`` keeps the substeps
        cheap to factorise (``splu``) and is what the study is meant for.
    slices : int
        ``N >= 1``.
    fine_substeps, coarse_substeps : int
        Implicit-Euler substeps per slice of the fine (``M``, the expensive one) and the
        coarse (``M_c``) propagator.
    workers : sequence of int
        The worker counts ``W`` to measure; the pool has ``max(workers)`` processes.
    rtol : float
        The relative tolerance against the fine solution (positive).
    repeats : int
        Timed runs per ``W`` (and sequential solves); medians are reported.
    start_method : str
        The pool's ``multiprocessing`` start method.
    progress : callable, optional
        Called with one line of text as each stage ends (start-up, ``K``, each ``W``).
    time_limit : float, optional
        Seconds the study may take. Before any work, the study is refused when
        ``estimate_speedup_study`` (with ``K = 0``, a lower bound) exceeds it; while
        parareal looks for ``K``, it is stopped as soon as the time spent plus the estimate
        of the rest (with at least one more iteration) exceeds it; and once ``K`` is known,
        before the timed runs, the same with the estimate for that ``K``. Default: no limit.

    Returns
    -------
    SpeedupStudy
        One :class:`SpeedupRow` per ``W``, the start-up time, ``K`` and the errors.

    Raises
    ------
    ValueError
        For a refused argument, or when parareal produces a non-finite value before it
        reaches ``rtol`` (no ``K`` to time), or (``InputError`` naming ``time_limit``) when
        the study is estimated to exceed ``time_limit``.

    Examples
    --------
    >>> from parareal_toolkit.ode import heat_2d, speedup_study
    >>> study = speedup_study(heat_2d(6, sparse=True), slices=4, fine_substeps=20, workers=[1], repeats=1)
    >>> study.iterations <= 4 and study.rows[0].error <= 1e-6
    True
    """
    n, fine_substeps, coarse_substeps, counts, repeats = check_study_sizes(
        problem, slices, fine_substeps, coarse_substeps, workers, repeats
    )
    rtol = check_real(rtol, "rtol", minimum=0, strict=True)
    if time_limit is not None:
        time_limit = check_real(time_limit, "time_limit", minimum=0, strict=True)
    say = progress if progress is not None else (lambda line: None)
    began = time.perf_counter()
    cost = estimate_speedup_study(
        problem,
        slices=n,
        fine_substeps=fine_substeps,
        coarse_substeps=coarse_substeps,
        workers=counts,
        repeats=repeats,
        pilot=time_limit is not None,
    )

    def refuse_over_limit(iterations: int, stage: str) -> None:
        """Refuse when the time spent plus the estimate of the rest, with ``K >= iterations``, exceeds the limit."""
        if time_limit is None:
            return
        spent = time.perf_counter() - began
        if stage == "before the study":
            projected = cost.total(iterations)
        elif stage == "while looking for K":  # one more search iteration at least, then the timed runs
            projected = spent + cost.search_iteration_s + cost.timed_s + iterations * cost.timed_iteration_s
        else:  # K found: the timed runs are left
            projected = spent + cost.timed_s + iterations * cost.timed_iteration_s
        if projected > time_limit:
            raise InputError(
                f"the speedup study would take at least ~{projected:.3g} s ({stage}: {spent:.3g} s spent, "
                f"K >= {iterations}, {cost.substep_s:.2g} s per implicit-Euler substep), more than "
                f"`time_limit`={time_limit:g} s; use fewer slices, fine_substeps or repeats, a smaller problem, "
                "or a larger time_limit."
            )

    refuse_over_limit(0, "before the study")

    from threadpoolctl import threadpool_limits

    grid = TimeGrid.uniform(problem.t_final, n)
    fine = ImplicitEulerPropagator(problem.ode, grid, substeps=fine_substeps).prepare()
    coarse = ImplicitEulerPropagator(problem.ode, grid, substeps=coarse_substeps).prepare()
    description = (
        f"{problem.description}, T = {problem.t_final:g}; fine: {fine_substeps} implicit-Euler substeps per slice, "
        f"coarse: {coarse_substeps}"
    )
    # This process runs the sequential solve and the coarse sweeps: one thread, like a worker.
    with threadpool_limits(limits=1), ProcessBackend(max(counts), start_method=start_method) as pool:
        reference = propagate_sequentially(fine, problem.u0)
        scale = max(float(np.abs(r).max()) for r in reference)
        if not math.isfinite(scale) or scale == 0:
            raise InputError(
                f"the fine solution must be finite and nonzero for a relative tolerance; its largest entry is {scale}."
            )

        pool.start(fine)
        startup = pool.startup_seconds
        assert startup is not None  # start() measured it
        say(f"pool start-up: {startup:.3f} s ({pool.workers} worker process(es), not part of any timing below)")

        # K: the first iterate within rtol. This run also warms the pool (the first sweeps).
        errors: list[float] = []

        def watch(info: IterationInfo) -> None:
            errors.append(_relative_error(info.states, reference, scale))
            if errors[-1] <= rtol or not math.isfinite(errors[-1]):
                raise StopIteration
            refuse_over_limit(len(errors), "while looking for K")  # not there yet: one more iteration at least

        parareal(fine, coarse, problem.u0, backend=pool, callback=watch, store_iterates=False)
        if not math.isfinite(errors[-1]) or errors[-1] > rtol:
            raise InputError(
                f"parareal did not reach rtol={rtol:g} against the fine solution (relative error {errors[-1]:g} "
                f"after {len(errors) - 1} iteration(s)): no iteration count to time."
            )
        k_needed = len(errors) - 1
        say(
            f"K = {k_needed}: relative error {errors[-1]:.2e} <= rtol {rtol:g} (errors per iteration: "
            + ", ".join(f"{e:.1e}" for e in errors)
            + ")"
        )

        refuse_over_limit(k_needed, f"K = {k_needed} found")
        load_before = _load_average()
        sequential: list[float] = []
        coarse_sweeps: list[float] = []
        parallel: dict[int, list[float]] = {w: [] for w in counts}
        shares: dict[int, list[float]] = {w: [] for w in counts}
        worst: dict[int, float] = dict.fromkeys(counts, 0.0)
        views = {w: pool.view(w) for w in counts}
        sequential_shares: list[float] = []
        for _ in range(repeats):
            cpu_start, start = time.process_time(), time.perf_counter()
            propagate_sequentially(fine, problem.u0)
            sequential.append(time.perf_counter() - start)
            sequential_shares.append((time.process_time() - cpu_start) / sequential[-1])
            for _ in range(3):  # a coarse sweep is short: three of them per repeat
                start = time.perf_counter()
                propagate_sequentially(coarse, problem.u0)
                coarse_sweeps.append(time.perf_counter() - start)
            for w in counts:
                cpu_before = pool.worker_cpu_seconds
                start = time.perf_counter()
                result = parareal(fine, coarse, problem.u0, iterations=k_needed, backend=views[w], store_iterates=False)
                parallel[w].append(time.perf_counter() - start)
                busy = len(range(0, n, math.ceil(n / w)))  # the chunks of a sweep: workers with work
                if k_needed > 0:
                    shares[w].append((pool.worker_cpu_seconds - cpu_before) / (busy * result.timings["fine"]))
                error = _relative_error(result.states, reference, scale)
                if not error <= rtol:  # pragma: no cover - the same code on the same inputs as the run above
                    raise RuntimeError(f"the timed run on {w} worker(s) has relative error {error:g} > rtol {rtol:g}.")
                worst[w] = max(worst[w], error)

    load_after = _load_average()
    say(
        f"sequential fine solve: core share {statistics.median(sequential_shares):.2f} (CPU seconds over wall-clock "
        "seconds of this process; below 1, other processes took part of its core)"
    )
    c_f = statistics.median(sequential) / n
    c_g = statistics.median(coarse_sweeps) / n
    rows = []
    for w in counts:
        seq, par = statistics.median(sequential), statistics.median(parallel[w])
        share = min(statistics.median(shares[w]), 1.0) if shares[w] else 1.0  # K = 0: no fine sweep
        model = modelled_speedup(c_f, c_g, n, k_needed, w)
        at_share = modelled_speedup(c_f, c_g, n, k_needed, w, core_share=share)
        row = SpeedupRow(w, k_needed, seq, par, seq / par, model, worst[w], share, at_share)
        rows.append(row)
        say(
            f"W = {w}: measured {row.measured:.2f}x, model {row.model:.2f}x, measured/model {row.ratio:.2f}, "
            f"worker core share {row.core_share:.2f} (model at that share {row.model_at_share:.2f}x)"
        )
    settings = {
        "problem": problem.name,
        "size": problem.ode.size,
        "t_final": problem.t_final,
        "slices": n,
        "fine_substeps": fine_substeps,
        "coarse_substeps": coarse_substeps,
        "workers": counts,
        "rtol": rtol,
        "repeats": repeats,
    }
    return SpeedupStudy(
        rows=rows,
        description=description,
        num_slices=n,
        rtol=rtol,
        iterations=k_needed,
        errors=errors,
        startup_s=startup,
        fine_slice_s=c_f,
        coarse_slice_s=c_g,
        pool_workers=max(counts),
        repeats=repeats,
        settings=settings,
        load_average=None if load_before is None or load_after is None else (load_before, load_after),
        sequential_core_share=statistics.median(sequential_shares),
    )


def plot_speedup_study(study: SpeedupStudy, ax: Any = None) -> Any:
    """Measured and modelled speedup against the number of workers ``W``.

    Parameters
    ----------
    study : SpeedupStudy
        What :func:`speedup_study` returned.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
        The axes, with the measured points, the model and the line ``speedup = 1``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    w = [r.workers for r in study.rows]
    ax.plot(w, [r.model for r in study.rows], "s--", label="model (counted costs)")
    ax.plot(w, [r.measured for r in study.rows], "o-", label="measured")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("workers W")
    ax.set_ylabel("speedup over the sequential fine solve")
    ax.set_xticks(w)
    ax.set_title(f"K = {study.iterations} of N = {study.num_slices} (relative error <= {study.rtol:g})", fontsize=10)
    ax.legend()
    return ax
