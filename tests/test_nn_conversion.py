"""to_parareal and ModulePropagator."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from parareal_toolkit import Propagator, parareal, propagate_sequentially
from parareal_toolkit.nn import ModulePropagator, balanced_sizes, exact_coarse, to_parareal
from parareal_toolkit.nn.linear import random_input, state_shape
from parareal_toolkit.testing.configurations import RandomMap, random_block
from parareal_toolkit.testing.nn import linear_networks, seeds, splits


def nonlinear_sequential(kind, num_blocks, seed, width=3):
    g = torch.Generator().manual_seed(seed)
    blocks = [
        random_block(kind, width, b, bias=True, batchnorm=True, generator=g)
        for b in ("relu", "tanh", "residual", "linear") * num_blocks
    ][:num_blocks]
    pre = nn.Linear(2, width, dtype=torch.float64) if kind == "dense" else nn.Conv2d(2, width, 3, dtype=torch.float64)
    post = nn.Sequential(nn.Flatten(), nn.LazyLinear(2, dtype=torch.float64))
    return nn.Sequential(pre, *blocks, post).eval()


@settings(max_examples=15)
@given(kind=st.sampled_from(["dense", "conv3x3"]), num_blocks=st.integers(1, 5), seed=seeds())
def test_one_subnetwork_reproduces_the_model_bit_for_bit(kind, num_blocks, seed):
    model = nonlinear_sequential(kind, num_blocks, seed)
    x = torch.randn((3, 2) if kind == "dense" else (3, 2, 5, 5), dtype=torch.float64)
    expected = model(x)
    net = to_parareal(model, 1)
    assert net.num_subnetworks == 1 and len(net.coarse) == 0
    assert torch.equal(net(x), expected)


@settings(max_examples=20)
@given(model=linear_networks(), data=st.data())
def test_exact_coarse_conversion_of_a_linear_network_is_exact(model, data):
    blocks = len(model) - 2
    sizes = data.draw(splits(blocks), label="sizes")
    x = random_input(model.kind, batch_size=2, in_channels=model.in_channels, image_size=3)
    in_shape = tuple(x.shape[1:])
    state = tuple(model[0](x).shape[1:])
    seed = data.draw(seeds())
    factory = lambda j, c, g: RandomMap(
        in_shape, state, nonlinear=True, generator=torch.Generator().manual_seed(seed + j)
    )
    net = to_parareal(model, len(sizes), sizes=sizes, coarse_factory=exact_coarse, preprocess_factory=factory)
    with torch.no_grad():
        f, f_tilde = model(x), net(x)
    assert (f_tilde - f).abs().max() <= 1e-10 * f.abs().max()


def test_split_sizes_and_factory_arguments():
    model = nn.Sequential(nn.Linear(2, 3), *[nn.Linear(3, 3) for _ in range(7)], nn.Linear(3, 1))
    assert balanced_sizes(7, 3) == (3, 2, 2)
    seen = []

    def coarse(j, target):
        seen.append(("F", j, len(target)))
        return nn.Identity()

    def guess(j, pre, subnetwork):
        seen.append(("C", j, len(subnetwork)))
        assert isinstance(pre, nn.Sequential) and isinstance(pre[0], nn.Linear)
        return nn.Linear(2, 3)

    net = to_parareal(model, 3, coarse_factory=coarse, preprocess_factory=guess)
    assert [len(g) for g in net.subnetworks] == [3, 2, 2]
    assert seen == [("F", 1, 2), ("F", 2, 2), ("C", 2, 2), ("C", 3, 2)]
    net = to_parareal(model, 2, sizes=[1, 6], preprocess_layers=1, postprocess_layers=1)
    assert [len(g) for g in net.subnetworks] == [1, 6]
    # default coarse: a copy of the first block of the subnetwork it approximates
    assert torch.equal(net.coarse[0].weight, net.subnetworks[1][0].weight)
    assert net.coarse[0] is not net.subnetworks[1][0]
    net.to_sequential()(torch.randn(1, 2))


def test_the_original_model_is_copied_unless_asked_not_to():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 3), nn.Linear(3, 3), nn.Linear(3, 1))
    copied = to_parareal(model, 2)
    assert not {id(p) for p in model.parameters()} & {id(p) for p in copied.parameters()}
    shared = to_parareal(model, 2, copy_model=False)
    assert shared.subnetworks[0][0] is model[1]


def test_conversion_errors():
    model = nn.Sequential(nn.Linear(2, 3), *[nn.Linear(3, 3) for _ in range(12)], nn.Linear(3, 1))
    with pytest.raises(ValueError, match=r"^`num_subnetworks` must be at most 12 \(the number of blocks\); got 13\.$"):
        to_parareal(model, 13)
    with pytest.raises(ValueError, match="`num_subnetworks` must be at least 1; got 0"):
        to_parareal(model, 0)
    with pytest.raises(TypeError, match="`model` must be an nn.Sequential; got ModuleList"):
        to_parareal(nn.ModuleList(model), 2)
    with pytest.raises(ValueError, match="leave no block to split"):
        to_parareal(model, 1, preprocess_layers=7, postprocess_layers=7)
    with pytest.raises(ValueError, match=r"`sizes` must add up to the number of blocks, 12; got \(5, 5\)"):
        to_parareal(model, 2, sizes=(5, 5))
    with pytest.raises(ValueError, match=r"`sizes` must hold num_subnetworks = 3 entries; got \(6, 6\)"):
        to_parareal(model, 3, sizes=(6, 6))
    with pytest.raises(TypeError, match="`coarse_factory` must return an nn.Module; got NoneType for j=1"):
        to_parareal(model, 2, coarse_factory=lambda j, g: None)
    with pytest.raises(TypeError, match="`preprocess_factory` must be callable"):
        to_parareal(model, 2, preprocess_factory=3)


def test_shape_changing_blocks_with_default_factories_fail_clearly_on_first_forward():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 3), nn.Linear(3, 5), nn.Linear(5, 5), nn.Linear(5, 1))
    net = to_parareal(model, 3)  # C^3 = copy of C returns width 3, but g^3 starts at width 5
    with pytest.raises(ValueError, match=r"C\^3 \(preprocess\[2\]\) returns shape \(4, 3\).*g\^2 .*shape \(4, 5\)"):
        net(torch.randn(4, 2))


# --- ModulePropagator ----------------------------------------------------------------------


def test_module_propagator_is_a_propagator_and_a_container():
    blocks = [nn.Linear(3, 3, dtype=torch.float64) for _ in range(4)]
    prop = ModulePropagator(blocks)
    assert isinstance(prop, Propagator) and prop.num_slices == 4
    u0 = torch.randn(2, 3, dtype=torch.float64)
    states = propagate_sequentially(prop, u0)
    assert torch.equal(states[-1], nn.Sequential(*blocks)(u0))
    # N iterations of the driver reproduce the sequential chain, as for an ODE.
    result = parareal(prop, ModulePropagator([copy.deepcopy(b) for b in blocks]), u0, iterations=4, backend="serial")
    assert torch.allclose(result.final, states[-1], rtol=0, atol=1e-14)
    assert len(list(prop.parameters())) == 8 and set(prop.state_dict()) >= {"blocks.0.weight", "blocks.3.bias"}
    assert prop.to(torch.float32).blocks[0].weight.dtype == torch.float32
    shared = nn.ModuleList(blocks)
    assert ModulePropagator(shared).blocks is shared


def test_module_propagator_errors():
    with pytest.raises(ValueError, match="at least one module"):
        ModulePropagator([])
    with pytest.raises(TypeError, match=r"`modules\[1\]` must be an nn.Module; got int"):
        ModulePropagator([nn.Identity(), 3])
    with pytest.raises(TypeError, match="not a single Linear"):
        ModulePropagator(nn.Linear(2, 2))
    prop = ModulePropagator([nn.Identity()], first_slice=1)
    assert prop.num_slices == 2
    with pytest.raises(IndexError, match="slice 0 has no module"):
        prop(torch.zeros(1), 0)
    with pytest.raises(IndexError, match=r"0 <= j < 2; got 2"):
        prop(torch.zeros(1), 2)
    assert ModulePropagator([], first_slice=1).num_slices == 1
    assert state_shape("conv1x1", 4, 3) == (4, 3, 3)
