"""Driver overhead: parareal_toolkit against a plain hand-written numpy parareal loop.

Heat equation (1-D, Dirichlet), m in {100, 1000}, N in {32, 128}, K = 15 iterations,
exact fine (expm) and one implicit-Euler coarse step, BLAS on one thread. Both sides do the
same mathematics (standard form, coarse values reused across iterations) and are timed in
the same process; the setup (one expm and one LU factorisation) is timed apart from the
iterations. Goal: the toolkit is no slower than 1.2x the plain loop; it should win through
its batched fine sweep (one matrix-matrix product per iteration instead of N products).

    python benchmarks/core_driver.py [--repeats 5] [--json benchmarks/results/core_driver_cpu.json]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"  # must precede the numpy import

import argparse
import statistics
import sys
import time

import numpy as np
import scipy.linalg

from parareal_toolkit import TimeGrid, parareal
from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, heat_1d
from parareal_toolkit.results import machine_description, results_record, results_table, write_results

ITERATIONS = 15


def plain_numpy_parareal(A, u0, t_final, n, iterations):
    """The loop one writes by hand from a textbook, with the same reuse of coarse values."""
    start = time.perf_counter()
    dt = t_final / n
    E = scipy.linalg.expm(dt * A)
    lu = scipy.linalg.lu_factor(np.eye(A.shape[0]) - dt * A)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    U = [u0]
    for j in range(n):
        U.append(scipy.linalg.lu_solve(lu, U[j]))
    G_old = U[1:]
    for _ in range(iterations):
        F = [E @ U[j] for j in range(n)]
        new = [u0, F[0]]
        G_new = [G_old[0]]
        for j in range(1, n):
            g = scipy.linalg.lu_solve(lu, new[j])
            G_new.append(g)
            new.append(F[j] + (g - G_old[j]))
        U, G_old = new, G_new
    return U, setup, time.perf_counter() - start


def toolkit_parareal(problem, n, iterations):
    start = time.perf_counter()
    grid = TimeGrid.uniform(problem.t_final, n)
    fine = ExactPropagator(problem.ode, grid)
    coarse = ImplicitEulerPropagator(problem.ode, grid)
    fine(problem.u0, 0), coarse(problem.u0, 0)  # build the cached expm and LU factors
    setup = time.perf_counter() - start
    start = time.perf_counter()
    result = parareal(fine, coarse, problem.u0, iterations=iterations)
    return result.states, setup, time.perf_counter() - start


def results_tables(rows):
    """The ``tables`` of the results file: every number a reader sees, formatted once, here."""
    cells = [
        [
            str(r["m"]),
            str(r["N"]),
            f"{r['plain_iterations_s']:.4f}",
            f"{r['toolkit_iterations_s']:.4f}",
            f"{r['ratio_iterations']:.2f}",
            f"{r['ratio_total']:.2f}",
            f"{r['max_abs_difference']:.1e}",
        ]
        for r in rows
    ]
    title = f"Driver overhead: the toolkit against a plain numpy parareal loop ({ITERATIONS} iterations, heat equation)"
    columns = ["m", "N", "plain loop s", "toolkit s", "toolkit / plain", "with setup", "max |difference|"]
    return {"overhead": results_table(title, columns, cells)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "core_driver_cpu.json"))
    args = parser.parse_args()

    rows = []
    print(
        f"{'m':>5} {'N':>4} {'plain iter s':>12} {'toolkit iter s':>14} {'ratio':>6} {'plain total s':>13} {'toolkit total s':>15} {'ratio':>6} {'max |diff|':>10}"
    )
    for m in (100, 1000):
        problem = heat_1d(m)
        for n in (32, 128):
            plain_times, tool_times, plain_totals, tool_totals = [], [], [], []
            for _ in range(args.repeats):
                U_plain, setup_p, iter_p = plain_numpy_parareal(
                    problem.ode.A, problem.u0, problem.t_final, n, ITERATIONS
                )
                U_tool, setup_t, iter_t = toolkit_parareal(problem, n, ITERATIONS)
                plain_times.append(iter_p), tool_times.append(iter_t)
                plain_totals.append(setup_p + iter_p), tool_totals.append(setup_t + iter_t)
            diff = max(float(np.abs(a - b).max()) for a, b in zip(U_plain, U_tool))
            row = {
                "m": m,
                "N": n,
                "iterations": ITERATIONS,
                "plain_iterations_s": statistics.median(plain_times),
                "toolkit_iterations_s": statistics.median(tool_times),
                "plain_total_s": statistics.median(plain_totals),
                "toolkit_total_s": statistics.median(tool_totals),
                "max_abs_difference": diff,
            }
            row["ratio_iterations"] = row["toolkit_iterations_s"] / row["plain_iterations_s"]
            row["ratio_total"] = row["toolkit_total_s"] / row["plain_total_s"]
            rows.append(row)
            print(
                f"{m:>5} {n:>4} {row['plain_iterations_s']:>12.4f} {row['toolkit_iterations_s']:>14.4f} {row['ratio_iterations']:>6.2f} "
                f"{row['plain_total_s']:>13.4f} {row['toolkit_total_s']:>15.4f} {row['ratio_total']:>6.2f} {diff:>10.1e}"
            )
    worst = max(max(r["ratio_iterations"], r["ratio_total"]) for r in rows)
    print(f"worst toolkit/plain ratio: {worst:.2f} (goal: <= 1.20)")
    payload = results_record(
        "core_driver",
        " ".join(["python", "benchmarks/core_driver.py", *sys.argv[1:]]),
        machine=f"{machine_description()}, BLAS on 1 thread",
        numpy=np.__version__,
        scipy=scipy.__version__,
        repeats=args.repeats,
        rows=rows,
        worst_ratio=worst,
        tables=results_tables(rows),
    )
    write_results(args.json, payload)
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
