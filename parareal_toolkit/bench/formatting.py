"""Table 2 as text: the seed's columns, the speedups, the unit-count bound and the paper's speedup."""

from __future__ import annotations

from collections.abc import Sequence

from .reference import SEED_TABLE2, seed_speedup
from .table import Table2

__all__ = ["format_table2"]

_HEADER = (
    "N",
    "units",
    "coarse",
    "Preprocessing",
    "Parallel subnetworks",
    "(sum)",
    "Coarse network",
    "Postprocessing",
    "Total",
    "speedup",
    "bound",
    "of bound",
    "max/mean cost",
    "memory x N",
    "wall-clock [{backend}]",
    "wall speedup",
    "paper speedup",
)


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _aligned(lines: Sequence[Sequence[str]]) -> list[str]:
    """Right-aligned columns, a rule under the header (the first line)."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = ["  ".join(cell.rjust(width) for cell, width in zip(line, widths)) for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    return text


def format_table2(table: Table2) -> str:
    """The table as text, columns as in the seed's Table 2 plus speedups and the bound.

    Times in seconds (medians); "paper" is the seed's virtual speedup on a Titan RTX for
    ResNet-1001 at the same N (only comparable in ratio, and only at depth 1001).

    Returns
    -------
    str
        A title line, the header, a rule, one line per N and notes on the columns.
    """
    backend = table.settings.get("backend") or "-"
    lines = [tuple(column.format(backend=backend) for column in _HEADER)]
    for row in table.rows:
        speedup = table.speedup(row)
        lines.append(
            (
                str(row.num_subnetworks),
                str(max(row.subnetwork_units)) if row.subnetwork_units else "-",
                str(sum(row.coarse_units)),
                f"{row.preprocess_max:.5f}",
                f"{row.subnetworks_max:.5f}",
                f"{row.subnetworks_sum:.5f}",
                _cell(row.coarse, ".5f"),
                f"{row.postprocess:.5f}",
                f"{row.virtual_total:.5f}",
                f"{speedup:.2f}x",
                _cell(row.bound, ".2f"),
                "-" if row.bound is None else f"{speedup / row.bound:.0%}",
                _cell(row.cost_imbalance, ".3f"),
                _cell(
                    None if (memory := table.memory_per_device(row)) is None else memory * row.num_subnetworks, ".2f"
                ),
                _cell(row.wall_clock, ".5f"),
                _cell(table.wall_clock_speedup(row), ".2f"),
                f"{seed_speedup(row.num_subnetworks):.2f}x" if row.num_subnetworks in SEED_TABLE2 else "-",
            )
        )
    s = table.settings
    title = (
        f"{s.get('model', 'parareal network')}, batch {s.get('batch_size', '?')}, {s.get('device_name', '')}: "
        f"forward+backward seconds ({s.get('clock', '?')}), median of {s.get('repeats', '?')} after "
        f"{s.get('warmup', '?')} warm-up" + (", coarse chain compiled" if s.get("compile_coarse") else "")
    )
    notes = []
    if table.skipped:
        notes.append(
            f"skipped N = {', '.join(map(str, table.skipped))}: too many subnetworks for the units of this depth"
        )
    notes.append(
        "units: largest subnetwork; coarse: units along the coarse chain; Total = pre max + subnetworks max + coarse + post"
    )
    notes.append(
        f"split: {s.get('split', 'units')} (bound: "
        + ("cost-count bound sum c(g) / (max c(g) + sum c(F))" if s.get("split") == "cost" else "unit-count bound")
        + f"); max/mean cost: largest subnetwork over the mean, costs: {s.get('cost_model', '?')}; "
        "memory x N: N times the largest device's saved-for-backward bytes over the sequential network's (1 = even)"
    )
    return "\n".join([title, *_aligned(lines), *notes])
