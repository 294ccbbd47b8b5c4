"""The table of ``parareal models``: parameters and units of ResNet-``depth`` and its Parareal ResNet-N.

Counted from the unit shapes (:mod:`parareal_toolkit.plans.units`), never built: constant
time per row at any depth for the seed's split, ``O(N)`` for a cost split.
"""

from __future__ import annotations

from .._names import SPLIT_NAMES
from .._validation import check_choice, check_int, check_ints
from ..errors import InputError
from .coarse import SEED_COARSE_BUDGET
from .costs import UnitCosts, cost_table, plan_shapes
from .splits import SPLITS
from .units import STEM_CHANNELS, ceil_div, num_units, runs_parameters, stage_unit_specs, trunk_runs

__all__ = ["parareal_resnet_table"]


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
    strategy = SPLITS[check_choice(split, "split", SPLIT_NAMES)]
    if coarse_units is not None and values and all(n == 1 for n in values):
        raise InputError(
            f"`coarse_units` applies only to N >= 2 (Parareal ResNet-1 has no coarse network); got coarse_units="
            f"{coarse_units!r} with subnetworks {values}."
        )
    table = cost_table(plan_shapes(depth), unit_costs)
    stages = stage_unit_specs(depth)
    stem_parameters = 3 * STEM_CHANNELS * 9
    last = stages[-1][1]
    head_parameters = 2 * last.out_channels + (last.out_channels + 1) * num_classes
    trunk_parameters = runs_parameters(trunk_runs(stages, total // 3, 0, total))
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
        n = strategy.check_num_subnetworks(n, total)
        budget = ceil_div(SEED_COARSE_BUDGET, n) if coarse_units is None else coarse_units
        budget = check_int(budget, "coarse_units", minimum=1)
        counts = strategy.parameter_counts(depth, n, budget, table)
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
    return rows
