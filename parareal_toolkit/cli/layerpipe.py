"""``parareal layerpipe``: simulate pipeline schedules and compare them with PipeDream."""

from __future__ import annotations

from typing import Any

from .._names import LAYERPIPE_SCHEDULERS, NETWORK_NAMES, SCHEDULE_NAMES, SYNCHRONOUS_SCHEDULES
from ._common import (
    CliError,
    Progress,
    check_distinct_outputs,
    check_figure_path,
    check_output_path,
    non_negative_float,
    positive_float,
    positive_int,
    write_json,
)
from ._options import Needs, Option, given, number, other

HELP = "simulate LayerPipe, PipeDream, GPipe, 1F1B and Zero Bubble schedules (cycles, speedup)"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--network",
        default=None,
        choices=NETWORK_NAMES,
        help="network whose layer costs are counted (default vgg16; not with --costs)",
    )
    parser.add_argument(
        "--costs",
        nargs="+",
        type=float,
        metavar="F,A,G",
        default=None,
        help="instead of --network: per-layer costs as F A G triples",
    )
    parser.add_argument(
        "--processors", nargs="+", type=positive_int, default=[7, 8, 9], metavar="P", help="default 7 8 9"
    )
    parser.add_argument(
        "--schedules",
        nargs="+",
        default=["pipedream", "layerpipe"],
        choices=SCHEDULE_NAMES,
        metavar="NAME",
        help=f"any of: {', '.join(SCHEDULE_NAMES)} (default pipedream layerpipe)",
    )
    parser.add_argument(
        "--microbatches",
        type=positive_int,
        default=8,
        metavar="M",
        help="micro-batches per step of the synchronous schedules",
    )
    parser.add_argument(
        "--scheduler",
        default="decide",
        choices=LAYERPIPE_SCHEDULERS,
        help="how LayerPipe runs its placement: the rate-optimal static periodic schedule, list "
        "scheduling oldest step first, or both simulated and the faster reported (default decide)",
    )
    parser.add_argument("--latency", type=non_negative_float, default=0.0, help="cycles per message")
    parser.add_argument(
        "--bandwidth",
        type=positive_float,
        default=None,
        metavar="GBPS",
        help="simulate in seconds with links of GBPS Gb/s: tensors of the real shapes (float32) and the ring "
        "all-reduce of replicated stages cost time (not with --latency)",
    )
    parser.add_argument(
        "--link-latency",
        type=non_negative_float,
        default=5.0,
        metavar="US",
        help="with --bandwidth: microseconds per message (default %(default)g)",
    )
    parser.add_argument(
        "--no-link-queues",
        action="store_true",
        help="with --bandwidth: messages never wait for each other on a link (edge latencies; default: they queue)",
    )
    parser.add_argument(
        "--samples",
        type=positive_int,
        default=32,
        metavar="N",
        help="with --bandwidth: samples per micro-batch (default %(default)d)",
    )
    parser.add_argument(
        "--tmacs",
        type=positive_float,
        default=10.0,
        metavar="RATE",
        help="with --bandwidth: each processor's speed, 1e12 MACs (cost units) per second (default %(default)g)",
    )
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=MAX_SECONDS,
        metavar="SECONDS",
        help="refuse a simulation estimated (tasks and partitioning steps counted) to take longer (default: %(default)g)",
    )
    parser.add_argument(
        "--gantt",
        default=None,
        metavar="FILE.png",
        help="Gantt chart of each schedule at the first P (.png, .pdf, .svg, ...; overwritten if it exists)",
    )
    parser.add_argument(
        "--json", default=None, metavar="FILE", help="also write the rows as JSON (overwritten if it exists)"
    )


_WITH_BANDWIDTH = (given("bandwidth"),)
# how LayerPipe is scheduled: the other schedules ignore it
_LAYERPIPE_SCHEDULED = Needs(
    "runs whose --schedules include layerpipe",
    lambda args: "layerpipe" in args.schedules,
    lambda args: "--schedules " + " ".join(args.schedules),
)

# micro-batches are a step of the synchronous schedules; the asynchronous ones run steps
_SYNCHRONOUS_SCHEDULED = Needs(
    "runs whose --schedules include a synchronous schedule (" + ", ".join(SYNCHRONOUS_SCHEDULES) + ")",
    lambda args: any(name in SYNCHRONOUS_SCHEDULES for name in args.schedules),
    lambda args: "--schedules " + " ".join(args.schedules),
)

