"""Pre-activation bottleneck ResNets for CIFAR (He et al. 2016), ResNet-1001 included.

Facts pinned by the tests:

* depth ``9n + 2`` gives ``3n`` bottleneck residual units (RUs) in three stages of widths
  16/64, 32/128, 64/256 (bottleneck/output channels) at 32x32, 16x16 and 8x8;
* ResNet-1001 (``n = 111``, 333 RUs) has **10,327,706** trainable parameters for 10
  classes, **10,178,490** without BatchNorm (``norm_layer=lambda c: nn.Identity()``):
  convolutions carry no bias, the classifier does.

Layout. He et al.'s two published codes differ only in where the stride of a stage's
first unit sits: on its 3x3 convolution (the common PyTorch ports, torchvision's "v1.5"
convention) or on its first 1x1 convolution (He et al.'s Torch ``resnet-pre-act.lua``).
Both share one BN-ReLU between the residual branch and the projection shortcut of a unit
that changes shape, and both have the same parameter count. **We put the stride on the
3x3 convolution**, which keeps every pixel in the downsampling unit's receptive field.

The trunk is exposed as the flat list :attr:`PreActResNet.units` so that a parareal
ResNet can cut it into contiguous subnetworks (see ``parareal_resnet``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .._validation import check_int
from ..errors import InputError

__all__ = [
    "PreActBottleneck",
    "PreActResNet",
    "UnitSpec",
    "preact_resnet",
    "resnet1001",
    "resnet_unit_specs",
    "STAGE_WIDTHS",
    "STEM_CHANNELS",
]

STEM_CHANNELS = 16
STAGE_WIDTHS = (16, 32, 64)  # bottleneck widths; the output is 4x wider
_STAGE_STRIDES = (1, 2, 2)

NormLayer = Callable[[int], nn.Module]


@dataclass(frozen=True)
class UnitSpec:
    """Shape of one residual unit: ``in_channels -> out_channels`` with ``stride``.

    ``resolution`` is the input's side length for a 32x32 image.
    """

    in_channels: int
    out_channels: int
    stride: int
    resolution: int

    @property
    def changes_shape(self) -> bool:
        """Whether the unit changes channels or resolution (then it has a projection shortcut)."""
        return self.in_channels != self.out_channels or self.stride != 1

    @property
    def out_resolution(self) -> int:
        """The output's side length, ``resolution // stride``."""
        return self.resolution // self.stride

    def build(self, norm_layer: NormLayer | None) -> PreActBottleneck:
        """A freshly initialised unit of this shape.

        Returns
        -------
        PreActBottleneck
            With ``norm_layer`` (``None``: ``nn.BatchNorm2d``).
        """
        return PreActBottleneck(
            self.in_channels, self.out_channels // PreActBottleneck.expansion, self.stride, norm_layer=norm_layer
        )


def _check_depth(depth) -> int:
    depth = check_int(depth, "depth")
    if depth < 11 or (depth - 2) % 9:
        raise InputError(f"`depth` must be 9n + 2 with n >= 1 (11, 20, 29, ..., 1001); got {depth}.")
    return (depth - 2) // 9


