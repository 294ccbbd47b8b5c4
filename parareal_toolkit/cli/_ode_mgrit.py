"""``parareal ode --method mgrit``: MGRIT on the discretisation parareal would run, built, run and reported.

The run is built as parareal's (:mod:`parareal_toolkit.cli._ode_build`, with its checks,
estimates and refusals) with ``M = --coarsening`` fine substeps per slice, and turned into
MGRIT's levels (:func:`parareal_toolkit.ode.fine_steps.mgrit_levels`): level 0 takes one
fine substep per slice (``N_0 = N M``), level 1 is parareal's coarse propagator on the
``N = --slices`` slices, level ``l >= 2`` the same on every ``M^(l-1)``-th slice boundary.
``--method mgrit --coarsening M --levels 2 --relax F`` is therefore parareal with
``--fine-substeps M``, iterate by iterate and bit for bit (the same error column); with
``--fine exact`` level 0 is the matrix exponential of one fine step, whose ``M``-fold product
is parareal's exponential of the slice up to rounding. The estimate counts MGRIT's calls per
level and iteration (:mod:`parareal_toolkit.ode.mgrit_cost`). The table shows the error
against the sequential fine solution at the C-points, the increment, the FAS residual, the
parareal bound (two levels with F-relaxation only: there MGRIT is parareal) and the calls.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .._names import MGRIT_CRITERIA
from ._common import CliError
from ._ode_build import (
    OdeRun,
    build_linear,
    build_steppers,
    check_linear_environment,
    check_options,
    check_outputs,
    propagator_failures_refused,
    uses_steppers,
)
from ._ode_report import _informative, _json_head, _json_result, _write_json, save_figure, solution_scale

__all__ = ["MgritRun", "check_mgrit_options", "build_mgrit", "run_mgrit", "mgrit_status_line"]

_LINEAR_COARSENING = 4  # --coarsening's default where parareal's fine propagator takes no substeps


@dataclass(frozen=True)
class MgritRun:
    """A built ``parareal ode --method mgrit`` run.

    Attributes
    ----------
    pair : OdeRun
        Parareal's run on the same discretisation (problem, grid of ``N`` slices, coarse propagator).
    levels : list
        MGRIT's propagators, level 0 (one fine step per slice) first.
    coarsening, num_levels : int
        ``m`` (fine steps per slice) and ``L``.
    relax, cycle : str
        ``--relax`` and ``--cycle``.
    iterations : int
        ``K``, the cap (at most the iterations after which every C-point is exact).
    fine_text : str
        How the report names the fine level.
    """

    pair: OdeRun
    levels: list[Any]
    coarsening: int
    num_levels: int
    relax: str
    cycle: str
    iterations: int
    fine_text: str


def check_mgrit_options(args: argparse.Namespace) -> None:
    """Refuse, with one line, what MGRIT cannot run; then parareal's own checks of the problem and propagators.

    Returns
    -------
    None
    """
    if args.criterion not in MGRIT_CRITERIA:
        raise CliError(
            f"--criterion {args.criterion} applies only to --method parareal; with --method mgrit --tol bounds the "
            "increment or the residual."
        )
    if args.form != "standard":
        raise CliError("--form correction applies only to --method parareal; MGRIT (FAS) has one form.")
    if (args.fine or "").startswith("ivp-"):
        raise CliError(
            f"--fine {args.fine} applies only to --method parareal: MGRIT's fine level takes one step per fine step, "
            "which a solve_ivp slice is not; use a time stepper or exact."
        )
    levels = 2 if args.levels is None else args.levels
    if args.coarsening is not None:
        _check_divisible(args.slices, args.coarsening, levels)
    check_options(args)  # the time steppers: --backend serial or batched
    if not uses_steppers(args):
        check_linear_environment(args)  # --backend distributed outside torchrun: how to launch it


def _check_divisible(slices: int, m: int, levels: int) -> None:
    if slices % m ** (levels - 2):
        raise CliError(
            f"--slices must be divisible by --coarsening^(--levels - 2) = {m ** (levels - 2)} for {levels} levels "
            f"(every level has m times fewer slices); got --slices {slices}."
        )


def _exact_iterations(slices: int, relax: str) -> int:
    return slices if relax == "F" else (slices + 1) // 2


def _calls(sizes: list[int], m: int, args: argparse.Namespace, iterations: int) -> list[list[int]]:
    """MGRIT's calls per level for iterations ``0..K`` (the model of ``parareal_toolkit.ode.mgrit_cost``)."""
    from ..ode.mgrit_cost import mgrit_level_calls

    return [mgrit_level_calls(sizes, m, relax=args.relax, cycle=args.cycle, iteration=k) for k in range(iterations + 1)]


