"""Whether a training run can fit in memory: a lower bound, checked before anything is built.

A depth-``9n + 2`` pre-activation ResNet has ``3n`` bottleneck units (a Parareal ResNet has
the same units plus coarse networks). Training keeps three float32 copies of every
parameter of the units (weight, gradient, SGD momentum), and the forward pass keeps at least
every unit's output per image for the backward pass; both are counted from the unit shapes
by the one ResNet memory model, ``parareal_toolkit.plans.memory.trunk_memory``. So
training needs at least::

    4 bytes * (3 * P  +  b * O)

with ``P`` the units' parameters, ``O`` their output floats per image and ``b`` images per
process and batch. For ResNet-1001 (``P = 10,324,192``, ``O = 12,730,368``) in batches of
128 that is 6.6 GB (the batch-norm and ReLU outputs kept inside the units add several times
more; the bound leaves them out). A request whose lower bound
exceeds the device's memory cannot run (it would fail after minutes of building, or
swap): :func:`check_memory` refuses it up front, with the estimate and a way out.
"""

from __future__ import annotations

import contextlib
import os

import torch

from ..errors import InputError
from ..plans.memory import trunk_memory

__all__ = ["training_memory_lower_bound", "device_memory", "check_memory"]

_FLOAT_BYTES = 4


def training_memory_lower_bound(depth: int, images_per_batch: int) -> dict[str, int]:
    """A lower bound on the bytes one process needs to train ResNet-``depth`` on ``images_per_batch``.

    Parameters
    ----------
    depth : int
        ``9n + 2`` (validated).
    images_per_batch : int
        Images in one process's batch.

    Returns
    -------
    dict
        ``units`` (``3n``), ``state`` (bytes of weights, gradients and momentum),
        ``activations`` (bytes kept for the backward pass) and ``total`` (their sum).
    """
    trunk = trunk_memory(depth)
    state = 3 * _FLOAT_BYTES * trunk.parameters
    activations = _FLOAT_BYTES * images_per_batch * trunk.outputs_per_image
    return {"units": trunk.units, "state": state, "activations": activations, "total": state + activations}


def device_memory(device: torch.device) -> tuple[int | None, str]:
    """The memory of ``device``: a CUDA device's total, or the machine's RAM (or its cgroup limit).

    Returns
    -------
    tuple
        ``(bytes or None when unknown, a description such as "the CPU (RAM)")``.
    """
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return int(torch.cuda.get_device_properties(index).total_memory), f"cuda:{index}"
    limits = []
    with contextlib.suppress(AttributeError, ValueError, OSError):
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            text = f.read().strip()
        if text.isdigit():
            limits.append(int(text))
    except OSError:
        pass
    return (min(limits) if limits else None), "this machine's RAM"


def check_memory(depth: int, images_per_batch: int, device: torch.device, *, devices: int = 1) -> None:
    """Refuse, with ``ValueError``, a run whose memory lower bound exceeds the device's memory.

    With the network spread over ``devices`` devices like ``device`` (slice placement), the
    fullest of them holds at least ``1/devices`` of the whole, so that share is compared
    (still a lower bound). The message gives the estimate, the device's memory and the
    options that shrink it.

    Returns
    -------
    None
    """
    need = training_memory_lower_bound(depth, images_per_batch)
    have, where = device_memory(device)
    share = need["total"] / devices
    if have is not None and share > have:
        spread = f", over {devices} devices at least {_gib(int(share))} on one," if devices > 1 else ""
        raise InputError(
            f"training depth {depth} ({need['units']:,} residual units) in batches of {images_per_batch} images "
            f"per process needs at least {_gib(need['total'])} (weights, gradients and momentum "
            f"{_gib(need['state'])}, activations {_gib(need['activations'])}){spread} but {where} has "
            f"{_gib(have)}; choose a smaller --depth or --batch-size."
        )


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"
