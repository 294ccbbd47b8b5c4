"""Communication that costs time: links with a bandwidth and a latency, ring all-reduce.

A :class:`Network` gives every link between two processors ``bandwidth`` bytes per second
and ``latency`` seconds per message; a tensor of n elements of ``bytes_per_element`` bytes
crosses a link in ``latency + n * bytes_per_element / bandwidth`` seconds. The bytes come
from the real tensor shapes of the cost profile (``costs``): the activation a_l a stage
boundary sends forward, the gradient e_l it sends back, LayerPipe's parts of a split A_l
and its moved weight gradients (the dependencies' volumes of ``asynchronous_schedules`` and
``stage_schedules``), scaled by the samples of a micro-batch; weights do not scale with it.

The simulation runs in seconds: :func:`timed_profile` turns a MAC profile into seconds per
micro-batch on a processor doing ``macs_per_second``. Every message is a task on its link
(:func:`with_link_tasks`: one more processor per direction of each pair of processors that
exchange data, so messages on one link queue, in the order their producers run or by
their priority); or, with ``contention=False``, an edge latency of the engine (``latency``
in seconds, ``bandwidth`` in elements per second) that never waits for other messages. Stage
replication adds a ring all-reduce of the stage's gradient among its r replicas,

    t_allreduce = 2 (r - 1) / r * (parameter bytes) / bandwidth + 2 (r - 1) * latency,

(reduce-scatter then all-gather, 2 (r - 1) messages of 1/r of the gradient each). Each
replica takes every r-th step and joins one all-reduce after each of its backward passes
(PipeDream's round-robin replicas), so :func:`charge_allreduce` adds t_allreduce to every
backward task of a replicated stage: communication not overlapped with that replica's
compute. With ``Network()`` (infinite bandwidth, zero latency) every time equals the
free-communication simulation scaled by samples / macs_per_second (tested).

A link in steady state carries its messages of every step, so no period is below the
busiest link's transfer time per step (tested). Under a fixed processor order (PipeDream,
GPipe, 1F1B, Zero Bubble) every time is monotone in the transfer times (max-plus), so a
slower link never helps, and queueing never shortens a run; LayerPipe's list schedule is
not monotone: a late message can change which task an idle processor picks, and on some
profiles slower links give a shorter period than free communication (Graham's anomaly; a
tested example). Not modelled: a shared switch or bus (links are independent), overlap of
a replica's all-reduce with its compute, and the processor time of sending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal, overload

from .._validation import check_choice, check_instance, check_int, check_real
from ..errors import InputError, InputTypeError
from .costs import CostProfile
from .engine import Trace, simulate
from .schedule_builders import SCHEDULES, build_schedule
from .steady_state import SteadyStateNotReached, steady_state_period
from .task_graph import Dependency, Schedule, Task

__all__ = ["Network", "timed_profile", "charge_allreduce", "with_link_tasks", "evaluate_on_network", "GIGABIT"]

GIGABIT = 1e9 / 8  # bytes per second in one Gb/s
_MAX_DOUBLINGS = 4


@dataclass(frozen=True)
class Network:
    """Every link: ``bandwidth`` bytes per second, ``latency`` seconds per message.

    A transfer of n elements takes ``latency + n * bytes_per_element / bandwidth`` seconds
    between two processors and nothing on one processor. The default is free communication.

    Examples
    --------
    >>> net = Network.from_gigabits(8, latency_us=5)  # 8 Gb/s = 1e9 bytes/s, 5 us
    >>> round(net.transfer_time(250_000), 9)  # one float32 MB
    0.001005
    >>> round(net.allreduce_time(250_000, 4), 9)  # 2 * 3/4 MB / (1 GB/s) + 6 * 5 us
    0.00153
    """

    bandwidth: float = math.inf
    latency: float = 0.0
    bytes_per_element: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "bandwidth", check_real(self.bandwidth, "bandwidth", minimum=0, strict=True, finite=False)
        )
        object.__setattr__(self, "latency", check_real(self.latency, "latency", minimum=0))
        object.__setattr__(self, "bytes_per_element", check_int(self.bytes_per_element, "bytes_per_element", minimum=1))

    @classmethod
    def from_gigabits(
        cls, gigabits_per_second: float, *, latency_us: float = 0.0, bytes_per_element: int = 4
    ) -> Network:
        """A network of ``gigabits_per_second`` Gb/s links with ``latency_us`` microseconds per message.

        Returns
        -------
        Network
            ``bandwidth`` = Gb/s x 1e9 / 8 bytes per second, ``latency`` = us x 1e-6 s.
        """
        gbps = check_real(gigabits_per_second, "gigabits_per_second", minimum=0, strict=True, finite=False)
        latency = check_real(latency_us, "latency_us", minimum=0) * 1e-6
        return cls(gbps * GIGABIT, latency, bytes_per_element)

    @property
    def elements_per_second(self) -> float:
        """The bandwidth in elements per second: the engine's ``bandwidth`` in a timed simulation."""
        return self.bandwidth / self.bytes_per_element

    def transfer_time(self, elements: float) -> float:
        """Seconds for one message of ``elements`` elements across one link.

        Returns
        -------
        float
            ``latency + elements * bytes_per_element / bandwidth``.
        """
        elements = check_real(elements, "elements", minimum=0)
        return self.latency + (elements * self.bytes_per_element / self.bandwidth if elements else 0.0)

    def allreduce_time(self, parameters: float, replicas: int) -> float:
        """Seconds of a ring all-reduce of ``parameters`` elements among ``replicas`` processors.

        Returns
        -------
        float
            ``2 (r - 1) / r * parameters * bytes_per_element / bandwidth + 2 (r - 1) * latency``;
            0 for one replica.
        """
        parameters = check_real(parameters, "parameters", minimum=0)
        r = check_int(replicas, "replicas", minimum=1)
        if r == 1:
            return 0.0
        volume = 2 * (r - 1) / r * parameters * self.bytes_per_element
        return (volume / self.bandwidth if volume else 0.0) + 2 * (r - 1) * self.latency


