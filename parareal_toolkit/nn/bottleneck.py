"""The pre-activation bottleneck residual unit of the CIFAR ResNets (He et al. 2016).

Its shape arithmetic (parameters, multiply-adds, where it sits in a ResNet) is torch-free in
``parareal_toolkit.plans.units``; this module only builds it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["PreActBottleneck", "NormLayer"]

NormLayer = Callable[[int], nn.Module]


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
