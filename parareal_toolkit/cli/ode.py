"""``parareal ode``: parareal on a catalogue problem, linear or nonlinear, one row per iteration.

Linear problems run classical parareal (exact fine, implicit-Euler coarse) here; nonlinear
problems, and linear ones with ``--fine``/``--coarse`` naming a time stepper, run in
:mod:`parareal_toolkit.cli._ode_general`.

Exit status: 0 when the run ends with finite values; 1 when it ran but a NaN or an infinity
appeared (the table stops at that iteration, the line ``non-finite values ... at iteration k``
says which, and the figure and JSON are still written); 2 with one line on stderr for refused
input: a bad option, an output file that cannot be written (checked before any work), a run
outside torchrun with ``--backend distributed``, or a request whose memory or run-time
estimate does not fit (see :func:`estimate`); 130 after Ctrl-C.

Runs estimated to take more than a few seconds say so on stderr and show a progress bar
there (counting fine slice evaluations).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from .._names import (
    BACKEND_NAMES,
    CRITERIA,
    FORMS,
    INITIAL_NAMES,
    PROBLEM_NAMES,
    SOLVE_IVP_NAMES,
    STEPPER_NAMES,
)
from .._resources import available_memory, format_bytes
from ._common import (
    CliError,
    check_distinct_outputs,
    check_figure_path,
    check_output_path,
    finite_float,
    non_negative_int,
    positive_float,
    positive_int,
    write_json,
)

HELP = "run parareal on a catalogue ODE, linear (exact fine, implicit-Euler coarse) or nonlinear (time steppers)"

_BOUND_MAX_SIZE = 2500  # the bound needs a dense eigendecomposition of A

# the backends that make sense for an ODE on one machine or under torchrun
_ODE_BACKENDS = tuple(b for b in BACKEND_NAMES if b != "devices")

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_DEFAULT_TIME_LIMIT = 600.0
_ANNOUNCE_SECONDS = 5.0  # runs estimated longer than this say so on stderr


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--problem", choices=PROBLEM_NAMES, default="heat1d", help="catalogue problem (default: heat1d)"
    )
    parser.add_argument(
        "--size", type=positive_int, help="grid size m of heat1d/heat2d/advection (default: the problem's)"
    )
    parser.add_argument("--t-final", type=positive_float, help="final time T (default: the problem's)")
    parser.add_argument(
        "--lam",
        type=finite_float,
        help="λ of --problem dahlquist, u' = λu (default -1; a positive λ is a growing solution)",
    )
    parser.add_argument("--slices", type=positive_int, default=10, help="number of slices N (default: 10)")
    parser.add_argument("--iterations", type=non_negative_int, help="iterations K (default: N, or the cap with --tol)")
    parser.add_argument(
        "--tol", type=positive_float, help="stop when the --criterion (default: the increment) is at most TOL"
    )
    parser.add_argument(
        "--coarse-substeps",
        type=positive_int,
        help="substeps per coarse slice (default: 1, or the nonlinear problem's)",
    )
    parser.add_argument("--form", choices=FORMS, default="standard", help="update form (default: standard)")
    parser.add_argument("--sparse", action="store_true", help="keep A sparse (expm_multiply fine, splu coarse)")
    parser.add_argument(
        "--fine-substeps",
        type=positive_int,
        help="make the fine propagator implicit Euler with this many substeps (default: exact expm); "
        "an expensive fine propagator is what parareal can speed up. With --fine STEPPER or a nonlinear "
        "problem: the substeps of the fine time stepper",
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
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=_DEFAULT_TIME_LIMIT,
        metavar="SECONDS",
        help=f"refuse a run whose estimated time exceeds SECONDS (default: {_DEFAULT_TIME_LIMIT:g}); "
        "requests that do not fit in the available memory are always refused",
    )
    parser.add_argument(
        "--criterion",
        choices=CRITERIA,
        default="increment",
        help="what --tol bounds: the increment (default), or the a-posteriori estimate of the error "
        "against the fine solution",
    )
    parser.add_argument(
        "--initial", choices=INITIAL_NAMES, help="initial value of heat1d/heat2d/advection (default: the problem's)"
    )
    parser.add_argument(
        "--fine",
        choices=("exact", *STEPPER_NAMES, *SOLVE_IVP_NAMES),
        help="fine propagator: exact (linear problems), a time stepper with --fine-substeps M, or a "
        "scipy solve_ivp method (default: exact for linear problems, the problem's choice for nonlinear ones)",
    )
    parser.add_argument(
        "--coarse",
        choices=STEPPER_NAMES,
        help="coarse time stepper with --coarse-substeps (default: implicit Euler, or the problem's)",
    )
    parser.add_argument("--rtol", type=positive_float, help="relative tolerance of a --fine ivp-* propagator (1e-8)")
    parser.add_argument("--atol", type=positive_float, help="absolute tolerance of a --fine ivp-* propagator (1e-10)")
    parser.add_argument("--mu", type=finite_float, help="stiffness parameter μ >= 0 of --problem vanderpol (10)")
    parser.add_argument("--viscosity", type=positive_float, help="viscosity ν of --problem burgers (0.02)")
    parser.add_argument("--plot", metavar="FILE.png", help="save the convergence figure")
    parser.add_argument("--json", metavar="FILE", help="save the rows and the set-up as JSON")


def run(args: argparse.Namespace) -> int:
    from ._ode_general import check_options, run_steppers, uses_steppers

    args.coarse_substeps_given = args.coarse_substeps is not None
    if args.coarse_substeps is None:
        args.coarse_substeps = 1
    check_options(args)
    if uses_steppers(args):
        check_figure_path("--plot", args.plot)
        check_output_path("--json", args.json)
        check_distinct_outputs(plot=args.plot, json=args.json)
        return run_steppers(args)
    _check_before_work(args)
    distributed = args.backend == "distributed"
    clean = False
    try:
        code = _run(args)
        clean = True
        return code
    except MemoryError:
        raise CliError(
            "out of memory while running (the estimate did not foresee it); use --sparse or a smaller --size."
        ) from None
    except Exception as exc:
        if distributed and _is_distributed_error(exc):
            raise CliError(f"the distributed run failed: {exc}") from None
        raise
    finally:
        if distributed:
            _leave_process_group(clean)


def _is_distributed_error(exc: BaseException) -> bool:
    from ..backends.distributed import DistributedError

    return isinstance(exc, DistributedError)


def _leave_process_group(clean: bool) -> None:
    """Leave torch.distributed: together after a clean run, at once after an error (whose report must stay first)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return
    if not clean:
        # No barrier: a rank that failed must not wait for peers that may be gone, and a
        # second error from the barrier would replace the first one.
        with contextlib.suppress(Exception):  # teardown after a failure: the first error is reported
            dist.destroy_process_group()
        return
    try:
        # Every rank waits for rank 0's report, then all leave together: a rank that exits
        # while its peers still talk to it aborts in gloo's teardown.
        dist.barrier()
    except RuntimeError as exc:
        raise CliError(f"a peer rank failed at the end of the run: {exc}") from None
    finally:
        dist.destroy_process_group()


