"""`parareal ode`: rows, JSON, figure, and one-line errors with exit status 2."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from launch import free_port

from parareal_toolkit.cli import main


def test_default_run_prints_one_row_per_iteration(capsys):
    assert main(["ode"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out if line.strip() and line.split()[0].isdigit()]
    assert [int(r[0]) for r in rows] == list(range(11))  # default: N = 10 slices, K = N
    errors = [float(r[1]) for r in rows]
    bounds = [float(r[3]) for r in rows]
    assert errors[-1] < 1e-12  # K = N is exact
    assert all(e <= b * (1 + 1e-9) + 1e-12 for e, b in zip(errors, bounds))
    assert [int(r[4]) for r in rows] == [10 * k for k in range(11)]
    assert "converged after 10 iteration(s)" in out[-2]
    assert out[-1].startswith("wall-clock: sequential fine") and "(alpha = c_G/c_F" in out[-1]


@pytest.mark.slow
def test_speedup_study_with_a_process_pool(tmp_path, capsys):
    report = tmp_path / "study.json"
    argv = [
        "ode",
        "--size",
        "40",
        "--slices",
        "4",
        "--iterations",
        "2",
        "--fine-substeps",
        "200",
        "--backend",
        "processes",
        "--workers",
        "2",
        "--json",
        str(report),
    ]
    assert main(argv) == 0
    data = json.loads(report.read_text())
    timing = data["timing"]
    assert timing["backend"] == "processes" and timing["workers"] == 2
    assert data["fine"] == "200 implicit-Euler substeps"
    # alpha is measured: one coarse substep against 200 fine ones
    assert 0 < timing["alpha"] < 0.1
    assert timing["model_speedup"] == pytest.approx(1 / (3 * timing["alpha"] + 2 * 2 / 4))
    # the bound is taken against the implicit-Euler fine solution, so it still holds
    assert all(r["max_error"] <= r["bound"] * (1 + 1e-9) + 1e-12 for r in data["rows"])


def test_json_and_plot(tmp_path, capsys):
    report, figure = tmp_path / "run.json", tmp_path / "run.png"
    code = main(
        [
            "ode",
            "--problem",
            "heat2d",
            "--size",
            "6",
            "--slices",
            "8",
            "--tol",
            "1e-6",
            "--coarse-substeps",
            "2",
            "--form",
            "correction",
            "--json",
            str(report),
            "--plot",
            str(figure),
        ]
    )
    assert code == 0
    data = json.loads(report.read_text())
    assert data["problem"] == "heat2d" and data["size"] == 36 and data["converged"]
    assert data["rows"][-1]["increment"] <= 1e-6 and data["iterations"] < 8
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ode", "--slices", "0"], "--slices: expected a positive integer, got '0'"),
        (["ode", "--iterations", "-1"], "--iterations: expected a non-negative integer, got '-1'"),
        (["ode", "--tol", "0"], "--tol: expected a positive number, got '0'"),
        (["ode", "--problem", "wave"], "invalid choice: 'wave'"),
        (["ode", "--problem", "dahlquist", "--size", "4"], "`size` applies only to"),
        (["ode", "--bogus"], "unrecognized arguments: --bogus"),
        (["ode", "--workers", "2"], "--workers applies only to --backend processes"),
    ],
)
def test_bad_options_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        code = main(argv)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_console_entry_point_runs_without_torch():
    code = (
        "import sys; from parareal_toolkit.cli import main; rc = main(['ode', '--slices', '4']); "
        "assert 'torch' not in sys.modules, 'parareal ode imported torch'; sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "parareal_toolkit.cli", "ode", "--size", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


# --- issue 11: non-finite runs, refused requests, output paths, progress, Ctrl-C, ranks ------


def _strict_json(path):
    """The file parsed as JSON proper: NaN and Infinity, which json.dump writes by default, are errors."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize("problem", ["advection", "heat1d", "oscillator"])
