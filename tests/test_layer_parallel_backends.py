"""Layer-parallel ResNets on the devices and distributed backends and placements.

The distributed cases launch real torchrun jobs (gloo, 127.0.0.1) running
tests/layer_parallel_worker.py: 2 ranks on ResNet-47 (4 MGRIT units per stage) and 3 ranks on
ResNet-56 (4 MGRIT units and one sequential unit per stage: 4 units over 3 ranks). Every rank
computes its references itself and reports ``max |difference| / tolerance`` per quantity,
the tolerances of tests/float_tolerance.py (those of tests/test_layer_parallel.py), so the
tests assert ratios <= 1. The devices cases run in this process on ``["cpu", "cpu"]``.
"""

from __future__ import annotations

import json
import subprocess
import types
from pathlib import Path

import pytest
import torch
from float_tolerance import assert_states_agree, reordering_tolerance
from launch import torchrun_command
from torch import nn
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.backends.devices import DevicesBackend
from parareal_toolkit.errors import InputTypeError
from parareal_toolkit.nn import LayerParallelResNet, preact_resnet
from parareal_toolkit.training.data_parallel import DataParallelGroup
from parareal_toolkit.training.placement import PLACEMENTS

WORKER = Path(__file__).with_name("layer_parallel_worker.py")
FAN = 576  # the longest sum in one unit: 3x3 convolution over 64 channels
LAUNCHES = {2: 47, 3: 56}  # ranks -> depth


def _units(depth: int) -> int:
    return 3 * ((depth - 2) // 9)


@pytest.fixture(scope="module", params=sorted(LAUNCHES), ids=lambda n: f"{n}ranks")
def reports(request, tmp_path_factory):
    nproc = request.param
    out = tmp_path_factory.mktemp(f"lp{nproc}")
    command = [*torchrun_command(nproc), str(WORKER), str(LAUNCHES[nproc]), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, cwd=WORKER.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    found = [json.loads(p.read_text()) for p in sorted(out.glob("rank*.json"))]
    assert [r["rank"] for r in found] == list(range(nproc))
    return found


@pytest.mark.slow
def test_distributed_adjoint_at_convergence_is_serial_autograd_on_every_rank(reports):
    for case in ("F2", "F3", "FCF2", "FCF3"):
        for r in reports:
            got = r["exact"][case]
            # output, input gradient and every parameter gradient; running statistics after the forward
            assert got["ratio"] <= 1 and got["statistics"] <= 1, (r["rank"], case, got["ratio"], got["statistics"])
            for record in got["records"]:
                assert record["adjoint_iterations"] == record["iterations"]  # the exact count
        # the gradients are identical on every rank, bit for bit (one all-reduce of exclusive parts)
        assert len({r["exact"][case]["digest"] for r in reports}) == 1
        # each unit's parameter gradient is computed by exactly one rank
        per_block = [sum(r["exact"][case]["records"][b]["gradient_units"] for r in reports) for b in range(3)]
        assert per_block == [record["units"] for record in reports[0]["exact"][case]["records"]]


@pytest.mark.slow
def test_distributed_one_iteration_is_the_single_process_inexact_computation(reports):
    for r in reports:
        assert r["inexact"]["ratio"] <= 1
        assert r["inexact"]["distance_from_serial"] > 1e3  # inexact indeed: far from the serial network
    assert len({r["inexact"]["digest"] for r in reports}) == 1


@pytest.mark.slow
def test_distributed_autograd_backward_is_refused_naming_backward(reports):
    for r in reports:
        assert len(r["refusals"]["messages"]) == 2  # setting the backend, then configure
        assert all(m.startswith("`backward` must be 'adjoint'") for m in r["refusals"]["messages"])
        assert r["refusals"]["options_kept"] == "adjoint"  # the refused configure changed nothing


@pytest.mark.slow
def test_distributed_placement_sgd_steps_equal_single_process_steps(reports):
    for r in reports:
        t = r["training"]
        assert t["placed_backend"] == "DistributedBackend" and t["same_group"]
        assert t["ratio"] <= 1  # weights, momentum-driven, and running statistics after 3 steps
        assert t["moved"] > 1e-3  # and training moved the weights
    assert len({r["training"]["digest"] for r in reports}) == 1  # synchronize had nothing to send


# --- devices: one process, several devices (CPU here) ----------------------------------------------


def _pair(depth: int, **options):
    torch.manual_seed(0)
    serial = preact_resnet(depth).double()
    model = LayerParallelResNet(depth, **options).double()
    model.load_state_dict(serial.state_dict())
    return serial, model


def _gradients(network: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    x = x.clone().requires_grad_()
    out = network.train()(x)
    loss = nn.functional.cross_entropy(out, torch.arange(len(x)) % 10)
    return [out.detach(), *torch.autograd.grad(loss, [x, *network.parameters()])]


def _images(n: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.usefixtures("single_torch_thread")
@pytest.mark.parametrize("backward", ["adjoint", "autograd"])
@pytest.mark.parametrize("options", [{}, {"levels": 3, "relax": "FCF"}, {"iterations": 1, "adjoint_iterations": 1}])
def test_devices_backend_equals_the_serial_backend(backward, options):
    _, serial_backend = _pair(56, backward=backward, **options)
    _, placed = _pair(56, backward=backward, **options)
    placed.place(DevicesBackend(["cpu", "cpu"]))
    assert isinstance(placed.backend, DevicesBackend)
    expected, got = _gradients(serial_backend, _images()), _gradients(placed, _images())
    for g, e in zip(got, expected):
        atol = reordering_tolerance(torch.float64, scale=float(e.abs().max()), terms=_units(56) * FAN)
        torch.testing.assert_close(g, e, rtol=0, atol=atol)
    assert_states_agree(placed.state_dict(), serial_backend.state_dict(), terms=_units(56) * FAN, steps=1)
    assert [r["evaluations"] for r in placed.last_solves] == [r["evaluations"] for r in serial_backend.last_solves]


@pytest.mark.usefixtures("single_torch_thread")
def test_devices_placement_places_a_layer_parallel_resnet_and_trains_as_one_device():
    settings = types.SimpleNamespace(
        placement="devices", device="cpu", devices=["cpu", "cpu"], slice_groups=None, subnetworks=1, timeout=60
    )
    serial, model = _pair(47, backward="adjoint")
    placed = PLACEMENTS["devices"].place(settings, model, DataParallelGroup())
    assert placed.backend is model.backend and isinstance(model.backend, DevicesBackend)
    assert placed.device == torch.device("cpu")
    data, targets = _images(8, seed=3), torch.arange(8) % 10
    for network in (serial, model):
        network.train()
        optimizer = torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.9)
        for step in range(2):
            optimizer.zero_grad()
            nn.functional.cross_entropy(
                network(data[4 * step : 4 * step + 4]), targets[4 * step : 4 * step + 4]
            ).backward()
            placed.reduce_gradients(network)
            optimizer.step()
    assert_states_agree(model.state_dict(), serial.state_dict(), terms=_units(47) * FAN, steps=2, momentum=0.9)


def test_a_backend_that_is_not_devices_or_distributed_is_refused_naming_backend():
    model = LayerParallelResNet(20)
    for bad in ("batched", object()):
        with pytest.raises(InputTypeError, match="`backend` must be None"):
            model.backend = bad
    assert model.backend is None
    model.backend = "serial"  # the default, by name
    assert model.backend is None
