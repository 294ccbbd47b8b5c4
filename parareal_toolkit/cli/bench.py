"""``parareal bench``: the seed's Table 2 (per-component gradient time of Parareal ResNet-N).

Only the standard library is imported at the top; torch is imported inside :func:`run`.
Defaults depend on the device: on CPU a ResNet-218 (72 units, the smallest depth that
admits every N of 1, 3, 6, 12, 18, 24) at batch 8 on one torch thread, about a minute on the
2-core dev box (7.9 minutes with torch's default two threads there, measured, as the second
thread spin-waits for a busy core); on CUDA the seed's ResNet-1001 at batch 128.
"""

from __future__ import annotations

import argparse

from .._names import CLOCKS, COST_MODELS, SPLIT_NAMES
from ..errors import InputError
from ._common import (
    CliError,
    Progress,
    check_distinct_outputs,
    check_figure_path,
    check_output_path,
    positive_float,
    write_json,
)
from ._options import Needs, Option, number, other

HELP = "time each part of Parareal ResNet-N (forward+backward) and print the seed's Table 2"

CPU_DEFAULTS = {"depth": 218, "batch_size": 8, "warmup": 1}
CUDA_DEFAULTS = {"depth": 1001, "batch_size": 128, "warmup": 3}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--depth", type=int, default=None, help="ResNet depth 9n+2 (default: 218 on CPU, 1001 on CUDA)")
    parser.add_argument(
        "--subnetworks",
        "-N",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="numbers of subnetworks (default 1 3 6 12 18 24, minus those the depth cannot hold); "
        "N = 1 is always timed as the reference",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="default: 8 on CPU, 128 on CUDA")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed calls per part; the median is reported (default 5)"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed calls before timing (default: 1 on CPU, 3 on CUDA)"
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument(
        "--backend",
        default="serial",
        help="backend of the real wall-clock run (serial, batched, devices, ...; default serial)",
    )
    parser.add_argument(
        "--compile-coarse",
        action="store_true",
        help="torch.compile the coarse networks (CUDA graphs on CUDA); compilation is in the warm-up",
    )
    parser.add_argument(
        "--split",
        choices=SPLIT_NAMES,
        default="units",
        help="ceil(U/N) units per subnetwork (units, the seed's; default) or balanced unit costs (cost)",
    )
    parser.add_argument(
        "--unit-cost",
        choices=COST_MODELS,
        default="time",
        help="the costs --split cost balances and every row's max/mean cost reports: forward+backward time of "
        "each unit shape measured first on this device and batch (time; default) or counted multiply-adds (macs)",
    )
    parser.add_argument(
        "--clock",
        choices=CLOCKS,
        default="wall",
        help="CPU parts: 'wall' (perf_counter, default) or 'process' (CPU time of this process: "
        "robust on a shared machine, exact with --threads 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads, at most the number of cores (default: 1 on CPU, where the parts are "
        "small and extra threads of a busy machine spin-wait; torch's default on CUDA)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input and gradients (default 0)")
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=600.0,
        metavar="SECONDS",
        help="refuse a run estimated (from a pilot of each unit shape) to take longer (default: 600)",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write the results as JSON to FILE, overwritten if it exists ('-': stdout, no table)",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="write a stacked bar chart next to the paper's Table 2 (.png, .pdf, .svg, ...; overwritten if it exists)",
    )


_BY_TABLE2 = "parareal_toolkit.bench.table2"


# every option's domain and where it applies (checked by parareal_toolkit.cli.main before run)
# the coarse networks exist for N >= 2 only (the default -N list has them)
_WITH_COARSE = Needs(
    "runs with some --subnetworks N >= 2 (Parareal ResNet-1 has no coarse network)",
    lambda args: args.subnetworks is None or any(n >= 2 for n in args.subnetworks),
    lambda args: "--subnetworks " + " ".join(map(str, args.subnetworks)),
)

OPTIONS: dict[str, Option] = {
    "time_limit": number(0, low_open=True),
    "depth": number(integer=True, cost=True, checked_by=_BY_TABLE2),
    "subnetworks": number(integer=True, checked_by=_BY_TABLE2),
    "batch_size": number(integer=True, cost=True, checked_by=_BY_TABLE2),
    "repeats": number(integer=True, cost=True, checked_by=_BY_TABLE2),
    "warmup": number(integer=True, cost=True, checked_by=_BY_TABLE2),
    "device": other("text", checked_by="run (torch.device)"),
    "backend": other("text", checked_by=_BY_TABLE2),
    "compile_coarse": other("flag", needs=(_WITH_COARSE,)),
    "split": other("choice"),
    "unit_cost": other("choice"),
    "clock": other("choice"),
    "threads": number(integer=True, checked_by="run (1 to the number of cores)"),
    "seed": number(integer=True, checked_by=_BY_TABLE2),
    "json": other("output"),
    "plot": other("output"),
}


