"""Task graphs: who computes what, on which processor, after which other tasks.

A :class:`Task` is one piece of work of one micro-batch (synchronous schedules) or of one
training step (asynchronous schedules, where every micro-batch is its own step):

* ``F``: forward, ``A``: activation gradient (e_{l-1} = W_l^T delta_l, the only backward
  task on the critical chain), ``G``: weight gradient (dW_l = delta_l a_{l-1}^T), ``B``: the
  fused backward A + G that GPipe, 1F1B and PipeDream schedule as one task, ``U``: the
  optimiser update, ``X``: a message on a link (``communication.with_link_tasks``).
* ``unit`` is a pipeline stage (stage-level schedules) or a layer (LayerPipe);
  ``part`` numbers the pieces of a split task (LayerPipe's inter-layer split of A).

A :class:`Schedule` holds the cost and processor of each task, its dependencies (each with a
communication volume, counted when the two tasks sit on different processors), either a
fixed order per processor (``order``) or a priority used by the list scheduler
(``priority``), and what its builder knows about it (:class:`ScheduleInfo`). The engine
(``engine``) turns it into start and end times.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..errors import InputError
from .costs import StageCost
from .partition import LayerPipePlacement

__all__ = ["Task", "Dependency", "ScheduleInfo", "Schedule", "KIND_NAMES", "BYTES_PER_TASK"]

# Measured with tracemalloc: a simulated task holds ~1.3 kB (its Task, start and end entries,
# dependencies and order); the schedule builders refuse, before building, what cannot fit
# (the command line's estimate, ``_BYTES_PER_TASK`` in ``cli/layerpipe.py``, is the same figure).
BYTES_PER_TASK = 1300.0

KIND_NAMES = {
    "F": "forward",
    "A": "activation gradient",
    "G": "weight gradient",
    "B": "backward (A+G)",
    "U": "update",
    "X": "message on a link",
}


@dataclass(frozen=True, order=True)
class Task:
    """One task of the graph: ``kind`` (F, A, G, B or U) of layer or stage ``unit`` for ``microbatch``.

    ``part`` numbers the pieces of a task split across processors (LayerPipe's inter-layer
    split of ``A``).
    """

    kind: str
    unit: int
    microbatch: int
    part: int = 0

    def __str__(self) -> str:
        suffix = f".{self.part}" if self.part else ""
        return f"{self.kind}{self.unit}{suffix}[{self.microbatch}]"


@dataclass(frozen=True)
class Dependency:
    """An edge to ``task``; ``volume`` elements travel when the two tasks' processors differ."""

    task: Task
    volume: float = 0.0


@dataclass(frozen=True)
class ScheduleInfo:
    """What a schedule builder knows about its schedule beyond the task graph.

    Every field the builder does not define is ``None`` (``allreduce_volume``: 0).

    Attributes
    ----------
    stages : tuple of (int, int) or None
        Layer range ``[start, stop)`` of each pipeline stage (stage-level schedules on
        more than one processor, PipeDream).
    stage_costs : tuple of StageCost or None
        Per-stage sums of F, A, G, U and the stage's output size (stage-level synchronous
        schedules).
    replicas : tuple of int or None
        Processors per stage (PipeDream; all 1 without stage replication).
    staleness : tuple of int or None
        Gradient delay S of each stage (PipeDream) or layer (LayerPipe): its forward of
        step t waits for the weight update of step t - S - 1.
    weight_versions : tuple of int or None
        Weight versions held per stage (PipeDream: S + 1 with weight stashing, else 1) or
        per processor (LayerPipe: the largest S + 1 of the forwards it hosts; 0 if none).
    load_bound : float or None
        Largest per-processor work of one step (cycles): no steady-state period is smaller
        (asynchronous schedules).
    allreduce_volume : float
        Elements all-reduced per step among the replicas of a stage (ring all-reduce,
        2 (r - 1) / r times the stage's weights; not a task); 0 without replication.
    placement : LayerPipePlacement or None
        Processor of every F, A part and G (LayerPipe).
    """

    stages: tuple[tuple[int, int], ...] | None = None
    stage_costs: tuple[StageCost, ...] | None = None
    replicas: tuple[int, ...] | None = None
    staleness: tuple[int, ...] | None = None
    weight_versions: tuple[int, ...] | None = None
    load_bound: float | None = None
    allreduce_volume: float = 0.0
    placement: LayerPipePlacement | None = None


