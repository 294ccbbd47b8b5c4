"""The few SGD steps the layer-parallel tests train, in one process or on each torchrun rank."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def sgd_steps(
    network: nn.Module,
    data: torch.Tensor,
    targets: torch.Tensor,
    *,
    steps: int,
    momentum: float,
    after_backward: Callable[[nn.Module], None] | None = None,
) -> torch.optim.SGD:
    """``steps`` SGD steps (lr 0.05, weight decay 1e-4) in training mode on batches of 4; returns the optimiser.

    ``after_backward(network)`` runs between each backward pass and its step (a placement's
    gradient reduction).
    """
    network.train()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.05, momentum=momentum, weight_decay=1e-4)
    for step in range(steps):
        batch = slice(4 * step, 4 * step + 4)
        optimizer.zero_grad()
        nn.functional.cross_entropy(network(data[batch]), targets[batch]).backward()
        if after_backward is not None:
            after_backward(network)
        optimizer.step()
    return optimizer
