"""The devices and distributed backends give the serial backend's results, outputs and gradients.

The distributed tests launch real torchrun jobs (gloo, 127.0.0.1) running
tests/distributed_worker.py, which compares both backends on every rank.
"""

import copy
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from float_tolerance import reordering_tolerance
from launch import torchrun_command
from mgrit_layers import CASES, COARSENING, layer_hierarchy, logged, max_difference
from torch import nn

from parareal_toolkit import TimeGrid, mgrit, parareal
from parareal_toolkit.backends import get_backend
from parareal_toolkit.backends.devices import DevicesBackend
from parareal_toolkit.backends.distributed import DistributedBackend, DistributedError, init_distributed, slice_owners
from parareal_toolkit.nn import PararealNetwork
from parareal_toolkit.ode import ImplicitEulerPropagator, heat_1d

WORKER = Path(__file__).with_name("distributed_worker.py")


def torchrun(nproc, mode, out_dir, env=None, timeout=240):
    command = [
        *torchrun_command(nproc),
        str(WORKER),
        mode,
        str(out_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    reports = [json.loads(p.read_text()) for p in sorted(Path(out_dir).glob("rank*.json"))]
    return done, reports


@pytest.mark.slow
@pytest.mark.parametrize("nproc", [2, 3])
def test_distributed_equals_serial(nproc, tmp_path):
    done, reports = torchrun(nproc, "equivalence", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [r["rank"] for r in reports] == list(range(nproc))
    for r in reports:
        assert r["ode"]["standard"] <= 1e-12 and r["ode"]["correction"] <= 1e-12
        for form in ("correction", "standard"):
            net = r["float64"][form]
            assert net["output"] <= 1e-10 and net["no_grad_output"] <= 1e-10
            assert net["owned_grads"] <= 1e-10 and net["replicated_grads"] <= 1e-10
            assert net["num_owned"] > 0 and net["others_untouched"]
        # float32: the replicated gradients are all-reduced (nproc partial sums of a batch of 4
        # in another order) and rounding differences travel along the chain of 5 slices: the
        # reordering tolerance of float_tolerance.py at the reference's own scale (it was an
        # absolute 1e-5, tuned on one CPU).
        single = r["float32"]
        budget = dict(terms=4 * nproc, steps=5)
        assert single["output"] <= reordering_tolerance(torch.float32, scale=single["output_scale"], **budget)
        grad_tolerance = reordering_tolerance(torch.float32, scale=single["grad_scale"], **budget)
        assert single["owned_grads"] <= grad_tolerance and single["replicated_grads"] <= grad_tolerance
        assert r["synchronized"]
    # every slice has exactly one owner: parameters counted once over the ranks
    assert sum(r["float64"]["correction"]["num_owned"] for r in reports) == 5 * 6  # 5 x (C^j: 2, g^j: 4 tensors)


@pytest.mark.slow
def test_a_silent_rank_gives_a_clear_timeout_error_not_a_hang(tmp_path):
    done, reports = torchrun(
        2, "silent-rank", tmp_path, env={"PARAREAL_TEST_TIMEOUT": "3", "PARAREAL_TEST_SILENCE": "60"}, timeout=120
    )
    assert done.returncode != 0
    (report,) = reports  # the silent rank writes nothing
    assert report["rank"] == 0
    assert "did not answer within the process group's timeout" in report["error"]
    assert report["seconds"] < 30
    # the configured 3 s bound the gloo collective, not gloo's 30-minute default
    assert report["error"].startswith("rank 0 of 2: all_gather_object failed: rank 1 died, stopped or did not answer")
    assert "timeout (3 s)" in report["error"] and "\n" not in report["error"]
    assert report["seconds"] >= 2.5


def test_slice_owners_are_contiguous_and_balanced():
    assert slice_owners(5, 2) == [0, 0, 0, 1, 1]
    assert slice_owners(7, 3) == [0, 0, 0, 1, 1, 2, 2]
    assert slice_owners(2, 3) == [0, 1]
    for count in range(1, 20):
        for world in range(1, 6):
            owners = slice_owners(count, world)
            assert owners == sorted(owners) and len(owners) == count
            sizes = [owners.count(r) for r in range(world)]
            assert max(sizes) - min(sizes) <= 1


def test_distributed_backend_needs_an_initialised_group(monkeypatch):
    with pytest.raises(RuntimeError, match="initialised torch.distributed process group"):
        DistributedBackend()
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="launch with `torchrun"):
        init_distributed()
    with pytest.raises(DistributedError, match="launch with `torchrun"):  # the CLI's boundary catches it
        init_distributed()
    with pytest.raises(ValueError, match="`timeout` must be a positive number"):
        init_distributed(timeout=0)


def network(backend="serial"):
    torch.manual_seed(0)
    n, width = 4, 5
    block = lambda: nn.Sequential(nn.Linear(width, width, dtype=torch.float64), nn.ReLU())
    return PararealNetwork(
        [nn.Linear(3, width, dtype=torch.float64) for _ in range(n)],
        [block() for _ in range(n)],
        [nn.Linear(width, width, dtype=torch.float64) for _ in range(n - 1)],
        nn.Linear(width, 2, dtype=torch.float64),
        iterations=2,
        backend=backend,
    )


def test_devices_backend_on_cpu_devices_equals_serial():
    serial = network()
    devices = copy.deepcopy(serial)
    backend = DevicesBackend(["cpu", "cpu", "cpu"])
    devices.backend = backend
    backend.place(devices)
    x = torch.randn(3, 3, dtype=torch.float64)
    a, b = serial(x), devices(x)
    a.sum().backward()
    b.sum().backward()
    assert torch.equal(a, b)
    for p, q in zip(serial.parameters(), devices.parameters()):
        assert (p.grad is None and q.grad is None) or torch.equal(p.grad, q.grad)
    assert backend.device(4) == torch.device("cpu") and "DevicesBackend" in repr(backend)


@pytest.mark.parametrize("case", CASES)
def test_mgrit_on_two_cpu_devices_gives_the_serial_iterates(case):
    """Residual tanh layers as MGRIT levels on DevicesBackend(["cpu", "cpu"]): identical iterates (the same calls)."""
    num_levels, relax, cycle = case
    levels, u0 = layer_hierarchy(num_levels)
    options = dict(coarsening=COARSENING, relax=relax, cycle=cycle)
    serial = mgrit(levels, u0, backend="serial", **options)
    log = []
    backend = DevicesBackend(["cpu", "cpu"])
    devices = mgrit(logged(levels, log), u0, backend=backend, **options)
    assert max_difference(serial, devices) == 0 and devices.stop_reason == serial.stop_reason == "exact"
    assert devices.level_evaluations == serial.level_evaluations and len(log) == sum(serial.level_evaluations)
    assert devices.final.device == torch.device("cpu") and devices.final.dtype == torch.float64


def test_devices_backend_refuses_numpy_states_and_bad_devices():
    problem = heat_1d(4)
    grid = TimeGrid.uniform(0.1, 2)
    prop = ImplicitEulerPropagator(problem.ode, grid)
    with pytest.raises(TypeError, match="runs torch tensors"):
        parareal(prop, prop, problem.u0, iterations=1, backend=DevicesBackend(["cpu"]))
    with pytest.raises(ValueError, match="`devices` must be a non-empty sequence"):
        DevicesBackend([])
    with pytest.raises(ValueError, match="`devices` must name torch devices"):
        DevicesBackend(["warp-drive"])
    assert get_backend("devices").name == "devices"


def test_network_rejects_an_unknown_backend_at_construction():
    with pytest.raises(ValueError, match="`backend` must be one of"):
        network(backend="quantum")


@pytest.mark.slow
def test_ode_cli_under_torchrun_reports_once_and_matches_serial(tmp_path):
    args = ["ode", "--size", "20", "--slices", "5", "--iterations", "3", "--fine-substeps", "10"]
    report = tmp_path / "distributed.json"
    command = [
        *torchrun_command(2),
        "-m",
        "parareal_toolkit.cli",
        *args,
        "--backend",
        "distributed",
        "--json",
        str(report),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wall-clock:") == 1  # rank 0 alone reports
    distributed = json.loads(report.read_text())
    serial_report = tmp_path / "serial.json"
    from parareal_toolkit.cli import main

    assert main([*args, "--backend", "serial", "--json", str(serial_report)]) == 0
    serial = json.loads(serial_report.read_text())
    assert distributed["timing"]["workers"] == 2 and distributed["timing"]["backend"] == "distributed"
    for a, b in zip(distributed["rows"], serial["rows"]):
        assert a["max_error"] == pytest.approx(b["max_error"], rel=1e-12, abs=1e-15)
        assert (a["fine_evaluations"], a["coarse_evaluations"]) == (b["fine_evaluations"], b["coarse_evaluations"])


@pytest.mark.slow
def test_mgrit_on_two_ranks_gives_the_serial_iterates_and_splits_every_map(tmp_path):
    """MGRIT (2 and 3 levels, F and FCF) on heat (numpy) and residual tanh layers (torch, under autograd), one launch.

    Tolerance zero: every slice is evaluated by the same code on the same inputs as in the
    serial run (no batching, no reordering) and the broadcast copies its bits, so the
    iterates are identical, not merely close.
    """
    done, reports = torchrun(2, "mgrit", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [r["rank"] for r in reports] == [0, 1]
    first, second = (r["mgrit"] for r in reports)
    assert [(c["kind"], c["case"]) for c in first] == [(k, list(c)) for k in ("numpy", "torch") for c in CASES]

    def level(j):  # both hierarchies: 12, 6 and 3 slices, numbered one after the other as AllLevels numbers them
        return 0 if j < 12 else 1 if j < 18 else 2

    for a, b in zip(first, second):
        assert a["difference"] == 0 and b["difference"] == 0, (a["case"], a["difference"], b["difference"])
        assert a["stop_reason"] == b["stop_reason"] == "exact"
        assert a["level_evaluations"][0] == a["level_evaluations"][1]  # the same calls counted as serially
        assert len(a["maps"]) == len(b["maps"]) > 0
        owned = [0, 0]
        for map_a, map_b in zip(a["maps"], b["maps"]):
            slices = map_a["slices"]
            assert map_b["slices"] == slices
            owners = slice_owners(len(slices), 2)
            for rank, record in enumerate((map_a, map_b)):
                assert record["evaluated"] == [j for j, o in zip(slices, owners) if o == rank]
                owned[rank] += len(record["evaluated"])
            if len(slices) >= 2:  # both ranks worked on it
                assert map_a["evaluated"] and map_b["evaluated"]
        # what is not owned is the sequential part (the initial sweep, the coarsest solve): the same on both ranks
        assert a["calls"] - owned[0] == b["calls"] - owned[1]
        split_levels = {level(min(m["slices"])) for m in a["maps"] if len(m["slices"]) >= 2}
        assert {0, a["case"][0] - 2} <= split_levels  # level 0's maps and, with 3 levels, level 1's relaxation


@pytest.mark.slow
def test_ode_mgrit_cli_under_torchrun_reports_once_and_gives_the_serial_rows(tmp_path):
    args = ["ode", "--method", "mgrit", "--slices", "8", "--size", "8", "--levels", "3", "--relax", "FCF"]
    report = tmp_path / "distributed.json"
    command = [*torchrun_command(2), "-m", "parareal_toolkit.cli", *args, "--backend", "distributed"]
    done = subprocess.run([*command, "--json", str(report)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wall-clock:") == 1 and "distributed, 2 rank(s)" in done.stdout  # rank 0 alone reports
    distributed = json.loads(report.read_text())
    serial_report = tmp_path / "serial.json"
    from parareal_toolkit.cli import main

    assert main([*args, "--backend", "serial", "--json", str(serial_report)]) == 0
    serial = json.loads(serial_report.read_text())
    assert distributed["timing"]["workers"] == 2 and distributed["timing"]["backend"] == "distributed"
    # every slice is evaluated by the same code on the same inputs, and broadcast bit for bit: equal rows
    assert distributed["rows"] == serial["rows"] and distributed["stop_reason"] == serial["stop_reason"] == "exact"