@dataclass
class Schedule:
    """A task graph with a processor assignment and an execution rule.

    Exactly one of ``order`` (list per processor, executed as written) and ``priority``
    (a key: smaller runs first among the tasks ready on an idle processor) is set.
    ``asynchronous`` schedules index micro-batches by training step and are measured by
    their steady-state period; synchronous ones by their makespan. ``release`` gives some
    tasks an earliest start (a static schedule's start times); the others start as soon
    as they may.
    """

    name: str
    num_processors: int
    microbatches: int
    cost: dict[Task, float] = field(default_factory=dict)
    processor: dict[Task, int] = field(default_factory=dict)
    deps: dict[Task, list[Dependency]] = field(default_factory=dict)
    order: list[list[Task]] | None = None
    priority: Callable[[Task], tuple] | None = None
    asynchronous: bool = False
    info: ScheduleInfo = field(default_factory=ScheduleInfo)
    release: dict[Task, float] = field(default_factory=dict)

    def add(
        self, task: Task, cost: float, processor: int, deps: Iterable[Dependency | tuple[Task, float]] = ()
    ) -> Task:
        """Add ``task`` with its cost, processor and dependencies ((task, volume) pairs allowed).

        Returns
        -------
        Task
            ``task``, so builders can name it once.
        """
        if task in self.cost:
            raise InputError(f"task {task} added twice.")
        self.cost[task] = float(cost)
        self.processor[task] = int(processor)
        self.deps[task] = [d if isinstance(d, Dependency) else Dependency(*d) for d in deps]
        return task

    def depend(self, task: Task, on: Task, volume: float = 0.0) -> None:
        """Make ``task`` wait for ``on``; ``volume`` elements travel between their processors."""
        self.deps[task].append(Dependency(on, float(volume)))

    @property
    def tasks(self) -> list[Task]:
        """Every task, in the order they were added."""
        return list(self.cost)

    def load(self) -> list[float]:
        """Total work per processor over the whole schedule.

        Returns
        -------
        list of float
            Sum of the task costs on each processor.
        """
        loads = [0.0] * self.num_processors
        for task, cost in self.cost.items():
            loads[self.processor[task]] += cost
        return loads

    def communication_volume(self) -> float:
        """Elements sent between different processors over the whole schedule.

        Returns
        -------
        float
            Sum of the volumes of the dependencies whose two tasks sit on different processors.
        """
        return sum(
            dep.volume
            for task, deps in self.deps.items()
            for dep in deps
            if self.processor[dep.task] != self.processor[task]
        )

    def transfer_time(self, dependency: Dependency, task: Task, latency: float, bandwidth: float) -> float:
        """Time from the end of ``dependency.task`` until ``task`` may use its result.

        Returns
        -------
        float
            ``latency + volume / bandwidth`` between different processors (the volume term
            vanishes for an infinite bandwidth), 0 on the same processor.
        """
        if self.processor[dependency.task] == self.processor[task]:
            return 0.0
        return latency + (dependency.volume / bandwidth if bandwidth != math.inf else 0.0)

    def validate(self) -> None:
        """Every dependency names a task of the schedule; an order covers every task once."""
        for task, deps in self.deps.items():
            for dep in deps:
                if dep.task not in self.cost:
                    raise InputError(f"task {task} depends on unknown task {dep.task}.")
        for task, proc in self.processor.items():
            if not 0 <= proc < self.num_processors:
                raise InputError(f"task {task} on processor {proc}; the schedule has {self.num_processors}.")
        if self.order is not None:
            seen = [t for row in self.order for t in row]
            if len(seen) != len(set(seen)) or set(seen) != set(self.cost):
                raise InputError("`order` must list every task exactly once.")
            for proc, row in enumerate(self.order):
                for task in row:
                    if self.processor[task] != proc:
                        raise InputError(
                            f"task {task} is ordered on processor {proc} but assigned to {self.processor[task]}."
                        )
