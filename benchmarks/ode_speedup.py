"""Parareal's wall-clock speedup at equal accuracy, measured on W = 1..cores workers, against the cost model.

The 2-D heat equation (sparse A), an expensive fine propagator (M implicit-Euler substeps
per slice, each a sparse LU solve) and a cheap coarse one (M_c substeps). Parareal runs K
iterations, the first whose error against the sequential fine solution is at most rtol
relative, on W workers of one persistent process pool (started once, timed apart, warmed;
every worker and the driver's process run BLAS on one thread), for each W from 1 to the
number of cores. Each row puts the measured speedup T_seq / T_par beside the model's
N c_F / ((K + 1) N c_G + K ceil(N/W) c_F) from the measured per-slice costs; the goal is a
ratio measured/model within 15% of 1 (0.85..1.15). Runs unchanged on any core count (N is
at least the core count).

    python benchmarks/ode_speedup.py [--size 32] [--fine-substeps 200] [--repeats 5]

writes ode_speedup_cpu.json (results format, table ``speedup``) and ode_speedup_cpu.png
(measured and modelled speedup against W) into ./benchmark-output/, or with --update-results
into benchmarks/results/.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS; the workers pin theirs themselves

import argparse
import shlex
import sys

from parareal_toolkit.ode import heat_2d, plot_speedup_study, speedup_study
from parareal_toolkit.results import results_record, write_results

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path


def main(argv=None) -> int:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="heat2d grid m (m x m unknowns; default 32)")
    parser.add_argument("--slices", type=int, default=max(16, cores), help="N (default: max(16, cores))")
    parser.add_argument("--fine-substeps", type=int, default=200)
    parser.add_argument("--coarse-substeps", type=int, default=4)
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--workers", type=int, nargs="+", default=list(range(1, cores + 1)))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="the results file (default: in the output folder)")
    parser.add_argument("--plot", default=None, help="the figure (default: in the output folder)")
    add_output_options(parser)
    args = parser.parse_args(argv)
    json_path = output_path(parser, args, "ode_speedup_cpu.json", explicit=args.json)
    figure = output_path(parser, args, "ode_speedup_cpu.png", explicit=args.plot)

    study = speedup_study(
        heat_2d(args.size, sparse=True),
        slices=args.slices,
        fine_substeps=args.fine_substeps,
        coarse_substeps=args.coarse_substeps,
        workers=args.workers,
        rtol=args.rtol,
        repeats=args.repeats,
        progress=lambda line: print(line, flush=True),
    )
    print(
        f"{'W':>3} {'K':>3} {'sequential s':>12} {'parareal s':>10} {'measured':>9} {'model':>7} {'measured/model':>14}"
    )
    for row in study.rows:
        print(
            f"{row.workers:>3} {row.iterations:>3} {row.sequential_s:>12.3f} {row.parareal_s:>10.3f} "
            f"{row.measured:>8.2f}x {row.model:>6.2f}x {row.ratio:>14.2f}"
        )
    within = [r.workers for r in study.rows if abs(r.ratio - 1) <= 0.15]
    print(f"pool start-up {study.startup_s:.2f} s; measured within 15% of the model for W = {within or 'none'}")

    command = "python benchmarks/ode_speedup.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    record = results_record("ode_speedup", command.strip(), tables={"speedup": study.table()}, **study.as_dict())
    write_results(json_path, record)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    plot_speedup_study(study, ax=ax)
    ax.set_title(f"{ax.get_title()}\n{record['machine']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(figure, dpi=120)
    plt.close(fig)
    finish(args, json_path, figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
