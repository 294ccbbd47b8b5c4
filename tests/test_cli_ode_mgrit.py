"""``parareal ode --method mgrit``: parareal's discretisation, parareal's iterates on two levels, MGRIT's options refused
where they do not apply."""

from __future__ import annotations

import json

import pytest

from parareal_toolkit._names import LINEAR_PROBLEM_NAMES, NONLINEAR_PROBLEM_NAMES
from parareal_toolkit.cli import main

_SMALL = {
    "heat1d": ["--size", "8"],
    "heat2d": ["--size", "4"],
    "advection": ["--size", "8"],
    "brusselator": ["--size", "4"],
}
_SMALL |= {"burgers": ["--size", "8"], "allencahn": ["--size", "8"]}


def _json(argv: list[str], path) -> dict:
    assert main([*argv, "--json", str(path)]) == 0
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _pair(problem: str, extra: list[str], m: int, tmp_path, capsys) -> tuple[dict, dict, str, str]:
    base = ["ode", "--problem", problem, "--slices", "4", "--t-final", "0.2", *_SMALL.get(problem, []), *extra]
    parareal = _json([*base, "--fine-substeps", str(m)], tmp_path / "parareal.json")
    parareal_out = capsys.readouterr().out
    mgrit = _json(
        [*base, "--method", "mgrit", "--coarsening", str(m), "--levels", "2", "--relax", "F"], tmp_path / "m.json"
    )
    return parareal, mgrit, parareal_out, capsys.readouterr().out


def _error_column(out: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]


# every built-in problem, on its own default steppers (nonlinear), on the factorised implicit Euler (linear)
# and on a time stepper (linear, --fine rk4)
_CASES = [(p, []) for p in NONLINEAR_PROBLEM_NAMES + LINEAR_PROBLEM_NAMES] + [
    (p, ["--fine", "rk4"]) for p in LINEAR_PROBLEM_NAMES
]


@pytest.mark.parametrize(("problem", "extra"), _CASES, ids=[f"{p}{''.join(e)}" for p, e in _CASES])
def test_two_level_f_relaxation_prints_parareal_s_error_column(problem, extra, tmp_path, capsys):
    m = 3
    parareal, mgrit, parareal_out, mgrit_out = _pair(problem, extra, m, tmp_path, capsys)
    # the same operations in the same order: equal floats, not close ones
    assert [r["max_error"] for r in mgrit["rows"]] == [r["max_error"] for r in parareal["rows"]]
    assert [r["increment"] for r in mgrit["rows"]] == [r["increment"] for r in parareal["rows"]]
    assert _error_column(mgrit_out) == _error_column(parareal_out)
    assert mgrit["iterations"] == parareal["iterations"] == 4 and mgrit["stop_reason"] == "exact"
    # one fine step per level-0 call: m per fine slice of parareal
    assert mgrit["rows"][-1]["fine_evaluations"] == m * 4 * (1 + mgrit["iterations"])
    assert mgrit["level_evaluations"] == [sum(col) for col in zip(*mgrit["model_level_calls"])]


def test_fcf_needs_fewer_iterations_than_f_to_reach_a_tolerance_on_the_heat_problem(tmp_path):
    argv = ["ode", "--method", "mgrit", "--slices", "16", "--coarsening", "4", "--tol", "1e-8", "--levels", "3"]
    f = _json([*argv, "--relax", "F"], tmp_path / "f.json")
    fcf = _json([*argv, "--relax", "FCF"], tmp_path / "fcf.json")
    assert f["stop_reason"] == fcf["stop_reason"] == "tolerance"
    assert fcf["iterations"] < f["iterations"]
    assert fcf["rows"][-1]["increment"] <= 1e-8 and f["rows"][-1]["increment"] <= 1e-8


