"""Synchronous stage-level schedules: one optimiser step per ``microbatches`` micro-batches, ended by a flush.

Stage s of contiguous whole layers runs on processor s (one processor for ``sequential``):

* ``sequential``: one processor, F then B per micro-batch.
* ``gpipe``: all forwards, then all backwards (Huang et al. 2019); torch's ``ScheduleGPipe``.
* ``1f1b``: PipeDream-Flush (Narayanan et al. 2021); the order of torch's ``Schedule1F1B``.
* ``zb-h1``: Zero Bubble H1 (Qi et al. 2024): backward split into A (torch ``I``) and G
  (torch ``W``), G deferred on the later stages; the order torch's zero-bubble rank
  generator (``_get_1f1b_rank_ops`` with ``enable_zero_bubble``) produces for one stage per
  rank. Makespan m(f+b+w) + (p-1)(f+b-w) exactly when w <= min(f, b) (m >= p >= 2;
  a larger w takes strictly longer).
* ``zb-h2``: Zero Bubble H2: up to 2(p - s) - 1 micro-batches in flight on stage s, A
  first, then F, G filling the gaps (greedy list schedule, fixed into an order).
* ``layerpipe-flush``: LayerPipe's per-stage projection: A and G as separate tasks, A first
  (critical chain), G in the idle slots, 1F1B memory (p - s in flight). This is the order
  the torch runtime executes as a custom action list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .._names import SYNCHRONOUS_SCHEDULES
from .._resources import require_memory
from .._validation import check_choice, check_int, check_real_array
from ..errors import InputError
from .costs import CostProfile, StageCost
from .engine import simulate
from .partition import check_processors, partition_contiguous
from .task_graph import BYTES_PER_TASK, Schedule, ScheduleInfo, Task

__all__ = [
    "stage_costs",
    "gpipe_order",
    "one_f_one_b_order",
    "zb_h1_order",
    "stage_schedule",
    "fix_order",
    "synchronous_schedule",
]

Order = list[list[tuple[str, int]]]  # per stage: (kind, micro-batch) in the order it runs

# list-scheduling rank of a task kind: the critical backward chain (A, or a fused B) first,
# then the update, then forwards; weight gradients last, into the idle slots
_CRITICAL_RANK = {"A": 0, "B": 0, "U": 1, "F": 2, "G": 3}


def _critical_first(task: Task) -> tuple:
    """A before F before G, oldest micro-batch first within a kind."""
    return (_CRITICAL_RANK[task.kind], task.microbatch, -task.unit)


def stage_costs(profile: CostProfile, stages: Sequence[range]) -> list[StageCost]:
    """(f, b, w, u, boundary volume) per stage: sums of F, A, G, U over its layers.

    Returns
    -------
    list of StageCost
        One per stage; the boundary volume is the size of the stage's last output.
    """
    out = []
    for stage in stages:
        layers = [profile.layers[l] for l in stage]
        out.append(
            StageCost(
                sum(x.forward for x in layers),
                sum(x.activation_grad for x in layers),
                sum(x.weight_grad for x in layers),
                sum(x.update for x in layers),
                layers[-1].activation_size,
            )
        )
    return out


def _checked_order_size(p: int, m: int, *, tasks_per_microbatch: int) -> tuple[int, int]:
    """``p`` stages and ``m`` microbatches as positive integers, refused if the order's lists cannot fit."""
    p = check_int(p, "p", minimum=1)
    m = check_int(m, "m", minimum=1)
    # a (kind, index) tuple, its index and a list slot: about 100 bytes per task
    require_memory(100.0 * p * m * tasks_per_microbatch, f"a pipeline order of {p} stages x {m} microbatches")
    return p, m


def gpipe_order(p: int, m: int) -> Order:
    """GPipe's order: per stage, all m forwards, then all m backwards (kinds F and B).

    Returns
    -------
    list of list of (str, int)
        Per stage, (kind, micro-batch) in execution order.
    """
    p, m = _checked_order_size(p, m, tasks_per_microbatch=2)
    return [[("F", i) for i in range(m)] + [("B", i) for i in range(m)] for _ in range(p)]


