"""The speedup study: a persistent pool whose workers run BLAS on one thread, K chosen at the
tolerance, the model from counted costs, and `parareal speedup`'s table and results file."""

import json
import os

import numpy as np
import pytest

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.backends import ProcessBackend
from parareal_toolkit.backends.processes import worker_thread_limits
from parareal_toolkit.cli import main
from parareal_toolkit.ode import (
    ImplicitEulerPropagator,
    heat_1d,
    heat_2d,
    modelled_speedup,
    speedup,
    speedup_study,
)
from parareal_toolkit.results import read_results


def _propagators(slices=4):
    problem = heat_1d(12, sparse=True)
    grid = TimeGrid.uniform(problem.t_final, slices)
    fine = ImplicitEulerPropagator(problem.ode, grid, substeps=10)
    coarse = ImplicitEulerPropagator(problem.ode, grid)
    return problem, fine, coarse


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_pool_workers_run_blas_on_the_threads_they_are_given(threads):
    _, fine, _ = _propagators()
    with ProcessBackend(1, threads_per_worker=threads) as pool:
        pool.start(fine)
        pools = pool.submit(worker_thread_limits)
    blas = [p for p in pools if p["user_api"] == "blas"]
    assert blas, pools  # numpy and scipy load their BLAS in the worker
    assert all(p["num_threads"] == threads for p in blas), pools
    assert all(p["num_threads"] <= threads for p in pools), pools  # OpenMP too


@pytest.mark.slow
def test_the_pool_persists_and_its_views_give_the_serial_iterates():
    problem, fine, coarse = _propagators(slices=5)
    serial = parareal(fine, coarse, problem.u0, iterations=3, backend="serial")
    with ProcessBackend(2) as pool:
        pool.start(fine)
        startup = pool.startup_seconds
        assert startup is not None and startup > 0
        pids = pool.worker_pids
        assert len(pids) == 2 and os.getpid() not in pids
        for workers in (1, 2):
            result = parareal(fine, coarse, problem.u0, iterations=3, backend=pool.view(workers))
            for a, b in zip(result.states, serial.states):
                np.testing.assert_array_equal(a, b)  # the same code on the same inputs
        assert pool.running and pool.startup_seconds == startup  # never restarted
        assert pool.worker_cpu_seconds > 0  # the workers report the CPU time of their chunks
        assert pool.worker_pids == pids  # the same two processes did every sweep
        assert pool.submit(os.getpid) in pids


def test_model_is_the_theory_speedup_with_measured_costs():
    for n, k, w in [(16, 4, 1), (16, 4, 2), (7, 3, 3), (4, 4, 16)]:
        assert modelled_speedup(2.0, 0.03, n, k, w) == pytest.approx(speedup(0.015, n, k, workers=w), rel=1e-14)
    assert modelled_speedup(2.0, 0.5, 8, 0, 4) == pytest.approx(4.0)  # K = 0: one coarse sweep


def test_modelled_speedup_is_the_theory_speedup_exactly_at_unit_fine_cost():
    # both call one formula (ode.theory), so they agree bit for bit where alpha = c_G exactly
    for alpha in (0.0, 0.01, 0.3, 1.7):
        for n, k, w in [(16, 4, 1), (16, 4, 3), (7, 3, 3), (5, 2, 9), (1, 1, 1)]:
            assert modelled_speedup(1.0, alpha, n, k, w) == speedup(alpha, n, k, workers=w)


@pytest.mark.slow
def test_study_times_the_first_iteration_that_reaches_the_tolerance():
    problem = heat_2d(6, sparse=True)
    rtol = 1e-5
    study = speedup_study(problem, slices=6, fine_substeps=30, coarse_substeps=1, workers=[2, 1], rtol=rtol, repeats=1)
    k = study.iterations
    # the errors are recomputed here from a serial run: K is the first iterate within rtol
    grid = TimeGrid.uniform(problem.t_final, 6)
    fine = ImplicitEulerPropagator(problem.ode, grid, substeps=30)
    coarse = ImplicitEulerPropagator(problem.ode, grid)
    reference = propagate_sequentially(fine, problem.u0)
    scale = max(np.abs(r).max() for r in reference)
    run = parareal(fine, coarse, problem.u0, reference=reference, backend="serial")
    relative = [e / scale for e in run.errors]
    assert relative[k] <= rtol < relative[k - 1]
    np.testing.assert_allclose(study.errors, relative[: k + 1], rtol=1e-12, atol=1e-300)
    assert [r.workers for r in study.rows] == [2, 1]
    for row in study.rows:
        assert row.iterations == k and row.error <= rtol
        assert 0 < row.core_share <= 1.05  # one thread per worker: CPU time never much above wall time
        assert row.measured == pytest.approx(row.sequential_s / row.parareal_s)
        costs = (study.fine_slice_s, study.coarse_slice_s, 6, k, row.workers)
        assert row.model == pytest.approx(modelled_speedup(*costs))
        assert row.model_at_share == pytest.approx(modelled_speedup(*costs, core_share=row.core_share))
        assert row.model_at_share <= row.model * (1 + 1e-12)  # less of a core never predicts more
    assert study.startup_s > 0
    assert study.sequential_core_share is not None and 0 < study.sequential_core_share <= 1.05
    assert study.table()["rows"][0][:2] == ["2", str(k)]


@pytest.mark.slow
def test_speedup_command_writes_the_table_figure_and_results_file(tmp_path, capsys):
    report, figure = tmp_path / "speedup.json", tmp_path / "speedup.png"
    argv = ["speedup", "--problem", "heat1d", "--size", "20", "--slices", "4", "--fine-substeps", "50"]
    argv += ["--coarse-substeps", "2", "--rtol", "1e-6", "--workers", "1", "2", "--repeats", "1"]
    assert main([*argv, "--json", str(report), "--plot", str(figure)]) == 0
    out = capsys.readouterr().out
    startup_lines = [line for line in out.splitlines() if line.startswith("pool start-up:")]
    assert len(startup_lines) == 1
    data = read_results(report)
    for key in ("benchmark", "command", "machine", "date", "tables"):
        assert data[key], key
    assert data["command"].startswith("parareal speedup --problem heat1d --size 20")
    table = data["tables"]["speedup"]
    assert table["columns"][:8] == [
        "W",
        "K needed",
        "sequential s",
        "parareal s",
        "start-up s",
        "measured speedup",
        "model speedup",
        "measured/model",
    ]
    assert [row[0] for row in table["rows"]] == ["1", "2"]
    k = data["iterations"]
    assert 1 <= k <= 4 and data["errors"][k] <= 1e-6
    assert all(r["relative_error"] <= 1e-6 and r["iterations"] == k for r in data["rows"])
    assert figure.stat().st_size > 0
    json.dumps(data)  # strict JSON round-trips
