"""PararealNetwork: the driver it calls, its bad-input errors, BatchNorm, devices and training."""

import io
from unittest import mock

import pytest
import torch
from torch import nn

import parareal_toolkit
import parareal_toolkit.nn.network as network_module
from parareal_toolkit import PararealResult, parareal
from parareal_toolkit.nn import ModulePropagator, PararealNetwork
from parareal_toolkit.testing.configurations import ConfigurationSpec


def dense(i, o, bias=False):
    torch.manual_seed(i * 10 + o)
    return nn.Linear(i, o, bias=bias, dtype=torch.float64)


def small_network(n=3, width=4, iterations=1, form="correction", **kw):
    return ConfigurationSpec(
        kind="dense",
        width=width,
        sizes=(1,) * n,
        block="tanh",
        bias=True,
        coarse="zero_preserving",
        iterations=iterations,
        form=form,
        seed=5,
        **kw,
    ).build()


# --- the driver -------------------------------------------------------------------------


def test_the_network_uses_the_drivers_own_function():
    # The very object the ODE side calls (`parareal_toolkit.parareal`), not a copy.
    assert network_module.parareal is parareal_toolkit.parareal
    assert network_module.parareal.__module__ == "parareal_toolkit.driver"


@pytest.mark.parametrize("iterations, form", [(1, "correction"), (3, "standard")])
def test_forward_calls_the_driver_with_module_propagators(iterations, form):
    config = small_network(iterations=iterations, form=form)
    net, x = config.network, config.inputs
    with mock.patch.object(network_module, "parareal", wraps=parareal) as driver:
        out = net(x)
    driver.assert_called_once()
    (fine, coarse, u0), kwargs = driver.call_args
    assert isinstance(fine, ModulePropagator) and fine.blocks is net.subnetworks and fine.first_slice == 0
    assert isinstance(coarse, ModulePropagator) and coarse.blocks is net.coarse and coarse.first_slice == 1
    assert fine.num_slices == coarse.num_slices == net.num_subnetworks
    assert torch.equal(u0, net.preprocess[0](x))
    assert len(kwargs["initial"]) == net.num_subnetworks - 1
    for guess, c in zip(kwargs["initial"], net.preprocess[1:]):
        assert torch.equal(guess, c(x))
    assert kwargs == dict(kwargs, iterations=iterations, form=form, monitor=False, store_iterates=False)
    assert kwargs["backend"].name == "serial"
    assert torch.equal(out, net(x))


def test_the_output_is_the_postprocessed_final_state_of_the_driver():
    # Whatever the driver returns is what the network outputs: nothing computes beside it.
    config = small_network()
    net, x = config.network, config.inputs
    sentinel = torch.full((x.shape[0], 4), 0.25, dtype=torch.float64)
    fake = PararealResult(
        states=[None, sentinel],
        iterates=None,
        increments=[],
        errors=None,
        slice_errors=None,
        converged=False,
        iterations=1,
        num_slices=3,
        fine_evaluations=0,
        coarse_evaluations=0,
        form="correction",
        initial="given",
    )
    with mock.patch.object(network_module, "parareal", return_value=fake):
        assert torch.equal(net(x), net.postprocess(sentinel))


@pytest.mark.parametrize("iterations", [1, 2, 3])
def test_every_subnetwork_and_coarse_call_happens_inside_the_driver(iterations):
    config = small_network(iterations=iterations)
    net = config.network
    inside = [False]
    calls = []

    def driver(*args, **kwargs):
        inside[0] = True
        try:
            return parareal(*args, **kwargs)
        finally:
            inside[0] = False

    for kind, modules in (("g", net.subnetworks), ("F", net.coarse), ("C", net.preprocess)):
        for j, module in enumerate(modules):
            module.register_forward_hook(lambda m, i, o, key=(kind, j): calls.append((key, inside[0])))
    net.postprocess.register_forward_hook(lambda m, i, o: calls.append((("h", 0), inside[0])))
    with mock.patch.object(network_module, "parareal", side_effect=driver):
        net(config.inputs)
    n = net.num_subnetworks
    for j in range(n):
        assert calls.count((("g", j), True)) == iterations and (("g", j), False) not in calls
        assert calls.count((("C", j), False)) == 1
    for j in range(n - 1):
        assert calls.count((("F", j), True)) == iterations and (("F", j), False) not in calls
    assert calls.count((("h", 0), False)) == 1


# --- bad input ----------------------------------------------------------------------------


