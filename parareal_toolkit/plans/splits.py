"""The registry of splits: how a Parareal ResNet's ``U`` trunk units are cut into ``N`` subnetworks.

Each split is a strategy object in :data:`SPLITS` (name -> split) that owns everything a
choice of split changes: which ``N`` it accepts, the units' ranges, the bound the split aims
at, the plan table's counts and the words tables and figures print. ``units`` is the seed's
``ceil(U / N)`` units per subnetwork (``N`` must leave the last one at least one unit);
``cost`` is the contiguous partition of the unit costs minimising an ``objective``: the
largest subnetwork's cost (min-max), or the virtual time ``max c(g^j) + sum c(F^j)``.

Adding a split: a class here and its name in ``parareal_toolkit._names.SPLIT_NAMES`` (the
torch-free ``parareal`` parser offers those names; a test checks both hold the same).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol

from .._validation import check_int
from ..errors import InputError
from .coarse import coarse_runs
from .costs import CostTable
from .partition import _run_partition, virtual_time_partition
from .units import (
    ceil_div,
    num_units,
    resnet_unit_specs,
    runs_parameters,
    stage_unit_specs,
    trunk_runs,
    unit_parameters,
)

__all__ = ["SPLITS", "Split", "UnitsSplit", "CostSplit"]


class _Bounds(Protocol):
    """What a split's bound reads from a plan."""

    @property
    def unit_count_bound(self) -> float: ...

    @property
    def cost_bound(self) -> float: ...


class Split(ABC):
    """How to cut a ResNet's trunk into ``N`` contiguous subnetworks (one subclass per split).

    Attributes
    ----------
    name : str
        The split's name in :data:`SPLITS`, the CLI's ``--split`` and results files.
    bound_label : str
        The bound's name in tables and figures: ``"unit-count"`` or ``"cost-count"``.
    bound_formula : str
        The bound's formula in a table's notes, or ``""`` where the name says it all.
    table_note : str
        What ``parareal models`` adds to its title (``""`` for the seed's split).
    """

    name: str
    bound_label: str
    bound_formula: str = ""
    table_note: str = ""

    @property
    def bound_description(self) -> str:
        """``"<label> bound"`` followed by its formula, if any, for a table's notes."""
        return f"{self.bound_label} bound" + (f" {self.bound_formula}" if self.bound_formula else "")

    @abstractmethod
    def check_num_subnetworks(self, num_subnetworks: object, total: int) -> int:
        """``N`` if this split can cut ``total`` units into ``N`` non-empty subnetworks, else ``InputError``.

        Returns
        -------
        int
            ``N``.
        """

    @abstractmethod
    def ranges(self, depth: int, n: int, coarse_units: int, table: CostTable, objective: str) -> tuple[range, ...]:
        """The trunk units of each of the ``n`` subnetworks of ResNet-``depth``.

        Returns
        -------
        tuple of range
            ``n`` non-empty ranges that tile ``0..U-1`` in order.
        """

    @abstractmethod
    def bound(self, plan: _Bounds) -> float:
        """The virtual-speedup bound this split aims at, read from ``plan``.

        Returns
        -------
        float
            One of the plan's bounds.
        """

    @abstractmethod
    def parameter_counts(self, depth: int, n: int, coarse_units: int, table: CostTable) -> dict:
        """The per-split counts of a row of :func:`~parareal_toolkit.nn.parareal_resnet_table`.

        Returns
        -------
        dict
            ``units_per_subnetwork`` (text), ``largest_subnetwork_parameters``,
            ``coarse_parameters`` and ``preprocess_parameters`` (the ``C^j``, j > 1).
        """


def _check_num_subnetworks(num_subnetworks: object, total: int) -> int:
    """``N`` if it leaves every subnetwork at least one of ``total`` units in blocks of ``ceil(total / N)``."""
    n = check_int(num_subnetworks, "num_subnetworks", minimum=1)
    if (n - 1) * ceil_div(total, n) >= total:
        # k = total always fits ((k - 1) * 1 < total); the largest fitting k < n is near n
        largest = next(k for k in range(min(n - 1, total), 0, -1) if (k - 1) * ceil_div(total, k) < total)
        raise InputError(
            f"`num_subnetworks` must leave every subnetwork at least one of the {total} units "
            f"(blocks of ceil({total}/N)); the largest such N below {n} is {largest}; got {n}."
        )
    return n


