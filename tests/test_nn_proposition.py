"""Proposition 1, its gradients, and where it stops holding (float64, evaluation mode)."""

import copy

import pytest
import torch
from hypothesis import Phase, find, given, note, settings
from hypothesis import strategies as st
from torch import nn

from parareal_toolkit.nn import PararealNetwork, split_blocks
from parareal_toolkit.nn.linear import random_input
from parareal_toolkit.testing.configurations import BLOCKS, PREPROCESSINGS
from parareal_toolkit.testing.nn import linear_networks, parareal_configurations, preprocessings, seeds, splits

RTOL = 1e-10
ROUNDOFF = 1e-6  # a violation must exceed this to count: ~1e10 times float64 roundoff


def relative_gap(config):
    absolute, relative = config.gap()
    note(f"{config.spec.describe()}: |f~ - f| = {absolute:.3e} (relative {relative:.3e})")
    return relative


@given(parareal_configurations(blocks="linear", coarse=("exact", "tied"), preprocessing=PREPROCESSINGS))
def test_proposition_1_holds_for_linear_networks(config):
    assert relative_gap(config) <= RTOL


@given(
    network=linear_networks(num_blocks=st.integers(1, 6)),
    data=st.data(),
)
def test_proposition_1_needs_no_linearity_of_c1_g1_or_h(network, data):
    # The proof z_{j+1} = g^{j+1}(z_j) only uses additivity of g^2..g^N: make C^1, g^1, h nonlinear.
    blocks = list(network)[1:-1]
    sizes = data.draw(splits(len(blocks)), label="sizes")
    subnetworks = split_blocks(blocks, sizes)
    subnetworks[0] = nn.Sequential(nn.Tanh(), *subnetworks[0], nn.ReLU())
    c1 = nn.Sequential(network[0], nn.Tanh())
    h = nn.Sequential(nn.Softplus(), network[-1])
    x = random_input(
        network.kind,
        batch_size=2,
        in_channels=network.in_channels,
        image_size=3,
        generator=torch.Generator().manual_seed(data.draw(seeds())),
    )
    state = tuple(c1(x).shape[1:])
    guesses = data.draw(preprocessings(tuple(x.shape[1:]), state, len(sizes) - 1), label="C^j")
    parareal_net = PararealNetwork.with_exact_coarse([c1, *guesses], subnetworks, h)
    sequential = nn.Sequential(c1, *subnetworks, h)
    with torch.no_grad():
        f, f_tilde = sequential(x), parareal_net(x)
    assert (f_tilde - f).abs().max() <= RTOL * f.abs().max()


def _gradients(module, x, weights):
    x = x.clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    (module(x) * weights).sum().backward()
    grads = {
        name: (p.grad.clone() if p.grad is not None else torch.zeros_like(p))
        for name, p in module.named_parameters(remove_duplicate=False)
    }
    return x.grad.clone(), grads


def _assert_close(a, b, scale):
    assert (a - b).abs().max() <= RTOL * scale, f"{(a - b).abs().max():.3e} > {RTOL} * {scale:.3e}"


