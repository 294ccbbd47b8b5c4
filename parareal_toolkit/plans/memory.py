"""The one memory model of a CIFAR ResNet's trunk, counted from its unit shapes.

Per image and residual unit of shape ``c x r x r -> 4w x r' x r'`` (``r' = r / stride``):

* its output, ``4w r'^2`` floats, which the next unit keeps for the backward pass;
* what training keeps alive for its own backward pass (in-place ReLUs):
  ``c r^2 + 2 w r^2 + 2 w r'^2 + 4w r'^2`` floats, its input, the two inner
  BatchNorm inputs and ReLU outputs and its output;
* its trainable parameters, :func:`~parareal_toolkit.nn.parareal_resnets.unit_parameters`.

Summed over the ``3n`` units of a depth-``9n + 2`` ResNet in constant time (each stage is a
first unit and ``n - 1`` equal plain ones). Both memory checks read it: the training
command's lower bound (:mod:`parareal_toolkit.training.resources`) and the Table 2
benchmark's (:mod:`parareal_toolkit.bench.table`). The stem, the head, coarse networks,
interface tensors and allocator slack come on top.
"""

from __future__ import annotations

from dataclasses import dataclass

from .units import UnitSpec, num_units, stage_unit_specs, unit_parameters

__all__ = ["TrunkMemory", "trunk_memory", "unit_saved_floats"]


def unit_saved_floats(spec: UnitSpec) -> int:
    """Floats one image keeps alive for the backward pass of unit ``spec`` (trained, in-place ReLU).

    Returns
    -------
    int
        ``c r^2 + 2 w r^2 + 2 w r'^2 + 4w r'^2`` for input ``c x r x r``, width ``w``.
    """
    r, r_out = spec.resolution, spec.out_resolution
    return (
        spec.in_channels * r * r
        + 2 * spec.width * r * r
        + 2 * spec.width * r_out * r_out
        + spec.out_channels * r_out * r_out
    )


@dataclass(frozen=True)
class TrunkMemory:
    """What the ``3n`` residual units of a ResNet hold, as counts (multiply by the bytes per float).

    Attributes
    ----------
    units : int
        ``3n``.
    parameters : int
        Trainable parameters of the units (BatchNorm included).
    outputs_per_image : int
        Floats of every unit's output for one image.
    saved_per_image : int
        Floats one image keeps alive for the backward pass of every unit (outputs included).
    """

    units: int
    parameters: int
    outputs_per_image: int
    saved_per_image: int


def trunk_memory(depth: int) -> TrunkMemory:
    """The memory counts of ResNet-``depth``'s trunk, in constant time at any depth.

    ResNet-1001 (333 units): 10,324,192 parameters; 12,730,368 output floats and 38,264,832
    floats kept for the backward pass per image.

    Returns
    -------
    TrunkMemory
        Counts, not bytes.
    """
    n = num_units(depth) // 3
    parameters = outputs = saved = 0
    for first, plain in stage_unit_specs(depth):
        for spec, count in ((first, 1), (plain, n - 1)):
            parameters += count * unit_parameters(spec)
            outputs += count * spec.out_channels * spec.out_resolution**2
            saved += count * unit_saved_floats(spec)
    return TrunkMemory(3 * n, parameters, outputs, saved)
