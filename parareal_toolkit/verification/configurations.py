"""Random parareal-network configurations: the objects Proposition 1 is checked on.

A :class:`ConfigurationSpec` is plain, JSON-able data (kind of layer, width, split into
subnetworks, block type, biases, BatchNorm, preprocessing, coarse networks, iterations,
form, seed); ``ConfigurationSpec.build()`` turns it deterministically into a
:class:`PararealConfiguration`: the sequential network ``f``, the parareal network ``f~``
built from *the same modules* (so parameters and gradients can be compared one to one) and
an input batch. Both are in evaluation mode. The hypothesis strategies of
:mod:`parareal_toolkit.testing.nn` and the ``parareal verify`` command draw specs and build
them here, so a failing example is reproduced from its spec alone.

Choices, and what the theory says about them (``j >= 2`` for preprocessing, ``j >= 1`` for
coarse networks):

``block``
    ``"linear"`` (one layer), ``"relu"`` / ``"tanh"`` (layer, activation), ``"residual"``
    (``u + L(relu(L u))``). Only ``"linear"`` without bias or BatchNorm is linear.
``preprocessing`` (``C^j``)
    ``"random"`` (an independent random layer), ``"nonlinear"`` (a random dense map of the
    flattened input with bias and tanh), ``"copy"`` (``C^1``), ``"zero"`` (maps to zero),
    ``"exact"`` (the perfect guess ``g^{j-1} ∘ ... ∘ g^1 ∘ C^1``, copied).
``coarse`` (``F^j``)
    ``"exact"`` (a deep copy of ``g^{j+1}``), ``"tied"`` (``g^{j+1}`` itself, shared weights),
    ``"zero_preserving"`` (a random bias-free layer and tanh: ``F(0) = 0``), ``"offset"``
    (``g^{j+1}`` copied, plus a constant: ``F(u) = g^{j+1}(u) + c_j``, ``F(0) != 0``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..errors import InputError
from ..nn.conversion import split_blocks
from ..nn.linear import KINDS, linear_layer, random_input, randomize_, state_shape
from ..nn.network import PararealNetwork

__all__ = [
    "BLOCKS",
    "PREPROCESSINGS",
    "COARSE",
    "ConfigurationSpec",
    "PararealConfiguration",
    "Residual",
    "Offset",
    "RandomMap",
    "random_block",
]

BLOCKS = ("linear", "relu", "tanh", "residual")
PREPROCESSINGS = ("random", "nonlinear", "copy", "zero", "exact")
COARSE = ("exact", "tied", "zero_preserving", "offset")


class Residual(nn.Module):
    """``u + body(u)``."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, u):
        """``u + body(u)``."""
        return u + self.body(u)


class Offset(nn.Module):
    """``u + c`` with a learnable constant ``c`` of shape ``shape`` (broadcast over the batch)."""

    def __init__(self, shape: tuple[int, ...], *, dtype=torch.float64):
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(shape, dtype=dtype))

    def forward(self, u):
        """``u + c``."""
        return u + self.offset


class RandomMap(nn.Module):
    """A dense map of the flattened sample, reshaped: ``(B, *input_shape) -> (B, *output_shape)``.

    ``tanh(W vec(x) + b)`` scaled by a second random matrix when ``nonlinear``, else
    ``W vec(x)``. Any preprocessing works in Proposition 1; this one fits any pair of shapes.
    """

    def __init__(self, input_shape, output_shape, *, nonlinear: bool, generator: torch.Generator, dtype=torch.float64):
        super().__init__()
        n_in, n_out = math.prod(input_shape), math.prod(output_shape)
        layers: list[nn.Module] = [nn.Flatten(1), nn.Linear(n_in, n_out, bias=nonlinear, dtype=dtype)]
        if nonlinear:
            layers += [nn.Tanh(), nn.Linear(n_out, n_out, bias=False, dtype=dtype)]
        layers.append(nn.Unflatten(1, tuple(output_shape)))
        self.map = randomize_(nn.Sequential(*layers), generator)
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(output_shape)

    def forward(self, x):
        """The map of each sample, ``(B, *input_shape) -> (B, *output_shape)``."""
        return self.map(x)


def _batchnorm(kind: str, width: int, generator, dtype) -> nn.Module:
    norm = nn.BatchNorm1d(width, dtype=dtype) if kind == "dense" else nn.BatchNorm2d(width, dtype=dtype)
    return randomize_(norm, generator)


