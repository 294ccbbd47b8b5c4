"""``parareal models``: parameters and units of ResNet and Parareal ResNet-N, per N."""

from __future__ import annotations

import argparse
import json

from .._names import SPLIT_NAMES
from ._common import format_table, positive_int
from ._options import Option, number, other

HELP = "table of parameters and residual units of ResNet-DEPTH and Parareal ResNet-N"

# The counts are arithmetic (no module is built), instant at any depth; past a billion
# residual units (about 3.5e13 parameters) a depth describes no network anyone can hold.
MAX_DEPTH = 9 * 333_333_333 + 2

_HEADER = ("N", "units/subnet", "coarse units", "parameters", "largest subnet", "coarse total", "preprocess")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--depth", type=int, default=1001, help=f"9n+2 (default 1001, at most {MAX_DEPTH:,}: a billion residual units)"
    )
    parser.add_argument("--num-classes", type=positive_int, default=10)
    parser.add_argument("--subnetworks", "-N", type=int, nargs="+", default=[1, 3, 6, 12, 18, 24])
    parser.add_argument("--coarse-units", type=int, default=None, help="default ceil(12/N)")
    parser.add_argument(
        "--split",
        choices=SPLIT_NAMES,
        default="units",
        help="ceil(U/N) units per subnetwork (units, the seed's; default) or balanced counted multiply-adds (cost)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")


_BY_TABLE = "parareal_toolkit.plans.table.parareal_resnet_table"

# every option's domain and where it applies (checked by parareal_toolkit.cli.main before run)
OPTIONS: dict[str, Option] = {
    "depth": number(integer=True, checked_by=_BY_TABLE),
    "num_classes": number(1, integer=True),
    "subnetworks": number(integer=True, checked_by=_BY_TABLE),
    "coarse_units": number(integer=True, checked_by=_BY_TABLE),
    "split": other("choice"),
    "json": other("flag"),
}


def model_cells(rows: list[dict]) -> list[tuple[str, ...]]:
    """The printed cells of the rows of ``parareal_resnet_table`` (also shown in the docs).

    Returns
    -------
    list of tuple of str
        One tuple per row, in the order of the table's header.
    """
    return [
        (
            "ResNet" if r["num_subnetworks"] is None else str(r["num_subnetworks"]),
            str(r["units_per_subnetwork"]),
            str(r["coarse_units"]),
            f"{r['parameters']:,}",
            f"{r['largest_subnetwork_parameters']:,}",
            f"{r['coarse_parameters']:,}",
            f"{r['preprocess_parameters']:,}",
        )
        for r in rows
    ]


def run(args: argparse.Namespace) -> int:
    """Print the table (or its rows as JSON with ``--json``); counted, not built, so instant at any depth.

    Returns
    -------
    int
        The exit status, 0.
    """
    from .._validation import check_int
    from ..plans.splits import SPLITS
    from ..plans.table import parareal_resnet_table  # torch-free: counted, never built

    check_int(args.depth, "--depth", maximum=MAX_DEPTH)
    rows = parareal_resnet_table(
        args.depth, args.subnetworks, num_classes=args.num_classes, coarse_units=args.coarse_units, split=args.split
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    note = SPLITS[args.split].table_note
    print(f"ResNet-{args.depth}, {args.num_classes} classes (trainable parameters)" + (f", {note}" if note else ""))
    print(format_table([_HEADER, *model_cells(rows)], align="right"))
    return 0
