r"""Hypothesis strategies for property tests of parareal, for ODEs and networks (needs ``hypothesis``).

These are the strategies the toolkit's own tests use to prove Proposition 1 and to find
where it stops holding; they are public so that you can property-test your own networks::

    from hypothesis import given
    from parareal_toolkit.testing import parareal_configurations

    @given(parareal_configurations(blocks="linear", coarse="exact"))
    def test_proposition_1(config):
        absolute, relative = config.gap()   # max |f~(x) - f(x)| and that / max |f(x)|
        assert relative <= 1e-10

Every random weight comes from a ``torch.Generator`` seeded by a drawn integer, so examples
are reproducible and hypothesis shrinks the structure (kind, width, split, N, ...) while the
seed picks the numbers. Everything is float64 by default, where exactness claims are tested.
Each option accepts a value, a sequence of values to sample from, or a strategy.

Strategies
----------
:func:`splits`
    Contiguous splits of ``B`` blocks into ``N`` subnetworks (tuples of positive sizes).
:func:`linear_networks`
    Random bias-free linear networks ``nn.Sequential(C, b_1..b_B, h)``, dense or conv.
:func:`preprocessings`
    Random preprocessing modules ``C^2..C^N`` mapping an input shape to a state shape.
:func:`configuration_specs` / :func:`parareal_configurations`
    Random :class:`~parareal_toolkit.nn.ConfigurationSpec` / built
    :class:`~parareal_toolkit.nn.PararealConfiguration` (sequential network, parareal
    network sharing its modules, input batch).

For linear ODEs ``u' = A u`` (float64 numpy):

:func:`symmetric_stable_matrices` / :func:`nonnormal_stable_matrices` / :func:`stable_matrices`
    Random stable ``A``: symmetric negative definite, or with a negative definite symmetric
    part and a large skew part (non-normal).
:func:`time_grids`
    Uniform or random non-uniform :class:`~parareal_toolkit.TimeGrid` partitions.
:func:`linear_problems`
    ``(LinearODE, TimeGrid, u0)`` triples, e.g. to check that ``N`` iterations reproduce
    the fine solution for your own propagators::

        @given(linear_problems())
        def test_exact_after_n_iterations(problem):
            ode, grid, u0 = problem
            ...
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from hypothesis import strategies as st

from .ode.linear import LinearODE
from .propagator import TimeGrid

from .nn.configurations import BLOCKS, COARSE, PREPROCESSINGS, ConfigurationSpec, RandomMap
from .nn.linear import KINDS, linear_network

__all__ = [
    "seeds",
    "splits",
    "linear_networks",
    "preprocessings",
    "configuration_specs",
    "parareal_configurations",
    "symmetric_stable_matrices",
    "nonnormal_stable_matrices",
    "stable_matrices",
    "time_grids",
    "linear_problems",
]


def _strategy(value, name: str) -> st.SearchStrategy:
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        if len(value) == 0:
            raise ValueError(f"`{name}` must not be an empty sequence.")
        return st.sampled_from(list(value))
    return st.just(value)


def seeds() -> st.SearchStrategy[int]:
    """Seeds for the ``torch.Generator`` that draws weights and inputs."""
    return st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def splits(draw, num_blocks, *, num_subnetworks=None) -> tuple[int, ...]:
    """A split of ``num_blocks`` blocks into ``num_subnetworks`` contiguous non-empty groups.

    Returns the group sizes (positive, adding up to ``num_blocks``). ``num_subnetworks``
    defaults to any ``N`` in ``1..num_blocks``; both arguments accept strategies.
    """
    b = draw(_strategy(num_blocks, "num_blocks"))
    if b < 1:
        raise ValueError(f"`num_blocks` must be at least 1; got {b}.")
    n_strategy = st.integers(1, b) if num_subnetworks is None else _strategy(num_subnetworks, "num_subnetworks")
    n = draw(n_strategy)
    if not 1 <= n <= b:
        raise ValueError(f"`num_subnetworks` must be between 1 and num_blocks = {b}; got {n}.")
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
    :func:`parareal_toolkit.nn.random_input`.
    """
    kind = draw(_strategy(kinds, "kinds"))
    c_in = draw(_strategy(in_channels, "in_channels"))
    model = linear_network(
        kind,
        num_blocks=draw(_strategy(num_blocks, "num_blocks")),
        width=draw(_strategy(widths, "widths")),
        in_channels=c_in,
        out_features=draw(_strategy(out_features, "out_features")),
        layers_per_block=draw(_strategy(layers_per_block, "layers_per_block")),
        bias=draw(_strategy(bias, "bias")),
        dtype=dtype,
        generator=torch.Generator().manual_seed(draw(seeds())),
    )
    model.kind = kind
    model.in_channels = c_in
    return model


