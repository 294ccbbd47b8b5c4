"""The machinery of ``parareal_toolkit.nn.layer_parallel``: unit steps as MGRIT levels, frozen statistics, the adjoint.

A stage's equal-shape units ``0..N-1`` (those after its shape-changing first unit) map
``x_{j+1} = x_j + f_j(x_j)`` with ``f_j`` the unit's residual branch, so that
``unit_j(x) = f_j(x) + x`` to the bit (``residual_branch``). Level ``l`` of the MGRIT
hierarchy (``UnitSteps``) takes ``N / m^l`` steps ``x + m^l f_{c m^l}(x)``: the weights
of the first fine unit of each coarse interval, injected, and the step ``m^l`` (torchbraid's
default). The adjoint hierarchy (``AdjointSteps``) runs the unit index backwards; its
step ``i`` on level ``l`` is the transpose of the forward step on that level's interval
``c = N_l - 1 - i``: ``μ + m^l J_{c m^l}(x_{c m^l})^T μ``, where ``J_j`` is the Jacobian of
``f_j`` at the converged fine state (torchbraid's rule: the backward step on an interval
differentiates the forward step on the same interval). On the fine level this is the exact
backpropagation recursion ``λ_j = λ_{j+1} + J_j(x_j)^T λ_{j+1}`` with ``μ_i = λ_{N-i}``.

Running statistics. During a solve every norm layer of the block with running statistics is
switched to ``track_running_stats = False`` (``frozen_statistics``): in training mode
BatchNorm then normalises with the batch statistics, as it would anyway (the output is the
same to the bit), and touches no buffer; in evaluation mode it still uses its running
statistics. ``update_statistics`` then evaluates each unit once on its converged input
``x_j`` with tracking on, which is exactly the update the serial forward makes (one call
of each unit on ``x_j``): equal buffers up to the rounding in ``x_j``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .._mgrit_cycles import exact_iterations
from ..mgrit_driver import mgrit

__all__ = [
    "SolverOptions",
    "Block",
    "residual_branch",
    "UnitSteps",
    "AdjointSteps",
    "frozen_statistics",
    "update_statistics",
    "stage_split",
    "run_stage",
]


@dataclass(frozen=True)
class SolverOptions:
    """The validated options of a ``LayerParallelResNet`` (its arguments of the same name).

    ``iterations`` and ``adjoint_iterations`` are ``None`` for "enough to be exact".
    """

    iterations: int | None
    levels: int
    coarsening: int
    relax: str
    cycle: str
    initial: str
    backward: str
    adjoint_iterations: int | None


def residual_branch(unit: Any, x: torch.Tensor) -> torch.Tensor:
    """``f(x) = W3 σB(W2 σB(W1 σB(x)))`` of an identity-shortcut ``PreActBottleneck``.

    The unit computes ``f(x) + x`` with these very operations, so ``residual_branch(unit,
    x) + x`` equals ``unit(x)`` to the bit.

    Returns
    -------
    torch.Tensor
        The residual branch's output, of ``x``'s shape.
    """
    out = torch.relu(unit.bn1(x))  # not in place: without BN, bn1 returns x itself
    out = unit.conv1(out)
    out = unit.conv2(unit.relu(unit.bn2(out)))
    return unit.conv3(unit.relu(unit.bn3(out)))


class UnitSteps:
    """Level ``l`` of a block's MGRIT hierarchy: slice ``c`` is ``x + s f_{c s}(x)`` with ``s = m^l``.

    ``s = 1`` is the fine level, ``f_c(x) + x``, the unit's own forward to the bit.
    """

    def __init__(self, units: Sequence[nn.Module], scale: int):
        self.units = units
        self.scale = scale
        self.num_slices = len(units) // scale

    def __call__(self, x: torch.Tensor, c: int) -> torch.Tensor:
        branch = residual_branch(self.units[c * self.scale], x)
        return branch + x if self.scale == 1 else x + self.scale * branch


class AdjointSteps:
    """Level ``l`` of the adjoint hierarchy: slice ``i`` is ``μ + s J_{c s}(x_{c s})^T μ``, ``c = N_l - 1 - i``, ``s = m^l``.

    ``graphs[j]`` is ``(x_j, f_j(x_j))`` recorded with autograd, so each step is one
    vector-Jacobian product (the graph is kept for the next).
    """

    def __init__(self, graphs: Sequence[tuple[torch.Tensor, torch.Tensor]], scale: int):
        self.graphs = graphs
        self.scale = scale
        self.num_slices = len(graphs) // scale

    def __call__(self, mu: torch.Tensor, i: int) -> torch.Tensor:
        x, y = self.graphs[(self.num_slices - 1 - i) * self.scale]
        (vjp,) = torch.autograd.grad(y, x, mu, retain_graph=True)
        return mu + vjp if self.scale == 1 else mu + self.scale * vjp


def _tracking(modules: Sequence[nn.Module]) -> list[nn.Module]:
    """The submodules of ``modules`` that track running statistics (BatchNorm, tracked InstanceNorm)."""
    return [m for module in modules for m in module.modules() if getattr(m, "track_running_stats", False) is True]


@contextlib.contextmanager
def frozen_statistics(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Within the block no norm layer of ``modules`` updates its running statistics (module docstring)."""
    norms = _tracking(modules)
    for m in norms:
        setattr(m, "track_running_stats", False)  # noqa: B010  (a norm layer's flag, not a typed attribute)
    try:
        yield
    finally:
        for m in norms:
            setattr(m, "track_running_stats", True)  # noqa: B010


