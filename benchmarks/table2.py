"""The seed's Table 2: virtual speedup of Parareal ResNet-N against its unit-count bound.

For each N, every part of the network (preprocessing, subnetworks, coarse chain,
postprocessing) is timed forward+backward on its own (``parareal_toolkit.bench``), the
virtual wall-clock ``max pre + max subnetwork + coarse chain + post`` gives the speedup
against N = 1, and the ratio ``speedup / bound`` says how close the measured speedup comes
to the ideal ``units / (largest subnetwork + coarse units along the chain)``. Goal (issue 5,
on a GPU at depth 1001, batch 128): at least 90% of the bound at every N, beating the seed's
6.28x at N = 18.

On a CPU only the ratios mean anything (the absolute times and the launch-overhead regime
differ from a GPU's); label such runs with ``--machine``.

    python benchmarks/table2.py --machine "2-core CPU dev box" --json benchmarks/results/table2_cpu.json
    python benchmarks/table2.py --device cuda --depth 1001 --batch-size 128 --machine "NVIDIA H100" \\
        --json benchmarks/results/table2_h100.json --plot benchmarks/results/table2_h100.png
"""

import argparse
import os
import shlex
import sys

import torch

from parareal_toolkit.bench import CLOCKS, SEED_TABLE2, format_table2, plot_table2, table2
from parareal_toolkit.bench.formatting import table2_results_tables
from parareal_toolkit.bench.reference import SEED_DEPTH, seed_speedup
from parareal_toolkit.nn import parareal_resnet_plan
from parareal_toolkit.results import results_record, write_results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", required=True, help="label of the machine, stored in the JSON")
    parser.add_argument("--depth", type=int, default=218)
    parser.add_argument("--subnetworks", "-N", type=int, nargs="+", default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="serial")
    parser.add_argument("--compile-coarse", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the CPU box is shared)")
    parser.add_argument(
        "--clock",
        choices=CLOCKS,
        default="process",
        help="CPU parts: process CPU time (default; exact with one thread, immune to other "
        "processes on a shared box) or perf_counter",
    )
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "table2_cpu.json"))
    parser.add_argument("--plot", default=None)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    table = table2(
        args.subnetworks,
        depth=args.depth,
        batch_size=args.batch_size,
        device=args.device,
        repeats=args.repeats,
        warmup=args.warmup,
        backend=args.backend,
        compile_coarse=args.compile_coarse,
        clock=args.clock,
        progress=lambda n: print(f"N = {n} ...", file=sys.stderr, flush=True),
    )
    print(format_table2(table))
    print()
    print(f"{'N':>3}  {'speedup':>8}  {'bound':>6}  {'speedup/bound':>13}  {'paper speedup/bound (ResNet-1001)':>34}")
    for row in table.rows:
        speedup = table.speedup(row)
        paper = "-"
        if row.num_subnetworks in SEED_TABLE2:
            seed_bound = parareal_resnet_plan(SEED_DEPTH, num_subnetworks=row.num_subnetworks).unit_count_bound
            paper = f"{seed_speedup(row.num_subnetworks) / seed_bound:.0%}"
        bound = row.bound
        assert bound is not None  # table2() times Parareal ResNets only, whose plans give the bound
        print(f"{row.num_subnetworks:>3}  {speedup:>7.2f}x  {bound:>6.2f}  {speedup / bound:>13.0%}  {paper:>34}")

    data = table.as_dict()
    command = " ".join(["python", "benchmarks/table2.py", *map(shlex.quote, sys.argv[1:])])
    payload = results_record(
        "table2", command, machine=args.machine, threads=args.threads, **data, tables=table2_results_tables(data)
    )
    write_results(args.json, payload)
    print(f"written {args.json}")
    if args.plot is not None:
        plot_table2(table, args.plot)
        print(f"written {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
