"""``parareal verify``: check Proposition 1 on random configurations and print a table.

Only the standard library is imported at the top; torch is imported inside :func:`run`.
Exit status: 0 when every case expected to hold holds, 1 when one does not, 2 for bad options.
"""

from __future__ import annotations

import argparse

from .._names import VERIFY_CASES
from ._common import CliError, Progress, check_output_path, format_table, write_json
from ._options import Option, number, other

HELP = "check Proposition 1 (parareal network = sequential network) on random configurations"

MAX_EXAMPLES = 100_000
_SECONDS_PER_EXAMPLE = 2.5e-3  # measured on the 2-core development machine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--examples",
        type=int,
        default=20,
        metavar="N",
        help=f"random configurations per case (default 20, at most {MAX_EXAMPLES:,})",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument(
        "--rtol",
        type=float,
        default=1e-10,
        help="relative gap max|f~ - f| / max(|f|, |f~|) at or below which an example holds (default 1e-10)",
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=VERIFY_CASES,
        dest="cases",
        help="run only this case (repeatable; default: all)",
    )
    parser.add_argument("--details", action="store_true", help="one row per configuration")
    parser.add_argument(
        "--json", metavar="FILE", help="also write every measurement to FILE as JSON (overwritten if it exists)"
    )


# every option's domain and where it applies (checked by parareal_toolkit.cli.main before run)
OPTIONS: dict[str, Option] = {
    "examples": number(integer=True, cost=True, checked_by="run (1 to MAX_EXAMPLES)"),
    "seed": number(integer=True, checked_by="run (non-negative)"),
    # positive: run; below 1: here (a tolerance below float64's rounding is allowed: it makes the check fail, exit 1)
    "rtol": number(
        high=1,
        high_open=True,
        finite=False,
        why="the relative gap of any two numbers is at most 2, so rtol >= 1 passes (almost) every example",
    ),
    "cases": other("choice"),
    "details": other("flag"),
    "json": other("output"),
}


SUMMARY_HEADER = ("case", "configuration", "expected", "max |f~ - f|", "max relative", "holds?")


def summary_cells(result) -> tuple[str, ...]:
    """The printed summary of one case's :class:`~parareal_toolkit.verification.proposition1.CaseResult` (also in the docs).

    Returns
    -------
    tuple of str
        The cells under :data:`SUMMARY_HEADER`.
    """
    expected = "holds" if result.case.expected_to_hold else "fails"
    n = len(result.examples)
    verdict = f"yes ({n}/{n})" if result.holds else f"no ({result.violations}/{n} violate)"
    gap = max(e.max_abs_gap for e in result.examples)
    return (
        result.case.name,
        result.case.description,
        expected,
        f"{gap:.3e}",
        f"{result.worst.relative_gap:.3e}",
        verdict,
    )


def run(args: argparse.Namespace) -> int:
    """Check Proposition 1 as the options say and print the table (and write ``--json``).

    Returns
    -------
    int
        The exit status: 0 when every case behaves as expected, 1 when a case expected to
        hold does not.
    """
    from .._validation import check_int, check_real

    check_int(args.examples, "--examples", minimum=1)
    if args.examples > MAX_EXAMPLES:
        raise CliError(
            f"`--examples` must be at most {MAX_EXAMPLES} (about {_SECONDS_PER_EXAMPLE * MAX_EXAMPLES / 60:.0f} "
            f"minutes per case here); got {args.examples}."
        )
    check_int(args.seed, "--seed", minimum=0)
    check_real(args.rtol, "--rtol", minimum=0, strict=True)
    check_output_path("--json", args.json)

    from ..verification.proposition1 import verify_proposition1

    cases = tuple(dict.fromkeys(args.cases)) if args.cases else None
    total = args.examples * (len(cases) if cases else len(VERIFY_CASES))
    with Progress(total, "parareal verify", unit="examples") as bar:
        results = verify_proposition1(
            examples=args.examples, seed=args.seed, rtol=args.rtol, cases=cases, progress=bar.update
        )

    rows: list[tuple[str, ...]] = [SUMMARY_HEADER]
    for r in results:
        rows.append(summary_cells(r))
        if args.details:
            for e in r.examples:
                rows.append(
                    (
                        "",
                        "  " + e.spec.describe(),
                        "",
                        f"{e.max_abs_gap:.3e}",
                        f"{e.relative_gap:.3e}",
                        "yes" if e.holds else "no",
                    )
                )
    print(
        f"Proposition 1: f~ = f to relative {args.rtol:g}, {args.examples} random float64 "
        f"configurations per case, seed {args.seed}"
    )
    print(format_table(rows))
    failed = [r.case.name for r in results if r.case.expected_to_hold and not r.holds]
    unexpected = [r.case.name for r in results if not r.case.expected_to_hold and r.holds]
    for r in results:
        if not r.holds:
            print(f"largest violation in {r.case.name}: {r.worst.spec.describe()}")
    if unexpected:
        print(f"note: no violation found in {', '.join(unexpected)} (expected to fail); try more --examples")
    if args.json:
        payload = {
            "rtol": args.rtol,
            "examples": args.examples,
            "seed": args.seed,
            "ok": not failed,
            "cases": [r.to_dict() for r in results],
        }
        write_json("--json", args.json, payload)
    if failed:
        print(f"FAILED: Proposition 1 does not hold in {', '.join(failed)}")
        return 1
    return 0
