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

from .._validation import check_int
from ..errors import InputError
from ..plans.memory import trunk_memory

__all__ = ["training_memory_lower_bound", "device_memory", "check_memory", "estimate_training_seconds"]

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


def estimate_training_seconds(
    depth: int,
    *,
    images_per_batch: int,
    batches_per_epoch: int,
    test_images: int,
    epochs: int,
    eval_every: int = 1,
    device: str | torch.device = "cpu",
    threads: int | None = None,
    pilot_images: int = 2,
) -> dict[str, float]:
    """The seconds training ResNet-``depth`` takes here, from a pilot of each unit shape.

    The pilot times forward + backward of one residual unit of each of the six distinct
    shapes (:func:`~parareal_toolkit.bench.measure_unit_costs`, ``pilot_images`` images,
    one warm-up and one timed sample) on ``device`` with ``threads`` torch threads; the
    trunk's ``3n`` units times their per-image cost is one image's training step, a batch
    is ``images_per_batch`` of them, and evaluating a test image costs a third of it (a
    forward pass without the backward's two). The stem, the head, the optimiser, data
    loading and, for a Parareal ResNet, the coarse networks are not counted: a training step
    costs at least about this much (measured on a 2-core machine: one ResNet-20 step on 64 images
    1.4 times the estimate, a whole ResNet-20 epoch with evaluation 3 times).

    Parameters
    ----------
    depth : int
        ``9n + 2``.
    images_per_batch, batches_per_epoch, test_images, epochs, eval_every : int, keyword-only
        The images of one process's batch, its batches per epoch, the test images it
        evaluates, the epochs to train, and the epochs between evaluations.
    device : str or torch.device, keyword-only
        Where the pilot runs (where training will run).
    threads : int, optional, keyword-only
        Torch intra-op threads during the pilot (default: as they are).
    pilot_images : int, keyword-only
        Images per pilot sample.

    Returns
    -------
    dict
        ``batch`` (seconds of one training batch), ``epoch`` (its batches and its share of
        evaluations), ``total`` (``epochs`` of them) and ``pilot`` (the seconds the pilot took).
    """
    import time

    from ..bench.unit_costs import measure_unit_costs
    from ..plans.units import num_units, stage_unit_specs

    depth = check_int(depth, "depth", minimum=11)
    images = check_int(images_per_batch, "images_per_batch", minimum=1)
    batches = check_int(batches_per_epoch, "batches_per_epoch", minimum=0)
    tests = check_int(test_images, "test_images", minimum=0)
    epochs = check_int(epochs, "epochs", minimum=0)
    every = check_int(eval_every, "eval_every", minimum=1)
    pilot_images = check_int(pilot_images, "pilot_images", minimum=1)
    before = torch.get_num_threads()
    start = time.perf_counter()
    try:
        if threads is not None:
            torch.set_num_threads(check_int(threads, "threads", minimum=1))
        costs = measure_unit_costs(depth, batch_size=pilot_images, device=device, repeats=1, warmup=1)
    finally:
        torch.set_num_threads(before)
    pilot = time.perf_counter() - start
    n = num_units(depth) // 3
    per_image = sum(costs[first] + (n - 1) * costs[plain] for first, plain in stage_unit_specs(depth)) / pilot_images
    batch = per_image * images
    evaluations = epochs // every
    epoch = batches * batch
    total = epochs * epoch + evaluations * tests * per_image / 3
    return {"batch": batch, "epoch": epoch, "total": total, "pilot": pilot}
