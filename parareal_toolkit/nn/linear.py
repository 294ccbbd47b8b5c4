"""Linear networks for the theory: bias-free dense and 1x1 / 3x3 convolution layers.

A composition of bias-free ``nn.Linear`` / ``nn.Conv2d`` layers (and of average pooling) is
linear, so its parareal network with ``F^j = g^{j+1}``
(:meth:`PararealNetwork.with_exact_coarse`, or ``to_parareal(..., coarse_factory=exact_coarse)``)
equals it exactly for every preprocessing (Proposition 1, see ``parareal_toolkit.nn.network``).
With ``bias=True`` the same builders produce the affine counter-examples.

Random weights are drawn from an explicit ``torch.Generator`` and are well conditioned on
purpose (orthogonal channel mixing, plus small off-centre taps for 3x3 kernels): values stay
of order one through deep stacks, so a relative tolerance of 1e-10 in float64 measures the
algebra, not cancellation.
"""

from __future__ import annotations

import torch
from torch import nn

from .._resources import require_memory
from .._validation import check_choice, check_int

__all__ = ["KINDS", "linear_layer", "linear_network", "randomize_", "random_input", "state_shape"]

KINDS = ("dense", "conv1x1", "conv3x3")


def _orthogonal(rows: int, cols: int, generator: torch.Generator, dtype) -> torch.Tensor:
    m = max(rows, cols)
    q, r = torch.linalg.qr(torch.randn(m, m, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))  # Haar-distributed orthogonal matrix
    return q[:rows, :cols].to(dtype)


