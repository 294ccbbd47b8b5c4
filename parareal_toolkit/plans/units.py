"""The residual units of a CIFAR pre-activation ResNet as shapes: counted, never built.

A depth-``9n + 2`` ResNet has ``3n`` bottleneck units in three stages of bottleneck widths
16, 32, 64 (outputs 4x wider) at 32x32, 16x16 and 8x8; each stage is one shape-changing
unit followed by ``n - 1`` identical plain units, so every count here (parameters,
multiply-adds, runs of equal units) takes constant time at any depth. No torch: only
:meth:`UnitSpec.build` builds a module, importing torch when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._validation import check_int
from ..errors import InputError, InputTypeError

if TYPE_CHECKING:  # annotations only: building a unit is the one torch-touching operation
    from ..nn.bottleneck import NormLayer, PreActBottleneck

__all__ = [
    "UnitSpec",
    "resnet_unit_specs",
    "stage_unit_specs",
    "unit_parameters",
    "unit_multiply_adds",
    "num_units",
    "ceil_div",
    "STAGE_WIDTHS",
    "STEM_CHANNELS",
    "EXPANSION",
]

STEM_CHANNELS = 16
STAGE_WIDTHS = (16, 32, 64)  # bottleneck widths; the output is EXPANSION times wider
EXPANSION = 4
_STAGE_STRIDES = (1, 2, 2)


@dataclass(frozen=True)
class UnitSpec:
    """Shape of one residual unit: ``in_channels -> out_channels`` with ``stride``.

    ``resolution`` is the input's side length for a 32x32 image.
    """

    in_channels: int
    out_channels: int
    stride: int
    resolution: int

    @property
    def changes_shape(self) -> bool:
        """Whether the unit changes channels or resolution (then it has a projection shortcut)."""
        return self.in_channels != self.out_channels or self.stride != 1

    @property
    def out_resolution(self) -> int:
        """The output's side length, ``resolution // stride``."""
        return self.resolution // self.stride

    @property
    def width(self) -> int:
        """The bottleneck width, ``out_channels / 4``."""
        return self.out_channels // EXPANSION

    def build(self, norm_layer: NormLayer | None) -> PreActBottleneck:
        """A freshly initialised unit of this shape.

        Returns
        -------
        PreActBottleneck
            With ``norm_layer`` (``None``: ``nn.BatchNorm2d``).
        """
        from ..nn.bottleneck import PreActBottleneck  # torch, only when a module is wanted

        return PreActBottleneck(self.in_channels, self.width, self.stride, norm_layer=norm_layer)


def _check_depth(depth) -> int:
    depth = check_int(depth, "depth")
    if depth < 11 or (depth - 2) % 9:
        raise InputError(f"`depth` must be 9n + 2 with n >= 1 (11, 20, 29, ..., 1001); got {depth}.")
    return (depth - 2) // 9


