"""The seed's Table 2 for both splits: virtual speedup, cost balance and activation memory per device.

For each N, every part of the network (preprocessing, subnetworks, coarse chain,
postprocessing) is timed forward+backward on its own (``parareal_toolkit.bench``), the
virtual wall-clock ``max pre + max subnetwork + coarse chain + post`` gives the speedup
against N = 1, and ``speedup / bound`` says how close it comes to the ideal. Two splits of
the residual units are timed:

* ``units`` (the seed's): ``ceil(U/N)`` units per subnetwork; bound: the unit-count bound
  ``U / (max u(g^j) + sum u(F^j))``;
* ``cost``: the contiguous split with the cheapest most expensive subnetwork, by the
  forward+backward time of each unit shape, fitted by least squares to the subnetworks of
  the ``units`` split timed just before in this run (``fit_unit_costs_to_timings``: a
  subnetwork's time is the sum of its units' costs); bound: the cost-count bound
  ``sum c(g^j) / (max c(g^j) + sum c(F^j))`` with the same costs. (The ``units`` split is
  timed with costs measured apart, ``measure_unit_costs``, kept only in its settings.)

Both report the largest subnetwork's cost over the mean (by the fitted unit costs, and by
the subnetworks' measured times) and each device's activation memory (bytes saved for backward,
measured with ``torch.autograd.graph.saved_tensors_hooks``) against the sequential
network's. A third table compares, by the same unit costs and without timing, the min-max
split with the split of least virtual time ``max c(g^j) + sum c(F^j)``
(``objective="virtual"``). Goals (issue 13): cost within 10% of the mean, memory per
device within 1.2/N, fraction of the bound >= 90% at N = 3..24 on CPU.

On a CPU only the ratios mean anything; the JSON names the machine.

    python benchmarks/table2.py --update-results   # benchmarks/results/table2_cpu.json and .png
"""

import argparse
import os
import shlex
import sys

import torch

from parareal_toolkit.bench import CLOCKS, SEED_TABLE2, format_table2, plot_table2, table2
from parareal_toolkit.bench.formatting import table2_results_tables
from parareal_toolkit.bench.reference import SEED_DEPTH, seed_speedup
from parareal_toolkit.bench.unit_costs import fit_unit_costs_to_timings, measure_unit_costs
from parareal_toolkit.nn import parareal_resnet_plan

SPLIT_OBJECTIVES = ("largest", "virtual")  # the `objective` of parareal_resnet_plan
from parareal_toolkit.results import results_record, results_table, write_results

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path

SPLITS = ("units", "cost")


def _summary_rows(tables: dict, depth: int, unit_costs: dict) -> list[list[str]]:
    rows = []
    for split, table in tables.items():
        for row in table.rows:
            speedup = table.speedup(row)
            memory = table.memory_per_device(row)
            # both splits' balance by the same (fitted) costs
            plan = parareal_resnet_plan(depth, num_subnetworks=row.num_subnetworks, split=split, unit_costs=unit_costs)
            assert tuple(plan.units_per_subnetwork) == row.subnetwork_units
            rows.append(
                [
                    str(row.num_subnetworks),
                    split,
                    "+".join(map(str, row.subnetwork_units))
                    if len(set(row.subnetwork_units)) > 1
                    else str(row.subnetwork_units[0]),
                    f"{plan.cost_imbalance:.3f}",
                    f"{max(row.subnetworks) * len(row.subnetworks) / sum(row.subnetworks):.3f}",
                    "-" if memory is None else f"{memory * row.num_subnetworks:.2f}",
                    f"{speedup:.2f}",
                    f"{row.bound:.2f}",
                    f"{speedup / row.bound:.0%}",
                ]
            )
    return rows


def _objective_rows(depth: int, subnetworks: list[int], unit_costs: dict) -> list[list[str]]:
    """The cost split by each objective, evaluated with the unit costs (no timing)."""
    rows = []
    for n in subnetworks:
        for objective in SPLIT_OBJECTIVES:
            plan = parareal_resnet_plan(
                depth, num_subnetworks=n, split="cost", unit_costs=unit_costs, objective=objective
            )
            sizes = plan.units_per_subnetwork
            costs = plan.subnetwork_costs
            rows.append(
                [
                    str(n),
                    objective,
                    "+".join(map(str, sizes)) if len(set(sizes)) > 1 else str(sizes[0]),
                    f"{plan.cost_imbalance:.3f}",
                    f"{max(costs) / sum(costs):.3f}",
                    f"{sum(plan.coarse_costs) / sum(costs):.3f}",
                    f"{plan.cost_bound:.2f}",
                ]
            )
    return rows