def _check_before_work(args: argparse.Namespace) -> None:
    """Everything that can be refused before a problem is built: options, environment, output files."""
    if args.workers is not None and args.backend != "processes":
        raise CliError(f"--workers applies only to --backend processes; got --backend {args.backend}.")
    if args.backend == "distributed":
        import torch.distributed as dist

        missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
        if missing and not dist.is_initialized():
            raise CliError(
                f"--backend distributed needs torchrun ({', '.join(missing)} not set): launch with "
                "torchrun --nproc-per-node W -m parareal_toolkit.cli ode --backend distributed ..."
            )
    check_figure_path("--plot", args.plot)
    check_output_path("--json", args.json)
    check_distinct_outputs(plot=args.plot, json=args.json)


# --- estimates ---------------------------------------------------------------------------


@dataclass
class Estimate:
    """What a ``parareal ode`` run needs, estimated before anything large is built.

    Attributes
    ----------
    size : int
        ``m``, the state dimension.
    bytes : float
        Peak memory: dense matrices (the exponential, the factorisations, the
        eigendecomposition of the bound), sparse factors, and every stored state.
    seconds : float
        Run time on this machine: dense factorisations at a measured matrix-product rate,
        fine and coarse slices from per-substep (or per-``expm_multiply``-step) costs.
    parts : dict
        ``seconds`` split by cause (``"dense matrix functions"``, ``"fine slices"``, ...).
    dense_matrices : int
        How many dense ``m x m`` float64 matrices the memory estimate counts (0 for sparse).
    """

    size: int
    bytes: float
    seconds: float
    parts: dict[str, float] = field(default_factory=dict)
    dense_matrices: int = 0


