r"""The work of a layer-parallel training step, counted: MGRIT's maps on ``P`` processors against the serial ResNet.

Exact counts, the same on every machine. :func:`mgrit_block_work` runs
:func:`parareal_toolkit.mgrit` itself on stand-in propagators (a state of one number, every
step the identity) with a backend that records each parallel map: which maps MGRIT makes,
and how many steps each holds, does not depend on the states, only on the block's length,
the levels, the coarsening, the relaxation, the cycle, the initial guess and the iteration
count (the driver's exactness tracking compares which states changed, not their values; an
identity step changes none it is handed, so the stand-in keeps the tracking of a real
network only because the driver marks states by the step that produced them, not by value).

The virtual time of a map of ``s`` steps on ``P`` processors is ``ceil(s / P)`` steps (each
processor takes a contiguous share); the coarsest level's solve is sequential. In units of
one residual unit's forward evaluation, a serial training step of a stage's ``N`` equal-shape
units costs ``3 N`` (the forward and a backward of twice its cost: input and weight
gradients). A layer-parallel step of its MGRIT block of ``N_0`` units costs:

* the forward: its maps and its sequential coarse solve;
* the running statistics: ``ceil(N_0 / P)`` (each unit once on its converged input);
* the adjoint backward: the units recomputed, ``ceil(N_0 / P)``; the adjoint solve, the same
  maps as the forward, each step one vector-Jacobian product for the input (cost 1); the
  weight gradients, ``ceil(N_0 / P)`` products (cost 1);

plus ``3 (N - N_0)`` for the units after the block, run serially. The virtual speedup is the
serial cost over this. Communication is not counted: it is a bound that real processes
approach only where a unit's work dwarfs a state's transfer (``benchmarks/layer_parallel.py``
measures both).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._mgrit_cycles import exact_iterations
from .._names import CYCLE_NAMES, RELAX_NAMES
from .._validation import check_choice, check_int
from ..errors import InputError
from ..mgrit_driver import mgrit
from .units import num_units

__all__ = ["stage_split", "mgrit_block_work", "layer_parallel_step_cost", "layer_parallel_speedup_table"]


class _Identity:
    """A stand-in level: ``num_slices`` identity steps on a state of one number."""

    def __init__(self, num_slices: int):
        self.num_slices = num_slices

    def __call__(self, u: Any, j: int) -> Any:
        return u.copy()


class _RecordingBackend:
    """Evaluates serially and records the number of steps of every parallel map."""

    name = "recording"

    def __init__(self) -> None:
        self.maps: list[int] = []

    def map(self, propagator: Any, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        self.maps.append(len(slices))
        return [propagator(u, j) for u, j in zip(states, slices)]


def mgrit_block_work(
    units: int,
    *,
    levels: int = 2,
    coarsening: int = 2,
    iterations: int | None = None,
    relax: str = "F",
    cycle: str = "V",
) -> dict[str, Any]:
    """The parallel maps and the sequential steps of one MGRIT solve of a block of ``units`` steps.

    ``initial="coarse"``, as :class:`~parareal_toolkit.nn.LayerParallelResNet` solves.
    ``units`` must be a multiple of ``coarsening ** (levels - 1)``.

    Returns
    -------
    dict
        ``maps`` (the number of steps of each parallel map, in order), ``sequential`` (the
        steps of the coarsest level's solves, run one after the other), ``evaluations``
        (every step, summed over the levels), ``iterations`` (those run: ``iterations``
        capped at the count that makes the solve exact, the default) and ``exact`` (whether
        they reach it).

    Examples
    --------
    Two levels, F-relaxation, eight units: one iteration makes four parallel maps and
    sequential coarse work; four iterations are exact.

    >>> from parareal_toolkit.plans import mgrit_block_work
    >>> work = mgrit_block_work(8, iterations=1)
    >>> work["iterations"], work["evaluations"] == sum(work["maps"]) + work["sequential"]
    (1, True)
    >>> mgrit_block_work(8)["iterations"]
    4
    """
    units = check_int(units, "units", minimum=2)
    levels = check_int(levels, "levels", minimum=2)
    coarsening = check_int(coarsening, "coarsening", minimum=2)
    if iterations is not None:
        iterations = check_int(iterations, "iterations", minimum=1)
    relax = check_choice(relax, "relax", RELAX_NAMES)
    cycle = check_choice(cycle, "cycle", CYCLE_NAMES)
    if units % coarsening ** (levels - 1):
        raise InputError(
            f"`units` must be a multiple of coarsening ** (levels - 1) = {coarsening ** (levels - 1)}; got {units}."
        )
    exact = exact_iterations(units // coarsening, relax)
    backend = _RecordingBackend()
    result = mgrit(
        [_Identity(units // coarsening**l) for l in range(levels)],
        np.zeros(1),
        coarsening=coarsening,
        relax=relax,
        cycle=cycle,
        iterations=exact if iterations is None else min(iterations, exact),
        initial="coarse",
        backend=backend,
        store_iterates=False,
        monitor=False,
    )
    evaluations = int(sum(result.level_evaluations))
    return {
        "maps": backend.maps,
        "sequential": evaluations - sum(backend.maps),
        "evaluations": evaluations,
        "iterations": int(result.iterations),
        "exact": int(result.iterations) == exact,
    }


def stage_split(count: int, levels: int, coarsening: int) -> tuple[int, int]:
    """How many of a stage's ``count`` equal-shape units MGRIT runs, and on how many levels.

    The levels are ``L' = min(L, 1 + floor(log_m count))`` (so that ``m^(L'-1) <= count``)
    and the block the largest multiple of ``m^(L'-1)``; with ``L' < 2`` (``count < m``)
    nothing runs by MGRIT. :class:`~parareal_toolkit.nn.LayerParallelResNet` splits its
    stages so.

    Returns
    -------
    tuple of int
        ``(units run by MGRIT, levels)``; ``(0, 1)`` when the stage runs sequentially.

    Examples
    --------
    >>> from parareal_toolkit.plans import stage_split
    >>> stage_split(110, 3, 4), stage_split(1, 2, 2)
    ((96, 3), (0, 1))
    """
    used = 1
    while used < levels and coarsening**used <= count:
        used += 1
    if used < 2:
        return 0, 1
    block = coarsening ** (used - 1)
    return count // block * block, used


def layer_parallel_step_cost(
    depth: int,
    processors: int,
    *,
    iterations: int | None = None,
    levels: int = 2,
    coarsening: int = 2,
    relax: str = "F",
) -> dict[str, float]:
    """The virtual cost of one training step of a layer-parallel ResNet-``depth`` on ``processors`` (module docstring).

    Counted over the three stages' equal-shape units, in forward evaluations of one unit;
    each stage's shape-changing first unit, the stem and the head are left out of both sides
    (they run serially either way).

    Returns
    -------
    dict
        ``serial`` (``3 N`` per stage), ``layer_parallel`` (on ``processors``), ``speedup``
        (their ratio), ``iterations`` (those run per solve), ``exact`` (whether that makes the
        solves exact) and ``block_units`` (``N_0``).

    Examples
    --------
    ResNet-1001 has 110 equal-shape units per stage. With two levels and m = 2 the exact
    solve takes 55 iterations, each with a sequential coarse solve: it does not pay on 64
    processors; one (inexact) iteration does.

    >>> from parareal_toolkit.plans import layer_parallel_step_cost
    >>> exact = layer_parallel_step_cost(1001, 64)
    >>> one = layer_parallel_step_cost(1001, 64, iterations=1)
    >>> exact["block_units"], exact["iterations"], exact["speedup"] < 1 < one["speedup"]
    (110, 55, True)
    """
    processors = check_int(processors, "processors", minimum=1)
    equal = num_units(depth) // 3 - 1
    count, used = stage_split(equal, levels, coarsening)
    serial = 3.0 * equal
    if not count:
        return {
            "serial": 3 * serial,
            "layer_parallel": 3 * serial,
            "speedup": 1.0,
            "iterations": 0,
            "exact": True,
            "block_units": 0,
        }
    work = mgrit_block_work(count, levels=used, coarsening=coarsening, iterations=iterations, relax=relax)
    solve = sum(math.ceil(s / processors) for s in work["maps"]) + work["sequential"]
    per_unit = math.ceil(count / processors)
    block = solve + per_unit + per_unit + solve + per_unit  # forward, statistics, recompute, adjoint, weights
    parallel = block + 3.0 * (equal - count)
    return {
        "serial": 3 * serial,
        "layer_parallel": 3 * parallel,
        "speedup": serial / parallel,
        "iterations": work["iterations"],
        "exact": work["exact"],
        "block_units": count,
    }


def layer_parallel_speedup_table(
    depth: int = 1001,
    processors: Sequence[int] = (1, 4, 16, 64),
    iterations: Sequence[int | None] = (1, 2, None),
    settings: Sequence[tuple[int, int]] = ((2, 2), (2, 4), (3, 4)),
) -> dict[str, Any]:
    """Virtual speedups of a layer-parallel training step, by levels, coarsening, ``K`` and processors.

    ``settings`` holds ``(levels, coarsening)`` pairs; ``None`` in ``iterations`` is the
    exact count, and a count above it is run as it (a row per count run, so a block exact
    at fewer iterations shows fewer rows). For the docs' ``{computed-table}``.

    Returns
    -------
    dict
        ``{title, columns, rows}`` with string cells.

    Examples
    --------
    >>> from parareal_toolkit.plans import layer_parallel_speedup_table
    >>> table = layer_parallel_speedup_table(depth=65, processors=(2,), iterations=(1,), settings=((2, 2),))
    >>> table["columns"]
    ['levels', 'm', 'K', 'P = 2']
    """
    rows = []
    for levels, m in settings:
        seen = set()
        for k in iterations:
            costs = [layer_parallel_step_cost(depth, p, iterations=k, levels=levels, coarsening=m) for p in processors]
            if costs[0]["iterations"] in seen:
                continue
            seen.add(costs[0]["iterations"])
            ran = costs[0]["iterations"]
            label = f"{ran} (exact)" if costs[0]["exact"] else str(ran)
            rows.append([str(levels), str(m), label, *[f"{c['speedup']:.2f}" for c in costs]])
    return {
        "title": (
            f"Virtual speedup of a training step of layer-parallel ResNet-{depth} over the serial one (counted unit "
            "evaluations, F-relaxation, adjoint backward, communication not counted)"
        ),
        "columns": ["levels", "m", "K", *[f"P = {p}" for p in processors]],
        "rows": rows,
    }
