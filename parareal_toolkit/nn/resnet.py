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

import torch
from torch import nn

from .._resources import require_memory
from .._validation import check_int

# the unit shapes are torch-free arithmetic (parareal_toolkit.plans.units), re-exported here
from ..plans.units import STAGE_WIDTHS, STEM_CHANNELS, UnitSpec, resnet_unit_specs
from ..plans.units import ceil_div as ceil_div
from ..plans.units import num_units as num_units
from .bottleneck import NormLayer, PreActBottleneck

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
        # refuse before listing the units: each residual unit is a few modules (~16 KiB of
        # Python objects) plus its float32 weights
        units = num_units(depth)
        require_memory(units * 16384.0, f"preact_resnet(depth={depth}), {units} residual units")
        specs = resnet_unit_specs(depth)
        require_memory(4.0 * specs[-1].out_channels * num_classes, f"a ResNet head of {num_classes} classes")
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
