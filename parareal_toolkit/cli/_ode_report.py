"""Reporting a ``parareal ode`` run: the table on stdout, the figure, the JSON, the exit status.

One row per iteration ``k``: the error against the sequential fine solution, the increment,
the bound, the fine and coarse evaluations so far and the a-posteriori error estimate; a
bound or estimate above the solution's own size ``max_j norm(reference_j)`` reads "no info"
(JSON: ``null``, with ``no_information`` saying which and why), and the figure leaves it out. Then
one line saying whether ``--tol`` was met (or at which iteration a NaN or an infinity
appeared) and one line of wall-clock times. A non-finite run exits with status 1 and a last
line on stderr naming the iteration, and the reference's own failure when it has one; the
figure and the JSON are written all the same.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from ..ode.nonlinear_theory import FINE_LIPSCHITZ_SAFETY
from ._common import CliError, write_json
from ._ode_build import OdeRun
from ._ode_execute import OdeOutcome

__all__ = ["report_linear", "report_steppers", "save_figure"]

# the JSON rows' keys, in the order each kind of run has always written them
_LINEAR_ROW_KEYS = (
    "k",
    "max_error",
    "increment",
    "bound",
    "fine_evaluations",
    "coarse_evaluations",
    "finite",
    "estimate",
)
_STEPPER_ROW_KEYS = (
    "k",
    "max_error",
    "increment",
    "bound",
    "estimate",
    "fine_evaluations",
    "coarse_evaluations",
    "finite",
)


_NO_INFORMATION = "no info"  # the table's cell for a vacuous bound or estimate


def _cell(value: float | None, vacuous: bool = False) -> str:
    if vacuous:
        return f"{_NO_INFORMATION:>11}"
    return f"{value:11.3e}" if value is not None else f"{'-':>11}"


def solution_scale(reference: list[Any]) -> float:
    """``max_j norm(reference_j)`` (max-abs) over the finite states: what a bound must be below to say anything.

    An error bound or estimate above the solution's own size is no information (the zero
    state is that close), so the report shows it as such rather than as a number.

    Returns
    -------
    float
        The scale (0 when no state is finite).
    """
    sizes = [float(np.abs(np.asarray(u)).max(initial=0.0)) for u in reference]
    return max((size for size in sizes if math.isfinite(size)), default=0.0)


def _informative(value: float | None, scale: float) -> tuple[float | None, bool]:
    """``(value, False)`` when it says something; ``(None, True)`` when it is vacuous (above ``scale`` or infinite)."""
    if value is None or math.isnan(value):
        return None, False
    if not math.isfinite(value) or value > scale:
        return None, True
    return float(value), False


def _print_table(outcome: OdeOutcome, keys: tuple[str, ...]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Print the column header and one row per iteration; return the rows (``keys`` in order) and the vacuous ones.

    A bound or estimate above ``max_j norm(reference_j)`` (or infinite) reads "no info" in the
    table and ``null`` in the rows; the second value (the JSON's ``no_information``) lists
    those iterations and says why.
    """
    result, bounds = outcome.result, outcome.bounds
    assert result.errors is not None  # a reference was given
    scale = solution_scale(outcome.reference)
    print(
        f"{'k':>3}  {'max error':>11}  {'increment':>11}  {'bound':>11}  {'fine evals':>10}  {'coarse evals':>12}  "
        f"{'estimate':>11}"
    )
    rows = []
    vacuous: dict[str, list[int]] = {"bound": [], "estimate": []}
    for k in range(result.iterations + 1):
        info = outcome.infos[k]
        bound, bound_vacuous = _informative(None if bounds is None else float(bounds[k]), scale)
        estimate, estimate_vacuous = _informative(
            result.estimates[k - 1] if k > 0 and result.estimates else None, scale
        )
        for name, flag in (("bound", bound_vacuous), ("estimate", estimate_vacuous)):
            if flag:
                vacuous[name].append(k)
        row = {
            "k": k,
            "max_error": result.errors[k],
            "increment": result.increments[k - 1] if k > 0 else None,
            "bound": bound,
            "estimate": estimate,
            "fine_evaluations": info.fine_evaluations,
            "coarse_evaluations": info.coarse_evaluations,
            "finite": info.finite,
        }
        rows.append({key: row[key] for key in keys})
        print(
            f"{k:>3}  {_cell(row['max_error'])}  {_cell(row['increment'])}  {_cell(bound, bound_vacuous)}  "
            f"{info.fine_evaluations:>10}  {info.coarse_evaluations:>12}  {_cell(estimate, estimate_vacuous)}"
        )
    no_information = {
        "solution_scale": scale,
        "bound_iterations": vacuous["bound"],
        "estimate_iterations": vacuous["estimate"],
        "why": "a bound or estimate above the solution's own size max_j norm(reference_j), or infinite, "
        "is no information: its row holds null",
    }
    if vacuous["bound"] or vacuous["estimate"]:
        print(
            f"no info: a bound or estimate above the solution's size max_j |u_j| = {scale:.3g} says nothing "
            "about the error"
        )
    return rows, no_information


