"""``parareal ode``: classical parareal on a catalogue problem, one row per iteration."""

from __future__ import annotations

import argparse

from .._names import BACKEND_NAMES, FORMS, PROBLEM_NAMES
from ._common import non_negative_int, positive_float, positive_int

HELP = "run classical parareal (exact fine, implicit-Euler coarse) on a linear ODE"

_BOUND_MAX_SIZE = 2500  # the bound needs a dense eigendecomposition of A


# the backends that make sense for an ODE on one machine or under torchrun
_ODE_BACKENDS = tuple(b for b in BACKEND_NAMES if b != "devices")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--problem", choices=PROBLEM_NAMES, default="heat1d", help="catalogue problem (default: heat1d)"
    )
    parser.add_argument(
        "--size", type=positive_int, help="grid size m of heat1d/heat2d/advection (default: the problem's)"
    )
    parser.add_argument("--t-final", type=positive_float, help="final time T (default: the problem's)")
    parser.add_argument("--slices", type=positive_int, default=10, help="number of slices N (default: 10)")
    parser.add_argument("--iterations", type=non_negative_int, help="iterations K (default: N, or the cap with --tol)")
    parser.add_argument("--tol", type=positive_float, help="stop when the increment is at most TOL")
    parser.add_argument(
        "--coarse-substeps", type=positive_int, default=1, help="implicit-Euler substeps per coarse slice (default: 1)"
    )
    parser.add_argument("--form", choices=FORMS, default="standard", help="update form (default: standard)")
    parser.add_argument("--sparse", action="store_true", help="keep A sparse (expm_multiply fine, splu coarse)")
    parser.add_argument(
        "--fine-substeps",
        type=positive_int,
        help="make the fine propagator implicit Euler with this many substeps (default: exact expm); "
        "an expensive fine propagator is what parareal can speed up",
    )
    parser.add_argument(
        "--backend",
        choices=_ODE_BACKENDS,
        default="batched",
        help="how the fine sweep runs (default: batched); 'distributed' needs torchrun "
        "(torchrun --nproc-per-node W -m parareal_toolkit.cli ode --backend distributed ...)",
    )
    parser.add_argument(
        "--workers", type=positive_int, help="worker processes for --backend processes (default: CPU count)"
    )
    parser.add_argument("--plot", metavar="FILE.png", help="save the convergence figure")
    parser.add_argument("--json", metavar="FILE", help="save the rows and the set-up as JSON")


def run(args: argparse.Namespace) -> int:
    distributed = args.backend == "distributed"
    try:
        return _run(args)
    finally:
        if distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                # Every rank waits for rank 0's report, then all leave together: a rank that
                # exits while its peers still talk to it aborts in gloo's teardown.
                dist.barrier()
                dist.destroy_process_group()


