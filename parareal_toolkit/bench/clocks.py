"""Clocks for timing one part: CUDA events on CUDA, synchronised host clocks elsewhere.

A device runs asynchronously from the host, so a host clock read without synchronising
measures the launch, not the work. On CUDA the part is bracketed by two CUDA events (the
GPU's own clock, no host round trip in between); elsewhere the device is synchronised
before and after, and the host clock is either ``time.perf_counter`` (``"wall"``) or
``time.process_time`` (``"process"``: this process's CPU time, which other processes on
a shared machine do not inflate, but which sums over threads).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch
from torch import nn

from .._names import CLOCKS

__all__ = ["CLOCKS", "device_of", "synchronize", "part_seconds", "wall_seconds"]


def device_of(modules: nn.Module | Iterable[nn.Module], default: torch.device) -> torch.device:
    """The device of the first parameter (or buffer) of ``modules``; ``default`` if they have neither.

    Returns
    -------
    torch.device
        Where the module(s) compute.
    """
    group = [modules] if isinstance(modules, nn.Module) else list(modules)
    for module in group:
        for parameter in module.parameters():
            return parameter.device
    for module in group:
        for buffer in module.buffers():
            return buffer.device
    return default


def synchronize(devices: Iterable[torch.device]) -> None:
    """Wait until every queued kernel on ``devices`` has finished (nothing to wait for on CPU)."""
    for device in set(devices):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elif device.type != "cpu":
            backend = getattr(torch, device.type, None)
            sync = getattr(backend, "synchronize", None)
            if sync is not None:
                sync()


def part_seconds(step: Callable[[], None], device: torch.device, clock: str = "wall") -> float:
    """Seconds taken by ``step`` on ``device``: CUDA events there, else the synchronised ``clock``.

    Returns
    -------
    float
        The elapsed time in seconds.
    """
    if device.type == "cuda":
        with torch.cuda.device(device):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
    now = time.process_time if clock == "process" else time.perf_counter
    synchronize([device])
    began = now()
    step()
    synchronize([device])
    return now() - began


def wall_seconds(step: Callable[[], None], devices: Iterable[torch.device]) -> float:
    """Real seconds taken by ``step`` across ``devices`` (``perf_counter``, all of them synchronised).

    Returns
    -------
    float
        The elapsed wall-clock time in seconds.
    """
    devices = list(devices)
    synchronize(devices)
    began = time.perf_counter()
    step()
    synchronize(devices)
    return time.perf_counter() - began
