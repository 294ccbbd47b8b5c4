"""Run synchronous pipeline schedules for real with ``torch.distributed.pipelining``.

Launch one process per stage (``torchrun --nproc-per-node 2 -m parareal_toolkit.cli
pipeline-run --schedule NAME --out DIR``, which calls :func:`run`); every rank writes the
gradients of its stage to ``DIR/grads_rank{r}.pt``. On CPU with gloo, in float64, these
equal single-process backprop of the whole model on the whole batch (tested).

Schedules: ``gpipe`` (torch ``ScheduleGPipe``), ``1f1b`` (``Schedule1F1B``), and
``zb-h1`` / ``layerpipe-flush`` run as custom action lists through torch's
``_PipelineScheduleRuntime``: our engine's order, with the backward split into ``I``
(activation gradient, A) and ``W`` (weight gradient, G) per stage.

What torch cannot express, and what we do instead: an action is ``(stage, kind,
micro-batch)`` executed on the rank that owns the stage, so LayerPipe's intra-layer move of
G_l to another processor (it needs delta_l and a_{l-1} sent there and the gradient sent
back) and its inter-layer split of A_l across two ranks have no action kind. We run G on
the owning rank at the slot LayerPipe assigns it (W deferred into idle slots, A first) and
account for the cross-processor placement in the simulation only. Asynchronous PipeDream /
LayerPipe (weight stashing, per-layer staleness) are not torch schedules at all: they are
simulated (``engine``) and emulated numerically (``emulator``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .._names import RUNTIME_SCHEDULES
from .._validation import check_choice, check_int, check_timeout
from ..backends.errors import DEFAULT_TIMEOUT_S
from ..errors import InputError

if TYPE_CHECKING:
    from torch.distributed.pipelining.schedules import _Action

__all__ = [
    "build_model",
    "stage_bounds",
    "example_batch",
    "torch_actions",
    "check_torchrun_environment",
    "run",
    "RUNTIME_SCHEDULES",
]


def build_model(seed: int = 0) -> Any:
    """A small float64 MLP (4 linear layers, tanh between them) used by the runtime check.

    Returns
    -------
    torch.nn.Sequential
        Widths 6 -> 10 -> 8 -> 8 -> 3, weights and biases drawn from ``seed``.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = []
    widths = [6, 10, 8, 8, 3]
    for i in range(4):
        lin = torch.nn.Linear(widths[i], widths[i + 1]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen, dtype=torch.float64))
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=gen, dtype=torch.float64))
        layers.append(lin)
        if i < 3:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def stage_bounds(num_stages: int = 2) -> list[range]:
    """Modules of :func:`build_model` on each stage: two stages, or one with everything.

    Returns
    -------
    list of range
        Indices into the ``Sequential``, one range per stage.
    """
    return [range(4), range(4, 7)] if num_stages == 2 else [range(7)]


EXAMPLE_BATCH = 8  # samples in the runtime check's batch, split into micro-batches


