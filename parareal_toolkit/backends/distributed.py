"""``torch.distributed``: the slices of a parallel sweep split over ranks (torchrun, gloo or NCCL).

Every rank runs the same program: the same :func:`~parareal_toolkit.parareal` call, the same
cheap sequential coarse sweeps, the same postprocessing and loss (SPMD). Only the parallel
sweeps are divided: slice ``j`` of a sweep is evaluated by one *owner* rank (contiguous
blocks of slices per rank), and its result is broadcast to all ranks. Results are therefore
identical on every rank and equal to the serial backend's.

For networks the interface tensors travel forward by broadcast and their gradients come back
in ``loss.backward()`` unchanged: each sweep is one autograd node (:class:`_Sweep`), the
same on every rank, so the collectives of the backward pass run in the same order
everywhere. The owner keeps the graph of its slices inside that node (as
``torch.utils.checkpoint`` does) and back-propagates through it there, so the parameters
of subnetwork ``j`` (and of its preprocessing ``C^j``) receive exact gradients on their owner
only; replicated parts (coarse networks, postprocessing) receive identical, exact gradients on
every rank. Since every rank computes the same loss, the gradient arriving at a sweep's output
is already complete on its owner: no reduction is needed, only a broadcast of the input
gradients from their owners.

Data parallelism composes by giving each data-parallel replica its own process ``group``.

A rank that dies or never answers makes every other rank fail with
:class:`DistributedError` once the process group's timeout expires (see
``init_distributed()``), instead of hanging.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist

from ..propagator import Propagator

__all__ = ["DistributedBackend", "DistributedError", "init_distributed", "process_group", "slice_owners"]


class DistributedError(RuntimeError):
    """A collective of the distributed backend failed: a rank died or did not answer in time."""


def init_distributed(backend: str | None = None, *, timeout: float = 300.0) -> tuple[int, int]:
    """Initialise the default process group from torchrun's environment; return ``(rank, world_size)``.

    Does nothing but report when the group is already initialised.

    Parameters
    ----------
    backend : str, optional
        The ``torch.distributed`` backend; defaults to NCCL when CUDA is available and gloo
        otherwise. With NCCL each process uses GPU ``LOCAL_RANK``.
    timeout : float, keyword-only
        Seconds that bound every collective: a rank that never answers makes the others
        fail after it (default 300).

    Returns
    -------
    tuple of int
        ``(rank, world_size)`` of this process in the default group.

    Raises
    ------
    RuntimeError
        When the group is not initialised and torchrun's variables (``RANK``,
        ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) are not set.
    """
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"`timeout` must be a positive number of seconds; got {timeout!r}.")
    if not dist.is_initialized():
        missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
        if missing:
            raise RuntimeError(
                f"torch.distributed is not initialised and {missing} are not set: launch with "
                "`torchrun --nproc-per-node N script.py`."
            )
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    return dist.get_rank(), dist.get_world_size()


@contextmanager
def process_group(backend: str | None = None, *, timeout: float = 300.0) -> Iterator[tuple[int, int]]:
    """The default process group for the duration of a ``with`` block, as ``init_distributed()`` sets it up.

    A group this call initialises is destroyed on exit, also after an exception, so the
    process can set up another one later; a group that was already initialised is used and
    left alone (its owner tears it down).

    Yields
    ------
    tuple of int
        ``(rank, world_size)`` of this process.
    """
    created = not dist.is_initialized()
    rank, world_size = init_distributed(backend, timeout=timeout)
    try:
        yield rank, world_size
    finally:
        if created and dist.is_initialized():
            dist.destroy_process_group()


def slice_owners(count: int, world_size: int) -> list[int]:
    """The rank that evaluates each of ``count`` positions: contiguous, balanced blocks.

    Block sizes differ by at most one, the larger blocks on the lower ranks.

    Returns
    -------
    list of int
        ``count`` ranks in ``0..world_size-1``, non-decreasing.

    Examples
    --------
    >>> from parareal_toolkit.backends.distributed import slice_owners
    >>> slice_owners(5, 2)
    [0, 0, 0, 1, 1]
    """
    base, extra = divmod(count, world_size)
    owners: list[int] = []
    for rank in range(world_size):
        owners += [rank] * (base + (1 if rank < extra else 0))
    return owners


class _Sweep(torch.autograd.Function):
    """One parallel sweep as one autograd node, identical on every rank."""

    @staticmethod
    def forward(ctx, backend, propagator, slices, num_states, *inputs):
        states = inputs[:num_states]
        owners = slice_owners(len(slices), backend.world_size)
        local_inputs: dict[int, torch.Tensor] = {}
        local_outputs: dict[int, torch.Tensor] = {}
        with torch.enable_grad():
            for i, (u, j) in enumerate(zip(states, slices)):
                if owners[i] != backend.rank:
                    continue
                # A fresh leaf per input: the owner back-propagates to it inside backward.
                leaf = u.detach().requires_grad_(u.requires_grad)
                local_inputs[i] = leaf
                local_outputs[i] = propagator(leaf, j)
        outputs = backend._broadcast_all({i: y.detach() for i, y in local_outputs.items()}, owners)
        ctx.backend, ctx.owners = backend, owners
        ctx.local_inputs, ctx.local_outputs = local_inputs, local_outputs
        ctx.input_meta = [(tuple(u.shape), u.dtype, u.requires_grad) for u in states]
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grad_outputs):
        backend, owners = ctx.backend, ctx.owners
        pairs = [
            (y, g)
            for i, y in ctx.local_outputs.items()
            if y.requires_grad
            for g in [grad_outputs[i] if grad_outputs[i] is not None else torch.zeros_like(y)]
        ]
        if pairs:
            torch.autograd.backward([y for y, _ in pairs], [g for _, g in pairs])
        input_grads: list[torch.Tensor | None] = []
        for i, (shape, dtype, requires_grad) in enumerate(ctx.input_meta):
            if not requires_grad:
                input_grads.append(None)
                continue
            if owners[i] == backend.rank:
                leaf = ctx.local_inputs[i]
                grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
                grad = grad.contiguous()
            else:
                grad = torch.empty(shape, dtype=dtype, device=backend.device)
            backend._collective(dist.broadcast, grad, src=backend._global_rank(owners[i]), group=backend.group)
            input_grads.append(grad)
        return (None, None, None, None, *input_grads, None)


class DistributedBackend:
    """Split every parallel sweep over the ranks of a ``torch.distributed`` process group.

    Works for numpy states (ODE propagators: broadcast, no autograd) and torch tensors
    (networks: autograd across ranks, see the module docstring). ``torch.distributed`` must be
    initialised (``init_distributed()`` under ``torchrun``). Every rank must make the same
    calls in the same order, as in any SPMD program.

    Parameters
    ----------
    group : ProcessGroup, optional
        The ranks that share the slices (default: the whole world).
    """

    name = "distributed"

    def __init__(self, group=None):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "the distributed backend needs an initialised torch.distributed process group: call "
                "parareal_toolkit.backends.distributed.init_distributed() under torchrun first."
            )
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        self.device = (
            torch.device("cuda", torch.cuda.current_device())
            if dist.get_backend(group) == "nccl"
            else torch.device("cpu")
        )

    def _global_rank(self, group_rank: int) -> int:
        return group_rank if self.group is None else dist.get_global_rank(self.group, group_rank)

    def _collective(self, operation, *args, **kwargs):
        try:
            return operation(*args, **kwargs)
        except RuntimeError as exc:  # gloo/NCCL timeouts and lost peers are RuntimeErrors
            raise DistributedError(
                f"rank {self.rank} of {self.world_size}: {operation.__name__} failed; another rank died or did "
                f"not answer within the process group's timeout ({exc})"
            ) from exc

    def _broadcast_all(self, local: dict[int, Any], owners: Sequence[int]) -> list[Any]:
        """Every position's value on every rank, each broadcast from its owner, in position order."""
        meta = {
            i: ("numpy" if isinstance(v, np.ndarray) else "torch", tuple(v.shape), v.dtype) for i, v in local.items()
        }
        gathered: list[dict | None] = [None] * self.world_size
        self._collective(dist.all_gather_object, gathered, meta, group=self.group)
        described = {i: m for part in cast(list[dict], gathered) for i, m in part.items()}  # every rank sent one
        values = []
        for i, owner in enumerate(owners):
            kind, shape, dtype = described[i]
            if kind == "numpy":
                dtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
            if owner == self.rank:
                value = local[i]
                tensor = torch.from_numpy(np.ascontiguousarray(value)) if kind == "numpy" else value.contiguous()
                tensor = tensor.to(self.device) if kind == "numpy" else tensor
            else:
                tensor = torch.empty(shape, dtype=dtype, device=self.device)
            self._collective(dist.broadcast, tensor, src=self._global_rank(owner), group=self.group)
            values.append(tensor.cpu().numpy() if kind == "numpy" else tensor)
        return values

    def map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """Evaluate the slices this rank owns and broadcast every result to every rank.

        Returns
        -------
        list
            One state per slice, identical on every rank (torch tensors stay in the autograd
            graph when gradients are enabled).
        """
        slices = list(slices)
        states = list(states)
        owners = slice_owners(len(slices), self.world_size)
        if torch.is_grad_enabled() and all(isinstance(u, torch.Tensor) for u in states):
            # The anchor records the sweep in the graph even when no input needs a gradient
            # but the propagator's parameters do (a network's input x feeding C^j).
            anchor = torch.empty(0, requires_grad=True)
            return list(_Sweep.apply(self, propagator, slices, len(states), *states, anchor))
        local = {i: propagator(u, j) for i, (u, j) in enumerate(zip(states, slices)) if owners[i] == self.rank}
        return self._broadcast_all(local, owners)

    def owner(self, j: int, num_slices: int) -> int:
        """The rank that evaluates slice ``j`` of a ``num_slices``-slice sweep.

        Returns
        -------
        int
            The owner's rank within this backend's group.
        """
        return slice_owners(num_slices, self.world_size)[j]

    def synchronize(self, network) -> None:
        """Copy each slice's parameters and buffers from its owner to every rank.

        Training updates ``C^j`` and ``g^j`` only on their owner (the only rank that computes
        their gradients); call this before saving or evaluating the network on one rank.
        Coarse networks and ``h`` are replicated and already equal everywhere.
        """
        n = len(network.subnetworks)
        with torch.no_grad():
            for j, (pre, sub) in enumerate(zip(network.preprocess, network.subnetworks)):
                src = self._global_rank(self.owner(j, n))
                for tensor in [*pre.parameters(), *pre.buffers(), *sub.parameters(), *sub.buffers()]:
                    buffer = tensor.data.to(self.device)
                    self._collective(dist.broadcast, buffer, src=src, group=self.group)
                    if buffer.data_ptr() != tensor.data.data_ptr():
                        tensor.data.copy_(buffer)

    def __repr__(self) -> str:
        return f"DistributedBackend(rank={self.rank}, world_size={self.world_size})"
