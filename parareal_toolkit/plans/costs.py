"""What a unit costs: one checked ``(shape, cost)`` per distinct unit shape of a plan.

A cost is any finite nonnegative number per :class:`~parareal_toolkit.nn.UnitSpec`:
counted multiply-adds (the default, :func:`~parareal_toolkit.nn.unit_multiply_adds`) or
measured seconds (:func:`~parareal_toolkit.bench.measure_unit_costs`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping

from ..errors import InputError, InputTypeError
from .units import UnitSpec, stage_unit_specs, unit_multiply_adds

__all__ = ["UnitCosts", "CostTable", "cost_table", "plan_shapes"]

UnitCosts = Mapping[UnitSpec, float] | Callable[[UnitSpec], float]
# one (shape, cost) per distinct unit shape, in first-seen order
CostTable = tuple[tuple[UnitSpec, float], ...]


def cost_table(shapes: Iterable[UnitSpec], unit_costs: UnitCosts | None) -> CostTable:
    """One checked ``(shape, cost)`` per distinct shape in ``shapes``.

    Returns
    -------
    tuple of (UnitSpec, float)
        ``unit_costs`` (default :func:`unit_multiply_adds`) of each distinct shape.
    """
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


def plan_shapes(depth: int) -> list[UnitSpec]:
    """Every unit shape a plan of ResNet-``depth`` can hold: the trunk's and the coarse networks'.

    Returns
    -------
    list of UnitSpec
        The six shapes: each stage's first and plain unit.
    """
    # a coarse network's units have the shapes of its target's units or of the plain units of
    # the stage before (see coarse_specs), so the stages' first and plain shapes cover them all
    return [spec for pair in stage_unit_specs(depth) for spec in pair]