def build_mgrit(args: argparse.Namespace) -> MgritRun:
    """The levels on parareal's discretisation with ``--coarsening`` fine steps per slice, estimated and checked.

    Returns
    -------
    MgritRun
        The run, nothing propagated yet (but the estimate's pilot steps).
    """
    from ..ode.exact import ExactPropagator
    from ..ode.fine_steps import coarse_levels, level_slices, mgrit_levels
    from ..propagator import TimeGrid

    levels = 2 if args.levels is None else args.levels
    n = args.slices
    iterations = min(_exact_iterations(n, args.relax), n if args.iterations is None else args.iterations)
    args.iterations = iterations

    def totals(m: int) -> tuple[float, float]:
        calls = _calls(level_slices(n, m, levels), m, args, iterations)[1:]
        return sum(c[0] for c in calls) / m, sum(sum(c[1:]) for c in calls)

    if not uses_steppers(args):
        m = _LINEAR_COARSENING if args.coarsening is None else args.coarsening
        _check_divisible(n, m, levels)
        args.fine_substeps = None if args.fine == "exact" else m
        fine, coarse = totals(m)
        pair = build_linear(args, per_iteration=(fine / max(iterations, 1), coarse / max(iterations, 1)))
        if args.fine == "exact":
            step = ExactPropagator(pair.problem.ode, TimeGrid.uniform(pair.problem.t_final, n * m))
            hierarchy = [step, *coarse_levels(pair.coarse, m, levels - 1)]
            text = f"exact (expm) of one fine step, {m} per slice"
        else:
            hierarchy = mgrit_levels(pair.fine, pair.coarse, levels)
            text = f"one implicit-Euler step per fine step, {m} per slice"
    else:
        args.fine_substeps = args.coarsening

        def evaluations(run: OdeRun) -> tuple[int, int]:
            m = run.fine_substeps or 1  # a stepper run always has its substeps
            if m < 2:
                raise CliError(
                    f"MGRIT needs at least 2 fine steps per slice; the problem's fine step gives {m} per slice of "
                    f"length {float(run.grid.steps.max()):g}: give --coarsening M (M >= 2)."
                )
            _check_divisible(n, m, levels)
            fine, coarse = totals(m)
            return 4 * n + math.ceil(fine), 4 * n + math.ceil(coarse)

        pair = build_steppers(args, evaluations)
        m = pair.fine_substeps or 1
        hierarchy = mgrit_levels(pair.fine, pair.coarse, levels)
        name = pair.fine_text.split(" ", 1)[1].replace(" step(s)", "")
        text = f"one {name} step per fine step, {m} per slice"
    return MgritRun(pair, hierarchy, m, levels, args.relax, args.cycle, iterations, text)


@dataclass(frozen=True)
class _Outcome:
    result: Any
    infos: list[Any]
    reference: list[Any]
    first_nonfinite_reference: int | None
    bounds: Any
    sequential_seconds: float
    mgrit_seconds: float


@contextlib.contextmanager
def _maps_ready(run: MgritRun) -> Iterator[None]:
    """Start the process pool with every level installed, or meet the other ranks, before MGRIT's clock starts.

    The pool holds the levels as MGRIT's ``AllLevels`` does, so the run keeps it (see
    :class:`~parareal_toolkit.backends.ProcessBackend`); it is terminated after Ctrl-C or an
    error, else closed. Under torchrun every rank starts the clock together.
    """
    from .._mgrit_cycles import AllLevels
    from ..backends import ProcessBackend
    from ._ode_execute import _barrier

    pool = run.pair.backend if isinstance(run.pair.backend, ProcessBackend) else None
    try:
        if pool is not None:
            pool.start(AllLevels(run.levels))
        if run.pair.backend_name == "distributed":
            _barrier()
        yield
    except BaseException:
        if pool is not None:
            pool.terminate()
            pool = None
        raise
    finally:
        if pool is not None:
            pool.close()