def _seed_rows(table) -> list[list[str]]:
    rows = []
    for row in table.rows:
        speedup = table.speedup(row)
        rows.append(
            [
                str(row.num_subnetworks),
                f"{row.preprocess_max:.5f}",
                f"{row.subnetworks_max:.5f}",
                "-" if row.coarse is None else f"{row.coarse:.5f}",
                f"{row.postprocess:.5f}",
                f"{row.virtual_total:.5f}",
                f"{speedup:.2f}x",
                f"{seed_speedup(row.num_subnetworks):.2f}x" if row.num_subnetworks in SEED_TABLE2 else "-",
            ]
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", default=None, help="an extra label of the machine, stored in the JSON")
    parser.add_argument("--depth", type=int, default=218)
    parser.add_argument("--subnetworks", "-N", type=int, nargs="+", default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
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
    parser.add_argument("--json", default=None, help="the results file (default: table2_cpu.json in the output folder)")
    parser.add_argument(
        "--plot", default=None, help="figure of the cost split's table (with --update-results: the committed one)"
    )
    add_output_options(parser)
    args = parser.parse_args(argv)
    json_path = output_path(parser, args, "table2_cpu.json", explicit=args.json)
    figure = (
        output_path(parser, args, "table2_cpu.png", explicit=args.plot) if args.plot or args.update_results else None
    )

    torch.set_num_threads(args.threads)
    print("measuring the cost of each unit shape ...", file=sys.stderr, flush=True)
    unit_costs = measure_unit_costs(
        args.depth,
        batch_size=args.batch_size,
        device=args.device,
        repeats=args.repeats,
        warmup=max(args.warmup, 1),
        clock=args.clock,
    )
    tables = {}
    cost_source = "measured apart (measure_unit_costs)"
    for split in SPLITS:
        if split == "cost":
            # the costs of this run's own timed subnetworks (same code, same conditions)
            try:
                unit_costs = fit_unit_costs_to_timings(args.depth, tables["units"].rows)
                cost_source = "fitted to the units split's timed subnetworks"
            except ValueError as exc:  # too few subnetworks (few N) to determine every shape
                cost_source = "measured apart (measure_unit_costs)"
                print(f"unit costs kept from measure_unit_costs: {exc}", file=sys.stderr, flush=True)
            print(f"cost split: unit costs {cost_source}", file=sys.stderr, flush=True)
        tables[split] = table2(
            args.subnetworks,
            depth=args.depth,
            batch_size=args.batch_size,
            device=args.device,
            repeats=args.repeats,
            warmup=args.warmup,
            backend=args.backend,
            compile_coarse=args.compile_coarse,
            clock=args.clock,
            split=split,
            unit_costs=unit_costs,
            progress=lambda n, split=split: print(f"{split} split, N = {n} ...", file=sys.stderr, flush=True),
        )
        print(format_table2(tables[split]))
        print()

    print(
        f"{'N':>3}  {'split':>5}  {'speedup':>8}  {'bound':>6}  {'speedup/bound':>13}  {'paper speedup/unit bound':>25}"
    )
    for split, table in tables.items():
        for row in table.rows:
            speedup = table.speedup(row)
            paper = "-"
            if row.num_subnetworks in SEED_TABLE2:
                seed_bound = parareal_resnet_plan(SEED_DEPTH, num_subnetworks=row.num_subnetworks).unit_count_bound
                paper = f"{seed_speedup(row.num_subnetworks) / seed_bound:.0%}"
            print(
                f"{row.num_subnetworks:>3}  {split:>5}  {speedup:>7.2f}x  {row.bound:>6.2f}  "
                f"{speedup / row.bound:>13.0%}  {paper:>25}"
            )

    settings = tables["units"].settings
    # the seed split's raw table at the top level, as before ("device" is also results_record's GPU name)
    raw = tables["units"].as_dict()
    torch_device = raw.pop("device")
    summary_columns = [
        "N",
        "split",
        "units per subnetwork",
        "max/mean cost",
        "max/mean measured",
        "memory x N",
        "speedup",
        "bound",
        "of bound",
    ]
    seed_columns = [
        "N",
        "Preprocessing",
        "Parallel subnetworks",
        "Coarse network",
        "Postprocessing",
        "Total",
        "speedup",
        "paper speedup",
    ]
    what = f"Parareal ResNet-{args.depth}, batch {args.batch_size}, {settings['device_name']}, {settings['clock']}"
    record = results_record(
        "table2",
        "python "
        + " ".join(shlex.quote(a) for a in ["benchmarks/table2.py", *(sys.argv[1:] if argv is None else argv)]),
        device=settings["device_name"] if torch_device.startswith("cuda") else None,
        machine_label=args.machine,
        threads=args.threads,
        **raw,
        splits={split: table.as_dict() for split, table in tables.items()},
        cost_split_unit_costs=cost_source,
        tables={
            # the seed split beside the paper's ratios and its parts (the pages show these two)
            **table2_results_tables(tables["units"].as_dict()),
            "splits": results_table(
                f"{what}: both splits. max/mean cost: largest subnetwork's cost over the mean, by the unit costs "
                f"(forward+backward seconds per unit shape, {cost_source}); max/mean "
                "measured: the same by the subnetworks' measured times; memory x N: N times the largest device's saved-for-backward bytes over the sequential "
                "network's (1 = even, goal <= 1.2); bound: unit-count bound (units split) or cost-count bound "
                "sum c(g)/(max c(g) + sum c(F)) (cost split)",
                summary_columns,
                _summary_rows(tables, args.depth, unit_costs),
            ),
            "objectives": results_table(
                f"{what}: the cost split minimising the largest subnetwork (largest) or the virtual time "
                "max c(g) + sum c(F) (virtual), evaluated with the same unit costs, not timed. max c(g), "
                "sum c(F): over the sequential trunk's cost sum c(g); bound: the cost-count bound",
                ["N", "objective", "units per subnetwork", "max/mean cost", "max c(g)", "sum c(F)", "bound"],
                _objective_rows(args.depth, [row.num_subnetworks for row in tables["cost"].rows][1:], unit_costs),
            ),
            **{
                f"table2_{split}": results_table(
                    f"{what}: forward+backward seconds per part, {split} split (paper: ResNet-1001 on a Titan RTX)",
                    seed_columns,
                    _seed_rows(table),
                )
                for split, table in tables.items()
            },
        },
    )
    record["device"] = torch_device
    write_results(json_path, record)
    if figure is not None:
        plot_table2(tables["cost"], str(figure))
    finish(args, *(p for p in (json_path, figure) if p is not None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