def test_a_non_finite_run_exits_1_naming_the_iteration(problem, tmp_path, capsys):
    report = tmp_path / "run.json"
    code = main(["ode", "--problem", problem, "--t-final", "1e300", "--json", str(report)])
    captured = capsys.readouterr()
    assert code == 1
    rows = [line.split() for line in captured.out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert [r[0] for r in rows] == ["0", "1"]  # the table stops at the non-finite iterate
    assert [r[1] for r in rows] == ["nan", "nan"]  # no "0.000e+00": errors against NaN are NaN
    assert "not converged: non-finite values (NaN or infinity) at iteration 1" in captured.out
    assert "converged after" not in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in captured.err
    assert err[0].startswith("parareal ode: error: non-finite values (NaN or infinity) at iteration 1; ")
    assert "the sequential fine solution is itself non-finite from T_1 = 1e+299" in err[0]
    data = _strict_json(report)
    assert (data["finite"], data["nonfinite_iteration"], data["converged"]) == (False, 1, False)
    assert [row["finite"] for row in data["rows"]] == [True, False]
    assert data["rows"][1]["max_error"] is None and data["rows"][1]["increment"] is None


def test_a_finite_run_reports_finite_in_the_json(tmp_path, capsys):
    report = tmp_path / "run.json"
    assert main(["ode", "--slices", "4", "--json", str(report)]) == 0
    data = _strict_json(report)
    assert data["finite"] and data["nonfinite_iteration"] is None and all(row["finite"] for row in data["rows"])
    assert capsys.readouterr().err == ""  # a short run neither announces an estimate nor shows a bar


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (
            ["--size", "100000"],
            ["a dense 100000x100000 A needs ~671 GiB", "74.5 GiB", "use --sparse or a smaller --size"],
        ),
        (
            ["--problem", "heat2d", "--size", "1000"],
            ["a dense 1000000x1000000 A needs ~", "use --sparse or a smaller --size"],
        ),
        (
            ["--problem", "heat2d", "--size", "100000", "--sparse"],
            ["states of size 10000000000 needs ~", "use a smaller --size or fewer --slices"],
        ),
        (
            ["--fine-substeps", "1000000000"],
            ["estimated run time ~", "(fine slices: ~", "exceeds --time-limit 600 s; use fewer --fine-substeps"],
        ),
        (
            ["--problem", "advection", "--t-final", "1e8", "--sparse"],
            ["estimated run time ~", "expm_multiply costs ~||ΔT A||_1 steps", "raise --time-limit"],
        ),
        (
            ["--problem", "advection", "--t-final", "1e300", "--sparse"],
            ["estimated run time ~", "years", "use a smaller --t-final"],
        ),
        (
            ["--problem", "heat2d", "--size", "100", "--time-limit", "1"],
            ["(dense matrix functions: ~", "exceeds --time-limit 1 s; use --sparse or a smaller --size"],
        ),
        (["--fine-substeps", "20000", "--time-limit", "0.01"], ["exceeds --time-limit 0.01 s"]),
    ],
)
def test_requests_that_cannot_fit_are_refused_at_once_with_the_estimate(argv, fragments, tmp_path, capsys):
    report = tmp_path / "never.json"
    start = time.perf_counter()
    assert main(["ode", *argv, "--json", str(report)]) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("parareal ode: error: ")
    for fragment in fragments:
        assert fragment in err
    assert not report.exists()  # checking that --json is writable left nothing behind


