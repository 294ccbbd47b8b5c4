"""Tables the documentation computes while it is built (``{computed-table} paper_tables:NAME``).

Each function runs the toolkit's public code, formats the cells with the same code the
``parareal`` command prints them with, and returns a ``{title, columns, rows}`` table
(:func:`parareal_toolkit.results.results_table`). Only deterministic quantities are
computed here (counts, float64 errors, simulated cycles); timings come from committed
results files instead.
"""

from __future__ import annotations

import numpy as np

from parareal_toolkit.results import results_table


def model_sizes(depth: int = 1001, subnetworks: tuple[int, ...] = (3, 6, 12, 18, 24)) -> dict:
    """Parameters of ResNet-``depth`` and its Parareal versions, as ``parareal models`` prints them."""
    from parareal_toolkit.cli.models import _HEADER, model_cells
    from parareal_toolkit.plans import parareal_resnet_table

    rows = parareal_resnet_table(depth, list(subnetworks))
    return results_table(
        f"ResNet-{depth} and Parareal ResNet-N, 10 classes: trainable parameters", _HEADER, model_cells(rows)
    )


def proposition1(examples: int = 20, seed: int = 0) -> dict:
    """Proposition 1 on random float64 configurations, as ``parareal verify`` prints it."""
    from parareal_toolkit.cli.verify import SUMMARY_HEADER, summary_cells
    from parareal_toolkit.verification.proposition1 import verify_proposition1

    results = verify_proposition1(examples=examples, seed=seed)
    return results_table(
        f"Proposition 1: f~ = f on {examples} random configurations per case (seed {seed})",
        SUMMARY_HEADER,
        [summary_cells(r) for r in results],
    )


def classical_parareal() -> dict:
    """Gander–Vandewalle on the heat equation and on advection, measured in float64."""
    from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
    from parareal_toolkit.ode import (
        ExactPropagator,
        ImplicitEulerPropagator,
        advection_periodic,
        convergence_factor,
        error_bounds,
        heat_1d,
        heat_contraction_factor,
    )

    rows = []
    for m in (25, 50, 100, 200, 400):
        problem = heat_1d(m)
        grid = TimeGrid.uniform(problem.t_final, 10)
        fine, coarse = ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)
        reference = propagate_sequentially(fine, problem.u0)
        result = parareal(fine, coarse, problem.u0, iterations=5, reference=reference)
        errors = np.asarray(result.errors)
        ratios = errors[1:] / errors[:-1]
        initial = [u - r for u, r in zip(result.iterates[0], reference)]
        bounds = error_bounds(problem.ode, grid, initial, result.iterations, kind="best")
        under = bool(np.all(errors <= bounds * (1 + 1e-12)))
        rows.append(
            [
                f"heat1d, m = {m}, N = 10",
                f"{ratios.min():.2f} to {ratios.max():.2f}",
                f"{heat_contraction_factor():.4f}",
                "yes" if under else "no",
            ]
        )
    problem = advection_periodic(64)
    grid = TimeGrid.uniform(problem.t_final, 10)
    z = np.linalg.eigvals(problem.ode.A) * grid.steps[0]
    nonzero = np.abs(z) > 1e-12
    factors = convergence_factor(z[nonzero])
    rows.append(
        [
            "advection, m = 64, N = 10 (linear factor per mode)",
            f"{factors.min():.3f} to {factors.max():.3f}",
            "-",
            "-",
        ]
    )
    return results_table(
        "Error contraction per iteration, exact fine and implicit-Euler coarse propagators (float64)",
        ["problem", "measured ratio e(k+1)/e(k), k < 5", "bound (any mesh)", "errors under the bounds"],
        rows,
    )


def seed_table1() -> dict:
    """The seed paper's Table 1 (test errors) from :data:`parareal_toolkit.bench.SEED_TABLE1`."""
    from parareal_toolkit.bench import SEED_TABLE1

    def model(n: int) -> str:
        return "ResNet-1001" if n == 1 else f"Parareal ResNet, N = {n}"

    return results_table(
        "The seed paper's Table 1: test error after 200 epochs (the paper's numbers; "
        "this toolkit's need a GPU and were not measured)",
        ["model", "CIFAR-10 error, paper", "CIFAR-100 error, paper", "this toolkit"],
        [
            [model(n), f"{row['cifar10']:.2f} %", f"{row['cifar100']:.2f} %", "not measured"]
            for n, row in SEED_TABLE1.items()
        ],
    )


def seed_table2() -> dict:
    """The seed paper's Table 2 totals from :data:`parareal_toolkit.bench.SEED_TABLE2`."""
    from parareal_toolkit.bench import SEED_TABLE2

    return results_table(
        "The seed paper's Table 2: seconds per gradient iteration, virtual wall-clock "
        "(ResNet-1001 and Parareal ResNet-N, batch 128, Titan RTX; the paper's numbers)",
        ["N", *(str(n) for n in SEED_TABLE2)],
        [
            ["paper (s, Titan RTX)", *(f"{row['total']:.4f}" for row in SEED_TABLE2.values())],
            ["this toolkit, ResNet-1001 on a GPU", *("not measured" for _ in SEED_TABLE2)],
        ],
    )
