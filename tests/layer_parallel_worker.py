"""Run under torchrun by tests/test_layer_parallel_backends.py: a LayerParallelResNet on the distributed backend.

Every rank computes the references itself (the serial PreActResNet and the single-process
LayerParallelResNet, every rank holds the whole model), runs the same computation with the
MGRIT blocks mapped over the ranks, and writes to ``OUT_DIR/rank{r}.json`` for every quantity
the ratio ``max |difference| / tolerance`` (tolerances from tests/float_tolerance.py: the
test asserts ratio <= 1) and a digest of the gradients (equal on every rank). Usage:
``torchrun ... layer_parallel_worker.py DEPTH OUT_DIR``.
"""

import copy
import hashlib
import json
import sys
import types
from pathlib import Path

import torch
from float_tolerance import reordering_tolerance
from sgd_steps import sgd_steps
from torch import nn

from parareal_toolkit.backends.distributed import DistributedBackend, process_group
from parareal_toolkit.errors import InputError
from parareal_toolkit.nn import LayerParallelResNet, preact_resnet
from parareal_toolkit.training.data_parallel import DataParallelGroup
from parareal_toolkit.training.placement import PLACEMENTS

FAN = 576  # the longest sum in one unit: 3x3 convolution over 64 channels


def units(depth):
    return 3 * ((depth - 2) // 9)


def ratio(got, expected, depth, *, steps=1, momentum=0.0):
    """``max |got - expected| / tolerance`` at the reference's scale (integers: 0 if equal, inf if not)."""
    if not expected.is_floating_point():
        return 0.0 if torch.equal(got, expected) else float("inf")
    if expected.numel() == 0:
        return 0.0
    scale = float(expected.abs().max())
    tolerance = reordering_tolerance(
        torch.float64, scale=scale, terms=units(depth) * FAN, steps=steps, momentum=momentum
    )
    error = float((got - expected).abs().max())
    return error / tolerance if tolerance > 0 else (0.0 if error == 0 else float("inf"))


def images(n=4, seed=1):
    return torch.randn(n, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def gradients(network, x):
    """Output, input gradient and every parameter gradient of a cross-entropy loss (training mode)."""
    x = x.clone().requires_grad_()
    out = network.train()(x)
    loss = nn.functional.cross_entropy(out, torch.arange(len(x)) % 10)
    return [out.detach(), *torch.autograd.grad(loss, [x, *network.parameters()])]


def digest(tensors):
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def worst(got, expected, depth):
    return max(ratio(g, e, depth) for g, e in zip(got, expected))


def pair(depth, **options):
    torch.manual_seed(0)  # identical on every rank
    serial = preact_resnet(depth).double()
    model = LayerParallelResNet(depth, backward="adjoint", **options).double()
    model.load_state_dict(serial.state_dict())
    return serial, model


def exact_cases(depth, backend):
    """At the exact iteration counts: equal to the serial network's autograd, statistics included."""
    cases = {}
    for relax in ("F", "FCF"):
        for levels in (2, 3):
            serial, model = pair(depth, relax=relax, levels=levels)
            expected = gradients(serial, images())
            model.backend = backend
            got = gradients(model, images())
            cases[f"{relax}{levels}"] = {
                "ratio": worst(got, expected, depth),
                "statistics": max(ratio(model.state_dict()[k], v, depth) for k, v in serial.state_dict().items()),
                "digest": digest(got),
                "records": model.last_solves,
            }
    return cases


def inexact_case(depth, backend):
    """One iteration (forward and adjoint): the single-process layer-parallel network's inexact result."""
    serial, reference = pair(depth, levels=3, iterations=1, adjoint_iterations=1)
    model = copy.deepcopy(reference)
    model.backend = backend
    expected = gradients(reference, images())
    got = gradients(model, images())
    exact = gradients(serial, images())
    return {
        "ratio": worst(got, expected, depth),
        "distance_from_serial": worst(expected, exact, depth),  # > 1: the case is inexact indeed
        "bitwise": all(torch.equal(g, e) for g, e in zip(got, expected)),
        "digest": digest(got),
    }


def refusals(depth, backend):
    """``backward="autograd"`` with the distributed backend: refused where the backend is set and by configure."""
    messages = []
    model = LayerParallelResNet(depth, backward="autograd")
    try:
        model.backend = backend
    except InputError as exc:
        messages.append(str(exc))
    model = LayerParallelResNet(depth, backward="adjoint")
    model.backend = backend
    try:
        model.configure(backward="autograd")
    except InputError as exc:
        messages.append(str(exc))
    return {"messages": messages, "options_kept": model.options["backward"]}


def training(depth, world, steps=3, momentum=0.9):
    """A few SGD steps through DistributedPlacement against the same steps of the serial network."""
    settings = types.SimpleNamespace(
        placement="distributed", device="cpu", devices=None, slice_groups=None, subnetworks=1, timeout=120
    )
    strategy = PLACEMENTS["distributed"]
    groups = strategy.process_group(world, settings)
    serial, model = pair(depth, levels=3)
    placed = strategy.place(settings, model, groups)
    data, targets = images(12, seed=3), torch.arange(12) % 10
    sgd_steps(serial, data, targets, steps=steps, momentum=momentum)
    optimizer = sgd_steps(model, data, targets, steps=steps, momentum=momentum, after_backward=placed.reduce_gradients)
    placed.synchronize(model, optimizer)
    return {
        "placed_backend": type(model.backend).__name__,
        "same_group": model.backend is placed.backend,
        "ratio": max(
            ratio(model.state_dict()[k], v, depth, steps=steps, momentum=momentum)
            for k, v in serial.state_dict().items()
        ),
        "digest": digest(model.state_dict().values()),
        "moved": max(
            float((serial.state_dict()[k] - pair(depth)[0].state_dict()[k]).abs().max())
            for k in serial.state_dict()
            if serial.state_dict()[k].is_floating_point()
        ),
    }


def main():
    depth, out_dir = int(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    with process_group("gloo", timeout=120) as (rank, world_size):
        backend = DistributedBackend()
        report = {
            "rank": rank,
            "world_size": world_size,
            "exact": exact_cases(depth, backend),
            "inexact": inexact_case(depth, backend),
            "refusals": refusals(depth, backend),
            "training": training(depth, DataParallelGroup(rank, world_size, torch.device("cpu"))),
        }
    (out_dir / f"rank{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