def status_line(result: Any, tol: float | None, criterion: str) -> str:
    """The line after the table: why the run stopped, in words that claim only what happened.

    ``"converged"`` opens the line only when ``result.converged``: ``--tol`` was met, or
    ``K = N`` made the result the fine solution by theorem (then a ``--tol`` that was not
    met is said to be not met, with the criterion's last value). ``K = N`` in the correction
    form with a coarse propagator not known to be linear, and the ``--iterations`` cap, are
    "not converged". The criterion is named whenever ``--tol`` was given.

    Parameters
    ----------
    result : PararealResult
        The run's result.
    tol : float or None
        ``--tol``.
    criterion : str
        ``--criterion``: ``"increment"`` or ``"estimate"``.

    Returns
    -------
    str
        One line, without a newline.
    """
    k, n, reason = result.iterations, result.num_slices, result.stop_reason
    if reason == "non-finite":
        return f"not converged: non-finite values (NaN or infinity) at iteration {result.nonfinite_iteration}"
    name = "the increment" if criterion == "increment" else "the a-posteriori error estimate"
    measures = result.increments if criterion == "increment" else result.estimates
    last = f" (last {criterion} {measures[-1]:.3g})" if measures else ""
    unmet = f"; --tol {tol:g} on {name} was not met{last}" if tol is not None else ""
    if reason == "tolerance":
        return f"converged after {k} iteration(s) (--tol {tol:g} on {name}): {criterion} {measures[-1]:.3g}"
    if reason == "exact":
        why = f"exact in the {result.form} form" + (
            " with a linear coarse propagator" if result.form == "correction" else ""
        )
        exact = f"the result equals the fine solution ({why})"
        if tol is None:
            return f"converged after {k} iteration(s): K = N = {n}, so {exact}"
        return f"reached K = N = {n} iteration(s): {exact}{unmet}"
    if reason == "all-slices":
        return (
            f"not converged: reached K = N = {n} iteration(s) in the {result.form} form, which reproduces the fine "
            f"solution only for a coarse propagator with G(0) = 0, not known here{unmet}"
        )
    if reason == "callback":
        return f"not converged: stopped by the callback after {k} iteration(s){unmet}"
    return f"not converged after {k} iteration(s): the --iterations cap, below N = {n}{unmet}"


def _print_status(run: OdeRun, result: Any) -> None:
    """Print :func:`status_line` for the run."""
    print(status_line(result, run.tol, run.criterion))


def _print_heading(run: OdeRun) -> None:
    problem = run.problem
    print(
        f"{problem.description}; T = {problem.t_final:g}, N = {run.grid.num_slices} slices, fine: {run.fine_text}, "
        f"coarse: {run.coarse_text}, {run.form} form"
    )


