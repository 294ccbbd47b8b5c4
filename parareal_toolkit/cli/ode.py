"""``parareal ode``: parareal on a catalogue problem, linear or nonlinear, one row per iteration.

Linear problems run classical parareal (exact fine, implicit-Euler coarse); nonlinear
problems, and linear ones with ``--fine``/``--coarse`` naming a time stepper, run on time
steppers. Either run is built (:mod:`parareal_toolkit.cli._ode_build`, with its cost from
:mod:`parareal_toolkit.cli._ode_estimate`), run (:mod:`parareal_toolkit.cli._ode_execute`)
and reported (:mod:`parareal_toolkit.cli._ode_report`); this module holds the options.

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

from .._names import (
    BACKEND_NAMES,
    CRITERIA,
    CYCLE_NAMES,
    FORMS,
    INITIAL_NAMES,
    METHOD_NAMES,
    MGRIT_CRITERIA,
    PROBLEM_NAMES,
    RELAX_NAMES,
    SOLVE_IVP_NAMES,
    STEPPER_NAMES,
)
from ._common import CliError, finite_float, non_negative_int, positive_float, positive_int
from ._ode_estimate import Estimate, estimate
from ._options import Needs, Option, max_threads, number, other, when

HELP = "run parareal on a catalogue ODE, linear (exact fine, implicit-Euler coarse) or nonlinear (time steppers)"

# the backends that make sense for an ODE on one machine or under torchrun
_ODE_BACKENDS = tuple(b for b in BACKEND_NAMES if b != "devices")

_DEFAULT_TIME_LIMIT = 600.0


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
        help="how the fine sweep (parareal), or every level's relaxation and restriction (mgrit), runs "
        "(default: batched); 'processes' and 'distributed' need a linear problem with its exact or implicit-Euler "
        "propagators; 'distributed' needs torchrun "
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
        choices=_CRITERIA,
        default="increment",
        help="what --tol bounds: the increment (default), the a-posteriori estimate of the error "
        "against the fine solution (parareal), or the FAS residual at the C-points (mgrit)",
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
    parser.add_argument(
        "--method",
        choices=METHOD_NAMES,
        default="parareal",
        help="parareal (default), or MGRIT on parareal's discretisation: the fine level takes one --fine step per "
        "fine step, --coarsening of them per slice, the coarser levels the --coarse stepper",
    )
    parser.add_argument(
        "--levels", type=positive_int, help="MGRIT levels L >= 2 (default 2: parareal's own iterates with --relax F)"
    )
    parser.add_argument(
        "--coarsening",
        type=positive_int,
        help="MGRIT's coarsening factor m >= 2: fine steps per slice (default: the fine substeps parareal would take, "
        "at least 2; 2 with the exact fine propagator); --slices must be divisible by m^(L-2)",
    )
    parser.add_argument("--relax", choices=RELAX_NAMES, default="F", help="MGRIT relaxation (default: F)")
    parser.add_argument("--cycle", choices=CYCLE_NAMES, default="V", help="MGRIT cycle (default: V)")
    parser.add_argument("--plot", metavar="FILE.png", help="save the convergence figure")
    parser.add_argument("--json", metavar="FILE", help="save the rows and the set-up as JSON")


def _ivp(args: argparse.Namespace) -> bool:
    return (args.fine or "").startswith("ivp-")


_IVP = Needs("a solve_ivp fine propagator (--fine ivp-...)", _ivp, lambda args: f"--fine {args.fine or '(default)'}")
_BY_BUILD = "parareal_toolkit.cli._ode_build.check_options and the problem's constructor"
_BY_MGRIT = "parareal_toolkit.cli._ode_mgrit.check_mgrit_options"
# --criterion: parareal's (increment, estimate) and MGRIT's residual
_CRITERIA = (*CRITERIA, *(c for c in MGRIT_CRITERIA if c not in CRITERIA))
_MGRIT = when("method", "mgrit")
_PARAREAL = when(
    "method", "parareal", what="--method parareal (with --method mgrit, --coarsening is the fine steps per slice)"
)

# every option's domain and where it applies (checked by parareal_toolkit.cli.main before run)
OPTIONS: dict[str, Option] = {
    "problem": other("choice"),
    "size": number(1, integer=True, cost=True, checked_by=_BY_BUILD),
    "t_final": number(0, low_open=True, cost=True),
    "lam": number(checked_by=_BY_BUILD),
    "slices": number(1, integer=True, cost=True),
    "iterations": number(0, integer=True, cost=True),
    "tol": number(0, low_open=True),
    "coarse_substeps": number(1, integer=True, cost=True),
    "form": other("choice", checked_by=_BY_BUILD),
    "sparse": other("flag", checked_by=_BY_BUILD),
    "fine_substeps": number(1, integer=True, cost=True, needs=(_PARAREAL,), checked_by=_BY_BUILD),
    "backend": other("choice", checked_by=_BY_BUILD),
    "workers": number(
        1,
        max_threads,
        integer=True,
        why="processes beyond a few per core only wait for a core",
        needs=(when("backend", "processes"),),
    ),
    "time_limit": number(0, low_open=True),
    "criterion": other("choice", checked_by=_BY_MGRIT),
    "method": other("choice", checked_by=_BY_MGRIT),
    "levels": number(2, integer=True, cost=True, needs=(_MGRIT,)),
    "coarsening": number(2, integer=True, cost=True, needs=(_MGRIT,)),
    "relax": other("choice", needs=(_MGRIT,)),
    "cycle": other("choice", needs=(_MGRIT,)),
    "initial": other("choice", checked_by=_BY_BUILD),
    "fine": other("choice", checked_by=_BY_BUILD),
    "coarse": other("choice", checked_by=_BY_BUILD),
    "rtol": number(0, 1, low_open=True, high_open=True, why="a relative tolerance", needs=(_IVP,)),
    "atol": number(0, low_open=True, needs=(_IVP,)),
    "mu": number(needs=(when("problem", "vanderpol"),), checked_by="van_der_pol (μ >= 0)"),
    "viscosity": number(0, low_open=True, needs=(when("problem", "burgers"),)),
    "plot": other("output"),
    "json": other("output"),
}


def run(args: argparse.Namespace) -> int:
    """Run ``parareal ode`` with the parsed options ``args``; refusals come before any work.

    Returns
    -------
    int
        The exit status (see the module docstring).
    """
    from ._ode_build import (
        build_linear,
        build_steppers,
        check_linear_environment,
        check_options,
        check_outputs,
        uses_steppers,
    )
    from ._ode_execute import execute_linear, execute_steppers, linear_run_boundary
    from ._ode_report import report_linear, report_steppers

    args.coarse_substeps_given = args.coarse_substeps is not None
    if args.coarse_substeps is None:
        args.coarse_substeps = 1
    if args.method == "mgrit":
        from ._ode_mgrit import run_mgrit

        return run_mgrit(args)
    if args.criterion not in CRITERIA:
        raise CliError(f"--criterion {args.criterion} applies only to --method mgrit; got --method parareal.")
    check_options(args)
    if uses_steppers(args):
        check_outputs(args)
        built = build_steppers(args)
        return report_steppers(built, execute_steppers(built), plot=args.plot, json_path=args.json)
    check_linear_environment(args)
    check_outputs(args)
    with linear_run_boundary(distributed=args.backend == "distributed"):
        built = build_linear(args)
        return report_linear(built, execute_linear(built), plot=args.plot, json_path=args.json)


__all__ = ["HELP", "add_arguments", "run", "estimate", "Estimate"]
