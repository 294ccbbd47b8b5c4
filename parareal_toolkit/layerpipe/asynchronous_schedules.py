"""Asynchronous schedules: every micro-batch is a training step, measured in steady state.

* ``pipedream``: 1F1B with weight stashing (Narayanan et al. 2019): stage s updates with
  gradients S(s) = (workers after s) steps stale, contiguous whole-layer stages.
* ``pipedream-replicated``: the same with PipeDream's stage replication (data-parallel
  replicas of a stage take alternate steps).
* ``layerpipe``: see :func:`layerpipe_schedule` and the package docstring.

Each is unrolled over ``steps`` steps; :func:`.steady_state.steady_state_period` measures
the run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._resources import require_memory
from .._validation import check_choice, check_instance, check_int, check_ints
from ..errors import InputError
from .costs import CostProfile
from .modulo_scheduling import PeriodicScheduleInfo, periodic_order, periodic_schedule, static_start
from .partition import partition_contiguous, partition_layerpipe, partition_replicated
from .stage_schedules import stage_costs
from .task_graph import BYTES_PER_TASK, Schedule, ScheduleInfo, Task

__all__ = ["cyclic_order", "pipedream_schedule", "layerpipe_schedule"]

# list-scheduling rank of a task kind within a step: backward chain, then weight gradients
# and updates, then forwards (the oldest step always goes first)
_OLDEST_RANK = {"A": 0, "B": 0, "G": 1, "U": 1, "F": 2}


def _oldest_first(task: Task) -> tuple:
    return (task.microbatch, _OLDEST_RANK[task.kind], -task.unit, task.part)


def cyclic_order(schedule: Schedule, offset: Sequence[int]) -> list[list[Task]]:
    """The periodic order of an asynchronous schedule.

    In cycle c, processor q runs (1) backward tasks it hosts for units whose staleness
    offset exceeds its own P - 1 - q (LayerPipe's moved weight gradients: their inputs came
    in the previous cycle, so they go first and free the next cycle's forward of their
    owner), (2) its forward tasks of step c (units ascending), (3) its other backward tasks
    of unit u for step c - offset[u] (units descending). With offset[u] = S(u) every
    delayed-gradient edge spans at least one cycle (no deadlock) and every processor does
    one step's work per cycle.

    Returns
    -------
    list of list of Task
        Per processor, its tasks in that order.
    """
    check_instance(schedule, "schedule", Schedule)
    offset = check_ints(offset, "offset", nonempty=False)
    units = 1 + max((task.unit for task in schedule.cost), default=-1)
    if len(offset) < units:
        raise InputError(f"`offset` must hold one entry per unit ({units}); got {len(offset)}.")
    p = schedule.num_processors

    def key(task: Task) -> tuple:
        if task.kind == "F":
            return (task.microbatch, 1, task.unit, task.part)
        cycle = task.microbatch + offset[task.unit]
        early = offset[task.unit] > p - 1 - schedule.processor[task]
        return (cycle, 0 if early else 2, -task.unit, task.part)

    rows: list[list[Task]] = [[] for _ in range(p)]
    for task in schedule.cost:
        rows[schedule.processor[task]].append(task)
    return [sorted(row, key=key) for row in rows]


def _staleness(workers_after: Sequence[int], delays: Sequence[int] | None, per: str) -> list[int]:
    """``delays`` checked (one int >= 0 per stage or layer), or by default the workers after each."""
    if delays is None:
        return list(workers_after)
    out = check_ints(delays, "delays", minimum=0, nonempty=False)
    if len(out) != len(workers_after):
        raise InputError(f"`delays` must have {len(workers_after)} entries (one per {per}); got {len(out)}.")
    return out


def pipedream_schedule(
    profile: CostProfile,
    processors: int,
    *,
    steps: int,
    replicated: bool = False,
    weight_stashing: bool = True,
    delays: Sequence[int] | None = None,
) -> Schedule:
    """PipeDream's asynchronous 1F1B over ``steps`` training steps (one micro-batch each).

    Stage s updates its weights with the gradient of step t at the end of B(s, t); F(s, t')
    needs the update of step t' - S(s) - 1, S(s) = workers after s (PipeDream's staleness).
    Memory: S(s) + 1 weight versions with stashing, 1 without; stashing changes numerics
    (see ``emulator``), not timing. ``delays`` (one per stage) overrides S(s).

    Returns
    -------
    Schedule
        Asynchronous; with a periodic fixed order (:func:`cyclic_order`) without
        replication, else list-scheduled oldest step first. ``info`` holds the stages,
        replicas, staleness, weight versions, load bound and all-reduce volume.
    """
    steps = check_int(steps, "steps", minimum=1)
    if replicated:
        plan = partition_replicated(profile, processors)
    else:
        plan = [(stage, 1) for stage in partition_contiguous(profile, processors)]
    stages = [stage for stage, _ in plan]
    reps = [r for _, r in plan]
    require_memory(
        BYTES_PER_TASK * 2 * len(plan) * steps, f"a PipeDream schedule of {steps} steps x {len(plan)} stages"
    )
    costs = stage_costs(profile, stages)
    first = [sum(reps[:s]) for s in range(len(plan))]
    after = [sum(reps[s:]) - 1 for s in range(len(plan))]
    stale = _staleness(after, delays, "stage")
    sched = Schedule(
        "pipedream-replicated" if replicated else "pipedream",
        processors,
        steps,
        priority=_oldest_first,
        asynchronous=True,
    )
    n = len(plan)
    for t in range(steps):
        for s in range(n):
            f, b, w, u, vol = costs[s]
            proc = first[s] + t % reps[s]
            deps = [] if s == 0 else [(Task("F", s - 1, t), costs[s - 1].boundary_volume)]
            if t - stale[s] - 1 >= 0:
                deps.append((Task("B", s, t - stale[s] - 1), 0.0))
            sched.add(Task("F", s, t), f, proc, deps)
        for s in reversed(range(n)):
            f, b, w, u, vol = costs[s]
            proc = first[s] + t % reps[s]
            deps = [(Task("F", s, t), 0.0)]
            if s < n - 1:
                deps.append((Task("B", s + 1, t), vol))
            sched.add(Task("B", s, t), b + w + u, proc, deps)
    if not replicated:
        sched.order, sched.priority = cyclic_order(sched, stale), None
    weights = [sum(profile.layers[l].weight_size for l in stage) for stage in stages]
    sched.info = ScheduleInfo(
        stages=tuple((st.start, st.stop) for st in stages),
        replicas=tuple(reps),
        staleness=tuple(stale),
        weight_versions=tuple((s_ + 1) if weight_stashing else 1 for s_ in stale),
        load_bound=max((f + b + w + u) / r for (f, b, w, u, _), r in zip(costs, reps)),
        allreduce_volume=sum(2 * (r - 1) / r * wt for r, wt in zip(reps, weights)),
    )
    return sched


def layerpipe_schedule(
    profile: CostProfile,
    processors: int,
    *,
    steps: int,
    delays: Sequence[int] | None = None,
    split_activation: bool = True,
    move_weight_gradient: bool = True,
    scheduler: str = "list",
    latency: float = 0.0,
    bandwidth: float = math.inf,
    time_limit: float = 60.0,
) -> Schedule:
    """LayerPipe, asynchronous, at layer granularity (our reading of the abstract).

    Per step t and layer l: F_l on its processor; A_l in one or two parts (fractions of
    the MACs, i.e. of the output channels of e_{l-1}) on consecutive processors; G_l (+U_l)
    on F_l's processor or the next. Dependencies: F_l <- F_{l-1} (input a_{l-1});
    each part of A_l and G_l <- delta_l, i.e. every part of A_{l+1} (or the loss after F_L)
    and F_l (f'(z_l), a_{l-1}); F_l(t) <- G_l(t - S(l) - 1) (delayed gradient, S(l) = number
    of processors after F_l's unless ``delays``, one per layer, is given).

    ``scheduler="list"`` list-schedules the tasks, oldest step first; ``"periodic"`` runs
    the fixed order of the rate-optimal static periodic schedule
    (:func:`~parareal_toolkit.layerpipe.periodic_schedule`, planned for ``latency`` and ``bandwidth``
    with MILP solves of at most ``time_limit`` seconds).

    Returns
    -------
    Schedule
        Asynchronous, list-scheduled oldest step first or in the periodic order. ``info``
        holds the placement, staleness, weight versions per processor and load bound;
        with ``"periodic"`` it is a :class:`~parareal_toolkit.layerpipe.PeriodicScheduleInfo`
        whose ``periodic`` is the :class:`~parareal_toolkit.layerpipe.PeriodicSchedule`.
    """
    steps = check_int(steps, "steps", minimum=1)
    scheduler = check_choice(scheduler, "scheduler", ("periodic", "list"))
    place = partition_layerpipe(
        profile, processors, split_activation=split_activation, move_weight_gradient=move_weight_gradient
    )
    n = len(profile)
    require_memory(BYTES_PER_TASK * 4 * n * steps, f"a LayerPipe schedule of {steps} steps x {n} layers")
    after = [processors - 1 - place.forward[l] for l in range(n)]
    stale = _staleness(after, delays, "layer")
    sched = Schedule("layerpipe", processors, steps, priority=_oldest_first, asynchronous=True)
    for t in range(steps):
        for l, layer in enumerate(profile.layers):
            deps = [] if l == 0 else [(Task("F", l - 1, t), layer.input_size)]
            if t - stale[l] - 1 >= 0:
                deps.append((Task("G", l, t - stale[l] - 1), layer.weight_size))
            sched.add(Task("F", l, t), layer.forward, place.forward[l], deps)
        for l in reversed(range(n)):
            layer = profile.layers[l]
            delta = [(Task("F", l, t), layer.activation_size)]
            if l < n - 1:
                delta += [
                    (Task("A", l + 1, t, k), layer.activation_size * frac)
                    for k, (_, frac) in enumerate(place.activation[l + 1])
                ]
            for k, (proc, frac) in enumerate(place.activation[l]):
                part_deps = list(delta)
                if k > 0 or proc != place.forward[l]:
                    part_deps.append((Task("F", l, t), 0.0))
                sched.add(Task("A", l, t, k), layer.activation_grad * frac, proc, part_deps)
            sched.add(
                Task("G", l, t),
                layer.weight_grad + layer.update,
                place.weight[l],
                [*delta, (Task("F", l, t), layer.input_size)],
            )
    loads = [0.0] * processors
    for l, layer in enumerate(profile.layers):
        loads[place.forward[l]] += layer.forward
        loads[place.weight[l]] += layer.weight_grad + layer.update
        for proc, frac in place.activation[l]:
            loads[proc] += layer.activation_grad * frac
    versions = [0] * processors
    for l in range(n):
        versions[place.forward[l]] = max(versions[place.forward[l]], stale[l] + 1)
    info = ScheduleInfo(placement=place, staleness=tuple(stale), load_bound=max(loads), weight_versions=tuple(versions))
    # not :func:`cyclic_order`: it makes the moved G_l and the split A_l wait on a
    # neighbour's whole cycle (period up to 2x load); the periodic scheduler plans offsets
    if scheduler == "periodic":
        if steps < max(stale) + 2:
            raise InputError(
                f"`steps` must be at least {max(stale) + 2} with scheduler='periodic' (the last step must "
                f"carry every delayed-gradient dependence, the longest spans {max(stale) + 1} steps); got {steps}."
            )
        plan = periodic_schedule(sched, latency=latency, bandwidth=bandwidth, time_limit=time_limit)
        sched.order, sched.priority = periodic_order(sched, plan), None
        sched.release = static_start(sched, plan)
        info = PeriodicScheduleInfo(**vars(info), periodic=plan)
    sched.info = info
    return sched
