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

Backends. ``Block`` hands its backend (``None``: serial) to ``mgrit``. Steps run on their
unit's device and return to the state's (``on_device``; no-ops on one device). Under the
distributed backend the forward runs without a graph (``AdjointStage`` or ``no_grad``), the
graphs of the adjoint are built lazily per rank (``UnitGraphs``), parameter gradients are
computed by unit ``j``'s fixed owner ``slice_owners(N, R)[j]`` (``Block.gradient_units``)
and completed by one all-reduce per block (``Block._all_reduced``), inside
``AdjointStage.backward``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .._mgrit_cycles import exact_iterations
from ..backends.distributed import DistributedBackend, collective, slice_owners
from ..mgrit_driver import mgrit
from ..plans.layer_parallel import stage_split

__all__ = [
    "SolverOptions",
    "Block",
    "is_distributed",
    "residual_branch",
    "on_device",
    "UnitGraphs",
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


def _device(unit: nn.Module, default: torch.device) -> torch.device:
    """Where ``unit`` lives (its first parameter or buffer); ``default`` for a unit without tensors."""
    for tensor in (*unit.parameters(), *unit.buffers()):
        return tensor.device
    return default


def on_device(unit: nn.Module, x: torch.Tensor, step: Any = None) -> torch.Tensor:
    """``step(x)`` (default ``unit(x)``) evaluated on ``unit``'s device, the result on ``x``'s device.

    Where the unit lives on ``x``'s device (one device, the serial and distributed
    backends) both moves are no-ops returning the tensor itself: the same bits as without.

    Returns
    -------
    torch.Tensor
        The result, on ``x``'s device.
    """
    device = _device(unit, x.device)
    y = (unit if step is None else step)(x.to(device))
    return y.to(x.device)


class UnitSteps:
    """Level ``l`` of a block's MGRIT hierarchy: slice ``c`` is ``x + s f_{c s}(x)`` with ``s = m^l``.

    ``s = 1`` is the fine level, ``f_c(x) + x``, the unit's own forward to the bit. The step
    runs on the unit's device and returns to the state's (``on_device``).
    """

    def __init__(self, units: Sequence[nn.Module], scale: int):
        self.units = units
        self.scale = scale
        self.num_slices = len(units) // scale

    def __call__(self, x: torch.Tensor, c: int) -> torch.Tensor:
        unit = self.units[c * self.scale]
        return on_device(unit, x, self._step(unit))

    def _step(self, unit: nn.Module) -> Any:
        def step(x: torch.Tensor) -> torch.Tensor:
            branch = residual_branch(unit, x)
            return branch + x if self.scale == 1 else x + self.scale * branch

        return step


class UnitGraphs:
    """``graphs[j] = (x_j, f_j(x_j))`` recorded with autograd, each built on first use and kept.

    Unit ``j`` is recomputed on its converged input ``states[j]`` (moved to its device, a
    fresh leaf), in its current mode with its running statistics untouched. A rank of the
    distributed backend builds only the graphs it asks for: the adjoint steps it evaluates
    and the units whose parameter gradients it computes; ``built`` counts them.
    """

    def __init__(self, units: Sequence[nn.Module], states: Sequence[torch.Tensor]):
        self.units, self.states = units, states
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        if j not in self.cache:
            unit = self.units[j]
            x = self.states[j].detach().to(_device(unit, self.states[j].device)).requires_grad_()
            with torch.enable_grad(), frozen_statistics([unit]):
                self.cache[j] = (x, residual_branch(unit, x))
        return self.cache[j]

    @property
    def built(self) -> int:
        """How many units were recomputed."""
        return len(self.cache)


class AdjointSteps:
    """Level ``l`` of the adjoint hierarchy: slice ``i`` is ``μ + s J_{c s}(x_{c s})^T μ``, ``c = N_l - 1 - i``, ``s = m^l``.

    ``graphs[j]`` is ``(x_j, f_j(x_j))`` recorded with autograd (``UnitGraphs``), so each
    step is one vector-Jacobian product (the graph is kept for the next), on the unit's
    device; the result returns to ``μ``'s device.
    """

    def __init__(self, graphs: UnitGraphs | Sequence[tuple[torch.Tensor, torch.Tensor]], scale: int):
        self.graphs = graphs
        self.scale = scale
        self.num_slices = len(graphs) // scale

    def __call__(self, mu: torch.Tensor, i: int) -> torch.Tensor:
        x, y = self.graphs[(self.num_slices - 1 - i) * self.scale]
        here = mu.to(x.device)
        (vjp,) = torch.autograd.grad(y, x, here, retain_graph=True)
        return (here + vjp if self.scale == 1 else here + self.scale * vjp).to(mu.device)


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
            on_device(unit, x.detach(), lambda y, unit=unit: residual_branch(unit, y))
    return len(units)


def is_distributed(backend: Any) -> bool:
    """Whether ``backend`` splits the maps over the ranks of a process group."""
    return isinstance(backend, DistributedBackend)


@dataclass
class Block:
    """One stage's MGRIT block: its units, levels, options and backend, and what its last solves did.

    ``backend`` is ``None`` (serial) or a backend object that ``mgrit`` maps with.
    """

    units: list[nn.Module]
    num_levels: int
    options: SolverOptions
    record: dict[str, Any] = field(default_factory=dict)
    fine_states: list[torch.Tensor] = field(default_factory=list)
    backend: Any = None

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
            backend="serial" if self.backend is None else self.backend,
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

    def gradient_units(self) -> list[int]:
        """The units whose parameter gradients this process computes: all, or the rank's fixed block.

        Under the distributed backend unit ``j`` belongs to rank ``slice_owners(N, R)[j]``
        (contiguous blocks), whichever ranks evaluated its steps during the solves.

        Returns
        -------
        list of int
            Unit indices, increasing.
        """
        n = len(self.units)
        if not is_distributed(self.backend):
            return list(range(n))
        owners = slice_owners(n, self.backend.world_size)
        return [j for j in range(n) if owners[j] == self.backend.rank]

    def adjoint(self, states: Sequence[torch.Tensor], grad_out: torch.Tensor) -> tuple[torch.Tensor, list[Any]]:
        """``(λ_0, parameter gradients)`` from ``λ_N = grad_out`` and the fine states ``x_0..x_{N-1}``, by MGRIT.

        Each unit is recomputed at most once on its converged input ``x_j`` (in the same
        mode, with the same batch statistics, running statistics untouched), where it is
        needed (``UnitGraphs``); the adjoint steps are vector-Jacobian products on these
        graphs; the parameter gradients ``(∂f_j/∂θ_j)^T λ_{j+1}`` are independent over ``j``
        (one ``autograd.grad`` call over ``gradient_units``). Under the distributed backend
        the other units' gradients are zeros here and one all-reduce (a sum) over the
        backend's group completes them: every rank returns the same, complete gradients.
        """
        n, m = len(self.units), self.options.coarsening
        graphs = UnitGraphs(self.units, states)
        levels = [AdjointSteps(graphs, m**l) for l in range(self.num_levels)]
        result = self._mgrit(levels, grad_out.detach(), self.options.adjoint_iterations)
        mu = result.fine_states  # μ_i = λ_{N-i}
        mine = self.gradient_units()
        owned = [p for j in mine for p in _trainable(self.units[j])]
        grads: list[Any] = []
        if owned:
            outputs = [graphs[j][1] for j in mine]
            lambdas = [mu[n - 1 - j].to(outputs[k].device) for k, j in enumerate(mine)]
            grads = list(torch.autograd.grad(outputs, owned, lambdas, allow_unused=True))
        if is_distributed(self.backend):
            grads = self._all_reduced(dict(zip(map(id, owned), grads)))
        self.record.update(
            adjoint_iterations=result.iterations,
            adjoint_evaluations=list(result.level_evaluations),
            recomputed_units=graphs.built,
            gradient_units=len(mine),
        )
        return mu[n], grads

    def _all_reduced(self, mine: dict[int, Any]) -> list[torch.Tensor]:
        """Every parameter's gradient: this rank's (zeros for the units it does not own), summed over the group.

        One flattened all-reduce of the block's parameter count; each gradient has exactly
        one non-zero contribution, so the sum is that value, bit for bit, on every rank.
        """
        params = self.parameters()
        backend = self.backend
        parts = []
        for p in params:
            g = mine.get(id(p))
            parts.append((torch.zeros_like(p) if g is None else g).reshape(-1).to(backend.device))
        flat = torch.cat(parts) if parts else torch.zeros(0, device=backend.device)
        collective(dist.all_reduce, flat, op=dist.ReduceOp.SUM, group=backend.group)
        grads, offset = [], 0
        for p in params:
            grads.append(flat[offset : offset + p.numel()].view_as(p).to(p.device))
            offset += p.numel()
        return grads

    def parameters(self) -> list[torch.nn.Parameter]:
        """The block's parameters that require gradients, unit by unit."""
        return [p for unit in self.units for p in _trainable(unit)]


def _trainable(unit: nn.Module) -> list[torch.nn.Parameter]:
    """``unit``'s parameters that require gradients, in order."""
    return [p for p in unit.parameters() if p.requires_grad]


class AdjointStage(torch.autograd.Function):
    """A block whose forward runs MGRIT without a graph and whose backward solves the adjoint by MGRIT.

    Under the distributed backend the backward ends in the block's one all-reduce, so it
    returns the complete gradients on every rank.
    """

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


def run_stage(
    units: Sequence[nn.Module], x: torch.Tensor, options: SolverOptions, backend: Any = None
) -> tuple[torch.Tensor, Block | None]:
    """One stage: its first unit, its MGRIT block (mapped by ``backend``), its remaining units (sequentially), and the block's statistics.

    The sequential units run on their own devices (``on_device``); the stage's output is on
    ``x``'s device.

    Returns
    -------
    tuple
        The stage's output and its ``Block`` (``None`` where the stage ran sequentially).
    """
    x = on_device(units[0], x)
    rest = list(units[1:])
    count, num_levels = stage_split(len(rest), options.levels, options.coarsening)
    block = None
    if count:
        block = Block(rest[:count], num_levels, options, backend=backend)
        params = block.parameters()
        wants_graph = torch.is_grad_enabled() and (x.requires_grad or bool(params))
        if options.backward == "adjoint" and wants_graph:
            x = AdjointStage.apply(x, block, *params)
        elif is_distributed(backend):
            with torch.no_grad():  # no graph wanted: the maps broadcast plain tensors
                x = block.solve(x)
        else:
            x = block.solve(x)
        block.record["statistics_evaluations"] = update_statistics(block.units, block.fine_states[:-1])
        block.fine_states = []  # the graph (autograd) or the saved states (adjoint) live on where backward needs them
    for unit in rest[count:]:
        x = on_device(unit, x)
    return x, block