def one_f_one_b_order(p: int, m: int) -> Order:
    """Per stage: (kind, micro-batch) in 1F1B order, kinds F and B (torch's ``Schedule1F1B``).

    Stage ``r`` runs ``min(p - 1 - r, m)`` warm-up forwards, then alternates F and B, then
    drains the remaining backwards: at most ``p - r`` micro-batches in flight.

    Returns
    -------
    list of list of (str, int)
        Per stage, (kind, micro-batch) in execution order.
    """
    p, m = _checked_order_size(p, m, tasks_per_microbatch=2)
    orders = []
    for r in range(p):
        warm = min(p - 1 - r, m)
        row = [("F", i) for i in range(warm)]
        for j in range(m - warm):
            row += [("F", warm + j), ("B", j)]
        row += [("B", j) for j in range(m - warm, m)]
        orders.append(row)
    return orders


def zb_h1_order(p: int, m: int) -> Order:
    """ZB-H1's order, kinds F, A, G: stage r defers its first r weight gradients (torch's ZB1P rule).

    Returns
    -------
    list of list of (str, int)
        Per stage, (kind, micro-batch) in execution order.
    """
    p, m = _checked_order_size(p, m, tasks_per_microbatch=3)
    orders = []
    for r in range(p):
        warm = min(p - 1 - r, m)
        row = [("F", i) for i in range(warm)]
        f, b, w = warm, 0, 0
        for j in range(m - warm):
            row += [("F", f), ("A", b)]
            f, b = f + 1, b + 1
            if j >= r:
                row.append(("G", w))
                w += 1
        for c in range(m - b):  # cooldown: torch's rule "op - warmup >= rank"
            row.append(("A", b))
            b += 1
            if (m - warm) + c >= r:
                row.append(("G", w))
                w += 1
        row += [("G", i) for i in range(w, m)]
        orders.append(row)
    return orders


def stage_schedule(
    name: str,
    costs: Sequence[tuple[float, float, float, float, float]],
    microbatches: int,
    *,
    split: bool,
    order: Order | None = None,
    priority: Callable[[Task], tuple] | None = None,
    in_flight: Sequence[int] | None = None,
) -> Schedule:
    """Task graph of a synchronous stage-level pipeline (stage s on processor s).

    ``costs[s]``: (f, b, w, u, boundary volume) of stage s (a :class:`.costs.StageCost` or
    a plain 5-tuple). ``split``: backward as A and G (Zero Bubble, LayerPipe) or as one B.
    ``in_flight[s]`` caps the micro-batches whose activations stage s holds (F of i waits
    for the backward of i - cap), the memory limit that shapes 1F1B-like schedules.

    Returns
    -------
    Schedule
        Synchronous, with ``order`` if given (then the priority is dropped), else ``priority``.
    """
    m = check_int(microbatches, "microbatches", minimum=1)
    table = check_real_array(costs, "costs")
    if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] != 5 or (table < 0).any():
        raise InputError(
            "`costs` must hold one non-negative (forward, activation_grad, weight_grad, update, boundary_volume) "
            f"row per stage; got {costs!r}."
        )
    if not np.isfinite(table[:, :4].sum() * m):  # the total work bounds every start and end time
        raise InputError(f"`costs` x `microbatches` must sum to a finite total work; got {costs!r} and {m}.")
    per_stage = [StageCost(*map(float, row)) for row in table]
    p = len(per_stage)
    require_memory(BYTES_PER_TASK * 3 * p * m, f"a schedule of {p} stages x {m} microbatches")
    sched = Schedule(name, p, m, order=None, priority=priority)
    last_bwd = "G" if split else "B"
    for i in range(m):
        for s, (f, *_) in enumerate(per_stage):
            deps = [] if s == 0 else [(Task("F", s - 1, i), per_stage[s - 1].boundary_volume)]
            if in_flight is not None and i - in_flight[s] >= 0:
                deps.append((Task("A" if split else "B", s, i - in_flight[s]), 0.0))
            sched.add(Task("F", s, i), f, s, deps)
    for i in range(m):
        for s in reversed(range(p)):
            f, b, w, u, vol = per_stage[s]
            up = [(Task("F", s, i), 0.0)]
            if s < p - 1:
                up.append((Task("A" if split else "B", s + 1, i), vol))
            if split:
                sched.add(Task("A", s, i), b, s, up)
                sched.add(Task("G", s, i), w, s, [(Task("A", s, i), 0.0)])
            else:
                sched.add(Task("B", s, i), b + w, s, up)
    for s, (*_, u, _vol) in enumerate(per_stage):
        if u > 0:
            sched.add(Task("U", s, m), u, s, [(Task(last_bwd, s, i), 0.0) for i in range(m)])
    if order is not None:
        sched.order = [[Task(kind, s, i) for kind, i in row] for s, row in enumerate(order)]
        for s, (*_, u, _v) in enumerate(per_stage):
            if u > 0:
                sched.order[s].append(Task("U", s, m))
        sched.priority = None
    sched.info = ScheduleInfo(stage_costs=tuple(per_stage))
    return sched


