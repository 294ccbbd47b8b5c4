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
from sgd_steps import sgd_steps
from torch import nn
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.nn import LayerParallelResNet, PreActResNet, preact_resnet
from parareal_toolkit.nn._layer_parallel import stage_split

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module", autouse=True)
def _optimizer_imported():
    """torch.optim's first step imports torch._dynamo lazily (2.8 s here, once per process): done before timing."""
    parameter = nn.Parameter(torch.zeros(1))
    parameter.grad = torch.zeros(1)
    torch.optim.SGD([parameter], lr=0.1, momentum=0.9).step()


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
    # a layer-parallel checkpoint (changed weights) -> the plain ResNet -> a fresh layer-parallel one
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.5)
    plain = serial
    assert str(plain.load_state_dict(model.state_dict())) == "<All keys matched successfully>"
    again = LayerParallelResNet(47, iterations=1).double()
    assert str(again.load_state_dict(plain.state_dict())) == "<All keys matched successfully>"
    x = _images()
    with torch.no_grad():
        reference = plain.eval()(x)
        tolerance = _tolerance(reference, 15)
        assert float((again.eval()(x) - reference).abs().max()) > 1e3 * tolerance  # one iteration: inexact
        for network in (model.eval(), again.configure(iterations=None)):
            torch.testing.assert_close(network(x), reference, rtol=0, atol=tolerance)


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
    _, model = _pair(47, iterations=50)
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
    _, model = _pair(depth, coarsening=m, iterations=k)
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


# --- running statistics ----------------------------------------------------------------------


@pytest.mark.parametrize("levels", [2, 3])
def test_running_statistics_after_a_training_step_at_convergence_are_the_serial_networks(levels):
    serial, model = _pair(83, levels=levels, iterations=None)
    x, target = _images(), torch.tensor([0, 1, 2, 3])
    for network in (serial, model):
        nn.functional.cross_entropy(network.train()(x), target).backward()
        with torch.no_grad():
            for p in network.parameters():
                p -= 0.1 * p.grad  # one SGD step
    # each unit's statistics are updated once (num_batches_tracked equal, exactly) from x_j
    assert_states_agree(model.state_dict(), serial.state_dict(), terms=_units(83) * FAN, steps=1)
    counts = {k: int(v) for k, v in model.state_dict().items() if k.endswith("num_batches_tracked")}
    assert set(counts.values()) == {1}


def test_the_solve_leaves_statistics_alone_even_with_one_iteration():
    _, model = _pair(47, iterations=1)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model(_images())
    after = model.state_dict()
    for key in before:
        if key.endswith("num_batches_tracked"):
            assert int(after[key]) == int(before[key]) + 1, key  # once, not once per MGRIT evaluation
    assert all(m.track_running_stats for m in model.modules() if isinstance(m, nn.BatchNorm2d))


# --- backward: autograd through MGRIT and the adjoint solved by MGRIT --------------------------


