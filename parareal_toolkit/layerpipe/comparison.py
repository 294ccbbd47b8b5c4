"""Schedules side by side: cycles per micro-batch, speedup, utilisation, communication.

For a synchronous schedule, cycles per micro-batch = makespan / m (one step is m
micro-batches); for an asynchronous one it is the steady-state period (one micro-batch per
step), measured by :func:`.simulator.steady_state_period` on an unrolled run. Speedup of
schedule X over the baseline (PipeDream) = baseline cycles / X cycles at the same P; the
LayerPipe abstract claims 1.25 on average and "upwards of 80%" (1.8) at P = 7..9.
"""

from __future__ import annotations

import math

from .costs import CostProfile
from .schedules import build_schedule
from .simulator import SteadyStateNotReached, iteration_bound, simulate, steady_state_period

__all__ = ["evaluate", "compare", "PAPER_AVERAGE_SPEEDUP", "PAPER_PEAK_SPEEDUP"]

PAPER_AVERAGE_SPEEDUP = 1.25
PAPER_PEAK_SPEEDUP = 1.80  # "upwards of 80%" with 7 to 9 processors
_MAX_DOUBLINGS = 4


def evaluate(
    name: str,
    profile: CostProfile,
    processors: int,
    *,
    microbatches: int = 8,
    steps: int | None = None,
    latency: float = 0.0,
    bandwidth: float = math.inf,
    return_trace: bool = False,
):
    """Simulate one schedule; return a dict of its metrics (and the trace if asked).

    An asynchronous schedule whose run does not yet show its periodic steady state is
    rebuilt with twice the steps (up to four times), so the period reported is exact."""
    sched = build_schedule(name, profile, processors, microbatches=microbatches, steps=steps)
    trace = simulate(sched, latency=latency, bandwidth=bandwidth)
    if sched.asynchronous:
        cycles = None
        for _ in range(_MAX_DOUBLINGS):
            try:
                cycles = steady_state_period(trace)
                break
            except SteadyStateNotReached:  # a long transient or a long cycle: unroll more
                sched = build_schedule(
                    name, profile, processors, microbatches=microbatches, steps=2 * sched.microbatches
                )
                trace = simulate(sched, latency=latency, bandwidth=bandwidth)
        if cycles is None:
            cycles = steady_state_period(trace)
        per_mb = sched.microbatches
        comm = (sched.communication_volume() / per_mb) + sched.meta.get("allreduce_volume", 0.0)
        row = dict(
            iteration_bound=iteration_bound(sched, latency=latency, bandwidth=bandwidth),
            load_bound=sched.meta["load_bound"],
            staleness=sched.meta["staleness"],
            weight_versions=sched.meta["weight_versions"],
        )
    else:
        cycles = trace.makespan / sched.microbatches
        comm = sched.communication_volume() / sched.microbatches
        row = dict(makespan=trace.makespan, bubble_fraction=trace.bubble_fraction)
    work = sum(sched.cost.values()) / sched.microbatches
    row.update(
        schedule=name,
        processors=processors,
        cycles_per_microbatch=cycles,
        utilisation=work / (processors * cycles) if cycles > 0 else 0.0,
        communication_per_microbatch=comm,
        asynchronous=sched.asynchronous,
        peak_in_flight=max(trace.peak_in_flight()),
    )
    return (row, trace) if return_trace else row


def compare(
    profile: CostProfile, processors, schedules, *, microbatches: int = 8, baseline: str = "pipedream", **kwargs
) -> list[dict]:
    """Rows for every (P, schedule), each with ``speedup`` over ``baseline`` at that P."""
    rows = []
    for p in processors:
        base = evaluate(baseline, profile, p, microbatches=microbatches, **kwargs)
        for name in schedules:
            row = base if name == baseline else evaluate(name, profile, p, microbatches=microbatches, **kwargs)
            row = dict(row, speedup=base["cycles_per_microbatch"] / row["cycles_per_microbatch"], baseline=baseline)
            rows.append(row)
    return rows
