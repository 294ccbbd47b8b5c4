r"""Where a parareal network's slices train: one device, one device per slice, or one rank per slice group.

A slice is subnetwork ``g^j`` with its preprocessing ``C^j``; the coarse networks ``F^j``
and the postprocessing ``h`` are cheap and run where the driver runs. Three placements:

``single`` (default)
    The whole network on one device; under torchrun, replicated by
    :class:`~torch.nn.parallel.DistributedDataParallel` (``trainer``).
``devices``
    One process; slice ``j`` on ``devices[j % len(devices)]``, the coarse chain and ``h``
    on the first device, through :class:`~parareal_toolkit.backends.devices.DevicesBackend`.
    The computation is the single placement's, term by term: the same outputs, gradients and
    updates (on one kind of device, equal bit for bit).
``distributed``
    Under ``torchrun --nproc-per-node R`` with ``slice_groups = S`` (``S`` divides ``R``):
    ranks ``r`` with the same ``r // S`` form one *slice group*, an ``S``-way slice-parallel
    network (:class:`~parareal_toolkit.backends.distributed.DistributedBackend` over that group: rank
    ``r % S`` owns a contiguous block of slices, every rank runs the coarse chain and ``h``);
    the ``R / S`` slice groups are data-parallel replicas. The ranks with the same
    ``r % S`` form a *data group*; after each backward pass every gradient a rank holds is
    averaged over its data group only (one flattened all-reduce): the gradients of its own
    slices and of the replicated coarse networks and ``h``. The data are sharded over the
    replicas only: every rank of a slice group sees the same batch.

What is identical to single-process training, and why (``tests/test_training_slices.py``
checks it to 1e-5 in float32 after several SGD steps with momentum and weight decay):

* **Slice parallelism** (``R = S``), BatchNorm in training mode included: each slice's owner
  runs ``C^j`` and ``g^j`` on the whole batch, so its BatchNorm layers see the batch
  statistics the single process sees and update their running statistics once, as there;
  the coarse networks' BatchNorm runs on every rank on the same states. The gradient of
  slice ``j``'s parameters is exact on its owner (the only rank that updates them); the
  replicated parts receive identical, exact gradients on every rank. The weights agree up to
  the order of floating-point reductions.
* **Data parallelism** (``R / S > 1``) without BatchNorm: the average of the replicas'
  gradients is the gradient of the whole batch, as with DDP.
* **Data parallelism with BatchNorm** is *not* identical to one process: each replica
  normalises with the statistics of its own share of the batch (SyncBatchNorm is CUDA-only
  in PyTorch). It is identical to DDP with as many replicas (``placement="single"`` under
  torchrun with ``R / S`` processes), which the tests check instead.

Checkpoints. Training updates slice ``j`` on its owner only, so before a checkpoint every
rank receives each slice's parameters, buffers and SGD momentum from its owner
(:meth:`SlicePlacement.synchronize`); rank 0 then writes the full ``state_dict`` and
optimiser state, the format of a single-process run. A run trained with any placement
resumes and evaluates with any other, in one process or under torchrun.
"""

from __future__ import annotations

import datetime
from typing import cast

import torch
import torch.distributed as dist
from torch import nn

from ..backends.devices import DevicesBackend
from ..backends.distributed import DistributedBackend, DistributedError, collective, slice_owners
from ..errors import InputError, InputTypeError
from ..nn.network import PararealNetwork
from .config import TrainConfig
from .data_parallel import DataParallelGroup, resolve_device

__all__ = ["SlicePlacement", "SliceGroups", "place_for_training", "slice_device_names", "slice_parallel_groups"]


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


