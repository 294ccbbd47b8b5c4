"""Parareal on the nonlinear catalogue: which stopping rule certifies what, and the steppers' orders.

For each problem (default fine and coarse steppers of ``parareal ode``, ``N = 10`` slices,
``tol = 1e-6``) one run of ``K = N`` iterations gives, per iteration, the true error against
the sequential fine solution, the increment and the driver's a-posteriori estimate
(``fine_lipschitz`` from the logarithmic max-norm of the Jacobian). The table reports the
first ``K`` at which each quantity is at most ``tol`` and the true error there. The
increment rule carries no guarantee: the increment of iteration ``k`` is close to the error
of iterate ``k - 1``, so on fast-converging problems it stops an iteration late, and on
slowly contracting ones (factor ``ρ`` near 1) the error left can exceed it by about
``ρ / (1 - ρ)``. The estimate rule stops with the error below ``tol`` whenever ``L`` is a
true Lipschitz constant (heat: exactly, ``L = 1``); with a large ``L`` (chaotic or strongly
oscillating problems) it stops late or only at ``K = N``, where the iterate is exact.

A second table measures each stepper's order on van der Pol (``μ = 1``, ``T = 1``): the
error against ``solve_ivp`` DOP853 at ``rtol = atol = 1e-13`` for 20, 40, 80 steps, and the
ratios (about ``2^p``).

Deterministic: no timing is involved, so the numbers do not depend on the machine's load.

    python benchmarks/ode_nonlinear.py --update-results    # writes benchmarks/results/ode_nonlinear.json
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.cli._ode_build import DEFAULT_STEPPERS
from parareal_toolkit.ode import (
    NONLINEAR_PROBLEMS,
    STEPPERS,
    ExactPropagator,
    ImplicitEulerPropagator,
    SolveIVPPropagator,
    fine_lipschitz_estimate,
    heat_1d,
    lorenz,
    van_der_pol,
)
from parareal_toolkit.results import results_record, results_table, write_results

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path

TOL = 1e-6
N = 10


def _steppers(problem, grid, name):
    fine_name, fine_h, coarse_name, coarse_h = DEFAULT_STEPPERS[name]
    dt = float(grid.steps.max())

    def substeps(h):
        return 1 if h is None else max(1, math.ceil(dt / h - 1e-9))

    fine = STEPPERS[fine_name](problem.ode, grid, substeps=substeps(fine_h))
    coarse = STEPPERS[coarse_name](problem.ode, grid, substeps=substeps(coarse_h))
    return fine, coarse, f"{fine.substeps} {fine_name}", f"{coarse.substeps} {coarse_name}"


def _first(values, offset=0):
    return next((k + offset for k, v in enumerate(values) if v <= TOL), None)


def _criteria_row(label, problem, grid, fine, coarse, fine_text, coarse_text, substeps=None):
    reference = propagate_sequentially(fine, problem.u0)
    states = reference if substeps != "linear" else [problem.u0]
    lipschitz = fine_lipschitz_estimate(problem.ode, grid, states)
    result = parareal(fine, coarse, problem.u0, reference=reference, fine_lipschitz=lipschitz)
    errors = result.errors
    needed = _first(errors)
    by_increment = _first(result.increments, offset=1)
    by_estimate = _first(result.estimates, offset=1)

    def error_at(k):
        return "-" if k is None else f"{errors[k]:.1e}"

    def show(k):
        return "never" if k is None else str(k)

    print(
        f"{label:>28}: error <= tol at K = {show(needed)}; increment rule K = {show(by_increment)} "
        f"(error {error_at(by_increment)}); estimate rule K = {show(by_estimate)} (error {error_at(by_estimate)}), "
        f"L = {lipschitz:.3g}"
    )
    return [
        label,
        fine_text,
        coarse_text,
        show(needed),
        show(by_increment),
        error_at(by_increment),
        show(by_estimate),
        error_at(by_estimate),
        f"{lipschitz:.3g}",
    ]


def criteria_table():
    rows = []
    problem = heat_1d(50)
    grid = TimeGrid.uniform(problem.t_final, N)
    rows.append(
        _criteria_row(
            "heat1d (m = 50, T = 0.1)",
            problem,
            grid,
            ExactPropagator(problem.ode, grid),
            ImplicitEulerPropagator(problem.ode, grid),
            "exact (expm)",
            "1 implicit-euler",
            substeps="linear",
        )
    )
    for name in NONLINEAR_PROBLEMS:
        problem = NONLINEAR_PROBLEMS[name]()
        grid = TimeGrid.uniform(problem.t_final, N)
        fine, coarse, fine_text, coarse_text = _steppers(problem, grid, name)
        rows.append(
            _criteria_row(f"{name} (T = {problem.t_final:g})", problem, grid, fine, coarse, fine_text, coarse_text)
        )
    problem = lorenz(t_final=20.0)
    grid = TimeGrid.uniform(problem.t_final, N)
    fine, coarse, fine_text, coarse_text = _steppers(problem, grid, "lorenz")
    rows.append(_criteria_row("lorenz (T = 20)", problem, grid, fine, coarse, fine_text, coarse_text))
    return results_table(
        f"Iterations K at which each quantity first is at most tol = {TOL:g} (N = {N}), and the true error there",
        [
            "problem",
            "fine (steps per slice)",
            "coarse (steps per slice)",
            "K: error <= tol",
            "K: increment <= tol",
            "error there",
            "K: estimate <= tol",
            "error there",
            "L (fine slice)",
        ],
        rows,
    )


def orders_table():
    problem = van_der_pol(1.0, t_final=1.0)
    grid = TimeGrid.uniform(1.0, 1)
    exact = SolveIVPPropagator(problem.ode, grid, method="DOP853", rtol=1e-13, atol=1e-13)(problem.u0, 0)
    rows = []
    for name, kind in STEPPERS.items():
        errors = [float(np.abs(kind(problem.ode, grid, substeps=m)(problem.u0, 0) - exact).max()) for m in (20, 40, 80)]
        ratios = [errors[0] / errors[1], errors[1] / errors[2]]
        print(
            f"{name:>15} (order {kind.order}): errors "
            + ", ".join(f"{e:.2e}" for e in errors)
            + "; ratios "
            + ", ".join(f"{r:.2f}" for r in ratios)
        )
        rows.append(
            [name, str(kind.order), *(f"{e:.2e}" for e in errors), *(f"{r:.2f}" for r in ratios), f"{2**kind.order}"]
        )
    return results_table(
        "Measured order on van der Pol (μ = 1, T = 1): max error against solve_ivp DOP853 (rtol = atol = 1e-13)",
        [
            "stepper",
            "order p",
            "error, 20 steps",
            "error, 40 steps",
            "error, 80 steps",
            "ratio 20/40",
            "ratio 40/80",
            "2^p",
        ],
        rows,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_output_options(parser)
    args = parser.parse_args(argv)
    path = output_path(parser, args, "ode_nonlinear.json")
    tables = {"criteria": criteria_table(), "orders": orders_table()}
    record = results_record("ode_nonlinear", "python benchmarks/ode_nonlinear.py", tol=TOL, slices=N, tables=tables)
    finish(args, write_results(path, record))


if __name__ == "__main__":
    main()