# every option's domain and where it applies (checked by parareal_toolkit.cli.main before run)
OPTIONS: dict[str, Option] = {
    "time_limit": number(0, low_open=True),
    "network": other("choice"),
    # each cost's sign and finiteness: profile_from_costs, which names the layer; the sum: here
    "costs": Option(
        "number", sum_finite=True, cost=True, checked_by="parareal_toolkit.layerpipe.costs.profile_from_costs"
    ),
    "processors": number(1, integer=True, cost=True),
    "schedules": other("choice"),
    "microbatches": number(1, integer=True, cost=True, needs=(_SYNCHRONOUS_SCHEDULED,)),
    "scheduler": other("choice", needs=(_LAYERPIPE_SCHEDULED,), checked_by="run (not periodic with --bandwidth)"),
    "latency": number(0, checked_by="run (not with --bandwidth)"),
    "bandwidth": number(0, low_open=True),
    "link_latency": number(0, needs=_WITH_BANDWIDTH),
    "no_link_queues": other("flag", needs=_WITH_BANDWIDTH),
    "samples": number(1, integer=True, cost=True, needs=_WITH_BANDWIDTH),
    "tmacs": number(0, low_open=True, needs=_WITH_BANDWIDTH),
    "gantt": other("output"),
    "json": other("output"),
}


# Measured on the 2-core development machine: one simulated task of a schedule costs about
# 70 microseconds, one step of the partitioning dynamic programmes (P x layers^2 of them)
# about a microsecond. A run estimated above MAX_SECONDS is refused before it starts.
_SECONDS_PER_TASK = 7e-5
_SECONDS_PER_PARTITION_STEP = 1e-6
MAX_SECONDS = 600.0


def _profile(args):
    from ..errors import InputError
    from ..layerpipe.costs import network_profile, profile_from_costs

    if args.costs is not None:
        if args.network is not None:
            raise CliError("--costs and --network exclude each other: give the layer costs or name a network.")
        if len(args.costs) % 3:
            raise CliError(f"--costs must be F A G triples; got {len(args.costs)} numbers.")
        c = args.costs
        try:  # each cost's domain (0 or within COST_RANGE) is the profile's to declare
            profile = profile_from_costs(c[0::3], c[1::3], c[2::3])
        except InputError as exc:
            raise CliError(f"--costs: {exc}") from None
        if profile.total <= 0:
            raise CliError("--costs must hold some work; every cost is zero.")
        return profile
    return network_profile(args.network or "vgg16")


def _tasks(p: int, name: str, microbatches: int, scheduler: str) -> int:
    """Tasks simulated for schedule ``name`` on ``p`` processors (an upper count: F, A, G of every stage)."""
    from .._names import ASYNCHRONOUS_SCHEDULES

    # F, A, G of every stage: for `microbatches` micro-batches, or max(40, 8P) steps
    tasks = 3 * p * (max(40, 8 * p) if name in ASYNCHRONOUS_SCHEDULES else microbatches)
    if name == "layerpipe" and scheduler == "decide":
        tasks *= 2  # both schedulers run
    return tasks


def _estimated_seconds(
    layers: int, processors: list[int], schedules: list[str], microbatches: int, scheduler: str = "decide"
) -> float:
    """A rough duration of the simulation: tasks simulated plus partitioning steps, per (P, schedule)."""
    seconds = 0.0
    for p in processors:
        for name in {"pipedream", *schedules}:  # the baseline runs at every P
            tasks = _tasks(p, name, microbatches, scheduler)
            seconds += tasks * _SECONDS_PER_TASK + p * layers**2 * _SECONDS_PER_PARTITION_STEP
    return seconds


# Measured with tracemalloc: a simulated task holds ~1.3 kB (its Task, start and end entries,
# dependencies and order); runs are simulated one after another, so the largest one is the peak.
_BYTES_PER_TASK = 1300.0


def _estimated_bytes(processors: list[int], schedules: list[str], microbatches: int, scheduler: str) -> float:
    """Peak memory of the simulation: the largest single run's tasks at ``_BYTES_PER_TASK`` each.

    Returns
    -------
    float
        Bytes.
    """
    return _BYTES_PER_TASK * max(
        _tasks(p, name, microbatches, scheduler) for p in processors for name in {"pipedream", *schedules}
    )