def timed_profile(profile: CostProfile, *, samples: int, macs_per_second: float) -> CostProfile:
    """``profile`` (per sample, in MACs) as seconds for one micro-batch of ``samples`` samples.

    F, A and G scale with the samples and divide by ``macs_per_second``; the update (per
    weight) only divides. Activation and input sizes (elements per sample) scale with the
    samples, weight sizes do not: they are the element counts a :class:`Network` moves.

    Returns
    -------
    CostProfile
        Unit ``"s"``, same layers.
    """
    check_instance(profile, "profile", CostProfile)
    samples = check_int(samples, "samples", minimum=1)
    rate = check_real(macs_per_second, "macs_per_second", minimum=0, strict=True)
    try:
        layers = _scaled_layers(profile, samples, rate)
    except InputError as error:  # a scaled cost left the range LayerCost accepts
        raise InputError(
            f"`samples` / `macs_per_second` = {samples} / {rate!r} scales a cost out of range: {error}"
        ) from None
    return replace(profile, layers=layers, unit="s")


def _scaled_layers(profile: CostProfile, samples: int, rate: float) -> tuple:
    return tuple(
        replace(
            layer,
            forward=layer.forward * samples / rate,
            activation_grad=layer.activation_grad * samples / rate,
            weight_grad=layer.weight_grad * samples / rate,
            update=layer.update / rate,
            input_size=layer.input_size * samples,
            activation_size=layer.activation_size * samples,
        )
        for layer in profile.layers
    )


def charge_allreduce(schedule: Schedule, profile: CostProfile, network: Network) -> Schedule:
    """Add each replicated stage's ring all-reduce to every one of its backward tasks.

    ``schedule`` is a PipeDream schedule (``info.stages`` and ``info.replicas`` set) built
    from ``profile``; other schedules, and stages with one replica, are returned unchanged.

    Returns
    -------
    Schedule
        ``schedule`` itself, B costs raised by ``Network.allreduce_time()`` of the stage's
        weights, ``info.load_bound`` raised to match.
    """
    check_instance(schedule, "schedule", Schedule)
    check_instance(profile, "profile", CostProfile)
    check_instance(network, "network", Network)
    info = schedule.info
    if info.stages is None or info.replicas is None or not any(r > 1 for r in info.replicas):
        return schedule
    extra = [
        network.allreduce_time(sum(profile.layers[l].weight_size for l in range(start, stop)), r)
        for (start, stop), r in zip(info.stages, info.replicas)
    ]
    for task in schedule.cost:
        if task.kind == "B":
            schedule.cost[task] += extra[task.unit]
    loads = [0.0] * len(info.stages)
    for task, cost in schedule.cost.items():
        if task.microbatch == 0:
            loads[task.unit] += cost
    schedule.info = replace(info, load_bound=max(load / r for load, r in zip(loads, info.replicas)))
    return schedule