def update_statistics(units: Sequence[nn.Module], states: Sequence[torch.Tensor]) -> int:
    """Each unit's running statistics updated once, from its input ``states[j]``, as the serial forward does.

    The units are independent (parallel work); no graph is built.

    Returns
    -------
    int
        The unit evaluations spent: ``len(units)`` in training mode where a unit tracks
        statistics, else 0.
    """
    if not _tracking(units) or not any(unit.training for unit in units):
        return 0
    with torch.no_grad():
        for unit, x in zip(units, states):
            residual_branch(unit, x.detach())
    return len(units)


def stage_split(count: int, levels: int, coarsening: int) -> tuple[int, int]:
    """How many of a stage's ``count`` equal-shape units MGRIT runs, and on how many levels.

    The levels are ``L' = min(L, 1 + floor(log_m count))`` (so that ``m^(L'-1) <= count``)
    and the block the largest multiple of ``m^(L'-1)``; with ``L' < 2`` (``count < m``)
    nothing runs by MGRIT.

    Returns
    -------
    tuple of int
        ``(units run by MGRIT, levels)``; ``(0, 1)`` when the stage runs sequentially.
    """
    used = 1
    while used < levels and coarsening**used <= count:
        used += 1
    if used < 2:
        return 0, 1
    block = coarsening ** (used - 1)
    return count // block * block, used


