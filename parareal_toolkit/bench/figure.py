"""Table 2 as a figure: stacked bars of the virtual time per N, beside the paper's, and the speedups."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..plans.plan import parareal_resnet_plan
from ..plans.splits import SPLITS
from .reference import SEED_DEPTH, SEED_TABLE2, seed_speedup
from .table import Table2

__all__ = ["plot_table2"]

# (NetworkTiming attribute, legend label), bottom to top
_PARTS = (
    ("preprocess_max", "Preprocessing (max over j)"),
    ("subnetworks_max", "Parallel subnetworks (max over j)"),
    ("coarse", "Coarse network (chain)"),
    ("postprocess", "Postprocessing + loss"),
)


def _stacked_bars(ax: Any, ns: Sequence[int], parts: dict[str, list[float | None]], title: str) -> None:
    import numpy as np

    positions = np.arange(len(ns))
    bottom = np.zeros(len(ns))
    for key, label in _PARTS:
        values = np.array([v or 0.0 for v in parts[key]], dtype=float)
        ax.bar(positions, values, bottom=bottom, label=label)
        bottom += values
    for position, total in zip(positions, bottom):
        ax.annotate(f"{total:.3g}", (position, total), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(positions, [str(n) for n in ns])
    ax.set_xlabel("N (subnetworks)")
    ax.set_ylabel("seconds per gradient iteration (virtual)")
    ax.set_title(title, fontsize=9)


def plot_table2(table: Table2, path: str | os.PathLike[str] | None = None, *, compare_seed: bool = True) -> Any:
    """Stacked bars of the virtual time per N (as in the seed's Table 2) and the speedups.

    Panels: this run; the paper's Titan RTX numbers (``compare_seed``); speedup against N
    with this run's bound (unit-count for the seed's split, cost-count for a cost split), this
    run and the paper. Saves to ``path`` if given (and then
    closes the figure).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ns = [row.num_subnetworks for row in table.rows]
    panels = 3 if compare_seed else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.4), constrained_layout=True)
    settings = table.settings
    ours: dict[str, list[float | None]] = {key: [getattr(row, key) for row in table.rows] for key, _ in _PARTS}
    _stacked_bars(
        axes[0],
        ns,
        ours,
        f"this run: {settings.get('model', '')}, batch {settings.get('batch_size', '?')}\n"
        f"{settings.get('device_name', '')}, clock: {settings.get('clock', '?')}",
    )
    axes[0].legend(fontsize=7)
    speed_ax = axes[-1]
    if compare_seed:
        seed_ns = sorted(SEED_TABLE2)
        seed: dict[str, list[float | None]] = {
            "preprocess_max": [SEED_TABLE2[n]["preprocess"] for n in seed_ns],
            "subnetworks_max": [SEED_TABLE2[n]["subnetworks"] for n in seed_ns],
            "coarse": [SEED_TABLE2[n]["coarse"] for n in seed_ns],
            "postprocess": [SEED_TABLE2[n]["postprocess"] for n in seed_ns],
        }
        _stacked_bars(axes[1], seed_ns, seed, "paper (Lee, Park & Lee, Table 2):\nResNet-1001, batch 128, Titan RTX")
        speed_ax.plot(seed_ns, [seed_speedup(n) for n in seed_ns], "s--", label="paper, virtual (Titan RTX)")
        bounds_1001 = [parareal_resnet_plan(SEED_DEPTH, num_subnetworks=n).unit_count_bound for n in seed_ns]
        speed_ax.plot(seed_ns, bounds_1001, ":", color="gray", label="unit-count bound, ResNet-1001")
    speed_ax.plot(ns, [table.speedup(row) for row in table.rows], "o-", label="this run, virtual")
    bounds = [row.bound for row in table.rows]
    if all(b is not None for b in bounds):
        kind = SPLITS[settings.get("split", "units")].bound_label
        speed_ax.plot(ns, bounds, "x-", label=f"{kind} bound, depth {settings.get('depth', '?')}")
    wall = [table.wall_clock_speedup(row) for row in table.rows]
    if all(w is not None for w in wall):
        speed_ax.plot(ns, wall, "^-", label=f"this run, real wall-clock ({settings.get('backend')})")
    speed_ax.set_xlabel("N (subnetworks)")
    speed_ax.set_ylabel("speedup against N = 1")
    speed_ax.grid(True, alpha=0.3)
    speed_ax.legend(fontsize=7)
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
