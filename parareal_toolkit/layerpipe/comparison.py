"""Schedules side by side: cycles per micro-batch, speedup, utilisation, communication.

For a synchronous schedule, cycles per micro-batch = makespan / m (one step is m
micro-batches); for an asynchronous one it is the steady-state period (one micro-batch per
step), measured by :func:`.steady_state.steady_state_period` on an unrolled run. Speedup of
schedule X over the baseline (PipeDream) = baseline cycles / X cycles at the same P; the
LayerPipe abstract claims 1.25 on average and "upwards of 80%" (1.8) at P = 7..9.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, overload

from .._names import LAYERPIPE_SCHEDULERS
from .._validation import check_callable, check_choice, check_ints
from ..errors import InputError, InputTypeError
from .costs import CostProfile
from .engine import Trace, simulate
from .folding import iteration_bound
from .modulo_scheduling import PeriodicScheduleInfo, simulated_period
from .schedule_builders import SCHEDULES, build_schedule
from .steady_state import SteadyStateNotReached, steady_state_period
from .task_graph import Schedule

__all__ = ["evaluate", "compare", "PAPER_AVERAGE_SPEEDUP", "PAPER_PEAK_SPEEDUP"]

PAPER_AVERAGE_SPEEDUP = 1.25
PAPER_PEAK_SPEEDUP = 1.80  # "upwards of 80%" with 7 to 9 processors
_MAX_DOUBLINGS = 4


@overload
def evaluate(
    name: str,
    profile: CostProfile,
    processors: int,
    *,
    microbatches: int = ...,
    steps: int | None = ...,
    latency: float = ...,
    bandwidth: float = ...,
    scheduler: str = ...,
    time_limit: float = ...,
    return_trace: Literal[False] = ...,
) -> dict[str, Any]: ...


@overload
def evaluate(
    name: str,
    profile: CostProfile,
    processors: int,
    *,
    microbatches: int = ...,
    steps: int | None = ...,
    latency: float = ...,
    bandwidth: float = ...,
    scheduler: str = ...,
    time_limit: float = ...,
    return_trace: Literal[True],
) -> tuple[dict[str, Any], Trace]: ...


def evaluate(
    name: str,
    profile: CostProfile,
    processors: int,
    *,
    microbatches: int = 8,
    steps: int | None = None,
    latency: float = 0.0,
    bandwidth: float = math.inf,
    scheduler: str = "decide",
    time_limit: float = 60.0,
    return_trace: bool = False,
) -> dict[str, Any] | tuple[dict[str, Any], Trace]:
    """Simulate one schedule and measure it.

    An asynchronous schedule whose run does not yet show its periodic steady state is
    rebuilt with twice the steps (up to four times), so the period reported is exact.
    ``scheduler`` (one of ``LAYERPIPE_SCHEDULERS``) says how ``layerpipe`` runs its
    placement: ``"periodic"`` (the rate-optimal static periodic schedule, MILP solves of at
    most ``time_limit`` seconds), ``"list"`` (oldest step first) or ``"decide"`` (both
    simulated, the faster one reported); the other schedules ignore it.

    Returns
    -------
    dict or (dict, Trace)
        The metrics: ``schedule``, ``processors``, ``cycles_per_microbatch`` (makespan / m,
        or the steady-state period), ``utilisation``, ``communication_per_microbatch``
        (elements), ``asynchronous``, ``peak_in_flight``; plus ``makespan`` and
        ``bubble_fraction`` (synchronous) or ``iteration_bound``, ``load_bound``,
        ``staleness`` and ``weight_versions`` (asynchronous). LayerPipe rows add
        ``scheduler`` (the one reported), ``list_cycles`` and/or ``periodic_cycles`` (the
        simulated period of each scheduler run) and, for the periodic one,
        ``periodic_period`` (its static T), ``periodic_lower_bound``, ``periodic_status``
        and ``periodic_gap``. With ``return_trace`` also the :class:`.engine.Trace` of the
        run measured.

    Examples
    --------
    1F1B over four balanced stages with eight micro-batches: ``(m + p - 1)(f + b + w)``
    cycles and the bubble ``(p - 1)/(m + p - 1) = 3/11``:

    >>> from parareal_toolkit.layerpipe import evaluate, profile_from_costs
    >>> profile = profile_from_costs([1.0] * 8, [1.0] * 8, [1.0] * 8)
    >>> row = evaluate("1f1b", profile, 4, microbatches=8)
    >>> row["makespan"], round(row["bubble_fraction"], 4), row["asynchronous"]
    (66.0, 0.2727, False)
    """
    name = check_choice(name, "schedule", SCHEDULES)
    scheduler = check_choice(scheduler, "scheduler", LAYERPIPE_SCHEDULERS)
    run = _Run(name, profile, processors, microbatches, steps, latency, bandwidth)
    if name != "layerpipe":
        row, trace = _evaluate_one(run, {})
        return (row, trace) if return_trace else row
    runs = {}
    for chosen in ("periodic", "list") if scheduler == "decide" else (scheduler,):
        options: dict[str, Any] = {"scheduler": chosen}
        if chosen == "periodic":
            options.update(latency=latency, bandwidth=bandwidth, time_limit=time_limit)
        runs[chosen] = _evaluate_one(run, options)
    # "decide": the periodic schedule unless the list schedule is faster by more than rounding
    best = next(iter(runs))
    if len(runs) == 2:
        periodic, listed = (runs[k][0]["cycles_per_microbatch"] for k in ("periodic", "list"))
        best = "list" if listed < periodic * (1 - 1e-9) else "periodic"
    row, trace = runs[best]
    row = dict(row, scheduler=best)
    for chosen, (other, other_trace) in runs.items():
        row[f"{chosen}_cycles"] = other["cycles_per_microbatch"]
        info = other_trace.schedule.info
        if isinstance(info, PeriodicScheduleInfo):
            plan = info.periodic
            row.update(
                periodic_period=plan.period,
                periodic_lower_bound=plan.lower_bound,
                periodic_status=plan.status,
                periodic_gap=plan.gap,
            )
    return (row, trace) if return_trace else row


@dataclass(frozen=True)
class _Run:
    """What :func:`evaluate` measures: one schedule of ``profile`` on ``processors``, and the links."""

    name: str
    profile: CostProfile
    processors: int
    microbatches: int
    steps: int | None
    latency: float
    bandwidth: float

    def build(self, options: dict[str, Any], steps: int | None) -> Schedule:
        """The schedule, unrolled over ``steps`` (asynchronous) with the builder ``options``."""
        return build_schedule(
            self.name, self.profile, self.processors, microbatches=self.microbatches, steps=steps, **options
        )

    def simulate(self, sched: Schedule) -> Trace:
        """:func:`.engine.simulate`, refusing a run whose times overflow float64 (costs or latency near 1e308)."""
        trace = simulate(sched, latency=self.latency, bandwidth=self.bandwidth)
        if not math.isfinite(trace.makespan):
            raise InputError(
                f"the simulated times overflow float64 (makespan {trace.makespan!r}): the costs and "
                f"`latency` ({self.latency:.3g}) are too large; scale them down."
            )
        return trace


def _evaluate_one(run: _Run, options: dict[str, Any]) -> tuple[dict[str, Any], Trace]:
    """:func:`evaluate` of one schedule built with ``options``: its row and the trace measured."""
    sched = run.build(options, run.steps)
    trace = run.simulate(sched)
    row: dict[str, Any]
    if sched.asynchronous:
        cycles = None
        for _ in range(_MAX_DOUBLINGS):
            try:
                cycles = _period(trace)
                break
            except SteadyStateNotReached:  # a long transient or a long cycle: unroll more
                sched = run.build(options, 2 * sched.microbatches)
                trace = run.simulate(sched)
        if cycles is None:
            cycles = _period(trace)
        info = sched.info
        comm = (sched.communication_volume() / sched.microbatches) + info.allreduce_volume
        row = dict(
            iteration_bound=iteration_bound(sched, latency=run.latency, bandwidth=run.bandwidth),
            load_bound=info.load_bound,
            staleness=None if info.staleness is None else list(info.staleness),
            weight_versions=None if info.weight_versions is None else list(info.weight_versions),
        )
    else:
        cycles = trace.makespan / sched.microbatches
        comm = sched.communication_volume() / sched.microbatches
        row = dict(makespan=trace.makespan, bubble_fraction=trace.bubble_fraction)
    if not (math.isfinite(cycles) and cycles > 0):
        raise InputError(
            f"schedule {run.name!r} at P={run.processors} measured {cycles!r} cycles per micro-batch: the "
            f"costs (total {run.profile.total:.3g}) and `latency` ({run.latency:.3g}) must keep every time "
            "positive and finite in float64."
        )
    work = sum(sched.cost.values()) / sched.microbatches
    row.update(
        schedule=run.name,
        processors=run.processors,
        cycles_per_microbatch=cycles,
        utilisation=work / (run.processors * cycles) if cycles > 0 else 0.0,
        communication_per_microbatch=comm,
        asynchronous=sched.asynchronous,
        peak_in_flight=max(trace.peak_in_flight()),
    )
    return row, trace


def _period(trace: Trace) -> float:
    """The steady-state period of an asynchronous run (of a periodic order, or any other)."""
    info = trace.schedule.info
    return (
        simulated_period(trace, info.periodic) if isinstance(info, PeriodicScheduleInfo) else steady_state_period(trace)
    )


def compare(
    profile: CostProfile,
    processors: Iterable[int],
    schedules: Iterable[str],
    *,
    microbatches: int = 8,
    baseline: str = "pipedream",
    progress: Callable[[int, str], None] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Every schedule at every processor count, against ``baseline``.

    ``kwargs`` go to :func:`evaluate` (``steps``, ``latency``, ``bandwidth``, ``scheduler``,
    ``time_limit``).
    ``progress(P, schedule)`` is called after each row is measured.

    Returns
    -------
    list of dict
        One :func:`evaluate` row per (P, schedule), P-major, each with ``speedup`` =
        baseline cycles / the schedule's cycles at that P, and ``baseline``.

    Examples
    --------
    GPipe and LayerPipe against PipeDream on eight equal layers (one cycle per task):

    >>> from parareal_toolkit.layerpipe import compare, profile_from_costs
    >>> profile = profile_from_costs([1.0] * 8, [1.0] * 8, [1.0] * 8)
    >>> for row in compare(profile, [2, 4], ["gpipe", "layerpipe"]):
    ...     print(row["processors"], row["schedule"], row["cycles_per_microbatch"], f"{row['speedup']:.3f}")
    2 gpipe 13.5 0.889
    2 layerpipe 12.0 1.000
    4 gpipe 8.25 0.727
    4 layerpipe 6.0 1.000
    """
    processors = check_ints(processors, "processors", minimum=1)
    if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Iterable):
        raise InputTypeError(f"`schedules` must be a list of schedule names; got {schedules!r}.")
    schedules = [check_choice(name, "schedules", SCHEDULES) for name in schedules]
    baseline = check_choice(baseline, "baseline", SCHEDULES)
    if progress is not None:
        check_callable(progress, "progress")
    rows = []
    for p in processors:
        base = evaluate(baseline, profile, p, microbatches=microbatches, **kwargs)
        for name in schedules:
            row = base if name == baseline else evaluate(name, profile, p, microbatches=microbatches, **kwargs)
            row = dict(row, speedup=base["cycles_per_microbatch"] / row["cycles_per_microbatch"], baseline=baseline)
            rows.append(row)
            if progress is not None:
                progress(p, name)
    return rows
