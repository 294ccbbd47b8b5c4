"""Measured cost of each residual-unit shape: what a split by time balances.

A CIFAR ResNet's plain units all have the same multiply-adds, yet on a CPU a unit of the
32x32 stage takes longer than one of the 8x8 stage: BatchNorm, ReLU and the residual
addition touch four times as many activations there and are limited by memory traffic, not
arithmetic. :func:`measure_unit_costs` measures one forward+backward (training mode) of each
distinct unit shape of a ResNet on the device and batch to be balanced; the result is the
``unit_costs`` of :func:`~parareal_toolkit.nn.parareal_resnet_plan` with ``split="cost"``.

Two methods. ``"alone"`` (the default) times each shape in isolation (a stack of identical
units on random inputs). ``"context"`` cuts the real trunk into short contiguous parts, times
each part forward+backward on its real input activation and fits one cost per shape by
least squares (:func:`~parareal_toolkit.bench.fit_unit_costs`: part time = sum over shapes of count x cost). Either
way the gradients are cleared between samples, outside the timed region: left to
accumulate, they made the units of the 32x32 stage look far dearer than they are inside the
network. Costs measured apart from the network remain at the mercy of the allocator and
the caches: on a 2-core CPU the 32x32 units measured apart varied from run to run and mostly
came out dearer than inside Table 2's subnetworks, by either method (the default is the
cheaper one). :func:`~parareal_toolkit.bench.fit_unit_costs_to_timings` fits the costs to the subnetworks of
networks timed by Table 2 itself, in the conditions of that run, which is what
``benchmarks/table2.py`` balances its cost split with.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import scipy.optimize
import torch
from torch import nn

from .._names import CLOCKS
from .._validation import check_choice, check_int, check_real_array
from ..errors import InputError
from ..plans.units import STEM_CHANNELS, UnitSpec, resnet_unit_specs, stage_unit_specs
from .clocks import part_seconds
from .network_timing import NetworkTiming

__all__ = ["UNIT_COST_METHODS", "fit_unit_costs", "fit_unit_costs_to_timings", "measure_unit_costs"]

UNIT_COST_METHODS = ("alone", "context")

# plain units are timed as a stack of this many (less timer noise per sample); a stage's first
# unit changes the shape and is timed alone
_STACK = 4
# units per timed part of the trunk in the "context" method: about a subnetwork of a
# ResNet-218 at N = 18..24, and a stage of 24 (ResNet-218) or 111 (ResNet-1001) units holds
# whole parts of 3, so no part straddles two stages
_PART_UNITS = 3


def fit_unit_costs(counts: Sequence[Sequence[float]], seconds: Sequence[float]) -> np.ndarray:
    """Nonnegative per-shape costs ``c`` minimising ``||A c - t||_2`` for part times ``t``.

    ``A[p, s]`` is the number of units of shape ``s`` in part ``p`` and ``t[p]`` the part's
    measured time: the model is that a part costs the sum of its units' costs. Solved by
    nonnegative least squares (:func:`scipy.optimize.nnls`); when the times are exactly
    ``A c0`` for some ``c0 >= 0`` and ``A`` has full column rank, the result is ``c0`` (to
    rounding).

    Parameters
    ----------
    counts : 2-D sequence of float
        ``A``, one row per part, one column per shape; full column rank (every shape's cost
        must be determined by the parts).
    seconds : sequence of float
        ``t``, finite and nonnegative, one per row of ``counts``.

    Returns
    -------
    numpy.ndarray
        The cost of each shape (float64, ``>= 0``).

    Examples
    --------
    >>> from parareal_toolkit.bench.unit_costs import fit_unit_costs
    >>> fit_unit_costs([[1, 2], [0, 3], [0, 1]], [5.0, 6.0, 2.0]).round(12).tolist()
    [1.0, 2.0]
    """
    matrix = check_real_array(counts, "counts")
    times = check_real_array(seconds, "seconds")
    if matrix.ndim != 2 or times.ndim != 1 or matrix.shape[0] != times.shape[0]:
        raise InputError(
            f"`counts` must be a matrix with one row per entry of `seconds`; got shapes {matrix.shape} and {times.shape}."
        )
    if (matrix < 0).any() or (times < 0).any():
        raise InputError("`counts` and `seconds` must be nonnegative.")
    rank = np.linalg.matrix_rank(matrix)
    if rank < matrix.shape[1]:
        raise InputError(
            f"`counts` must have full column rank {matrix.shape[1]} (every shape's cost determined); got rank {rank}."
        )
    costs, _ = scipy.optimize.nnls(matrix, times)
    return np.asarray(costs, dtype=np.float64)


def fit_unit_costs_to_timings(depth: int, timings: Iterable[NetworkTiming]) -> dict[UnitSpec, float]:
    """Per-shape unit costs fitted to the timed subnetworks of Parareal ResNet-``depth`` networks.

    Every subnetwork ``g^j`` of every timing is one equation of :func:`~parareal_toolkit.bench.fit_unit_costs`: its
    median forward+backward seconds are the sum of its units' costs (the subnetworks are
    contiguous, in order, with ``subnetwork_units`` units each). Fitted to the very
    timings a Table 2 run makes (for example of the seed's unit split), the costs carry the
    machine's conditions of that run, which costs measured apart do not.

    Parameters
    ----------
    depth : int
        ``9n + 2``, the depth of every timed network.
    timings : iterable of NetworkTiming
        Timings with ``subnetwork_units`` (networks built from a plan); together their
        subnetworks must determine all six shapes' costs.

    Returns
    -------
    dict
        ``{UnitSpec: seconds}`` for the six shapes, usable as ``unit_costs``.
    """
    units = resnet_unit_specs(depth)
    shapes = [spec for pair in stage_unit_specs(depth) for spec in pair]
    counts, seconds = [], []
    for timing in timings:
        sizes = timing.subnetwork_units
        if sum(sizes) != len(units) or len(sizes) != len(timing.subnetworks):
            raise InputError(
                f"`timings` must time networks of ResNet-{depth}'s {len(units)} units with their unit counts; "
                f"got subnetwork_units {sizes!r} for {len(timing.subnetworks)} subnetworks."
            )
        start = 0
        for size, part_seconds_ in zip(sizes, timing.subnetworks):
            part = units[start : start + size]
            counts.append([part.count(spec) for spec in shapes])
            seconds.append(part_seconds_)
            start += size
    return {spec: float(cost) for spec, cost in zip(shapes, fit_unit_costs(counts, seconds))}


def _alone_steps(depth: int, batch_size: int, device: torch.device, generator: torch.Generator):
    """One ``(step, units, counts)`` per shape: a stack of identical units on random inputs."""
    steps = []
    shapes = [spec for pair in stage_unit_specs(depth) for spec in pair]
    for spec in shapes:
        count = 1 if spec.changes_shape else _STACK
        module = nn.Sequential(*(spec.build(None) for _ in range(count))).to(device).train()
        x = torch.randn(batch_size, spec.in_channels, spec.resolution, spec.resolution, generator=generator)
        x = x.to(device).requires_grad_(True)
        side = spec.out_resolution
        upstream = torch.randn(batch_size, spec.out_channels, side, side, generator=generator).to(device)
        steps.append((_Step(module, x, upstream), [count if s == spec else 0 for s in shapes]))
    return shapes, steps


class _Step:
    """One forward+backward of ``module`` on ``x``; gradients cleared after each run, untimed.

    As Table 2 times its parts: gradients accumulated into old ones, or freed inside the
    timed region (large buffers go back to the system and fault in again), cost time a
    subnetwork's pass does not have.
    """

    def __init__(self, module: nn.Module, x: torch.Tensor, upstream: torch.Tensor):
        self.module, self.x, self.upstream = module, x, upstream
        self.tensors = [*module.parameters(), x]

    def __call__(self) -> None:
        self.module(self.x).backward(self.upstream)

    def clear(self) -> None:
        for tensor in self.tensors:
            tensor.grad = None


def _context_parts(depth: int) -> list[list[UnitSpec]]:
    """The trunk in parts of ``_PART_UNITS`` units, or of one unit where the fit needs it."""
    units = resnet_unit_specs(depth)
    shapes = [spec for pair in stage_unit_specs(depth) for spec in pair]
    for size in (_PART_UNITS, 1):
        parts = [units[i : i + size] for i in range(0, len(units), size)]
        # a plain shape absent from a shallow trunk (one unit per stage) still costs in the
        # coarse networks: it is timed as one more part of its own
        parts += [[spec] for spec in shapes if spec not in units]
        counts = np.array([[part.count(s) for s in shapes] for part in parts], dtype=float)
        if np.linalg.matrix_rank(counts) == len(shapes):
            return parts
    raise AssertionError("parts of one unit each always determine every shape")  # pragma: no cover


def _context_steps(depth: int, batch_size: int, device: torch.device, generator: torch.Generator):
    """One ``(step, counts)`` per part of the trunk, each on its real input activation."""
    shapes = [spec for pair in stage_unit_specs(depth) for spec in pair]
    steps = []
    x = torch.randn(batch_size, STEM_CHANNELS, 32, 32, generator=generator).to(device)
    for part in _context_parts(depth):
        module = nn.Sequential(*(spec.build(None) for spec in part)).to(device).train()
        first, last = part[0], part[-1]
        if x.shape[1:] != (first.in_channels, first.resolution, first.resolution):  # an extra, absent shape
            x = torch.randn(batch_size, first.in_channels, first.resolution, first.resolution, generator=generator)
            x = x.to(device)
        leaf = x.detach().requires_grad_(True)
        with torch.no_grad():
            y = module(leaf)
        side = last.out_resolution
        upstream = torch.randn(batch_size, last.out_channels, side, side, generator=generator).to(device)
        steps.append((_Step(module, leaf, upstream), [part.count(s) for s in shapes]))
        x = y
    return shapes, steps


def measure_unit_costs(
    depth: int = 1001,
    *,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    repeats: int = 5,
    warmup: int = 1,
    clock: str = "wall",
    seed: int = 0,
    method: str = "alone",
    on_sample: Callable[[int, int], None] | None = None,
) -> dict[UnitSpec, float]:
    """Forward+backward seconds of one unit of each distinct shape of ResNet-``depth``.

    Six shapes: each stage's first (shape-changing) unit and its plain unit. ``"alone"``
    (default): the median time of one unit of each shape, timed in isolation on random
    inputs (plain units as a stack of 4). ``"context"``: the trunk of ResNet-``depth``
    (fresh weights, training mode) is cut into contiguous parts of 3 units (1 where parts
    of 3 would not determine every shape), each part is timed forward+backward on its real
    input activation with a fixed random upstream gradient, and the six costs are the
    nonnegative least-squares fit of the parts' median times (:func:`~parareal_toolkit.bench.fit_unit_costs`).
    Gradients are cleared after every sample, untimed. Samples of all parts are interleaved
    round-robin so a machine's slow phases hit all alike. Clocks as in
    :func:`~parareal_toolkit.bench.time_network` (CUDA events on a GPU).

    Parameters
    ----------
    depth : int
        ``9n + 2``.
    batch_size, repeats, warmup, seed : int, keyword-only
        Images per sample, timed and discarded samples, seed of the random tensors.
    device : str or torch.device, keyword-only
        Where to time.
    clock : {"wall", "process"}, keyword-only
        CPU clock (``perf_counter`` or process CPU time).
    method : {"alone", "context"}, keyword-only
        Time each shape in isolation, or fit the costs to parts of the real trunk.
    on_sample : callable, optional, keyword-only
        Called as ``on_sample(done, total)`` after each round over the parts (warm-up
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
    method = check_choice(method, "method", UNIT_COST_METHODS)
    resolved = torch.device(device)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    build = _context_steps if method == "context" else _alone_steps
    shapes, steps = build(depth, batch_size, resolved, generator)
    samples: list[list[float]] = [[] for _ in steps]
    for sample in range(warmup + repeats):
        # an untimed run first absorbs the allocator's clean-up after the last round (as in Table 2)
        steps[0][0]()
        steps[0][0].clear()
        for (step, _), bucket in zip(steps, samples):
            seconds = part_seconds(step, resolved, clock)
            step.clear()
            if sample >= warmup:
                bucket.append(seconds)
        if on_sample is not None:
            on_sample(sample + 1, warmup + repeats)
    costs = fit_unit_costs([counts for _, counts in steps], [statistics.median(bucket) for bucket in samples])
    return {spec: float(cost) for spec, cost in zip(shapes, costs)}