def run(args) -> int:
    """Simulate the schedules as the options say, print the table, write ``--gantt``/``--json``.

    Returns
    -------
    int
        The exit status, 0.
    """
    from .._resources import require_memory

    check_figure_path("--gantt", args.gantt)
    check_output_path("--json", args.json)
    check_distinct_outputs(gantt=args.gantt, json=args.json)
    profile = _profile(args)
    schedules = list(dict.fromkeys(args.schedules))
    processors = list(dict.fromkeys(args.processors))
    seconds = _estimated_seconds(len(profile), processors, schedules, args.microbatches, args.scheduler)
    if args.bandwidth is not None:  # each schedule also runs once with free links
        seconds *= 2
    limit = getattr(args, "time_limit", MAX_SECONDS)
    require_memory(
        _estimated_bytes(processors, schedules, args.microbatches, args.scheduler),
        f"the layerpipe simulation (P up to {max(processors)}, {args.microbatches} micro-batches)",
    )
    if seconds > limit:
        raise CliError(
            f"this simulation would take about {seconds / 60:.3g} minutes here ({len(profile)} layers, "
            f"P = {' '.join(map(str, processors))}, {args.microbatches} micro-batches, {len(schedules)} schedules); "
            f"the limit is {limit / 60:.3g} (--time-limit {limit:g} s): use fewer --microbatches, --processors or "
            "layers, or raise --time-limit."
        )

    if args.bandwidth is not None:
        if args.latency:
            raise CliError("--latency (cycles) and --bandwidth (seconds) exclude each other: use --link-latency US.")
        if args.scheduler == "periodic":
            raise CliError(
                "--scheduler periodic does not apply with --bandwidth: on links LayerPipe is list-scheduled "
                "(the periodic schedule's MILP knows processors, not links); leave out --scheduler."
            )
        return _run_on_network(args, profile, processors, schedules)

    from ..layerpipe.comparison import PAPER_AVERAGE_SPEEDUP, PAPER_PEAK_SPEEDUP, compare, evaluate

    with Progress(len(processors) * len(schedules), "parareal layerpipe", unit="runs") as bar:
        rows = compare(
            profile,
            processors,
            schedules,
            microbatches=args.microbatches,
            latency=args.latency,
            scheduler=args.scheduler,
            progress=lambda p, name: bar.update(),
        )
    unit = profile.unit
    print(
        f"{profile.name}: {len(profile)} layers, {profile.total:.4g} {unit} per sample "
        f"(F+A+G); cycles = {unit}s per micro-batch; baseline pipedream"
    )
    print(
        f"{'P':>3} {'schedule':<21} {'cycles/mb':>12} {'speedup':>8} {'util':>6} "
        f"{'comm/mb':>10}  paper (LayerPipe vs PipeDream)"
    )
    for row in rows:
        paper = ""
        if row["schedule"] == "layerpipe":
            peak = f", >={PAPER_PEAK_SPEEDUP:.2f} claimed" if 7 <= row["processors"] <= 9 else ""
            both = ", ".join(f"{k} {row[f'{k}_cycles']:.5g}" for k in ("periodic", "list") if f"{k}_cycles" in row)
            gap = (
                f" (periodic {row['periodic_status']}, gap {row['periodic_gap']:.2%})"
                if "periodic_status" in row
                else ""
            )
            paper = f"{row['scheduler']}: {both}{gap}; paper avg {PAPER_AVERAGE_SPEEDUP:.2f}{peak}"
        print(
            f"{row['processors']:>3} {row['schedule']:<21} {row['cycles_per_microbatch']:>12.5g} "
            f"{row['speedup']:>8.3f} {row['utilisation']:>6.1%} "
            f"{row['communication_per_microbatch']:>10.4g}  {paper}"
        )
    lp = [r["speedup"] for r in rows if r["schedule"] == "layerpipe"]
    if lp:
        at_7_to_9 = [r["speedup"] for r in rows if r["schedule"] == "layerpipe" and 7 <= r["processors"] <= 9]
        peak = f"{max(at_7_to_9):.3f}" if at_7_to_9 else "n/a (no P in 7..9)"
        print(
            f"layerpipe vs pipedream: mean speedup {sum(lp) / len(lp):.3f} (paper "
            f"{PAPER_AVERAGE_SPEEDUP:.2f}), max at P=7..9 {peak} (paper >= {PAPER_PEAK_SPEEDUP:.2f})"
        )
    if args.gantt:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..layerpipe.gantt import plot_gantt_panels

        p = processors[0]
        panels = []
        for name in schedules:
            row, trace = evaluate(
                name,
                profile,
                p,
                microbatches=args.microbatches,
                latency=args.latency,
                scheduler=args.scheduler,
                return_trace=True,
            )
            span = 12 * row["cycles_per_microbatch"] if row["asynchronous"] else None
            panels.append((trace, f"{name}, P={p}", span))
        fig = plot_gantt_panels(panels)
        fig.tight_layout()
        fig.savefig(args.gantt, dpi=120)
        plt.close(fig)
        print(f"wrote the Gantt chart (P={p}, {len(panels)} schedules, one time axis) to {args.gantt}")
    if args.json:
        payload = {
            "network": profile.name,
            "unit": unit,
            "rows": rows,
            "paper": {"average_speedup": PAPER_AVERAGE_SPEEDUP, "peak_speedup_P7_9": PAPER_PEAK_SPEEDUP},
        }
        write_json("--json", args.json, payload, indent=1)
        print(f"wrote the rows as JSON to {args.json}")
    return 0


