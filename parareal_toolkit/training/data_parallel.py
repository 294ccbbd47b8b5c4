"""This process's place among the data-parallel replicas of a run, and their collectives.

Under ``torchrun`` (``WORLD_SIZE > 1``) every process holds a replica; the default process
group is set up and torn down by :func:`parareal_toolkit.backends.distributed.process_group`
(NCCL on CUDA, gloo on the CPU), the one set-up the package has. A single process needs no
group: its collectives are the identity.

Every collective of a run (these reductions, the barriers, ``DistributedDataParallel``'s
gradient all-reduce) is bounded by the group's timeout (``TrainConfig.timeout``, ``parareal
train --timeout``, default 300 s): a replica that is killed makes the others fail at once, a
replica that stops makes them fail when the timeout expires, each with a one-line
:class:`~parareal_toolkit.backends.distributed.DistributedError`. The timeout also bounds
the wait of the other replicas while rank 0 downloads CIFAR (``--download``): raise it for a
slow connection, or download first with one process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
import torch.distributed as dist

from .._names import DEVICE_NAMES
from .._validation import check_choice, check_timeout
from ..backends.distributed import collective, environment_rank, process_group
from ..backends.errors import DEFAULT_TIMEOUT_S
from ..errors import InputError

__all__ = ["DataParallelGroup", "data_parallel_group", "resolve_device"]


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The device ``"auto"``, ``"cpu"`` or ``"cuda"`` means for the process of local rank ``local_rank``.

    ``"auto"`` is CUDA when it is available. Raises ``ValueError`` for ``"cuda"`` without CUDA.

    Returns
    -------
    torch.device
        ``cuda:<local_rank>`` or ``cpu``.
    """
    check_choice(name, "device", DEVICE_NAMES)
    use_cuda = name == "cuda" or (name == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise InputError("`device` is 'cuda' but torch.cuda.is_available() is False.")
    return torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")


class DataParallelGroup:
    """Rank, world size and device of this replica, with the reductions a training loop needs.

    With ``world_size == 1`` every collective returns its input and no process group is used;
    otherwise a collective that fails (a replica died, stopped or did not answer within the
    group's timeout) raises :class:`~parareal_toolkit.backends.distributed.DistributedError`.

    Parameters
    ----------
    rank, world_size : int
        This process's rank and the number of replicas.
    device : torch.device
        Where this replica's model and batches live.
    """

    def __init__(self, rank: int = 0, world_size: int = 1, device: torch.device | None = None):
        self.rank = rank
        self.world_size = world_size
        self.device = torch.device("cpu") if device is None else device

    @property
    def enabled(self) -> bool:
        """Whether there are several replicas (and so a process group)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the replica that writes checkpoints, metrics and summaries."""
        return self.rank == 0

    def all_true(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every replica (so that all of them stop together).

        Returns
        -------
        bool
            The logical AND of ``flag`` over the replicas.
        """
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        collective(dist.all_reduce, t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def sum(self, values: list[float]) -> list[float]:
        """``values`` summed element-wise over the replicas (in float64).

        Returns
        -------
        list of float
            The sums, the same on every replica.
        """
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        collective(dist.all_reduce, t)
        return t.tolist()

    def barrier(self) -> None:
        """Wait until every replica gets here."""
        if self.enabled:
            collective(dist.barrier)

    def __repr__(self) -> str:
        return f"DataParallelGroup(rank={self.rank}, world_size={self.world_size}, device={self.device})"


@contextmanager
def data_parallel_group(device: str = "auto", *, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[DataParallelGroup]:
    """This process's replica as torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` describe it.

    With several processes the default process group is set up for the ``with`` block by
    :func:`~parareal_toolkit.backends.distributed.process_group` (NCCL for CUDA, gloo for the
    CPU) and torn down after it if this call created it; the CUDA device it selects is
    restored too. ``device`` is ``"auto"``, ``"cpu"`` or ``"cuda"`` (GPU ``LOCAL_RANK``).
    ``timeout`` (seconds, default 300) bounds every collective of the group: a replica that
    dies, stops or never answers makes the others raise
    :class:`~parareal_toolkit.backends.distributed.DistributedError` within it.

    Yields
    ------
    DataParallelGroup
        Rank 0 of 1 on the resolved device when not launched by torchrun.
    """
    timeout = check_timeout(timeout)
    rank, world_size = environment_rank()
    resolved = resolve_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    with ExitStack() as stack:
        if world_size > 1:
            if resolved.type == "cuda":
                stack.callback(torch.cuda.set_device, torch.cuda.current_device())
            backend = "nccl" if resolved.type == "cuda" else "gloo"
            rank, world_size = stack.enter_context(process_group(backend, timeout=timeout))
        yield DataParallelGroup(rank, world_size, resolved)
