"""Timing without side effects: a network's state saved before and restored after.

Timing runs forward and backward passes, which fill ``.grad``, update BatchNorm running
statistics and ``num_batches_tracked``, and need training mode. None of that may leak into
the model a user hands over, so :func:`preserved_state` saves it and puts it back.
Parameters themselves are never updated (no optimiser step), so they need no saving.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["preserved_state"]


@contextlib.contextmanager
def preserved_state(network: nn.Module, *, train: bool) -> Iterator[None]:
    """Run the body with ``network`` in ``train`` mode and no gradients; restore everything after.

    Restored on exit (also after an exception): every parameter's ``.grad`` (the tensor
    object that was there, or ``None``), every buffer's values, every module's
    ``training`` flag.

    Returns
    -------
    contextlib.AbstractContextManager
        A context manager; the body sees ``.grad`` cleared on every parameter.
    """
    modes = [(module, module.training) for module in network.modules()]
    grads = [(parameter, parameter.grad) for parameter in network.parameters()]
    buffers = [(buffer, buffer.detach().clone()) for buffer in network.buffers()]
    for parameter, _ in grads:
        parameter.grad = None  # or backward would accumulate into the saved tensors in place
    network.train(train)
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        for parameter, grad in grads:
            parameter.grad = grad
        for module, mode in modes:
            module.training = mode