class SlicePlacement:
    """A network placed for training, with what its placement adds to a training step.

    Built by :func:`place_for_training`. ``device`` is where batches and labels go (the
    device of ``C^1`` and of the loss); ``backend`` is what the network's forward maps its
    parallel sweeps with.

    Parameters
    ----------
    name : {"single", "devices", "distributed"}
        The placement.
    device : torch.device
        Where the inputs and labels of a training step go.
    backend : object, optional
        The network's backend (``None``: the network's own, serial).
    groups : SliceGroups, optional
        The slice and data groups of placement ``"distributed"``.
    """

    def __init__(self, name: str, device: torch.device, backend=None, groups: SliceGroups | None = None):
        self.name, self.device, self.backend, self.groups = name, device, backend, groups

    def reduce_gradients(self, model: nn.Module) -> None:
        """Average every gradient this rank holds over its data group (placement ``"distributed"`` only).

        The ranks of a data group own the same slices, so they hold the same parameters'
        gradients in the same order; one flattened all-reduce carries them all.
        """
        groups = self.groups
        if groups is None or groups.world_size == 1:
            return
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        collective(dist.all_reduce, flat, group=groups.data_group)
        flat /= groups.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def synchronize(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Give every rank each slice's parameters, buffers and momentum from its owner (all ranks call it).

        A no-op except for placement ``"distributed"``, where training updates slice ``j``
        only on its owner. Afterwards every rank holds the state a single process would
        hold, so any rank may write the checkpoint.
        """
        if self.groups is None:
            return
        backend = self.backend
        network = cast(PararealNetwork, model)
        backend.synchronize(network)
        n = len(network.subnetworks)
        owners = slice_owners(n, backend.world_size)
        with torch.no_grad():
            for j, (pre, sub) in enumerate(zip(network.preprocess, network.subnetworks)):
                src = backend._global_rank(owners[j])
                parameters = [*pre.parameters(), *sub.parameters()]
                mine = owners[j] == backend.rank
                # the owner says which parameters have SGD momentum (none before the first step)
                has = torch.tensor(
                    [int(mine and "momentum_buffer" in optimizer.state.get(p, {})) for p in parameters],
                    device=backend.device,
                )
                collective(dist.broadcast, has, src=src, group=backend.group)
                for p, flag in zip(parameters, has.tolist()):
                    if not flag:
                        continue
                    buffer = optimizer.state[p]["momentum_buffer"] if mine else torch.empty_like(p)
                    moved = buffer.to(backend.device).contiguous()
                    collective(dist.broadcast, moved, src=src, group=backend.group)
                    if not mine:
                        optimizer.state[p]["momentum_buffer"] = moved.to(p.device)

    def __repr__(self) -> str:
        return f"SlicePlacement({self.name!r}, device={self.device}, backend={self.backend!r})"


def slice_device_names(config: TrainConfig) -> list[str]:
    """The devices ``placement="devices"`` cycles the slices over: ``config.devices``, or by
    default every visible GPU when ``config.device`` resolves to CUDA, else the CPU.

    Returns
    -------
    list of str
        Device names, in slice order (slice ``j`` on entry ``j % len``).
    """
    if config.devices is not None:
        return list(config.devices)
    cuda = resolve_device(config.device).type == "cuda"
    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if cuda else ["cpu"]


def place_for_training(config: TrainConfig, model: nn.Module, group: DataParallelGroup) -> SlicePlacement:
    """Place ``model`` as ``config.placement`` says and set its backend; return the placement.

    ``"single"``: the model moves to ``group.device``. ``"devices"``: ``C^j`` and ``g^j``
    move to ``config.devices[j % len]`` (default: every visible GPU when ``config.device``
    resolves to CUDA, else the CPU), the coarse networks and ``h`` to the first device;
    one process only. ``"distributed"``: the model moves to ``group.device`` and maps its
    sweeps over ``group.slice_group`` (``group`` must be :class:`SliceGroups`).

    Returns
    -------
    SlicePlacement
        The placement, whose ``device`` receives the batches.

    Raises
    ------
    ValueError
        For ``"devices"`` under torchrun with several processes, device names torch does
        not know, or a ``"distributed"`` placement whose slice group has more ranks than
        the network has slices (a rank would own none).
    """
    if config.placement == "single":
        model.to(group.device)
        return SlicePlacement("single", group.device)
    network = cast(PararealNetwork, model)  # TrainConfig allows the other placements for parareal-resnet only
    if config.placement == "devices":
        if group.enabled:
            raise InputError(
                "placement 'devices' places the slices in one process; under torchrun use placement "
                "'distributed' (one slice group per rank) or 'single' (data parallelism)."
            )
        devices = DevicesBackend(slice_device_names(config))
        for device in devices.devices:
            if device.type == "cuda" and not torch.cuda.is_available():
                raise InputError(f"`devices` names {device} but torch.cuda.is_available() is False.")
        devices.place(network)
        network.backend = devices
        return SlicePlacement("devices", devices.output_device, devices)
    if not isinstance(group, SliceGroups):
        raise InputTypeError("placement 'distributed' needs the SliceGroups of parareal_toolkit.training.placement.")
    if group.slices > len(network.subnetworks):
        raise InputError(
            f"`slice_groups` ({group.slices}) must not exceed the network's {len(network.subnetworks)} slices "
            "(--subnetworks): a rank would own no slice."
        )
    network.to(group.device)
    try:
        backend = DistributedBackend(group.slice_group)
    except RuntimeError as exc:  # not initialised: a bug of the caller, said plainly
        raise DistributedError(str(exc)) from None
    network.backend = backend
    return SlicePlacement("distributed", group.device, backend, groups=group)