def estimate(args: argparse.Namespace, probe: Any, size: int, iterations: int) -> Estimate:
    """The memory and run time of ``parareal ode`` with options ``args``, before the run.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.
    probe : LinearProblem
        The problem with a *sparse* ``A`` when it has a size (cheap to build whatever the
        size), used for norms and fill-in.
    size : int
        ``m``, the state dimension.
    iterations : int
        ``K``, the number of parareal iterations (the cap with ``--tol``).

    Returns
    -------
    Estimate
        Peak bytes and seconds, with the seconds split by cause: an implicit-Euler substep
        costs about ``2 µs + 2e-10 s x m^2`` per state (dense; sparse: ``3 µs + 5e-9 s``
        per entry of the LU factors), dense factorisations run at a measured matrix-product
        rate, ``expm_multiply`` takes about ``5.6 ||ΔT A||_1`` steps per slice. Calibrated
        on an idle 2-core machine: a loaded one is slower. Meant to be right within a small
        factor, enough to refuse runs of hours.
    """
    import numpy as np
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    n, slices, k = size, args.slices, iterations
    A = probe.ode.A
    nnz = A.nnz if sp.issparse(A) else n * n
    step = probe.t_final / slices
    step_norm = float(spla.norm(A, 1) if sp.issparse(A) else np.abs(A).sum(axis=0).max()) * step
    fine_substeps = args.fine_substeps
    exact_fine = fine_substeps is None
    implicit_propagators = 1 if exact_fine else 2
    workers = {"batched": 1, "serial": 1, "processes": args.workers or os.cpu_count() or 1}.get(
        args.backend, int(os.environ.get("WORLD_SIZE", "1"))
    )
    # fine slices: the sequential reference (N calls), then K sweeps, each N calls spread
    # over the workers, or one batched call of N states
    batched = args.backend == "batched"
    sweep_calls = 1 if batched else math.ceil(slices / workers)
    coarse_evaluations = slices + slices + k * max(slices - 1, 0)  # timing sweep, initial sweep, K sweeps
    parts: dict[str, float] = {}
    states_bytes = 8.0 * n * (slices + 1) * (k + 4)  # stored iterates, reference, batches in flight
    if args.sparse:
        fill = 0.7 * n**1.5 if probe.name == "heat2d" else 4.0 * nnz
        matrix_bytes = 12.0 * (3 * nnz + implicit_propagators * fill)
        dense = 0
        parts["sparse factorisations"] = 1e-7 * fill * implicit_propagators
        single = 3e-6 + 5e-9 * fill  # one splu solve (per substep)
        batch = 3e-6 + 5e-9 * fill * slices
        if exact_fine:
            steps = 5.6 * step_norm + 10  # expm_multiply: ~5.6 matrix-vector steps per unit of ||ΔT A||_1
            per_slice = steps * (1.5e-5 + 2e-9 * nnz)
            parts["fine slices"] = per_slice * (slices + k * sweep_calls * (slices if batched else 1))
    else:
        dense = (9 if exact_fine else 5) + (6 if n <= _BOUND_MAX_SIZE else 0)
        matrix_bytes = 8.0 * n * n * dense
        rate = _matmul_rate() if n >= 1000 else 1e10
        flops = implicit_propagators * (2 / 3) * n**3
        if exact_fine:
            squarings = math.ceil(math.log2(step_norm / 5.37)) if step_norm > 5.37 else 0
            flops += 2.0 * n**3 * (7 + min(squarings, 2000))
            parts["fine slices"] = (2e-6 + 2e-10 * n * n) * (slices + k * slices)
        parts["dense matrix functions"] = flops / rate
        single = 2e-6 + 2e-10 * n * n  # one LAPACK getrs (per substep)
        batch = 2e-6 + 2e-10 * n * n * slices
    if not exact_fine:
        parts["fine slices"] = fine_substeps * (slices * single + k * (batch if batched else sweep_calls * single))
    parts["coarse slices"] = coarse_evaluations * args.coarse_substeps * single
    if n <= _BOUND_MAX_SIZE:
        symmetric = probe.name in ("heat1d", "heat2d", "dahlquist")
        parts["error bound"] = (22 if symmetric else 62) * n**3 / (_matmul_rate() if n >= 1000 else 1e10)
    if args.backend == "processes":
        parts["process pool start"] = 1.5 * workers
    return Estimate(
        size=n,
        bytes=states_bytes + matrix_bytes,
        seconds=sum(parts.values()),
        parts=parts,
        dense_matrices=dense,
    )


