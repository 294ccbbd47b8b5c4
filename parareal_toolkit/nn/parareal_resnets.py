"""Parareal ResNet-N (Lee, Park, Lee; seed paper §4): a pre-activation ResNet torn into N
parallel subnetworks linked by small coarse networks, built on :class:`PararealNetwork`.

For a depth-``9n + 2`` ResNet with ``U = 3n`` residual units (333 for ResNet-1001):

* ``g^j`` (j = 1..N): contiguous blocks of ``ceil(U / N)`` units; the last may have fewer
  (N must leave it at least one);
* ``C^1``: the ResNet's 3x3 stem, so ``x_1`` is exact; ``C^j`` (j > 1): one bias-free 1x1
  convolution with stride ``32 / r_j`` from the image to ``g^j``'s input shape
  ``(c_j, r_j, r_j)``;
* ``F^j ≈ g^{j+1}`` (j = 1..N-1): ``N_c = ceil(12 / N)`` units with ``g^{j+1}``'s input and
  output shape. When ``g^{j+1}`` spans a stage boundary, ``F^j`` contains the same
  shape-changing unit(s) (projection + stride) in the same order, and its plain units are
  shared among the stage segments of ``g^{j+1}`` in proportion to their lengths (largest
  remainder, earlier segment first on ties). ``N_c`` is raised to the number of
  shape-changing units if it is smaller;
* ``h``: BN-ReLU, global average pooling, fully connected classifier.

With ``N = 1`` the network is the ResNet itself: :func:`parareal_resnet_from` with one
subnetwork reproduces :class:`~parareal_toolkit.nn.resnet.PreActResNet` output for output
(tested), and for any N the composition ``g^N ∘ ... ∘ g^1`` is the ResNet's trunk.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from torch import nn

from .._names import SPLIT_NAMES, SPLIT_OBJECTIVES
from .._validation import check_choice, check_int, check_ints
from ..errors import InputError, InputTypeError
from .network import PararealNetwork
from .resnet import (
    STEM_CHANNELS,
    NormLayer,
    PreActBottleneck,
    PreActResNet,
    UnitSpec,
    ceil_div,
    init_weights,
    num_units,
    preact_resnet,
    resnet_unit_specs,
)
from .splits import Run, _run_partition, virtual_time_partition

__all__ = [
    "PararealResNet",
    "PararealResNetPlan",
    "parareal_resnet_plan",
    "parareal_resnet",
    "parareal_resnet_from",
    "parareal_resnet_table",
    "unit_parameters",
    "stage_unit_specs",
    "SEED_COARSE_BUDGET",
    "unit_count_bound",
    "unit_multiply_adds",
    "SPLIT_NAMES",
]

SEED_COARSE_BUDGET = 12  # the seed paper's N_c = ceil(12 / N)


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
        """The bound the split aims at: :attr:`unit_count_bound` for ``"units"``, :attr:`cost_bound` for ``"cost"``."""
        return self.unit_count_bound if self.split == "units" else self.cost_bound

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


def _largest_remainder(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (ties: earlier first)."""
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [0] * (len(weights) - 1) + [total]
    shares = [total * w // weight_sum for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % weight_sum), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _coarse_specs(target: list[UnitSpec], budget: int) -> tuple[UnitSpec, ...]:
    """``budget`` units with ``target``'s input-to-output shape (see module docstring)."""
    changing = [i for i, s in enumerate(target) if s.changes_shape]
    budget = max(budget, len(changing))
    # segments of plain units: before the first shape change, then after each one
    bounds = [0, *changing, len(target)]
    plain_counts = [bounds[k + 1] - bounds[k] - (k > 0) for k in range(len(bounds) - 1)]
    shares = _largest_remainder(budget - len(changing), plain_counts)
    first = target[0]
    specs = [UnitSpec(first.in_channels, first.in_channels, 1, first.resolution)] * shares[0]
    for k, i in enumerate(changing, start=1):
        spec = target[i]
        specs.append(spec)
        specs += [UnitSpec(spec.out_channels, spec.out_channels, 1, spec.out_resolution)] * shares[k]
    return tuple(specs)


def unit_multiply_adds(spec: UnitSpec) -> int:
    """Multiply-adds of the convolutions of one residual unit ``spec`` for one image.

    With ``w = out_channels / 4``, input ``c x r x r`` and output side ``r' = r / stride``:
    ``c w r^2 + 9 w^2 r'^2 + 4 w^2 r'^2``, plus ``4 c w r'^2`` for a projection shortcut.
    Every plain unit of a CIFAR ResNet costs the same, 4,456,448 (the stages halve the side
    and double the width), so a split by multiply-adds differs from the seed's unit count
    only around the three shape-changing units. BatchNorm and ReLU, which touch every
    activation and are memory-bound, are not counted; a split by measured time
    (``parareal_toolkit.bench``) sees them.

    Returns
    -------
    int
        The count (checked against ``torch.utils.flop_counter`` in the tests).

    Examples
    --------
    >>> from parareal_toolkit.nn import UnitSpec, unit_multiply_adds
    >>> unit_multiply_adds(UnitSpec(64, 64, 1, 32))
    4456448
    """
    width = spec.out_channels // PreActBottleneck.expansion
    r, r_out = spec.resolution, spec.out_resolution
    count = (
        spec.in_channels * width * r * r + 9 * width * width * r_out * r_out + width * spec.out_channels * r_out * r_out
    )
    if spec.changes_shape:
        count += spec.in_channels * spec.out_channels * r_out * r_out
    return count


UnitCosts = Mapping[UnitSpec, float] | Callable[[UnitSpec], float]


def _cost_table(shapes: Iterable[UnitSpec], unit_costs: UnitCosts | None) -> tuple[tuple[UnitSpec, float], ...]:
    """One checked ``(shape, cost)`` per distinct shape in ``shapes``."""
    if unit_costs is None:
        unit_costs = unit_multiply_adds
    elif not (callable(unit_costs) or isinstance(unit_costs, Mapping)):
        raise InputTypeError(
            f"`unit_costs` must be a mapping or a function of a UnitSpec; got {type(unit_costs).__name__}."
        )
    table: list[tuple[UnitSpec, float]] = []
    for spec in dict.fromkeys(shapes):
        try:
            cost = unit_costs[spec] if isinstance(unit_costs, Mapping) else unit_costs(spec)
        except KeyError:
            raise InputError(f"`unit_costs` has no cost for the unit shape {spec}.") from None
        if isinstance(cost, bool) or not isinstance(cost, numbers.Real) or not math.isfinite(cost) or cost < 0:
            raise InputError(f"`unit_costs` must give finite nonnegative costs; got {cost!r} for {spec}.")
        table.append((spec, float(cost)))
    return tuple(table)


def _shapes(depth: int) -> list[UnitSpec]:
    """Every unit shape a plan of ResNet-``depth`` can hold: the trunk's and the coarse networks'."""
    # a coarse network's units have the shapes of its target's units or of the plain units of
    # the stage before (see _coarse_specs), so the stages' first and plain shapes cover them all
    return [spec for pair in stage_unit_specs(depth) for spec in pair]


def _cost_ranges(depth: int, n: int, table: tuple[tuple[UnitSpec, float], ...]) -> tuple[range, ...]:
    """The min-max partition of ResNet-``depth``'s units by cost, computed on runs of equal units."""
    costs = dict(table)
    per_stage = num_units(depth) // 3
    runs: list[Run] = []
    for first, plain in stage_unit_specs(depth):
        runs += [(costs[first], 1), (costs[plain], per_stage - 1)]
    starts = [0]
    for size in _run_partition(runs, n):
        starts.append(starts[-1] + size)
    return tuple(range(a, b) for a, b in zip(starts, starts[1:]))


def _block_coarse_cost(
    depth: int, budget: int, table: tuple[tuple[UnitSpec, float], ...]
) -> Callable[[int, int], float]:
    """``(start, stop) -> c(F)`` of the coarse network shaped like trunk units ``start..stop-1``, in ``O(1)`` units."""
    costs = dict(table)
    stages = stage_unit_specs(depth)
    per_stage = num_units(depth) // 3

    def coarse_cost(start: int, stop: int) -> float:
        runs = _coarse_runs(_trunk_runs(stages, per_stage, start, stop), budget)
        return math.fsum(count * costs[spec] for spec, count in runs)

    return coarse_cost


def _virtual_ranges(depth: int, n: int, budget: int, table: tuple[tuple[UnitSpec, float], ...]) -> tuple[range, ...]:
    """The partition of ResNet-``depth``'s units with the least ``max c(g^j) + sum c(F^j)``."""
    costs = dict(table)
    unit_costs = [costs[spec] for spec in resnet_unit_specs(depth)]
    return tuple(virtual_time_partition(unit_costs, n, _block_coarse_cost(depth, budget, table)))


def _check_split(split: object, num_subnetworks: object, total: int) -> tuple[str, int]:
    split = check_choice(split, "split", SPLIT_NAMES)
    if split == "units":
        return split, _check_num_subnetworks(num_subnetworks, total)
    return split, check_int(num_subnetworks, "num_subnetworks", minimum=1, maximum=total)


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
    total = num_units(depth)
    split, n = _check_split(split, num_subnetworks, total)
    if coarse_units is None:
        coarse_units = ceil_div(SEED_COARSE_BUDGET, n)
    coarse_units = check_int(coarse_units, "coarse_units", minimum=1)
    objective = check_choice(objective, "objective", SPLIT_OBJECTIVES)
    table = _cost_table(_shapes(depth), unit_costs)
    if split == "units":
        per = ceil_div(total, n)
        ranges = tuple(range(j * per, min((j + 1) * per, total)) for j in range(n))
    elif objective == "largest":
        ranges = _cost_ranges(depth, n, table)
    else:
        ranges = _virtual_ranges(depth, n, coarse_units, table)
    coarse = tuple(_coarse_specs([units[i] for i in r], coarse_units) for r in ranges[1:])
    return PararealResNetPlan(depth, n, coarse_units, units, ranges, coarse, split, table, objective)


def _preprocessing(channels: int, resolution: int, image_size: int = 32) -> nn.Conv2d:
    stride = image_size // resolution
    return nn.Conv2d(3, channels, 1, stride=stride, bias=False)


class PararealResNet(PararealNetwork):
    """A Parareal ResNet-N: a :class:`PararealNetwork` that keeps the plan it was built from.

    The forward pass is :class:`PararealNetwork`'s; ``plan`` holds the split (units per
    subnetwork and per coarse network, interface shapes) and its unit-count bounds, which the
    Table 2 harness reads instead of re-deriving them from the modules.
    """

    plan: PararealResNetPlan

    def __init__(
        self,
        plan: PararealResNetPlan,
        preprocess: Iterable[nn.Module],
        subnetworks: Iterable[nn.Module],
        coarse: Iterable[nn.Module],
        postprocess: nn.Module,
        *,
        iterations: int = 1,
        form: str = "correction",
    ):
        super().__init__(preprocess, subnetworks, coarse, postprocess, iterations=iterations, form=form)
        if not isinstance(plan, PararealResNetPlan):
            raise InputTypeError(f"`plan` must be a PararealResNetPlan; got {type(plan).__name__}.")
        self.plan = plan


def parareal_resnet_from(
    resnet: PreActResNet,
    *,
    num_subnetworks: int,
    coarse_units: int | None = None,
    split: str = "units",
    unit_costs: UnitCosts | None = None,
    iterations: int = 1,
    form: str = "correction",
    norm_layer: NormLayer | None = None,
):
    """A parareal network that *shares* ``resnet``'s stem, units and head (not copies).

    New modules: ``C^j`` for j > 1 and the coarse networks, freshly initialised. With
    ``num_subnetworks=1`` the result computes exactly ``resnet(x)``.

    Parameters
    ----------
    resnet : PreActResNet
        The network to cut; its modules become the parareal network's (training one trains
        the other).
    num_subnetworks, coarse_units, split, unit_costs : keyword-only
        As in :func:`parareal_resnet_plan`.
    iterations, form : keyword-only
        As in :class:`~parareal_toolkit.nn.PararealNetwork`.
    norm_layer : callable, keyword-only, optional
        Normalisation of the coarse networks' units (default ``nn.BatchNorm2d``).

    Returns
    -------
    PararealNetwork
        The Parareal ResNet-``N``; its ``plan`` attribute is the :class:`PararealResNetPlan`.

    Examples
    --------
    >>> import torch
    >>> from parareal_toolkit.nn import parareal_resnet_from, preact_resnet
    >>> resnet = preact_resnet(20).double().eval()
    >>> network = parareal_resnet_from(resnet, num_subnetworks=1)
    >>> x = torch.randn(1, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> torch.equal(network(x), resnet(x))
    True
    """

    if not isinstance(resnet, PreActResNet):
        raise InputTypeError(f"`resnet` must be a PreActResNet; got {type(resnet).__name__}.")
    plan = parareal_resnet_plan(
        resnet.depth, num_subnetworks=num_subnetworks, coarse_units=coarse_units, split=split, unit_costs=unit_costs
    )
    trunk = resnet.units
    preprocess = [resnet.stem] + [_preprocessing(c, r) for c, r in plan.input_shapes[1:]]
    subnetworks = [nn.Sequential(*trunk[r.start : r.stop]) for r in plan.ranges]
    coarse = [nn.Sequential(*(s.build(norm_layer) for s in specs)) for specs in plan.coarse]
    for module in preprocess[1:] + coarse:
        init_weights(module)
    return PararealResNet(plan, preprocess, subnetworks, coarse, resnet.head, iterations=iterations, form=form)


def parareal_resnet(
    depth: int = 1001,
    *,
    num_subnetworks: int,
    coarse_units: int | None = None,
    num_classes: int = 10,
    split: str = "units",
    unit_costs: UnitCosts | None = None,
    iterations: int = 1,
    form: str = "correction",
    norm_layer: NormLayer | None = None,
):
    """Parareal ResNet-``N`` of a pre-activation ResNet-``depth`` (seed paper, §4).

    Lee, Park, Lee, "Parareal neural networks emulating a parallel-in-time algorithm".
    With ``num_subnetworks=1`` the network computes its ResNet exactly (bit for bit).

    Parameters
    ----------
    depth : int
        ``9n + 2`` (default 1001).
    num_subnetworks : int, keyword-only
        ``N``; it must leave the last subnetwork at least one unit.
    coarse_units : int, keyword-only, optional
        Units per coarse network; default the seed paper's ``ceil(12 / N)``.
    num_classes : int, keyword-only
        Outputs of the classifier (default 10).
    split, unit_costs : keyword-only
        As in :func:`parareal_resnet_plan` (default: the seed's unit-count split).
    iterations, form : keyword-only
        As in :class:`~parareal_toolkit.nn.PararealNetwork`.
    norm_layer : callable, keyword-only, optional
        ``norm_layer(channels) -> nn.Module`` (default ``nn.BatchNorm2d``).

    Returns
    -------
    PararealNetwork
        A new network (ResNet and coarse networks freshly initialised) whose ``plan``
        attribute is the :class:`PararealResNetPlan`.

    Examples
    --------
    Parareal ResNet-3 of ResNet-20 (6 units, 2 per subnetwork, ``ceil(12/3) = 4`` units per
    coarse network), and ResNet-20 itself for ``N = 1``:

    >>> import torch
    >>> from parareal_toolkit.nn import parareal_resnet
    >>> x = torch.randn(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> network = parareal_resnet(20, num_subnetworks=3).double().eval()
    >>> network(x).shape, network.plan.units_per_subnetwork, network.plan.coarse_units
    (torch.Size([2, 10]), [2, 2, 2], 4)
    >>> single = parareal_resnet(20, num_subnetworks=1).double().eval()
    >>> torch.equal(single(x), single.to_sequential()(x))
    True
    """
    resnet = preact_resnet(depth, num_classes, norm_layer=norm_layer)
    return parareal_resnet_from(
        resnet,
        num_subnetworks=num_subnetworks,
        coarse_units=coarse_units,
        split=split,
        unit_costs=unit_costs,
        iterations=iterations,
        form=form,
        norm_layer=norm_layer,
    )


def unit_parameters(spec: UnitSpec, *, norm: bool = True) -> int:
    """Trainable parameters of the residual unit ``spec`` (what ``spec.build`` would hold).

    With ``w = out_channels / 4`` and input channels ``c``: ``c w + 9 w^2 + 4 w^2``
    convolution weights (no biases), ``4 c w`` more for a projection shortcut (a unit that
    changes the shape), and ``2 c + 4 w`` BatchNorm scales and shifts with ``norm``. A plain
    unit of the last stage of a CIFAR ResNet (``c = 256, w = 64``) holds 70,400.

    Returns
    -------
    int
        The count, computed without building the unit.
    """
    width = spec.out_channels // PreActBottleneck.expansion
    count = spec.in_channels * width + 9 * width * width + width * spec.out_channels
    if spec.changes_shape:
        count += spec.in_channels * spec.out_channels
    if norm:
        count += 2 * spec.in_channels + 4 * width
    return count


def stage_unit_specs(depth: int = 1001) -> list[tuple[UnitSpec, UnitSpec]]:
    """``(first, plain)`` unit shapes of each of the three stages of ResNet-``depth``.

    A stage's ``n`` units are its shape-changing first unit followed by ``n - 1`` copies of
    ``plain``; this describes a ResNet of any depth in constant space
    (:func:`~parareal_toolkit.nn.resnet_unit_specs` lists all ``3n`` units).

    Returns
    -------
    list of (UnitSpec, UnitSpec)
        Three pairs, in stage order.
    """
    num_units(depth)  # validates the depth
    specs = resnet_unit_specs(11)  # one unit per stage: the first units, the same at every depth
    return [(first, UnitSpec(first.out_channels, first.out_channels, 1, first.out_resolution)) for first in specs]


# a run of identical units: (shape, how many)
_Run = tuple[UnitSpec, int]


def _trunk_runs(stages: list[tuple[UnitSpec, UnitSpec]], n: int, start: int, stop: int) -> list[_Run]:
    """Trunk units ``start..stop-1`` (of ``3n``) as runs of identical shapes, in order."""
    runs: list[_Run] = []
    for s, (first, plain) in enumerate(stages):
        a, b = max(start, s * n), min(stop, (s + 1) * n)
        if a >= b:
            continue
        if a == s * n:
            runs.append((first, 1))
            a += 1
        if b > a:
            runs.append((plain, b - a))
    return runs


def _coarse_runs(target: list[_Run], budget: int) -> list[_Run]:
    """:func:`_coarse_specs` of the units ``target`` (given as runs), as runs: no unit listed."""
    changing, position = [], 0
    for spec, count in target:
        if spec.changes_shape:
            changing += [(position + i, spec) for i in range(count)]
        position += count
    budget = max(budget, len(changing))
    bounds = [0, *(i for i, _ in changing), position]
    plain_counts = [bounds[k + 1] - bounds[k] - (k > 0) for k in range(len(bounds) - 1)]
    shares = _largest_remainder(budget - len(changing), plain_counts)
    first = target[0][0]
    runs: list[_Run] = [(UnitSpec(first.in_channels, first.in_channels, 1, first.resolution), shares[0])]
    for k, (_, spec) in enumerate(changing, start=1):
        runs.append((spec, 1))
        runs.append((UnitSpec(spec.out_channels, spec.out_channels, 1, spec.out_resolution), shares[k]))
    return [(spec, count) for spec, count in runs if count]


def _runs_parameters(runs: list[_Run]) -> int:
    return sum(count * unit_parameters(spec) for spec, count in runs)


def _check_num_subnetworks(num_subnetworks: object, total: int) -> int:
    """``N`` if it leaves every subnetwork at least one of ``total`` units, else ``ValueError``."""
    n = check_int(num_subnetworks, "num_subnetworks", minimum=1)
    if (n - 1) * ceil_div(total, n) >= total:
        # k = total always fits ((k - 1) * 1 < total); the largest fitting k < n is near n
        largest = next(k for k in range(min(n - 1, total), 0, -1) if (k - 1) * ceil_div(total, k) < total)
        raise InputError(
            f"`num_subnetworks` must leave every subnetwork at least one of the {total} units "
            f"(blocks of ceil({total}/N)); the largest such N below {n} is {largest}; got {n}."
        )
    return n


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


def _cost_split_row(depth: int, n: int, budget: int, ranges: tuple[range, ...]) -> dict:
    """The counts of :func:`parareal_resnet_table` for given ``ranges``, part by part (``O(N)``)."""
    stages = stage_unit_specs(depth)
    n_stage = num_units(depth) // 3
    largest = coarse = pre = 0
    for j, r in enumerate(ranges):
        runs = _trunk_runs(stages, n_stage, r.start, r.stop)
        largest = max(largest, _runs_parameters(runs))
        if j > 0:
            coarse += _runs_parameters(_coarse_runs(runs, budget))
            pre += 3 * runs[0][0].in_channels
    return {
        "units_per_subnetwork": _counts_text([len(r) for r in ranges]),
        "largest_subnetwork_parameters": largest,
        "coarse_parameters": coarse,
        "preprocess_parameters": pre,
    }


def parareal_resnet_table(
    depth: int = 1001,
    subnetworks=(1, 3, 6, 12, 18, 24),
    *,
    num_classes: int = 10,
    coarse_units: int | None = None,
    split: str = "units",
    unit_costs: UnitCosts | None = None,
) -> list[dict]:
    """Parameters and units of ResNet-``depth`` and of Parareal ResNet-N for each N.

    ResNet-1001 has 10,327,706 trainable parameters for 10 classes, its Parareal ResNet-18
    10,983,642. The first row (``num_subnetworks=None``) is the plain ResNet. Counts are of
    trainable parameters (BatchNorm included); ``largest_subnetwork_parameters`` is what one
    device holds of the parallel part. Every count is computed from the shapes, without
    building a module, in time independent of the depth and of N (ResNet-90000002 takes
    as long as ResNet-20); the tests check them against built networks.

    Parameters
    ----------
    depth : int
        ``9n + 2`` (default 1001).
    subnetworks : iterable of int
        The values of ``N``, one row each.
    num_classes : int, keyword-only
        Outputs of the classifier (default 10).
    coarse_units : int, keyword-only, optional
        Units per coarse network; default ``ceil(12 / N)``.
    split, unit_costs : keyword-only
        As in :func:`parareal_resnet_plan`. A cost split takes ``O(N)`` time per row (the
        partition is computed on the three stages' runs of equal units).

    Returns
    -------
    list of dict
        One row per network with keys ``num_subnetworks``, ``units_per_subnetwork`` (a
        string such as ``"111"``, ``"28x11+25"`` or, run-length coded, ``"83+102+148"``),
        ``coarse_units``, ``parameters``,
        ``largest_subnetwork_parameters``, ``coarse_parameters`` and
        ``preprocess_parameters``.

    Examples
    --------
    >>> from parareal_toolkit.nn import parareal_resnet_table
    >>> for row in parareal_resnet_table(1001, (6, 18)):
    ...     print(row["num_subnetworks"], f"{row['parameters']:,}")
    None 10,327,706
    6 ...
    18 10,983,642
    """
    total = num_units(depth)
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    values = check_ints(subnetworks, "subnetworks", nonempty=False)
    split = check_choice(split, "split", SPLIT_NAMES)
    table = _cost_table(_shapes(depth), unit_costs) if split == "cost" else ()
    n_stage = total // 3
    stages = stage_unit_specs(depth)
    stem_parameters = 3 * STEM_CHANNELS * 9
    last = stages[-1][1]
    head_parameters = 2 * last.out_channels + (last.out_channels + 1) * num_classes
    trunk_parameters = _runs_parameters(_trunk_runs(stages, n_stage, 0, total))
    rows = [
        {
            "num_subnetworks": None,
            "units_per_subnetwork": str(total),
            "coarse_units": 0,
            "parameters": stem_parameters + trunk_parameters + head_parameters,
            "largest_subnetwork_parameters": stem_parameters + trunk_parameters + head_parameters,
            "coarse_parameters": 0,
            "preprocess_parameters": stem_parameters,
        }
    ]
    for n in values:
        split, n = _check_split(split, n, total)
        budget = ceil_div(SEED_COARSE_BUDGET, n) if coarse_units is None else coarse_units
        budget = check_int(budget, "coarse_units", minimum=1)
        if split == "cost":
            counts = _cost_split_row(depth, n, budget, _cost_ranges(depth, n, table))
            rows.append(
                {
                    "num_subnetworks": n,
                    "units_per_subnetwork": counts["units_per_subnetwork"],
                    "coarse_units": 0 if n == 1 else budget,
                    "parameters": stem_parameters
                    + counts["preprocess_parameters"]
                    + trunk_parameters
                    + counts["coarse_parameters"]
                    + head_parameters,
                    "largest_subnetwork_parameters": counts["largest_subnetwork_parameters"],
                    "coarse_parameters": counts["coarse_parameters"],
                    "preprocess_parameters": stem_parameters + counts["preprocess_parameters"],
                }
            )
            continue
        per = ceil_div(total, n)
        # Subnetworks j = 1..N-2 that contain no stage's first unit are identical runs of
        # `per` plain units of one stage: count each stretch of them once, times its length.
        special = sorted({0, n - 1, *(min(s * n_stage // per, n - 1) for s in range(3))})
        largest = coarse = pre = 0
        previous = None
        for j in special:
            if previous is not None and j - previous > 1:
                plain = _trunk_runs(stages, n_stage, (previous + 1) * per, (previous + 2) * per)[0][0]
                between = j - previous - 1
                largest = max(largest, per * unit_parameters(plain))
                coarse += between * budget * unit_parameters(plain)
                pre += between * 3 * plain.in_channels
            runs = _trunk_runs(stages, n_stage, j * per, min((j + 1) * per, total))
            largest = max(largest, _runs_parameters(runs))
            if j > 0:
                coarse += _runs_parameters(_coarse_runs(runs, budget))
                pre += 3 * runs[0][0].in_channels  # C^j: a bias-free 1x1 convolution from RGB
            previous = j
        last_size = total - (n - 1) * per
        units = str(per) if last_size == per else f"{per}x{n - 1}+{last_size}"
        rows.append(
            {
                "num_subnetworks": n,
                "units_per_subnetwork": units,
                "coarse_units": 0 if n == 1 else budget,
                "parameters": stem_parameters + pre + trunk_parameters + coarse + head_parameters,
                "largest_subnetwork_parameters": largest,
                "coarse_parameters": coarse,
                "preprocess_parameters": stem_parameters + pre,
            }
        )
    return rows
