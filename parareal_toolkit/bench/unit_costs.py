"""Measured cost of each residual-unit shape: what a split by time balances.

A CIFAR ResNet's plain units all have the same multiply-adds, yet on a CPU a unit of the
32x32 stage takes longer than one of the 8x8 stage: BatchNorm, ReLU and the residual
addition touch four times as many activations there and are limited by memory traffic, not
arithmetic. :func:`measure_unit_costs` times one forward+backward (training mode) of every
distinct unit shape of a ResNet on the device and batch to be balanced; the result is the
``unit_costs`` of :func:`~parareal_toolkit.nn.parareal_resnet_plan` with ``split="cost"``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch
from torch import nn

from .._names import CLOCKS
from .._validation import check_choice, check_int
from ..nn.parareal_resnets import stage_unit_specs
from ..nn.resnet import UnitSpec
from .clocks import part_seconds

__all__ = ["measure_unit_costs"]

# plain units are timed as a stack of this many (less timer noise per sample); a stage's first
# unit changes the shape and is timed alone
_STACK = 4


def measure_unit_costs(
    depth: int = 1001,
    *,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    repeats: int = 5,
    warmup: int = 1,
    clock: str = "wall",
    seed: int = 0,
    on_sample: Callable[[int, int], None] | None = None,
) -> dict[UnitSpec, float]:
    """Median forward+backward seconds of one unit of each distinct shape of ResNet-``depth``.

    Six shapes: each stage's first (shape-changing) unit and its plain unit. Every sample
    runs ``module(x)`` on a random batch of the unit's input shape and back-propagates a
    fixed random gradient (to the input and the weights, as in training); samples of the
    six shapes are interleaved round-robin so a machine's slow phases hit all alike. Clocks
    as in :func:`~parareal_toolkit.bench.time_network` (CUDA events on a GPU).

    Parameters
    ----------
    depth : int
        ``9n + 2``; only the stage shapes matter, not the number of units.
    batch_size, repeats, warmup, seed : int, keyword-only
        Images per sample, timed and discarded samples, seed of the random tensors.
    device : str or torch.device, keyword-only
        Where to time.
    clock : {"wall", "process"}, keyword-only
        CPU clock (``perf_counter`` or process CPU time).
    on_sample : callable, optional, keyword-only
        Called as ``on_sample(done, total)`` after each round over the six shapes (warm-up
        rounds included), for a progress bar.

    Returns
    -------
    dict
        ``{UnitSpec: seconds}`` for the six shapes, usable as ``unit_costs``.
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    repeats = check_int(repeats, "repeats", minimum=1)
    warmup = check_int(warmup, "warmup", minimum=0)
    clock = check_choice(clock, "clock", CLOCKS)
    resolved = torch.device(device)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    steps = {}
    for first, plain in stage_unit_specs(depth):
        for spec, count in ((first, 1), (plain, _STACK)):
            module = nn.Sequential(*(spec.build(None) for _ in range(count))).to(resolved).train()
            x = torch.randn(batch_size, spec.in_channels, spec.resolution, spec.resolution, generator=generator)
            x = x.to(resolved).requires_grad_(True)
            side = spec.out_resolution
            upstream = torch.randn(batch_size, spec.out_channels, side, side, generator=generator).to(resolved)

            def step(module=module, x=x, upstream=upstream) -> None:
                module(x).backward(upstream)

            steps[spec] = (step, count)
    samples: dict[UnitSpec, list[float]] = {spec: [] for spec in steps}
    for sample in range(warmup + repeats):
        for spec, (step, count) in steps.items():
            seconds = part_seconds(step, resolved, clock) / count
            if sample >= warmup:
                samples[spec].append(seconds)
        if on_sample is not None:
            on_sample(sample + 1, warmup + repeats)
    return {spec: statistics.median(values) for spec, values in samples.items()}