_RATE: list[float] = []


def _matmul_rate() -> float:
    """Dense float64 matrix-product rate of this machine in flop/s (measured once, ~0.1 s)."""
    if not _RATE:
        import time

        import numpy as np

        a = np.ones((1024, 1024))
        a @ a  # warm the BLAS threads
        start = time.perf_counter()
        a @ a
        _RATE.append(2 * 1024**3 / max(time.perf_counter() - start, 1e-9))
    return _RATE[0]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    for unit, length in (("min", 60), ("h", 3600), ("days", 86400), ("years", 3.15576e7)):
        if seconds < 120 * length or unit == "years":
            value = seconds / length
            if unit == "years" and value >= 1e4:
                return f"{value:.1e} years"
            return f"{value:.3g} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def _problem_size(args: argparse.Namespace) -> int:
    """``m``, the state dimension, computed without building anything."""
    from ..ode.problems import PROBLEMS

    if args.problem == "oscillator":
        return 2
    if args.problem == "dahlquist":
        return 1
    m = args.size if args.size is not None else inspect.signature(PROBLEMS[args.problem]).parameters["m"].default
    return int(m) ** 2 if args.problem == "heat2d" else int(m)


def _refuse_what_does_not_fit(args: argparse.Namespace, iterations: int) -> Estimate | None:
    """Estimate the run and refuse it (exit 2, with the estimate and a way out) when it cannot fit."""
    from ..ode.problems import make_problem

    n = _problem_size(args)
    available = available_memory()
    states_bytes = 8.0 * n * (args.slices + 1) * (iterations + 4)
    if available is not None and states_bytes > available:
        raise CliError(
            f"storing the {iterations + 4} x {args.slices + 1} states of size {n} needs ~{format_bytes(states_bytes)}, "
            f"more than the {format_bytes(available)} available; use a smaller --size or fewer --slices or --iterations."
        )
    if not args.sparse and available is not None:
        per_matrix = 8.0 * n * n
        dense = 9 if args.fine_substeps is None else 5
        if per_matrix * dense > available:
            raise CliError(
                f"a dense {n}x{n} A needs ~{format_bytes(per_matrix * dense)} ({dense} dense float64 matrices of "
                f"{format_bytes(per_matrix)} for the matrix exponential and the factorisations), more than the "
                f"{format_bytes(available)} available; use --sparse or a smaller --size."
            )
    sized = args.problem in ("heat1d", "heat2d", "advection")
    if args.sparse and not sized:
        make_problem(
            args.problem, size=args.size, t_final=args.t_final, sparse=True, lam=args.lam
        )  # raises the message
    # a sparse A is cheap to build whatever the size, and gives the norms the estimate needs
    probe = make_problem(args.problem, size=args.size, t_final=args.t_final, sparse=sized, lam=args.lam)
    cost = estimate(args, probe, n, iterations)
    if available is not None and cost.bytes > available:
        raise CliError(
            f"this run needs ~{format_bytes(cost.bytes)} of memory, more than the {format_bytes(available)} available; "
            f"use {'a smaller --size' if args.sparse else '--sparse or a smaller --size'}."
        )
    if cost.seconds > args.time_limit:
        cause = max(cost.parts, key=lambda part: cost.parts[part])
        ways = {
            "dense matrix functions": "use --sparse or a smaller --size",
            "error bound": "use --sparse or a smaller --size",
            "sparse factorisations": "use a smaller --size",
            "fine slices": (
                "use fewer --fine-substeps, fewer --slices or --iterations"
                if args.fine_substeps is not None
                else "use a smaller --t-final or more --slices (expm_multiply costs ~||ΔT A||_1 steps), "
                "or --fine-substeps"
            ),
            "coarse slices": "use fewer --coarse-substeps, --slices or --iterations",
            "process pool start": "use fewer --workers",
        }
        raise CliError(
            f"estimated run time ~{_duration(cost.seconds)} ({cause}: ~{_duration(cost.parts[cause])}) exceeds "
            f"--time-limit {args.time_limit:g} s; {ways[cause]}, or raise --time-limit."
        )
    return cost


