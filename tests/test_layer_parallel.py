"""Layer-parallel ResNets (MGRIT across layers): exactness at convergence, the adjoint, statistics, training, inexactness.

Every comparison is float64 on tiny shapes (8x8 images, a few samples). Two computations
that agree mathematically differ by rounding only; the tolerances follow
``tests/float_tolerance.py``: ``sqrt(terms) eps scale`` with ``terms`` the residual units
chained times the longest sum inside one unit (a 3x3 convolution over 64 channels, 576
products), ``scale`` the reference's largest magnitude. A wrong weight, a missed unit, a
statistic updated twice or an adjoint step off by one moves the result by far more.
"""

from __future__ import annotations

import math

import pytest
import torch
from float_tolerance import assert_states_agree, reordering_tolerance
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.nn import LayerParallelResNet, PreActResNet, preact_resnet
from parareal_toolkit.nn._layer_parallel import stage_split

pytestmark = pytest.mark.usefixtures("single_torch_thread")

FAN = 576  # the longest sum in one unit: 3x3 convolution over 64 channels


def no_norm(channels):
    return nn.Identity()


def _tolerance(reference: torch.Tensor, units: int, *, steps: int = 1, momentum: float = 0) -> float:
    scale = float(reference.abs().max())
    return reordering_tolerance(torch.float64, scale=scale, terms=units * FAN, steps=steps, momentum=momentum)


def _pair(depth: int, *, seed: int = 0, norm_layer=None, **options) -> tuple[PreActResNet, LayerParallelResNet]:
    """A serial ResNet and a layer-parallel one with its weights (float64)."""
    torch.manual_seed(seed)
    serial = preact_resnet(depth, norm_layer=norm_layer).double()
    model = LayerParallelResNet(depth, norm_layer=norm_layer, **options).double()
    model.load_state_dict(serial.state_dict())
    return serial, model


def _images(n: int = 4, *, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _units(depth: int) -> int:
    return 3 * ((depth - 2) // 9)


# --- the plain ResNet's checkpoint ----------------------------------------------------------


def test_state_dict_is_the_plain_resnets_and_loads_both_ways():
    serial, model = _pair(47)
    assert list(model.state_dict()) == list(serial.state_dict())
    for key, value in serial.state_dict().items():
        assert model.state_dict()[key].shape == value.shape and model.state_dict()[key].dtype == value.dtype
    # layer-parallel checkpoint -> plain ResNet, and back into a fresh layer-parallel one
    torch.manual_seed(5)
    other = LayerParallelResNet(47).double()
    for p in other.parameters():
        p.data.mul_(0.5)
    plain = preact_resnet(47).double()
    assert str(plain.load_state_dict(other.state_dict())) == "<All keys matched successfully>"
    again = LayerParallelResNet(47, iterations=1).double()
    assert str(again.load_state_dict(plain.state_dict())) == "<All keys matched successfully>"
    x = _images()
    with torch.no_grad():
        reference = plain.eval()(x)
        for network in (other.eval(), again.configure(iterations=None).eval()):
            torch.testing.assert_close(network(x), reference, rtol=0, atol=_tolerance(reference, 15))


# --- forward: exact at convergence -----------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "options"),
    [
        (47, {}),
        (47, {"relax": "FCF"}),
        (47, {"coarsening": 4}),
        (83, {"levels": 3}),
        (83, {"levels": 3, "relax": "FCF", "cycle": "F"}),
        (83, {"levels": 3, "initial": "nested"}),
        (83, {"levels": 4, "initial": "u0"}),
    ],
)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_forward_at_convergence_is_the_serial_forward(depth, options, mode):
    serial, model = _pair(depth, **options)
    serial.train(mode == "train")
    model.train(mode == "train")
    x = _images()
    with torch.no_grad():
        expected, got = serial(x), model(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=_tolerance(expected, _units(depth)))
    n = (depth - 2) // 9 - 1  # equal-shape units per stage
    m, levels = options.get("coarsening", 2), options.get("levels", 2)
    n0, used = stage_split(n, levels, m)
    exact = n0 // m if options.get("relax", "F") == "F" else math.ceil(n0 / m / 2)
    assert [(r["stage"], r["units"], r["levels"], r["iterations"]) for r in model.last_solves] == [
        (s, n0, used, exact) for s in range(3)
    ]


def test_iterations_beyond_the_exact_count_are_capped_without_warning(recwarn):
    serial, model = _pair(47, iterations=50)
    with torch.no_grad():
        model.eval()(_images())
    assert [r["iterations"] for r in model.last_solves] == [2, 2, 2]
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


@given(count=st.integers(0, 200), levels=st.integers(2, 6), m=st.integers(2, 5))
def test_stage_split_takes_the_largest_multiple_on_the_most_levels_the_stage_allows(count, levels, m):
    n0, used = stage_split(count, levels, m)
    if count < m:
        assert (n0, used) == (0, 1)
        return
    block = m ** (used - 1)
    assert 2 <= used <= levels and block <= count
    assert used == levels or m**used > count  # no more levels fit
    assert n0 % block == 0 and 0 <= count - n0 < block and n0 >= block


def test_a_remainder_runs_sequentially_after_the_block_and_short_stages_run_sequentially():
    # depth 56: five equal units per stage; m = 2, L = 3 -> four by MGRIT (N_1 = 2), one after
    serial, model = _pair(56, levels=3)
    x = _images()
    with torch.no_grad():
        expected, got = serial.eval()(x), model.eval()(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=_tolerance(expected, 18))
    assert [(r["units"], r["levels"]) for r in model.last_solves] == [(4, 3)] * 3
    # the remainder unit runs once per forward, as a unit (the block's units only as MGRIT steps)
    calls = []
    for unit in model.layer1:
        unit.register_forward_hook(lambda module, args, out: calls.append(module))
    with torch.no_grad():
        model.configure(iterations=1)(x)
    assert calls == [model.layer1[0], model.layer1[5]]
    # depth 20: one equal unit per stage (< m): no MGRIT at all, bit for bit the serial network
    serial, model = _pair(20, levels=3)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), serial.eval()(x))
    assert model.last_solves == []
    # depth 29: two equal units, m = 3: sequential as well
    serial, model = _pair(29, coarsening=3)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), serial.eval()(x))
    assert model.last_solves == []


# --- cost ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("depth", "m", "k"), [(47, 2, 1), (47, 2, 2), (83, 2, 2), (83, 4, 1), (83, 2, 3)])
def test_two_level_f_cost_is_n1_plus_n0_plus_k_times_n0_plus_n1_minus_1(depth, m, k):
    serial, model = _pair(depth, coarsening=m, iterations=k)
    x = _images(1)
    with torch.no_grad():
        model.eval()(x)
    n0 = (depth - 2) // 9 - 1
    n1 = n0 // m
    for record in model.last_solves:
        assert sum(record["evaluations"]) == n1 + n0 + record["iterations"] * (n0 + n1 - 1)
        assert record["statistics_evaluations"] == 0  # evaluation mode: no statistics to update
    with torch.no_grad():
        model.train()(x[:1].repeat(2, 1, 1, 1))
    assert [r["statistics_evaluations"] for r in model.last_solves] == [n0] * 3
