"""The network a training configuration names: a pre-activation ResNet (layer by layer or layer-parallel) or a parareal ResNet."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from torch import nn

from ..nn.layer_parallel import LayerParallelResNet
from ..nn.parareal_resnets import parareal_resnet
from ..nn.resnet import preact_resnet
from .data import num_classes_of

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["build_model", "layer_parallel_options", "serial_forward"]


def layer_parallel_options(config: TrainConfig) -> dict[str, Any]:
    """The :class:`~parareal_toolkit.nn.LayerParallelResNet` options of a ``layer_parallel="mgrit"`` run.

    An ``mgrit_*`` field left ``None`` takes its default: the exact count of iterations
    (forward and adjoint alike), 2 levels, coarsening 2, the adjoint backward.

    Returns
    -------
    dict
        ``iterations``, ``adjoint_iterations``, ``levels``, ``coarsening`` and ``backward``.

    Examples
    --------
    >>> from parareal_toolkit.training import TrainConfig
    >>> from parareal_toolkit.training.models import layer_parallel_options
    >>> layer_parallel_options(TrainConfig(layer_parallel="mgrit", mgrit_iterations=1, dataset="patterns"))
    {'iterations': 1, 'adjoint_iterations': 1, 'levels': 2, 'coarsening': 2, 'backward': 'adjoint'}
    """
    return {
        "iterations": config.mgrit_iterations,
        "adjoint_iterations": config.mgrit_iterations,
        "levels": 2 if config.mgrit_levels is None else config.mgrit_levels,
        "coarsening": 2 if config.mgrit_coarsening is None else config.mgrit_coarsening,
        "backward": "adjoint" if config.mgrit_backward is None else config.mgrit_backward,
    }


def build_model(config: TrainConfig, *, serial: bool = False) -> nn.Module:
    """The network named by ``config``, initialised from the current torch generator.

    ``resnet``: :func:`~parareal_toolkit.nn.preact_resnet` of depth ``config.depth``, or with
    ``layer_parallel="mgrit"`` the same network as a
    :class:`~parareal_toolkit.nn.LayerParallelResNet` with the ``mgrit_*`` options (the same
    parameters, drawn in the same order; ``serial=True`` builds the plain network, which is
    what its checkpoint holds and how it is evaluated);
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
    if config.model == "resnet" and config.layer_parallel == "mgrit" and not serial:
        return LayerParallelResNet(config.depth, num_classes, norm_layer=norm_layer, **layer_parallel_options(config))
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


def serial_forward(model: nn.Module) -> contextlib.AbstractContextManager[Any]:
    """A context in which ``model`` runs layer by layer: :meth:`LayerParallelResNet.serial
    <parareal_toolkit.nn.LayerParallelResNet.serial>` for a layer-parallel ResNet, nothing to change otherwise.

    The trainer evaluates, and recomputes the BatchNorm statistics, in it: the network
    its checkpoint holds.

    Returns
    -------
    contextlib.AbstractContextManager
        The context.
    """
    return model.serial() if isinstance(model, LayerParallelResNet) else contextlib.nullcontext()
