"""``parareal ode`` with time steppers: the nonlinear catalogue, or ``--fine``/``--coarse`` on a linear problem.

``parareal ode`` runs here when the problem is nonlinear (``lorenz``, ``vanderpol``,
``brusselator``, ``burgers``, ``allencahn``) or when ``--fine`` or ``--coarse`` names a
time stepper for a linear one. Each problem has a default pair of steppers and step
lengths (:data:`DEFAULT_STEPPERS`; the substeps per slice are ``ceil(ΔT / h)``), chosen so
that parareal runs stably and shows the problem's behaviour at the default parameters.
Options that do not apply (``--sparse``, ``--lam``, ``--backend processes`` whose workers
cannot pickle the problem's closures, the correction form, which a nonlinear coarse
propagator breaks) exit 2 with one line.

Rows: ``k``, the error against the sequential fine solution, the increment, the
Gander–Hairer bound with its constants ``α`` (of ``F - G``) and ``β`` (of ``G``) estimated by
finite differences around the fine solution (:func:`parareal_toolkit.ode.lipschitz_constants`,
two directions per slice: ``3N`` extra evaluations of each propagator, and an estimate, not a
certificate), the a-posteriori error estimate (see :func:`parareal_toolkit.parareal`, ``fine_lipschitz``) with
the Lipschitz constant ``L`` of the fine propagator taken from the logarithmic max-norm of
the Jacobian along the fine solution (:func:`parareal_toolkit.ode.fine_lipschitz_estimate`),
and the evaluation counts.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

from .._names import LINEAR_PROBLEM_NAMES, NONLINEAR_PROBLEM_NAMES
from ._common import CliError, write_json

__all__ = ["DEFAULT_STEPPERS", "uses_steppers", "check_options", "run_steppers"]

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


def check_estimate_possible(criterion: str, lipschitz: float, remedy: str) -> None:
    """Refuse ``--criterion estimate`` when the fine propagator's Lipschitz constant is not finite.

    The a-posteriori estimate is a multiple of that constant, so without it the estimate
    certifies nothing. ``remedy`` ends the one-line message.

    Returns
    -------
    None
    """
    if criterion == "estimate" and not math.isfinite(lipschitz):
        raise CliError(
            "--criterion estimate needs a finite Lipschitz constant of the fine propagator; the "
            f"logarithmic norm gives none here ({remedy})."
        )


def uses_steppers(args: argparse.Namespace) -> bool:
    """Whether ``parareal ode`` runs on the time steppers (this module) rather than the linear propagators.

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
    """Refuse, with one line, the options that do not apply to this problem and propagator pair."""
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


def _build(args: argparse.Namespace):
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


def _stepper(name: str, substeps: int, problem: Any, grid: Any, args: argparse.Namespace):
    from ..ode.implicit_steppers import ImplicitEulerStepper, TrapezoidStepper
    from ..ode.solve_ivp_propagator import SOLVE_IVP_METHODS, SolveIVPPropagator
    from ..ode.steppers import ExplicitEulerStepper, RK4Stepper

    if name.startswith("ivp-"):
        method = {m.lower(): m for m in SOLVE_IVP_METHODS}[name[4:]]
        rtol = 1e-8 if args.rtol is None else args.rtol
        atol = 1e-10 if args.atol is None else args.atol
        return SolveIVPPropagator(problem.ode, grid, method=method, rtol=rtol, atol=atol), (
            f"solve_ivp {method} (rtol {rtol:g}, atol {atol:g})"
        )
    kind = {
        "explicit-euler": ExplicitEulerStepper,
        "rk4": RK4Stepper,
        "implicit-euler": ImplicitEulerStepper,
        "trapezoid": TrapezoidStepper,
    }[name]
    return kind(problem.ode, grid, substeps=substeps), f"{substeps} {name} step(s)"


