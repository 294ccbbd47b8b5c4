"""Clock-cycle simulator: start and end time of every task, and what they add up to.

Exact facts the tests pin (zero communication latency):

* GPipe and 1F1B with p equal stages, m micro-batches, per-stage costs f (forward),
  b (activation gradient) and w (weight gradient): makespan (m + p - 1)(f + b + w), bubble
  fraction (p - 1)/(m + p - 1).
* ZB-H1: makespan m(f + b + w) + (p - 1)(f + b - w) (for w <= f + b).
* Asynchronous schedules: the steady-state period (cycles per step) is never below the
  iteration bound T_inf = max over loops of (loop time)/(loop delays) of the dependency
  graph, nor below the largest per-processor load of one step.

Engine: a non-preemptive discrete-event simulation. A task is *released* when all its
dependencies have ended plus their communication time (``latency + volume / bandwidth``
between different processors, 0 on the same one). A processor that is idle starts, among
its released tasks, either the next one of its fixed order (``Schedule.order``) or the one
with the smallest ``Schedule.priority`` (list scheduling, work-conserving). One processor
runs one task at a time; a schedule whose order contradicts its dependencies is reported
as a deadlock (``ValueError``).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from .schedule import Schedule, Task

__all__ = [
    "Trace",
    "simulate",
    "iteration_bound",
    "max_cycle_ratio",
    "steady_state_period",
    "cyclic_period",
    "SteadyStateNotReached",
]


@dataclass
class Trace:
    """Result of :func:`simulate`: per-task start/end times and the derived metrics."""

    schedule: Schedule
    start: dict[Task, float]
    end: dict[Task, float]
    latency: float = 0.0
    bandwidth: float = math.inf
    busy: list[float] = field(default_factory=list)

    @property
    def makespan(self) -> float:
        return max(self.end.values(), default=0.0)

    @property
    def utilisation(self) -> list[float]:
        span = self.makespan
        return [b / span if span > 0 else 0.0 for b in self.busy]

    @property
    def mean_utilisation(self) -> float:
        span = self.makespan
        return sum(self.busy) / (span * len(self.busy)) if span > 0 else 0.0

    @property
    def bubble_fraction(self) -> float:
        """Idle share of processor-time within the makespan."""
        return 1.0 - self.mean_utilisation

    def intervals(self, processor: int) -> list[tuple[float, float, Task]]:
        return sorted((self.start[t], self.end[t], t) for t, p in self.schedule.processor.items() if p == processor)

    def step_completion(self) -> dict[int, float]:
        """Time at which the last task of each micro-batch / step ends."""
        done: dict[int, float] = {}
        for task, t in self.end.items():
            done[task.microbatch] = max(done.get(task.microbatch, 0.0), t)
        return done

    def peak_in_flight(self) -> list[int]:
        """Per processor: the most micro-batches whose forward has started there while their
        last backward task there has not ended (stashed activations, in micro-batches)."""
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

    def check(self) -> None:
        """Raise ``AssertionError`` if a processor runs two tasks at once or a task starts
        before a dependency has ended (plus communication). Used by the tests."""
        sched = self.schedule
        for proc in range(sched.num_processors):
            ivs = self.intervals(proc)
            for (_s0, e0, t0), (s1, _e1, t1) in zip(ivs, ivs[1:]):
                if s1 < e0 - 1e-9 * max(1.0, abs(e0)):
                    raise AssertionError(f"processor {proc} runs {t0} and {t1} at once.")
        for task, deps in sched.deps.items():
            for dep in deps:
                ready = self.end[dep.task] + _comm(sched, dep, task, self.latency, self.bandwidth)
                if self.start[task] < ready - 1e-9 * max(1.0, abs(ready)):
                    raise AssertionError(f"{task} starts before its dependency {dep.task}.")


def _comm(sched: Schedule, dep, task: Task, latency: float, bandwidth: float) -> float:
    if sched.processor[dep.task] == sched.processor[task]:
        return 0.0
    return latency + (dep.volume / bandwidth if bandwidth != math.inf else 0.0)


def simulate(schedule: Schedule, *, latency: float = 0.0, bandwidth: float = math.inf) -> Trace:
    """Run ``schedule`` on its processors; return the :class:`Trace`.

    ``latency`` (cycles per message) and ``bandwidth`` (elements per cycle) set the time of
    a dependency between two processors; the default is free communication (pure compute
    cycles, the quantity the LayerPipe abstract counts).
    """
    if latency < 0 or not bandwidth > 0:
        raise ValueError(f"`latency` must be >= 0 and `bandwidth` > 0; got {latency!r}, {bandwidth!r}.")
    for task, cost in schedule.cost.items():
        if not (cost >= 0 and math.isfinite(cost)):
            raise ValueError(f"cost of task {task} must be a finite number >= 0; got {cost!r}.")
    schedule.validate()
    if (schedule.order is None) == (schedule.priority is None):
        raise ValueError("a schedule needs exactly one of `order` and `priority`.")

    dependents: dict[Task, list] = {t: [] for t in schedule.cost}
    missing: dict[Task, int] = {}
    for task, deps in schedule.deps.items():
        missing[task] = len(deps)
        for dep in deps:
            dependents[dep.task].append((task, dep))
    release = dict.fromkeys(schedule.cost, 0.0)

    if schedule.order is not None:
        position = {t: i for row in schedule.order for i, t in enumerate(row)}
        key = lambda t: (position[t],)
    else:
        key = schedule.priority
    next_pos = [0] * schedule.num_processors

    ready: list[list] = [[] for _ in range(schedule.num_processors)]  # (key, seq, task)
    future: list = []  # (release_time, seq, task)
    running: list = []  # (end_time, seq, task)
    seq = 0
    for task, n in missing.items():
        if n == 0:
            heapq.heappush(future, (0.0, seq, task))
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
                release[succ] = max(release[succ], end[task] + _comm(schedule, dep, succ, latency, bandwidth))
                missing[succ] -= 1
                if missing[succ] == 0:
                    heapq.heappush(future, (max(release[succ], now), seq, succ))
                    seq += 1
    if len(start) != len(schedule.cost):
        stuck = sorted(set(schedule.cost) - set(start))[:5]
        raise ValueError(
            f"schedule {schedule.name!r} deadlocks: its order contradicts its "
            f"dependencies (never started: {', '.join(map(str, stuck))}, ...)."
        )
    return Trace(schedule, start, end, latency, bandwidth, busy)


def max_cycle_ratio(num_nodes: int, edges, node_time, *, rtol: float = 1e-12) -> float:
    """max over directed cycles of (sum of node times + edge times) / (sum of edge delays).

    ``edges``: iterable of ``(u, v, delay, edge_time)`` with integer delays (an edge may go
    back in steps, as a processor order from a later step to an earlier one does, as long as
    every cycle has a positive total delay or zero time). Returns 0
    for an acyclic graph and raises ``ValueError`` for a cycle without delay (a deadlock).
    Parametric search: a cycle with ratio > lam exists iff the graph with edge weights
    lam * delay - time(u) - edge_time has a negative cycle (scipy's Bellman-Ford).
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import NegativeCycleError, bellman_ford

    edges = list(edges)
    if not edges:
        return 0.0
    node_time = np.asarray(node_time, dtype=float)

    src, dst, delay, edge_time = (np.asarray(x) for x in zip(*edges))
    src, dst = src.astype(np.intp), dst.astype(np.intp)
    delay, edge_time = delay.astype(float), edge_time.astype(float)
    order = np.lexsort((dst, src))
    src, dst, delay, edge_time = src[order], dst[order], delay[order], edge_time[order]
    first = np.flatnonzero(np.r_[True, (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])])
    # a super source (node num_nodes) reaches every node, so one Bellman-Ford run from it
    # finds any negative cycle; its edges weigh -1 (never on a cycle) so none is implicit
    rows = np.r_[src[first], np.full(num_nodes, num_nodes)]
    cols = np.r_[dst[first], np.arange(num_nodes)]

    def has_cycle_above(lam: float) -> bool:
        weight = lam * delay - node_time[src] - edge_time
        data = np.r_[np.minimum.reduceat(weight, first), np.full(num_nodes, -1.0)]
        # built from coordinates, so zero weights stay explicit edges for csgraph
        graph = csr_matrix((data, (rows, cols)), shape=(num_nodes + 1, num_nodes + 1))
        try:
            bellman_ford(graph, directed=True, indices=num_nodes, return_predecessors=False)
        except NegativeCycleError:
            return True
        return False

    total = float(node_time.sum() + sum(c for *_, c in edges))
    hi = total + 1.0
    if has_cycle_above(hi * (1 + 1e-9) + 1.0):
        raise ValueError("the dependency graph has a cycle without delay (deadlock).")
    if not has_cycle_above(0.0 if total > 0 else -1.0):
        return 0.0
    lo = 0.0
    while hi - lo > rtol * max(hi, 1e-300):
        mid = 0.5 * (lo + hi)
        if has_cycle_above(mid):
            lo = mid
        else:
            hi = mid
    return hi