@dataclass
class Block:
    """One stage's MGRIT block: its units, levels and options, and what its last solves did."""

    units: list[nn.Module]
    num_levels: int
    options: SolverOptions
    record: dict[str, Any] = field(default_factory=dict)
    fine_states: list[torch.Tensor] = field(default_factory=list)

    def _iterations(self, wanted: int | None) -> int:
        exact = exact_iterations(len(self.units) // self.options.coarsening, self.options.relax)
        return exact if wanted is None else min(wanted, exact)

    def _mgrit(self, levels: list[Any], u0: torch.Tensor, iterations: int | None) -> Any:
        o = self.options
        return mgrit(
            levels,
            u0,
            coarsening=o.coarsening,
            relax=o.relax,
            cycle=o.cycle,
            iterations=self._iterations(iterations),
            initial=o.initial,
            backend="serial",
            store_iterates=False,
            monitor=False,
        )

    def solve(self, x: torch.Tensor) -> torch.Tensor:
        """``x_N`` by MGRIT (differentiable where grad mode is on); keeps the fine states and the counts."""
        m = self.options.coarsening
        levels = [UnitSteps(self.units, m**l) for l in range(self.num_levels)]
        with frozen_statistics(self.units):
            result = self._mgrit(levels, x, self.options.iterations)
        self.fine_states = list(result.fine_states)
        self.record.update(
            units=len(self.units),
            levels=self.num_levels,
            iterations=result.iterations,
            evaluations=list(result.level_evaluations),
        )
        return self.fine_states[-1]

    def adjoint(self, states: Sequence[torch.Tensor], grad_out: torch.Tensor) -> tuple[torch.Tensor, list[Any]]:
        """``(λ_0, parameter gradients)`` from ``λ_N = grad_out`` and the fine states ``x_0..x_{N-1}``, by MGRIT.

        Each unit is recomputed once on its converged input ``x_j`` (in the same mode, with
        the same batch statistics, running statistics untouched); the adjoint steps are
        vector-Jacobian products on these graphs; the parameter gradients
        ``(∂f_j/∂θ_j)^T λ_{j+1}`` are independent over ``j`` (one ``autograd.grad`` call).
        """
        n, m = len(self.units), self.options.coarsening
        with torch.enable_grad(), frozen_statistics(self.units):
            inputs = [x.detach().requires_grad_() for x in states]
            outputs = [residual_branch(unit, x) for unit, x in zip(self.units, inputs)]
        graphs = list(zip(inputs, outputs))
        levels = [AdjointSteps(graphs, m**l) for l in range(self.num_levels)]
        result = self._mgrit(levels, grad_out.detach(), self.options.adjoint_iterations)
        mu = result.fine_states  # μ_i = λ_{N-i}
        params = self.parameters()
        grads: Any = ()
        if params:
            grads = torch.autograd.grad(outputs, params, [mu[n - 1 - j] for j in range(n)], allow_unused=True)
        self.record.update(
            adjoint_iterations=result.iterations,
            adjoint_evaluations=list(result.level_evaluations),
        )
        return mu[n], list(grads)

    def parameters(self) -> list[torch.nn.Parameter]:
        """The block's parameters that require gradients, unit by unit."""
        return [p for unit in self.units for p in unit.parameters() if p.requires_grad]


class AdjointStage(torch.autograd.Function):
    """A block whose forward runs MGRIT without a graph and whose backward solves the adjoint by MGRIT."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, block: Block, *params: torch.Tensor) -> torch.Tensor:
        out = block.solve(x)
        states = [state.detach() for state in block.fine_states]
        block.fine_states = states
        ctx.block = block
        ctx.save_for_backward(*states[:-1])  # x_N is not needed (and a caller may change it in place)
        return out.detach()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        block: Block = ctx.block
        input_grad, param_grads = block.adjoint(list(ctx.saved_tensors), grad_out)
        return (input_grad, None, *param_grads)


def run_stage(units: Sequence[nn.Module], x: torch.Tensor, options: SolverOptions) -> tuple[torch.Tensor, Block | None]:
    """One stage: its first unit, its MGRIT block, its remaining units (sequentially), and the block's statistics.

    Returns
    -------
    tuple
        The stage's output and its ``Block`` (``None`` where the stage ran sequentially).
    """
    x = units[0](x)
    rest = list(units[1:])
    count, num_levels = stage_split(len(rest), options.levels, options.coarsening)
    block = None
    if count:
        block = Block(rest[:count], num_levels, options)
        params = block.parameters()
        wants_graph = torch.is_grad_enabled() and (x.requires_grad or bool(params))
        if options.backward == "adjoint" and wants_graph:
            x = AdjointStage.apply(x, block, *params)
        else:
            x = block.solve(x)
        block.record["statistics_evaluations"] = update_statistics(block.units, block.fine_states[:-1])
        block.fine_states = []  # the graph (autograd) or the saved states (adjoint) live on where backward needs them
    for unit in rest[count:]:
        x = unit(x)
    return x, block
