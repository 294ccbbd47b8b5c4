r"""Contiguous min-max partitions: split a chain of layers into parts of balanced cost.

Given nonnegative costs ``c_1..c_U`` of a chain of layers and a number of parts ``N <= U``,
:func:`balanced_partition` returns ``N`` non-empty contiguous blocks whose largest cost
``max_j sum_{i in block j} c_i`` is the smallest possible (to a relative ``1e-12``, see
below). This is the split that minimises the parallel part of a parareal network's
virtual wall-clock ``max_j T(g^j)``.

Method: bisection on the bound ``T`` between ``max_i c_i`` (no part can cost less) and
``sum_i c_i``, with the greedy test "cut whenever the next layer would push the part over
``T``", which needs the fewest parts of any partition with parts ``<= T``; the final
partition is the greedy one at the smallest feasible ``T`` found, cut earlier only where
the remaining parts need one layer each. The costs are handled as runs of equal values,
so a ResNet's 3 stages of identical units cost ``O(N + runs)`` per test, whatever the depth.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .._validation import check_callable, check_int, check_real_array
from ..errors import InputError, InputTypeError

__all__ = ["balanced_partition", "virtual_time_partition"]

# a run of equal costs: (cost of one layer, number of layers)
Run = tuple[float, int]

_BISECTION_STEPS = 200
_RELATIVE_GAP = 1e-12


def _take(cost: float, available: int, room: float) -> int:
    """How many layers of ``cost`` fit into ``room`` (at most ``available``), exact under rounding."""
    if cost <= 0.0:
        return available
    quotient = room // cost  # inf for a subnormal cost
    k = available if quotient >= available else max(0, int(quotient))
    while k > 0 and k * cost > room:
        k -= 1
    while k < available and (k + 1) * cost <= room:
        k += 1
    return k


def _greedy(runs: Sequence[Run], bound: float, num_parts: int, *, exact: bool) -> list[int] | None:
    """Layers per part of the greedy partition with parts ``<= bound``; ``None`` if it needs more than ``num_parts``.

    With ``exact``, a part leaves at least one layer for each part after it, so that the
    result has exactly ``num_parts`` non-empty parts.
    """
    remaining = sum(count for _, count in runs)
    sizes: list[int] = []
    i, used = 0, 0  # run index and layers of runs[i] already placed
    while remaining:
        if len(sizes) == num_parts:
            return None
        cap = remaining - (num_parts - len(sizes) - 1) if exact else remaining
        size, total = 0, 0.0
        while i < len(runs) and size < cap:
            cost, count = runs[i]
            k = min(_take(cost, count - used, bound - total), cap - size)
            if k == 0:
                break
            size += k
            total += k * cost
            used += k
            if used == count:
                i, used = i + 1, 0
        if size == 0:
            return None  # a single layer exceeds the bound
        sizes.append(size)
        remaining -= size
    return sizes


def _run_partition(runs: Sequence[Run], num_parts: int) -> list[int]:
    """Layers per part of a min-max partition of the layers ``runs`` into ``num_parts`` parts."""
    runs = [(float(cost), int(count)) for cost, count in runs if count]
    low = max(cost for cost, _ in runs)
    high = math.fsum(cost * count for cost, count in runs)
    low = max(low, high / num_parts)
    while _greedy(runs, high, num_parts, exact=False) is None:
        # the greedy parts add in another order than fsum: the total may round one ulp above
        high = math.nextafter(high, math.inf) if high else math.ulp(0.0)
    if _greedy(runs, low, num_parts, exact=False) is not None:
        high = low
    for _ in range(_BISECTION_STEPS):
        if high - low <= _RELATIVE_GAP * high:
            break
        middle = 0.5 * (low + high)
        if _greedy(runs, middle, num_parts, exact=False) is None:
            low = middle
        else:
            high = middle
    sizes = _greedy(runs, high, num_parts, exact=True)
    assert sizes is not None and len(sizes) == num_parts  # high is feasible, and N <= layers
    return sizes


def _as_runs(costs: Sequence[float]) -> list[Run]:
    runs: list[Run] = []
    for cost in costs:
        if runs and runs[-1][0] == cost:
            runs[-1] = (cost, runs[-1][1] + 1)
        else:
            runs.append((cost, 1))
    return runs


def balanced_partition(costs: Sequence[float], num_parts: int) -> list[range]:
    """``num_parts`` contiguous blocks of ``range(len(costs))`` with the smallest largest cost.

    The largest block cost is within a relative ``1e-12`` of the optimum of all contiguous
    partitions into non-empty blocks (property-tested against exhaustive search). Ties are
    broken towards the front: earlier blocks are as long as the bound allows.

    Parameters
    ----------
    costs : sequence of float
        Finite, nonnegative cost of each layer, at least ``num_parts`` of them.
    num_parts : int
        ``N >= 1``.

    Returns
    -------
    list of range
        ``N`` non-empty ranges that tile ``0..len(costs)-1`` in order.

    Examples
    --------
    >>> from parareal_toolkit.nn import balanced_partition
    >>> balanced_partition([4, 1, 1, 1, 1, 4], 3)
    [range(0, 1), range(1, 5), range(5, 6)]
    >>> balanced_partition([1.0] * 7, 3)
    [range(0, 3), range(3, 6), range(6, 7)]
    """
    values, num_parts = _checked_costs(costs, num_parts)
    return _ranges(_run_partition(_as_runs([float(c) for c in values]), num_parts))


def _ranges(sizes: Sequence[int]) -> list[range]:
    starts = [0]
    for size in sizes:
        starts.append(starts[-1] + size)
    return [range(a, b) for a, b in zip(starts, starts[1:])]


def _checked_costs(costs: Sequence[float], num_parts: int) -> tuple[np.ndarray, int]:
    values = check_real_array(costs, "costs")
    if values.ndim != 1:
        raise InputError(f"`costs` must be a flat sequence of numbers; got shape {values.shape}.")
    if (values < 0).any():
        raise InputError(
            f"`costs` must be nonnegative; got {values[values < 0][0]!r} at index {int((values < 0).argmax())}."
        )
    with np.errstate(over="ignore"):
        total = float(values.sum())
    if not np.isfinite(total):
        raise InputError(
            f"`costs` must have a finite sum; got {total} from {len(values)} costs up to {values.max():g}."
        )
    num_parts = check_int(num_parts, "num_parts", minimum=1)
    if num_parts > len(values):
        raise InputError(f"`num_parts` must be at most the number of layers, {len(values)}; got {num_parts}.")
    return values, num_parts


def _least_coarse_sum(block: np.ndarray, coarse: np.ndarray, allowed: np.ndarray, num_parts: int):
    """Smallest ``sum_{j >= 2} coarse[a_j, b_j]`` over partitions into ``num_parts`` allowed blocks.

    ``block[a, b]`` (half-open ``a..b``) is allowed where ``allowed[a, b]``; returns the sum
    (``inf`` if no partition qualifies) and the argmin starts, one row per part after the first.
    """
    size = block.shape[0]
    first = np.where(allowed[0], 0.0, np.inf)
    first[0] = np.inf  # a part is never empty
    masked = np.where(allowed, coarse, np.inf)
    best, choices = first, []
    for _ in range(num_parts - 1):
        candidates = best[:, None] + masked  # [a, b]: parts so far end at a, the next is a..b
        start = np.argmin(candidates, axis=0)  # ties: the earliest cut
        best = candidates[start, np.arange(size)]
        choices.append(start)
    return best[size - 1], choices


def virtual_time_partition(
    costs: Sequence[float], num_parts: int, coarse_cost: Callable[[int, int], float]
) -> list[range]:
    r"""``num_parts`` contiguous blocks minimising ``max_j c(B_j) + sum_{j >= 2} F(B_j)``.

    ``c(B)`` is the summed ``costs`` of a block and ``F(B) = coarse_cost(start, stop)`` the
    cost of the coarse network approximating the block ``start..stop-1`` (a Parareal
    ResNet's ``F^{j-1}`` is shaped like subnetwork ``j``): the objective is the virtual
    wall-clock of the parallel subnetworks and the sequential coarse chain, which
    :func:`balanced_partition` (``max_j c(B_j)`` alone) does not see. The minimum is exact
    over all partitions into non-empty contiguous blocks (property-tested against
    exhaustive search). Method: every candidate value ``M`` of the largest block, from the
    min-max optimum up, gets the least coarse sum of partitions whose blocks cost at most
    ``M`` (dynamic programming over block ends, ``O(N U^2)`` per ``M``); the scan stops once
    ``M`` plus the least coarse sum of any admissible partition cannot beat the best found.
    ``coarse_cost`` is called only for blocks no costlier than the min-max partition's
    objective (no costlier block can be in an optimal partition). Ties keep
    :func:`balanced_partition`'s partition, else the smallest largest block.

    Parameters
    ----------
    costs : sequence of float
        Finite, nonnegative cost of each layer, at least ``num_parts`` of them.
    num_parts : int
        ``N >= 1``.
    coarse_cost : callable
        ``coarse_cost(start, stop) -> float``, finite and nonnegative.

    Returns
    -------
    list of range
        ``N`` non-empty ranges that tile ``0..len(costs)-1`` in order.

    Examples
    --------
    A coarse network of two layers shaped like its block (of their mean cost) is dear in
    front of a short block of expensive layers; the min-max split puts one there:

    >>> from parareal_toolkit.nn import balanced_partition, virtual_time_partition
    >>> costs = [3.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    >>> def coarse(a, b):
    ...     return 2 * sum(costs[a:b]) / (b - a)
    >>> balanced_partition(costs, 3)  # max 5, coarse 10/3 + 2: 31/3
    [range(0, 1), range(1, 4), range(4, 8)]
    >>> virtual_time_partition(costs, 3, coarse)  # max 6, coarse 2 + 2: 10
    [range(0, 2), range(2, 3), range(3, 8)]
    """
    values, num_parts = _checked_costs(costs, num_parts)
    check_callable(coarse_cost, "coarse_cost")
    count = len(values)
    if num_parts == 1:
        return [range(count)]
    prefix = np.concatenate([[0.0], np.cumsum(values)])
    block = prefix[None, :] - prefix[:, None]  # block[a, b] = c(a..b-1) for a < b
    order = np.arange(count + 1)
    proper = order[:, None] < order[None, :]

    def objective(ranges: Sequence[range]) -> float:
        largest = max(math.fsum(values[r.start : r.stop]) for r in ranges)
        return largest + math.fsum(_coarse(r.start, r.stop) for r in ranges[1:])

    def _coarse(start: int, stop: int) -> float:
        cost = coarse_cost(start, stop)
        if isinstance(cost, bool) or not isinstance(cost, (int, float, np.floating, np.integer)):
            raise InputTypeError(
                f"`coarse_cost` must return a number; got {type(cost).__name__} for ({start}, {stop})."
            )
        if not math.isfinite(cost) or cost < 0:
            raise InputError(f"`coarse_cost` must be finite and nonnegative; got {cost!r} for ({start}, {stop}).")
        return float(cost)

    minmax = balanced_partition(values.tolist(), num_parts)
    upper = objective(minmax)
    # blocks costlier than the min-max objective can be in no optimal partition (F >= 0);
    # the slack absorbs the rounding between fsum and the prefix differences
    slack = 1e-12 * max(upper, 1.0) * count
    usable = proper & (block <= upper + slack)
    coarse = np.full(block.shape, np.inf)
    for a, b in zip(*np.nonzero(usable)):
        if a > 0:  # the first block has no coarse network
            coarse[a, b] = _coarse(int(a), int(b))
    coarse[0, :] = 0.0
    floor, _ = _least_coarse_sum(block, coarse, usable, num_parts)
    best_value, best_cuts = upper, [r.start for r in minmax[1:]]
    largest_minmax = max(block[r.start, r.stop] for r in minmax)
    for bound in np.unique(block[usable & (block >= largest_minmax - slack)]):
        if bound + floor >= best_value:
            break
        total, choices = _least_coarse_sum(block, coarse, usable & (block <= bound), num_parts)
        if bound + total < best_value:
            cuts, end = [], count
            for start in reversed(choices):
                end = int(start[end])
                cuts.append(end)
            best_value, best_cuts = bound + total, cuts[::-1]
    bounds = [0, *best_cuts, count]
    return [range(a, b) for a, b in zip(bounds, bounds[1:])]
