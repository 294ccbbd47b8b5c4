"""Discrete-event engine: the start and end time of every task, and what they add up to.

Exact facts the tests pin (zero communication latency):

* GPipe and 1F1B with p equal stages, m micro-batches, per-stage costs f (forward),
  b (activation gradient) and w (weight gradient): makespan (m + p - 1)(f + b + w), bubble
  fraction (p - 1)/(m + p - 1).
* ZB-H1 (m >= p >= 2): makespan m(f + b + w) + (p - 1)(f + b - w) exactly when
  w <= min(f, b); a larger w leaves strictly more bubble, so w <= f + b is not enough
  (p = m = 2, f = b = 2, w = 3: 16 cycles, not 15).
* Asynchronous schedules: the steady-state period (cycles per step,
  ``steady_state``) is never below the iteration bound (``folding``) nor below the
  largest per-processor load of one step.

A non-preemptive discrete-event simulation. A task is *released* when all its dependencies
have ended plus their communication time (``latency + volume / bandwidth`` between different
processors, 0 on the same one), and not before its ``Schedule.release`` time if it has one
(a static schedule's start time). A processor that is idle starts, among its released tasks,
either the next one of its fixed order (``Schedule.order``) or the one with the smallest
``Schedule.priority`` (list scheduling, work-conserving). One processor runs one task at a
time; a schedule whose order contradicts its dependencies is reported as a deadlock
(``ValueError``).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .._validation import check_real
from ..errors import InputError, InputTypeError
from .task_graph import Dependency, Schedule, Task

__all__ = ["Trace", "simulate"]


@dataclass
class Trace:
    """Result of :func:`simulate`: per-task start/end times and the derived metrics.

    Attributes
    ----------
    schedule : Schedule
        The schedule that ran.
    start, end : dict of Task to float
        Start and end time of every task (cycles).
    latency, bandwidth : float
        The communication parameters of the run.
    busy : list of float
        Work done by each processor (cycles).
    """

    schedule: Schedule
    start: dict[Task, float]
    end: dict[Task, float]
    latency: float = 0.0
    bandwidth: float = math.inf
    busy: list[float] = field(default_factory=list)

    @property
    def makespan(self) -> float:
        """End of the last task (0 for an empty schedule)."""
        return max(self.end.values(), default=0.0)

    @property
    def utilisation(self) -> list[float]:
        """Busy share of the makespan, per processor."""
        span = self.makespan
        return [b / span if span > 0 else 0.0 for b in self.busy]

    @property
    def mean_utilisation(self) -> float:
        """Busy share of processor-time within the makespan."""
        span = self.makespan
        return sum(self.busy) / (span * len(self.busy)) if span > 0 else 0.0

    @property
    def bubble_fraction(self) -> float:
        """Idle share of processor-time within the makespan."""
        return 1.0 - self.mean_utilisation

    def intervals(self, processor: int) -> list[tuple[float, float, Task]]:
        """The tasks ``processor`` ran, by start time.

        Returns
        -------
        list of (float, float, Task)
            ``(start, end, task)`` of each task on ``processor``, sorted.
        """
        return sorted((self.start[t], self.end[t], t) for t, p in self.schedule.processor.items() if p == processor)

    def peak_in_flight(self) -> list[int]:
        """Per processor: the most micro-batches whose forward has started there while their
        last backward task there has not ended (stashed activations, in micro-batches).

        Returns
        -------
        list of int
            The peak count on each processor.
        """
        peaks = []
        sched = self.schedule
        for proc in range(sched.num_processors):
            first: dict[int, float] = {}
            last: dict[int, float] = {}
            for task, p in sched.processor.items():
                if p != proc:
                    continue
                mb = task.microbatch
                if task.kind == "F":
                    first[mb] = min(first.get(mb, math.inf), self.start[task])
                if task.kind in ("A", "G", "B"):
                    last[mb] = max(last.get(mb, -math.inf), self.end[task])
            events = []
            for mb, t0 in first.items():
                events.append((t0, 1))
                events.append((last.get(mb, t0), -1))
            events.sort(key=lambda e: (e[0], e[1]))
            level = peak = 0
            for _, delta in events:
                level += delta
                peak = max(peak, level)
            peaks.append(peak)
        return peaks


def simulate(schedule: Schedule, *, latency: float = 0.0, bandwidth: float = math.inf) -> Trace:
    """Run ``schedule`` on its processors.

    ``latency`` (cycles per message) and ``bandwidth`` (elements per cycle) set the time of
    a dependency between two processors; the default is free communication (pure compute
    cycles, the quantity the LayerPipe abstract counts).

    Returns
    -------
    Trace
        The start and end time of every task and the work of every processor.

    Examples
    --------
    >>> from parareal_toolkit.layerpipe import build_schedule, profile_from_costs, simulate
    >>> profile = profile_from_costs([1.0] * 8, [1.0] * 8, [1.0] * 8)
    >>> trace = simulate(build_schedule("gpipe", profile, 4, microbatches=8))
    >>> trace.makespan, round(trace.bubble_fraction, 4)  # (8 + 4 - 1) * 6 cycles
    (66.0, 0.2727)
    """
    if not isinstance(schedule, Schedule):
        raise InputTypeError(f"`schedule` must be a Schedule (see build_schedule); got {type(schedule).__name__}.")
    latency = check_real(latency, "latency", minimum=0)
    bandwidth = check_real(bandwidth, "bandwidth", minimum=0, strict=True, finite=False)
    for task, cost in schedule.cost.items():
        if not (cost >= 0 and math.isfinite(cost)):
            raise InputError(f"cost of task {task} must be a finite number >= 0; got {cost!r}.")
    schedule.validate()
    if (schedule.order is None) == (schedule.priority is None):
        raise InputError("a schedule needs exactly one of `order` and `priority`.")

    dependents: dict[Task, list[tuple[Task, Dependency]]] = {t: [] for t in schedule.cost}
    missing: dict[Task, int] = {}
    for task, deps in schedule.deps.items():
        missing[task] = len(deps)
        for dep in deps:
            dependents[dep.task].append((task, dep))
    release = {t: schedule.release.get(t, 0.0) for t in schedule.cost}

    key: Callable[[Task], tuple]
    if schedule.order is not None:
        position = {t: i for row in schedule.order for i, t in enumerate(row)}

        def key(t: Task) -> tuple:
            return (position[t],)

    else:
        assert schedule.priority is not None  # exactly one of the two is set (checked above)
        key = schedule.priority
    next_pos = [0] * schedule.num_processors

    # heaps of (time or key, sequence number, task): the sequence number breaks ties
    ready: list[list[tuple[tuple, int, Task]]] = [[] for _ in range(schedule.num_processors)]
    future: list[tuple[float, int, Task]] = []  # released at that time
    running: list[tuple[float, int, Task]] = []  # ends at that time
    seq = 0
    for task, n in missing.items():
        if n == 0:
            heapq.heappush(future, (release[task], seq, task))
            seq += 1
    idle = [True] * schedule.num_processors
    start: dict[Task, float] = {}
    end: dict[Task, float] = {}
    busy = [0.0] * schedule.num_processors
    now = 0.0
    while future or running or any(ready):
        while future and future[0][0] <= now:
            _, _, task = heapq.heappop(future)
            heapq.heappush(ready[schedule.processor[task]], (key(task), seq, task))
            seq += 1
        for proc in range(schedule.num_processors):
            if not idle[proc] or not ready[proc]:
                continue
            if schedule.order is not None and ready[proc][0][2] != schedule.order[proc][next_pos[proc]]:
                continue
            _, _, task = heapq.heappop(ready[proc])
            next_pos[proc] += 1
            start[task] = now
            end[task] = now + schedule.cost[task]
            busy[proc] += schedule.cost[task]
            idle[proc] = False
            heapq.heappush(running, (end[task], seq, task))
            seq += 1
        candidates = [h[0][0] for h in (running, future) if h]
        if not candidates:
            break
        now = min(candidates)
        while running and running[0][0] <= now:
            _, _, task = heapq.heappop(running)
            idle[schedule.processor[task]] = True
            for succ, dep in dependents[task]:
                release[succ] = max(release[succ], end[task] + schedule.transfer_time(dep, succ, latency, bandwidth))
                missing[succ] -= 1
                if missing[succ] == 0:
                    heapq.heappush(future, (max(release[succ], now), seq, succ))
                    seq += 1
    if len(start) != len(schedule.cost):
        stuck = sorted(set(schedule.cost) - set(start))[:5]
        raise InputError(
            f"schedule {schedule.name!r} deadlocks: its order contradicts its "
            f"dependencies (never started: {', '.join(map(str, stuck))}, ...)."
        )
    return Trace(schedule, start, end, latency, bandwidth, busy)
