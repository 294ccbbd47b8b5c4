"""Pre-activation ResNet-1001 and Parareal ResNet-N: counts, unit split, shapes, exactness."""

import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.cli import main
from parareal_toolkit.nn import (
    PararealNetwork,
    PreActResNet,
    parareal_resnet,
    parareal_resnet_from,
    parareal_resnet_plan,
    parareal_resnet_table,
    preact_resnet,
    resnet1001,
    resnet_unit_specs,
)

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def count(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def no_norm(channels):
    return nn.Identity()


# ---------------------------------------------------------------- ResNet-1001


def test_resnet1001_parameter_count():
    model = resnet1001()
    assert isinstance(model, PreActResNet)
    assert count(model) == 10_327_706
    assert len(model.units) == 333
    assert [len(model.layer1), len(model.layer2), len(model.layer3)] == [111, 111, 111]


def test_resnet1001_parameter_count_without_batchnorm():
    assert count(resnet1001(norm_layer=no_norm)) == 10_178_490


@pytest.mark.parametrize("depth, units", [(11, 3), (20, 6), (164, 54), (1001, 333)])
def test_unit_specs(depth, units):
    specs = resnet_unit_specs(depth)
    assert len(specs) == units
    n = units // 3
    # stage outputs 64, 128, 256 at 32, 16, 8 pixels; only a stage's first unit changes the shape
    assert [s.changes_shape for s in specs] == [i % n == 0 for i in range(units)]
    assert [(s.out_channels, s.out_resolution) for s in specs[n - 1 :: n]] == [(64, 32), (128, 16), (256, 8)]
    assert all(a.out_channels == b.in_channels and a.out_resolution == b.resolution for a, b in zip(specs, specs[1:]))


@pytest.mark.parametrize("depth", [0, 10, 12, 1000, -7])
def test_bad_depth(depth):
    with pytest.raises(ValueError, match=rf"`depth` must be 9n \+ 2 .*got {depth}\."):
        preact_resnet(depth)


def test_bad_types():
    with pytest.raises(TypeError, match="`depth` must be an int"):
        preact_resnet(20.0)
    with pytest.raises(ValueError, match="`num_classes`"):
        preact_resnet(20, 0)


def test_stride_sits_on_the_3x3_convolution():
    model = preact_resnet(20)
    first = model.layer2[0]
    assert first.conv2.stride == (2, 2) and first.conv1.stride == (1, 1)
    assert first.shortcut.stride == (2, 2) and model.layer2[1].shortcut is None


def test_forward_shape_and_features():
    model = preact_resnet(11, num_classes=100).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert model(x).shape == (3, 100)
        assert model.features(x).shape == (3, 256, 8, 8)


# ---------------------------------------------------------------- plans


@st.composite
def depth_and_n(draw, max_n=40):
    depth = 9 * draw(st.integers(1, max_n)) + 2
    units = 3 * ((depth - 2) // 9)
    valid = [n for n in range(1, units + 1) if (n - 1) * -(-units // n) < units]
    n = draw(st.sampled_from(valid))
    # coarse_units applies only to N >= 2 (N = 1 has no coarse network, and giving it is refused)
    return depth, n, draw(st.none() | st.integers(1, 6)) if n >= 2 else None


@given(depth_and_n())
def test_plan_split_and_shapes(args):
    depth, n, coarse_units = args
    plan = parareal_resnet_plan(depth, num_subnetworks=n, coarse_units=coarse_units)
    units = 3 * ((depth - 2) // 9)
    per = -(-units // n)
    # contiguous blocks of ceil(U/N) units covering every unit once; the last may be shorter
    assert [r.start for r in plan.ranges] == [j * per for j in range(n)]
    assert plan.ranges[-1].stop == units and all(a.stop == b.start for a, b in zip(plan.ranges, plan.ranges[1:]))
    assert plan.units_per_subnetwork[:-1] == [per] * (n - 1) and 1 <= plan.units_per_subnetwork[-1] <= per
    # interfaces: subnetwork j's output is subnetwork j + 1's input
    assert plan.output_shapes[:-1] == plan.input_shapes[1:]
    budget = -(-12 // n) if coarse_units is None else coarse_units
    assert len(plan.coarse) == n - 1
    for j, specs in enumerate(plan.coarse):
        target = [plan.units[i] for i in plan.ranges[j + 1]]
        changes = [s for s in target if s.changes_shape]
        assert len(specs) == max(budget, len(changes))
        # F^j maps g^{j+1}'s input shape to its output shape, with the same down-sampling units in order
        assert (specs[0].in_channels, specs[0].resolution) == plan.input_shapes[j + 1]
        assert (specs[-1].out_channels, specs[-1].out_resolution) == plan.output_shapes[j + 1]
        assert [s for s in specs if s.changes_shape] == changes
        assert all(
            a.out_channels == b.in_channels and a.out_resolution == b.resolution for a, b in zip(specs, specs[1:])
        )


def test_seed_plans():
    for n, per, last, coarse in [
        (1, 333, 333, None),
        (3, 111, 111, 4),
        (6, 56, 53, 2),
        (12, 28, 25, 1),
        (18, 19, 10, 1),
        (24, 14, 11, 1),
    ]:
        plan = parareal_resnet_plan(1001, num_subnetworks=n)
        assert plan.units_per_subnetwork[0] == per and plan.units_per_subnetwork[-1] == last
        assert all(len(c) == coarse for c in plan.coarse)
    plan = parareal_resnet_plan(1001, num_subnetworks=3)
    # g^2 starts with stage 2's down-sampling unit, so F^1 starts with a copy of its shape
    assert (plan.coarse[0][0].in_channels, plan.coarse[0][0].out_channels, plan.coarse[0][0].stride) == (64, 128, 2)


def test_plan_rejects_empty_subnetworks():
    with pytest.raises(ValueError, match="largest such N below 5 is 4; got 5"):
        parareal_resnet_plan(38, num_subnetworks=5)  # 12 units: blocks of 3 leave g^5 empty
    with pytest.raises(ValueError, match="`num_subnetworks` must be at least 1; got 0"):
        parareal_resnet_plan(20, num_subnetworks=0)
    with pytest.raises(TypeError, match="`coarse_units` must be an int"):
        parareal_resnet_plan(20, num_subnetworks=2, coarse_units=1.5)


# ---------------------------------------------------------------- parareal ResNet


@pytest.mark.parametrize("depth", [11, 29])
def test_one_subnetwork_is_the_resnet_output_for_output(depth):
    torch.manual_seed(0)
    resnet = preact_resnet(depth).double()
    # non-trivial BatchNorm statistics, so eval mode is not the identity
    with torch.no_grad():
        resnet(torch.randn(16, 3, 32, 32, dtype=torch.float64))
    resnet.eval()
    network = parareal_resnet_from(resnet, num_subnetworks=1)
    assert isinstance(network, PararealNetwork) and network.num_subnetworks == 1
    x = torch.randn(5, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(network(x), resnet(x))
    # same weights: the builder from scratch, loaded with the ResNet's state
    fresh = parareal_resnet(depth, num_subnetworks=1).double().eval()
    assert count(fresh) == count(resnet)
    mapping = dict(zip(fresh.state_dict(), resnet.state_dict().values()))
    fresh.load_state_dict(mapping)
    with torch.no_grad():
        assert torch.equal(fresh(x), resnet(x))


@settings(max_examples=8)
@given(depth_and_n(max_n=4))
def test_built_shapes_match_the_plan(case):
    depth, n, coarse_units = case
    torch.manual_seed(1)
    resnet = preact_resnet(depth).eval()
    network = parareal_resnet_from(resnet, num_subnetworks=n, coarse_units=coarse_units).eval()
    plan = network.plan
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        z = network.preprocess[0](x)
        for j in range(n):
            guess = network.preprocess[j](x)
            assert guess.shape[1:] == (plan.input_shapes[j][0], plan.input_shapes[j][1], plan.input_shapes[j][1])
            out = network.subnetworks[j](guess)
            assert out.shape[1:] == (plan.output_shapes[j][0], plan.output_shapes[j][1], plan.output_shapes[j][1])
            if j:
                assert network.coarse[j - 1](guess).shape == out.shape
            z = network.subnetworks[j](z)
        # the subnetworks run one after another are the ResNet's trunk (shared modules)
        assert torch.equal(z, resnet.features(x))
        assert network(x).shape == (2, 10)
    assert count(network) == parareal_resnet_table(depth, [n], coarse_units=coarse_units)[1]["parameters"]


@pytest.mark.slow
def test_parareal_resnet1001_n18_forward():
    start = time.perf_counter()
    network = parareal_resnet(1001, num_subnetworks=18).eval()
    assert network.num_subnetworks == 18 and len(network.coarse) == 17
    assert [len(g) for g in network.subnetworks] == [19] * 17 + [10]
    with torch.no_grad():
        out = network(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert count(network) == parareal_resnet_table(1001, [18])[1]["parameters"] == 10_983_642
    print(f"Parareal ResNet-1001, N = 18: build + forward of 2 images {time.perf_counter() - start:.2f} s")


def test_parareal_resnet_trains_every_part():
    network = parareal_resnet(20, num_subnetworks=3)
    loss = network(torch.randn(4, 3, 32, 32)).square().mean()
    loss.backward()
    # C^j (j >= 2) get no gradient in one iteration; everything else does
    grads = {name: p.grad is not None and p.grad.abs().sum() > 0 for name, p in network.named_parameters()}
    assert all(v for k, v in grads.items() if not k.startswith(("preprocess.1", "preprocess.2")))


def test_models_command(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "10,327,706" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:]}
    assert list(rows) == ["ResNet", "1", "3", "6", "12", "18", "24"]
    assert rows["1"][3] == "10,327,706" and rows["18"][1] == "19x17+10" and rows["18"][3] == "10,983,642"
    assert main(["models", "--depth", "20", "-N", "7"]) == 2
    assert "num_subnetworks" in capsys.readouterr().err


def test_parareal_resnet_stays_the_function_after_its_submodule_is_imported():
    import subprocess
    import sys

    code = (
        "import parareal_toolkit.nn as nn; nn.PararealResNetPlan; "
        "from parareal_toolkit.nn import parareal_resnet; assert callable(parareal_resnet), parareal_resnet"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