def num_units(depth: int) -> int:
    """``3n`` for depth ``9n + 2``.

    Returns
    -------
    int
        The number of residual units.
    """
    return 3 * _check_depth(depth)


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for positive ints, without floating point.

    Returns
    -------
    int
        The smallest integer at least ``a / b``.
    """
    return -(-a // b)


def resnet_unit_specs(depth: int = 1001, *, image_size: int = 32) -> list[UnitSpec]:
    """The ``3n`` residual units of a depth-``9n + 2`` pre-activation ResNet, in order.

    Parameters
    ----------
    depth : int
        ``9n + 2`` with ``n >= 1`` (11, 20, 29, ..., 1001).
    image_size : int, keyword-only
        Side length of the input images (default 32).

    Returns
    -------
    list of UnitSpec
        ``3n`` shapes; the first unit of each stage changes the shape.

    Examples
    --------
    >>> from parareal_toolkit.nn import resnet_unit_specs
    >>> [(s.in_channels, s.out_channels, s.stride) for s in resnet_unit_specs(20) if s.changes_shape]
    [(16, 64, 1), (64, 128, 2), (128, 256, 2)]
    """
    n = _check_depth(depth)
    image_size = check_int(image_size, "image_size", minimum=1)
    specs = []
    in_channels, resolution = STEM_CHANNELS, image_size
    for width, stage_stride in zip(STAGE_WIDTHS, _STAGE_STRIDES):
        out_channels = width * EXPANSION
        for i in range(n):
            stride = stage_stride if i == 0 else 1
            specs.append(UnitSpec(in_channels, out_channels, stride, resolution))
            in_channels, resolution = out_channels, resolution // stride
    return specs


def stage_unit_specs(depth: int = 1001) -> list[tuple[UnitSpec, UnitSpec]]:
    """``(first, plain)`` unit shapes of each of the three stages of ResNet-``depth``.

    A stage's ``n`` units are its shape-changing first unit followed by ``n - 1`` copies of
    ``plain``; this describes a ResNet of any depth in constant space
    (:func:`~parareal_toolkit.nn.resnet_unit_specs` lists all ``3n`` units).

    Returns
    -------
    list of (UnitSpec, UnitSpec)
        Three pairs, in stage order.
    """
    num_units(depth)  # validates the depth
    specs = resnet_unit_specs(11)  # one unit per stage: the first units, the same at every depth
    return [(first, UnitSpec(first.out_channels, first.out_channels, 1, first.out_resolution)) for first in specs]


def _check_spec(spec: object) -> None:
    if not isinstance(spec, UnitSpec):
        raise InputTypeError(f"`spec` must be a UnitSpec; got {type(spec).__name__}.")


def unit_parameters(spec: UnitSpec, *, norm: bool = True) -> int:
    """Trainable parameters of the residual unit ``spec`` (what ``spec.build`` would hold).

    With ``w = out_channels / 4`` and input channels ``c``: ``c w + 9 w^2 + 4 w^2``
    convolution weights (no biases), ``4 c w`` more for a projection shortcut (a unit that
    changes the shape), and ``2 c + 4 w`` BatchNorm scales and shifts with ``norm``. A plain
    unit of the last stage of a CIFAR ResNet (``c = 256, w = 64``) holds 70,400.

    Returns
    -------
    int
        The count, computed without building the unit.
    """
    _check_spec(spec)
    width = spec.width
    count = spec.in_channels * width + 9 * width * width + width * spec.out_channels
    if spec.changes_shape:
        count += spec.in_channels * spec.out_channels
    if norm:
        count += 2 * spec.in_channels + 4 * width
    return count


def unit_multiply_adds(spec: UnitSpec) -> int:
    """Multiply-adds of the convolutions of one residual unit ``spec`` for one image.

    With ``w = out_channels / 4``, input ``c x r x r`` and output side ``r' = r / stride``:
    ``c w r^2 + 9 w^2 r'^2 + 4 w^2 r'^2``, plus ``4 c w r'^2`` for a projection shortcut.
    Every plain unit of a CIFAR ResNet costs the same, 4,456,448 (the stages halve the side
    and double the width), so a split by multiply-adds differs from the seed's unit count
    only around the three shape-changing units. BatchNorm and ReLU, which touch every
    activation and are memory-bound, are not counted; a split by measured time
    (``parareal_toolkit.bench``) sees them.

    Returns
    -------
    int
        The count (checked against ``torch.utils.flop_counter`` in the tests).

    Examples
    --------
    >>> from parareal_toolkit.nn import UnitSpec, unit_multiply_adds
    >>> unit_multiply_adds(UnitSpec(64, 64, 1, 32))
    4456448
    """
    _check_spec(spec)
    width = spec.width
    r, r_out = spec.resolution, spec.out_resolution
    count = (
        spec.in_channels * width * r * r + 9 * width * width * r_out * r_out + width * spec.out_channels * r_out * r_out
    )
    if spec.changes_shape:
        count += spec.in_channels * spec.out_channels * r_out * r_out
    return count


# a run of identical units: (shape, how many)
Run = tuple[UnitSpec, int]


def trunk_runs(stages: list[tuple[UnitSpec, UnitSpec]], n: int, start: int, stop: int) -> list[Run]:
    """Trunk units ``start..stop-1`` (of ``3n``) as runs of identical shapes, in order.

    Returns
    -------
    list of (UnitSpec, int)
        At most two runs per stage touched: its first unit, then its plain units.
    """
    runs: list[Run] = []
    for s, (first, plain) in enumerate(stages):
        a, b = max(start, s * n), min(stop, (s + 1) * n)
        if a >= b:
            continue
        if a == s * n:
            runs.append((first, 1))
            a += 1
        if b > a:
            runs.append((plain, b - a))
    return runs


def runs_parameters(runs: list[Run]) -> int:
    """Trainable parameters of the units ``runs`` (BatchNorm included).

    Returns
    -------
    int
        ``sum count * unit_parameters(shape)``.
    """
    return sum(count * unit_parameters(spec) for spec, count in runs)
