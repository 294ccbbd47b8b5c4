"""Rate-optimal static periodic schedules (modulo scheduling) of an asynchronous task graph.

An asynchronous schedule repeats the same tasks every step. A *static periodic schedule*
gives every task v of the step template a start offset s_v; its instance of step t starts
at s_v + t T. It is valid when

* every dependence u -> v whose consumer belongs to d steps later (d = 0 within a step,
  d = S(l) + 1 for LayerPipe's delayed gradient) holds:
  s_v >= s_u + c_u + e_uv - d T (e_uv: the edge's transfer time, 0 on one processor);
* the tasks of each processor never overlap modulo T: for u, v on one processor,
  (s_v - s_u) mod T lies in [c_u, T - c_v], i.e. for some integer q_uv,
  c_u <= s_v - s_u - q_uv T <= T - c_v.

No period is below the lower bound max(largest processor load, iteration bound): the
load bound because a processor does one step's work per period, the iteration bound
(:func:`~parareal_toolkit.layerpipe.max_cycle_ratio` of the dependence graph) because every dependence loop
of time C and d delays needs d T >= C. A schedule at the lower bound is rate-optimal.

:func:`periodic_schedule` finds one in three stages, each stated in its result:

1. *modulo list scheduling* (Rau 1994, without backtracking) at T = lower bound: the
   template tasks in a topological order, each at the earliest start its placed
   predecessors allow whose interval is free modulo T on its processor; succeeds when
   the delayed edges also hold. The builder's order and 15 seeded random topological
   orders are tried. At the lower bound success is optimal (``"optimal"``).
2. otherwise the *MILP* above (T fixed, continuous s_v in [0, H], integer q_uv, zero
   objective: a feasibility problem) by ``scipy.optimize.milp`` (HiGHS) with a time
   limit. H = the critical path of one step plus (2P + 1) T bounds how far the offsets of
   one step spread; "infeasible" means infeasible within that span. Feasible at the
   lower bound: ``"optimal"``. Proven infeasible: bisection on T between the largest
   period proven infeasible and the smallest found feasible, to ``rtol`` (integer T if
   every time is an integer): ``"bisection"``, with the gap to the lower bound (feasibility
   is not proven monotone in T, so the period is the smallest feasible one *found*).
3. if the MILP hits its time limit, modulo list scheduling (4 orders per T) at T
   increasing by factors of (1 + 1/256) from the lower bound (and, as the last resort, every task in one sequence,
   T = the total time, which is always valid): ``"heuristic"``, gap reported.

:func:`periodic_order` unrolls the offsets into a fixed order per processor and
:func:`static_start` into release times; the engine then runs the static schedule cycle by
cycle, and :func:`simulated_period` confirms that every task starts at its static time
(no processor conflict, no dependence late) and measures the period of the run.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from .._validation import check_instance, check_real
from ..errors import InputError
from .cycle_ratio import max_cycle_ratio
from .engine import Trace
from .task_graph import Schedule, ScheduleInfo, Task

__all__ = [
    "PeriodicSchedule",
    "PeriodicScheduleInfo",
    "periodic_schedule",
    "periodic_order",
    "static_start",
    "simulated_period",
    "Template",
    "TemplateEdge",
]

Template = tuple[str, int, int]
"""``(kind, unit, part)``: a task with its step left out."""
TemplateEdge = tuple[Template, Template, int, float]
"""``(producer, consumer, delay in steps, transfer time)``: one dependence of the template."""

_HEURISTIC_GROWTH = 1.0 + 1.0 / 256.0
_ORDERS = 16  # task orders tried at the lower bound before the MILP
_ORDERS_PER_PERIOD = 4  # ... and at each larger period of the heuristic search


@dataclass(frozen=True)
class PeriodicSchedule:
    """A static periodic schedule: task v of step t starts at ``offset[v] + t * period``.

    Attributes
    ----------
    period : float
        T, cycles per step of the static schedule.
    lower_bound : float
        max(``load_bound``, ``iteration_bound``): no valid period is smaller.
    load_bound, iteration_bound : float
        Largest per-processor work of one step; maximum cycle ratio of the dependences.
    offset : dict of Template to float
        Start of every template task in step 0 (the smallest is 0).
    status : str
        ``"optimal"`` (period = lower bound), ``"bisection"`` (the MILP proved
        ``infeasible_below`` infeasible), ``"heuristic"`` (the MILP hit its time limit) or
        ``"feasible"`` (a checked certificate above the lower bound, no proof attached).
    method : str
        What found the period: ``"modulo-list"``, ``"milp"`` or ``"sequential"``.
    infeasible_below : float or None
        The largest period the MILP proved infeasible (within the offset span H), if any.
    """

    period: float
    lower_bound: float
    load_bound: float
    iteration_bound: float
    offset: dict[Template, float]
    status: str
    method: str
    infeasible_below: float | None = None

    @property
    def gap(self) -> float:
        """period / lower bound - 1 (0 when rate-optimal)."""
        return self.period / self.lower_bound - 1.0 if self.lower_bound > 0 else 0.0


@dataclass(frozen=True, kw_only=True)
class PeriodicScheduleInfo(ScheduleInfo):
    """:class:`~parareal_toolkit.layerpipe.ScheduleInfo` of a schedule that runs a static periodic schedule.

    The schedule's ``order`` is :func:`periodic_order` of ``periodic`` and its ``release``
    times are :func:`static_start` (LayerPipe with ``scheduler="periodic"``); any other
    schedule carries a plain ``ScheduleInfo``.

    Attributes
    ----------
    periodic : PeriodicSchedule
        The static periodic schedule the order runs.
    """

    periodic: PeriodicSchedule


def _template(task: Task) -> Template:
    return (task.kind, task.unit, task.part)


def template_graph(
    schedule: Schedule, *, latency: float = 0.0, bandwidth: float = math.inf
) -> tuple[list[Template], dict[Template, float], dict[Template, int], list[TemplateEdge]]:
    """The step template of an asynchronous schedule, read from its last step.

    Transfer times come from :meth:`~parareal_toolkit.layerpipe.Schedule.transfer_time`, so a
    communication model that prices a dependence prices it here too.

    Returns
    -------
    tuple
        The templates in the builder's (topological) order, their costs, their processors,
        and the edges ``(producer, consumer, delay, transfer time)``.
    """
    last = max(t.microbatch for t in schedule.cost)
    tasks = [t for t in schedule.cost if t.microbatch == last]
    edges = []
    for task in tasks:
        for dep in schedule.deps[task]:
            edges.append(
                (
                    _template(dep.task),
                    _template(task),
                    task.microbatch - dep.task.microbatch,
                    schedule.transfer_time(dep, task, latency, bandwidth),
                )
            )
    nodes = [_template(t) for t in tasks]
    return (
        nodes,
        {_template(t): schedule.cost[t] for t in tasks},
        {_template(t): schedule.processor[t] for t in tasks},
        edges,
    )


def _topological_orders(nodes, edges, count: int) -> list[list[Template]]:
    """The builder's order and ``count`` - 1 random topological orders of the within-step edges
    (Kahn's algorithm with a random pick among the ready tasks; seeded, so deterministic)."""
    rng = random.Random(0)
    orders = [list(nodes)]
    succ: dict[Template, list[Template]] = {v: [] for v in nodes}
    indegree = dict.fromkeys(nodes, 0)
    for u, v, d, _ in edges:
        if d == 0 and u != v:
            succ[u].append(v)
            indegree[v] += 1
    for _ in range(count - 1):
        left = dict(indegree)
        ready = [v for v in nodes if left[v] == 0]
        order = []
        while ready:
            v = ready.pop(rng.randrange(len(ready)))
            order.append(v)
            for w in succ[v]:
                left[w] -= 1
                if left[w] == 0:
                    ready.append(w)
        orders.append(order)
    return orders


def _modulo_list(nodes, cost, proc, edges, period: float, orders=None) -> dict[Template, float] | None:
    """Offsets by modulo list scheduling at ``period`` in the first of ``orders`` (default: the
    builder's) that succeeds, or None if none does (module docstring)."""
    for order in orders or [nodes]:
        found = _modulo_list_once(order, cost, proc, edges, period)
        if found is not None:
            return found
    return None


def _modulo_list_once(nodes, cost, proc, edges, period: float) -> dict[Template, float] | None:
    """Offsets by modulo list scheduling at ``period`` in the order ``nodes``, or None."""
    tol = 1e-12 * period
    preds: dict[Template, list[TemplateEdge]] = {v: [] for v in nodes}
    for e in edges:
        preds[e[1]].append(e)
    reserved: dict[int, list[tuple[float, float]]] = {}
    start: dict[Template, float] = {}
    for v in nodes:
        c = cost[v]
        if c > period + tol:
            return None
        earliest = max((start[u] + cost[u] + x - d * period for u, _, d, x in preds[v] if u in start), default=0.0)
        earliest = max(earliest, 0.0)
        busy = reserved.setdefault(proc[v], [])

        def free(s: float, c: float = c, busy: list[tuple[float, float]] = busy) -> bool:
            for a, length in busy:
                if length > tol and c > tol:
                    if (a - s) % period < c - tol or (s - a) % period < length - tol:
                        return False
                # a zero-cost task may sit at either end of another task, never inside it
                # (at its start it runs first: :func:`periodic_order` puts it first)
                elif tol < (s - a) % period < length - tol or tol < (a - s) % period < c - tol:
                    return False
            return True

        candidates = [earliest] + [
            a + length + period * math.ceil((earliest - a - length) / period - 1e-12) for a, length in busy
        ]
        chosen = next((s for s in sorted(candidates) if s < earliest + period and free(s)), None)
        if chosen is None:
            return None
        start[v] = chosen
        busy.append((chosen % period, c))
    for u, v, d, x in edges:
        if start[v] < start[u] + cost[u] + x - d * period - 1e-9 * period:
            return None
    return start


def _sequential(nodes, cost, edges) -> tuple[float, dict[Template, float]]:
    """Every task in one sequence (topological order), transfers included: always valid."""
    start: dict[Template, float] = {}
    now = 0.0
    incoming: dict[Template, float] = dict.fromkeys(nodes, 0.0)
    for _, v, d, x in edges:
        if d == 0:
            incoming[v] = max(incoming[v], x)
    for v in nodes:
        now += incoming[v]
        start[v] = now
        now += cost[v]
    period = now + max((x for *_, x in edges), default=0.0)
    return max(period, 1e-300), start


def _milp(nodes, cost, proc, edges, period: float, span: float, time_limit: float) -> tuple[str, dict | None]:
    """Feasibility MILP at ``period`` (module docstring); ("feasible", offsets), ("infeasible", None)
    or ("time-limit", None). Times are scaled by ``period`` for HiGHS's tolerances."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    index = {v: i for i, v in enumerate(nodes)}
    n = len(nodes)
    c = np.array([cost[v] / period for v in nodes])
    h = span / period
    pairs = [(index[u], index[v]) for i, u in enumerate(nodes) for v in nodes[i + 1 :] if proc[u] == proc[v]]
    nvar = n + len(pairs)
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0
    for u, v, d, x in edges:
        # s_v - s_u >= c_u + x - d
        iu, iv = index[u], index[v]
        if iu == iv:
            if c[iu] + x / period - d > 1e-9:
                return "infeasible", None
            continue
        rows += [r, r]
        cols += [iv, iu]
        vals += [1.0, -1.0]
        lo.append(c[iu] + x / period - d)
        hi.append(np.inf)
        r += 1
    for k, (iu, iv) in enumerate(pairs):
        # c_u <= s_v - s_u - q <= 1 - c_v
        if c[iu] + c[iv] > 1 + 1e-9:
            return "infeasible", None
        rows += [r, r, r]
        cols += [iv, iu, n + k]
        vals += [1.0, -1.0, -1.0]
        lo.append(c[iu])
        hi.append(1 - c[iv])
        r += 1
    q_max = math.ceil(h) + 1
    lower = np.r_[np.zeros(n), np.full(len(pairs), -q_max)]
    upper = np.r_[np.full(n, h), np.full(len(pairs), q_max)]
    integrality = np.r_[np.zeros(n), np.ones(len(pairs))]
    constraints = []
    if r:
        matrix = coo_matrix((vals, (rows, cols)), shape=(r, nvar)).tocsr()
        constraints.append(LinearConstraint(matrix, np.array(lo), np.array(hi)))
    res = milp(
        np.zeros(nvar),
        constraints=constraints,
        integrality=integrality,
        bounds=Bounds(lower, upper),
        options={"time_limit": float(time_limit), "presolve": True},
    )
    if res.x is not None and res.status in (0, 1):
        return "feasible", {v: float(res.x[index[v]]) * period for v in nodes}
    if res.status == 2:
        return "infeasible", None
    return "time-limit", None


def _bounds(nodes, cost, proc, edges) -> tuple[float, float, dict[int, float]]:
    """The load bound, the iteration bound and the load of every processor."""
    index = {v: i for i, v in enumerate(nodes)}
    loads: dict[int, float] = {}
    for v in nodes:
        loads[proc[v]] = loads.get(proc[v], 0.0) + cost[v]
    load = max(loads.values())
    bound = max_cycle_ratio(len(nodes), [(index[u], index[v], d, x) for u, v, d, x in edges], [cost[v] for v in nodes])
    if max(load, bound) <= 0:
        raise InputError("the schedule has no work: every cost and transfer time is zero.")
    return load, bound, loads


def certified_schedule(
    schedule: Schedule,
    period: float,
    offset: dict[Template, float],
    *,
    latency: float = 0.0,
    bandwidth: float = math.inf,
    rtol: float = 1e-6,
) -> PeriodicSchedule:
    """A periodic schedule given by its ``period`` and ``offset`` (e.g. stored from an
    earlier solve), checked constraint by constraint.

    Every dependence and every pair of tasks on one processor is checked as the module
    docstring states them, to ``rtol`` T (the MILP's feasibility tolerance); a zero-cost
    task may sit at either end of another task, never inside it. The bounds are
    recomputed, so the status is ``"optimal"`` exactly when ``period`` equals the lower
    bound (within ``rtol``), else ``"feasible"``.

    Returns
    -------
    PeriodicSchedule
        With ``method="certificate"``.

    Raises
    ------
    ValueError
        If ``offset`` misses a task or a constraint fails: the message names it.
    """
    if not schedule.asynchronous:
        raise InputError(f"`schedule` must be asynchronous for `certified_schedule`; {schedule.name!r} is synchronous.")
    period = check_real(period, "period", minimum=0, strict=True)
    rtol = check_real(rtol, "rtol", minimum=0)
    nodes, cost, proc, edges = template_graph(schedule, latency=latency, bandwidth=bandwidth)
    missing = [v for v in nodes if v not in offset]
    if missing:
        raise InputError(f"`offset` has no start for task {missing[0]} (and {len(missing) - 1} more).")
    load, bound, _ = _bounds(nodes, cost, proc, edges)
    tol = rtol * period
    s = offset
    for u, v, d, x in edges:
        if s[v] < s[u] + cost[u] + x - d * period - tol:
            raise InputError(f"dependence {u} -> {v} (delay {d}) fails at period {period!r}.")
    for i, u in enumerate(nodes):
        if cost[u] > period + tol:
            raise InputError(f"task {u} costs {cost[u]!r}, more than the period {period!r}.")
        for v in nodes[i + 1 :]:
            if proc[u] != proc[v]:
                continue
            gap = (s[v] - s[u]) % period
            if min(cost[u], cost[v]) <= tol:
                clash = tol < gap < cost[u] - tol or tol < (-gap) % period < cost[v] - tol
            else:
                clash = gap < cost[u] - tol or gap > period - cost[v] + tol
            if clash:
                raise InputError(f"tasks {u} and {v} overlap on processor {proc[u]} at period {period!r}.")
    lower = max(load, bound)
    optimal = period <= lower * (1 + rtol)
    shift = min(s.values())
    return PeriodicSchedule(
        lower if optimal else period,
        lower,
        load,
        bound,
        {v: s[v] - shift for v in nodes},
        "optimal" if optimal else "feasible",
        "certificate",
    )


def periodic_schedule(
    schedule: Schedule,
    *,
    latency: float = 0.0,
    bandwidth: float = math.inf,
    time_limit: float = 60.0,
    rtol: float = 1e-3,
) -> PeriodicSchedule:
    """Rate-optimal static periodic schedule of an asynchronous schedule's step template.

    Lower bound, modulo list scheduling, MILP and bisection as the module docstring says;
    ``time_limit`` (seconds) bounds each MILP solve, ``rtol`` the bisection (relative to
    the lower bound; integer periods when every cost and transfer time is an integer).
    The processors of ``schedule`` are kept: this schedules a placement, it does not
    choose one. The step template is read from the last step of ``schedule``, which must
    therefore carry every dependence (unroll more steps than the longest delay).

    Returns
    -------
    PeriodicSchedule
        The period, its lower bound, the offsets and how they were found.

    Examples
    --------
    >>> from parareal_toolkit.layerpipe import layerpipe_schedule, profile_from_costs
    >>> profile = profile_from_costs([2, 3, 1], [0, 2, 2], [2, 1, 3])
    >>> plan = periodic_schedule(layerpipe_schedule(profile, 2, steps=8))
    >>> plan.status, plan.period == plan.lower_bound
    ('optimal', True)
    """
    check_instance(schedule, "schedule", Schedule)
    if not schedule.asynchronous:
        raise InputError(f"`schedule` must be asynchronous for `periodic_schedule`; {schedule.name!r} is synchronous.")
    latency = check_real(latency, "latency", minimum=0)
    bandwidth = check_real(bandwidth, "bandwidth", minimum=0, strict=True, finite=False)
    time_limit = check_real(time_limit, "time_limit", minimum=0, strict=True)
    rtol = check_real(rtol, "rtol", minimum=0, strict=True)
    nodes, cost, proc, edges = template_graph(schedule, latency=latency, bandwidth=bandwidth)
    load, bound, loads = _bounds(nodes, cost, proc, edges)
    lower = max(load, bound)

    def result(period, offset, status, method, infeasible=None) -> PeriodicSchedule:
        shift = min(offset.values())
        offset = {v: s - shift for v, s in offset.items()}
        return PeriodicSchedule(period, lower, load, bound, offset, status, method, infeasible)

    orders = _topological_orders(nodes, edges, _ORDERS)
    found = _modulo_list(nodes, cost, proc, edges, lower, orders)
    if found is not None:
        return result(lower, found, "optimal", "modulo-list")
    # the forward chain plus the backward chain of one step, with waiting of up to a
    # period at each of the <= 2P processor changes, bounds the spread of its offsets
    path: dict[Template, float] = {}
    for v in nodes:
        path[v] = max((path[u] + cost[u] + x for u, w, d, x in edges if w == v and d == 0), default=0.0)
    critical = max(path[v] + cost[v] for v in nodes)
    processors = len(loads)

    def span(period: float) -> float:
        return critical + (2 * processors + 1) * period

    status, offset = _milp(nodes, cost, proc, edges, lower, span(lower), time_limit)
    if status == "feasible":
        assert offset is not None
        return result(lower, offset, "optimal", "milp")
    if status == "time-limit":
        last_resort, found = _sequential(nodes, cost, edges)
        period = lower
        while period * _HEURISTIC_GROWTH < last_resort:
            period *= _HEURISTIC_GROWTH
            attempt = _modulo_list(nodes, cost, proc, edges, period, orders[:_ORDERS_PER_PERIOD])
            if attempt is not None:
                return result(period, attempt, "heuristic", "modulo-list")
        return result(last_resort, found, "heuristic", "sequential")
    integral = all(float(c).is_integer() for c in cost.values()) and all(float(x).is_integer() for *_, x in edges)
    bad = lower
    good, best = _sequential(nodes, cost, edges)
    best_method = "sequential"
    period = lower
    while period < good:  # a feasible upper end by modulo list scheduling, if it finds one
        period = math.floor(period * 17 / 16) + 1 if integral else period * 17 / 16
        attempt = _modulo_list(nodes, cost, proc, edges, period, orders[:_ORDERS_PER_PERIOD])
        if attempt is not None:
            good, best, best_method = period, attempt, "modulo-list"
            break
    while (good - bad > 1) if integral else (good - bad > rtol * lower):
        mid = math.floor((good + bad) / 2) if integral else 0.5 * (good + bad)
        if mid <= bad:
            break
        status, offset = _milp(nodes, cost, proc, edges, mid, span(mid), time_limit)
        if status == "feasible":
            assert offset is not None
            good, best, best_method = mid, offset, "milp"
        elif status == "infeasible":
            bad = mid
        else:
            break  # time limit: keep the best found, the gap says how far it may be
    return result(good, best, "bisection", best_method, bad)


def periodic_order(schedule: Schedule, plan: PeriodicSchedule) -> list[list[Task]]:
    """Per processor, ``schedule``'s tasks sorted by their static start ``offset + step * period``.

    The key of a task is (its step + whole periods in its offset, the rest of the offset on
    a grid of 1e-7 T, positive cost, the builder's topological rank), the same for every
    step, so the order is exactly periodic and ties (zero-cost tasks, solver tolerance)
    never contradict a dependence within a step.

    Returns
    -------
    list of list of Task
        A fixed order for ``Schedule.order``.
    """
    rank: dict[Template, int] = {}
    cost: dict[Template, float] = {}
    for task in schedule.cost:
        rank.setdefault(_template(task), len(rank))
        cost[_template(task)] = schedule.cost[task]
    grid = 1e-7 * plan.period
    where = {}
    for v, s in plan.offset.items():
        whole = math.floor(s / plan.period)
        # a zero-cost task goes before the task that starts when it does (it cannot depend on it)
        where[v] = (whole, round((s - whole * plan.period) / grid), cost[v] > 0, rank[v])

    def key(task: Task) -> tuple:
        whole, *rest = where[_template(task)]
        return (task.microbatch + whole, *rest)

    rows: list[list[Task]] = [[] for _ in range(schedule.num_processors)]
    for task in schedule.cost:
        rows[schedule.processor[task]].append(task)
    return [sorted(row, key=key) for row in rows]


def static_start(schedule: Schedule, plan: PeriodicSchedule) -> dict[Task, float]:
    """The start time ``offset + step * period`` of every task of ``schedule``.

    Returns
    -------
    dict of Task to float
        For ``Schedule.release``: the engine then runs the static schedule.
    """
    return {t: plan.offset[_template(t)] + t.microbatch * plan.period for t in schedule.cost}


def simulated_period(trace: Trace, plan: PeriodicSchedule, *, rtol: float = 1e-6) -> float:
    """Cycles per step of a simulated run of the static schedule, confirmed task by task.

    The run (:func:`periodic_order` as the order, :func:`static_start` as release times)
    must start every task at its static time, within ``rtol`` T (the MILP's feasibility
    tolerance): no processor conflict and no dependence delays any task, so every step
    repeats the first after a whole number of periods.

    Returns
    -------
    float
        The period measured on the run: the mean over tasks of (start in the last step -
        start in the first) / (steps - 1).

    Raises
    ------
    ValueError
        If a task starts later than the static schedule says (the plan does not hold).
    """
    sched = trace.schedule
    tol = rtol * plan.period
    first: dict[Template, float] = {}
    final: dict[Template, tuple[int, float]] = {}
    steps = max(t.microbatch for t in sched.cost)
    if steps < 1:
        raise InputError("need at least 2 steps to measure a period.")
    for task, start in trace.start.items():
        static = plan.offset[_template(task)] + task.microbatch * plan.period
        if abs(start - static) > tol:
            raise InputError(
                f"task {task} starts at {start!r} in the simulation, not at its static time {static!r}: "
                "the periodic schedule does not hold."
            )
        if task.microbatch == 0:
            first[_template(task)] = start
        if task.microbatch == steps:
            final[_template(task)] = (steps, start)
    shifts = [(final[v][1] - first[v]) / steps for v in first]
    return float(np.mean(shifts))
