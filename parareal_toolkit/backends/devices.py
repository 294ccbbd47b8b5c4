"""Several devices in one process: slice ``j`` on device ``j`` (cycled), for networks.

CUDA kernel launches are asynchronous, so issuing slice after slice from one Python thread
lets the subnetworks run concurrently on their GPUs; autograd runs one backward thread per
device, so their backward passes overlap too, with no threads of our own. Results are copied
to the output device, where the driver's cheap sequential coarse sweep runs. On CPU devices
nothing overlaps, but the results are those of the serial backend (the tests check this).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..errors import InputError, InputTypeError
from ..propagator import Propagator

__all__ = ["DevicesBackend"]


class DevicesBackend:
    """Evaluate slice ``j`` on ``devices[j % len(devices)]`` and gather results on ``output_device``.

    Parameters
    ----------
    devices : sequence of str or torch.device, optional
        Default: every visible CUDA device, or the CPU when there is none.
    output_device : str or torch.device, optional
        Where results are gathered and the coarse sweep runs (default ``devices[0]``).

    :meth:`place` moves a network's modules where this backend evaluates them: the modules of
    slice ``j`` to :meth:`device` ``(j)``, the shared ones to the output device. The network
    says which modules those are (:meth:`~parareal_toolkit.nn.PararealNetwork.slice_modules`,
    :meth:`~parareal_toolkit.nn.PararealNetwork.shared_modules`); the backend knows only
    modules, slice numbers and devices.
    """

    name = "devices"

    def __init__(
        self, devices: Sequence[str | torch.device] | None = None, *, output_device: str | torch.device | None = None
    ):
        if devices is None:
            devices = [f"cuda:{i}" for i in range(torch.cuda.device_count())] or ["cpu"]
        if isinstance(devices, (str, torch.device)) or len(devices) == 0:
            raise InputError(f"`devices` must be a non-empty sequence of devices; got {devices!r}.")
        try:
            self.devices = [torch.device(d) for d in devices]
            self.output_device = torch.device(output_device) if output_device is not None else self.devices[0]
        except (RuntimeError, TypeError) as exc:
            raise InputError(f"`devices` must name torch devices; got {devices!r} ({exc}).") from None

    def device(self, j: int) -> torch.device:
        """The device that evaluates slice ``j``.

        Returns
        -------
        torch.device
            ``devices[j % len(devices)]``.
        """
        return self.devices[j % len(self.devices)]

    def place(self, network):
        """Move each module of slice ``j`` to :meth:`device` ``(j)`` and every shared module to the output device.

        Parameters
        ----------
        network : PararealNetwork
            The network to place (moved in place); any object with ``num_subnetworks``,
            ``slice_modules(j)`` and ``shared_modules()`` will do. For a
            :class:`~parareal_toolkit.nn.PararealNetwork`: ``C^j`` and ``g^j`` to device ``j``,
            the coarse networks and the postprocessing to the output device.

        Returns
        -------
        PararealNetwork
            ``network`` itself, for chaining.
        """
        for j in range(network.num_subnetworks):
            for module in network.slice_modules(j):
                module.to(self.device(j))
        for module in network.shared_modules():
            module.to(self.output_device)
        return network

    def map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """Evaluate slice ``j`` on :meth:`device` ``(j)``; every launch is issued before any result is gathered.

        Returns
        -------
        list of torch.Tensor
            One state per slice, on the output device.
        """
        if not all(isinstance(u, torch.Tensor) for u in states):
            raise InputTypeError(
                "the devices backend runs torch tensors; use 'batched', 'processes' or 'distributed' for numpy states."
            )
        # Launch everything first, gather afterwards, so that no device waits for another.
        outputs = [propagator(u.to(self.device(j), non_blocking=True), j) for u, j in zip(states, slices)]
        return [y.to(self.output_device, non_blocking=True) for y in outputs]

    def __repr__(self) -> str:
        return f"DevicesBackend(devices={[str(d) for d in self.devices]}, output_device={str(self.output_device)!r})"