def fix_order(schedule: Schedule, **simulate_kwargs: Any) -> Schedule:
    """Turn a priority (list-scheduled) schedule into the fixed order it produced.

    Returns
    -------
    Schedule
        ``schedule`` itself, its ``order`` set to the order :func:`.engine.simulate` ran
        it in and its ``priority`` cleared.
    """
    trace = simulate(schedule, **simulate_kwargs)
    schedule.order = [[t for _, _, t in trace.intervals(p)] for p in range(schedule.num_processors)]
    schedule.priority = None
    return schedule


def synchronous_schedule(name: str, profile: CostProfile, processors: int, microbatches: int) -> Schedule:
    """Synchronous schedule ``name`` (one of ``SYNCHRONOUS``) on contiguous whole-layer stages.

    The stages minimise the largest stage load (:func:`.partition.partition_contiguous`);
    ``sequential`` needs ``processors == 1``.

    Returns
    -------
    Schedule
        With a fixed order; ``info`` holds the stage costs and (except ``sequential``) the
        stages.
    """
    name = check_choice(name, "schedule", SYNCHRONOUS_SCHEDULES)
    p = check_processors(processors)
    m = check_int(microbatches, "microbatches", minimum=1)
    if name == "sequential":
        if p != 1:
            raise InputError(f"`processors` must be 1 for the sequential schedule; got {p}.")
        costs = stage_costs(profile, [range(len(profile))])
        return stage_schedule(name, costs, m, split=False, order=[[(k, i) for i in range(m) for k in ("F", "B")]])
    stages = partition_contiguous(profile, p)
    costs = stage_costs(profile, stages)
    if name == "gpipe":
        sched = stage_schedule(name, costs, m, split=False, order=gpipe_order(p, m))
    elif name == "1f1b":
        sched = stage_schedule(name, costs, m, split=False, order=one_f_one_b_order(p, m))
    elif name == "zb-h1":
        sched = stage_schedule(name, costs, m, split=True, order=zb_h1_order(p, m))
    elif name == "zb-h2":
        sched = fix_order(
            stage_schedule(
                name, costs, m, split=True, priority=_critical_first, in_flight=[2 * (p - s) - 1 for s in range(p)]
            )
        )
    else:  # layerpipe-flush
        sched = fix_order(
            stage_schedule(name, costs, m, split=True, priority=_critical_first, in_flight=[p - s for s in range(p)])
        )
    sched.info = replace(sched.info, stages=tuple((st.start, st.stop) for st in stages))
    return sched
