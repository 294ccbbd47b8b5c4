"""``benchmarks/layer_parallel.py`` at a tiny size: the results file's structure and its numbers' consistency.

ResNet-47 has ``N_0 = 4`` equal units per stage, exact at ``N_1 = 2`` MGRIT iterations
(two levels, m = 2, F-relaxation): ``K = 1`` is inexact, ``K = 2`` and ``K = 3`` are capped
at the exact count. Nothing here depends on the measured times' size, only on how the
script combines them.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parareal_toolkit.plans import mgrit_block_work

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "layer_parallel.py"
TINY = [
    "--depth", "47", "--iterations", "1", "2", "3", "--subnetworks", "2",
    "--patterns-train", "12", "--patterns-test", "6", "--patterns-epochs", "1",
    "--digits-train", "1", "--digits-test", "1", "--digits-epochs", "1", "--digits-side", "16",
    "--batch-size", "6", "--step-batch", "2", "--repeats", "1", "--warmup", "0",
]  # fmt: skip
LABELS = ["1", "2", "3", "converged"]
EXACT = 2  # N_1 = N_0 / m = 4 / 2


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    folder = tmp_path_factory.mktemp("layer-parallel")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, "--out", str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert sorted(p.name for p in folder.iterdir()) == ["layer_parallel_cpu.json", "layer_parallel_cpu.png"]
    assert (folder / "layer_parallel_cpu.png").stat().st_size > 0
    return json.loads((folder / "layer_parallel_cpu.json").read_text())


pytestmark = pytest.mark.slow


def test_the_header_and_the_tables(record):
    assert record["benchmark"] == "layer_parallel"
    assert "cores" in record["machine"] and record["command"].startswith("python benchmarks/layer_parallel.py")
    assert sorted(record["tables"]) == ["accuracy", "measured", "speedup"]
    for table in record["tables"].values():
        assert all(len(row) == len(table["columns"]) for row in table["rows"])
    assert len(record["tables"]["accuracy"]["rows"]) == len(record["runs"]) == 2 * (len(LABELS) + 2)
    assert [row[0] for row in record["tables"]["speedup"]["rows"]] == [*LABELS, "Parareal ResNet-2"]


def test_every_run_trains_the_same_recipe_and_reports_its_mgrit_iterations(record):
    for dataset in ("patterns", "digits (image folder)"):
        runs = [run for run in record["runs"] if run["dataset"] == dataset]
        assert [run["network"] for run in runs] == [
            "ResNet-47",
            *["layer-parallel ResNet-47"] * len(LABELS),
            "Parareal ResNet-2",
        ]
        assert [str(run["K"]) for run in runs[1:-1]] == LABELS
        for run in runs:
            assert run["epochs"] == 1
            assert 0 <= run["best_test_error"] <= run["final_test_error"] <= 1
        for run in runs[1:-1]:
            mgrit = run["mgrit"]
            wanted = EXACT if run["K"] == "converged" else min(run["K"], EXACT)
            assert mgrit["units"] == [4, 4, 4] and mgrit["exact_iterations"] == [EXACT] * 3
            assert mgrit["forward"] == mgrit["adjoint"] == [wanted] * 3
            assert run["exact"] is (wanted == EXACT)
    rows = record["tables"]["accuracy"]["rows"]
    assert [row[4] for row in rows[1:5]] == ["no", "yes", "yes", "yes"]
    assert rows[1][3] == f"1 / 1 of {EXACT}"
    for row, run in zip(rows, record["runs"]):
        assert row[5] == f"{100 * run['final_test_error']:.1f}%"


def test_the_virtual_speedup_replays_the_recorded_maps(record):
    virtual = record["virtual"]
    costs, rest = virtual["unit_costs"], virtual["rest_seconds"]
    # the serial step in the model: the remainder plus every block unit's forward and backward
    serial = virtual["serial_model_seconds"]
    assert math.isclose(serial, rest + sum(4 * (c["t_g"] + c["t_b"]) for c in costs), rel_tol=1e-12)
    for label in LABELS:
        row = virtual["by_K"][label]
        seconds = row["virtual_seconds"]
        for p, speedup in row["speedup"].items():
            assert math.isclose(speedup, serial / seconds[p], rel_tol=1e-12)
        # ceil(s / P) does not grow with P: neither does the critical path
        times = [seconds[p] for p in ("1", "2", "4", "8")]
        assert all(a >= b for a, b in zip(times, times[1:]))
        # with P >= every map's size each map costs one evaluation: the path is then fixed
        row_blocks = row["blocks"]
        floor = rest + sum(
            costs[b["stage"]]["t_f"] * (len(b["maps"]["forward"]) + b["evaluations"] - sum(b["maps"]["forward"]))
            + costs[b["stage"]]["t_x"]
            * (len(b["maps"]["adjoint"]) + b["adjoint_evaluations"] - sum(b["maps"]["adjoint"]))
            + costs[b["stage"]]["t_f"] * b["statistics_evaluations"]
            + costs[b["stage"]]["t_g"]
            + costs[b["stage"]]["t_p"]
            for b in row_blocks
        )
        assert math.isclose(seconds["8"], floor, rel_tol=1e-9)
        for block in row["blocks"]:
            assert block["units"] == 4 and block["statistics_evaluations"] == 4
            for phase, evaluations in (("forward", "evaluations"), ("adjoint", "adjoint_evaluations")):
                maps = block["maps"][phase]
                # every parallel map covers at most the coarse intervals; the rest is the coarsest solve
                assert maps and all(1 <= s <= block["units"] // 2 for s in maps)
                assert sum(maps) <= block[evaluations]
            k = block["iterations"]
            # a two-level F-relaxation forward: N_1 + N_0 + K (N_0 + N_1 - 1) evaluations
            assert block["evaluations"] == 2 + 4 + k * (4 + 2 - 1)
            # the real network's maps, forward and adjoint, are those the counted plan finds on stand-in steps
            counted = mgrit_block_work(4, iterations=None if label == "converged" else int(label))
            assert block["maps"]["forward"] == block["maps"]["adjoint"] == counted["maps"]
            assert block["evaluations"] == block["adjoint_evaluations"] == counted["evaluations"]
    # the converged solve does at least the work of K = 1
    assert virtual["by_K"]["converged"]["virtual_seconds"]["1"] >= virtual["by_K"]["1"]["virtual_seconds"]["1"]


def test_the_measured_speedups_are_the_medians_ratios(record):
    measured = record["measured"]
    median = measured["median_seconds"]
    alone = median["ResNet, 1 rank"]
    assert measured["ranks"] == 2
    for name, values in measured["raw"]["seconds"].items():
        assert len(values) == 1 and median[name] == values[0]
    for name, speedup in measured["speedup"].items():
        assert math.isclose(speedup, alone / median[name], rel_tol=1e-12)
    assert sorted(measured["speedup"]) == sorted([*(f"layer-parallel K={k}" for k in LABELS), "Parareal ResNet-2"])
    assert math.isclose(measured["parallel_capacity"], 2 * alone / median["ResNet, every rank"], rel_tol=1e-12)