def random_block(
    kind: str,
    width: int,
    block: str,
    *,
    bias: bool = False,
    batchnorm: bool = False,
    generator: torch.Generator,
    dtype=torch.float64,
) -> nn.Module:
    """One random block ``width -> width`` of type ``block`` (see the module docstring).

    Parameters
    ----------
    kind : {"dense", "conv1x1", "conv3x3"}
        The layer type.
    width : int
        Features or channels of the state.
    block : {"linear", "relu", "tanh", "residual"}
        The block type (one of :data:`BLOCKS`).
    bias, batchnorm : bool, keyword-only
        Biases in the layers; a BatchNorm (random statistics) after the first layer.
    generator : torch.Generator, keyword-only
        The source of every weight.
    dtype : torch.dtype, keyword-only
        Parameter dtype (default float64).

    Returns
    -------
    torch.nn.Module
        Linear (additive) exactly when ``block="linear"`` without bias or BatchNorm.
    """
    if block not in BLOCKS:
        raise InputError(f"`block` must be one of {BLOCKS}; got {block!r}.")

    def layer():
        return linear_layer(kind, width, width, bias=bias, dtype=dtype, generator=generator)

    layers = [layer()]
    if batchnorm:
        layers.append(_batchnorm(kind, width, generator, dtype))
    if block == "relu":
        layers.append(nn.ReLU())
    elif block == "tanh":
        layers.append(nn.Tanh())
    elif block == "residual":
        return Residual(nn.Sequential(*layers, nn.ReLU(), layer()))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class ConfigurationSpec:
    """Everything that determines one random configuration (see the module docstring).

    ``sizes`` is the number of blocks in each subnetwork, so ``N = len(sizes)``; inputs are
    ``(batch_size, in_channels)`` for ``kind="dense"`` and ``(batch_size, in_channels,
    image_size, image_size)`` for convolutions.
    """

    kind: str = "dense"
    width: int = 3
    sizes: tuple[int, ...] = (1, 1)
    block: str = "linear"
    bias: bool = False
    batchnorm: bool = False
    preprocessing: str = "random"
    coarse: str = "exact"
    iterations: int = 1
    form: str = "correction"
    seed: int = 0
    batch_size: int = 2
    in_channels: int = 2
    out_features: int = 2
    image_size: int = 3

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        for name, value, allowed in (
            ("kind", self.kind, KINDS),
            ("block", self.block, BLOCKS),
            ("preprocessing", self.preprocessing, PREPROCESSINGS),
            ("coarse", self.coarse, COARSE),
        ):
            if value not in allowed:
                raise InputError(f"`{name}` must be one of {allowed}; got {value!r}.")
        if not self.sizes or min(self.sizes) < 1:
            raise InputError(f"`sizes` must be a non-empty tuple of positive integers; got {self.sizes!r}.")

    @property
    def num_subnetworks(self) -> int:
        """``N = len(sizes)``."""
        return len(self.sizes)

    def describe(self) -> str:
        """A one-line summary, e.g. ``dense w=3 N=2 split=2+1 linear C=random F=exact K=1``.

        Returns
        -------
        str
            The summary, ending with the seed.
        """
        extras = "".join((" +bias" if self.bias else "", " +BN" if self.batchnorm else ""))
        form = "" if self.form == "correction" else f" {self.form}"
        return (
            f"{self.kind} w={self.width} N={self.num_subnetworks} split={'+'.join(map(str, self.sizes))} "
            f"{self.block}{extras} C={self.preprocessing} F={self.coarse} K={self.iterations}{form} seed={self.seed}"
        )

    def to_dict(self) -> dict:
        """The spec as JSON-able data.

        Returns
        -------
        dict
            ``ConfigurationSpec(**spec.to_dict())`` rebuilds the spec (``sizes`` as a list).
        """
        d = asdict(self)
        d["sizes"] = list(self.sizes)
        return d

    def build(self, *, dtype: torch.dtype = torch.float64) -> PararealConfiguration:
        """The networks and input this spec describes (deterministic in ``seed``).

        Parameters
        ----------
        dtype : torch.dtype, keyword-only
            Parameter and input dtype (default float64).

        Returns
        -------
        PararealConfiguration
            ``f`` and ``f~`` sharing their modules, in evaluation mode, and the input batch.
        """
        g = torch.Generator().manual_seed(self.seed)
        kind, width = self.kind, self.width
        preprocess = linear_layer(kind, self.in_channels, width, bias=self.bias, dtype=dtype, generator=g)
        blocks = [
            random_block(kind, width, self.block, bias=self.bias, batchnorm=self.batchnorm, generator=g, dtype=dtype)
            for _ in range(sum(self.sizes))
        ]
        head = linear_layer("dense", width, self.out_features, bias=self.bias, dtype=dtype, generator=g)
        postprocess = head if kind == "dense" else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
        subnetworks = split_blocks(blocks, self.sizes)
        sequential = nn.Sequential(preprocess, *subnetworks, postprocess)

        in_shape = state_shape(kind, self.in_channels, self.image_size)
        out_shape = state_shape(kind, width, self.image_size)
        guesses = []
        guess: nn.Module
        for j in range(2, self.num_subnetworks + 1):
            if self.preprocessing == "random":
                guess = linear_layer(kind, self.in_channels, width, dtype=dtype, generator=g)
            elif self.preprocessing == "nonlinear":
                guess = RandomMap(in_shape, out_shape, nonlinear=True, generator=g, dtype=dtype)
            elif self.preprocessing == "copy":
                guess = copy.deepcopy(preprocess)
            elif self.preprocessing == "zero":
                guess = linear_layer(kind, self.in_channels, width, dtype=dtype)
                with torch.no_grad():
                    guess.weight.zero_()
            else:  # exact: the sequential state at the start of g^j
                guess = copy.deepcopy(nn.Sequential(preprocess, *subnetworks[: j - 1]))
            guesses.append(guess)

        coarse = []
        for target in subnetworks[1:]:
            if self.coarse == "exact":
                coarse.append(copy.deepcopy(target))
            elif self.coarse == "tied":
                coarse.append(target)
            elif self.coarse == "zero_preserving":
                coarse.append(nn.Sequential(linear_layer(kind, width, width, dtype=dtype, generator=g), nn.Tanh()))
            else:  # offset
                shift = Offset((width,) if kind == "dense" else (width, 1, 1), dtype=dtype)
                with torch.no_grad():
                    shift.offset.copy_(0.5 * torch.randn(shift.offset.shape, generator=g, dtype=torch.float64))
                coarse.append(nn.Sequential(copy.deepcopy(target), shift))

        network = PararealNetwork(
            [preprocess, *guesses], subnetworks, coarse, postprocess, iterations=self.iterations, form=self.form
        )
        sequential.eval()
        network.eval()
        inputs = random_input(
            kind,
            batch_size=self.batch_size,
            in_channels=self.in_channels,
            image_size=self.image_size,
            dtype=dtype,
            generator=g,
        )
        return PararealConfiguration(self, sequential, network, inputs)