class UnitsSplit(Split):
    """The seed's split: ``ceil(U / N)`` units per subnetwork, the last possibly fewer."""

    name = "units"
    bound_label = "unit-count"

    def check_num_subnetworks(self, num_subnetworks: object, total: int) -> int:
        return _check_num_subnetworks(num_subnetworks, total)

    def ranges(self, depth: int, n: int, coarse_units: int, table: CostTable, objective: str) -> tuple[range, ...]:
        total = num_units(depth)
        per = ceil_div(total, n)
        return tuple(range(j * per, min((j + 1) * per, total)) for j in range(n))

    def bound(self, plan: _Bounds) -> float:
        return plan.unit_count_bound

    def parameter_counts(self, depth: int, n: int, coarse_units: int, table: CostTable) -> dict:
        total = num_units(depth)
        n_stage = total // 3
        stages = stage_unit_specs(depth)
        per = ceil_div(total, n)
        # Subnetworks j = 1..N-2 that contain no stage's first unit are identical runs of
        # `per` plain units of one stage: count each stretch of them once, times its length.
        special = sorted({0, n - 1, *(min(s * n_stage // per, n - 1) for s in range(3))})
        largest = coarse = pre = 0
        previous = None
        for j in special:
            if previous is not None and j - previous > 1:
                plain = trunk_runs(stages, n_stage, (previous + 1) * per, (previous + 2) * per)[0][0]
                between = j - previous - 1
                largest = max(largest, per * unit_parameters(plain))
                coarse += between * coarse_units * unit_parameters(plain)
                pre += between * 3 * plain.in_channels
            runs = trunk_runs(stages, n_stage, j * per, min((j + 1) * per, total))
            largest = max(largest, runs_parameters(runs))
            if j > 0:
                coarse += runs_parameters(coarse_runs(runs, coarse_units))
                pre += 3 * runs[0][0].in_channels  # C^j: a bias-free 1x1 convolution from RGB
            previous = j
        last_size = total - (n - 1) * per
        return {
            "units_per_subnetwork": str(per) if last_size == per else f"{per}x{n - 1}+{last_size}",
            "largest_subnetwork_parameters": largest,
            "coarse_parameters": coarse,
            "preprocess_parameters": pre,
        }


class CostSplit(Split):
    """A contiguous partition of the unit costs minimising ``objective`` (any ``N <= U``)."""

    name = "cost"
    bound_label = "cost-count"
    bound_formula = "sum c(g) / (max c(g) + sum c(F))"
    table_note = "units split by multiply-adds"

    def check_num_subnetworks(self, num_subnetworks: object, total: int) -> int:
        return check_int(num_subnetworks, "num_subnetworks", minimum=1, maximum=total)

    def ranges(self, depth: int, n: int, coarse_units: int, table: CostTable, objective: str) -> tuple[range, ...]:
        if objective == "virtual":
            return _virtual_ranges(depth, n, coarse_units, table)
        return _min_max_ranges(depth, n, table)

    def bound(self, plan: _Bounds) -> float:
        return plan.cost_bound

    def parameter_counts(self, depth: int, n: int, coarse_units: int, table: CostTable) -> dict:
        # O(N) per row: the partition is computed on the three stages' runs of equal units
        ranges = _min_max_ranges(depth, n, table)
        stages = stage_unit_specs(depth)
        n_stage = num_units(depth) // 3
        largest = coarse = pre = 0
        for j, r in enumerate(ranges):
            runs = trunk_runs(stages, n_stage, r.start, r.stop)
            largest = max(largest, runs_parameters(runs))
            if j > 0:
                coarse += runs_parameters(coarse_runs(runs, coarse_units))
                pre += 3 * runs[0][0].in_channels
        return {
            "units_per_subnetwork": _counts_text([len(r) for r in ranges]),
            "largest_subnetwork_parameters": largest,
            "coarse_parameters": coarse,
            "preprocess_parameters": pre,
        }


def _min_max_ranges(depth: int, n: int, table: CostTable) -> tuple[range, ...]:
    """The min-max partition of ResNet-``depth``'s units by cost, computed on runs of equal units."""
    costs = dict(table)
    per_stage = num_units(depth) // 3
    runs: list[tuple[float, int]] = []
    for first, plain in stage_unit_specs(depth):
        runs += [(costs[first], 1), (costs[plain], per_stage - 1)]
    starts = [0]
    for size in _run_partition(runs, n):
        starts.append(starts[-1] + size)
    return tuple(range(a, b) for a, b in zip(starts, starts[1:]))


def _block_coarse_cost(depth: int, budget: int, table: CostTable) -> Callable[[int, int], float]:
    """``(start, stop) -> c(F)`` of the coarse network shaped like trunk units ``start..stop-1``, in ``O(1)`` units."""
    costs = dict(table)
    stages = stage_unit_specs(depth)
    per_stage = num_units(depth) // 3

    def coarse_cost(start: int, stop: int) -> float:
        runs = coarse_runs(trunk_runs(stages, per_stage, start, stop), budget)
        return math.fsum(count * costs[spec] for spec, count in runs)

    return coarse_cost


def _virtual_ranges(depth: int, n: int, budget: int, table: CostTable) -> tuple[range, ...]:
    """The partition of ResNet-``depth``'s units with the least ``max c(g^j) + sum c(F^j)``."""
    costs = dict(table)
    unit_costs = [costs[spec] for spec in resnet_unit_specs(depth)]
    return tuple(virtual_time_partition(unit_costs, n, _block_coarse_cost(depth, budget, table)))


def _counts_text(sizes: list[int]) -> str:
    """Units per subnetwork, run-length coded: ``"111"``, ``"28x11+25"``, ``"55+56+55+56+55+56"``."""
    if len(set(sizes)) == 1:
        return str(sizes[0])
    runs: list[list[int]] = []
    for size in sizes:
        if runs and runs[-1][0] == size:
            runs[-1][1] += 1
        else:
            runs.append([size, 1])
    return "+".join(str(size) if count == 1 else f"{size}x{count}" for size, count in runs)


SPLITS: dict[str, Split] = {split.name: split for split in (UnitsSplit(), CostSplit())}
