r"""Hypothesis strategies for parareal networks (torch, float64 by default).

These are the strategies the toolkit's own tests use to prove Proposition 1 and to find
where it stops holding; they are public so that you can property-test your own networks::

    from hypothesis import given
    from parareal_toolkit.testing.nn import parareal_configurations

    @given(parareal_configurations(blocks="linear", coarse="exact"))
    def test_proposition_1(config):
        absolute, relative = config.gap()   # max |f~(x) - f(x)| and that / max |f(x)|
        assert relative <= 1e-10

Every random weight comes from a ``torch.Generator`` seeded by a drawn integer, so examples
are reproducible and hypothesis shrinks the structure (kind, width, split, N, ...) while the
seed picks the numbers. Each option accepts a value, a sequence of values to sample from,
or a strategy.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from ..errors import InputError
from ..nn.linear import KINDS, linear_network
from ..verification.configurations import BLOCKS, COARSE, PREPROCESSINGS, ConfigurationSpec, RandomMap
from ._common import as_strategy, seeds

__all__ = [
    "seeds",
    "splits",
    "linear_networks",
    "preprocessings",
    "configuration_specs",
    "parareal_configurations",
]


@st.composite
def splits(draw, num_blocks, *, num_subnetworks=None) -> tuple[int, ...]:
    """A split of ``num_blocks`` blocks into ``num_subnetworks`` contiguous non-empty groups.

    ``num_subnetworks`` defaults to any ``N`` in ``1..num_blocks``; both arguments accept
    strategies.

    Parameters
    ----------
    num_blocks : int or strategy
        ``B >= 1``.
    num_subnetworks : int or strategy, keyword-only, optional
        ``N`` in ``1..B``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of tuple of int
        The group sizes: ``N`` positive integers adding up to ``B``.
    """
    b = draw(as_strategy(num_blocks, "num_blocks"))
    if b < 1:
        raise InputError(f"`num_blocks` must be at least 1; got {b}.")
    n_strategy = st.integers(1, b) if num_subnetworks is None else as_strategy(num_subnetworks, "num_subnetworks")
    n = draw(n_strategy)
    if not 1 <= n <= b:
        raise InputError(f"`num_subnetworks` must be between 1 and num_blocks = {b}; got {n}.")
    cuts = sorted(draw(st.sets(st.integers(1, b - 1), min_size=n - 1, max_size=n - 1))) if n > 1 else []
    bounds = [0, *cuts, b]
    return tuple(hi - lo for lo, hi in zip(bounds, bounds[1:]))


@st.composite
def linear_networks(
    draw,
    *,
    kinds=KINDS,
    num_blocks=st.integers(1, 6),
    widths=st.integers(1, 4),
    layers_per_block=st.integers(1, 2),
    in_channels=st.integers(1, 3),
    out_features=st.integers(1, 3),
    bias=False,
    dtype: torch.dtype = torch.float64,
):
    """Random linear networks from :func:`parareal_toolkit.nn.linear_network` (bias-free by default).

    The network ``nn.Sequential(C, b_1..b_B, h)`` has attributes ``kind`` and
    ``in_channels`` set on it, so a test can build a matching input with
    ``parareal_toolkit.nn.linear.random_input``.

    Parameters
    ----------
    kinds, num_blocks, widths, layers_per_block, in_channels, out_features, bias : keyword-only
        A value, a sequence of values to sample from, or a strategy, for each argument of
        :func:`~parareal_toolkit.nn.linear_network`.
    dtype : torch.dtype, keyword-only
        Parameter dtype (default float64).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of torch.nn.Sequential
        Networks ``C, b_1..b_B, h``, linear unless ``bias`` draws True.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from torch import nn
    >>> from parareal_toolkit.testing.nn import linear_networks
    >>> @settings(max_examples=5, deadline=None)
    ... @given(linear_networks())
    ... def test_is_sequential(model):
    ...     assert isinstance(model, nn.Sequential) and len(model) >= 3
    >>> test_is_sequential()
    """
    kind = draw(as_strategy(kinds, "kinds"))
    c_in = draw(as_strategy(in_channels, "in_channels"))
    model = linear_network(
        kind,
        num_blocks=draw(as_strategy(num_blocks, "num_blocks")),
        width=draw(as_strategy(widths, "widths")),
        in_channels=c_in,
        out_features=draw(as_strategy(out_features, "out_features")),
        layers_per_block=draw(as_strategy(layers_per_block, "layers_per_block")),
        bias=draw(as_strategy(bias, "bias")),
        dtype=dtype,
        generator=torch.Generator().manual_seed(draw(seeds())),
    )
    model.kind = kind
    model.in_channels = c_in
    return model


@st.composite
def preprocessings(draw, input_shape, output_shape, count, *, nonlinear=st.booleans(), dtype=torch.float64):
    """``count`` random preprocessing modules, each mapping ``(B, *input_shape)`` to ``(B, *output_shape)``.

    Each is a :class:`~parareal_toolkit.verification.configurations.RandomMap` (a random dense map
    of the flattened sample, with bias and tanh when ``nonlinear``). Proposition 1 holds for
    any of them.

    Parameters
    ----------
    input_shape, output_shape : tuple of int
        One sample's shape before and after.
    count : int or strategy
        How many modules.
    nonlinear : bool or strategy, keyword-only
        Whether each map has a bias and tanh (default: either).
    dtype : torch.dtype, keyword-only
        Parameter dtype (default float64).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of list of torch.nn.Module
        ``count`` independent random maps.
    """
    count = draw(as_strategy(count, "count"))
    modules = []
    for _ in range(count):
        generator = torch.Generator().manual_seed(draw(seeds()))
        modules.append(
            RandomMap(
                tuple(input_shape),
                tuple(output_shape),
                nonlinear=draw(as_strategy(nonlinear, "nonlinear")),
                generator=generator,
                dtype=dtype,
            )
        )
    return modules


@st.composite
def configuration_specs(
    draw,
    *,
    kinds=KINDS,
    blocks="linear",
    bias=False,
    batchnorm=False,
    preprocessing=PREPROCESSINGS,
    coarse="exact",
    num_subnetworks=st.integers(1, 4),
    max_blocks: int = 6,
    widths=st.integers(1, 4),
    iterations=1,
    form="correction",
    batch_size=st.integers(1, 3),
    in_channels=st.integers(1, 3),
    image_size=st.integers(1, 3),
) -> ConfigurationSpec:
    """Random :class:`~parareal_toolkit.verification.configurations.ConfigurationSpec` (see that class for the choices).

    ``N`` is drawn from ``num_subnetworks``, the number of blocks from ``N..max(N, max_blocks)``
    and the split from :func:`splits`. ``iterations=None`` means ``iterations = N``.
    Choices are validated against ``KINDS``, ``BLOCKS``, ``PREPROCESSINGS`` and ``COARSE``.
    Each option accepts a value, a sequence of values to sample from, or a strategy.

    Parameters
    ----------
    kinds, blocks, bias, batchnorm, preprocessing, coarse : keyword-only
        The spec's ``kind``, ``block``, ``bias``, ``batchnorm``, ``preprocessing`` and
        ``coarse``.
    num_subnetworks : keyword-only
        ``N`` (default 1 to 4).
    max_blocks : int, keyword-only
        The largest number of blocks (at least ``N`` are drawn).
    widths, iterations, form, batch_size, in_channels, image_size : keyword-only
        The spec's other fields; ``iterations=None`` means ``N``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of ConfigurationSpec
        Specs; the weights' seed is drawn too, so each spec builds deterministically.

    Raises
    ------
    ValueError
        When a choice given as a value or sequence is not allowed.
    """
    for name, value, allowed in (
        ("kinds", kinds, KINDS),
        ("blocks", blocks, BLOCKS),
        ("preprocessing", preprocessing, PREPROCESSINGS),
        ("coarse", coarse, COARSE),
    ):
        if isinstance(value, st.SearchStrategy):
            continue
        values = [value] if isinstance(value, str) else list(value)
        bad = [v for v in values if v not in allowed]
        if bad:
            raise InputError(f"`{name}` must be drawn from {allowed}; got {value!r}.")
    n = draw(as_strategy(num_subnetworks, "num_subnetworks"))
    total = draw(st.integers(n, max(n, max_blocks)))
    sizes = draw(splits(total, num_subnetworks=n))
    k = draw(as_strategy(iterations, "iterations"))
    return ConfigurationSpec(
        kind=draw(as_strategy(kinds, "kinds")),
        width=draw(as_strategy(widths, "widths")),
        sizes=sizes,
        block=draw(as_strategy(blocks, "blocks")),
        bias=draw(as_strategy(bias, "bias")),
        batchnorm=draw(as_strategy(batchnorm, "batchnorm")),
        preprocessing=draw(as_strategy(preprocessing, "preprocessing")),
        coarse=draw(as_strategy(coarse, "coarse")),
        iterations=n if k is None else k,
        form=draw(as_strategy(form, "form")),
        batch_size=draw(as_strategy(batch_size, "batch_size")),
        in_channels=draw(as_strategy(in_channels, "in_channels")),
        image_size=draw(as_strategy(image_size, "image_size")),
        seed=draw(seeds()),
    )


def parareal_configurations(*, dtype: torch.dtype = torch.float64, **options) -> st.SearchStrategy:
    """Random built :class:`~parareal_toolkit.verification.configurations.PararealConfiguration` (float64 by default).

    ``options`` are those of :func:`configuration_specs`; the spec is available as
    ``config.spec`` (its
    ``describe()`` is a
    one-line summary, handy with ``hypothesis.note``).

    Parameters
    ----------
    dtype : torch.dtype, keyword-only
        Parameter and input dtype (default float64).
    **options
        Passed to :func:`configuration_specs`.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of PararealConfiguration
        Built configurations (both networks in evaluation mode, with an input batch).

    Examples
    --------
    Proposition 1 as a property test: bias-free linear blocks and exact coarse networks.

    >>> from hypothesis import given, settings
    >>> from parareal_toolkit.testing.nn import parareal_configurations
    >>> @settings(max_examples=10, deadline=None)
    ... @given(parareal_configurations(blocks="linear", coarse="exact"))
    ... def test_proposition_1(config):
    ...     absolute, relative = config.gap()
    ...     assert relative <= 1e-10, config.spec.describe()
    >>> test_proposition_1()
    """
    return configuration_specs(**options).map(lambda spec: spec.build(dtype=dtype))
