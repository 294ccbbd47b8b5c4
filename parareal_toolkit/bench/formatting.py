"""Table 2 as text: the seed's columns, the speedups, the unit-count bound and the paper's speedup."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..plans.plan import parareal_resnet_plan
from ..plans.splits import SPLITS
from ..results import results_table
from .reference import SEED_DEPTH, SEED_TABLE2, seed_speedup
from .table import Table2

__all__ = ["format_table2", "table2_results_tables"]

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
        f"split: {s.get('split', 'units')} (bound: {SPLITS[s.get('split', 'units')].bound_description}"
        + f"); max/mean cost: largest subnetwork over the mean, costs: {s.get('cost_model', '?')}; "
        "memory x N: N times the largest device's saved-for-backward bytes over the sequential network's (1 = even)"
    )
    return "\n".join([title, *_aligned(lines), *notes])


def _seed_bound(num_subnetworks: int) -> float:
    return parareal_resnet_plan(SEED_DEPTH, num_subnetworks=num_subnetworks).unit_count_bound


def table2_results_tables(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``tables`` of a Table 2 results file, from :meth:`Table2.as_dict` (or its JSON).

    Two tables, every cell formatted here and nowhere else: ``ratios`` puts the measured
    virtual speedup ``T_virtual(1) / T_virtual(N)`` and its share of the unit-count bound
    beside the paper's speedup and share at the same N (ResNet-1001 on a Titan RTX, from
    :data:`SEED_TABLE2`); ``parts`` gives the median seconds of each part. Only ratios
    compare across machines.

    Parameters
    ----------
    data : mapping
        The dict :meth:`Table2.as_dict` returns (``model``, ``rows`` with ``speedup``,
        ``bound``, ``fraction_of_bound`` and the parts' times), as stored in the JSON file.

    Returns
    -------
    dict
        ``{"ratios": table, "parts": table}``, each a
        :func:`~parareal_toolkit.results.results_table`.
    """
    model = data.get("model", "parareal network")
    ratios, parts = [], []
    for row in data["rows"]:
        n = row["num_subnetworks"]
        bound, fraction = row.get("bound"), row.get("fraction_of_bound")
        in_paper = n in SEED_TABLE2
        paper = seed_speedup(n) if in_paper else None
        paper_bound = _seed_bound(n) if in_paper else None
        ratios.append(
            [
                str(n),
                f"{row['speedup']:.2f}x",
                _cell(bound, ".2f"),
                "-" if fraction is None else f"{fraction:.0%}",
                "-" if paper is None else f"{paper:.2f}x",
                _cell(paper_bound, ".2f"),
                "-" if paper is None or paper_bound is None else f"{paper / paper_bound:.0%}",
            ]
        )
        parts.append(
            [
                str(n),
                str(max(row["subnetwork_units"])) if row.get("subnetwork_units") else "-",
                str(sum(row.get("coarse_units") or [])),
                f"{row['preprocess_max']:.5f}",
                f"{row['subnetworks_max']:.5f}",
                _cell(row.get("coarse"), ".5f"),
                f"{row['postprocess']:.5f}",
                f"{row['virtual_total']:.5f}",
            ]
        )
    return {
        "ratios": results_table(
            f"Virtual speedup against N = 1 and its share of the unit-count bound: {model} here, "
            f"ResNet-{SEED_DEPTH} in the paper (Titan RTX)",
            [
                "N",
                "speedup here",
                "bound here",
                "of bound here",
                "paper speedup",
                f"paper bound (ResNet-{SEED_DEPTH})",
                "paper of bound",
            ],
            ratios,
        ),
        "parts": results_table(
            f"{model}, batch {data.get('batch_size', '?')}: median forward+backward seconds of each part "
            f"({data.get('clock', '?')}); Total = pre max + subnetworks max + coarse + post",
            [
                "N",
                "units",
                "coarse units",
                "pre",
                "subnetworks (max)",
                "coarse",
                "post",
                "Total",
            ],
            parts,
        ),
    }