def _run_on_network(args, profile, processors: list[int], schedules: list[str]) -> int:
    """``--bandwidth``: every schedule in seconds per micro-batch on the stated network, against PipeDream."""
    from ..layerpipe.communication import Network, evaluate_on_network

    network = Network.from_gigabits(args.bandwidth, latency_us=args.link_latency)
    options: dict[str, Any] = dict(
        samples=args.samples,
        macs_per_second=args.tmacs * 1e12,
        microbatches=args.microbatches,
        contention=not args.no_link_queues,
    )
    rows = []
    with Progress(len(processors) * len(schedules), "parareal layerpipe", unit="runs") as bar:
        for p in processors:
            base = evaluate_on_network("pipedream", profile, p, network, **options)
            for name in schedules:
                row = base if name == "pipedream" else evaluate_on_network(name, profile, p, network, **options)
                rows.append(dict(row, speedup=base["seconds_per_microbatch"] / row["seconds_per_microbatch"]))
                bar.update()
    print(
        f"{profile.name}: {args.samples} samples per micro-batch, {args.tmacs:g}e12 {profile.unit}/s per processor, "
        f"{args.bandwidth:g} Gb/s links, {args.link_latency:g} us per message"
        f"{' (never queued)' if args.no_link_queues else ', queued per link'}; LayerPipe list-scheduled; "
        "baseline pipedream"
    )
    print(f"{'P':>3} {'schedule':<21} {'ms/mb':>10} {'compute ms/mb':>14} {'speedup':>8} {'MB/mb':>9}")
    for row in rows:
        print(
            f"{row['processors']:>3} {row['schedule']:<21} {row['seconds_per_microbatch'] * 1e3:>10.4g} "
            f"{row['compute_seconds_per_microbatch'] * 1e3:>14.4g} {row['speedup']:>8.3f} "
            f"{row['bytes_per_microbatch'] / 1e6:>9.4g}"
        )
    if args.gantt:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..layerpipe.gantt import plot_gantt_panels

        p = processors[0]
        panels = []
        for name in schedules:
            shown, trace = evaluate_on_network(name, profile, p, network, return_trace=True, **options)
            span = 12 * shown["seconds_per_microbatch"] if shown["asynchronous"] else None
            panels.append((trace, f"{name}, P={p}, {args.bandwidth:g} Gb/s", span))
        fig = plot_gantt_panels(panels, unit="s")
        fig.tight_layout()
        fig.savefig(args.gantt, dpi=120)
        plt.close(fig)
        print(f"wrote the Gantt chart (P={p}, {len(panels)} schedules, one time axis) to {args.gantt}")
    if args.json:
        payload = {
            "network": profile.name,
            "unit": "s",
            "link": {
                "gbps": args.bandwidth,
                "latency_us": args.link_latency,
                "bytes_per_element": 4,
                "queued": not args.no_link_queues,
            },
            "samples_per_microbatch": args.samples,
            "macs_per_second": args.tmacs * 1e12,
            "rows": rows,
        }
        write_json("--json", args.json, payload, indent=1)
        print(f"wrote the rows as JSON to {args.json}")
    return 0
