"""`parareal ode`: rows, JSON, figure, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest

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
