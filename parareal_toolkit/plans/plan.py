"""Parareal ResNet-N plans (Lee, Park, Lee; seed paper §4): where every unit goes, no tensors.

For a depth-``9n + 2`` ResNet with ``U = 3n`` residual units (333 for ResNet-1001):

* ``g^j`` (j = 1..N): contiguous blocks of trunk units chosen by a split of
  :data:`~parareal_toolkit.plans.splits.SPLITS` (the seed's: ``ceil(U / N)`` units each, the
  last possibly fewer);
* ``C^1``: the ResNet's 3x3 stem, so ``x_1`` is exact; ``C^j`` (j > 1): one bias-free 1x1
  convolution with stride ``32 / r_j`` from the image to ``g^j``'s input shape
  ``(c_j, r_j, r_j)``;
* ``F^j ≈ g^{j+1}`` (j = 1..N-1): ``N_c = ceil(12 / N)`` units with ``g^{j+1}``'s input and
  output shape (:mod:`parareal_toolkit.plans.coarse`);
* ``h``: BN-ReLU, global average pooling, fully connected classifier.

Everything here is arithmetic on unit shapes; :mod:`parareal_toolkit.nn.parareal_resnets`
builds the network of a plan.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

from .._names import SPLIT_NAMES, SPLIT_OBJECTIVES
from .._validation import check_choice, check_int, check_ints
from ..errors import InputError
from .coarse import SEED_COARSE_BUDGET, coarse_specs
from .costs import UnitCosts, cost_table, plan_shapes
from .splits import SPLITS
from .units import UnitSpec, ceil_div, num_units, resnet_unit_specs, unit_multiply_adds

__all__ = ["PararealResNetPlan", "parareal_resnet_plan", "unit_count_bound"]


@dataclass(frozen=True)
class PararealResNetPlan:
    """Where every unit of a parareal ResNet goes; pure Python, no tensors.

    ``ranges[j]`` is the half-open range of trunk units in subnetwork ``j + 1``;
    ``input_shapes[j]`` / ``output_shapes[j]`` its ``(channels, side)``;
    ``coarse[j]`` the unit specs of ``F^{j+1}`` (approximating subnetwork ``j + 2``).
    ``split`` says how the ranges were chosen: ``"units"`` (the seed's ``ceil(U / N)`` units
    each) or ``"cost"`` (a partition of ``unit_costs`` minimising ``objective``: the largest
    subnetwork's cost, or the virtual time ``max c(g^j) + sum c(F^j)``); ``unit_costs``
    holds one cost per distinct unit shape either way, so both splits report their cost
    balance.

    Attributes
    ----------
    depth : int
        The ResNet's depth, ``9n + 2``.
    num_subnetworks : int
        ``N``.
    coarse_units : int
        ``N_c``, the budget of units per coarse network (raised where a coarse network must
        hold more shape-changing units).
    units : tuple of UnitSpec
        The ``3n`` residual units of the trunk.
    ranges : tuple of range
        The trunk units of each subnetwork.
    coarse : tuple of tuple of UnitSpec
        The units of each coarse network.
    split : str
        ``"units"`` or ``"cost"``.
    unit_costs : tuple of (UnitSpec, float)
        The cost of each distinct unit shape (default: :func:`unit_multiply_adds`).
    objective : str
        What a ``"cost"`` split minimises: ``"largest"`` or ``"virtual"``.
    """

    depth: int
    num_subnetworks: int
    coarse_units: int
    units: tuple[UnitSpec, ...]
    ranges: tuple[range, ...]
    coarse: tuple[tuple[UnitSpec, ...], ...]
    split: str = "units"
    unit_costs: tuple[tuple[UnitSpec, float], ...] = ()
    objective: str = "largest"

    def cost_of(self, spec: UnitSpec) -> float:
        """The cost of one unit of shape ``spec`` (from ``unit_costs``, else its multiply-adds).

        Returns
        -------
        float
            The cost in the units of ``unit_costs``.
        """
        for known, cost in self.unit_costs:
            if known == spec:
                return cost
        if self.unit_costs:
            raise KeyError(f"no cost for the unit shape {spec} in this plan's `unit_costs`.")
        return float(unit_multiply_adds(spec))

    @property
    def subnetwork_costs(self) -> list[float]:
        """``c(g^1)..c(g^N)``: the summed cost of each subnetwork's units."""
        return [math.fsum(self.cost_of(self.units[i]) for i in r) for r in self.ranges]

    @property
    def coarse_costs(self) -> list[float]:
        """``c(F^1)..c(F^{N-1})``: the summed cost of each coarse network's units."""
        return [math.fsum(self.cost_of(spec) for spec in specs) for specs in self.coarse]

    @property
    def cost_imbalance(self) -> float:
        """``max_j c(g^j) / mean_j c(g^j)``: 1 for a perfectly balanced split."""
        costs = self.subnetwork_costs
        mean = math.fsum(costs) / len(costs)
        return max(costs) / mean if mean > 0 else 1.0

    @property
    def cost_bound(self) -> float:
        """The cost-count bound ``sum_j c(g^j) / (max_j c(g^j) + sum_j c(F^j))``.

        The virtual speedup if every unit took exactly its cost; :attr:`unit_count_bound`
        is the special case of equal costs. 1 for N = 1.
        """
        costs = self.subnetwork_costs
        return math.fsum(costs) / (max(costs) + math.fsum(self.coarse_costs))

    @property
    def bound(self) -> float:
        """The bound the split aims at: :attr:`unit_count_bound` for ``"units"``, :attr:`cost_bound` for ``"cost"``.

        Each split of the registry ``parareal_toolkit.plans.SPLITS`` names its own bound.
        """
        return SPLITS[self.split].bound(self)

    @property
    def input_shapes(self) -> list[tuple[int, int]]:
        """``(channels, side)`` of each subnetwork's input."""
        return [(self.units[r.start].in_channels, self.units[r.start].resolution) for r in self.ranges]

    @property
    def output_shapes(self) -> list[tuple[int, int]]:
        """``(channels, side)`` of each subnetwork's output."""
        return [(self.units[r.stop - 1].out_channels, self.units[r.stop - 1].out_resolution) for r in self.ranges]

    @property
    def units_per_subnetwork(self) -> list[int]:
        """The number of trunk units in each subnetwork."""
        return [len(r) for r in self.ranges]

    @property
    def units_per_coarse_network(self) -> list[int]:
        """``u(F^1)..u(F^{N-1})``: the residual units of each coarse network (none for N = 1)."""
        return [len(specs) for specs in self.coarse]

    @property
    def unit_count_bound(self) -> float:
        """The virtual speedup of this split if every residual unit cost the same.

        ``U / (max_j u(g^j) + sum_j u(F^j))`` (see :func:`unit_count_bound`): 9.25 at N = 18
        and 9.00 at N = 24 for ResNet-1001 with the seed's coarse networks; 1 for N = 1.
        """
        return unit_count_bound(self.units_per_subnetwork, self.units_per_coarse_network)

    @property
    def closed_form_unit_count_bound(self) -> float:
        """The seed paper's closed form ``U / (ceil(U/N) + (N - 1) N_c)`` with ``N_c = coarse_units``.

        Equal to :attr:`unit_count_bound` whenever no coarse network had to be enlarged to
        hold several shape-changing units (always for ResNet-1001): ResNet-1001 with
        ``N_c = ceil(12/N)`` gives 2.80, 5.05, 8.54, 9.25 and 9.00 for N = 3, 6, 12, 18, 24.
        """
        total, n = len(self.units), self.num_subnetworks
        return total / (ceil_div(total, n) + (n - 1) * self.coarse_units)


def _unit_counts(counts: Iterable[int], name: str, *, minimum: int) -> list[int]:
    """:func:`check_ints` of ``counts``, where a fractional count (2.5 units) is a wrong value."""
    if isinstance(counts, Iterable) and not isinstance(counts, (str, bytes)):
        counts = list(counts)
        for i, count in enumerate(counts):
            if isinstance(count, numbers.Real) and not isinstance(count, numbers.Integral):
                raise InputError(f"`{name}[{i}]` must be a whole number of units; got {count!r}.")
    return check_ints(counts, name, minimum=minimum, nonempty=False)


def unit_count_bound(subnetwork_units: Iterable[int], coarse_units: Iterable[int]) -> float:
    """``U / (max_j u(g^j) + sum_j u(F^j))``: the virtual speedup if every unit cost the same.

    ``subnetwork_units`` are ``u(g^1)..u(g^N)`` (their sum ``U`` is the sequential work) and
    ``coarse_units`` are ``u(F^1)..u(F^{N-1})``, all run one after the other. Pre- and
    postprocessing are not counted (they are tiny and the same for every N). ``N = 1``
    gives exactly 1; the bound never exceeds ``N``.

    Returns
    -------
    float
        The bound, in ``(0, N]``.
    """
    sub = _unit_counts(subnetwork_units, "subnetwork_units", minimum=1)
    coarse = _unit_counts(coarse_units, "coarse_units", minimum=0)
    if not sub:
        raise InputError("`subnetwork_units` must hold at least one count; got none.")
    if len(coarse) != len(sub) - 1:
        raise InputError(
            f"`coarse_units` must hold N - 1 = {len(sub) - 1} counts (one per coarse network); got {len(coarse)}."
        )
    return sum(sub) / (max(sub) + sum(coarse))


def parareal_resnet_plan(
    depth: int = 1001,
    *,
    num_subnetworks: int,
    coarse_units: int | None = None,
    split: str = "units",
    unit_costs: UnitCosts | None = None,
    objective: str = "largest",
) -> PararealResNetPlan:
    """Split a depth-``depth`` pre-activation ResNet into ``num_subnetworks`` parts.

    ``split="units"`` (the seed's): subnetworks hold ``ceil(U / N)`` units each, the last
    possibly fewer. ``split="cost"``: the contiguous split whose most expensive subnetwork
    costs least (:func:`~parareal_toolkit.nn.balanced_partition` of the unit costs; any
    ``N <= U``). See the module docstring for the coarse networks, built alike for both.

    Parameters
    ----------
    depth : int
        ``9n + 2`` (default 1001).
    num_subnetworks : int, keyword-only
        ``N``; it must leave the last subnetwork at least one unit.
    coarse_units : int, keyword-only, optional
        Units per coarse network; default the seed paper's ``ceil(12 / N)``.
    split : {"units", "cost"}, keyword-only
        How to cut the trunk (default ``"units"``).
    unit_costs : mapping or callable, keyword-only, optional
        Cost of a unit shape (``UnitSpec -> float``), for example measured seconds; default
        :func:`unit_multiply_adds`. Kept in the plan (its cost balance and cost bound) for
        either split.
    objective : {"largest", "virtual"}, keyword-only
        What a ``"cost"`` split minimises: the largest subnetwork's cost (default; min-max,
        :func:`~parareal_toolkit.nn.balanced_partition`), or the virtual time
        ``max c(g^j) + sum c(F^j)`` of the subnetworks and the coarse chain
        (:func:`~parareal_toolkit.nn.virtual_time_partition`), which may leave the
        subnetworks less even. Ignored by the ``"units"`` split.

    Returns
    -------
    PararealResNetPlan
        Where every unit goes; no module is built.

    Examples
    --------
    >>> from parareal_toolkit.nn import parareal_resnet_plan
    >>> plan = parareal_resnet_plan(1001, num_subnetworks=3)
    >>> plan.units_per_subnetwork, plan.coarse_units
    ([111, 111, 111], 4)

    A unit of the 32x32 stage costing twice one of the 8x8 stage moves units to the back:

    >>> costs = {s: {32: 2.0, 16: 1.5, 8: 1.0}[s.out_resolution] for s in {*resnet_unit_specs(1001)}}
    >>> parareal_resnet_plan(1001, num_subnetworks=3, split="cost", unit_costs=lambda s: costs.get(s, 2.0)).units_per_subnetwork
    [83, 102, 148]
    """
    units = tuple(resnet_unit_specs(depth))
    strategy = SPLITS[check_choice(split, "split", SPLIT_NAMES)]
    n = strategy.check_num_subnetworks(num_subnetworks, num_units(depth))
    if coarse_units is None:
        coarse_units = ceil_div(SEED_COARSE_BUDGET, n)
    coarse_units = check_int(coarse_units, "coarse_units", minimum=1)
    objective = check_choice(objective, "objective", SPLIT_OBJECTIVES)
    table = cost_table(plan_shapes(depth), unit_costs)
    ranges = strategy.ranges(depth, n, coarse_units, table, objective)
    coarse = tuple(coarse_specs([units[i] for i in r], coarse_units) for r in ranges[1:])
    return PararealResNetPlan(depth, n, coarse_units, units, ranges, coarse, strategy.name, table, objective)
