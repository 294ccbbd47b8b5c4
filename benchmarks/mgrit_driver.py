"""MGRIT's overhead: parareal_toolkit.mgrit against a hand-written numpy/LAPACK MGRIT loop, and against PyMGRIT.

Heat 1-D (dense A), (d unknowns, N_0 fine steps) in {(100, 64), (100, 256), (1000, 64)},
implicit Euler on every level, coarsening m = 4, two and three levels, F- and FCF-relaxation, V-cycles, K = 5
iterations; BLAS on one thread. Every variant does the same mathematics; the LU
factorisations are done once, outside every timing, and a run's time (its initial iterate
included) is divided by K. The hand-written loop is what one writes from the textbook
(Falgout et al. 2014, FAS form), each level's states one ``(N_l + 1, d)`` array:

* F-relaxation: ``m - 1`` LAPACK ``dgetrs`` calls per level, each on all coarse intervals at
  once (the F-points ``s`` of every interval as the columns of one right-hand side: the
  batching the toolkit does); C-relaxation and the C-point residual one ``dgetrs`` each;
* FAS restriction by injection, ``g_c = r_c + v_c - Φ_{l+1}(v_{c-1})`` (one ``dgetrs``), the
  coarsest level solved exactly, one ``dgetrs`` per point in sequence; the correction
  ``u_{cm} += w_c - v_c`` and an F-relaxation on every level;
* the initial iterate: a sweep of level 1 into the level-0 C-points, then an F-relaxation;
* ``loop``: bare; ``loop + monitoring``: plus the C-point increment and the FAS residual
  (max abs) every iteration, what the toolkit's default monitoring computes.

The toolkit runs with its defaults (``backend="auto"``, ``monitor=True``) against
``loop + monitoring`` and bare (``monitor=False``, ``store_iterates=False``) against
``loop``: goal, ratio <= 1.10. Iterates are compared (max abs difference over all C-point
iterates: the two differ only in the order of floating-point operations).

PyMGRIT 1.0.6 (optional: only where ``import pymgrit`` works, e.g. in a separate venv with
mpi4py and an MPI library; otherwise the reason is printed): a small ``Application`` per
level whose ``step(u_start, t_start, t_stop)`` calls the toolkit's own level propagator on
the state's numpy array, run with its defaults (``cf_iter=1``, V-cycle, nested iteration)
and with ``cf_iter=0``, ``max_iter=K``, ``tol=0`` (so K iterations run), one process; the
toolkit runs ``mgrit(..., relax="FCF"/"F", initial="nested")``. Their iterates (PyMGRIT's
``u[0]`` after each iteration, read by its ``output_fcn`` with ``output_lvl=2``) are
compared at the C-points, and the final fine-level solutions. PyMGRIT's time includes its
convergence check (one more fine step per C-point each iteration); it steps one state at a
time.

Times are per-process CPU time by default (``--clock process``), medians of ``--repeats``
interleaved measurements, each of enough runs to last ~20 ms. The results file goes to
``./benchmark-output/`` (or ``--out DIR``); ``--update-results`` rewrites
``benchmarks/results/mgrit_driver_cpu.json`` (``benchmarks/_output.py``).

    python benchmarks/mgrit_driver.py [--repeats 5] [--clock process|perf_counter] [--out DIR | --update-results]
    /tmp/pymgrit-venv/bin/python benchmarks/mgrit_driver.py --update-results   # with PyMGRIT
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"  # must precede the numpy import

import argparse
import itertools
import logging
import shlex
import statistics
import sys
import time

import numpy as np
import scipy
import scipy.linalg
from scipy.linalg import lapack

from parareal_toolkit import mgrit
from parareal_toolkit.ode import heat_1d, time_hierarchy
from parareal_toolkit.results import results_record, results_table, write_results

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path

ITERATIONS = 5
COARSENING = 4
CASES = ((100, 64), (100, 256), (1000, 64))  # (d, N_0): d = 1000 with N_0 = 256 costs minutes on 2 cores
LEVELS = (2, 3)
RELAX = ("F", "FCF")


def level_factors(problem, n0, num_levels):
    """``lu_factor(I - h_l A)`` for every level, ``h_l = T / N_l``."""
    identity = np.eye(problem.ode.size)
    return [
        scipy.linalg.lu_factor(identity - problem.t_final / (n0 // COARSENING**l) * problem.ode.A, check_finite=False)
        for l in range(num_levels)
    ]


def hand_mgrit(factors, u0, n0, relax, iterations, monitor, keep):
    """MGRIT (FAS, V-cycle) by hand on ``(N_l + 1, d)`` arrays; the C-point iterates if ``keep``."""
    getrs, m, top = lapack.dgetrs, COARSENING, len(factors) - 1

    def phi(l, X):  # one implicit-Euler step of level l on every row of X
        lu, pivots = factors[l]
        return getrs(lu, pivots, X.T)[0].T

    def f_relax(l, U, g):
        n = len(U) - 1
        for s in range(1, m):
            Y = phi(l, U[s - 1 : n : m])
            U[s:n:m] = Y if g is None else Y + g[s:n:m]

    def c_images(l, U, g):  # Φ_l(u_{cm-1}) + g_{cm}, c = 1..N_{l+1}
        Y = phi(l, U[m - 1 : len(U) - 1 : m])
        return Y if g is None else Y + g[m::m]

    def cycle(l, U, g, A):
        if A is None:
            f_relax(l, U, g)
            A = c_images(l, U, g)
        if relax == "FCF":
            U[m::m] = A
            f_relax(l, U, g)
            A = c_images(l, U, g)
        v = U[::m].copy()
        gc = np.zeros_like(v)
        gc[1:] = (A - U[m::m]) + v[1:] - phi(l + 1, v[:-1])
        w = v.copy()
        if l + 1 == top:
            lu, pivots = factors[top]
            for c in range(1, len(w)):
                w[c] = gc[c] + getrs(lu, pivots, w[c - 1])[0]
        else:
            cycle(l + 1, w, gc, None)
        U[::m] += w - v
        f_relax(l, U, g)
        return c_images(l, U, g) if l == 0 else None

    d, n1 = len(u0), n0 // m
    C = np.empty((n1 + 1, d))
    C[0] = u0
    lu, pivots = factors[1]
    for j in range(n1):
        C[j + 1] = getrs(lu, pivots, C[j])[0]
    U = np.empty((n0 + 1, d))
    U[::m] = C
    f_relax(0, U, None)
    A = c_images(0, U, None)
    iterates = [U[::m].copy()] if keep else None
    for _ in range(iterations):
        old = U[::m].copy() if monitor else None
        A = cycle(0, U, None, A)
        if monitor:
            increment = float(np.abs(U[::m] - old).max())
            residual = float(np.abs(A - U[m::m]).max())
            if not (increment <= np.inf and residual <= np.inf):  # NaN: stop, as a loop with a stopping test would
                break
        if keep:
            iterates.append(U[::m].copy())
    return iterates


def pymgrit_classes():
    """PyMGRIT's Vector and Application subclasses for numpy states, or the reason it cannot be imported."""
    try:
        from pymgrit.core.application import Application
        from pymgrit.core.mgrit import Mgrit
        from pymgrit.core.vector import Vector
    except Exception as exc:  # any import failure (no mpi4py, no MPI library, an old numpy): skip
        return None, f"{type(exc).__name__}: {exc}"

    class NumpyVector(Vector):
        def __init__(self, values):
            super().__init__()
            self.values = values

        def __add__(self, other):
            return NumpyVector(self.values + other.values)

        def __sub__(self, other):
            return NumpyVector(self.values - other.values)

        def __mul__(self, other):
            return NumpyVector(self.values * other)

        def norm(self):
            return np.linalg.norm(self.values)

        def clone(self):
            return NumpyVector(self.values.copy())

        def clone_zero(self):
            return NumpyVector(np.zeros_like(self.values))

        def clone_rand(self):
            return NumpyVector(np.random.default_rng().random(self.values.shape))

        def set_values(self, values):
            self.values = values

        def get_values(self):
            return self.values

        def pack(self):
            return self.values

        def unpack(self, values):
            self.values = values

    class ToolkitLevel(Application):
        """One MGRIT level: ``step`` is the toolkit propagator's slice that starts at ``t_start``."""

        def __init__(self, propagator, u0):
            super().__init__(t_interval=np.asarray(propagator.grid.times, dtype=float))
            self.propagator = propagator
            self.slice_at = {float(t): j for j, t in enumerate(self.t[:-1])}
            self.vector_template = NumpyVector(np.zeros_like(u0))
            self.vector_t_start = NumpyVector(u0.copy())

        def step(self, u_start, t_start, t_stop):
            return NumpyVector(self.propagator(u_start.values, self.slice_at[float(t_start)]))

    def run(levels, u0, cf_iter, iterations, keep):
        seen = []

        def output(solver):
            seen.append([u.values.copy() for u in solver.u[0]])

        solver = Mgrit(
            [ToolkitLevel(p, u0) for p in levels],
            cf_iter=cf_iter,
            cycle_type="V",
            nested_iteration=True,
            max_iter=iterations,
            tol=0.0,
            logging_lvl=logging.WARNING,
            output_fcn=output if keep else None,
            output_lvl=2 if keep else 0,
        )
        solver.solve()
        return seen

    return run, None


