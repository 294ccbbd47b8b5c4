"""Building a ``parareal ode`` run: options checked, then problem, grid, propagators and backend made.

Everything that can be refused is refused here, before a slice is propagated: options that
do not apply (:func:`check_options`), the environment (:func:`check_linear_environment`),
output files (:func:`check_outputs`), and a run that does not fit the memory or
``--time-limit`` (:mod:`parareal_toolkit.cli._ode_estimate`). The result is an
:class:`OdeRun`, which :mod:`parareal_toolkit.cli._ode_execute` runs.

Two kinds of run are built. Linear problems get classical parareal: exact (``expm``) or
implicit-Euler fine, implicit-Euler coarse, any backend. Nonlinear problems, and linear ones
with ``--fine``/``--coarse`` naming a time stepper, get time steppers: each problem has a
default pair of steppers and step lengths (:data:`DEFAULT_STEPPERS`; the substeps per slice
are ``ceil(ΔT / h)``), chosen so that parareal runs stably and shows the problem's behaviour
at the default parameters.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .._names import LINEAR_PROBLEM_NAMES, NONLINEAR_PROBLEM_NAMES
from ._common import CliError, check_distinct_outputs, check_figure_path, check_output_path
from ._ode_estimate import announce, refuse_slow_stepper_run, refuse_what_does_not_fit

__all__ = [
    "DEFAULT_STEPPERS",
    "OdeRun",
    "uses_steppers",
    "check_options",
    "check_linear_environment",
    "check_outputs",
    "build_linear",
    "build_steppers",
    "quiet_numerics",
    "propagator_failures_refused",
]

# problem -> (fine stepper, its step length, coarse stepper, its step length); None: one step per slice
DEFAULT_STEPPERS: dict[str, tuple[str, float | None, str, float | None]] = {
    "lorenz": ("rk4", 0.01, "rk4", 0.05),
    "vanderpol": ("trapezoid", 0.01, "implicit-euler", 0.05),  # Newton fails at h = 0.1 near the fast jumps (mu = 10)
    "brusselator": ("trapezoid", 0.02, "implicit-euler", 0.2),
    "burgers": ("rk4", 0.0025, "implicit-euler", None),
    "allencahn": ("rk4", 0.025, "implicit-euler", None),
}
_LINEAR_DEFAULT = ("rk4", None, "implicit-euler", None)  # a linear problem with --fine or --coarse given
_LINEAR_FINE_SUBSTEPS = 100
_PARAMETERS = {"mu": "vanderpol", "viscosity": "burgers"}
_SIZED = ("brusselator", "burgers", "allencahn")
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class OdeRun:
    """A ``parareal ode`` run, built and checked, before any slice is propagated.

    Attributes
    ----------
    problem : LinearProblem or NonlinearProblem
        The catalogue problem (``ode``, ``u0``, ``t_final``, ``name``, ``description``).
    grid : TimeGrid
        ``N`` uniform slices of ``[0, T]``.
    fine, coarse : Propagator
        The fine and coarse propagators on ``grid``.
    fine_text, coarse_text : str
        How the report names them (``"exact (expm)"``, ``"4 rk4 step(s)"``, ...).
    fine_substeps : int or None
        Substeps of the fine propagator per slice (``None``: the exact ``expm``).
    coarse_substeps : int
        Substeps of the coarse propagator per slice.
    form : str
        The update form passed to the driver.
    iterations : int
        ``K``, the iteration cap (``N`` unless ``--iterations`` is given).
    tol : float or None
        ``--tol``: parareal stops once ``criterion`` is at most ``tol`` (``None``: runs ``K``).
    criterion : str
        ``"increment"`` or ``"estimate"`` (the a-posteriori error estimate).
    backend : Backend or str
        The backend of the fine sweeps, or its name, as :func:`parareal_toolkit.parareal` takes it.
    backend_name : str
        ``--backend``, as the report names it.
    workers : int
        Processes the fine sweep is spread over (1 unless ``processes`` or ``distributed``).
    leader : bool
        Whether this process reports (rank 0 under torchrun; always true otherwise).
    """

    problem: Any
    grid: Any
    fine: Any
    coarse: Any
    fine_text: str
    coarse_text: str
    fine_substeps: int | None
    coarse_substeps: int
    form: str
    iterations: int
    tol: float | None
    criterion: str
    backend: Any
    backend_name: str
    workers: int = 1
    leader: bool = True


def uses_steppers(args: argparse.Namespace) -> bool:
    """Whether ``parareal ode`` runs on the time steppers rather than the linear propagators.

    Returns
    -------
    bool
        True for a nonlinear problem, or ``--fine``/``--coarse`` naming a stepper.
    """
    return (
        args.problem in NONLINEAR_PROBLEM_NAMES
        or (args.fine is not None and args.fine != "exact")
        or args.coarse is not None
    )


def check_options(args: argparse.Namespace) -> None:
    """Refuse, with one line, the options that do not apply to this problem and propagator pair.

    Time steppers refuse ``--sparse``, ``--lam`` on a nonlinear problem, ``--backend
    processes`` and ``distributed`` (the workers cannot pickle the problems' closures) and the
    correction form (which a nonlinear coarse propagator breaks).

    Returns
    -------
    None
    """
    nonlinear = args.problem in NONLINEAR_PROBLEM_NAMES
    for option, problem in _PARAMETERS.items():
        if getattr(args, option) is not None and args.problem != problem:
            raise CliError(f"--{option} applies only to --problem {problem}; got --problem {args.problem}.")
    for option in ("rtol", "atol"):
        if getattr(args, option) is not None and not (args.fine or "").startswith("ivp-"):
            raise CliError(f"--{option} applies only to a solve_ivp fine propagator (--fine ivp-...).")
    if args.initial is not None and args.problem not in ("heat1d", "heat2d", "advection"):
        raise CliError(f"--initial applies only to heat1d, heat2d and advection; got --problem {args.problem}.")
    if args.fine == "exact" and args.fine_substeps is not None:
        raise CliError("--fine exact takes no --fine-substeps (it is the matrix exponential).")
    if not uses_steppers(args):
        return
    if args.fine == "exact" and nonlinear:
        raise CliError(f"--fine exact applies only to the linear problems {list(LINEAR_PROBLEM_NAMES)}.")
    if args.fine == "exact":
        raise CliError("--fine exact cannot be combined with a --coarse stepper; omit --coarse for implicit Euler.")
    if args.sparse:
        raise CliError("--sparse applies only to the exact and implicit-Euler linear propagators (no --fine/--coarse).")
    if args.lam is not None and nonlinear:
        raise CliError(f"--lam applies only to --problem dahlquist; got --problem {args.problem}.")
    if args.size is not None and nonlinear and args.problem not in _SIZED:
        raise CliError(f"--size applies only to {list(_SIZED)} among the nonlinear problems; got {args.problem}.")
    if args.backend not in ("serial", "batched"):
        raise CliError(
            f"--backend {args.backend} applies only to the linear propagators; the time steppers run "
            "with --backend serial or batched."
        )
    if args.form == "correction":
        raise CliError(
            "--form correction needs a linear coarse propagator (it adds G(0), which a time stepper "
            "need not map to zero); use --form standard."
        )


def check_linear_environment(args: argparse.Namespace) -> None:
    """Refuse ``--workers`` without ``--backend processes``, and ``--backend distributed`` outside torchrun.

    Returns
    -------
    None
    """
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


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse a ``--plot`` or ``--json`` file that cannot be written, or the two naming one file.

    Returns
    -------
    None
    """
    check_figure_path("--plot", args.plot)
    check_output_path("--json", args.json)
    check_distinct_outputs(plot=args.plot, json=args.json)


@contextlib.contextmanager
def quiet_numerics() -> Iterator[None]:
    """Silence numpy's floating-point warnings: the run detects NaN and infinity and reports them once.

    Yields
    ------
    None
    """
    import numpy as np

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@contextlib.contextmanager
def propagator_failures_refused() -> Iterator[None]:
    """:func:`quiet_numerics`, and a time stepper's failure as one line (Newton, solve_ivp).

    Yields
    ------
    None
    """
    with quiet_numerics():
        try:
            yield
        except RuntimeError as exc:  # NewtonConvergenceError, a failed solve_ivp integration
            raise CliError(f"a propagator failed: {exc}") from None


def build_linear(args: argparse.Namespace, per_iteration: tuple[float, float] | None = None) -> OdeRun:
    """The linear run: exact or implicit-Euler fine, implicit-Euler coarse, on any backend.

    Refuses a run that does not fit (memory, ``--time-limit``) before building the problem,
    joins the process group under ``--backend distributed``, and announces a long run.
    ``per_iteration`` is MGRIT's cost of one iteration for the estimate (``--method mgrit``).

    Returns
    -------
    OdeRun
        The run, its propagators not yet prepared (no factorisation built).
    """
    from ..ode.exact import ExactPropagator
    from ..ode.implicit_euler import ImplicitEulerPropagator
    from ..ode.problems import make_problem
    from ..propagator import TimeGrid

    iterations = args.slices if args.iterations is None else args.iterations
    cost = refuse_what_does_not_fit(args, iterations, per_iteration)
    leader, backend, workers = _linear_backend(args)
    if leader:
        announce(cost.seconds)
    problem = make_problem(
        args.problem, size=args.size, t_final=args.t_final, sparse=args.sparse, lam=args.lam, initial=args.initial
    )
    grid = TimeGrid.uniform(problem.t_final, args.slices)
    fine: ExactPropagator | ImplicitEulerPropagator
    if args.fine_substeps is None:
        fine, fine_text = ExactPropagator(problem.ode, grid), "exact (expm)"
    else:
        fine = ImplicitEulerPropagator(problem.ode, grid, substeps=args.fine_substeps)
        fine_text = f"{args.fine_substeps} implicit-Euler substeps"
    return OdeRun(
        problem=problem,
        grid=grid,
        fine=fine,
        coarse=ImplicitEulerPropagator(problem.ode, grid, substeps=args.coarse_substeps),
        fine_text=fine_text,
        coarse_text=f"{args.coarse_substeps} implicit-Euler substep(s)",
        fine_substeps=args.fine_substeps,
        coarse_substeps=args.coarse_substeps,
        form=args.form,
        iterations=iterations,
        tol=args.tol,
        criterion=args.criterion,
        backend=backend,
        backend_name=args.backend,
        workers=workers,
        leader=leader,
    )


def _linear_backend(args: argparse.Namespace) -> tuple[bool, Any, int]:
    """(whether this process reports, the backend, its workers); joins the process group when distributed."""
    from ..backends import ProcessBackend, get_backend

    if args.backend == "distributed":
        from ..backends.distributed import DistributedBackend, init_distributed

        rank, _ = init_distributed()
        ranks = DistributedBackend()
        return rank == 0, ranks, ranks.world_size
    if args.backend == "processes":
        pool = ProcessBackend(args.workers)  # started by the run, with the fine propagator installed
        return True, pool, pool.workers
    return True, get_backend(args.backend), 1


def build_steppers(args: argparse.Namespace, evaluations: Any = None) -> OdeRun:
    """The time-stepper run: the problem's default steppers unless ``--fine``/``--coarse`` name others.

    A run estimated to exceed ``--time-limit`` (from one timed step of each stepper) is
    refused; a long one is announced. ``evaluations(run)``, when given, returns the run's
    ``(fine, coarse)`` slice evaluations for that estimate (``--method mgrit``).

    Returns
    -------
    OdeRun
        The run on ``--backend serial`` or ``batched``, in the standard form.
    """
    from ..propagator import TimeGrid

    problem, (fine_default, fine_h, coarse_default, coarse_h) = _problem_and_default_steppers(args)
    grid = TimeGrid.uniform(problem.t_final, args.slices)
    slice_length = float(grid.steps.max())

    def substeps(h: float | None) -> int:
        return 1 if h is None else max(1, math.ceil(slice_length / h - 1e-9))

    if args.fine_substeps is not None:
        fine_substeps = args.fine_substeps
    else:
        fine_substeps = _LINEAR_FINE_SUBSTEPS if args.problem in LINEAR_PROBLEM_NAMES else substeps(fine_h)
    coarse_substeps = args.coarse_substeps if args.coarse_substeps_given else substeps(coarse_h)
    fine, fine_text = _stepper(args.fine or fine_default, fine_substeps, problem, grid, args)
    coarse, coarse_text = _stepper(args.coarse or coarse_default, coarse_substeps, problem, grid, args)
    run = OdeRun(
        problem=problem,
        grid=grid,
        fine=fine,
        coarse=coarse,
        fine_text=fine_text,
        coarse_text=coarse_text,
        fine_substeps=fine_substeps,
        coarse_substeps=coarse_substeps,
        form="standard",
        iterations=args.slices if args.iterations is None else args.iterations,
        tol=args.tol,
        criterion=args.criterion,
        backend=args.backend,
        backend_name=args.backend,
    )
    with propagator_failures_refused():
        refuse_slow_stepper_run(run, args.time_limit, None if evaluations is None else evaluations(run))
    return run


def _problem_and_default_steppers(args: argparse.Namespace) -> tuple[Any, tuple[str, float | None, str, float | None]]:
    """The catalogue problem and its default (fine stepper, step, coarse stepper, step)."""
    from ..ode.nonlinear_problems import NONLINEAR_PROBLEMS
    from ..ode.problems import make_problem

    if args.problem in NONLINEAR_PROBLEM_NAMES:
        kwargs: dict[str, Any] = {}
        if args.t_final is not None:
            kwargs["t_final"] = args.t_final
        if args.size is not None:
            kwargs["m"] = args.size
        if args.mu is not None:
            kwargs["mu"] = args.mu
        if args.viscosity is not None:
            kwargs["viscosity"] = args.viscosity
        try:
            return NONLINEAR_PROBLEMS[args.problem](**kwargs), DEFAULT_STEPPERS[args.problem]
        except ValueError as exc:
            raise CliError(str(exc)) from None
    problem = make_problem(args.problem, size=args.size, t_final=args.t_final, lam=args.lam, initial=args.initial)
    return problem, _LINEAR_DEFAULT


def _stepper(name: str, substeps: int, problem: Any, grid: Any, args: argparse.Namespace) -> tuple[Any, str]:
    """The stepper ``name`` (or solve_ivp method ``ivp-...``) on ``grid``, and how the report names it."""
    from ..ode import STEPPERS
    from ..ode.solve_ivp_propagator import SOLVE_IVP_METHODS, SolveIVPPropagator

    if name.startswith("ivp-"):
        method = {m.lower(): m for m in SOLVE_IVP_METHODS}[name[4:]]
        rtol = 1e-8 if args.rtol is None else args.rtol
        atol = 1e-10 if args.atol is None else args.atol
        return SolveIVPPropagator(problem.ode, grid, method=method, rtol=rtol, atol=atol), (
            f"solve_ivp {method} (rtol {rtol:g}, atol {atol:g})"
        )
    return STEPPERS[name](problem.ode, grid, substeps=substeps), f"{substeps} {name} step(s)"