def with_link_tasks(schedule: Schedule, network: Network) -> tuple[Schedule, list[tuple[int, int]]]:
    """``schedule`` with every message between two processors turned into a task on its link.

    Each directed pair of processors (src, dst) that exchanges data becomes one more
    processor (a full-duplex link: one message at a time per direction); a dependency
    between two processors becomes a transfer task ``X`` of ``network.transfer_time(volume)``
    on that link, after the producer and before the consumer, so messages on one link
    queue. Links send in the order their producers run (fixed-order schedules) or by the
    producer's priority (list-scheduled ones). A transfer of zero time is left a plain
    dependency. Steps whose delayed-gradient messages come from before the first step get
    a zero-time stand-in, so every step holds the same tasks (``steady_state``). Simulate the
    result with the engine's free communication (``latency=0``, infinite ``bandwidth``).

    Returns
    -------
    (Schedule, list of (int, int))
        The new schedule (the same tasks plus the transfers, processors ``num_processors``
        + one per link) and the (src, dst) of each link, in processor order.
    """
    check_instance(schedule, "schedule", Schedule)
    check_instance(network, "network", Network)
    p = schedule.num_processors

    def cost(task: Task, dep: Dependency) -> float:
        return 0.0 if schedule.processor[dep.task] == schedule.processor[task] else network.transfer_time(dep.volume)

    links = sorted(
        {
            (schedule.processor[dep.task], schedule.processor[task])
            for task, deps in schedule.deps.items()
            for dep in deps
            if cost(task, dep) > 0
        }
    )
    link_of = {pair: p + i for i, pair in enumerate(links)}
    out = Schedule(
        schedule.name,
        p + len(links),
        schedule.microbatches,
        asynchronous=schedule.asynchronous,
        info=schedule.info,
    )
    for task, task_cost in schedule.cost.items():
        out.add(task, task_cost, schedule.processor[task])
    edge_ids: dict[tuple, int] = {}
    producer: dict[Task, Task] = {}
    for task, deps in schedule.deps.items():
        for index, dep in enumerate(deps):
            seconds = cost(task, dep)
            if seconds <= 0:
                out.deps[task].append(Dependency(dep.task, 0.0))
                continue
            # the same edge of every step gets the same id: a delayed-gradient edge, absent
            # in the first steps, is always a task's last dependency, so the index is stable
            key = (task.kind, task.unit, task.part, index, task.microbatch - dep.task.microbatch)
            transfer = Task("X", edge_ids.setdefault(key, len(edge_ids)), task.microbatch)
            link = link_of[(schedule.processor[dep.task], schedule.processor[task])]
            out.add(transfer, seconds, link, [(dep.task, 0.0)])
            out.deps[task].append(Dependency(transfer, 0.0))
            producer[transfer] = dep.task
    # zero-time stand-ins where a step lacks a transfer (its producer precedes step 0)
    where = {t.unit: out.processor[t] for t in producer}
    present = {(t.unit, t.microbatch) for t in producer}
    stand_ins = [
        Task("X", edge, step)
        for edge in sorted(where)
        for step in range(schedule.microbatches)
        if (edge, step) not in present
    ]
    for task in stand_ins:
        out.add(task, 0.0, where[task.unit])
    if schedule.order is not None:
        position = {t: i for row in schedule.order for i, t in enumerate(row)}
        rows: list[list[Task]] = [list(row) for row in schedule.order] + [[] for _ in links]
        for task in stand_ins:
            rows[out.processor[task]].append(task)
        for transfer in sorted(producer, key=lambda t: position[producer[t]]):
            rows[out.processor[transfer]].append(transfer)
        out.order = rows
    else:
        assert schedule.priority is not None
        base = schedule.priority

        def priority(task: Task) -> tuple:
            if task.kind != "X":
                return base(task)
            return base(producer[task]) if task in producer else (-1,)

        out.priority = priority
    return out, links


@overload
def evaluate_on_network(
    name: str,
    profile: CostProfile,
    processors: int,
    network: Network,
    *,
    samples: int = ...,
    macs_per_second: float = ...,
    microbatches: int = ...,
    steps: int | None = ...,
    contention: bool = ...,
    return_trace: Literal[False] = ...,
) -> dict[str, Any]: ...


