"""Data loaders of a run: shuffled training batches shared out over replicas, test shards.

The training sampler is always a :class:`~torch.utils.data.distributed.DistributedSampler`,
with one replica too: it shuffles from ``seed`` and the epoch only, so one process and
``torchrun`` draw the same global batches and a resumed run replays the order of an
uninterrupted one.

The random augmentation of a training image (crop offset, flip) is drawn from a generator
seeded with ``(seed, epoch, index)`` only (:class:`PerSampleSeeded`), not from whichever
process loads it: with 0, 1 or 8 ``DataLoader`` workers, and after a resume, image ``i``
of epoch ``e`` is augmented the same way.

An exception raised while a ``DataLoader`` worker process loads a batch reaches the main
process wrapped by torch: the same type, but with the message ``Caught X in DataLoader
worker process k. Original Traceback ...`` (the worker's whole traceback). The loaders here
(:class:`OneLineErrorsLoader`) raise it again with the original message only, so a data
error (a file that cannot be decoded, named) reads the same with ``workers=0`` and with
``workers > 0``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.data.distributed import DistributedSampler

__all__ = [
    "PerSampleSeeded",
    "OneLineErrorsLoader",
    "default_workers",
    "worker_error",
    "train_loader",
    "test_loader",
    "to_device",
]


def default_workers(preferred: int) -> int:
    """``preferred`` ``DataLoader`` workers, but at most the CPUs this process may run on (at least 0).

    More workers than CPUs make torch print a multi-line warning on every loader (and
    slow the run on a busy machine): a default must not do that.

    Returns
    -------
    int
        ``min(preferred, CPUs)``, the CPUs counted as torch counts them (the affinity mask
        where there is one, else ``os.cpu_count()``).
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(preferred, cpus))


def worker_error(exc: BaseException) -> BaseException | None:
    """The exception a ``DataLoader`` worker raised, rebuilt with its own message; ``None`` if ``exc`` is not one.

    torch re-raises a worker's exception in the main process as ``type(exc)(text)`` where
    ``text`` is ``"Caught NAME in DataLoader worker process K.\nOriginal Traceback ..."``
    followed by the worker's traceback, whose last line is ``module.NAME: message``. The
    result is ``type(exc)(message)``: the original type and message, without the traceback.

    Returns
    -------
    BaseException or None
        The rebuilt exception, or ``None`` when ``exc`` does not carry a worker's traceback
        (or its type cannot be built from one message).
    """
    text = str(exc)
    first, _, rest = text.partition("\n")
    name = type(exc).__name__
    if not (first.startswith(f"Caught {name} in DataLoader worker process") and rest.startswith("Original Traceback")):
        return None
    lines = rest.rstrip("\n").splitlines()
    for i in range(len(lines) - 1, 0, -1):
        head, colon, message = lines[i].partition(": ")
        if not lines[i].startswith(" ") and (head == name or head.endswith("." + name)):
            original = "\n".join([message, *lines[i + 1 :]]) if colon else ""
            break
    else:
        return None
    try:
        return type(exc)(original)
    except Exception:  # a type that does not take one message: keep torch's
        return None


class _OneLineErrors:
    """An iterator over a ``DataLoader``'s batches that re-raises a worker's exception with its own message."""

    def __init__(self, batches: Iterator[Any]):
        self._batches = batches

    def __iter__(self) -> _OneLineErrors:
        return self

    def __next__(self) -> Any:
        try:
            return next(self._batches)
        except StopIteration:
            raise
        except Exception as exc:
            original = worker_error(exc)
            if original is None:
                raise
            raise original from None

    def __len__(self) -> int:
        return len(self._batches)  # type: ignore[arg-type]


class OneLineErrorsLoader(DataLoader):
    """A ``DataLoader`` whose iterators raise a worker's exception as the worker raised it (see :func:`worker_error`).

    With ``num_workers=0`` nothing changes (the exception is raised in this process).
    """

    def __iter__(self) -> Any:
        return _OneLineErrors(super().__iter__())


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
    OneLineErrorsLoader
        A ``DataLoader`` (worker errors raised with their own message); its ``sampler`` is the :class:`~torch.utils.data.distributed.DistributedSampler`, its
        ``dataset`` the :class:`PerSampleSeeded` wrapper.
    """
    sampler: DistributedSampler = DistributedSampler(
        dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False
    )
    return OneLineErrorsLoader(
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
    OneLineErrorsLoader
        A ``DataLoader`` (worker errors raised with their own message) of unshuffled batches of this replica's shard.
    """
    shard = dataset if world_size == 1 else Subset(dataset, range(rank, len(dataset), world_size))  # type: ignore[arg-type]
    return OneLineErrorsLoader(
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
