"""`parareal ode`'s status line: why the run stopped, and a --tol that was not met said to be not met."""

import json

import numpy as np
import pytest

from parareal_toolkit import PararealResult
from parareal_toolkit._names import CONVERGED_STOP_REASONS, STOP_REASONS
from parareal_toolkit.cli import main
from parareal_toolkit.cli._ode_report import status_line


def _run(capsys, tmp_path, *argv):
    report = tmp_path / "run.json"
    assert main(["ode", *argv, "--json", str(report)]) == 0
    out = capsys.readouterr().out.splitlines()
    return out, json.loads(report.read_text())


def test_advection_reaching_k_equal_n_does_not_claim_the_tolerance(capsys, tmp_path):
    # the issue's case: it used to print "converged after 10 iteration(s) (--tol 1e-06 on the
    # increment)" with a last increment of 0.199
    out, data = _run(capsys, tmp_path, "--problem", "advection", "--tol", "1e-6")
    status = out[-3]  # then the wall-clock line and "results written to"
    last = data["rows"][-1]["increment"]
    assert last > 1e-6
    assert status == (
        "reached K = N = 10 iteration(s): the result equals the fine solution (exact in the standard form); "
        f"--tol 1e-06 on the increment was not met (last increment {last:.3g})"
    )
    assert not status.startswith("converged")
    assert (data["stop_reason"], data["converged"], data["iterations"]) == ("exact", True, 10)
    assert data["rows"][-1]["max_error"] < 1e-12


def test_a_met_tolerance_names_the_criterion_and_its_value(capsys, tmp_path):
    out, data = _run(capsys, tmp_path, "--tol", "1e-3")
    last = data["rows"][-1]["increment"]
    assert last <= 1e-3 < data["rows"][-2]["increment"]
    assert (
        out[-3]
        == f"converged after {data['iterations']} iteration(s) (--tol 0.001 on the increment): increment {last:.3g}"
    )
    assert (data["stop_reason"], data["converged"]) == ("tolerance", True)


def test_the_iterations_cap_is_not_convergence(capsys, tmp_path):
    out, data = _run(capsys, tmp_path, "--iterations", "3", "--tol", "1e-9", "--form", "correction")
    last = data["rows"][-1]["increment"]
    assert out[-3] == (
        "not converged after 3 iteration(s): the --iterations cap, below N = 10; "
        f"--tol 1e-09 on the increment was not met (last increment {last:.3g})"
    )
    assert (data["stop_reason"], data["converged"]) == ("iteration-cap", False)


def test_k_equal_n_without_tol_in_the_correction_form_with_the_linear_coarse_propagator(capsys, tmp_path):
    out, data = _run(capsys, tmp_path, "--form", "correction")
    assert out[-3] == (
        "converged after 10 iteration(s): K = N = 10, so the result equals the fine solution "
        "(exact in the correction form with a linear coarse propagator)"
    )
    assert (data["stop_reason"], data["converged"]) == ("exact", True)


def _result(reason, **kw):
    fields = dict(
        states=[np.zeros(1)] * 5,
        iterates=None,
        increments=[0.5, 0.25, 0.125, 0.0625],
        errors=None,
        slice_errors=None,
        iterations=4,
        num_slices=4,
        fine_evaluations=16,
        coarse_evaluations=10,
        form="correction",
        initial="coarse",
    )
    fields.update(kw)
    return PararealResult(**fields, converged=reason in CONVERGED_STOP_REASONS, stop_reason=reason)


@pytest.mark.parametrize(
    "reason, kw, line",
    [
        (
            "all-slices",
            {},
            "not converged: reached K = N = 4 iteration(s) in the correction form, which reproduces the fine "
            "solution only for a coarse propagator with G(0) = 0, not known here; --tol 0.01 on the increment was "
            "not met (last increment 0.0625)",
        ),
        (
            "callback",
            {"iterations": 2, "increments": [0.5, 0.25]},
            "not converged: stopped by the callback after 2 iteration(s); --tol 0.01 on the increment was not met "
            "(last increment 0.25)",
        ),
        (
            "non-finite",
            {"finite": False, "nonfinite_iteration": 4},
            "not converged: non-finite values (NaN or infinity) at iteration 4",
        ),
    ],
)
def test_every_stop_reason_has_its_words(reason, kw, line):
    assert status_line(_result(reason, **kw), 0.01, "increment") == line
    assert reason in STOP_REASONS


def test_only_converged_reasons_open_with_converged():
    for reason in STOP_REASONS:
        k = 2 if reason in ("callback", "iteration-cap") else 4
        result = _result(reason, iterations=k, increments=[0.5, 0.25, 0.125, 0.001][-k:], form="standard")
        for tol in (0.01, None):
            if tol is None and reason == "tolerance":
                continue  # a tolerance met needs a tolerance
            line = status_line(result, tol, "increment")
            # "exact" with an unmet --tol opens with "reached K = N", not with "converged"
            opens_converged = reason == "tolerance" or (reason == "exact" and tol is None)
            assert line.startswith("converged") == opens_converged, line
            assert line.startswith("not converged") == (reason not in CONVERGED_STOP_REASONS), line