@dataclass
class PararealConfiguration:
    """A sequential network ``f``, its parareal network ``f~`` (same modules) and an input batch."""

    spec: ConfigurationSpec
    sequential: nn.Sequential
    network: PararealNetwork
    inputs: torch.Tensor = field(repr=False)

    @torch.no_grad()
    def gap(self) -> tuple[float, float]:
        """``(max |f~(x) - f(x)|, relative gap)`` on :attr:`inputs`.

        The relative gap divides by ``max(max |f(x)|, max |f~(x)|)``, so it is at most 2 and
        stays finite when ``f(x) = 0`` (a ReLU network can output zeros); exact equality gives 0.

        Returns
        -------
        tuple of float
            ``(absolute, relative)`` gaps.

        Raises
        ------
        ValueError
            When ``f~`` and ``f`` return different shapes.

        Examples
        --------
        >>> from parareal_toolkit.verification.configurations import ConfigurationSpec
        >>> absolute, relative = ConfigurationSpec(sizes=(2, 1, 1), preprocessing="random").build().gap()
        >>> relative < 1e-14  # Proposition 1: linear blocks, F^j = g^{j+1}
        True
        >>> ConfigurationSpec(sizes=(1, 1), block="relu").build().gap()[1] > 1e-3
        True
        """
        f = self.sequential(self.inputs)
        f_tilde = self.network(self.inputs)
        if f_tilde.shape != f.shape:
            raise InputError(f"f~ has shape {tuple(f_tilde.shape)} but f has shape {tuple(f.shape)}.")
        absolute = float((f_tilde - f).abs().max())
        scale = max(float(f.abs().max()), float(f_tilde.abs().max()))
        return absolute, (absolute / scale if scale > 0 else 0.0)
