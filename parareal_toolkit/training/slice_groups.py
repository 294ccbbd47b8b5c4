"""Slice groups and data groups: torchrun's ranks cut into slice-parallel replicas (placement ``distributed``).

With ``R`` processes and ``S`` ranks per slice group (``S`` divides ``R``), ranks ``r`` with
the same ``r // S`` form one *slice group*, an ``S``-way slice-parallel network; ranks with
the same ``r % S`` form a *data group*, across which gradients are averaged. See
``parareal_toolkit.training.placement`` for what each group computes.
"""

from __future__ import annotations

import datetime

import torch
import torch.distributed as dist

from ..backends.distributed import collective
from ..errors import InputError
from .data_parallel import DataParallelGroup

__all__ = ["SliceGroups", "slice_parallel_groups"]


class SliceGroups(DataParallelGroup):
    """This rank's data-parallel replica (a slice group) and its place inside it.

    As a :class:`~parareal_toolkit.training.data_parallel.DataParallelGroup` it describes
    the *replicas*: ``rank`` is this rank's replica (``global_rank // slices``) and
    ``world_size`` the number of replicas, which is how the data are sharded and the global
    batch is split. Sums of metrics run over the data group (one rank per replica); stop
    decisions and barriers over all ranks; rank 0 of the world is the main rank.

    Parameters
    ----------
    global_rank, world : int
        This process's rank and the number of processes.
    slices : int
        Ranks per slice group (``S``); it divides ``world``.
    slice_group, data_group : ProcessGroup
        The ranks of this slice group, and those with the same ``global_rank % slices``.
    device : torch.device
        Where this rank computes.
    """

    def __init__(self, global_rank: int, world: int, slices: int, slice_group, data_group, device: torch.device):
        super().__init__(global_rank // slices, world // slices, device)
        self.global_rank, self.world, self.slices = global_rank, world, slices
        self.slice_rank = global_rank % slices
        self.slice_group, self.data_group = slice_group, data_group

    @property
    def enabled(self) -> bool:
        """Always true: the slice group communicates even when there is one replica."""
        return True

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 of the world, which writes checkpoints, metrics and summaries."""
        return self.global_rank == 0

    def all_true(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every rank of the world (so that all stop together).

        Returns
        -------
        bool
            The logical AND of ``flag`` over all ranks.
        """
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        collective(dist.all_reduce, t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def sum(self, values: list[float]) -> list[float]:
        """``values`` summed over the replicas (the data group; the ranks of a slice group agree).

        Returns
        -------
        list of float
            The sums, the same on every rank.
        """
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        collective(dist.all_reduce, t, group=self.data_group)
        return t.tolist()

    def barrier(self) -> None:
        """Wait until every rank of the world gets here."""
        collective(dist.barrier)

    def __repr__(self) -> str:
        return (
            f"SliceGroups(rank={self.global_rank} of {self.world}, slice rank {self.slice_rank} of {self.slices}, "
            f"replica {self.rank} of {self.world_size}, device={self.device})"
        )


def slice_parallel_groups(group: DataParallelGroup, slices: int | None, *, timeout: float) -> SliceGroups:
    """Cut the world of ``group`` (torchrun's processes) into slice groups of ``slices`` consecutive ranks.

    Every rank must call this, in the same order (it creates process groups). ``slices``
    defaults to the world size (one slice-parallel network, no data parallelism).

    Parameters
    ----------
    group : DataParallelGroup
        The whole world, as :func:`~parareal_toolkit.training.data_parallel.data_parallel_group` yields it.
    slices : int or None
        Ranks per slice group; must divide the world size.
    timeout : float, keyword-only
        Seconds that bound every collective of the new groups.

    Returns
    -------
    SliceGroups
        This rank's slice group, data group and replica.

    Raises
    ------
    ValueError
        When not run under torchrun with several processes, or when ``slices`` does not
        divide the world size.
    """
    world = group.world_size
    if not group.enabled:
        raise InputError(
            "placement 'distributed' splits the slices over torchrun's processes; launch with "
            "`torchrun --nproc-per-node R parareal train ...` (R >= 2), or use placement 'single' or 'devices'."
        )
    slices = world if slices is None else slices
    if world % slices:
        raise InputError(
            f"`slice_groups` must divide the number of processes ({world}) into data-parallel replicas; got {slices}."
        )
    wait = datetime.timedelta(seconds=timeout)
    mine_slice = mine_data = None
    # every rank creates every group, in the same order, as torch.distributed.new_group requires
    for replica in range(world // slices):
        ranks = list(range(replica * slices, (replica + 1) * slices))
        created = dist.new_group(ranks, timeout=wait)
        if group.rank in ranks:
            mine_slice = created
    for position in range(slices):
        ranks = list(range(position, world, slices))
        created = dist.new_group(ranks, timeout=wait)
        if group.rank in ranks:
            mine_data = created
    return SliceGroups(group.rank, world, slices, mine_slice, mine_data, group.device)