@settings(max_examples=20)
@given(parareal_configurations(blocks="linear", coarse="tied", num_subnetworks=st.integers(2, 4)))
def test_gradients_equal_the_sequential_networks_with_tied_coarse(config):
    # F^j *is* g^{j+1}: autograd accumulates both uses, so every gradient is the sequential one.
    net, seq = config.network, config.sequential
    weights = torch.randn(seq(config.inputs).shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    gx_seq, g_seq = _gradients(seq, config.inputs, weights)
    gx_par, _ = _gradients(net, config.inputs, weights)
    scale = max([gx_seq.abs().max().item()] + [g.abs().max().item() for g in g_seq.values()])
    _assert_close(gx_par, gx_seq, scale)
    for name, p in seq.named_parameters():
        _assert_close(p.grad if p.grad is not None else torch.zeros_like(p), g_seq[name], scale)
    for guess in net.preprocess[1:]:  # f~ does not depend on C^j, j >= 2
        for p in guess.parameters():
            assert p.grad is None or p.grad.abs().max() <= RTOL * scale


@settings(max_examples=20)
@given(parareal_configurations(blocks="linear", coarse="exact", num_subnetworks=st.integers(2, 4)))
def test_gradients_with_copied_coarse_add_up_to_the_sequential_ones(config):
    # F^j a copy of g^{j+1}: d/d(g^{j+1}) + d/d(F^j) = sequential d/d(g^{j+1}); C^1, g^1, h, x: equal.
    net, seq = config.network, config.sequential
    weights = torch.randn(seq(config.inputs).shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    gx_seq, _ = _gradients(seq, config.inputs, weights)
    g_seq = {id(p): p.grad.clone() for p in seq.parameters()}
    gx_par, _ = _gradients(net, config.inputs, weights)
    scale = max([gx_seq.abs().max().item()] + [g.abs().max().item() for g in g_seq.values()])
    _assert_close(gx_par, gx_seq, scale)
    for module in (net.preprocess[0], net.subnetworks[0], net.postprocess):
        for p in module.parameters():
            _assert_close(p.grad, g_seq[id(p)], scale)
    for j in range(1, net.num_subnetworks):
        for p, q in zip(net.subnetworks[j].parameters(), net.coarse[j - 1].parameters(), strict=True):
            _assert_close(p.grad + q.grad, g_seq[id(p)], scale)
    for guess in net.preprocess[1:]:
        for p in guess.parameters():
            assert p.grad.abs().max() <= RTOL * scale


def _zero_state(config):
    with torch.no_grad():
        return torch.zeros_like(config.network.preprocess[0](config.inputs))


@pytest.mark.parametrize("bias, batchnorm", [(True, False), (False, True), (True, True)])
@settings(max_examples=15)
@given(data=st.data())
def test_affine_blocks_break_it_by_a_predicted_offset(bias, batchnorm, data):
    # g(u) = A u + g(0): z~_{j+1} = g(z~_j) + g(0), so f~ - f = h(g^N(...g^2(0))) - h(0) for every x and C^j.
    config = data.draw(
        parareal_configurations(blocks="linear", bias=bias, batchnorm=batchnorm, num_subnetworks=st.integers(2, 4))
    )
    net = config.network
    with torch.no_grad():
        e = _zero_state(config)
        zero = net.postprocess(e)
        for g in net.subnetworks[1:]:
            e = g(e)
        predicted = net.postprocess(e) - zero
        actual = net(config.inputs) - config.sequential(config.inputs)
    note(config.spec.describe())
    scale = max(predicted.abs().max().item(), 1.0)
    assert (actual - predicted).abs().max() <= RTOL * scale
    assert predicted.abs().max() > ROUNDOFF  # a real violation, not roundoff


@settings(max_examples=15)
@given(
    parareal_configurations(
        blocks="linear", coarse="offset", num_subnetworks=st.integers(2, 4), iterations=st.integers(1, 4)
    )
)
def test_coarse_with_nonzero_f0_leaves_a_predicted_offset_at_any_iteration(config):
    # F^j = g^{j+1} + c_j: z~_{j+1} = g(z~_j) + c_j at every iteration, so f~ - f = h(e_N),
    # e_1 = 0, e_{j+1} = g^{j+1}(e_j) + c_j, whatever the preprocessing (even perfect guesses).
    net = config.network
    with torch.no_grad():
        e = _zero_state(config)
        for g, f_coarse in zip(net.subnetworks[1:], net.coarse):
            e = g(e) + f_coarse[1].offset
        predicted = net.postprocess(e)
        actual = net(config.inputs) - config.sequential(config.inputs)
    assert (actual - predicted).abs().max() <= RTOL * max(predicted.abs().max().item(), 1.0)
    assert predicted.abs().max() > ROUNDOFF


def _find_violation(**options):
    # hypothesis searches for a configuration where the proposition fails (no shrinking: the
    # first violation is the proof; NoSuchExample fails the test if none exists).
    return find(
        parareal_configurations(num_subnetworks=st.integers(2, 3), max_blocks=4, **options),
        lambda config: config.gap()[1] > 1e-3,
        settings=settings(max_examples=100, derandomize=True, database=None, phases=[Phase.generate]),
    )


@pytest.mark.parametrize("block", ["relu", "tanh", "residual"])
def test_nonlinear_blocks_have_counter_examples(block):
    config = _find_violation(blocks=block, coarse="exact", preprocessing=("random", "nonlinear", "copy"))
    absolute, relative = config.gap()
    assert relative > 1e-3 and absolute > ROUNDOFF


@pytest.mark.parametrize("block", BLOCKS)
def test_batchnorm_coarse_is_not_exact_even_for_perfect_guesses(block):
    # Perfect guesses x_{j+1} = z_j and F^j = g^{j+1} with BatchNorm (eval): z~_{j+1} = z_{j+1} + F^j(0).
    config = _find_violation(blocks=block, batchnorm=True, coarse="exact", preprocessing="exact")
    assert config.gap()[1] > 1e-3


@pytest.mark.parametrize("block", BLOCKS)
def test_perfect_guesses_are_exact_for_any_network_when_f0_is_zero(block):
    # Contrast to the previous test: the only defect left at a perfect guess is F^j(0).
    @settings(max_examples=8)
    @given(
        parareal_configurations(
            blocks=block, bias=True, batchnorm=True, coarse="zero_preserving", preprocessing="exact"
        )
    )
    def check(config):
        assert relative_gap(config) <= RTOL

    check()


@settings(max_examples=25)
@given(
    parareal_configurations(
        blocks=("relu", "tanh", "residual"),
        bias=st.booleans(),
        batchnorm=st.booleans(),
        coarse="zero_preserving",
        iterations=None,
        preprocessing=PREPROCESSINGS,
        num_subnetworks=st.integers(2, 4),
    )
)
def test_n_iterations_reproduce_any_network_with_zero_preserving_coarse(config):
    assert config.network.iterations == config.network.num_subnetworks
    assert relative_gap(config) <= RTOL


@settings(max_examples=25)
@given(
    parareal_configurations(
        blocks=BLOCKS,
        bias=st.booleans(),
        batchnorm=st.booleans(),
        coarse=("offset", "exact", "zero_preserving"),
        iterations=None,
        form="standard",
        num_subnetworks=st.integers(2, 4),
    )
)
def test_standard_form_with_n_iterations_is_exact_whatever_f0(config):
    assert relative_gap(config) <= RTOL


@pytest.mark.parametrize("block", ["relu", "tanh", "residual"])
def test_correction_form_with_n_iterations_keeps_the_f0_offset(block):
    config = _find_violation(blocks=block, bias=True, coarse="offset", iterations=None)
    assert config.gap()[1] > 1e-3
    standard = copy.deepcopy(config)
    standard.network.form = "standard"  # same modules, same input: the offset disappears
    assert standard.gap()[1] <= RTOL
