"""``parareal speedup``: the measured speedup of parareal at equal accuracy, beside the cost model's.

The sequential fine solve and parareal are run to the same accuracy: ``K`` is the first
iteration whose error against the fine solution is at most ``--rtol`` (relative), never an
unconverged one. Parareal then runs ``K`` iterations on ``W`` workers of one persistent
process pool, for each ``W`` of ``--workers`` (default ``1..cores``); every worker and this
process run BLAS on one thread. The pool's start-up is reported on its own line and is part
of no timing. Each row shows the measured speedup next to the model's prediction from the
measured costs of a fine and a coarse slice, ``K`` and ``W`` (see
:func:`parareal_toolkit.ode.speedup_study`).

Before any work the study's memory (a fill-in model of the sparse factors, the states, the
pool's processes) is compared with the available memory and its time (implicit-Euler
substeps counted, one substep timed on a pilot of the real size) with ``--time-limit``; ``K``
is known only once parareal has run, so the time before the run is a lower bound (``K = 0``),
checked again while ``K`` is sought and once it is known.

Exit status: 0 on success; 2 with one line on stderr for a refused option, an output file
that cannot be written, a study estimated over the available memory or ``--time-limit``, or
a run that never reaches ``--rtol``; 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys

from .._names import CYCLE_NAMES, METHOD_NAMES, RELAX_NAMES
from ._common import (
    CliError,
    check_distinct_outputs,
    check_figure_path,
    check_output_path,
    format_table,
    positive_float,
    positive_int,
)
from ._options import Option, max_threads, number, other, when

HELP = "measure parareal's (or MGRIT's) speedup at equal accuracy on a process pool, beside the cost model"

# problems with a grid size whose A is sparse, so many implicit-Euler substeps stay cheap to factorise
SPEEDUP_PROBLEMS = ("heat2d", "heat1d", "advection")

__all__ = ["HELP", "SPEEDUP_PROBLEMS", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--problem", choices=SPEEDUP_PROBLEMS, default="heat2d", help="catalogue problem, sparse A (default: heat2d)"
    )
    parser.add_argument("--size", type=positive_int, default=32, help="grid size m (default: 32; heat2d: m x m)")
    parser.add_argument("--t-final", type=positive_float, help="final time T (default: the problem's)")
    parser.add_argument("--slices", type=positive_int, default=16, help="number of slices N (default: 16)")
    parser.add_argument(
        "--fine-substeps",
        type=positive_int,
        default=200,
        help="implicit-Euler substeps per fine slice: the fine cost (default: 200)",
    )
    parser.add_argument(
        "--coarse-substeps", type=positive_int, default=4, help="implicit-Euler substeps per coarse slice (default: 4)"
    )
    parser.add_argument(
        "--rtol",
        type=positive_float,
        default=1e-6,
        help="relative error against the fine solution that parareal must reach (default: 1e-6)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        nargs="+",
        help="worker counts W to measure (default: 1 2 ... min(CPU count, N)); the pool has max(W) processes",
    )
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed runs per W; medians (default: 3)")
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=600.0,
        metavar="SECONDS",
        help="refuse a study estimated to take longer, before it starts or as soon as K shows it (default: 600)",
    )
    parser.add_argument(
        "--method",
        choices=METHOD_NAMES,
        default="parareal",
        help="what is timed against the sequential fine solve: parareal (default) or MGRIT on the same "
        "discretisation (--fine-substeps is then the fine steps per slice, MGRIT's coarsening factor)",
    )
    parser.add_argument("--levels", type=positive_int, help="MGRIT levels L >= 2 (default 2)")
    parser.add_argument("--relax", choices=RELAX_NAMES, default="F", help="MGRIT relaxation (default: F)")
    parser.add_argument("--cycle", choices=CYCLE_NAMES, default="V", help="MGRIT cycle (default: V)")
    parser.add_argument("--plot", metavar="FILE.png", help="save measured and modelled speedup against W")
    parser.add_argument("--json", metavar="FILE", help="save the table and every measurement as a results file")


# every option's domain and where it applies (checked by parareal_toolkit.cli.main before run)
OPTIONS: dict[str, Option] = {
    "time_limit": number(0, low_open=True),
    "problem": other("choice"),
    "size": number(1, integer=True, cost=True),
    "t_final": number(0, low_open=True, cost=True),
    "slices": number(1, integer=True, cost=True),
    "fine_substeps": number(1, integer=True, cost=True),
    "coarse_substeps": number(1, integer=True, cost=True),
    "rtol": number(
        0,
        1,
        low_open=True,
        high_open=True,
        why="an error of 100% or more of the fine solution is no accuracy: 'equal accuracy' needs rtol < 1",
    ),
    "workers": number(1, max_threads, integer=True, cost=True, why="processes beyond a few per core only wait"),
    "repeats": number(1, integer=True, cost=True),
    "method": other("choice", checked_by="parareal_toolkit.cli.speedup.run (--fine-substeps >= 2, divisibility)"),
    "levels": number(2, integer=True, cost=True, needs=(when("method", "mgrit"),)),
    "relax": other("choice", needs=(when("method", "mgrit"),)),
    "cycle": other("choice", needs=(when("method", "mgrit"),)),
    "plot": other("output"),
    "json": other("output"),
}


def command_line(args: argparse.Namespace) -> str:
    """The ``parareal speedup`` command line that reproduces ``args`` (for the results file).

    Returns
    -------
    str
        Every option spelled out.
    """
    parts = [
        "parareal speedup",
        f"--problem {args.problem}",
        f"--size {args.size}",
        *([f"--t-final {args.t_final:g}"] if args.t_final is not None else []),
        f"--slices {args.slices}",
        f"--fine-substeps {args.fine_substeps}",
        f"--coarse-substeps {args.coarse_substeps}",
        f"--rtol {args.rtol:g}",
        "--workers " + " ".join(str(w) for w in args.workers),
        f"--repeats {args.repeats}",
        f"--time-limit {args.time_limit:g}",
    ]
    if args.method == "mgrit":
        parts += ["--method mgrit", f"--levels {args.levels or 2}", f"--relax {args.relax}", f"--cycle {args.cycle}"]
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Run the study, print the table, write the figure and the results file.

    Returns
    -------
    int
        The exit status, 0.
    """
    check_figure_path("--plot", args.plot)
    check_output_path("--json", args.json)
    check_distinct_outputs(plot=args.plot, json=args.json)
    if args.workers is None:
        # more workers than slices would idle: a sweep has N chunks at most
        args.workers = list(range(1, min(os.cpu_count() or 1, args.slices) + 1))
    if len(set(args.workers)) != len(args.workers):
        raise CliError(f"--workers must not repeat a count; got {' '.join(map(str, args.workers))}.")

    from ..ode.measured_speedup import speedup_study
    from ..ode.mgrit_speedup import mgrit_speedup_study
    from ..ode.problems import make_problem
    from ..results import results_record, write_results

    if args.method == "mgrit":
        _check_mgrit(args)
    _refuse_memory_before_building(args)
    problem = make_problem(args.problem, size=args.size, t_final=args.t_final, sparse=True)
    _refuse_what_does_not_fit(args, problem)
    common = {
        "slices": args.slices,
        "fine_substeps": args.fine_substeps,
        "coarse_substeps": args.coarse_substeps,
        "workers": args.workers,
        "rtol": args.rtol,
        "repeats": args.repeats,
        "progress": lambda line: print(line, flush=True),
        "time_limit": args.time_limit,
    }
    # a ValueError (rtol never reached) is a refused run: one line, exit 2
    if args.method == "mgrit":
        options = {"levels": args.levels or 2, "relax": args.relax, "cycle": args.cycle}
        study = mgrit_speedup_study(problem, mgrit_options=options, **common)
    else:
        study = speedup_study(problem, **common)
    table = study.table()
    print(table["title"])
    print(format_table([table["columns"], *table["rows"]], align="right"))
    print(
        f"c_F = {study.fine_slice_s * 1e3:.3g} ms per fine slice, c_G = {study.coarse_slice_s * 1e3:.3g} ms "
        f"per coarse slice (alpha = {study.coarse_slice_s / study.fine_slice_s:.3g})"
    )
    if args.method == "parareal" and study.iterations >= study.num_slices:
        print(
            f"note: K = N = {study.num_slices}: parareal reaches --rtol only by reproducing the fine solution "
            "(every slice's fine work done in sequence), so no W can give a speedup; use more --slices or more "
            "--coarse-substeps"
        )
    if args.plot:
        _save_figure(args.plot, study)
        print(f"figure written to {args.plot}")
    if args.json:
        record = results_record("ode_speedup", command_line(args), tables={"speedup": table}, **study.as_dict())
        try:
            write_results(args.json, record)
        except OSError as exc:
            raise CliError(f"cannot write --json file {args.json!r}: {exc.strerror or exc}") from None
        print(f"results written to {args.json}")
    sys.stdout.flush()
    return 0


