"""LayerPipe's claims settled: the LayerPipe/PipeDream speedup under three readings.

For VGG-16 (224x224 and 32x32 input), ResNet-18/34/50 and P = 2..16 (free communication,
MACs counted from the real layer shapes): (a) the faithful placement run as its
rate-optimal static periodic schedule (MILP), (b) every layer the same time, (c) the
utilisation bound for any placement, (d) total/P against equal-count PipeDream stages; then
the paper's 1.25 average and 1.8 at P = 7..9 against them (``parareal_toolkit.layerpipe.claims``).

With ``--update-results`` writes ``benchmarks/results/layerpipe_claims.json`` (the tables) and
``benchmarks/certificates/layerpipe_claims_schedules.json`` (every periodic schedule as a
certificate: period and start offsets). ``--reuse`` checks the stored certificates instead
of solving the MILPs again (what the test does); without it every schedule is solved.
Deterministic: no time is measured, every number is a count of multiply-adds.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from parareal_toolkit.layerpipe.claims import claims_rows, claims_schedules, claims_tables
from parareal_toolkit.results import results_record, write_results

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path

# the committed certificates that --reuse checks (read only; written only with --update-results)
SCHEDULES = Path(__file__).parent / "certificates" / "layerpipe_claims_schedules.json"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="check the stored schedules instead of solving")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per MILP solve (default 300)")
    add_output_options(parser)
    args = parser.parse_args(argv)
    tables_path = output_path(parser, args, "layerpipe_claims.json")
    schedules_path = output_path(parser, args, SCHEDULES.name, committed=SCHEDULES.parent)
    stored = json.loads(SCHEDULES.read_text())["schedules"] if args.reuse else None
    rows = claims_rows(stored, time_limit=args.time_limit)
    tables = claims_tables(rows)
    for table in tables.values():
        print(table["title"])
        print(" | ".join(table["columns"]))
        for row in table["rows"]:
            print(" | ".join(row))
        print()
    raw = [{k: v for k, v in r.items() if k != "plan"} for r in rows]
    command = "python benchmarks/layerpipe_claims.py"
    write_results(tables_path, results_record("layerpipe_claims", command, rows=raw, tables=tables))
    write_results(
        schedules_path,
        results_record("layerpipe_claims_schedules", command, schedules=claims_schedules(rows), tables={}),
    )
    finish(args, tables_path, schedules_path)


if __name__ == "__main__":
    main()