def test_list_lengths_are_checked():
    g = [dense(2, 2) for _ in range(3)]
    c = [dense(2, 2) for _ in range(3)]
    f = [dense(2, 2) for _ in range(2)]
    h = dense(2, 1)
    with pytest.raises(ValueError, match="`subnetworks` must hold at least one module"):
        PararealNetwork([], [], [], h)
    with pytest.raises(ValueError, match=r"`preprocess` must hold one module per subnetwork .*N = 3.*got 2"):
        PararealNetwork(c[:2], g, f, h)
    with pytest.raises(ValueError, match=r"`coarse` must hold N - 1 = 2 modules .*got 3"):
        PararealNetwork(c, g, [*f, dense(2, 2)], h)
    with pytest.raises(ValueError, match=r"`coarse` must hold N - 1 = 2 modules .*got 0"):
        PararealNetwork(c, g, [], h)
    with pytest.raises(TypeError, match=r"`subnetworks\[1\]` must be an nn.Module; got str"):
        PararealNetwork(c, [g[0], "block", g[2]], f, h)
    with pytest.raises(TypeError, match="`subnetworks` must be a sequence of nn.Module; got Linear"):
        PararealNetwork(c, g[0], f, h)
    with pytest.raises(TypeError, match="`postprocess` must be an nn.Module; got function"):
        PararealNetwork(c, g, f, lambda z: z)
    with pytest.raises(ValueError, match="`iterations` must be at least 1.*got 0"):
        PararealNetwork(c, g, f, h, iterations=0)
    with pytest.raises(TypeError, match="`iterations` must be an integer; got 1.5"):
        PararealNetwork(c, g, f, h, iterations=1.5)
    with pytest.raises(ValueError, match=r"`form` must be one of \('standard', 'correction'\); got 'defect'"):
        PararealNetwork(c, g, f, h, form="defect")
    net = PararealNetwork(c, g, f, h)
    with pytest.raises(ValueError, match="`iterations` must be at least 1"):
        net.iterations = -1


@pytest.mark.parametrize("bad_width", [1, 3])
def test_coarse_shape_mismatch_names_j_and_both_shapes(bad_width):
    # Width 1 would broadcast silently against the subnetwork's (4, 2) output.
    c = [dense(3, 2) for _ in range(3)]
    g = [dense(2, 2) for _ in range(3)]
    f = [dense(2, 2), dense(2, bad_width)]
    net = PararealNetwork(c, g, f, dense(2, 1))
    x = torch.ones(4, 3, dtype=torch.float64)
    message = (
        rf"coarse network F\^2 \(coarse\[1\]\) returns shape \(4, {bad_width}\), but the subnetwork it "
        r"approximates, g\^3 \(subnetworks\[2\]\), returns shape \(4, 2\)"
    )
    with pytest.raises(ValueError, match=message):
        net(x)


def test_preprocessing_shape_mismatch_names_j_and_both_shapes():
    c = [dense(3, 2), dense(3, 1)]  # C^2 returns (4, 1): z_1 - x_2 would broadcast
    g = [dense(2, 2), nn.Identity()]
    net = PararealNetwork(c, g, [nn.Identity()], dense(2, 1))
    with pytest.raises(
        ValueError,
        match=r"preprocessing C\^2 \(preprocess\[1\]\) returns shape \(4, 1\), but "
        r"subnetwork g\^1 \(subnetworks\[0\]\) returns shape \(4, 2\)",
    ):
        net(torch.ones(4, 3, dtype=torch.float64))


def test_conv_coarse_shape_mismatch_is_caught_before_broadcasting():
    conv = lambda i, o: nn.Conv2d(i, o, 1, bias=False, dtype=torch.float64)
    net = PararealNetwork([conv(1, 3), conv(1, 3)], [conv(3, 3), conv(3, 3)], [conv(3, 1)], nn.Flatten())
    with pytest.raises(ValueError, match=r"F\^1 .* shape \(2, 1, 5, 5\).* g\^2 .* shape \(2, 3, 5, 5\)"):
        net(torch.ones(2, 1, 5, 5, dtype=torch.float64))


# --- exactness of trivial cases, containers ------------------------------------------------


def test_one_subnetwork_is_the_sequential_network_bit_for_bit():
    config = ConfigurationSpec(kind="conv3x3", sizes=(4,), block="residual", bias=True, batchnorm=True, seed=3).build()
    assert config.network.num_subnetworks == 1 and len(config.network.coarse) == 0
    assert torch.equal(config.network(config.inputs), config.sequential(config.inputs))