def _execute(run: MgritRun, args: argparse.Namespace) -> _Outcome:
    """The sequential fine solve (the reference at the C-points), MGRIT against it, parareal's bound where it applies."""
    import numpy as np

    from ..mgrit_driver import mgrit
    from ..propagator import propagate_sequentially
    from ._ode_execute import _first_nonfinite, _gander_vandewalle_bounds

    pair, m = run.pair, run.coarsening
    infos: list[Any] = []
    with propagator_failures_refused():
        for level in run.levels:
            getattr(level, "prepare", lambda: None)()
        start = time.perf_counter()
        fine_states = propagate_sequentially(run.levels[0], pair.problem.u0)
        sequential = time.perf_counter() - start
        reference = fine_states[::m]
        with _maps_ready(run):
            start = time.perf_counter()
            result = mgrit(
                run.levels,
                pair.problem.u0,
                coarsening=m,
                relax=run.relax,
                cycle=run.cycle,
                iterations=run.iterations,
                tol=args.tol,
                criterion=args.criterion,
                backend=pair.backend,
                reference=reference,
                callback=infos.append,
            )
            seconds = time.perf_counter() - start
        bounds = None
        first = _first_nonfinite(reference)
        errors = result.errors or []
        if run.num_levels == 2 and run.relax == "F" and first is None and result.finite and errors:  # parareal's
            if uses_steppers(args):
                from ..ode.nonlinear_theory import gander_hairer_bound, lipschitz_constants

                alpha, beta = lipschitz_constants(pair.fine, pair.coarse, reference, directions=2)
                bounds = gander_hairer_bound(alpha, beta, pair.grid.num_slices, result.iterations, errors[0])
            else:
                bounds = _gander_vandewalle_bounds(pair, result, reference)
        if bounds is not None:
            bounds = np.asarray(bounds, dtype=float)
    return _Outcome(result, infos, reference, first, bounds, sequential, seconds)


def mgrit_status_line(result: Any, tol: float | None, criterion: str) -> str:
    """The line after the table: why MGRIT stopped, claiming only what happened.

    Returns
    -------
    str
        One line, without a newline.
    """
    k, n, reason = result.iterations, result.num_slices, result.stop_reason
    if reason == "non-finite":
        return f"not converged: non-finite values (NaN or infinity) at iteration {result.nonfinite_iteration}"
    measures = result.increments if criterion == "increment" else result.residuals[1:]
    last = f" (last {criterion} {measures[-1]:.3g})" if measures else ""
    unmet = f"; --tol {tol:g} on the {criterion} was not met{last}" if tol is not None else ""
    exact = _exact_iterations(n, result.relax)
    if reason == "tolerance":
        return f"converged after {k} iteration(s) (--tol {tol:g} on the {criterion}): {criterion} {measures[-1]:.3g}"
    if reason == "exact":
        return (
            f"converged after {k} iteration(s): with {result.relax}-relaxation every C-point is exact after "
            f"{exact} iteration(s) (N_1 = {n}), so the result equals the fine solution{unmet}"
        )
    return f"not converged after {k} iteration(s): the --iterations cap, below {exact}{unmet}"


def _table(outcome: _Outcome) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    result, bounds = outcome.result, outcome.bounds
    scale = solution_scale(outcome.reference)
    print(
        f"{'k':>3}  {'max error':>11}  {'increment':>11}  {'residual':>11}  {'bound':>11}  {'fine steps':>10}  "
        f"{'coarse calls':>12}"
    )
    rows, vacuous = [], []
    for k in range(result.iterations + 1):
        info = outcome.infos[k]
        bound, flag = _informative(None if bounds is None else float(bounds[k]), scale)
        if flag:
            vacuous.append(k)
        residual = result.residuals[k] if k < len(result.residuals) else None
        row = {
            "k": k,
            "max_error": result.errors[k],
            "increment": result.increments[k - 1] if k > 0 else None,
            "residual": residual,
            "bound": bound,
            "fine_evaluations": info.fine_evaluations,
            "coarse_evaluations": info.coarse_evaluations,
            "finite": info.finite,
        }
        rows.append(row)
        cells = [
            f"{v:11.3e}" if v is not None else f"{'-':>11}" for v in (row["max_error"], row["increment"], residual)
        ]
        bound_cell = f"{'no info':>11}" if flag else (f"{bound:11.3e}" if bound is not None else f"{'-':>11}")
        print(f"{k:>3}  {'  '.join(cells)}  {bound_cell}  {info.fine_evaluations:>10}  {info.coarse_evaluations:>12}")
    no_information = {
        "solution_scale": scale,
        "bound_iterations": vacuous,
        "why": "a bound above the solution's own size max_j norm(reference_j), or infinite, is no information",
    }
    return rows, no_information


