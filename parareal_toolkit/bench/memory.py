"""Activation memory of a parareal network, device by device: the bytes saved for backward.

A training step keeps, between its forward and its backward pass, the tensors autograd
saves (inputs of convolutions, BatchNorm statistics, ReLU outputs, ...). Their size, not
the weights', is what limits the batch on a device. :func:`saved_tensor_bytes` measures it
with :class:`torch.autograd.graph.saved_tensors_hooks`: every tensor packed for backward is
counted once by its storage (views and tensors saved twice share one), parameters excluded.
All of them stay alive until the backward pass, so the sum is the peak of saved tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .._validation import check_callable
from ..nn.network import PararealNetwork
from .isolation import preserved_state

__all__ = ["saved_tensor_bytes", "activation_bytes"]


def saved_tensor_bytes(forward: Callable[[], Any], *, exclude: nn.Module | None = None) -> int:
    """Bytes of the distinct storages autograd saves for backward while ``forward()`` runs.

    Parameters
    ----------
    forward : callable
        Runs a forward pass (with autograd recording).
    exclude : torch.nn.Module, keyword-only, optional
        A module whose parameters and buffers are not counted (they are weights, not
        activations).

    Returns
    -------
    int
        The bytes; 0 if nothing is saved (no gradient needed).

    Examples
    --------
    >>> import torch
    >>> from parareal_toolkit.bench.memory import saved_tensor_bytes
    >>> x = torch.ones(1000, requires_grad=True)
    >>> saved_tensor_bytes(lambda: (x * x).sum())  # x saved once for both factors, float32
    4000
    """
    check_callable(forward, "forward")
    skip = set()
    if exclude is not None:
        skip = {t.untyped_storage().data_ptr() for t in [*exclude.parameters(), *exclude.buffers()]}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = forward()
    del result
    return sum(storages.values())


def _to(module: nn.Module | torch.Tensor, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` on the device of ``module`` (or of a tensor): the ``devices`` backend spreads the parts."""
    if isinstance(module, torch.Tensor):
        return tensor.to(module.device)
    for parameter in module.parameters():
        return tensor.to(parameter.device)
    return tensor


def activation_bytes(network: PararealNetwork, x: torch.Tensor) -> dict[str, Any]:
    """Saved-for-backward bytes of each device of a parareal network for the batch ``x``.

    Device ``j`` runs ``C^j`` and ``g^j`` (the ``devices`` placement), so its activation
    memory is what ``g^j(C^j(x))`` saves in training mode; the coarse chain and ``h`` are
    reported apart. For ``N = 1`` device 1 holds the whole trunk: the sequential network's
    activation memory. BatchNorm statistics and the network's mode are restored afterwards.

    Returns
    -------
    dict
        ``devices`` (list of int, one per subnetwork), ``coarse`` (the chain's inputs
        ``z_j - x_{j+1}`` through every ``F^j``) and ``postprocess`` bytes.
    """

    def device_pass(pre: nn.Module, sub: nn.Module) -> Callable[[], torch.Tensor]:
        return lambda: sub(_to(sub, pre(_to(pre, x))))

    def coarse_pass(f: nn.Module, z: torch.Tensor, u: torch.Tensor) -> Callable[[], torch.Tensor]:
        return lambda: f(_to(f, z - _to(z, u)).requires_grad_(True))

    devices: list[int] = []
    with preserved_state(network, train=True):
        inputs = []
        for pre, sub in zip(network.preprocess, network.subnetworks):
            devices.append(saved_tensor_bytes(device_pass(pre, sub), exclude=network))
            with torch.no_grad():
                inputs.append(_to(sub, pre(_to(pre, x))))
        with torch.no_grad():
            outputs = [sub(u) for sub, u in zip(network.subnetworks, inputs)]
        coarse = 0
        for f, z, u in zip(network.coarse, outputs[:-1], inputs[1:]):
            coarse += saved_tensor_bytes(coarse_pass(f, z, u), exclude=network)
        last = _to(network.postprocess, outputs[-1]).requires_grad_(True)
        post = saved_tensor_bytes(lambda: network.postprocess(last), exclude=network)
    return {"devices": devices, "coarse": coarse, "postprocess": post}
