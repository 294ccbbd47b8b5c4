"""Data loaders of a run: shuffled training batches shared out over replicas, test shards.

The training sampler is always a :class:`~torch.utils.data.distributed.DistributedSampler`,
with one replica too: it shuffles from ``seed`` and the epoch only, so one process and
``torchrun`` draw the same global batches and a resumed run replays the order of an
uninterrupted one.

The random augmentation of a training image (crop offset, flip) is drawn from a generator
seeded with ``(seed, epoch, index)`` only (:class:`PerSampleSeeded`), not from whichever
process loads it: with 0, 1 or 8 ``DataLoader`` workers, and after a resume, image ``i``
of epoch ``e`` is augmented the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.data.distributed import DistributedSampler

__all__ = ["PerSampleSeeded", "train_loader", "test_loader", "to_device"]


class PerSampleSeeded(Dataset):
    """``dataset[index]`` computed with torch's generator seeded from ``(seed, epoch, index)``.

    torchvision's random transforms draw from torch's global generator, which in a
    ``DataLoader`` worker is seeded per worker: the augmentation of an image would depend
    on the number of workers and on which worker loads it. Here each item is computed
    inside :func:`torch.random.fork_rng` with the CPU generator seeded from
    ``numpy.random.SeedSequence([seed, epoch, index])``, so it depends on those three only;
    the caller's generator state is left as it was.

    Parameters
    ----------
    dataset : Dataset
        The dataset (with its random transform).
    seed : int
        The run's seed.

    Attributes
    ----------
    epoch : int
        Set with :meth:`set_epoch` before iterating (workers copy it when they start).
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the next items' augmentation for ``epoch``."""
        self.epoch = epoch

    def sample_seed(self, index: int) -> int:
        """The 64-bit seed of item ``index`` in the current epoch.

        Returns
        -------
        int
            ``SeedSequence([seed, epoch, index])``'s first 64 bits.
        """
        words = np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(2, np.uint32)
        return int(words[0]) << 32 | int(words[1])

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.sample_seed(index))
            return self.dataset[index]


def train_loader(
    dataset: Dataset, *, batch_size: int, rank: int, world_size: int, seed: int, workers: int, device: torch.device
) -> DataLoader:
    """Batches of ``batch_size`` images for replica ``rank``, reshuffled per epoch (``sampler.set_epoch``).

    The dataset is wrapped in :class:`PerSampleSeeded`: call ``loader.dataset.set_epoch`` with
    the sampler's.

    Returns
    -------
    torch.utils.data.DataLoader
        Its ``sampler`` is the :class:`~torch.utils.data.distributed.DistributedSampler`, its
        ``dataset`` the :class:`PerSampleSeeded` wrapper.
    """
    sampler: DistributedSampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False
    )
    return DataLoader(
        PerSampleSeeded(dataset, seed),
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
