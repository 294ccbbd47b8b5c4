"""Schedule builders: sequential, GPipe, 1F1B, ZB-H1, ZB-H2, PipeDream, LayerPipe.

Synchronous (one optimiser step per ``microbatches`` micro-batches, ended by a flush):

* ``sequential``: one processor, F then B per micro-batch.
* ``gpipe``: all forwards, then all backwards (Huang et al. 2019); torch's ``ScheduleGPipe``.
* ``1f1b``: PipeDream-Flush (Narayanan et al. 2021); the order of torch's ``Schedule1F1B``.
* ``zb-h1``: Zero Bubble H1 (Qi et al. 2024): backward split into A (torch ``I``) and G
  (torch ``W``), G deferred on the later stages; the order torch's zero-bubble rank
  generator (``_get_1f1b_rank_ops`` with ``enable_zero_bubble``) produces for one stage per
  rank. Makespan m(f+b+w) + (p-1)(f+b-w).
* ``zb-h2``: Zero Bubble H2: up to 2(p - s) - 1 micro-batches in flight on stage s, A
  first, then F, G filling the gaps (greedy list schedule, fixed into an order).
* ``layerpipe-flush``: LayerPipe's per-stage projection: A and G as separate tasks, A first
  (critical chain), G in the idle slots, 1F1B memory (p - s in flight). This is the order
  the torch runtime executes as a custom action list.

Asynchronous (every micro-batch is a training step; measured in steady state):

* ``pipedream``: 1F1B with weight stashing (Narayanan et al. 2019): stage s updates with
  gradients S(s) = (workers after s) steps stale, contiguous whole-layer stages.
* ``pipedream-replicated``: the same with PipeDream's stage replication (data-parallel
  replicas of a stage take alternate steps).
* ``layerpipe``: see :func:`layerpipe_schedule` and the package docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .._names import ASYNCHRONOUS_SCHEDULES, SCHEDULE_NAMES, SYNCHRONOUS_SCHEDULES
from .costs import CostProfile
from .partition import check_processors, partition_contiguous, partition_layerpipe, partition_replicated
from .schedule import Schedule, Task
from .simulator import simulate

__all__ = [
    "SYNCHRONOUS",
    "ASYNCHRONOUS",
    "SCHEDULES",
    "build_schedule",
    "stage_costs",
    "gpipe_order",
    "one_f_one_b_order",
    "zb_h1_order",
    "stage_schedule",
    "pipedream_schedule",
    "layerpipe_schedule",
    "fix_order",
    "cyclic_order",
]

SYNCHRONOUS = SYNCHRONOUS_SCHEDULES
ASYNCHRONOUS = ASYNCHRONOUS_SCHEDULES
SCHEDULES = SCHEDULE_NAMES

_KIND_RANK = {"A": 0, "B": 0, "G": 1, "U": 1, "F": 2}


def _oldest_first(task: Task) -> tuple:
    return (task.microbatch, _KIND_RANK[task.kind], -task.unit, task.part)


def _critical_first(task: Task) -> tuple:
    """A before F before G, oldest micro-batch first within a kind."""
    return (_KIND_RANK[task.kind] if task.kind != "G" else 3, task.microbatch, -task.unit)


# --------------------------------------------------------------------------- stage level


def stage_costs(profile: CostProfile, stages: Sequence[range]):
    """(f, b, w, u, boundary volume) per stage: sums of F, A, G, U over its layers."""
    out = []
    for stage in stages:
        layers = [profile.layers[l] for l in stage]
        out.append(
            (
                sum(x.forward for x in layers),
                sum(x.activation_grad for x in layers),
                sum(x.weight_grad for x in layers),
                sum(x.update for x in layers),
                layers[-1].activation_size,
            )
        )
    return out


def gpipe_order(p: int, m: int) -> list[list[tuple[str, int]]]:
    """Per stage: list of (kind, micro-batch); kinds F and B."""
    return [[("F", i) for i in range(m)] + [("B", i) for i in range(m)] for _ in range(p)]


def one_f_one_b_order(p: int, m: int) -> list[list[tuple[str, int]]]:
    """Per stage: (kind, micro-batch) in 1F1B order, kinds F and B (torch's ``Schedule1F1B``).

    Stage ``r`` runs ``min(p - 1 - r, m)`` warm-up forwards, then alternates F and B, then
    drains the remaining backwards: at most ``p - r`` micro-batches in flight.
    """
    orders = []
    for r in range(p):
        warm = min(p - 1 - r, m)
        row = [("F", i) for i in range(warm)]
        for j in range(m - warm):
            row += [("F", warm + j), ("B", j)]
        row += [("B", j) for j in range(m - warm, m)]
        orders.append(row)
    return orders


def zb_h1_order(p: int, m: int) -> list[list[tuple[str, int]]]:
    """Kinds F, A, G; stage r defers its first r weight gradients (torch's ZB1P rule)."""
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
    costs,
    microbatches: int,
    *,
    split: bool,
    order: list[list[tuple[str, int]]] | None = None,
    priority: Callable | None = None,
    in_flight: Sequence[int] | None = None,
) -> Schedule:
    """Task graph of a synchronous stage-level pipeline (stage s on processor s).

    ``split``: backward as A and G (Zero Bubble, LayerPipe) or as one B. ``in_flight[s]``
    caps the micro-batches whose activations stage s holds (F of i waits for the backward
    of i - cap), the memory limit that shapes 1F1B-like schedules.
    """
    p, m = len(costs), microbatches
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise ValueError(f"`microbatches` must be an int >= 1; got {microbatches!r}.")
    sched = Schedule(name, p, m, order=None, priority=priority)
    last_bwd = "G" if split else "B"
    for i in range(m):
        for s, (f, *_) in enumerate(costs):
            deps = [] if s == 0 else [(Task("F", s - 1, i), costs[s - 1][4])]
            if in_flight is not None and i - in_flight[s] >= 0:
                deps.append((Task("A" if split else "B", s, i - in_flight[s]), 0.0))
            sched.add(Task("F", s, i), f, s, deps)
    for i in range(m):
        for s in reversed(range(p)):
            f, b, w, u, vol = costs[s]
            up = [(Task("F", s, i), 0.0)]
            if s < p - 1:
                up.append((Task("A" if split else "B", s + 1, i), vol))
            if split:
                sched.add(Task("A", s, i), b, s, up)
                sched.add(Task("G", s, i), w, s, [(Task("A", s, i), 0.0)])
            else:
                sched.add(Task("B", s, i), b + w, s, up)
    for s, (*_, u, _vol) in enumerate(costs):
        if u > 0:
            sched.add(Task("U", s, m), u, s, [(Task(last_bwd, s, i), 0.0) for i in range(m)])
    if order is not None:
        sched.order = [[Task(kind, s, i) for kind, i in row] for s, row in enumerate(order)]
        for s, (*_, u, _v) in enumerate(costs):
            if u > 0:
                sched.order[s].append(Task("U", s, m))
        sched.priority = None
    sched.meta["stage_costs"] = costs
    return sched


def fix_order(schedule: Schedule, **simulate_kwargs) -> Schedule:
    """Turn a priority (list-scheduled) schedule into the fixed order it produced."""
    trace = simulate(schedule, **simulate_kwargs)
    schedule.order = [[t for _, _, t in trace.intervals(p)] for p in range(schedule.num_processors)]
    schedule.priority = None
    return schedule


# --------------------------------------------------------------------------- asynchronous


def cyclic_order(schedule: Schedule, offset: Sequence[int]) -> list[list[Task]]:
    """The periodic order of an asynchronous schedule.

    In cycle c, processor q runs (1) backward tasks it hosts for units whose staleness
    offset exceeds its own P - 1 - q (LayerPipe's moved weight gradients: their inputs came
    in the previous cycle, so they go first and free the next cycle's forward of their
    owner), (2) its forward tasks of step c (units ascending), (3) its other backward tasks
    of unit u for step c - offset[u] (units descending). With offset[u] = S(u) every
    delayed-gradient edge spans at least one cycle (no deadlock) and every processor does
    one step's work per cycle.
    """
    p = schedule.num_processors

    def key(task: Task):
        if task.kind == "F":
            return (task.microbatch, 1, task.unit, task.part)
        cycle = task.microbatch + offset[task.unit]
        early = offset[task.unit] > p - 1 - schedule.processor[task]
        return (cycle, 0 if early else 2, -task.unit, task.part)

    rows = [[] for _ in range(p)]
    for task in schedule.cost:
        rows[schedule.processor[task]].append(task)
    return [sorted(row, key=key) for row in rows]


def _staleness(workers_after: Sequence[int], delays) -> list[int]:
    if delays is None:
        return list(workers_after)
    out = list(delays)
    if len(out) != len(workers_after) or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in out):
        raise ValueError(f"`delays` must be {len(workers_after)} ints >= 0; got {delays!r}.")
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
    (see :mod:`.emulator`), not timing.
    """
    if replicated:
        plan = partition_replicated(profile, processors)
    else:
        plan = [(stage, 1) for stage in partition_contiguous(profile, processors)]
    stages = [stage for stage, _ in plan]
    reps = [r for _, r in plan]
    costs = stage_costs(profile, stages)
    first = [sum(reps[:s]) for s in range(len(plan))]
    after = [sum(reps[s:]) - 1 for s in range(len(plan))]
    stale = _staleness(after, delays)
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
            deps = [] if s == 0 else [(Task("F", s - 1, t), costs[s - 1][4])]
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
    sched.meta.update(
        stages=[(st.start, st.stop) for st in stages],
        replicas=reps,
        staleness=stale,
        weight_versions=[(s_ + 1) if weight_stashing else 1 for s_ in stale],
        load_bound=max((f + b + w + u) / r for (f, b, w, u, _), r in zip(costs, reps)),
        # ring all-reduce of a replicated stage's gradient, per step (not a task)
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
) -> Schedule:
    """LayerPipe, asynchronous, at layer granularity (our reading of the abstract).

    Per step t and layer l: F_l on its processor; A_l in one or two parts (fractions of
    the MACs, i.e. of the output channels of e_{l-1}) on consecutive processors; G_l (+U_l)
    on F_l's processor or the next. Dependencies: F_l <- F_{l-1} (input a_{l-1});
    each part of A_l and G_l <- delta_l, i.e. every part of A_{l+1} (or the loss after F_L)
    and F_l (f'(z_l), a_{l-1}); F_l(t) <- G_l(t - S(l) - 1) (delayed gradient, S(l) = number
    of processors after F_l's unless ``delays`` is given).
    """
    place = partition_layerpipe(
        profile, processors, split_activation=split_activation, move_weight_gradient=move_weight_gradient
    )
    n = len(profile)
    after = [processors - 1 - place.forward[l] for l in range(n)]
    stale = _staleness(after, delays)
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
    # list scheduling, oldest step first: the periodic order of :func:`cyclic_order` makes
    # the moved G_l and the split A_l wait on a neighbour's whole cycle (period up to 2x load)
    sched.meta.update(
        placement=place, staleness=stale, load_bound=max(loads), weight_versions=[0] * processors, allreduce_volume=0.0
    )
    for l in range(n):
        sched.meta["weight_versions"][place.forward[l]] = max(
            sched.meta["weight_versions"][place.forward[l]], stale[l] + 1
        )
    return sched


# --------------------------------------------------------------------------- entry point


def build_schedule(
    name: str, profile: CostProfile, processors: int, *, microbatches: int = 8, steps: int | None = None, **options
) -> Schedule:
    """Build schedule ``name`` (one of :data:`SCHEDULES`) for ``profile`` on ``processors``.

    Synchronous schedules use ``microbatches`` micro-batches per step; asynchronous ones are
    unrolled over ``steps`` steps (default max(40, 8P)), enough to reach steady state.
    Synchronous and PipeDream schedules forbid more processors than layers.
    """
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {list(SCHEDULES)}; got {name!r}.")
    check_processors(processors)
    if isinstance(microbatches, bool) or not isinstance(microbatches, int) or microbatches < 1:
        raise ValueError(f"`microbatches` must be an int >= 1; got {microbatches!r}.")
    if name in ASYNCHRONOUS:
        steps = max(40, 8 * processors) if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"`steps` must be an int >= 2; got {steps!r}.")
        if name == "layerpipe":
            return layerpipe_schedule(profile, processors, steps=steps, **options)
        return pipedream_schedule(
            profile, processors, steps=steps, replicated=name == "pipedream-replicated", **options
        )
    if options:
        raise TypeError(f"unexpected options for {name!r}: {sorted(options)}.")
    if name == "sequential":
        if processors != 1:
            raise ValueError(f"`processors` must be 1 for the sequential schedule; got {processors}.")
        costs = stage_costs(profile, [range(len(profile))])
        return stage_schedule(
            name, costs, microbatches, split=False, order=[[(k, i) for i in range(microbatches) for k in ("F", "B")]]
        )
    stages = partition_contiguous(profile, processors)
    costs = stage_costs(profile, stages)
    p, m = processors, microbatches
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
    sched.meta["stages"] = [(st.start, st.stop) for st in stages]
    return sched