def _check_mgrit(args: argparse.Namespace) -> None:
    """Refuse an MGRIT study whose levels cannot be built: ``M >= 2`` and ``N`` divisible by ``M^(L-2)``."""
    levels = args.levels or 2
    if args.fine_substeps < 2:
        raise CliError(
            f"--method mgrit needs --fine-substeps >= 2 (the fine steps per slice, MGRIT's coarsening factor); "
            f"got {args.fine_substeps}."
        )
    if args.slices % args.fine_substeps ** (levels - 2):
        raise CliError(
            f"--slices must be divisible by --fine-substeps^(--levels - 2) = {args.fine_substeps ** (levels - 2)} "
            f"for {levels} levels; got --slices {args.slices}."
        )


# nonzeros per unknown of the sparse A: five-point stencil, tridiagonal, upwind
_STENCIL = {"heat2d": 5, "heat1d": 3, "advection": 2}


def _refuse_memory_before_building(args: argparse.Namespace) -> None:
    """Refuse a study whose LU factors cannot fit, from the options alone (the matrix is not built)."""
    from .._resources import available_memory, format_bytes
    from ..ode.speedup_estimate import factor_entries, speedup_study_bytes

    unknowns = args.size**2 if args.problem == "heat2d" else args.size
    entries = factor_entries(args.problem, unknowns, _STENCIL[args.problem] * unknowns)
    needed = speedup_study_bytes(entries, unknowns, args.slices, max(args.workers))
    available = available_memory()
    if available is not None and needed > available:
        raise CliError(
            f"this study needs ~{format_bytes(needed)} of memory (sparse LU factors of {unknowns} unknowns in this "
            f"process and each of {max(args.workers)} worker(s), {args.slices + 1} states per set), more than the "
            f"{format_bytes(available)} available; use a smaller --size, fewer --slices or fewer --workers."
        )