@overload
def evaluate_on_network(
    name: str,
    profile: CostProfile,
    processors: int,
    network: Network,
    *,
    samples: int = ...,
    macs_per_second: float = ...,
    microbatches: int = ...,
    steps: int | None = ...,
    contention: bool = ...,
    return_trace: Literal[True],
) -> tuple[dict[str, Any], Trace]: ...


def evaluate_on_network(
    name: str,
    profile: CostProfile,
    processors: int,
    network: Network,
    *,
    samples: int = 32,
    macs_per_second: float = 1e13,
    microbatches: int = 8,
    steps: int | None = None,
    contention: bool = True,
    return_trace: bool = False,
) -> dict[str, Any] | tuple[dict[str, Any], Trace]:
    """Simulate schedule ``name`` in seconds with every transfer and all-reduce costed by ``network``.

    ``profile`` is per sample in MACs; one micro-batch holds ``samples`` samples and every
    processor does ``macs_per_second`` (:func:`timed_profile`). An asynchronous schedule
    whose run does not yet show its steady state is rebuilt with twice the steps (up to four
    times), as :func:`~parareal_toolkit.layerpipe.evaluate` does. With ``contention`` (the default) every message
    is a task on its link (:func:`with_link_tasks`: messages on one link queue); without,
    messages are edge latencies that never wait for each other. LayerPipe runs its list
    schedule here (``scheduler="list"`` of :func:`~parareal_toolkit.layerpipe.evaluate`): the periodic schedule's
    MILP knows processors, not links.

    Returns
    -------
    dict or (dict, Trace)
        ``schedule``, ``processors``, ``seconds_per_microbatch`` (steady-state period, or
        makespan / m), ``samples_per_second``, ``compute_seconds_per_microbatch`` (the same
        schedule with free communication), ``bytes_per_microbatch`` (point-to-point plus
        all-reduce), ``allreduce_seconds`` (per replica and backward; 0 without replication),
        ``replicas`` (PipeDream) and ``asynchronous``. With ``return_trace`` also the run.
    """
    name = check_choice(name, "schedule", SCHEDULES)
    if not isinstance(network, Network):
        raise InputTypeError(f"`network` must be a Network; got {type(network).__name__}.")
    timed = timed_profile(profile, samples=samples, macs_per_second=macs_per_second)

    def simulate_on(sched: Schedule, net: Network) -> Trace:
        charge_allreduce(sched, timed, net)
        if contention:
            return simulate(with_link_tasks(sched, net)[0])
        return simulate(sched, latency=net.latency, bandwidth=net.elements_per_second)

    def run(net: Network, n_steps: int | None) -> tuple[Schedule, Trace, float]:
        sched = build_schedule(name, timed, processors, microbatches=microbatches, steps=n_steps)
        trace = simulate_on(sched, net)
        if not sched.asynchronous:
            return sched, trace, trace.makespan / sched.microbatches
        for _ in range(_MAX_DOUBLINGS):
            try:
                return sched, trace, steady_state_period(trace)
            except SteadyStateNotReached:  # a long transient or a long cycle: unroll more
                sched = build_schedule(name, timed, processors, microbatches=microbatches, steps=2 * sched.microbatches)
                trace = simulate_on(sched, net)
        return sched, trace, steady_state_period(trace)

    sched, trace, seconds = run(network, steps)
    _, _, compute = run(Network(bytes_per_element=network.bytes_per_element), steps)
    if not (math.isfinite(seconds) and seconds > 0):
        raise InputError(f"schedule {name!r} at P={processors} measured {seconds!r} s per micro-batch.")
    info = sched.info
    allreduce = 0.0
    if info.replicas is not None and info.stages is not None:
        allreduce = max(
            network.allreduce_time(sum(timed.layers[l].weight_size for l in range(a, b)), r)
            for (a, b), r in zip(info.stages, info.replicas)
        )
    per_mb = sched.communication_volume() / sched.microbatches + (info.allreduce_volume if sched.asynchronous else 0.0)
    row: dict[str, Any] = dict(
        schedule=name,
        processors=processors,
        seconds_per_microbatch=seconds,
        samples_per_second=samples / seconds,
        compute_seconds_per_microbatch=compute,
        bytes_per_microbatch=per_mb * network.bytes_per_element,
        allreduce_seconds=allreduce,
        replicas=None if info.replicas is None else list(info.replicas),
        asynchronous=sched.asynchronous,
    )
    return (row, trace) if return_trace else row