def test_output_paths_are_checked_before_any_work(tmp_path, capsys):
    existing = tmp_path / "old.json"
    existing.write_text("keep")
    cases = [
        (["--json", str(tmp_path)], f"cannot write --json file '{tmp_path}': it is a directory."),
        (["--plot", str(tmp_path)], f"cannot write --plot file '{tmp_path}': it is a directory."),
        (["--json", str(tmp_path / "missing" / "r.json")], "does not exist"),
        (["--json", str(tmp_path / ("x" * 300))], "cannot write --json file"),
        (["--plot", str(tmp_path / "figure.xyz")], "unknown extension '.xyz'; use one of"),
    ]
    for argv, message in cases:
        # a run that would take hours: it must never start
        assert main(["ode", "--fine-substeps", "1000000000", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert main(["ode", "--slices", "2", "--json", str(existing)]) == 0  # an existing file is overwritten
    assert json.loads(existing.read_text())["slices"] == 2


@pytest.mark.parametrize(
    "option, value",
    [
        ("--t-final", "nan"),
        ("--t-final", "inf"),
        ("--t-final", "1e400"),
        ("--tol", "nan"),
        ("--tol", "-inf"),
        ("--time-limit", "inf"),
        ("--time-limit", "0"),
    ],
)
def test_every_float_option_refuses_non_finite_values(option, value, capsys):
    assert main(["ode", f"{option}={value}"]) == 2
    err = capsys.readouterr().err
    assert f"{option}: expected a positive number, got '{value}'" in err and len(err.strip().splitlines()) == 1


def test_distributed_backend_outside_torchrun_is_refused(monkeypatch, capsys):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert main(["ode", "--backend", "distributed"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "--backend distributed needs torchrun (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set)" in err


class _Clock:
    """tqdm's clock, advancing ``step`` seconds at each reading: a run's length as tqdm sees it
    does not depend on how fast this machine computes it."""

    def __init__(self, step):
        self.now, self.step = 1000.0, step

    def __call__(self):
        self.now += self.step
        return self.now


@pytest.mark.parametrize("step", [0.7, 31.0])  # a rate above and below one slice per second
def test_a_run_longer_than_a_second_shows_progress(monkeypatch, capsys, step):
    import tqdm.std

    monkeypatch.setattr(tqdm.std, "time", _Clock(step))
    argv = ["ode", "--size", "20", "--slices", "4", "--iterations", "1", "--fine-substeps", "50"]
    assert main([*argv, "--backend", "serial"]) == 0
    err = capsys.readouterr().err
    assert "parareal ode: fine slices:" in err and "Traceback" not in err
    # tqdm writes each rate as "slice/s" or "s/slice", whichever is above 1: assert the unit, not
    # the machine's speed; and the counts: 4 slices x (reference + 1 iteration) = 8
    assert re.search(r"\d(slice/s|s/slice)\]", err)
    counts = [int(n) for n in re.findall(r"\| *(\d+)/8 \[", err)]
    assert counts and counts == sorted(counts) and all(0 <= n <= 8 for n in counts)


def test_a_run_shorter_than_a_second_shows_nothing(monkeypatch, capsys):
    import tqdm.std

    monkeypatch.setattr(tqdm.std, "time", _Clock(0.0))
    argv = ["ode", "--size", "20", "--slices", "4", "--iterations", "1", "--fine-substeps", "50"]
    assert main([*argv, "--backend", "serial"]) == 0
    assert capsys.readouterr().err == ""


def _launch(args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "parareal_toolkit.cli", "ode", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _wait_for_progress(process, marker="fine slices"):
    """Read stderr until the progress bar shows ``marker``, i.e. the run is under way; returns what was read."""
    seen = ""
    while marker not in seen:
        line = process.stderr.readline()
        assert line, f"the run ended before showing progress: {seen!r}"
        seen += line
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["batched", "processes"])
def test_ctrl_c_ends_a_run_with_one_line(backend):
    args = ["--size", "20", "--slices", "4", "--fine-substeps", "1000000", "--time-limit", "10000"]
    if backend == "processes":
        args += ["--backend", "processes", "--workers", "2"]
    process = _launch(args, start_new_session=True)
    if backend == "processes":
        _wait_for_progress(process, "| 4/")  # the sequential reference is done ...
        time.sleep(3)  # ... and the pool's workers are computing their chunks
    else:
        _wait_for_progress(process)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group
    start = time.perf_counter()
    _, err = process.communicate(timeout=60)
    assert time.perf_counter() - start < 10  # the pool's workers are stopped, not waited for
    assert process.returncode == 130
    assert err.strip().splitlines()[-1] == "parareal ode: interrupted" and "Traceback" not in err


@pytest.mark.slow
def test_a_killed_rank_ends_the_other_with_its_first_error_not_a_second_one():
    port = free_port()
    args = ["--size", "20", "--slices", "4", "--fine-substeps", "400000", "--backend", "distributed"]
    ranks = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        ranks.append(_launch(args, env=env))
    try:
        _wait_for_progress(ranks[0])  # rank 0 is under way: the group exists
        ranks[1].kill()
        start = time.perf_counter()
        _, err = ranks[0].communicate(timeout=120)
    finally:
        for process in ranks:
            if process.poll() is None:
                process.kill()
    assert time.perf_counter() - start < 60
    assert ranks[0].returncode == 2 and "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("parareal ode: error: the distributed run failed: ")


def test_a_blow_up_mid_run_is_reported_at_its_iteration(capsys):
    # u' = 300 u on 4 slices of length 1: parareal makes U_k exact after k iterations, and
    # e^{300 k} is finite for k = 1, 2 and overflows at k = 3, so iterations 0..2 hold finite
    # states and the first non-finite one is iteration 3
    status = main(["ode", "--problem", "dahlquist", "--lam", "300", "--slices", "4", "--t-final", "4"])
    out, err = capsys.readouterr()
    assert status == 1
    assert "not converged: non-finite values (NaN or infinity) at iteration 3" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["0", "1", "2", "3"]  # the table stops where the values did
    assert [row[2] for row in rows[1:3]] == ["1.942e+130", "3.773e+260"]  # finite increments first
    assert "at iteration 3" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --- nonlinear problems and time steppers --------------------------------------------------


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]


@pytest.mark.parametrize("problem", ["lorenz", "vanderpol", "brusselator", "burgers", "allencahn"])
def test_every_nonlinear_problem_runs_with_its_default_steppers(problem, capsys):
    argv = ["ode", "--problem", problem, "--slices", "4", "--t-final", "0.2"]
    if problem == "brusselator":
        argv += ["--size", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert [int(r[0]) for r in rows] == list(range(5))
    assert float(rows[-1][1]) < 1e-12  # K = N reproduces the fine solution
    assert "standard form" in out.splitlines()[0]


@pytest.mark.parametrize("problem", ["lorenz", "vanderpol", "brusselator", "burgers", "allencahn"])
def test_every_nonlinear_problem_runs_at_its_full_defaults(problem, capsys):
    # the command a reader types first: the default steppers must survive every iterate
    assert main(["ode", "--problem", problem]) == 0
    rows = _rows(capsys.readouterr().out)
    assert float(rows[-1][1]) < 1e-10


def test_tol_on_the_estimate_certifies_the_error_and_says_so(tmp_path, capsys):
    report = tmp_path / "burgers.json"
    argv = ["ode", "--problem", "burgers", "--size", "32", "--tol", "1e-6", "--criterion", "estimate"]
    assert main([*argv, "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "(--tol 1e-06 on the a-posteriori error estimate)" in out
    data = json.loads(report.read_text())
    last = data["rows"][-1]
    assert data["criterion"] == "estimate" and data["converged"]
    assert last["max_error"] <= last["estimate"] <= 1e-6
    # every estimate bounds its error, or is above the solution's size and then reads null (no information)
    vacuous = data["no_information"]["estimate_iterations"]
    assert vacuous == [r["k"] for r in data["rows"][1:] if r["estimate"] is None]
    assert all(r["max_error"] <= r["estimate"] for r in data["rows"][1:] if r["k"] not in vacuous)
    assert data["gander_hairer"]["alpha"] > 0 and data["rows"][0]["bound"] == data["rows"][0]["max_error"]


def test_steppers_on_a_linear_problem_and_a_solve_ivp_fine_propagator(capsys):
    argv = ["ode", "--problem", "heat1d", "--size", "10", "--fine", "rk4", "--fine-substeps", "50"]
    assert main([*argv, "--coarse", "trapezoid", "--initial", "sine"]) == 0
    assert "fine: 50 rk4 step(s), coarse: 1 trapezoid step(s)" in capsys.readouterr().out
    argv = ["ode", "--problem", "vanderpol", "--mu", "2", "--fine", "ivp-radau", "--rtol", "1e-9", "--slices", "4"]
    assert main(argv) == 0
    assert "solve_ivp Radau (rtol 1e-09, atol 1e-10)" in capsys.readouterr().out


def test_lorenz_needs_nearly_n_iterations_on_a_long_interval(capsys):
    assert main(["ode", "--problem", "lorenz", "--t-final", "10", "--slices", "10", "--tol", "1e-6"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert len(rows) - 1 >= 9  # chaos: the coarse correction helps little


def test_the_gander_hairer_bound_is_above_the_error_on_dahlquist(tmp_path):
    # issue 21: exact constants and β = 2/3 < 1; the closed form printed a bound below the error at k = 1..6
    report = tmp_path / "dahlquist.json"
    argv = ["ode", "--problem", "dahlquist", "--lam", "-1", "--t-final", "5", "--slices", "10", "--fine", "rk4"]
    assert main([*argv, "--fine-substeps", "100", "--json", str(report)]) == 0
    rows = json.loads(report.read_text())["rows"]
    assert all(r["bound"] is not None for r in rows)  # all below the solution's size 1: information
    eps = float(np.finfo(float).eps)
    assert all(r["max_error"] <= r["bound"] * (1 + 64 * 10 * eps) + 64 * 10 * eps for r in rows)
    assert all(r["max_error"] <= r["estimate"] for r in rows[1:])  # a linear fine map: the estimate is a certificate


def test_the_estimate_does_not_stop_an_unstable_fine_propagator(tmp_path, capsys):
    # issue 21: explicit Euler, one step per slice, on Allen-Cahn stopped with error 2.4 at --tol 0.5
    report = tmp_path / "allencahn.json"
    argv = ["ode", "--problem", "allencahn", "--fine", "explicit-euler", "--fine-substeps", "1"]
    assert main([*argv, "--criterion", "estimate", "--tol", "0.5", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    for row in data["rows"][1:]:
        if row["estimate"] is not None and row["estimate"] <= 0.5:
            assert row["max_error"] <= 0.5
    assert data["rows"][-1]["k"] == data["slices"] or data["rows"][-1]["max_error"] <= 0.5
    assert "no info" in capsys.readouterr().out


def test_the_estimate_is_refused_without_a_lipschitz_constant(capsys):
    argv = ["ode", "--problem", "burgers", "--size", "600", "--tol", "1e-6", "--criterion", "estimate"]
    assert main([*argv, "--iterations", "1"]) == 2
    err = capsys.readouterr().err
    assert "needs a finite Lipschitz constant" in err and "600 > 512 components" in err


def test_vacuous_bounds_and_estimates_read_no_information(tmp_path, capsys):
    # issue 21: the damped oscillator printed an estimate of 8e74 (L = 2e8 from the logarithmic norm) as a number
    report = tmp_path / "oscillator.json"
    assert main(["ode", "--problem", "oscillator", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    data = json.loads(report.read_text())
    scale = data["no_information"]["solution_scale"]
    assert scale == pytest.approx(1.0)  # the oscillator starts at |u| = 1 and decays
    vacuous = data["no_information"]["estimate_iterations"]
    assert vacuous and all(data["rows"][k]["estimate"] is None for k in vacuous)
    assert all(r["estimate"] is None or r["estimate"] <= scale for r in data["rows"])
    assert all(r["bound"] is None or r["bound"] <= scale for r in data["rows"])
    assert data["estimates"] == [r["estimate"] for r in data["rows"][1:]]
    assert "no info" in out and "e+74" not in out
