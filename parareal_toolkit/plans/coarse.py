"""The coarse networks of a Parareal ResNet: ``F^j``, shaped like the subnetwork it approximates.

``F^j ≈ g^{j+1}`` has ``N_c`` units (the seed paper's ``ceil(12 / N)``) with ``g^{j+1}``'s
input and output shape. When ``g^{j+1}`` spans a stage boundary, ``F^j`` contains the same
shape-changing unit(s) in the same order, and its plain units are shared among the stage
segments of ``g^{j+1}`` in proportion to their lengths (largest remainder, earlier segment
first on ties); ``N_c`` is raised to the number of shape-changing units if it is smaller.
"""

from __future__ import annotations

from .units import Run, UnitSpec

__all__ = ["SEED_COARSE_BUDGET", "coarse_specs", "coarse_runs"]

SEED_COARSE_BUDGET = 12  # the seed paper's N_c = ceil(12 / N)


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


def coarse_specs(target: list[UnitSpec], budget: int) -> tuple[UnitSpec, ...]:
    """``budget`` units with ``target``'s input-to-output shape (see the module docstring).

    Returns
    -------
    tuple of UnitSpec
        The coarse network's units, in order.
    """
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


def coarse_runs(target: list[Run], budget: int) -> list[Run]:
    """:func:`coarse_specs` of the units ``target`` (given as runs), as runs: no unit listed.

    Returns
    -------
    list of (UnitSpec, int)
        The coarse network's units as runs of equal shapes, in order.
    """
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
    runs: list[Run] = [(UnitSpec(first.in_channels, first.in_channels, 1, first.resolution), shares[0])]
    for k, (_, spec) in enumerate(changing, start=1):
        runs.append((spec, 1))
        runs.append((UnitSpec(spec.out_channels, spec.out_channels, 1, spec.out_resolution), shares[k]))
    return [(spec, count) for spec, count in runs if count]