def _estimate_seconds(fine: Any, coarse: Any, problem: Any, grid: Any, iterations: int) -> float:
    """Seconds of the run, from one timed step of each stepper (a solve_ivp slice is timed whole).

    Slice evaluations: the reference (``N``), ``K`` sweeps, and ``3N`` for the Gander–Hairer
    constants; coarse: the initial sweep and ``K`` sweeps, ``3N`` for the constants.
    """
    from ..ode.solve_ivp_propagator import SolveIVPPropagator
    from ..propagator import TimeGrid

    def per_slice(propagator: Any) -> float:
        if isinstance(propagator, SolveIVPPropagator):
            start = time.perf_counter()
            propagator(problem.u0, 0)
            return time.perf_counter() - start
        # one step of the real length h = ΔT_0 / M (a step of length ΔT_0 could fail where M do not)
        t0, t1 = float(grid.times[0]), float(grid.times[1])
        pilot = type(propagator)(propagator.ode, TimeGrid([t0, t0 + (t1 - t0) / propagator.substeps]))
        pilot(problem.u0, 0)  # the first call pays for imports and caches
        start = time.perf_counter()
        pilot(problem.u0, 0)
        return (time.perf_counter() - start) * propagator.substeps

    n = grid.num_slices
    return per_slice(fine) * n * (iterations + 4) + per_slice(coarse) * n * (iterations + 4)