def _run(args: argparse.Namespace) -> int:
    import json
    import math
    import time

    from ..backends import Backend, ProcessBackend, get_backend
    from ..driver import parareal
    from ..ode.exact import ExactPropagator
    from ..ode.implicit_euler import ImplicitEulerPropagator
    from ..ode.problems import make_problem
    from ..ode.theory import error_bounds, speedup
    from ..propagator import TimeGrid, propagate_sequentially

    problem = make_problem(args.problem, size=args.size, t_final=args.t_final, sparse=args.sparse)
    if args.workers is not None and args.backend != "processes":
        raise ValueError(f"--workers applies only to --backend processes; got --backend {args.backend}.")
    grid = TimeGrid.uniform(problem.t_final, args.slices)
    fine: ExactPropagator | ImplicitEulerPropagator
    if args.fine_substeps is None:
        fine = ExactPropagator(problem.ode, grid)
        fine_name = "exact (expm)"
    else:
        fine = ImplicitEulerPropagator(problem.ode, grid, substeps=args.fine_substeps)
        fine_name = f"{args.fine_substeps} implicit-Euler substeps"
    coarse = ImplicitEulerPropagator(problem.ode, grid, substeps=args.coarse_substeps)
    for j in range(grid.num_slices):  # build every cached factor before anything is timed
        fine(problem.u0, j), coarse(problem.u0, j)

    start = time.perf_counter()
    reference = propagate_sequentially(fine, problem.u0)
    sequential_seconds = time.perf_counter() - start
    start = time.perf_counter()
    propagate_sequentially(coarse, problem.u0)
    coarse_sweep_seconds = time.perf_counter() - start

    leader = True
    pool: ProcessBackend | None = None
    backend: Backend
    if args.backend == "distributed":
        from ..backends.distributed import DistributedBackend, init_distributed

        rank, _ = init_distributed()
        leader = rank == 0
        ranks = DistributedBackend()
        backend, workers = ranks, ranks.world_size
    elif args.backend == "processes":
        pool = ProcessBackend(args.workers)
        backend, workers = pool, pool.workers
    else:
        backend = get_backend(args.backend)
        workers = 1
    counts: list[tuple[int, int]] = []  # cumulative (fine, coarse) evaluations per iterate
    try:
        if pool is not None:
            pool.start(fine)  # pool start-up is not part of the parareal time
        if args.backend == "distributed":
            import torch.distributed as dist

            dist.barrier()  # every rank starts the clock together
        start = time.perf_counter()
        result = parareal(
            fine,
            coarse,
            problem.u0,
            iterations=args.iterations,
            tol=args.tol,
            form=args.form,
            reference=reference,
            backend=backend,
            callback=lambda info: counts.append((info.fine_evaluations, info.coarse_evaluations)),
        )
        parareal_seconds = time.perf_counter() - start
    finally:
        if pool is not None:
            pool.close()

    if not leader:  # under torchrun every rank computed the same result; rank 0 reports it
        return 0
    # stored iterates and errors: store_iterates is on and a reference was given
    assert result.iterates is not None and result.errors is not None
    bounds = None
    if problem.ode.size <= _BOUND_MAX_SIZE:
        initial_error = [u - r for u, r in zip(result.iterates[0], reference)]
        bounds = error_bounds(
            problem.ode,
            grid,
            initial_error,
            result.iterations,
            substeps=args.coarse_substeps,
            fine_substeps=args.fine_substeps,
        )

    print(
        f"{problem.description}; T = {problem.t_final:g}, N = {grid.num_slices} slices, fine: {fine_name}, "
        f"coarse: {args.coarse_substeps} implicit-Euler substep(s), {args.form} form"
    )
    header = f"{'k':>3}  {'max error':>11}  {'increment':>11}  {'bound':>11}  {'fine evals':>10}  {'coarse evals':>12}"
    print(header)
    rows = []
    for k in range(result.iterations + 1):
        increment = result.increments[k - 1] if k > 0 else None
        bound = None if bounds is None or not math.isfinite(bounds[k]) else float(bounds[k])
        row = {
            "k": k,
            "max_error": result.errors[k],
            "increment": increment,
            "bound": bound,
            "fine_evaluations": counts[k][0],
            "coarse_evaluations": counts[k][1],
        }
        rows.append(row)
        fmt = lambda v: f"{v:11.3e}" if v is not None else f"{'-':>11}"
        print(
            f"{k:>3}  {fmt(row['max_error'])}  {fmt(increment)}  {fmt(bound)}  {counts[k][0]:>10}  {counts[k][1]:>12}"
        )
    status = "converged" if result.converged else "not converged"
    print(f"{status} after {result.iterations} iteration(s)")
    alpha = coarse_sweep_seconds / sequential_seconds
    model = speedup(alpha, grid.num_slices, max(result.iterations, 1), workers=workers) if result.iterations else None
    measured = sequential_seconds / parareal_seconds
    timing = {
        "backend": args.backend,
        "workers": workers,
        "sequential_fine_s": sequential_seconds,
        "coarse_sweep_s": coarse_sweep_seconds,
        "parareal_s": parareal_seconds,
        "alpha": alpha,
        "measured_speedup": measured,
        "model_speedup": model,
    }
    model_text = "-" if model is None else f"{model:.2f}x"
    print(
        f"wall-clock: sequential fine {sequential_seconds:.4g} s, parareal {parareal_seconds:.4g} s "
        f"({args.backend}, {workers} worker(s)); speedup {measured:.2f}x measured, {model_text} model "
        f"(alpha = c_G/c_F = {alpha:.3g})"
    )

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..plotting import plot_convergence, plot_error_over_time

        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
        plot_convergence(result, bounds=None if bounds is None else {"Gander-Vandewalle bound": bounds}, ax=left)
        left.set_title(problem.description)
        plot_error_over_time(result, grid.times, ax=right)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        plt.close(fig)
        print(f"figure written to {args.plot}")
    if args.json:
        payload = {
            "problem": problem.name,
            "description": problem.description,
            "size": problem.ode.size,
            "t_final": problem.t_final,
            "slices": grid.num_slices,
            "coarse_substeps": args.coarse_substeps,
            "form": args.form,
            "tol": args.tol,
            "fine": fine_name,
            "converged": result.converged,
            "iterations": result.iterations,
            "timing": timing,
            "rows": rows,
        }
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=2)
        print(f"results written to {args.json}")
    return 0


__all__ = ["HELP", "add_arguments", "run"]