def run(args: argparse.Namespace) -> int:
    """Time Table 2 as the options say; print it (or its JSON) and write ``--json``/``--plot``.

    Every option and output path is checked before the first network is built, and a run
    that cannot fit in memory is refused with the estimate.

    Returns
    -------
    int
        The exit status, 0.
    """
    import json
    import os
    import sys

    from .._validation import check_int

    check_output_path("--json", args.json, stdout=True)
    check_figure_path("--plot", args.plot)
    check_distinct_outputs(json=args.json, plot=args.plot)
    if args.threads is not None:
        check_int(args.threads, "--threads", minimum=1, maximum=os.cpu_count() or 1)

    import torch

    from ..bench import format_table2, plot_table2, table2

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        on_cuda = torch.device(device).type == "cuda"
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"`--device` must name a torch device; got {device!r} ({exc}).") from None
    threads = args.threads if args.threads is not None else (None if on_cuda else 1)
    if threads is not None:
        torch.set_num_threads(threads)
    defaults = CUDA_DEFAULTS if on_cuda else CPU_DEFAULTS
    depth = defaults["depth"] if args.depth is None else args.depth
    batch_size = defaults["batch_size"] if args.batch_size is None else args.batch_size
    warmup = defaults["warmup"] if args.warmup is None else args.warmup
    quiet = args.json == "-"
    _estimate_first(args, depth, batch_size, warmup, device, threads, quiet)

    def progress(n: int) -> None:
        if not quiet:
            print(f"timing Parareal ResNet-{depth} with N = {n} ...", file=sys.stderr, flush=True)

    with Progress(0, "parareal bench", unit="samples", enabled=not quiet) as bar:
        table = table2(
            args.subnetworks,
            depth=depth,
            batch_size=batch_size,
            device=device,
            repeats=args.repeats,
            warmup=warmup,
            backend=args.backend,
            compile_coarse=args.compile_coarse,
            seed=args.seed,
            clock=args.clock,
            split=args.split,
            cost_model=args.unit_cost,
            progress=progress,
            sample_progress=lambda done, total: bar.update(total=total),
        )
    report = table.as_dict()
    if args.json == "-":
        print(json.dumps(report, indent=2))
    else:
        print(format_table2(table))
        if args.json is not None:
            write_json("--json", args.json, report)
    if args.plot is not None:
        plot_table2(table, args.plot)
    return 0


# Trunk forward+backward passes per timed sample of one network, measured on the 2-core
# development machine's CPU: the default run (ResNet-218, batch 8, six N, 7 samples each)
# took 134 s where its 42 samples are 33 s of trunk passes (a ratio of 4.0).
_SAMPLE_PASSES = 4


def _estimate_first(
    args: argparse.Namespace, depth: int, batch_size: int, warmup: int, device: str, threads: int | None, quiet: bool
) -> None:
    """Estimate the run's time from a pilot of each unit shape; refuse it over ``--time-limit``, else announce it.

    Each N's network is timed ``warmup + repeats`` times, plus once more for the unit costs
    and the real run, for N = 1 and every N asked for (six by default). One timed sample
    (every component timed on its own, the coarse networks, the synchronisations) costs
    about ``_SAMPLE_PASSES`` forward+backward passes of the trunk, the pass coming from
    :func:`~parareal_toolkit.training.resources.estimate_training_seconds`. What cannot fit
    in memory is refused first (the table's own check); an invalid depth or N is left for
    the table to refuse.
    """
    import sys

    from ..bench.network_timing import resolve_backend
    from ..bench.table import _check_device, _check_memory, _valid_subnetworks
    from ..errors import PararealError
    from ..training.resources import estimate_training_seconds
    from ._ode_estimate import duration

    if args.repeats < 1 or warmup < (1 if args.compile_coarse else 0) or batch_size < 1:
        return  # the table refuses these, naming them (and an estimate line would make its refusal two lines)
    if not 0 <= args.seed <= 2**64 - 1:
        return
    try:
        valid, _ = _valid_subnetworks(depth, args.subnetworks)
        resolve_backend(args.backend)
        resolved_device = _check_device(device)
    except (PararealError, ValueError, TypeError):
        return
    _check_memory(depth, valid, batch_size, resolved_device, None)  # what cannot fit is refused first
    networks = len(valid)
    pass_s = estimate_training_seconds(
        depth,
        images_per_batch=batch_size,
        batches_per_epoch=1,
        test_images=0,
        epochs=1,
        device=resolved_device,
        threads=threads,
        pilot_images=min(batch_size, 8),
    )["batch"]
    seconds = networks * (warmup + args.repeats + 1) * _SAMPLE_PASSES * pass_s
    what = (
        f"{networks} network(s) x {warmup + args.repeats + 1} samples of ~{_SAMPLE_PASSES} trunk passes of "
        f"~{duration(pass_s)} "
        f"(ResNet-{depth}, batch {batch_size}, from a pilot of each unit shape)"
    )
    if seconds > args.time_limit:
        raise CliError(
            f"estimated bench time ~{duration(seconds)} ({what}) exceeds --time-limit {args.time_limit:g} s; use a "
            "smaller --depth or --batch-size, fewer --subnetworks or --repeats, or raise --time-limit."
        )
    if seconds > 5 and not quiet:
        print(f"parareal bench: estimated time ~{duration(seconds)} ({what})", file=sys.stderr, flush=True)