def _gradients(network: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    x = x.clone().requires_grad_()
    loss = nn.functional.cross_entropy(network(x), torch.arange(len(x)) % 10)
    return list(torch.autograd.grad(loss, [x, *network.parameters()]))


@pytest.mark.parametrize("backward", ["adjoint", "autograd"])
@pytest.mark.parametrize(
    ("depth", "options", "norm"),
    [
        (47, {}, None),
        (47, {}, no_norm),
        (83, {"levels": 3}, None),
        (83, {"levels": 3, "relax": "FCF"}, no_norm),
    ],
)
def test_gradients_at_convergence_are_serial_autograds(backward, depth, options, norm):
    serial, model = _pair(depth, norm_layer=norm, backward=backward, **options)
    x = _images()
    expected = _gradients(serial.train(), x)
    got = _gradients(model.train(), x)
    names = ["input", *(name for name, _ in serial.named_parameters())]
    for name, g, e in zip(names, got, expected):
        torch.testing.assert_close(
            g, e, rtol=0, atol=_tolerance(e, _units(depth)), msg=lambda m, name=name: f"{name}: {m}"
        )
    if backward == "adjoint":
        for record in model.last_solves:
            assert record["adjoint_iterations"] == record["iterations"]  # the same exact count
            assert record["adjoint_evaluations"] == record["evaluations"]  # the same hierarchy shape


def test_adjoint_in_evaluation_mode_and_input_gradient_without_parameter_gradients():
    serial, model = _pair(47, backward="adjoint")
    for p in [*serial.parameters(), *model.parameters()]:
        p.requires_grad_(False)
    x = _images().requires_grad_()
    (expected,) = torch.autograd.grad(serial.eval()(x).square().sum(), x)
    (got,) = torch.autograd.grad(model.eval()(x).square().sum(), x)
    torch.testing.assert_close(got, expected, rtol=0, atol=_tolerance(expected, 15))


def test_too_few_adjoint_iterations_give_inexact_gradients():
    serial, model = _pair(83, levels=3, backward="adjoint", adjoint_iterations=1)
    x = _images()
    expected, got = _gradients(serial.train(), x), _gradients(model.train(), x)
    assert [r["adjoint_iterations"] for r in model.last_solves] == [1, 1, 1]
    errors = [float((g - e).abs().max()) for g, e in zip(got, expected)]
    assert errors[0] > 1e3 * _tolerance(expected[0], _units(83))  # the input gradient
    # the classifier's gradient does not pass through any MGRIT block: exact
    torch.testing.assert_close(got[-1], expected[-1], rtol=0, atol=_tolerance(expected[-1], _units(83)))


# --- training -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backward", ["autograd", "adjoint"])
def test_an_epoch_of_layer_parallel_training_at_convergence_is_serial_training(backward):
    steps, momentum = 3, 0.9
    serial, model = _pair(47, backward=backward)
    data = _images(12, seed=3)
    targets = torch.arange(12) % 10
    for network in (serial, model):
        sgd_steps(network, data, targets, steps=steps, momentum=momentum)
    assert_states_agree(model.state_dict(), serial.state_dict(), terms=_units(47) * FAN, steps=steps, momentum=momentum)
    # and training moved the weights by far more than the tolerance
    torch.manual_seed(0)
    start = preact_resnet(47).double().state_dict()
    moved = max(float((serial.state_dict()[k] - start[k]).abs().max()) for k in start if start[k].is_floating_point())
    assert moved > 1e-3


# --- inexactness ----------------------------------------------------------------------------------


def _errors(model: LayerParallelResNet, serial: PreActResNet, x: torch.Tensor, ks) -> list[float]:
    with torch.no_grad():
        expected = serial(x)
        return [float((model.configure(iterations=k)(x) - expected).abs().max()) for k in ks]


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_one_iteration_is_inexact_and_the_error_falls_with_k(mode):
    """Monotone in evaluation mode (seeded: 991, 259, 19, 0 here); in training mode BatchNorm
    renormalises each inexact state with its own batch statistics, so only the ends are claimed."""
    serial, model = _pair(83, levels=3)
    serial.train(mode == "train")
    model.train(mode == "train")
    x = _images()
    errors = _errors(model, serial, x, range(1, 5))  # N_1 = 4: exact at K = 4
    with torch.no_grad():
        tolerance = _tolerance(serial(x), _units(83))
    assert errors[0] > 1e6 * tolerance
    assert errors[-1] <= tolerance
    if mode == "eval":
        assert all(later < earlier for earlier, later in zip(errors, errors[1:]))
    else:
        assert min(errors[:-1]) > 1e6 * tolerance


def test_fcf_reaches_an_accuracy_in_no_more_iterations_than_f():
    serial, model = _pair(83, levels=3)
    serial.eval()
    model.eval()
    x = _images(2)
    f_errors = _errors(model.configure(relax="F"), serial, x, range(1, 5))
    fcf_errors = _errors(model.configure(relax="FCF"), serial, x, range(1, 3))  # exact at ceil(4 / 2)
    with torch.no_grad():
        tolerance = _tolerance(serial(x), _units(83))
    for accuracy in [*f_errors, tolerance]:
        f_needs = next(k for k, e in enumerate(f_errors, 1) if e <= max(accuracy, tolerance))
        fcf_needs = next(k for k, e in enumerate(fcf_errors, 1) if e <= max(accuracy, tolerance))
        assert fcf_needs <= f_needs, (accuracy, f_errors, fcf_errors)
