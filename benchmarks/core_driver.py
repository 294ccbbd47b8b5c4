"""Driver overhead: parareal_toolkit against hand-written parareal loops, and auto against batched and serial.

Heat equation (1-D, Dirichlet, dense A), m in {100, 1000}, N in {32, 128}, K = 15
iterations, exact fine (expm) and one implicit-Euler coarse step, BLAS on one thread. Every
variant does the same mathematics (standard form, coarse values reused across iterations);
the set-up (one expm and one LU factorisation) is done once, outside every timing. The
hand-written loops are what one writes from a textbook:

* ``getrs loop``: the coarse solves call LAPACK ``dgetrs`` directly
  (``scipy.linalg.lapack``), the fine sweep is one matrix-vector product per slice; the
  baseline, bare (no convergence test);
* ``getrs loop + increments``: the same, plus the maximum increment each iteration (the
  stopping test every real loop has, and what the toolkit's default monitoring computes);
* ``lu_solve loop``: the coarse solves through ``scipy.linalg.lu_solve``.

The toolkit runs with its defaults (``backend="auto"``, ``monitor=True``: increments and
non-finite checks every iteration), against ``getrs loop + increments``, and bare
(``monitor=False``, ``store_iterates=False``) against the bare loop; the table reports
seconds per iteration and the ratios, goals <= 1.10 at m = 100 and <= 1.0 at m = 1000. A
second table times the ``batched``, ``serial`` and ``auto`` backends (defaults otherwise):
goal, ``auto`` within 5% of the better of the other two.

Times are per-process CPU time by default (``--clock process``; BLAS runs on one thread,
so it is the run's own work, unaffected by other processes on a shared machine), medians
of ``--repeats`` interleaved measurements, each of enough runs to last ~20 ms.

    python benchmarks/core_driver.py [--repeats 7] [--clock process|perf_counter]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"  # must precede the numpy import

import argparse
import shlex
import statistics
import sys
import time

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from parareal_toolkit import TimeGrid, parareal
from parareal_toolkit.backends import AutoBackend
from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, heat_1d
from parareal_toolkit.results import results_record, results_table, write_results

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path

ITERATIONS = 15
SIZES = (100, 1000)
SLICES = (32, 128)


def getrs_loop(E, lu, pivots, u0, n, iterations, increments):
    """Parareal by hand with LAPACK dgetrs on the coarse path; optionally the max increment per iteration."""
    getrs = lapack.dgetrs
    U = [u0]
    for j in range(n):
        U.append(getrs(lu, pivots, U[j])[0])
    G_old = U[1:]
    for _ in range(iterations):
        F = [E @ U[j] for j in range(n)]
        new = [u0, F[0]]
        G_new = [G_old[0]]
        for j in range(1, n):
            g = getrs(lu, pivots, new[j])[0]
            G_new.append(g)
            new.append(F[j] + (g - G_old[j]))
        if increments:
            increment = max(float(np.abs(a - b).max()) for a, b in zip(new[1:], U[1:]))
            if not increment <= np.inf:  # NaN: stop, as a loop with a stopping test would
                break
        U, G_old = new, G_new
    return U


def lu_solve_loop(E, lu, pivots, u0, n, iterations):
    """The same loop with scipy.linalg.lu_solve (its argument checks on every call)."""
    U = [u0]
    for j in range(n):
        U.append(scipy.linalg.lu_solve((lu, pivots), U[j]))
    G_old = U[1:]
    for _ in range(iterations):
        F = [E @ U[j] for j in range(n)]
        new = [u0, F[0]]
        G_new = [G_old[0]]
        for j in range(1, n):
            g = scipy.linalg.lu_solve((lu, pivots), new[j])
            G_new.append(g)
            new.append(F[j] + (g - G_old[j]))
        U, G_old = new, G_new
    return U


def timed(function, clock, runs):
    """Seconds per run of ``function()``, averaged over ``runs`` back-to-back runs."""
    start = clock()
    for _ in range(runs):
        function()
    return (clock() - start) / runs


def measure_case(m, n, repeats, clock):
    problem = heat_1d(m)
    u0 = problem.u0
    grid = TimeGrid.uniform(problem.t_final, n)
    fine = ExactPropagator(problem.ode, grid).prepare()
    coarse = ImplicitEulerPropagator(problem.ode, grid).prepare()
    dt = problem.t_final / n
    E = scipy.linalg.expm(dt * problem.ode.A)
    lu, pivots = scipy.linalg.lu_factor(np.eye(m) - dt * problem.ode.A)
    k = ITERATIONS
    variants = {
        "getrs loop": lambda: getrs_loop(E, lu, pivots, u0, n, k, False),
        "getrs loop + increments": lambda: getrs_loop(E, lu, pivots, u0, n, k, True),
        "lu_solve loop": lambda: lu_solve_loop(E, lu, pivots, u0, n, k),
        "toolkit": lambda: parareal(fine, coarse, u0, iterations=k),
        "toolkit bare": lambda: parareal(fine, coarse, u0, iterations=k, monitor=False, store_iterates=False),
        "batched": lambda: parareal(fine, coarse, u0, iterations=k, backend="batched"),
        "serial": lambda: parareal(fine, coarse, u0, iterations=k, backend="serial"),
        "auto": lambda: parareal(fine, coarse, u0, iterations=k, backend="auto"),
    }
    once = time.perf_counter()
    variants["toolkit"]()  # warm caches, and size the runs per measurement
    runs = max(1, int(0.02 / max(time.perf_counter() - once, 1e-6)))
    for variant in variants.values():
        variant()
    samples = {name: [] for name in variants}
    for _ in range(repeats):  # interleaved: a change of load touches every variant alike
        for name, variant in variants.items():
            samples[name].append(timed(variant, clock, runs) / k)
    per_iteration = {name: statistics.median(values) for name, values in samples.items()}
    loop_states = getrs_loop(E, lu, pivots, u0, n, k, False)
    tool_states = parareal(fine, coarse, u0, iterations=k).states
    diff = max(float(np.abs(a - b).max()) for a, b in zip(loop_states, tool_states))
    choice = "batched" if AutoBackend().chooses_batched(fine, [u0] * n) else "serial"
    return per_iteration, diff, choice


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clock", choices=("process", "perf_counter"), default="process")
    parser.add_argument(
        "--json", default=None, help="the results file (default: core_driver_cpu.json in the output folder)"
    )
    add_output_options(parser)
    args = parser.parse_args(argv)
    json_path = output_path(parser, args, "core_driver_cpu.json", explicit=args.json)
    clock = time.process_time if args.clock == "process" else time.perf_counter

    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    overhead_rows, backend_rows, raw = [], [], []
    print(
        f"{'m':>5} {'N':>4} {'getrs us/it':>11} {'+incr':>8} {'toolkit':>8} {'ratio':>6} {'bare':>8} {'ratio':>6} "
        f"{'lu_solve':>8} {'batched':>8} {'serial':>8} {'auto':>8} {'auto/best':>9}"
    )
    for m in SIZES:
        for n in SLICES:
            t, diff, choice = measure_case(m, n, args.repeats, clock)
            us = {name: value * 1e6 for name, value in t.items()}
            ratio_default = t["toolkit"] / t["getrs loop + increments"]
            ratio_bare = t["toolkit bare"] / t["getrs loop"]
            best = min(t["batched"], t["serial"])
            auto_over_best = t["auto"] / best
            print(
                f"{m:>5} {n:>4} {us['getrs loop']:>11.1f} {us['getrs loop + increments']:>8.1f} "
                f"{us['toolkit']:>8.1f} {ratio_default:>6.2f} {us['toolkit bare']:>8.1f} {ratio_bare:>6.2f} "
                f"{us['lu_solve loop']:>8.1f} {us['batched']:>8.1f} {us['serial']:>8.1f} {us['auto']:>8.1f} "
                f"{auto_over_best:>9.2f}"
            )
            overhead_rows.append(
                [
                    str(m),
                    str(n),
                    f"{us['getrs loop']:.1f}",
                    f"{us['getrs loop + increments']:.1f}",
                    f"{us['toolkit']:.1f}",
                    f"{ratio_default:.2f}",
                    f"{us['toolkit bare']:.1f}",
                    f"{ratio_bare:.2f}",
                    f"{(t['toolkit'] - t['getrs loop + increments']) * 1e6:+.1f}",
                    f"{us['lu_solve loop']:.1f}",
                    f"{diff:.1e}",
                ]
            )
            backend_rows.append(
                [
                    str(m),
                    str(n),
                    f"{us['batched']:.1f}",
                    f"{us['serial']:.1f}",
                    f"{us['auto']:.1f}",
                    choice,
                    f"{auto_over_best:.2f}",
                ]
            )
            raw.append({"m": m, "N": n, "seconds_per_iteration": t, "max_abs_difference": diff, "auto_choice": choice})
    worst_100 = max(float(r[5]) for r in overhead_rows if r[0] == "100")
    worst_1000 = max(float(r[5]) for r in overhead_rows if r[0] == "1000")
    worst_auto = max(float(r[6]) for r in backend_rows)
    print(
        f"toolkit (defaults) / getrs loop + increments: worst {worst_100:.2f} at m = 100 (goal <= 1.10), "
        f"{worst_1000:.2f} at m = 1000 (goal <= 1.00); auto / best backend: worst {worst_auto:.2f} (goal <= 1.05)"
    )
    clock_words = "process CPU time" if args.clock == "process" else "wall-clock (perf_counter)"
    tables = {
        "overhead": results_table(
            f"Microseconds per parareal iteration, heat 1-D (dense), K = {ITERATIONS}, exact fine, one implicit-Euler "
            f"coarse step, BLAS on 1 thread, {clock_words}, medians of {args.repeats}; ratio = toolkit / loop",
            [
                "m",
                "N",
                "getrs loop",
                "getrs loop + increments",
                "toolkit (defaults)",
                "ratio to loop + increments",
                "toolkit bare",
                "ratio to loop",
                "overhead us/it",
                "lu_solve loop",
                "max |diff|",
            ],
            overhead_rows,
        ),
        "backends": results_table(
            "Microseconds per parareal iteration by backend (toolkit defaults otherwise); auto / best = auto over the "
            "faster of batched and serial",
            ["m", "N", "batched", "serial", "auto", "auto chose", "auto / best"],
            backend_rows,
        ),
    }
    command = "python benchmarks/core_driver.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    record = results_record(
        "core_driver",
        command.strip(),
        tables=tables,
        iterations=ITERATIONS,
        repeats=args.repeats,
        clock=args.clock,
        numpy=np.__version__,
        scipy=scipy.__version__,
        rows=raw,
        worst_ratio_m100=worst_100,
        worst_ratio_m1000=worst_1000,
        worst_auto_over_best=worst_auto,
        load_average=[load_before, os.getloadavg()[0] if hasattr(os, "getloadavg") else None],
    )
    finish(args, write_results(json_path, record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
