"""Parareal ResNet plans without torch: unit shapes, splits, cost model, parameter table, memory.

Where every residual unit of a Parareal ResNet-N goes, what the parts cost and hold, counted
from the unit shapes in constant (or ``O(N)``) time at any depth; importing this package
imports neither torch nor :mod:`parareal_toolkit.nn`. :mod:`parareal_toolkit.nn` builds the
networks and re-exports the public names (``parareal_toolkit.nn.parareal_resnet_plan``,
...), which is where users find them.
"""

from __future__ import annotations

from .coarse import SEED_COARSE_BUDGET
from .costs import UnitCosts
from .layer_parallel import layer_parallel_speedup_table, layer_parallel_step_cost, mgrit_block_work, stage_split
from .memory import TrunkMemory, trunk_memory
from .partition import balanced_partition, virtual_time_partition
from .plan import PararealResNetPlan, parareal_resnet_plan, unit_count_bound
from .splits import SPLITS, Split
from .table import parareal_resnet_table
from .units import UnitSpec, resnet_unit_specs, stage_unit_specs, unit_multiply_adds, unit_parameters

__all__ = [
    "SEED_COARSE_BUDGET",
    "SPLITS",
    "Split",
    "UnitCosts",
    "UnitSpec",
    "PararealResNetPlan",
    "parareal_resnet_plan",
    "parareal_resnet_table",
    "unit_count_bound",
    "unit_multiply_adds",
    "unit_parameters",
    "stage_unit_specs",
    "resnet_unit_specs",
    "balanced_partition",
    "virtual_time_partition",
    "TrunkMemory",
    "trunk_memory",
    "stage_split",
    "mgrit_block_work",
    "layer_parallel_step_cost",
    "layer_parallel_speedup_table",
]