def run_steppers(args: argparse.Namespace) -> int:
    """Run ``parareal ode`` on time steppers; the exit codes are those of ``parareal ode``.

    Returns
    -------
    int
        0 for a finite run, 1 when a NaN or an infinity appeared.
    """
    import warnings

    import numpy as np

    from ..driver import IterationInfo, parareal
    from ..ode.nonlinear_theory import fine_lipschitz_estimate, gander_hairer_bound, lipschitz_constants
    from ..propagator import TimeGrid
    from .ode import _ANNOUNCE_SECONDS, _duration, _save_figure

    problem, (fine_default, fine_h, coarse_default, coarse_h) = _build(args)
    grid = TimeGrid.uniform(problem.t_final, args.slices)
    fine_name = args.fine or fine_default
    coarse_name = args.coarse or coarse_default
    slice_length = float(grid.steps.max())

    def substeps(h: float | None) -> int:
        return 1 if h is None else max(1, math.ceil(slice_length / h - 1e-9))

    if args.fine_substeps is not None:
        fine_substeps = args.fine_substeps
    else:
        fine_substeps = _LINEAR_FINE_SUBSTEPS if args.problem in LINEAR_PROBLEM_NAMES else substeps(fine_h)
    coarse_substeps = args.coarse_substeps if args.coarse_substeps_given else substeps(coarse_h)
    fine, fine_text = _stepper(fine_name, fine_substeps, problem, grid, args)
    coarse, coarse_text = _stepper(coarse_name, coarse_substeps, problem, grid, args)
    max_iterations = args.slices if args.iterations is None else args.iterations

    infos: list[IterationInfo] = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # non-finite values are reported below
        try:
            cost = _estimate_seconds(fine, coarse, problem, grid, max_iterations)
            if cost > args.time_limit:
                raise CliError(
                    f"estimated run time ~{_duration(cost)} exceeds --time-limit {args.time_limit:g} s; use "
                    "fewer --fine-substeps, --slices or --iterations, or raise --time-limit."
                )
            if cost > _ANNOUNCE_SECONDS:
                print(f"parareal ode: estimated run time ~{_duration(cost)}", file=sys.stderr, flush=True)
            start = time.perf_counter()
            reference = [problem.u0]
            for j in range(grid.num_slices):
                reference.append(fine(reference[j], j))
            sequential_seconds = time.perf_counter() - start
            finite_reference = all(np.all(np.isfinite(r)) for r in reference)
            lipschitz = fine_lipschitz_estimate(problem.ode, grid, reference) if finite_reference else math.inf
            check_estimate_possible(args.criterion, lipschitz, "use more --slices or --criterion increment")
            start = time.perf_counter()
            result = parareal(
                fine,
                coarse,
                problem.u0,
                iterations=max_iterations,
                tol=args.tol,
                reference=reference,
                backend=args.backend,
                callback=infos.append,
                criterion=args.criterion,
                fine_lipschitz=lipschitz if math.isfinite(lipschitz) else None,
            )
            parareal_seconds = time.perf_counter() - start
            alpha = beta = math.nan
            bounds = None
            if finite_reference and result.finite and result.errors is not None:
                alpha, beta = lipschitz_constants(fine, coarse, reference, directions=2)
                bounds = gander_hairer_bound(alpha, beta, grid.num_slices, result.iterations, result.errors[0])
        except RuntimeError as exc:  # NewtonConvergenceError, a failed solve_ivp integration
            raise CliError(f"a propagator failed: {exc}") from None
    assert result.errors is not None  # a reference was given

    print(
        f"{problem.description}; T = {problem.t_final:g}, N = {grid.num_slices} slices, fine: {fine_text}, "
        f"coarse: {coarse_text}, standard form"
    )
    print(
        f"bound: Gander-Hairer with estimated α = {alpha:.4g} (F - G), β = {beta:.4g} (G); "
        f"estimate: a-posteriori with L = {lipschitz:.4g} (fine slice, from the Jacobian)"
    )
    print(
        f"{'k':>3}  {'max error':>11}  {'increment':>11}  {'bound':>11}  {'fine evals':>10}  {'coarse evals':>12}  "
        f"{'estimate':>11}"
    )
    fmt = lambda v: f"{v:11.3e}" if v is not None else f"{'-':>11}"
    rows = []
    for k in range(result.iterations + 1):
        increment = result.increments[k - 1] if k > 0 else None
        estimate = result.estimates[k - 1] if k > 0 and result.estimates else None
        bound = None if bounds is None or not math.isfinite(bounds[k]) else float(bounds[k])
        info = infos[k]
        rows.append(
            {
                "k": k,
                "max_error": result.errors[k],
                "increment": increment,
                "bound": bound,
                "estimate": estimate,
                "fine_evaluations": info.fine_evaluations,
                "coarse_evaluations": info.coarse_evaluations,
                "finite": info.finite,
            }
        )
        print(
            f"{k:>3}  {fmt(result.errors[k])}  {fmt(increment)}  {fmt(bound)}  "
            f"{info.fine_evaluations:>10}  {info.coarse_evaluations:>12}  {fmt(estimate)}"
        )
    criterion = "the increment" if args.criterion == "increment" else "the a-posteriori error estimate"
    if not result.finite:
        print(f"not converged: non-finite values (NaN or infinity) at iteration {result.nonfinite_iteration}")
    else:
        status = "converged" if result.converged else "not converged"
        rule = f" (--tol {args.tol:g} on {criterion})" if args.tol is not None else ""
        print(f"{status} after {result.iterations} iteration(s){rule}")
    print(
        f"wall-clock: sequential fine {sequential_seconds:.4g} s, parareal {parareal_seconds:.4g} s "
        f"({args.backend}, serial in one process: no speedup is measured here)",
        flush=True,
    )
    if args.plot:
        _save_figure(
            args.plot, result, bounds, problem.description, grid.times, label="Gander-Hairer bound (estimated α, β)"
        )
        print(f"figure written to {args.plot}")
    if args.json:
        payload = {
            "problem": problem.name,
            "description": problem.description,
            "size": problem.ode.size,
            "t_final": problem.t_final,
            "slices": grid.num_slices,
            "fine": fine_text,
            "coarse": coarse_text,
            "form": "standard",
            "tol": args.tol,
            "criterion": args.criterion,
            "fine_lipschitz": lipschitz,
            "gander_hairer": {"alpha": alpha, "beta": beta, "constants": "estimated by finite differences"},
            "converged": result.converged,
            "finite": result.finite,
            "nonfinite_iteration": result.nonfinite_iteration,
            "iterations": result.iterations,
            "timing": {"sequential_fine_s": sequential_seconds, "parareal_s": parareal_seconds},
            "rows": rows,
        }
        write_json("--json", args.json, payload)
        print(f"results written to {args.json}")
    if not result.finite or not finite_reference:
        where = f"at iteration {result.nonfinite_iteration}" if not result.finite else "in the reference"
        cause = (
            "" if finite_reference else "; the sequential fine solution is itself non-finite: use more --fine-substeps"
        )
        print(f"parareal ode: error: non-finite values (NaN or infinity) {where}{cause}", file=sys.stderr)
        return 1
    return 0