def report_linear(run: OdeRun, outcome: OdeOutcome, *, plot: str | None, json_path: str | None) -> int:
    """Report a linear run on rank 0 (every rank computed the same result); other ranks stay silent.

    The wall-clock line sets the measured time ratio (sequential fine over parareal) beside
    the model's speedup at the ``K`` iterations run, with ``alpha = c_G / c_F`` measured; it
    is not a speedup at equal accuracy (``parareal speedup`` measures that).

    Parameters
    ----------
    run : OdeRun
        The run as built.
    outcome : OdeOutcome
        What it produced.
    plot, json_path : str or None
        ``--plot`` and ``--json``: the figure and the JSON file to write, if any.

    Returns
    -------
    int
        The exit status: 0 for a finite run, 1 when a NaN or an infinity appeared.
    """
    result = outcome.result
    code = 0 if result.finite else 1
    if not run.leader:
        return code
    # stored iterates and errors: store_iterates is on and a reference was given
    assert result.iterates is not None and result.errors is not None
    _print_heading(run)
    print(
        f"estimate: a-posteriori bound on the error, L = {outcome.fine_lipschitz:.4g} (Lipschitz constant of a fine "
        "slice: the slice matrix's max-norm, or the logarithmic max-norm of A's bound above m = 512; a certificate)"
    )
    rows, no_information = _print_table(outcome, _LINEAR_ROW_KEYS)
    _print_status(run, result)
    timing = _print_linear_timing(run, outcome)
    if plot:
        save_figure(plot, run, outcome, label="Gander-Vandewalle bound")
    if json_path:
        payload = {
            **_json_head(run),
            "coarse_substeps": run.coarse_substeps,
            "form": run.form,
            "tol": run.tol,
            "criterion": run.criterion,
            "estimates": [row["estimate"] for row in rows[1:]] if result.estimates else [],
            "no_information": no_information,
            "fine": run.fine_text,
            **_json_result(result),
            "timing": timing,
            "rows": rows,
        }
        _write_json(json_path, payload)
    if not result.finite:
        _print_linear_failure(run, outcome)
    return code


def _print_linear_timing(run: OdeRun, outcome: OdeOutcome) -> dict[str, Any]:
    """Print the wall-clock line: the measured time ratio beside the model's speedup at ``K``; return the JSON's timing.

    ``alpha = c_G / c_F`` is measured: one coarse sweep over the sequential fine solution.
    """
    from ..ode.theory import speedup

    assert outcome.coarse_sweep_seconds is not None  # a linear run times its coarse sweep
    iterations = outcome.result.iterations
    sequential, parallel = outcome.sequential_seconds, outcome.parareal_seconds
    alpha = outcome.coarse_sweep_seconds / sequential
    workers = run.workers
    model = speedup(alpha, run.grid.num_slices, max(iterations, 1), workers=workers) if iterations else None
    measured = sequential / parallel
    model_text = "-" if model is None else f"{model:.2f}x"
    print(
        f"wall-clock: sequential fine {sequential:.4g} s, parareal {parallel:.4g} s "
        f"({run.backend_name}, {workers} worker(s)); time ratio {measured:.2f} measured, {model_text} model at "
        f"K = {iterations} (alpha = c_G/c_F = {alpha:.3g}); not a speedup at equal accuracy, which "
        "`parareal speedup` measures",
        flush=True,
    )
    return {
        "backend": run.backend_name,
        "workers": workers,
        "sequential_fine_s": sequential,
        "coarse_sweep_s": outcome.coarse_sweep_seconds,
        "parareal_s": parallel,
        "alpha": alpha,
        "measured_speedup": measured,
        "model_speedup": model,
    }


def _print_linear_failure(run: OdeRun, outcome: OdeOutcome) -> None:
    """The last line on stderr: where parareal became non-finite, and where the reference did, if it did."""
    cause = ""
    first = outcome.first_nonfinite_reference
    if first is not None:
        cause = (
            f"; the sequential fine solution is itself non-finite from T_{first} = "
            f"{run.grid.times[first]:g} ({run.fine_text} fails for slices of length "
            f"{run.grid.steps[0]:g}): use a smaller --t-final or more --slices"
        )
    print(
        f"parareal ode: error: non-finite values (NaN or infinity) at iteration {outcome.result.nonfinite_iteration}"
        f"{cause}",
        file=sys.stderr,
    )


