"""The network a training configuration names: a pre-activation ResNet or a parareal ResNet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from ..nn.parareal_resnets import parareal_resnet
from ..nn.resnet import preact_resnet
from .data import num_classes_of

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["build_model"]


def build_model(config: TrainConfig) -> nn.Module:
    """The network named by ``config``, initialised from the current torch generator.

    ``resnet``: :func:`~parareal_toolkit.nn.preact_resnet` of depth ``config.depth``;
    ``parareal-resnet``: :func:`~parareal_toolkit.nn.parareal_resnet` with
    ``config.subnetworks`` subnetworks, ``config.coarse_units`` units per coarse network and
    ``config.split`` (by unit count, or by counted multiply-adds).
    ``norm="none"`` replaces every BatchNorm by the identity. The number of classes is the
    dataset's.

    Returns
    -------
    torch.nn.Module
        The untrained network on the CPU.
    """
    norm_layer = None if config.norm == "batch" else (lambda channels: nn.Identity())
    num_classes = num_classes_of(config.dataset, config.data_dir)
    if config.model == "resnet":
        return preact_resnet(config.depth, num_classes, norm_layer=norm_layer)
    return parareal_resnet(
        config.depth,
        num_subnetworks=config.subnetworks,
        coarse_units=config.coarse_units,
        split=config.split,
        num_classes=num_classes,
        norm_layer=norm_layer,
    )
