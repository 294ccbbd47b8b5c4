"""The public hypothesis strategies of parareal_toolkit.testing do what their docstrings say."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from parareal_toolkit.nn import PararealNetwork
from parareal_toolkit.nn.linear import random_input
from parareal_toolkit.testing.configurations import PararealConfiguration
from parareal_toolkit.testing.nn import (
    configuration_specs,
    linear_networks,
    parareal_configurations,
    preprocessings,
    splits,
)


@given(data=st.data(), num_blocks=st.integers(1, 9))
def test_splits_are_contiguous_positive_and_complete(data, num_blocks):
    sizes = data.draw(splits(num_blocks))
    assert sum(sizes) == num_blocks and min(sizes) >= 1 and 1 <= len(sizes) <= num_blocks
    fixed = data.draw(splits(num_blocks, num_subnetworks=st.integers(1, num_blocks)))
    assert sum(fixed) == num_blocks


def test_every_split_is_reachable():
    found = set()

    @settings(max_examples=200, database=None)
    @given(splits(4))
    def collect(sizes):
        found.add(sizes)

    collect()
    assert len(found) == 2**3  # all compositions of 4


@settings(max_examples=20)
@given(linear_networks(), st.floats(-2, 2), st.floats(-2, 2))
def test_linear_networks_are_linear_and_bias_free(model, a, b):
    assert not any(getattr(m, "bias", None) is not None for m in model.modules())
    assert model[0].weight.dtype == torch.float64
    x = random_input(
        model.kind, batch_size=2, in_channels=model.in_channels, generator=torch.Generator().manual_seed(0)
    )
    y = random_input(
        model.kind, batch_size=2, in_channels=model.in_channels, generator=torch.Generator().manual_seed(1)
    )
    with torch.no_grad():
        lhs, rhs = model(a * x + b * y), a * model(x) + b * model(y)
    assert torch.allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


@settings(max_examples=10)
@given(linear_networks(bias=True))
def test_linear_networks_with_bias_are_affine_not_linear(model):
    x = random_input(model.kind, batch_size=1, in_channels=model.in_channels)
    with torch.no_grad():
        assert model(0 * x).abs().max() > 1e-6


@settings(max_examples=15)
@given(data=st.data(), count=st.integers(0, 3))
def test_preprocessings_map_shapes(data, count):
    modules = data.draw(preprocessings((2, 3, 3), (4,), count))
    assert len(modules) == count
    for m in modules:
        assert isinstance(m, nn.Module)
        assert m(torch.randn(5, 2, 3, 3, dtype=torch.float64)).shape == (5, 4)


@settings(max_examples=20)
@given(
    configuration_specs(
        blocks=("relu", "tanh"),
        num_subnetworks=st.integers(2, 3),
        iterations=None,
        coarse="zero_preserving",
        max_blocks=5,
    )
)
def test_configuration_specs_respect_their_options(spec):
    assert spec.block in ("relu", "tanh") and 2 <= spec.num_subnetworks <= 3
    assert spec.iterations == spec.num_subnetworks and sum(spec.sizes) <= 5
    assert spec.coarse == "zero_preserving"


@settings(max_examples=10)
@given(parareal_configurations(num_subnetworks=st.integers(1, 4)))
def test_parareal_configurations_are_float64_eval_and_share_modules(config):
    assert isinstance(config, PararealConfiguration) and isinstance(config.network, PararealNetwork)
    assert config.inputs.dtype == torch.float64
    assert not config.network.training and not config.sequential.training
    assert all(p.dtype == torch.float64 for p in config.network.parameters())
    assert config.sequential[0] is config.network.preprocess[0]
    assert all(a is b for a, b in zip(config.sequential[1:-1], config.network.subnetworks))
    assert config.network.num_subnetworks == config.spec.num_subnetworks
    assert config.spec.describe().startswith(config.spec.kind)
    rebuilt = config.spec.build()  # reproducible from the spec alone
    assert torch.equal(rebuilt.inputs, config.inputs)
    assert torch.equal(rebuilt.network(rebuilt.inputs), config.network(config.inputs))


@pytest.mark.parametrize(
    "strategy, message",
    [
        (lambda: configuration_specs(blocks="sigmoid"), "`blocks` must be drawn from"),
        (lambda: linear_networks(kinds=[]), "`kinds` must not be an empty sequence"),
        (lambda: splits(3, num_subnetworks=4), "`num_subnetworks` must be between 1 and num_blocks = 3; got 4"),
    ],
)
def test_invalid_options_are_rejected(strategy, message):
    @settings(max_examples=1, database=None)
    @given(strategy())
    def draw(_):
        pass

    with pytest.raises(ValueError, match=message):
        draw()


# --- the linear-ODE strategies ---------------------------------------------------------

from hypothesis import given as _given

from parareal_toolkit.ode import LinearODE
from parareal_toolkit.testing.ode import (
    linear_problems,
    nonnormal_stable_matrices,
    symmetric_stable_matrices,
    time_grids,
)


@_given(symmetric_stable_matrices())
def test_symmetric_stable_matrices_are_symmetric_negative_definite(A):
    import numpy as np

    assert np.array_equal(A, A.T) and np.linalg.eigvalsh(A).max() < 0


@_given(nonnormal_stable_matrices())
def test_nonnormal_stable_matrices_are_stable_and_not_normal(A):
    import numpy as np

    assert np.linalg.eigvals(A).real.max() < 0
    assert np.linalg.eigvalsh((A + A.T) / 2).max() < 0  # negative definite symmetric part
    assert not LinearODE(A).is_normal()


@_given(time_grids(min_slices=2, max_slices=5), linear_problems())
def test_grids_and_problems_are_well_formed(grid, problem):
    import numpy as np

    assert 2 <= grid.num_slices <= 5 and np.all(np.diff(grid.times) > 0)
    ode, grid2, u0 = problem
    assert u0.shape == (ode.size,) and grid2.num_slices >= 1