def test_to_sequential_shares_modules():
    net = small_network().network
    seq = net.to_sequential()
    assert seq[0] is net.preprocess[0] and seq[-1] is net.postprocess
    assert all(a is b for a, b in zip(seq[1:-1], net.subnetworks))


def test_parameters_register_move_and_round_trip_through_state_dict():
    net = small_network().network
    names = {n.split(".")[0] for n, _ in net.named_parameters()}
    assert names == {"preprocess", "subnetworks", "coarse", "postprocess"}
    expected = sum(
        p.numel() for m in (*net.preprocess, *net.subnetworks, *net.coarse, net.postprocess) for p in m.parameters()
    )
    assert sum(p.numel() for p in net.parameters()) == expected
    net32 = net.to(torch.float32)
    assert all(p.dtype == torch.float32 for p in net32.parameters())
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    other = small_network().network.to(torch.float32)
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    other.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    x = torch.randn(3, 2)
    assert torch.equal(other(x), net(x))
    assert "iterations=1" in repr(net) and "form='correction'" in repr(net)


def test_with_exact_coarse_copies_or_shares():
    g = [dense(2, 2) for _ in range(3)]
    copied = PararealNetwork.with_exact_coarse([dense(3, 2)] * 3, g, dense(2, 1))
    shared = PararealNetwork.with_exact_coarse([dense(3, 2)] * 3, g, dense(2, 1), copy_weights=False)
    for j in range(2):
        assert copied.coarse[j] is not g[j + 1] and torch.equal(copied.coarse[j].weight, g[j + 1].weight)
        assert shared.coarse[j] is g[j + 1]
    with torch.no_grad():
        g[1].weight.add_(1.0)
    assert not torch.equal(copied.coarse[0].weight, g[1].weight)


# --- training and BatchNorm ------------------------------------------------------------------


@pytest.mark.parametrize("iterations", [1, 2])
def test_trainable_end_to_end(iterations):
    config = ConfigurationSpec(
        kind="conv1x1",
        width=3,
        sizes=(1, 2, 1),
        block="relu",
        bias=True,
        batchnorm=True,
        preprocessing="random",
        coarse="zero_preserving",
        iterations=iterations,
        seed=11,
        batch_size=8,
    ).build()
    net = config.network.train()
    x, target = config.inputs, torch.randn(8, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(net(x), target)
        loss.backward()
        losses.append(loss.item())
        if len(losses) == 1:  # every parameter, F^j included, receives a gradient; C^j with one iteration
            # (later iterations restart from corrected states and forget the last guesses)
            guesses = {id(p) for c in net.preprocess[1:] for p in c.parameters()}
            needed = [p for p in net.parameters() if iterations == 1 or id(p) not in guesses]
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in needed)
        optimizer.step()
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("iterations", [1, 2, 3])
def test_batchnorm_statistics_update_once_per_evaluation(iterations):
    # The documented convention: in train mode each of the K evaluations per forward updates
    # the running statistics; in eval mode nothing changes.
    config = ConfigurationSpec(
        kind="dense",
        width=3,
        sizes=(1, 1, 1),
        block="linear",
        batchnorm=True,
        coarse="exact",
        iterations=iterations,
        seed=4,
        batch_size=5,
    ).build()
    net = config.network
    norms = lambda modules: [m for mod in modules for m in mod.modules() if isinstance(m, nn.BatchNorm1d)]
    net.eval()
    before = [bn.running_mean.clone() for bn in norms(net.subnetworks)]
    net(config.inputs)
    assert all(torch.equal(a, bn.running_mean) for a, bn in zip(before, norms(net.subnetworks)))
    net.train()
    net(config.inputs)
    assert [int(bn.num_batches_tracked) for bn in norms(net.subnetworks)] == [iterations] * 3
    assert [int(bn.num_batches_tracked) for bn in norms(net.coarse)] == [iterations] * 2


def test_with_one_iteration_the_first_subnetworks_statistics_match_the_sequential_network():
    spec = ConfigurationSpec(kind="conv3x3", width=2, sizes=(2, 1), block="relu", batchnorm=True, seed=8, batch_size=4)
    a, b = spec.build(), spec.build()
    a.network.train()(a.inputs)
    b.sequential.train()(b.inputs)
    for m, n in zip(a.network.subnetworks[0].modules(), b.sequential[1].modules()):
        if isinstance(m, nn.BatchNorm2d):
            assert torch.allclose(m.running_mean, n.running_mean, rtol=0, atol=1e-14)
            assert torch.allclose(m.running_var, n.running_var, rtol=0, atol=1e-14)
