"""Data loaders of a run: shuffled training batches shared out over replicas, test shards.

The training sampler is always a :class:`~torch.utils.data.distributed.DistributedSampler`,
with one replica too: it shuffles from ``seed`` and the epoch only, so one process and
``torchrun`` draw the same global batches and a resumed run replays the order of an
uninterrupted one.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.data.distributed import DistributedSampler

__all__ = ["train_loader", "test_loader", "to_device"]


def train_loader(
    dataset: Dataset, *, batch_size: int, rank: int, world_size: int, seed: int, workers: int, device: torch.device
) -> DataLoader:
    """Batches of ``batch_size`` images for replica ``rank``, reshuffled per epoch (``sampler.set_epoch``).

    Returns
    -------
    torch.utils.data.DataLoader
        Its ``sampler`` is the :class:`~torch.utils.data.distributed.DistributedSampler`.
    """
    sampler: DistributedSampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=False,
    )


def test_loader(
    dataset: Dataset, *, batch_size: int, rank: int, world_size: int, workers: int, device: torch.device
) -> DataLoader:
    """Replica ``rank`` evaluates ``dataset[rank::world_size]`` in order, with no padding.

    Summing the replicas' loss and error counts gives the whole test set's, each image once.

    Returns
    -------
    torch.utils.data.DataLoader
        Unshuffled batches of this replica's shard.
    """
    shard = dataset if world_size == 1 else Subset(dataset, range(rank, len(dataset), world_size))  # type: ignore[arg-type]
    return DataLoader(
        shard, batch_size=batch_size, shuffle=False, num_workers=workers, pin_memory=device.type == "cuda"
    )


def to_device(
    images: torch.Tensor, labels: torch.Tensor, device: torch.device, channels_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch moved to ``device`` (images in channels-last layout if asked).

    Returns
    -------
    tuple of torch.Tensor
        ``(images, labels)`` on ``device``.
    """
    images = images.to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, labels.to(device, non_blocking=True)