# --- the run -----------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    import time
    import warnings

    import numpy as np

    from ..backends import Backend, ProcessBackend, get_backend
    from ..driver import IterationInfo, parareal
    from ..ode.exact import ExactPropagator
    from ..ode.implicit_euler import ImplicitEulerPropagator
    from ..ode.nonlinear_theory import fine_lipschitz_estimate
    from ..ode.problems import make_problem
    from ..ode.theory import error_bounds, speedup
    from ..propagator import TimeGrid
    from ._ode_general import check_estimate_possible

    max_iterations = args.slices if args.iterations is None else args.iterations
    cost = _refuse_what_does_not_fit(args, max_iterations)

    leader = True
    ranks = None
    if args.backend == "distributed":
        from ..backends.distributed import DistributedBackend, init_distributed

        rank, _ = init_distributed()
        leader = rank == 0
        ranks = DistributedBackend()
    if leader and cost is not None and cost.seconds > _ANNOUNCE_SECONDS:
        print(f"parareal ode: estimated run time ~{_duration(cost.seconds)}", file=sys.stderr, flush=True)

    problem = make_problem(
        args.problem, size=args.size, t_final=args.t_final, sparse=args.sparse, lam=args.lam, initial=args.initial
    )
    grid = TimeGrid.uniform(problem.t_final, args.slices)
    fine: ExactPropagator | ImplicitEulerPropagator
    if args.fine_substeps is None:
        fine = ExactPropagator(problem.ode, grid)
        fine_name = "exact (expm)"
    else:
        fine = ImplicitEulerPropagator(problem.ode, grid, substeps=args.fine_substeps)
        fine_name = f"{args.fine_substeps} implicit-Euler substeps"
    coarse = ImplicitEulerPropagator(problem.ode, grid, substeps=args.coarse_substeps)

    from tqdm import tqdm

    progress = tqdm(
        total=grid.num_slices * (1 + max_iterations),
        desc="parareal ode: fine slices",
        unit="slice",
        file=sys.stderr,
        delay=1.0,  # runs shorter than a second show nothing
        leave=False,
        disable=not leader,
    )
    with progress, warnings.catch_warnings(), np.errstate(all="ignore"):
        # NaN and infinity are detected and reported below; numpy's warnings would only repeat it.
        warnings.simplefilter("ignore", RuntimeWarning)
        fine.prepare()  # every cached factor is built before anything is timed
        coarse.prepare()

        start = time.perf_counter()
        reference = [problem.u0]
        for j in range(grid.num_slices):
            reference.append(fine(reference[j], j))
            progress.update(1)
        sequential_seconds = time.perf_counter() - start
        start = time.perf_counter()
        state = problem.u0
        for j in range(grid.num_slices):
            state = coarse(state, j)
        coarse_sweep_seconds = time.perf_counter() - start

        pool: ProcessBackend | None = None
        backend: Backend
        if ranks is not None:
            backend, workers = ranks, ranks.world_size
        elif args.backend == "processes":
            pool = ProcessBackend(args.workers)
            backend, workers = pool, pool.workers
        else:
            backend = get_backend(args.backend)
            workers = 1
        infos: list[IterationInfo] = []

        def record(info: IterationInfo) -> None:
            infos.append(info)
            if info.k > 0:
                progress.update(grid.num_slices)

        try:
            if pool is not None:
                pool.start(fine)  # pool start-up is not part of the parareal time
            if ranks is not None:
                _barrier()  # every rank starts the clock together
            # a true Lipschitz constant of the exact or implicit-Euler fine propagator (u' = Au)
            lipschitz = fine_lipschitz_estimate(problem.ode, grid, [problem.u0], substeps=args.fine_substeps)
            check_estimate_possible(args.criterion, lipschitz, "use more --fine-substeps or --slices")
            start = time.perf_counter()
            result = parareal(
                fine,
                coarse,
                problem.u0,
                iterations=max_iterations,
                tol=args.tol,
                form=args.form,
                reference=reference,
                backend=backend,
                callback=record,
                criterion=args.criterion,
                fine_lipschitz=lipschitz if math.isfinite(lipschitz) else None,
            )
            parareal_seconds = time.perf_counter() - start
        except BaseException:
            if pool is not None:
                pool.terminate()  # Ctrl-C or an error: do not wait for the workers' chunks
                pool = None
            raise
        finally:
            if pool is not None:
                pool.close()

        bounds = None
        if problem.ode.size <= _BOUND_MAX_SIZE and result.iterates is not None:
            initial_error = [u - r for u, r in zip(result.iterates[0], reference)]
            bounds = error_bounds(
                problem.ode,
                grid,
                initial_error,
                result.iterations,
                substeps=args.coarse_substeps,
                fine_substeps=args.fine_substeps,
            )
    code = 0 if result.finite else 1
    if not leader:  # under torchrun every rank computed the same result; rank 0 reports it
        return code
    # stored iterates and errors: store_iterates is on and a reference was given
    assert result.iterates is not None and result.errors is not None

    print(
        f"{problem.description}; T = {problem.t_final:g}, N = {grid.num_slices} slices, fine: {fine_name}, "
        f"coarse: {args.coarse_substeps} implicit-Euler substep(s), {args.form} form"
    )
    header = (
        f"{'k':>3}  {'max error':>11}  {'increment':>11}  {'bound':>11}  {'fine evals':>10}  {'coarse evals':>12}  "
        f"{'estimate':>11}"
    )
    print(f"estimate: a-posteriori bound on the error, L = {lipschitz:.4g} (Lipschitz constant of a fine slice)")
    print(header)
    rows = []
    for k in range(result.iterations + 1):
        increment = result.increments[k - 1] if k > 0 else None
        bound = None if bounds is None or not math.isfinite(bounds[k]) else float(bounds[k])
        info = infos[k]
        estimate = result.estimates[k - 1] if k > 0 and result.estimates else None
        row = {
            "k": k,
            "max_error": result.errors[k],
            "increment": increment,
            "bound": bound,
            "fine_evaluations": info.fine_evaluations,
            "coarse_evaluations": info.coarse_evaluations,
            "finite": info.finite,
            "estimate": estimate,
        }
        rows.append(row)
        fmt = lambda v: f"{v:11.3e}" if v is not None else f"{'-':>11}"
        print(
            f"{k:>3}  {fmt(row['max_error'])}  {fmt(increment)}  {fmt(bound)}  "
            f"{info.fine_evaluations:>10}  {info.coarse_evaluations:>12}  {fmt(estimate)}"
        )
    nonfinite_reference = next((j for j, r in enumerate(reference) if not np.all(np.isfinite(r))), None)
    if result.finite:
        status = "converged" if result.converged else "not converged"
        criterion = "the increment" if args.criterion == "increment" else "the a-posteriori error estimate"
        rule = f" (--tol {args.tol:g} on {criterion})" if args.tol is not None else ""
        print(f"{status} after {result.iterations} iteration(s){rule}")
    else:
        print(f"not converged: non-finite values (NaN or infinity) at iteration {result.nonfinite_iteration}")
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
        f"({args.backend}, {workers} worker(s)); time ratio {measured:.2f} measured, {model_text} model at "
        f"K = {result.iterations} (alpha = c_G/c_F = {alpha:.3g}); not a speedup at equal accuracy, which "
        "`parareal speedup` measures",
        flush=True,
    )

    if args.plot:
        _save_figure(args.plot, result, bounds, problem.description, grid.times)
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
            "criterion": args.criterion,
            "estimates": result.estimates,
            "fine": fine_name,
            "converged": result.converged,
            "finite": result.finite,
            "nonfinite_iteration": result.nonfinite_iteration,
            "iterations": result.iterations,
            "timing": timing,
            "rows": rows,
        }
        write_json("--json", args.json, payload)
        print(f"results written to {args.json}")
    if not result.finite:
        cause = ""
        if nonfinite_reference is not None:
            cause = (
                f"; the sequential fine solution is itself non-finite from T_{nonfinite_reference} = "
                f"{grid.times[nonfinite_reference]:g} ({fine_name} fails for slices of length "
                f"{grid.steps[0]:g}): use a smaller --t-final or more --slices"
            )
        print(
            f"parareal ode: error: non-finite values (NaN or infinity) at iteration {result.nonfinite_iteration}"
            f"{cause}",
            file=sys.stderr,
        )
    return code


def _barrier() -> None:
    """``dist.barrier()``, a failure of which is the distributed backend's clear error."""
    import torch.distributed as dist

    from ..backends.distributed import DistributedError

    try:
        dist.barrier()
    except RuntimeError as exc:
        raise DistributedError(f"a rank did not reach the start of the run: {exc}") from None


def _save_figure(
    path: str, result: Any, bounds: Any, title: str, times: Any, *, label: str = "Gander-Vandewalle bound"
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import plot_convergence, plot_error_over_time

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    try:
        plot_convergence(result, bounds=None if bounds is None else {label: bounds}, ax=left)
        left.set_title(title)
        plot_error_over_time(result, times, ax=right)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise CliError(f"cannot write --plot file {path!r}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


__all__ = ["HELP", "add_arguments", "run", "estimate", "Estimate"]