def test_residual_criterion_and_f_cycles_run_on_three_levels(tmp_path, capsys):
    argv = ["ode", "--method", "mgrit", "--slices", "8", "--coarsening", "2", "--levels", "3", "--cycle", "F"]
    report = _json([*argv, "--criterion", "residual", "--tol", "1e-6"], tmp_path / "r.json")
    assert report["stop_reason"] == "tolerance" and report["rows"][-1]["residual"] <= 1e-6
    assert report["level_slices"] == [16, 8, 4] and report["rows"][-1]["bound"] is None  # not parareal: no bound
    assert "converged after" in capsys.readouterr().out


def test_an_exact_fine_level_runs_to_its_own_fine_solution(tmp_path):
    argv = ["ode", "--slices", "4", "--size", "8", "--fine", "exact"]
    mgrit = _json([*argv, "--method", "mgrit", "--coarsening", "2"], tmp_path / "m.json")
    assert mgrit["fine"].startswith("exact") and mgrit["stop_reason"] == "exact"
    assert mgrit["rows"][-1]["residual"] == 0.0  # K = N_1: every fine step holds exactly


@pytest.mark.slow
def test_processes_backend_gives_the_serial_error_column_on_one_pool(tmp_path, capsys, monkeypatch):
    """Three levels, FCF, on two worker processes: the serial run's rows (the same calls on the same inputs)."""
    from parareal_toolkit.backends import ProcessBackend

    starts = []
    original = ProcessBackend.start
    monkeypatch.setattr(ProcessBackend, "start", lambda self, p: starts.append(p) or original(self, p))
    base = ["ode", "--method", "mgrit", "--slices", "8", "--size", "8", "--levels", "3", "--relax", "FCF"]
    serial = _json([*base, "--backend", "serial"], tmp_path / "serial.json")
    serial_out = capsys.readouterr().out
    pool = _json([*base, "--backend", "processes", "--workers", "2"], tmp_path / "pool.json")
    pool_out = capsys.readouterr().out
    assert pool["rows"] == serial["rows"] and pool["level_evaluations"] == serial["level_evaluations"]
    assert _error_column(pool_out) == _error_column(serial_out) and len(serial["rows"]) == 5  # K = ceil(8 / 2)
    assert pool["timing"]["backend"] == "processes" and pool["timing"]["workers"] == 2
    assert "processes, 2 worker process(es)" in pool_out
    assert len(starts) == 1  # the pool started once, with every level, and MGRIT's own hierarchy kept it


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--levels", "3"], "--levels applies only to --method mgrit; got --method parareal."),
        (["--coarsening", "2"], "--coarsening applies only to --method mgrit; got --method parareal."),
        (["--relax", "FCF"], "--relax applies only to --method mgrit; got --method parareal."),
        (["--cycle", "F"], "--cycle applies only to --method mgrit; got --method parareal."),
        (["--criterion", "residual"], "--criterion residual applies only to --method mgrit"),
        (["--method", "mgrit", "--fine-substeps", "4"], "--fine-substeps applies only to --method parareal"),
        (["--method", "mgrit", "--criterion", "estimate"], "--criterion estimate applies only to --method parareal"),
        (["--method", "mgrit", "--form", "correction"], "--form correction applies only to --method parareal"),
        (
            ["--method", "mgrit", "--problem", "lorenz", "--backend", "processes"],
            "--backend processes applies only to the linear propagators",
        ),
        (["--method", "mgrit", "--backend", "distributed"], "--backend distributed needs torchrun"),
        (["--method", "mgrit", "--workers", "2"], "--workers applies only to --backend processes"),
        (["--method", "mgrit", "--levels", "1"], "--levels must be an integer >= 2"),
        (["--method", "mgrit", "--coarsening", "1"], "--coarsening must be an integer >= 2"),
        (["--method", "mgrit", "--levels", "3", "--coarsening", "4", "--slices", "6"], "divisible by"),
        (["--method", "mgrit", "--problem", "lorenz", "--fine", "ivp-rk45"], "--fine ivp-rk45 applies only to"),
    ],
)
def test_mgrit_options_are_refused_where_they_do_not_apply(argv, fragment, capsys):
    assert main(["ode", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err, err


def test_an_mgrit_run_over_the_time_limit_is_refused_by_its_estimate(capsys):
    argv = ["ode", "--method", "mgrit", "--slices", "64", "--coarsening", "100000", "--time-limit", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exceeds --time-limit 1 s" in err, err


# ---- the cost model against counted calls ------------------------------------------------


class _Counting:
    """``propagator``, counting its calls (one per slice, batched or not)."""

    def __init__(self, propagator):
        self.propagator = propagator
        self.num_slices = propagator.num_slices
        self.calls = 0

    def __call__(self, u, j):
        self.calls += 1
        return self.propagator(u, j)


@pytest.mark.parametrize("num_levels", [2, 3, 4])
@pytest.mark.parametrize("relax", ["F", "FCF"])
@pytest.mark.parametrize("cycle", ["V", "F"])
@pytest.mark.parametrize("initial", ["coarse", "u0"])
def test_the_cost_model_counts_the_calls_a_real_run_makes(num_levels, relax, cycle, initial):
    import numpy as np

    from parareal_toolkit import mgrit
    from parareal_toolkit.ode import heat_1d, time_hierarchy
    from parareal_toolkit.ode.mgrit_cost import mgrit_level_calls

    m, problem = 2, heat_1d(4)
    levels = time_hierarchy(problem, 8 * m ** (num_levels - 1), coarsening=m, num_levels=num_levels)
    before = None
    for k in range(4):
        counted = [_Counting(p) for p in levels]
        result = mgrit(counted, problem.u0, coarsening=m, relax=relax, cycle=cycle, iterations=k, initial=initial)
        assert result.iterations == k and np.all(np.isfinite(result.states[-1]))
        calls = [c.calls for c in counted]
        step = calls if before is None else [b - a for a, b in zip(before, calls)]
        sizes = [p.num_slices for p in levels]
        assert step == mgrit_level_calls(sizes, m, relax=relax, cycle=cycle, iteration=k, initial=initial)
        before = calls


def test_two_level_f_model_is_parareal_s_counts():
    from parareal_toolkit.ode.mgrit_cost import mgrit_calls, modelled_mgrit_speedup

    parallel, sequential = mgrit_calls([40, 10], 4, iteration=3)
    assert parallel == [40, 0] and sequential == [0, 9]  # N_0 fine steps; parareal's N - 1 coarse calls
    # one worker, free coarse levels: K + 1 fine sweeps of N_0 steps against one
    assert modelled_mgrit_speedup([1.0, 0.0], [40, 10], 4, 3, 1) == 1 / 4
    assert modelled_mgrit_speedup([1.0, 0.0], [40, 10], 4, 3, 40) == 40 / 4


@pytest.mark.slow
def test_speedup_method_mgrit_measures_at_equal_accuracy(tmp_path, capsys):
    report = tmp_path / "s.json"
    argv = ["speedup", "--method", "mgrit", "--size", "4", "--slices", "4", "--fine-substeps", "4", "--workers", "1"]
    assert main([*argv, "--repeats", "1", "--levels", "2", "--json", str(report)]) == 0
    with open(report, encoding="utf-8") as fh:
        record = json.load(fh)
    assert record["method"] == "MGRIT" and record["settings"]["levels"] == 2
    row = record["rows"][0]
    assert row["relative_error"] <= 1e-6 and row["model_speedup"] > 0
    assert "MGRIT to relative error" in capsys.readouterr().out


def test_speedup_mgrit_options_need_the_method(capsys):
    assert main(["speedup", "--levels", "3"]) == 2
    assert "--levels applies only to --method mgrit" in capsys.readouterr().err
    assert main(["speedup", "--method", "mgrit", "--fine-substeps", "1"]) == 2
    assert "--fine-substeps >= 2" in capsys.readouterr().err