def resnet_unit_specs(depth: int = 1001, *, image_size: int = 32) -> list[UnitSpec]:
    """The ``3n`` residual units of a depth-``9n + 2`` pre-activation ResNet, in order.

    Parameters
    ----------
    depth : int
        ``9n + 2`` with ``n >= 1`` (11, 20, 29, ..., 1001).
    image_size : int, keyword-only
        Side length of the input images (default 32).

    Returns
    -------
    list of UnitSpec
        ``3n`` shapes; the first unit of each stage changes the shape.

    Examples
    --------
    >>> from parareal_toolkit.nn import resnet_unit_specs
    >>> [(s.in_channels, s.out_channels, s.stride) for s in resnet_unit_specs(20) if s.changes_shape]
    [(16, 64, 1), (64, 128, 2), (128, 256, 2)]
    """
    n = _check_depth(depth)
    specs = []
    in_channels, resolution = STEM_CHANNELS, image_size
    for width, stage_stride in zip(STAGE_WIDTHS, _STAGE_STRIDES):
        out_channels = width * PreActBottleneck.expansion
        for i in range(n):
            stride = stage_stride if i == 0 else 1
            specs.append(UnitSpec(in_channels, out_channels, stride, resolution))
            in_channels, resolution = out_channels, resolution // stride
    return specs


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck RU: ``x + W3 σB(W2 σB(W1 σB(x)))`` (σB = BN then ReLU).

    A unit that changes the shape (channels or stride) uses a 1x1 projection shortcut on
    the shared pre-activation ``σB(x)``; every other unit has the identity shortcut. The
    stride sits on the 3x3 convolution.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, *, norm_layer: NormLayer | None = None):
        super().__init__()
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        out_channels = width * self.expansion
        self.bn1 = norm_layer(in_channels)
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn2 = norm_layer(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn3 = norm_layer(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + W3 σB(W2 σB(W1 σB(x)))`` (projection shortcut where the shape changes).

        Returns
        -------
        torch.Tensor
            Of shape ``(B, out_channels, H / stride, W / stride)``.
        """
        normalised = self.bn1(x)
        # Without normalisation (norm_layer -> Identity) bn1 returns x itself: an in-place ReLU
        # would overwrite the identity shortcut's input (and a caller's tensor).
        out = self.relu(normalised) if normalised is not x else torch.relu(normalised)
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + shortcut


def postprocessing(in_channels: int, num_classes: int, *, norm_layer: NormLayer | None = None) -> nn.Sequential:
    """``h``: BN-ReLU, global average pooling, fully connected classifier.

    Returns
    -------
    torch.nn.Sequential
        Maps ``(B, in_channels, H, W)`` to ``(B, num_classes)``.
    """
    norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
    return nn.Sequential(
        norm_layer(in_channels),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(1),
        nn.Linear(in_channels, num_classes),
    )


def stem() -> nn.Conv2d:
    """``C``: one 3x3 convolution from the RGB image to 16 channels (no BN: unit 1 pre-activates).

    Returns
    -------
    torch.nn.Conv2d
        Bias-free, same padding.
    """
    return nn.Conv2d(3, STEM_CHANNELS, 3, padding=1, bias=False)


def init_weights(module: nn.Module) -> None:
    """torchvision's initialisation: He-normal (fan-out) convolutions, unit BN, PyTorch's Linear default."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class PreActResNet(nn.Module):
    """Pre-activation bottleneck ResNet for 32x32 images: ``f = h ∘ g ∘ C``.

    ``stem`` is C, ``layer1..layer3`` the three stages of g (their units, flattened, are
    ``units``), ``head`` is h.
    """

    def __init__(self, depth: int = 1001, num_classes: int = 10, *, norm_layer: NormLayer | None = None):
        super().__init__()
        num_classes = check_int(num_classes, "num_classes", minimum=1)
        specs = resnet_unit_specs(depth)
        n = len(specs) // 3
        self.depth = depth
        self.num_classes = num_classes
        self.stem = stem()
        self.layer1 = nn.Sequential(*(s.build(norm_layer) for s in specs[:n]))
        self.layer2 = nn.Sequential(*(s.build(norm_layer) for s in specs[n : 2 * n]))
        self.layer3 = nn.Sequential(*(s.build(norm_layer) for s in specs[2 * n :]))
        self.head = postprocessing(specs[-1].out_channels, num_classes, norm_layer=norm_layer)
        init_weights(self)

    @property
    def units(self) -> list[PreActBottleneck]:
        """The ``3n`` residual units, in order (the time steps of g)."""
        return [*self.layer1, *self.layer2, *self.layer3]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``g(C(x))``: the trunk's output before postprocessing.

        Returns
        -------
        torch.Tensor
            Of shape ``(B, 256, 8, 8)`` for 32x32 inputs.
        """
        return self.layer3(self.layer2(self.layer1(self.stem(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``f(x) = h(g(C(x)))``.

        Returns
        -------
        torch.Tensor
            Logits of shape ``(B, num_classes)``.
        """
        return self.head(self.features(x))


def preact_resnet(depth: int = 1001, num_classes: int = 10, *, norm_layer: NormLayer | None = None) -> PreActResNet:
    """Pre-activation bottleneck ResNet-``depth`` for CIFAR (``depth = 9n + 2``).

    He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016.

    Parameters
    ----------
    depth : int
        ``9n + 2`` with ``n >= 1``: ``3n`` bottleneck units (default 1001, 333 units).
    num_classes : int
        Outputs of the classifier (default 10).
    norm_layer : callable, keyword-only, optional
        ``norm_layer(channels) -> nn.Module`` (default ``nn.BatchNorm2d``).

    Returns
    -------
    PreActResNet
        Initialised as torchvision does (He-normal convolutions), in training mode.

    Examples
    --------
    >>> import torch
    >>> from parareal_toolkit.nn import preact_resnet
    >>> model = preact_resnet(20).double().eval()
    >>> len(model.units), sum(p.numel() for p in model.parameters())
    (6, 219482)
    >>> model(torch.zeros(2, 3, 32, 32, dtype=torch.float64)).shape
    torch.Size([2, 10])
    """
    return PreActResNet(depth, num_classes, norm_layer=norm_layer)


def resnet1001(num_classes: int = 10, *, norm_layer: NormLayer | None = None) -> PreActResNet:
    """ResNet-1001 (333 bottleneck RUs; 10,327,706 parameters for 10 classes).

    He, Zhang, Ren, Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016.

    Parameters
    ----------
    num_classes : int
        Outputs of the classifier (default 10).
    norm_layer : callable, keyword-only, optional
        ``norm_layer(channels) -> nn.Module`` (default ``nn.BatchNorm2d``).

    Returns
    -------
    PreActResNet
        ``preact_resnet(1001, num_classes, norm_layer=norm_layer)``.
    """
    return PreActResNet(1001, num_classes, norm_layer=norm_layer)


def num_units(depth: int) -> int:
    """``3n`` for depth ``9n + 2``.

    Returns
    -------
    int
        The number of residual units.
    """
    return 3 * _check_depth(depth)


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for positive ints, without floating point.

    Returns
    -------
    int
        The smallest integer at least ``a / b``.
    """
    return -(-a // b)