def report_steppers(run: OdeRun, outcome: OdeOutcome, *, plot: str | None, json_path: str | None) -> int:
    """Report a time-stepper run, with the Gander-Hairer constants and ``L`` it estimated.

    Parameters
    ----------
    run : OdeRun
        The run as built.
    outcome : OdeOutcome
        What it produced.
    plot, json_path : str or None
        ``--plot`` and ``--json``: the figure and the JSON file to write, if any.

    Returns
    -------
    int
        The exit status: 0 for a finite run, 1 when a NaN or an infinity appeared in the run
        or in the reference.
    """
    result = outcome.result
    assert outcome.gander_hairer is not None
    alpha, beta = outcome.gander_hairer
    lipschitz = outcome.fine_lipschitz
    _print_heading(run)
    if math.isfinite(lipschitz):
        estimate_text = (
            f"a-posteriori with L = {lipschitz:.4g} ({FINE_LIPSCHITZ_SAFETY:g} x the largest max-norm of the fine "
            "slices' Jacobians at the reference: a certificate for a linear problem, an estimate otherwise)"
        )
    else:
        estimate_text = f"none, no Lipschitz constant of the fine propagator ({outcome.no_lipschitz_reason})"
    print(
        f"bound: Gander-Hairer (worst case of its recurrence) with α = {alpha:.4g} (F - G), β = {beta:.4g} (G) "
        f"estimated by finite differences; estimate: {estimate_text}"
    )
    rows, no_information = _print_table(outcome, _STEPPER_ROW_KEYS)
    _print_status(run, result)
    print(
        f"wall-clock: sequential fine {outcome.sequential_seconds:.4g} s, parareal {outcome.parareal_seconds:.4g} s "
        f"({run.backend_name}, serial in one process: no speedup is measured here)",
        flush=True,
    )
    if plot:
        save_figure(plot, run, outcome, label="Gander-Hairer bound (estimated α, β)")
    if json_path:
        payload = {
            **_json_head(run),
            "fine": run.fine_text,
            "coarse": run.coarse_text,
            "form": run.form,
            "tol": run.tol,
            "criterion": run.criterion,
            "fine_lipschitz": lipschitz,
            "fine_lipschitz_none": outcome.no_lipschitz_reason or None,
            "no_information": no_information,
            "gander_hairer": {"alpha": alpha, "beta": beta, "constants": "estimated by finite differences"},
            **_json_result(result),
            "timing": {"sequential_fine_s": outcome.sequential_seconds, "parareal_s": outcome.parareal_seconds},
            "rows": rows,
        }
        _write_json(json_path, payload)
    finite_reference = outcome.first_nonfinite_reference is None
    if result.finite and finite_reference:
        return 0
    where = f"at iteration {result.nonfinite_iteration}" if not result.finite else "in the reference"
    cause = "" if finite_reference else "; the sequential fine solution is itself non-finite: use more --fine-substeps"
    print(f"parareal ode: error: non-finite values (NaN or infinity) {where}{cause}", file=sys.stderr)
    return 1


def _json_head(run: OdeRun) -> dict[str, Any]:
    problem = run.problem
    return {
        "problem": problem.name,
        "description": problem.description,
        "size": problem.ode.size,
        "t_final": problem.t_final,
        "slices": run.grid.num_slices,
    }


def _json_result(result: Any) -> dict[str, Any]:
    return {
        "converged": result.converged,
        "stop_reason": result.stop_reason,
        "finite": result.finite,
        "nonfinite_iteration": result.nonfinite_iteration,
        "iterations": result.iterations,
    }


def _write_json(path: str, payload: dict[str, Any]) -> None:
    write_json("--json", path, payload)  # NaN and infinities become null
    print(f"results written to {path}")


def save_figure(path: str, run: OdeRun, outcome: OdeOutcome, *, label: str) -> None:
    """Save the convergence figure (errors and bounds per iteration; error over time) to ``path``.

    Bounds above the solution's size (:func:`solution_scale`) are left out: no information.

    Returns
    -------
    None
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import plot_convergence, plot_error_over_time

    bounds = outcome.bounds
    if bounds is not None:  # a vacuous bound is no information: not drawn
        scale = solution_scale(outcome.reference)
        bounds = np.where(np.asarray(bounds, dtype=float) <= scale, bounds, np.nan)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    try:
        plot_convergence(outcome.result, bounds=None if bounds is None else {label: bounds}, ax=left)
        left.set_title(run.problem.description)
        plot_error_over_time(outcome.result, run.grid.times, ax=right)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise CliError(f"cannot write --plot file {path!r}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    print(f"figure written to {path}")
