"""LayerPipe's claims settled: the LayerPipe/PipeDream speedup under three readings.

For VGG-16 (224x224 and 32x32 input), ResNet-18/34/50 and P = 2..16 (free communication,
MACs counted from the real layer shapes): (a) the faithful placement run as its
rate-optimal static periodic schedule (MILP), (b) every layer the same time, (c) the
utilisation bound for any placement, (d) total/P against equal-count PipeDream stages; then
the paper's 1.25 average and 1.8 at P = 7..9 against them (``parareal_toolkit.layerpipe.claims``).

Writes ``benchmarks/results/layerpipe_claims.json`` (the tables) and
``benchmarks/certificates/layerpipe_claims_schedules.json`` (every periodic schedule as a
certificate: period and start offsets). ``--reuse`` checks the stored certificates instead
of solving the MILPs again (what the test does); without it every schedule is solved.
Deterministic: no time is measured, every number is a count of multiply-adds.
"""

import argparse
import json
from pathlib import Path

from parareal_toolkit.layerpipe.claims import claims_rows, claims_schedules, claims_tables
from parareal_toolkit.results import results_record, write_results

RESULTS = Path(__file__).parent / "results"
TABLES = RESULTS / "layerpipe_claims.json"
SCHEDULES = Path(__file__).parent / "certificates" / "layerpipe_claims_schedules.json"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="check the stored schedules instead of solving")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per MILP solve (default 300)")
    args = parser.parse_args(argv)
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
    write_results(TABLES, results_record("layerpipe_claims", command, rows=raw, tables=tables))
    write_results(
        SCHEDULES, results_record("layerpipe_claims_schedules", command, schedules=claims_schedules(rows), tables={})
    )


if __name__ == "__main__":
    main()
