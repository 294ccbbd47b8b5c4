"""Steady-state period of a finite asynchronous run, exactly, and when a run is too short.

Every task starts at the later of its release and the end of the task before it on its
processor (list scheduling starts a task as soon as it is both ready and chosen; a fixed
order as soon as it is ready and next). So a run whose processor order repeats every K
steps with a step shift of K (the *realized order* is K-periodic; K > 1 is common:
replicated stages take turns, LayerPipe's list schedule may finish steps in pairs) is the
max-plus evolution of the dependency graph plus those order edges, and its steady-state
period is the maximum cycle ratio of that graph folded modulo K, divided by K
(:func:`.folding.folded_period`).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_instance
from ..errors import InputError, SteadyStateNotReached
from .engine import Trace
from .folding import folded_period
from .task_graph import Task

__all__ = ["SteadyStateNotReached", "steady_state_period"]

Template = tuple[str, int, int]  # (kind, unit, part): a task with its step left out
Folded = dict[Template, list[tuple[Template, int]]]  # template -> (its dependency's, step delay)


def _template(task: Task) -> Template:
    return (task.kind, task.unit, task.part)


def _step_table(trace: Trace) -> tuple[dict[int, dict[Template, Task]], list[int], Folded]:
    """The tasks of each step by template, the steps, and the dependencies of the last step
    as (template of the dependency, step delay d >= 0)."""
    by_step: dict[int, dict[Template, Task]] = {}
    for task in trace.schedule.cost:
        by_step.setdefault(task.microbatch, {})[_template(task)] = task
    steps = sorted(by_step)
    last = steps[-1]
    folded = {
        tpl: [(_template(d.task), task.microbatch - d.task.microbatch) for d in trace.schedule.deps[task]]
        for tpl, task in by_step[last].items()
    }
    return by_step, steps, folded


def _exact_steps(trace: Trace, by_step: dict[int, dict[Template, Task]], steps: list[int], folded: Folded) -> int:
    """The last step h such that steps 0..h start exactly as in the unbounded run.

    A run of N steps is the prefix of the unbounded stream of steps, and it can differ from
    that stream only once a task of a step >= N would have mattered:

    * list scheduling (``priority``): the absent tasks become ready no earlier than
      x* = the earliest end of the dependencies of an absent task whose dependencies all
      lie in steps < N (every other absent task depends on one of those). Until x* both
      runs have the same tasks ready and make the same choices, so every task that starts
      before x* is exact.
    * a fixed periodic order (:func:`.asynchronous_schedules.cyclic_order`): a task of step t
      sits in a cycle <= t + d_max - 1 (d_max the largest step delay of a dependency) and
      an absent task in a cycle >= N; the tasks of cycles < N are a prefix of every
      processor's order and closed under dependencies, hence exact; they include all of
      steps <= N - d_max.
    """
    n = steps[-1] + 1
    d_max = max((d for deps in folded.values() for _, d in deps), default=0)
    if trace.schedule.order is not None:
        return n - max(d_max, 1)
    horizon = math.inf
    for j in range(max(d_max, 1)):
        for deps in folded.values():
            if any(d <= j for _, d in deps):
                continue  # waits for an absent task of its own or a later step
            # communication only delays it further; ignoring it keeps x* a lower bound
            release = max(
                (trace.end[by_step[n + j - d][dep_tpl]] for dep_tpl, d in deps if n + j - d >= 0), default=0.0
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
    rows: list[list[tuple[float, float, Task]]] = [[] for _ in range(trace.schedule.num_processors)]
    for task, proc in trace.schedule.processor.items():
        rows[proc].append((trace.start[task], trace.end[task], task))
    return [[t for *_, t in sorted(row)] for row in rows]


def _order_is_periodic(rows: list[list[Task]], lo: int, hi: int, k: int) -> bool:
    """Whether every processor ran steps lo+k..hi in the order of steps lo..hi-k, shifted."""
    for row in rows:
        early = [(t.kind, t.unit, t.part, t.microbatch + k) for t in row if lo <= t.microbatch <= hi - k]
        late = [(t.kind, t.unit, t.part, t.microbatch) for t in row if lo + k <= t.microbatch <= hi]
        if early != late:
            return False
    return True


def steady_state_period(trace: Trace) -> float:
    """Cycles per step of the steady state of an asynchronous run, exactly.

    The critical cycle of the realized processor order (module docstring). This is exact
    in the periodic regime (the tight constraints of a periodic schedule close into a cycle
    of exactly that ratio) and also once the order has settled but the times still
    converge, which a finite average misses: on VGG-16 at P = 9 the last processors of
    LayerPipe's list schedule catch up 0.14% per step for hundreds of steps, and an average
    over a window that is not a multiple of K is wrong by up to one step's burst.

    The run is finite, so only its steps that provably start as in the unbounded run are
    used (``_exact_steps``), and K is the smallest cyclicity for which the realized
    order of the last 2K + 2 d_max + 1 of them (d_max: the longest delayed-gradient edge,
    which bounds the steps in flight) is K-periodic. When the start times of those steps
    are K-periodic too (the usual case) the period is their shift per K steps, with no
    cycle search.

    Returns
    -------
    float
        The steady-state period in cycles per step.

    Raises
    ------
    SteadyStateNotReached
        (a ``ValueError``) If no such K exists in the run: build the schedule with more
        ``steps`` (:func:`~parareal_toolkit.layerpipe.evaluate` doubles them until the period shows).
    ValueError
        If the run has fewer than 4 steps or its steps are not made of the same tasks.
    """
    check_instance(trace, "trace", Trace)
    by_step, steps, folded = _step_table(trace)
    if len(steps) < 4:
        raise InputError(f"`trace` must hold at least 4 steps to measure a period; got {len(steps)}.")
    templates = sorted(folded)
    if any(set(by_step[t]) != set(templates) for t in steps) or steps != list(range(len(steps))):
        raise InputError("`steady_state_period` needs steps 0..N-1 made of the same tasks.")
    last = _exact_steps(trace, by_step, steps, folded)
    d_max = max((d for deps in folded.values() for _, d in deps), default=0)
    rows = _realized_rows(trace)
    tol = 1e-9 * max(1.0, trace.makespan)
    for k in range(1, (last - 2 * d_max) // 2 + 1):
        # d_max steps either side of 2k + 1 inner steps: the inner steps' neighbours in the
        # processor order are all in the window, so every folded order edge is seen whole
        lo = last + 1 - (2 * k + 2 * d_max + 1)
        if not _order_is_periodic(rows, lo, last, k):
            continue
        shifts = np.array(
            [
                [trace.start[by_step[t + k][tpl]] - trace.start[by_step[t][tpl]] for tpl in templates]
                for t in range(lo, last + 1 - k)
            ]
        )
        if np.all(np.abs(shifts - shifts[-1, 0]) <= tol):
            return float(shifts[-1, 0] / k)
        return folded_period(
            trace.schedule,
            period=k,
            last_step=last,
            order=rows,
            order_steps=(lo, last),
            latency=trace.latency,
            bandwidth=trace.bandwidth,
        )
    raise SteadyStateNotReached(
        f"schedule {trace.schedule.name!r} shows no periodic processor order within the "
        f"{last + 1} steps that are exact (of {len(steps)}); simulate more `steps`."
    )