def _where(pair: OdeRun) -> str:
    """Where the maps ran, for the wall-clock line."""
    if pair.backend_name == "processes":
        return f"processes, {pair.workers} worker process(es)"
    if pair.backend_name == "distributed":
        return f"distributed, {pair.workers} rank(s)"
    return f"{pair.backend_name}, in one process"


def run_mgrit(args: argparse.Namespace) -> int:
    """Check, build, run and report ``parareal ode --method mgrit``.

    Returns
    -------
    int
        0 for a finite run, 1 when a NaN or an infinity appeared (in the run or the reference).
    """
    from ..ode.fine_steps import level_slices

    check_mgrit_options(args)
    check_outputs(args)
    if uses_steppers(args):
        run = build_mgrit(args)
        outcome = _execute(run, args)
    else:
        from ._ode_execute import linear_run_boundary

        with linear_run_boundary(distributed=args.backend == "distributed"):
            run = build_mgrit(args)
            outcome = _execute(run, args)
    pair = run.pair
    result = outcome.result
    status = 0 if result.finite and outcome.first_nonfinite_reference is None else 1
    if not pair.leader:  # under torchrun rank 0 alone reports; every rank computed the same iterates
        return status
    problem = pair.problem
    sizes = level_slices(pair.grid.num_slices, run.coarsening, run.num_levels)
    print(
        f"{problem.description}; T = {problem.t_final:g}, N = {pair.grid.num_slices} slices, MGRIT with "
        f"{run.num_levels} levels (N_l = {', '.join(map(str, sizes))}), m = {run.coarsening}, {run.relax}-relaxation, "
        f"{run.cycle}-cycle; fine level: {run.fine_text}, coarse levels: {pair.coarse_text}"
    )
    bound_name = "Gander-Hairer" if uses_steppers(args) else "Gander-Vandewalle"
    print(
        f"error at the C-points against the sequential fine solution; residual: the FAS residual at the C-points; "
        f"bound: parareal's ({bound_name}) where MGRIT is parareal (2 levels, F-relaxation), else -"
    )
    rows, no_information = _table(outcome)
    print(mgrit_status_line(result, args.tol, args.criterion))
    model = _calls(sizes, run.coarsening, args, result.iterations)
    counted_equal = [sum(col) for col in zip(*model)] == result.level_evaluations
    print(
        f"calls per level: {', '.join(map(str, result.level_evaluations))} counted; the cost model "
        f"(parareal_toolkit.ode.mgrit_cost) counts {'the same' if counted_equal else 'otherwise'}; per iteration "
        f"after the first: {', '.join(map(str, model[-1])) if len(model) > 1 else '-'}"
    )
    print(
        f"wall-clock: sequential fine {outcome.sequential_seconds:.4g} s ({sizes[0]} fine steps), MGRIT "
        f"{outcome.mgrit_seconds:.4g} s ({_where(pair)}: no speedup is measured here; "
        "`parareal speedup --method mgrit` measures it)",
        flush=True,
    )
    if args.plot:
        from ._ode_execute import OdeOutcome

        figure = OdeOutcome(
            result=result,
            infos=outcome.infos,
            reference=outcome.reference,
            first_nonfinite_reference=outcome.first_nonfinite_reference,
            fine_lipschitz=math.inf,
            bounds=outcome.bounds,
            sequential_seconds=outcome.sequential_seconds,
            parareal_seconds=outcome.mgrit_seconds,
        )
        save_figure(args.plot, pair, figure, label=f"{bound_name} bound (parareal)")
    if args.json:
        payload = {
            **_json_head(pair),
            "method": "mgrit",
            "levels": run.num_levels,
            "coarsening": run.coarsening,
            "relax": run.relax,
            "cycle": run.cycle,
            "level_slices": sizes,
            "fine": run.fine_text,
            "coarse": pair.coarse_text,
            "tol": args.tol,
            "criterion": args.criterion,
            "no_information": no_information,
            **_json_result(result),
            "level_evaluations": result.level_evaluations,
            "model_level_calls": model,
            "timing": {
                "sequential_fine_s": outcome.sequential_seconds,
                "mgrit_s": outcome.mgrit_seconds,
                "backend": pair.backend_name,
                "workers": pair.workers,
            },
            "rows": rows,
        }
        _write_json(args.json, payload)
    if status == 0:
        return 0
    where = f"at iteration {result.nonfinite_iteration}" if not result.finite else "in the reference"
    cause = "" if outcome.first_nonfinite_reference is None else "; the sequential fine solution is itself non-finite"
    print(f"parareal ode: error: non-finite values (NaN or infinity) {where}{cause}", file=sys.stderr)
    return 1