@st.composite
def preprocessings(draw, input_shape, output_shape, count, *, nonlinear=st.booleans(), dtype=torch.float64):
    """``count`` random preprocessing modules, each mapping ``(B, *input_shape)`` to ``(B, *output_shape)``.

    Each is a :class:`~parareal_toolkit.nn.RandomMap` (a random dense map of the flattened
    sample, with bias and tanh when ``nonlinear``). Proposition 1 holds for any of them.
    """
    count = draw(_strategy(count, "count"))
    modules = []
    for _ in range(count):
        generator = torch.Generator().manual_seed(draw(seeds()))
        modules.append(
            RandomMap(
                tuple(input_shape), tuple(output_shape),
                nonlinear=draw(_strategy(nonlinear, "nonlinear")), generator=generator, dtype=dtype,
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
    """Random :class:`~parareal_toolkit.nn.ConfigurationSpec` (see that class for the choices).

    ``N`` is drawn from ``num_subnetworks``, the number of blocks from ``N..max(N, max_blocks)``
    and the split from :func:`splits`. ``iterations=None`` means ``iterations = N``.
    Choices are validated against ``KINDS``, ``BLOCKS``, ``PREPROCESSINGS`` and ``COARSE``.
    """
    for name, value, allowed in (("kinds", kinds, KINDS), ("blocks", blocks, BLOCKS),
                                 ("preprocessing", preprocessing, PREPROCESSINGS), ("coarse", coarse, COARSE)):
        if isinstance(value, st.SearchStrategy):
            continue
        values = [value] if isinstance(value, str) else list(value)
        bad = [v for v in values if v not in allowed]
        if bad:
            raise ValueError(f"`{name}` must be drawn from {allowed}; got {value!r}.")
    n = draw(_strategy(num_subnetworks, "num_subnetworks"))
    total = draw(st.integers(n, max(n, max_blocks)))
    sizes = draw(splits(total, num_subnetworks=n))
    k = draw(_strategy(iterations, "iterations"))
    return ConfigurationSpec(
        kind=draw(_strategy(kinds, "kinds")),
        width=draw(_strategy(widths, "widths")),
        sizes=sizes,
        block=draw(_strategy(blocks, "blocks")),
        bias=draw(_strategy(bias, "bias")),
        batchnorm=draw(_strategy(batchnorm, "batchnorm")),
        preprocessing=draw(_strategy(preprocessing, "preprocessing")),
        coarse=draw(_strategy(coarse, "coarse")),
        iterations=n if k is None else k,
        form=draw(_strategy(form, "form")),
        batch_size=draw(_strategy(batch_size, "batch_size")),
        in_channels=draw(_strategy(in_channels, "in_channels")),
        image_size=draw(_strategy(image_size, "image_size")),
        seed=draw(seeds()),
    )


def parareal_configurations(*, dtype: torch.dtype = torch.float64, **options) -> st.SearchStrategy:
    """Random built :class:`~parareal_toolkit.nn.PararealConfiguration` (float64 by default).

    ``options`` are those of :func:`configuration_specs`; the spec is available as
    ``config.spec`` (its :meth:`~parareal_toolkit.nn.ConfigurationSpec.describe` is a
    one-line summary, handy with ``hypothesis.note``).
    """
    return configuration_specs(**options).map(lambda spec: spec.build(dtype=dtype))


# --- linear ODEs ---------------------------------------------------------------------


@st.composite
def symmetric_stable_matrices(draw, *, min_size: int = 1, max_size: int = 6, max_rate: float = 50.0) -> np.ndarray:
    """Symmetric negative definite ``A = Q diag(λ) Q^T``, ``λ`` in ``[-max_rate, -0.01]`` (normal)."""
    m = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(seeds()))
    eigenvalues = -np.array(draw(st.lists(st.floats(0.01, max_rate), min_size=m, max_size=m)))
    Q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    A = Q @ np.diag(eigenvalues) @ Q.T
    return (A + A.T) / 2


@st.composite
def nonnormal_stable_matrices(draw, *, min_size: int = 2, max_size: int = 6) -> np.ndarray:
    """``A = -(M M^T + c I) + (K - K^T)``: a negative definite symmetric part makes it stable, the skew part non-normal."""
    m = draw(st.integers(min_size, max_size))
    rng = np.random.default_rng(draw(seeds()))
    M = rng.standard_normal((m, m))
    K = 3.0 * rng.standard_normal((m, m))
    c = draw(st.floats(0.1, 5.0))
    return -(M @ M.T + c * np.eye(m)) + (K - K.T)


def stable_matrices(*, max_size: int = 6) -> st.SearchStrategy[np.ndarray]:
    """Either kind of random stable matrix."""
    return st.one_of(symmetric_stable_matrices(max_size=max_size), nonnormal_stable_matrices(max_size=max_size))


@st.composite
def time_grids(draw, *, min_slices: int = 1, max_slices: int = 8, uniform: bool | None = None) -> TimeGrid:
    """Uniform or random non-uniform partitions of ``[0, T]`` (``uniform=None``: either)."""
    n = draw(st.integers(min_slices, max_slices))
    is_uniform = draw(st.booleans()) if uniform is None else uniform
    if is_uniform:
        return TimeGrid.uniform(draw(st.floats(0.05, 2.0)), n)
    steps = draw(st.lists(st.floats(0.01, 0.5), min_size=n, max_size=n))
    return TimeGrid(np.concatenate([[0.0], np.cumsum(steps)]))


@st.composite
def linear_problems(draw, *, matrices: st.SearchStrategy | None = None, grids: st.SearchStrategy | None = None):
    """``(ode, grid, u0)``: a random stable :class:`~parareal_toolkit.ode.LinearODE`, grid and ``u0``."""
    A = draw(matrices if matrices is not None else stable_matrices())
    grid = draw(grids if grids is not None else time_grids())
    rng = np.random.default_rng(draw(seeds()))
    return LinearODE(A), grid, rng.standard_normal(A.shape[0])