def timed(function, clock, runs):
    """Seconds per run of ``function()``, averaged over ``runs`` back-to-back runs."""
    start = clock()
    for _ in range(runs):
        function()
    return (clock() - start) / runs


def max_difference(a, b):
    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b, strict=True))


def measure_case(d, n0, num_levels, relax, repeats, clock, run_pymgrit):
    problem = heat_1d(d)
    u0 = problem.u0
    levels = time_hierarchy(problem, n0, coarsening=COARSENING, num_levels=num_levels)
    for p in levels:
        p.prepare()
    factors = level_factors(problem, n0, num_levels)
    k, m = ITERATIONS, COARSENING
    common = dict(coarsening=m, relax=relax, iterations=k)
    variants = {
        "loop": lambda: hand_mgrit(factors, u0, n0, relax, k, False, False),
        "loop + monitoring": lambda: hand_mgrit(factors, u0, n0, relax, k, True, False),
        "toolkit": lambda: mgrit(levels, u0, **common),
        "toolkit bare": lambda: mgrit(levels, u0, **common, monitor=False, store_iterates=False),
    }
    cf_iter = 0 if relax == "F" else 1
    if run_pymgrit is not None:
        variants["toolkit nested"] = lambda: mgrit(levels, u0, **common, initial="nested")
        variants["pymgrit"] = lambda: run_pymgrit(levels, u0, cf_iter, k, False)
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
    tool = mgrit(levels, u0, **common)
    diff = max_difference(
        [c for it in hand_mgrit(factors, u0, n0, relax, k, True, True) for c in it],
        [c for it in tool.iterates for c in it],
    )
    row = {
        "d": d,
        "N0": n0,
        "levels": num_levels,
        "relax": relax,
        "seconds_per_iteration": per_iteration,
        "max_abs_difference_loop": diff,
        "max_abs_iterate": max(float(np.abs(c).max()) for it in tool.iterates for c in it),
    }
    if run_pymgrit is not None:
        theirs = run_pymgrit(levels, u0, cf_iter, k, True)
        ours = mgrit(levels, u0, **common, initial="nested")
        per_k = [max_difference(a[::m], b) for a, b in zip(theirs, ours.iterates, strict=True)]
        row["max_abs_difference_pymgrit_per_iteration"] = per_k
        row["max_abs_difference_pymgrit"] = max(per_k)
        row["max_abs_difference_pymgrit_fine"] = max_difference(theirs[-1], ours.fine_states)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clock", choices=("process", "perf_counter"), default="process")
    parser.add_argument(
        "--json", default=None, help="the results file (default: mgrit_driver_cpu.json in the output folder)"
    )
    add_output_options(parser)
    args = parser.parse_args(argv)
    json_path = output_path(parser, args, "mgrit_driver_cpu.json", explicit=args.json)
    clock = time.process_time if args.clock == "process" else time.perf_counter

    run_pymgrit, reason = pymgrit_classes()
    pymgrit_version = None
    if run_pymgrit is None:
        print(f"PyMGRIT part skipped: `import pymgrit` failed ({reason})")
    else:
        from importlib.metadata import version

        pymgrit_version = version("pymgrit")
        print(f"PyMGRIT {pymgrit_version} found: comparing")

    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows, overhead_rows, pymgrit_rows = [], [], []
    print(
        f"{'d':>5} {'N0':>4} {'L':>2} {'relax':>5} {'loop us/it':>10} {'+mon':>9} {'toolkit':>9} {'ratio':>6} "
        f"{'bare':>9} {'ratio':>6} {'|diff|':>8}"
        + (f" {'pymgrit':>10} {'nested':>9} {'speedup':>7} {'|diff|':>8}" if run_pymgrit else "")
    )
    for (d, n0), num_levels, relax in itertools.product(CASES, LEVELS, RELAX):
        row = measure_case(d, n0, num_levels, relax, args.repeats, clock, run_pymgrit)
        t = row["seconds_per_iteration"]
        us = {name: value * 1e6 for name, value in t.items()}
        row["ratio_default"] = t["toolkit"] / t["loop + monitoring"]
        row["ratio_bare"] = t["toolkit bare"] / t["loop"]
        line = (
            f"{d:>5} {n0:>4} {num_levels:>2} {relax:>5} {us['loop']:>10.1f} {us['loop + monitoring']:>9.1f} "
            f"{us['toolkit']:>9.1f} {row['ratio_default']:>6.2f} {us['toolkit bare']:>9.1f} "
            f"{row['ratio_bare']:>6.2f} {row['max_abs_difference_loop']:>8.1e}"
        )
        overhead_rows.append(
            [
                str(d),
                str(n0),
                str(num_levels),
                relax,
                f"{us['loop']:.1f}",
                f"{us['loop + monitoring']:.1f}",
                f"{us['toolkit']:.1f}",
                f"{row['ratio_default']:.2f}",
                f"{us['toolkit bare']:.1f}",
                f"{row['ratio_bare']:.2f}",
                f"{row['max_abs_difference_loop']:.1e}",
            ]
        )
        if run_pymgrit is not None:
            row["pymgrit_over_toolkit"] = t["pymgrit"] / t["toolkit nested"]
            line += (
                f" {us['pymgrit']:>10.1f} {us['toolkit nested']:>9.1f} {row['pymgrit_over_toolkit']:>7.1f}"
                f" {row['max_abs_difference_pymgrit']:>8.1e}"
            )
            pymgrit_rows.append(
                [
                    str(d),
                    str(n0),
                    str(num_levels),
                    f"{relax} (cf_iter={0 if relax == 'F' else 1})",
                    f"{us['pymgrit']:.1f}",
                    f"{us['toolkit nested']:.1f}",
                    f"{row['pymgrit_over_toolkit']:.1f}",
                    f"{row['max_abs_difference_pymgrit']:.1e}",
                    f"{row['max_abs_difference_pymgrit_fine']:.1e}",
                ]
            )
        print(line, flush=True)
        rows.append(row)
    worst_default = max(r["ratio_default"] for r in rows)
    worst_bare = max(r["ratio_bare"] for r in rows)
    worst_diff = max(r["max_abs_difference_loop"] for r in rows)
    summary = (
        f"toolkit (defaults) / loop + monitoring: worst {worst_default:.2f}; toolkit bare / loop: worst "
        f"{worst_bare:.2f} (goal <= 1.10); iterates differ by at most {worst_diff:.1e}"
    )
    extra = {}
    if run_pymgrit is not None:
        extra = {
            "pymgrit_version": pymgrit_version,
            "min_pymgrit_over_toolkit": min(r["pymgrit_over_toolkit"] for r in rows),
            "max_pymgrit_over_toolkit": max(r["pymgrit_over_toolkit"] for r in rows),
            "max_abs_difference_pymgrit": max(r["max_abs_difference_pymgrit"] for r in rows),
        }
        summary += (
            f"; PyMGRIT {pymgrit_version} / toolkit (initial='nested'): {extra['min_pymgrit_over_toolkit']:.1f}x to "
            f"{extra['max_pymgrit_over_toolkit']:.1f}x the time per iteration, iterates differ by at most "
            f"{extra['max_abs_difference_pymgrit']:.1e}"
        )
    else:
        extra = {"pymgrit_skipped": reason}
    print(summary)
    clock_words = "process CPU time" if args.clock == "process" else "wall-clock (perf_counter)"
    tables = {
        "overhead": results_table(
            f"Microseconds per MGRIT iteration, heat 1-D (dense, d unknowns), implicit Euler on every level, m = "
            f"{COARSENING}, V-cycle, K = {ITERATIONS}, BLAS on 1 thread, {clock_words}, medians of {args.repeats}; "
            "ratio = toolkit / hand-written numpy+LAPACK loop",
            [
                "d",
                "N_0",
                "levels",
                "relax",
                "loop",
                "loop + monitoring",
                "toolkit (defaults)",
                "ratio to loop + monitoring",
                "toolkit bare",
                "ratio to loop",
                "max |diff|",
            ],
            overhead_rows,
        ),
    }
    if run_pymgrit is not None:
        tables["pymgrit"] = results_table(
            f"Microseconds per MGRIT iteration: PyMGRIT {pymgrit_version} (one process, nested iteration, V-cycle, "
            "its step calling the toolkit's propagator) against mgrit(..., initial='nested'); max |diff| over the "
            "C-point iterates and over the final fine solution",
            [
                "d",
                "N_0",
                "levels",
                "relax",
                "PyMGRIT",
                "toolkit",
                "PyMGRIT / toolkit",
                "max |diff| C-points",
                "max |diff| fine",
            ],
            pymgrit_rows,
        )
    command = "python benchmarks/mgrit_driver.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    record = results_record(
        "mgrit_driver",
        command.strip(),
        tables=tables,
        note=f"{os.cpu_count()}-core shared CPU machine; BLAS on one thread",
        iterations=ITERATIONS,
        coarsening=COARSENING,
        repeats=args.repeats,
        clock=args.clock,
        numpy=np.__version__,
        scipy=scipy.__version__,
        rows=rows,
        worst_ratio_default=worst_default,
        worst_ratio_bare=worst_bare,
        max_abs_difference_loop=worst_diff,
        summary=summary,
        load_average=[load_before, os.getloadavg()[0] if hasattr(os, "getloadavg") else None],
        **extra,
    )
    finish(args, write_results(json_path, record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
