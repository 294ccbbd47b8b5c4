"""Folding an unrolled asynchronous schedule onto k steps, and the periods the folded graph gives.

An asynchronous schedule repeats the same tasks every step: task (kind, unit, part) of
step t. Folding modulo k maps it to the node (kind, unit, part, t mod k), and an edge from
a task of step s to a task of step t to an edge with t // k - s // k delays (whole k-step
periods crossed) and the edge's communication time. The edges are the dependencies of the
tasks of the k steps ending at ``last_step``, plus, optionally, the consecutive pairs of a
processor order within a window of steps. The maximum cycle ratio of the folded graph
(:func:`.cycle_ratio.max_cycle_ratio`) divided by k is then the period, in cycles per
step, of the max-plus system those edges define:

* :func:`iteration_bound`: dependencies only, k = 1 (its loops run through the
  delayed-gradient edges): no schedule on any number of processors is faster.
* :func:`cyclic_period`: dependencies plus a fixed periodic processor order, k = 1: the
  exact steady-state period of that order.
* :func:`.steady_state.steady_state_period`: dependencies plus the order a run realized,
  k = its cyclicity.

This is the one folding of the package; with k = 1 the delay of an edge is simply the
difference of its steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._validation import check_instance, check_int, check_real
from ..errors import InputError
from .cycle_ratio import Edge, max_cycle_ratio
from .task_graph import Schedule, Task

__all__ = ["fold", "folded_period", "iteration_bound", "cyclic_period"]


def fold(
    schedule: Schedule,
    *,
    period: int,
    last_step: int,
    order: Sequence[Sequence[Task]] | None = None,
    order_steps: tuple[int, int] | None = None,
    latency: float = 0.0,
    bandwidth: float = math.inf,
) -> tuple[int, list[Edge], list[float]]:
    """The graph of ``schedule`` folded modulo ``period`` steps (see the module docstring).

    The dependencies are those of the tasks of steps ``last_step - period + 1 ..
    last_step``; ``order`` (one list of tasks per processor) adds an edge between
    consecutive tasks of a row whose steps both lie in ``order_steps = (lo, hi)``.

    Returns
    -------
    tuple of (int, list of Edge, list of float)
        The number of nodes, the distinct edges ``(u, v, delay, time)`` sorted, and the
        time of each node: the arguments of :func:`.cycle_ratio.max_cycle_ratio`.
    """
    period = check_int(period, "period", minimum=1)
    nodes: dict[tuple[str, int, int, int], int] = {}

    def node(task: Task) -> int:
        return nodes.setdefault((task.kind, task.unit, task.part, task.microbatch % period), len(nodes))

    by_step: dict[int, list[Task]] = {}
    for task in schedule.cost:
        if last_step - period < task.microbatch <= last_step:
            by_step.setdefault(task.microbatch, []).append(task)
    edges: set[Edge] = set()
    node_time: dict[int, float] = {}
    for t in range(last_step - period + 1, last_step + 1):
        for task in by_step.get(t, []):
            node_time[node(task)] = schedule.cost[task]
            for dep in schedule.deps[task]:
                edges.add(
                    (
                        node(dep.task),
                        node(task),
                        t // period - dep.task.microbatch // period,
                        schedule.transfer_time(dep, task, latency, bandwidth),
                    )
                )
    if order is not None:
        if order_steps is None:
            raise InputError("`order_steps` must be given with `order`.")
        lo, hi = order_steps
        for row in order:
            inside = [t for t in row if lo <= t.microbatch <= hi]
            for a, b in zip(inside, inside[1:]):
                edges.add((node(a), node(b), b.microbatch // period - a.microbatch // period, 0.0))
    return len(nodes), sorted(edges), [node_time.get(i, 0.0) for i in range(len(nodes))]


def folded_period(schedule: Schedule, **fold_options) -> float:
    """Cycles per step of the folded graph: its maximum cycle ratio divided by ``period``.

    ``fold_options`` are those of :func:`fold`.

    Returns
    -------
    float
        The period in cycles per step (0 if the folded graph has no cycle).
    """
    return max_cycle_ratio(*fold(schedule, **fold_options)) / fold_options["period"]


def _middle_steps(schedule: Schedule, name: str) -> list[int]:
    if not schedule.asynchronous:
        raise InputError(f"`schedule` must be asynchronous for `{name}`; {schedule.name!r} is synchronous.")
    return sorted({t.microbatch for t in schedule.cost})


def iteration_bound(schedule: Schedule, *, latency: float = 0.0, bandwidth: float = math.inf) -> float:
    """Iteration bound of an asynchronous schedule's dependency graph (cycles per step).

    The graph is folded onto one step (the middle one of the run): task (kind, unit, part)
    is a node, a dependency of a step-t task on a step-(t - d) task is an edge with d
    delays. Loops exist only through delayed-gradient edges (the weight update of layer l
    feeding its forward S(l) + 1 steps later), so the bound is max over layers of (forward
    of l..L + activation gradients of l+1..L + weight gradient of l [+ communication]) /
    (S(l) + 1). Processors are ignored.

    Returns
    -------
    float
        The largest loop time over loop delays: no steady-state period is smaller.
    """
    check_instance(schedule, "schedule", Schedule)
    steps = _middle_steps(schedule, "iteration_bound")
    latency = check_real(latency, "latency", minimum=0)
    bandwidth = check_real(bandwidth, "bandwidth", minimum=0, strict=True, finite=False)
    return folded_period(schedule, period=1, last_step=steps[len(steps) // 2], latency=latency, bandwidth=bandwidth)


def cyclic_period(schedule: Schedule, *, latency: float = 0.0, bandwidth: float = math.inf) -> float:
    """Exact steady-state period of an asynchronous schedule with a periodic fixed order.

    The dependency graph plus the processor-order edges of the run's middle half, folded
    onto one step; :func:`~parareal_toolkit.layerpipe.simulate` converges to it (tested).

    Returns
    -------
    float
        The maximum cycle ratio of the folded graph, in cycles per step.
    """
    check_instance(schedule, "schedule", Schedule)
    steps = _middle_steps(schedule, "cyclic_period")
    latency = check_real(latency, "latency", minimum=0)
    bandwidth = check_real(bandwidth, "bandwidth", minimum=0, strict=True, finite=False)
    if schedule.order is None:
        raise InputError("`schedule` has no fixed order to fold.")
    n = len(steps)
    return folded_period(
        schedule,
        period=1,
        last_step=steps[n // 2],
        order=schedule.order,
        order_steps=(steps[n // 4], steps[3 * n // 4]),
        latency=latency,
        bandwidth=bandwidth,
    )
