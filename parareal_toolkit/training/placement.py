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
checks it in float32 after several SGD steps with momentum and weight decay, to a tolerance
derived from float32's rounding of the reordered sums):

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

Layer-parallel ResNets. ``devices`` and ``distributed`` also place a
:class:`~parareal_toolkit.nn.LayerParallelResNet` (recognised by its class): its MGRIT
blocks are mapped by the placement's backend (:meth:`LayerParallelResNet.place
<parareal_toolkit.nn.LayerParallelResNet.place>` puts each block's units in contiguous
chunks over the devices). Under ``distributed`` every rank of a slice group holds the
whole network with identical weights, gradients (the network's adjoint backward
all-reduces them) and running statistics, so a checkpoint needs no synchronisation and the
gradients only the data-group average; ``backward="autograd"`` is refused there.

The registry. :data:`PLACEMENTS` maps each name to its strategy, a :class:`Placement`:
what the configuration allows with it (:meth:`Placement.check_option`), the process groups
it trains in (:meth:`Placement.process_group`), how many devices share the memory
(:meth:`Placement.memory_devices`), where the network goes (:meth:`Placement.place`) and
what a training step and a checkpoint add (:meth:`Placement.reduce_gradients`,
:meth:`Placement.synchronize`). The configuration, the trainer and ``train`` ask the
strategy; none compares the name. A new placement is a :class:`Placement` subclass entered
in :data:`PLACEMENTS` here and its name in ``parareal_toolkit._names.PLACEMENT_NAMES`` (the
``--placement`` choices; a test checks that the two agree): two files. The backends below
know modules, slice numbers, tensors and ranks; which modules form a slice the network says
(:meth:`~parareal_toolkit.nn.PararealNetwork.slice_modules`).
"""

from __future__ import annotations

from typing import ClassVar, Protocol, cast

import torch
import torch.distributed as dist
from torch import nn

from .._names import PLACEMENT_NAMES
from .._validation import check_choice, check_int
from ..backends.devices import DevicesBackend
from ..backends.distributed import DistributedBackend, DistributedError, collective
from ..errors import InputError, InputTypeError
from ..nn.layer_parallel import LayerParallelResNet
from ..nn.network import PararealNetwork
from .data_parallel import DataParallelGroup, resolve_device
from .slice_groups import SliceGroups, slice_parallel_groups

__all__ = [
    "PLACEMENTS",
    "Placement",
    "PlacementSettings",
    "SlicePlacement",
    "SliceGroups",
    "place_for_training",
    "slice_device_names",
    "slice_parallel_groups",
]


class PlacementSettings(Protocol):
    """The fields of a :class:`~parareal_toolkit.training.TrainConfig` that a placement reads.

    (``TrainConfig`` asks :data:`PLACEMENTS` to check its fields, so this module names the
    fields it needs instead of importing the class.)
    """

    placement: str
    device: str
    devices: list[str] | None
    slice_groups: int | None
    subnetworks: int
    layer_parallel: str
    timeout: float


class Placement:
    """Where a parareal network's slices train and what that adds to training: one strategy of :data:`PLACEMENTS`.

    The base class does nothing beyond placing the whole model on the group's device; each
    placement overrides what it changes.

    Attributes
    ----------
    name : str
        The key in :data:`PLACEMENTS` and the ``--placement`` choice.
    splits_network : bool
        Whether the slices of a parareal network go to several devices or ranks (so the
        model must be ``parareal-resnet``).
    replicates_network : bool
        Whether every rank holds the whole network, replicated by
        :class:`~torch.nn.parallel.DistributedDataParallel` under torchrun (and converted to
        ``SyncBatchNorm`` with ``sync_batchnorm``).
    option : str or None
        The ``TrainConfig`` field that only this placement reads, if any.
    option_meaning : str
        What that field says, for messages.
    """

    name: ClassVar[str]
    splits_network: ClassVar[bool] = True
    replicates_network: ClassVar[bool] = False
    option: ClassVar[str | None] = None
    option_meaning: ClassVar[str] = ""

    def check_option(self, value):
        """``value`` of :attr:`option` checked and normalised (only called when it is given).

        Returns
        -------
        object
            The value to store in the configuration.
        """
        return value

    def process_group(self, world: DataParallelGroup, settings: PlacementSettings) -> DataParallelGroup:
        """The group this rank trains in, cut from ``world`` (torchrun's processes); every rank calls it.

        Returns
        -------
        DataParallelGroup
            ``world`` itself unless the placement divides it.
        """
        return world

    def memory_devices(self, settings: PlacementSettings) -> int:
        """Over how many devices like the run's device the network's memory is spread.

        Returns
        -------
        int
            At least 1.
        """
        return 1

    def place(self, settings: PlacementSettings, model: nn.Module, group: DataParallelGroup) -> SlicePlacement:
        """Move ``model`` where it trains and set its backend.

        Returns
        -------
        SlicePlacement
            The placed run, whose ``device`` receives the batches.
        """
        model.to(group.device)
        return SlicePlacement(self.name, group.device)

    def reduce_gradients(self, placed: SlicePlacement, model: nn.Module) -> None:
        """What a training step does to the gradients after the backward pass (nothing here).

        Returns
        -------
        None
        """

    def synchronize(self, placed: SlicePlacement, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """What gives every rank the whole state before a checkpoint (nothing here: it has it).

        Returns
        -------
        None
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SinglePlacement(Placement):
    """The whole network on one device; under torchrun, data-parallel replicas through DDP."""

    name = "single"
    splits_network = False
    replicates_network = True


class DevicesPlacement(Placement):
    """One process; slice ``j`` on ``devices[j % len]``, the coarse chain and ``h`` on the first device."""

    name = "devices"
    option = "devices"
    option_meaning = "one per slice"

    def check_option(self, value) -> list[str]:
        """``value`` as a list of device names (their meaning is checked where the devices are used).

        Returns
        -------
        list of str
            The names, in slice order.
        """
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise InputTypeError(f"`devices` must be a list of device names; got {value!r}.")
        if not value or not all(isinstance(d, str) and d for d in value):
            raise InputError(f"`devices` must be a non-empty list of device names; got {value!r}.")
        return list(value)

    def memory_devices(self, settings: PlacementSettings) -> int:
        """The GPUs among the slices' devices (at most one per slice); CPU "devices" share one RAM.

        Returns
        -------
        int
            At least 1.
        """
        # DevicesBackend refuses a name torch cannot parse, naming `devices`, before any work
        gpus = {d for d in DevicesBackend(slice_device_names(settings)).devices if d.type == "cuda"}
        if settings.layer_parallel != "none":  # a layer-parallel block's units spread over every device
            return max(1, len(gpus))
        return max(1, min(len(gpus), settings.subnetworks))

    def place(self, settings: PlacementSettings, model: nn.Module, group: DataParallelGroup) -> SlicePlacement:
        """Put ``C^j`` and ``g^j`` on device ``j`` (cycled), the rest on the first; one process only.

        Returns
        -------
        SlicePlacement
            Batches go to the first device, where ``C^1`` is.
        """
        if group.enabled:
            raise InputError(
                "placement 'devices' places the slices in one process; under torchrun use placement "
                "'distributed' (one slice group per rank) or 'single' (data parallelism)."
            )
        backend = DevicesBackend(slice_device_names(settings))
        for device in backend.devices:
            if device.type == "cuda" and not torch.cuda.is_available():
                raise InputError(f"`devices` names {device} but torch.cuda.is_available() is False.")
        if isinstance(model, LayerParallelResNet):
            model.place(backend)  # each MGRIT block's units in contiguous chunks over the devices
        else:
            network = cast(PararealNetwork, model)  # TrainConfig allows this placement for parareal-resnet only
            backend.place(network)
            network.backend = backend
        return SlicePlacement(self.name, backend.output_device, backend)


class DistributedPlacement(Placement):
    """Under torchrun: slice groups of ranks, each an ``S``-way slice-parallel replica (module docstring)."""

    name = "distributed"
    option = "slice_groups"
    option_meaning = "ranks per slice-parallel network"

    def check_option(self, value) -> int:
        """``value`` as a positive number of ranks per slice group.

        Returns
        -------
        int
            The number of ranks.
        """
        return check_int(value, "slice_groups", minimum=1)

    def process_group(self, world: DataParallelGroup, settings: PlacementSettings) -> SliceGroups:
        """This rank's slice group and data group (:func:`slice_parallel_groups`).

        Returns
        -------
        SliceGroups
            The replica this rank belongs to and its place in it.
        """
        return slice_parallel_groups(world, settings.slice_groups, timeout=settings.timeout)

    def place(self, settings: PlacementSettings, model: nn.Module, group: DataParallelGroup) -> SlicePlacement:
        """Put the network on the rank's device; its sweeps map over ``group.slice_group``.

        Returns
        -------
        SlicePlacement
            With the slice and data groups, which the gradients and checkpoints use.
        """
        if not isinstance(group, SliceGroups):
            raise InputTypeError(
                "placement 'distributed' needs the SliceGroups of parareal_toolkit.training.placement."
            )
        if isinstance(model, LayerParallelResNet):
            model.to(group.device)
            model.backend = _distributed_backend(group)  # refuses backward="autograd", naming `backward`
            return SlicePlacement(self.name, group.device, model.backend, groups=group)
        network = cast(PararealNetwork, model)  # TrainConfig allows this placement for parareal-resnet only
        if group.slices > network.num_subnetworks:
            raise InputError(
                f"`slice_groups` ({group.slices}) must not exceed the network's {network.num_subnetworks} slices "
                "(--subnetworks): a rank would own no slice."
            )
        network.to(group.device)
        backend = _distributed_backend(group)
        network.backend = backend
        return SlicePlacement(self.name, group.device, backend, groups=group)

    def reduce_gradients(self, placed: SlicePlacement, model: nn.Module) -> None:
        """Average every gradient this rank holds over its data group.

        The ranks of a data group own the same slices, so they hold the same parameters'
        gradients in the same order; one flattened all-reduce carries them all.

        Returns
        -------
        None
        """
        groups = placed.groups
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

    def synchronize(self, placed: SlicePlacement, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Give every rank each slice's parameters, buffers and SGD momentum from the slice's owner.

        Nothing to send for a :class:`~parareal_toolkit.nn.LayerParallelResNet`: every rank
        of a slice group holds identical weights, gradients and running statistics. Its
        forward results are broadcast to every rank, each rank updates every unit's
        statistics from those same states, and the adjoint backward ends in an all-reduce
        that gives every rank the complete gradient; identical gradients make identical
        SGD steps and momentum.

        Returns
        -------
        None
        """
        if isinstance(model, LayerParallelResNet):
            return
        backend = cast(DistributedBackend, placed.backend)
        network = cast(PararealNetwork, model)
        backend.synchronize(network)
        n = network.num_subnetworks
        with torch.no_grad():
            for j in range(n):
                owner = backend.owner(j, n)
                parameters = [p for module in network.slice_modules(j) for p in module.parameters()]
                mine = owner == backend.rank
                # the owner says which parameters have SGD momentum (none before the first step)
                has = torch.tensor(
                    [int(mine and "momentum_buffer" in optimizer.state.get(p, {})) for p in parameters],
                    device=backend.device,
                )
                backend.broadcast(has, owner)
                for p, flag in zip(parameters, has.tolist()):
                    if not flag:
                        continue
                    buffer = optimizer.state[p]["momentum_buffer"] if mine else torch.empty_like(p)
                    moved = backend.broadcast(buffer.to(backend.device).contiguous(), owner)
                    if not mine:
                        optimizer.state[p]["momentum_buffer"] = moved.to(p.device)


def _distributed_backend(group: SliceGroups) -> DistributedBackend:
    """A ``DistributedBackend`` over ``group.slice_group``; an uninitialised group is a ``DistributedError``."""
    try:
        return DistributedBackend(group.slice_group)
    except RuntimeError as exc:  # not initialised: a bug of the caller, said plainly
        raise DistributedError(str(exc)) from None


# name -> strategy; the names are PLACEMENT_NAMES (a test checks it), in that order
PLACEMENTS: dict[str, Placement] = {
    strategy.name: strategy for strategy in (SinglePlacement(), DevicesPlacement(), DistributedPlacement())
}


class SlicePlacement:
    """A network placed for training, with what its placement adds to a training step.

    Built by :func:`place_for_training`. ``device`` is where batches and labels go (the
    device of ``C^1`` and of the loss); ``backend`` is what the network's forward maps its
    parallel sweeps with; ``strategy`` is the entry of :data:`PLACEMENTS` named ``name``.

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
        self.strategy = PLACEMENTS[check_choice(name, "name", PLACEMENT_NAMES)]
        self.name, self.device, self.backend, self.groups = name, device, backend, groups

    def reduce_gradients(self, model: nn.Module) -> None:
        """Average every gradient this rank holds over its data group (placement ``"distributed"`` only).

        Returns
        -------
        None
        """
        self.strategy.reduce_gradients(self, model)

    def synchronize(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Give every rank each slice's parameters, buffers and momentum from its owner (all ranks call it).

        A no-op except for placement ``"distributed"``, where training updates slice ``j``
        only on its owner. Afterwards every rank holds the state a single process would
        hold, so any rank may write the checkpoint.

        Returns
        -------
        None
        """
        self.strategy.synchronize(self, model, optimizer)

    def __repr__(self) -> str:
        return f"SlicePlacement({self.name!r}, device={self.device}, backend={self.backend!r})"


def slice_device_names(config: PlacementSettings) -> list[str]:
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


def place_for_training(config: PlacementSettings, model: nn.Module, group: DataParallelGroup) -> SlicePlacement:
    """Place ``model`` as ``config.placement`` says and set its backend; return the placement.

    ``"single"``: the model moves to ``group.device``. ``"devices"``: ``C^j`` and ``g^j``
    move to ``config.devices[j % len]`` (default: every visible GPU when ``config.device``
    resolves to CUDA, else the CPU), the coarse networks and ``h`` to the first device;
    one process only. ``"distributed"``: the model moves to ``group.device`` and maps its
    sweeps over ``group.slice_group`` (``group`` must be :class:`SliceGroups`). The work is
    the strategy's: ``PLACEMENTS[config.placement].place``.

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
    return PLACEMENTS[config.placement].place(config, model, group)