def _refuse_what_does_not_fit(args: argparse.Namespace, problem) -> None:
    """Refuse (exit 2, naming the estimate and the way out) a study over the memory or ``--time-limit``."""
    from .._resources import available_memory, format_bytes
    from ..ode.speedup_estimate import estimate_speedup_study
    from ._ode_estimate import duration

    options = {
        "slices": args.slices,
        "fine_substeps": args.fine_substeps,
        "coarse_substeps": args.coarse_substeps,
        "workers": args.workers,
        "repeats": args.repeats,
    }
    model = estimate_speedup_study(problem, **options, pilot=False)  # nothing built yet
    available = available_memory()
    if available is not None and model.bytes > available:
        raise CliError(
            f"this study needs ~{format_bytes(model.bytes)} of memory (sparse LU factors of size {problem.ode.size} "
            f"in this process and each of {max(args.workers)} worker(s)), more than the {format_bytes(available)} "
            "available; use a smaller --size or fewer --workers."
        )
    if model.seconds > 10 * args.time_limit:  # far over even by the model: no pilot needed to say so
        cost = model
    else:
        cost = estimate_speedup_study(problem, **options, pilot=True)
    if cost.seconds > args.time_limit:
        cause = max(("pool start-up", "sequential fine solves", "coarse sweeps"), key=lambda part: cost.parts[part])
        ways = {
            "pool start-up": "use fewer --workers or a smaller --size",
            "sequential fine solves": "use fewer --fine-substeps, --slices or --repeats, or a smaller --size",
            "coarse sweeps": "use fewer --coarse-substeps, --slices or --repeats",
        }
        raise CliError(
            f"estimated study time ~{duration(cost.seconds)} before any parareal iteration (K = 0; {cause}: "
            f"~{duration(cost.parts[cause])}, {cost.substep_s:.2g} s per implicit-Euler substep, "
            f"{'timed on a pilot' if cost.measured else 'modelled'}) exceeds --time-limit {args.time_limit:g} s; "
            f"{ways[cause]}, or raise --time-limit."
        )
    print(
        f"estimate: ~{duration(cost.seconds)} plus ~{duration(cost.seconds_per_iteration)} per parareal iteration "
        f"K needed, ~{format_bytes(cost.bytes)} of memory",
        flush=True,
    )


def _save_figure(path: str, study) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..ode.measured_speedup import plot_speedup_study

    fig, ax = plt.subplots(figsize=(5.5, 4))
    try:
        plot_speedup_study(study, ax=ax)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise CliError(f"cannot write --plot file {path!r}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