def iteration_bound(schedule: Schedule, *, latency: float = 0.0, bandwidth: float = math.inf) -> float:
    """Iteration bound of an asynchronous schedule's dependency graph (cycles per step).

    The graph is folded onto one step: task (kind, unit, part) is a node, a dependency of a
    step-t task on a step-(t - d) task is an edge with d delays. Loops exist only through
    delayed-gradient edges (the weight update of layer l feeding its forward S(l) + 1 steps
    later), so the bound is max over layers of (forward of l..L + activation gradients of
    l+1..L + weight gradient of l [+ communication]) / (S(l) + 1). Processors are ignored.
    """
    if not schedule.asynchronous:
        raise ValueError("`iteration_bound` needs an asynchronous schedule.")
    return max_cycle_ratio(*_fold(schedule, latency, bandwidth, False))


def _fold(schedule: Schedule, latency: float, bandwidth: float, with_order: bool):
    steps = sorted({t.microbatch for t in schedule.cost})
    ref = steps[len(steps) // 2]
    templates = sorted({(t.kind, t.unit, t.part) for t in schedule.cost if t.microbatch == ref})
    index = {tpl: i for i, tpl in enumerate(templates)}
    node_time = [0.0] * len(templates)
    edges = []
    for task, deps in schedule.deps.items():
        if task.microbatch != ref:
            continue
        node_time[index[(task.kind, task.unit, task.part)]] = schedule.cost[task]
        for dep in deps:
            edges.append(
                (
                    index[(dep.task.kind, dep.task.unit, dep.task.part)],
                    index[(task.kind, task.unit, task.part)],
                    ref - dep.task.microbatch,
                    _comm(schedule, dep, task, latency, bandwidth),
                )
            )
    if with_order:
        if schedule.order is None:
            raise ValueError("the schedule has no fixed order to fold.")
        lo, hi = steps[len(steps) // 4], steps[3 * len(steps) // 4]
        for row in schedule.order:
            for a, b in zip(row, row[1:]):
                if lo <= a.microbatch <= hi and lo <= b.microbatch <= hi:
                    edges.append(
                        (
                            index[(a.kind, a.unit, a.part)],
                            index[(b.kind, b.unit, b.part)],
                            b.microbatch - a.microbatch,
                            0.0,
                        )
                    )
    return len(templates), edges, node_time


def cyclic_period(schedule: Schedule, *, latency: float = 0.0, bandwidth: float = math.inf) -> float:
    """Exact steady-state period of an asynchronous schedule with a periodic fixed order:
    the maximum cycle ratio of its dependency graph plus its processor-order edges, folded
    onto one step. :func:`simulate` converges to it (tested)."""
    if not schedule.asynchronous:
        raise ValueError("`cyclic_period` needs an asynchronous schedule.")
    return max_cycle_ratio(*_fold(schedule, latency, bandwidth, True))


def _step_templates(schedule: Schedule):
    """Tasks of each step by (kind, unit, part), and the folded dependencies of one step:
    template -> list of (template of the dependency, step delay d >= 0, the dependency)."""
    by_step: dict[int, dict[tuple, Task]] = {}
    for task in schedule.cost:
        by_step.setdefault(task.microbatch, {})[(task.kind, task.unit, task.part)] = task
    steps = sorted(by_step)
    ref = steps[len(steps) - 1]
    folded = {
        tpl: [
            ((d.task.kind, d.task.unit, d.task.part), task.microbatch - d.task.microbatch, d)
            for d in schedule.deps[task]
        ]
        for tpl, task in by_step[ref].items()
    }
    return by_step, steps, folded


def _exact_steps(trace: Trace, by_step, steps, folded) -> int:
    """The last step h such that steps 0..h start exactly as in the unbounded run.

    A run of N steps is the prefix of the unbounded stream of steps, and it can differ from
    that stream only once a task of a step >= N would have mattered:

    * list scheduling (``priority``): the absent tasks become ready no earlier than
      x* = the earliest end of the dependencies of an absent task whose dependencies all
      lie in steps < N (every other absent task depends on one of those). Until x* both
      runs have the same tasks ready and make the same choices, so every task that starts
      before x* is exact.
    * a fixed periodic order (:func:`.schedules.cyclic_order`): a task of step t sits in a
      cycle <= t + d_max - 1 (d_max the largest step delay of a dependency) and an absent
      task in a cycle >= N; the tasks of cycles < N are a prefix of every processor's order
      and closed under dependencies, hence exact; they include all of steps <= N - d_max.
    """
    sched = trace.schedule
    n = steps[-1] + 1
    d_max = max((d for deps in folded.values() for _, d, _ in deps), default=0)
    if sched.order is not None:
        return n - max(d_max, 1)
    horizon = math.inf
    for j in range(max(d_max, 1)):
        for _tpl, deps in folded.items():
            if any(d <= j for _, d, _ in deps):
                continue  # waits for an absent task of its own or a later step
            # communication only delays it further; ignoring it keeps x* a lower bound
            release = max(
                (trace.end[by_step[n + j - d][dep_tpl]] for dep_tpl, d, _ in deps if n + j - d >= 0), default=0.0
            )
            horizon = min(horizon, release)
    last = -1
    for t in steps:
        if max(trace.start[task] for task in by_step[t].values()) >= horizon:
            break
        last = t
    return last


def _realized_rows(trace: Trace) -> list[list[Task]]:
    """Per processor, its tasks in the order they ran."""
    rows: list[list] = [[] for _ in range(trace.schedule.num_processors)]
    for task, proc in trace.schedule.processor.items():
        rows[proc].append((trace.start[task], trace.end[task], task))
    return [[t for *_, t in sorted(row)] for row in rows]


def _order_is_periodic(rows, lo: int, hi: int, k: int) -> bool:
    """Whether every processor ran steps lo+k..hi in the order of steps lo..hi-k, shifted."""
    for row in rows:
        early = [(t.kind, t.unit, t.part, t.microbatch + k) for t in row if lo <= t.microbatch <= hi - k]
        late = [(t.kind, t.unit, t.part, t.microbatch) for t in row if lo + k <= t.microbatch <= hi]
        if early != late:
            return False
    return True


def _realized_order_period(trace: Trace, rows, by_step, lo: int, hi: int, k: int) -> float:
    """Maximum cycle ratio of the dependency graph plus the realized processor order,
    folded modulo k steps (node = task template and step mod k), divided by k."""
    sched = trace.schedule
    nodes: dict[tuple, int] = {}

    def node(task: Task) -> int:
        return nodes.setdefault((task.kind, task.unit, task.part, task.microbatch % k), len(nodes))

    edges = set()
    node_time: dict[int, float] = {}
    for t in range(hi - k + 1, hi + 1):
        for task in by_step[t].values():
            node_time[node(task)] = sched.cost[task]
            for dep in sched.deps[task]:
                edges.add(
                    (
                        node(dep.task),
                        node(task),
                        t // k - dep.task.microbatch // k,
                        _comm(sched, dep, task, trace.latency, trace.bandwidth),
                    )
                )
    for row in rows:
        row = [t for t in row if lo <= t.microbatch <= hi]
        for a, b in zip(row, row[1:]):
            edges.add((node(a), node(b), b.microbatch // k - a.microbatch // k, 0.0))
    times = [node_time.get(i, 0.0) for i in range(len(nodes))]
    return max_cycle_ratio(len(nodes), sorted(edges), times) / k


class SteadyStateNotReached(ValueError):
    """The run is too short to show its periodic steady state: simulate more steps."""


def steady_state_period(trace: Trace) -> float:
    """Cycles per step of the steady state of an asynchronous run, exactly.

    Every task starts at the later of its release and the end of the task before it on
    its processor (list scheduling starts a task as soon as it is both ready and chosen;
    a fixed order as soon as it is ready and next). So a run whose processor order repeats
    every K steps with a step shift of K (the *realized order* is K-periodic; K > 1 is
    common: replicated stages take turns, LayerPipe's list schedule may finish steps in
    pairs) is the max-plus evolution of the dependency graph plus those order edges, and its
    steady-state period is the maximum cycle ratio of that graph folded modulo K, divided by
    K (the critical cycle; :func:`max_cycle_ratio`). This is exact in the periodic regime
    (the tight constraints of a periodic schedule close into a cycle of exactly that
    ratio) and also once the order has settled but the times still converge, which a
    finite average misses: on VGG-16 at P = 9 the last processors of LayerPipe's list
    schedule catch up 0.14% per step for hundreds of steps, and an average over a window
    that is not a multiple of K is wrong by up to one step's burst.

    The run is finite, so only its steps that provably start as in the unbounded run are
    used (:func:`_exact_steps`), and K is the smallest cyclicity for which the realized
    order of the last 2K + 2 d_max + 1 of them (d_max: the longest delayed-gradient edge,
    which bounds the steps in flight) is K-periodic. ``ValueError`` if no such K exists in
    the run (:class:`SteadyStateNotReached`, a ``ValueError``): build the schedule with more
    ``steps`` (:func:`.compare.evaluate` doubles them until the period shows).
    """
    by_step, steps, folded = _step_templates(trace.schedule)
    if len(steps) < 4:
        raise ValueError(f"need at least 4 steps to measure a period; got {len(steps)}.")
    templates = sorted(folded)
    if any(set(by_step[t]) != set(templates) for t in steps) or steps != list(range(len(steps))):
        raise ValueError("`steady_state_period` needs steps 0..N-1 made of the same tasks.")
    last = _exact_steps(trace, by_step, steps, folded)
    d_max = max((d for deps in folded.values() for _, d, _ in deps), default=0)
    rows = _realized_rows(trace)
    tol = 1e-9 * max(1.0, trace.makespan)
    for k in range(1, (last - 2 * d_max) // 2 + 1):
        # d_max steps either side of 2k + 1 inner steps: the inner steps' neighbours in the
        # processor order are all in the window, so every folded order edge is seen whole
        lo = last + 1 - (2 * k + 2 * d_max + 1)
        if not _order_is_periodic(rows, lo, last, k):
            continue
        # periodic times too (the usual case): the shift per k steps, no cycle search
        shifts = np.array(
            [
                [trace.start[by_step[t + k][tpl]] - trace.start[by_step[t][tpl]] for tpl in templates]
                for t in range(lo, last + 1 - k)
            ]
        )
        if np.all(np.abs(shifts - shifts[-1, 0]) <= tol):
            return float(shifts[-1, 0] / k)
        return _realized_order_period(trace, rows, by_step, lo, last, k)
    raise SteadyStateNotReached(
        f"schedule {trace.schedule.name!r} shows no periodic processor order within the "
        f"{last + 1} steps that are exact (of {len(steps)}); simulate more `steps`."
    )