@torch.no_grad()
def randomize_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Overwrite the parameters (and BatchNorm statistics) of ``module``'s layers in place.

    Dense and 1x1 weights become orthogonal matrices, 3x3 kernels an orthogonal centre tap plus
    off-centre taps of size about 0.1, biases and BatchNorm affine parameters and running
    statistics independent random numbers (running variances in [0.5, 2]).

    Parameters
    ----------
    module : nn.Module
        Every ``nn.Linear``, ``nn.Conv2d`` and BatchNorm layer in it is overwritten.
    generator : torch.Generator
        The source of every random number (the global generator is not used).

    Returns
    -------
    torch.nn.Module
        ``module`` itself.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            w = layer.weight
            out_c, in_c = w.shape[0], w.shape[1]
            mixing = _orthogonal(out_c, in_c, generator, w.dtype)
            if w.dim() == 2:
                w.copy_(mixing)
            else:
                kernel = 0.1 * torch.randn(w.shape, generator=generator, dtype=torch.float64).to(w.dtype)
                kernel /= max(1, w.shape[2] * w.shape[3] - 1) ** 0.5
                kernel[:, :, w.shape[2] // 2, w.shape[3] // 2] = mixing
                w.copy_(kernel)
            if layer.bias is not None:
                layer.bias.copy_(0.5 * torch.randn(layer.bias.shape, generator=generator, dtype=torch.float64))
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            shape = (layer.num_features,)
            if layer.affine:
                assert layer.weight is not None and layer.bias is not None  # affine BatchNorm has both
                layer.weight.copy_(1 + 0.3 * torch.randn(shape, generator=generator, dtype=torch.float64))
                layer.bias.copy_(0.5 * torch.randn(shape, generator=generator, dtype=torch.float64))
            if layer.track_running_stats:
                assert layer.running_mean is not None and layer.running_var is not None  # tracked statistics
                layer.running_mean.copy_(0.5 * torch.randn(shape, generator=generator, dtype=torch.float64))
                layer.running_var.copy_(0.5 + 1.5 * torch.rand(shape, generator=generator, dtype=torch.float64))
    return module


def linear_layer(
    kind: str,
    in_channels: int,
    out_channels: int,
    *,
    bias: bool = False,
    dtype: torch.dtype | None = torch.float64,
    generator: torch.Generator | None = None,
) -> nn.Linear | nn.Conv2d:
    """One layer of a linear network: ``nn.Linear`` (``"dense"``) or a same-padding ``nn.Conv2d``.

    Bias-free by default (then exactly linear). With a ``generator`` the weights are random
    and well conditioned (see ``randomize_``); otherwise PyTorch's default initialisation.

    Parameters
    ----------
    kind : {"dense", "conv1x1", "conv3x3"}
        The layer type (one of :data:`KINDS`).
    in_channels, out_channels : int
        Features (dense) or channels (convolutions), at least 1.
    bias : bool, keyword-only
        Add a bias (then the layer is affine, not linear).
    dtype : torch.dtype, keyword-only
        Parameter dtype (default float64).
    generator : torch.Generator, keyword-only, optional
        Draw well-conditioned random weights from it.

    Returns
    -------
    torch.nn.Linear or torch.nn.Conv2d
        The layer; a convolution keeps the spatial size (same padding).
    """
    check_choice(kind, "kind", KINDS)
    in_channels = check_int(in_channels, "in_channels", minimum=1)
    out_channels = check_int(out_channels, "out_channels", minimum=1)
    layer: nn.Linear | nn.Conv2d
    if kind == "dense":
        layer = nn.Linear(in_channels, out_channels, bias=bias, dtype=dtype)
    else:
        size = 1 if kind == "conv1x1" else 3
        layer = nn.Conv2d(in_channels, out_channels, size, padding=size // 2, bias=bias, dtype=dtype)
    if generator is not None:
        randomize_(layer, generator)
    return layer


def state_shape(kind: str, width: int, image_size: int) -> tuple[int, ...]:
    """The shape of one sample's state between blocks: ``(width,)`` or ``(width, H, W)``.

    Returns
    -------
    tuple of int
        ``(width,)`` for ``kind="dense"``, ``(width, image_size, image_size)`` otherwise.
    """
    check_choice(kind, "kind", KINDS)
    return (width,) if kind == "dense" else (width, image_size, image_size)


def random_input(
    kind: str,
    *,
    batch_size: int,
    in_channels: int,
    image_size: int = 4,
    dtype: torch.dtype = torch.float64,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A standard-normal input batch: ``(B, in_channels)`` or ``(B, in_channels, H, W)``.

    Returns
    -------
    torch.Tensor
        Of shape ``(batch_size, *state_shape(kind, in_channels, image_size))``.
    """
    shape = (batch_size, *state_shape(kind, in_channels, image_size))
    return torch.randn(shape, generator=generator, dtype=dtype)


def linear_network(
    kind: str = "dense",
    *,
    num_blocks: int,
    width: int,
    in_channels: int,
    out_features: int,
    layers_per_block: int = 1,
    bias: bool = False,
    dtype: torch.dtype | None = torch.float64,
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """A linear network ``nn.Sequential(C, b_1, ..., b_B, h)`` ready for :func:`to_parareal`.

    ``C`` maps ``in_channels`` to ``width`` (a layer of ``kind``), each block ``b_i`` is
    ``layers_per_block`` layers ``width -> width``, and ``h`` is a dense layer to
    ``out_features`` (after global average pooling and flattening for convolutions). With
    ``bias=False`` (default) every child is linear.

    Parameters
    ----------
    kind : {"dense", "conv1x1", "conv3x3"}
        The layer type of ``C`` and the blocks.
    num_blocks : int, keyword-only
        ``B >= 1``.
    width : int, keyword-only
        Features or channels of the state between blocks.
    in_channels, out_features : int, keyword-only
        Input features/channels and output features.
    layers_per_block : int, keyword-only
        Layers in each block (default 1).
    bias, dtype, generator : keyword-only
        As in :func:`linear_layer`.

    Returns
    -------
    torch.nn.Sequential
        ``B + 2`` children: ``C``, the blocks (each an ``nn.Sequential``) and ``h``.

    Examples
    --------
    >>> import torch
    >>> from parareal_toolkit.nn import linear_network
    >>> model = linear_network(num_blocks=3, width=4, in_channels=2, out_features=1, generator=torch.Generator())
    >>> len(model), model(torch.zeros(5, 2, dtype=torch.float64)).shape
    (5, torch.Size([5, 1]))
    """
    check_choice(kind, "kind", KINDS)
    num_blocks = check_int(num_blocks, "num_blocks", minimum=1)
    width = check_int(width, "width", minimum=1)
    layers_per_block = check_int(layers_per_block, "layers_per_block", minimum=1)
    in_channels = check_int(in_channels, "in_channels", minimum=1)
    out_features = check_int(out_features, "out_features", minimum=1)
    # refuse before building what cannot fit: each layer's float64 weights (and its QR's
    # square temporary) plus the ~2 KiB a module object takes
    taps = 9 if kind == "conv3x3" else 1
    layers = num_blocks * layers_per_block
    require_memory(
        layers * (8.0 * taps * width**2 + 2048) + 16.0 * width**2 + 8.0 * taps * width * (in_channels + out_features),
        f"linear_network(num_blocks={num_blocks}, width={width}, layers_per_block={layers_per_block})",
    )

    def layer(i, o):
        return linear_layer(kind, i, o, bias=bias, dtype=dtype, generator=generator)

    preprocess = layer(in_channels, width)
    blocks = [nn.Sequential(*(layer(width, width) for _ in range(layers_per_block))) for _ in range(num_blocks)]
    head = linear_layer("dense", width, out_features, bias=bias, dtype=dtype, generator=generator)
    postprocess = head if kind == "dense" else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    return nn.Sequential(preprocess, *blocks, postprocess)