def example_batch(batch: int = EXAMPLE_BATCH, seed: int = 1) -> tuple[Any, Any]:
    """Inputs and targets of the runtime check (float64, drawn from ``seed``).

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Inputs of shape ``(batch, 6)`` and targets of shape ``(batch, 3)``.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, 6, generator=gen, dtype=torch.float64),
        torch.randn(batch, 3, generator=gen, dtype=torch.float64),
    )


def torch_actions(name: str, num_stages: int, microbatches: int) -> dict[int, list[_Action | None]]:
    """Our order of schedule ``name`` as torch ``_Action`` lists (A -> I, G -> W).

    Returns
    -------
    dict of int to list of torch ``_Action``
        Per rank (one stage per rank), its actions in order: torch's ``pipeline_order``.
    """
    from torch.distributed.pipelining.schedules import _Action, _ComputationType

    from .costs import profile_from_costs
    from .schedule_builders import build_schedule

    kinds = {
        "F": _ComputationType.FORWARD,
        "A": _ComputationType.BACKWARD_INPUT,
        "G": _ComputationType.BACKWARD_WEIGHT,
        "B": _ComputationType.FULL_BACKWARD,
    }
    profile = profile_from_costs([1.0] * num_stages, [1.0] * num_stages, [1.0] * num_stages)
    sched = build_schedule(name, profile, num_stages, microbatches=microbatches)
    if sched.order is None:
        raise InputError(f"schedule {name!r} has no fixed order to hand to torch.")
    return {rank: [_Action(t.unit, kinds[t.kind], t.microbatch) for t in row] for rank, row in enumerate(sched.order)}


_LAUNCH = "torchrun --nproc-per-node 2 -m parareal_toolkit.cli pipeline-run --out DIR"


def check_torchrun_environment() -> int:
    """The rank torchrun gave this process; ``ValueError`` outside a two-process torchrun launch.

    :func:`run` joins the process group that torchrun describes in the environment
    (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) and splits the model into
    exactly two stages, so it needs ``WORLD_SIZE=2``. Checked before any process group is
    created, so a plain ``python`` launch fails at once with the command to use.

    Returns
    -------
    int
        ``RANK``, 0 or 1.
    """
    missing = [key for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if key not in os.environ]
    if missing:
        raise InputError(
            f"pipeline-run must be started by torchrun (environment variable {missing[0]} is not set): {_LAUNCH}."
        )
    world, rank = os.environ["WORLD_SIZE"], os.environ["RANK"]
    if world != "2":
        raise InputError(
            f"pipeline-run runs two pipeline stages: launch two processes ({_LAUNCH}); got WORLD_SIZE={world}."
        )
    if rank not in ("0", "1"):
        raise InputError(f"`RANK` must be 0 or 1 for WORLD_SIZE=2; got {rank!r}.")
    return int(rank)


def run(name: str, microbatches: int, out: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Body of one torchrun process: one stage of schedule ``name`` on the example batch.

    Joins the gloo process group torchrun describes (as
    :func:`~parareal_toolkit.backends.distributed.process_group` sets it up: every send,
    receive and barrier bounded by ``timeout`` seconds, default 300), runs one step of
    ``microbatches`` micro-batches (a divisor of the example batch's 8 samples) and saves
    this rank's parameter gradients (named as in :func:`build_model`) and losses to
    ``out/grads_rank{rank}.pt``. Every rank leaves through a barrier, then destroys the
    process group; a rank whose peer dies, stops or does not answer within ``timeout``
    raises :class:`~parareal_toolkit.backends.distributed.DistributedError`. Outside a
    two-process torchrun launch it raises ``ValueError`` (:func:`check_torchrun_environment`)
    before joining anything.
    """
    name = check_choice(name, "schedule", RUNTIME_SCHEDULES)
    microbatches = check_int(microbatches, "microbatches", minimum=1)
    if EXAMPLE_BATCH % microbatches:
        raise InputError(
            f"`microbatches` must divide the example batch of {EXAMPLE_BATCH} samples "
            f"({', '.join(str(m) for m in range(1, EXAMPLE_BATCH + 1) if EXAMPLE_BATCH % m == 0)}); got {microbatches}."
        )
    timeout = check_timeout(timeout)
    check_torchrun_environment()

    import torch
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe
    from torch.distributed.pipelining.schedules import _PipelineSchedule, _PipelineScheduleRuntime

    from ..backends.distributed import process_group

    # leaves through a barrier (a rank exiting under a live gloo peer can abort) unless it raised
    with process_group("gloo", timeout=timeout) as (rank, world):
        model = build_model()
        bounds = stage_bounds(world)[rank]
        submod = torch.nn.Sequential(*[model[i] for i in bounds])
        stage = PipelineStage(submod, rank, world, torch.device("cpu"))
        loss_fn = torch.nn.functional.mse_loss
        schedule: _PipelineSchedule
        if name == "gpipe":
            schedule = ScheduleGPipe(stage, microbatches, loss_fn=loss_fn)
        elif name == "1f1b":
            schedule = Schedule1F1B(stage, microbatches, loss_fn=loss_fn)
        else:  # zb-h1, layerpipe-flush: our order as a custom action list
            runtime = _PipelineScheduleRuntime([stage], microbatches, loss_fn=loss_fn)
            actions = torch_actions(name, world, microbatches)
            runtime.pipeline_order = actions
            runtime._prepare_schedule_with_comms(actions)
            schedule = runtime
        x, y = example_batch()
        losses: list = []
        if rank == 0:
            schedule.step(x)
        else:
            schedule.step(target=y, losses=losses)
        grads = {}
        for k, p in submod.named_parameters():
            if p.grad is None:
                raise RuntimeError(f"rank {rank}: parameter {k} got no gradient from schedule {name!r}.")
            grads[f"{bounds.start + int(k.split('.')[0])}.{k.split('.', 1)[1]}"] = p.grad.clone()
        torch.save(
            {"grads": grads, "losses": [float(l.detach()) for l in losses]}, os.path.join(out, f"grads_rank{rank}.pt")
        )
