"""CIFAR-10/100 through ``torchvision.datasets``, plus two synthetic sets for smoke runs.

* ``cifar10`` / ``cifar100``: :class:`torchvision.datasets.CIFAR10` / ``CIFAR100`` read
  from ``<data_dir>/cifar-10-batches-py`` / ``<data_dir>/cifar-100-python`` (torchvision
  checks the md5 sum of every batch file). Training augmentation is the standard one
  (He et al. 2016): 4-pixel zero padding, random 32x32 crop, horizontal flip; both splits
  are normalised with the training set's per-channel mean and standard deviation.
* ``fake``: :class:`torchvision.datasets.FakeData` (Gaussian noise, random labels; nothing
  to learn, for smoke runs of the pipeline).
* ``patterns``: :class:`~parareal_toolkit.training.ClassPatterns`, CIFAR-shaped images
  made of a fixed smooth pattern per class plus pixel noise: learnable in a few steps, for
  tests that training works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from torch.utils.data import Dataset
from torchvision import datasets, transforms

from .._validation import check_choice, check_int
from .class_patterns import ClassPatterns

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DatasetNotFoundError",
    "load_dataset",
    "train_transform",
    "test_transform",
    "num_classes_of",
]


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is missing or corrupt and ``download`` was not requested."""


@dataclass(frozen=True)
class DatasetSpec:
    """What the loader needs to know about one dataset: classes, normalisation, where it lives.

    ``mean`` and ``std`` are the per-channel statistics of the training images in [0, 1];
    ``folder`` and ``archive_url`` are torchvision's extracted folder under the data
    directory and the archive it downloads (``None`` for the synthetic sets).
    """

    name: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    folder: str | None = None
    archive_url: str | None = None


DATASETS: dict[str, DatasetSpec] = {
    "cifar10": DatasetSpec(
        "CIFAR-10",
        10,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        datasets.CIFAR10.base_folder,
        datasets.CIFAR10.url,
    ),
    "cifar100": DatasetSpec(
        "CIFAR-100",
        100,
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
        datasets.CIFAR100.base_folder,
        datasets.CIFAR100.url,
    ),
    "fake": DatasetSpec("FakeData", 10, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    "patterns": DatasetSpec("ClassPatterns", 10, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
}

_TORCHVISION_CLASSES = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}


def train_transform(dataset: str, *, augment: bool = True) -> transforms.Compose:
    """4-pixel pad + random 32x32 crop + horizontal flip (if ``augment``), then normalise.

    Returns
    -------
    torchvision.transforms.Compose
        PIL image to a normalised ``(3, 32, 32)`` float tensor.
    """
    spec = _spec(dataset)
    steps = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if augment else []
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(spec.mean, spec.std)])


def test_transform(dataset: str) -> transforms.Compose:
    """Normalise only (no augmentation): the evaluation transform of ``dataset``.

    Returns
    -------
    torchvision.transforms.Compose
        PIL image to a normalised ``(3, 32, 32)`` float tensor.
    """
    return train_transform(dataset, augment=False)


def _spec(dataset: str) -> DatasetSpec:
    return DATASETS[check_choice(dataset, "dataset", DATASETS)]


def load_dataset(
    dataset: str,
    *,
    train: bool,
    data_dir: str | os.PathLike = "data",
    download: bool = False,
    augment: bool = True,
    size: int | None = None,
    seed: int = 0,
) -> Dataset:
    """The training (``train=True``, augmented if ``augment``) or test split of ``dataset``.

    ``size`` is the number of images of the synthetic sets (default 1024 for training and
    256 for testing) and is ignored for CIFAR. Raises :class:`DatasetNotFoundError` (a
    ``FileNotFoundError``) naming the folder it looked in when a CIFAR set is missing or
    fails torchvision's md5 checks and ``download`` is false.

    Returns
    -------
    torch.utils.data.Dataset
        ``(image, label)`` pairs: a normalised ``(3, 32, 32)`` float tensor and an ``int``.
    """
    spec = _spec(dataset)
    seed = check_int(seed, "seed", minimum=0)
    transform = train_transform(dataset, augment=augment) if train else test_transform(dataset)
    if dataset in ("fake", "patterns"):
        size = (1024 if train else 256) if size is None else check_int(size, "size", minimum=1)
        # test images must differ from training images: offset the per-index seeds
        offset = 0 if train else 1_000_003
        if dataset == "fake":
            return datasets.FakeData(
                size, (3, 32, 32), spec.num_classes, transform=transform, random_offset=seed + offset
            )
        return ClassPatterns(size, num_classes=spec.num_classes, seed=seed, index_offset=offset, transform=transform)
    cls = _TORCHVISION_CLASSES[dataset]
    try:
        return cls(os.fspath(data_dir), train=train, transform=transform, download=download)
    except RuntimeError as exc:
        if download or "not found or corrupted" not in str(exc):
            raise
        folder = os.path.join(os.path.abspath(data_dir), cls.base_folder)
        raise DatasetNotFoundError(
            f"{spec.name} not found or corrupted in {folder} (torchvision checks the md5 sum of every batch file); "
            f"pass --download to fetch {spec.archive_url} into {os.path.abspath(data_dir)}, "
            f"or extract that archive there yourself, or point --data-dir at the folder that holds {spec.folder}/."
        ) from None


def num_classes_of(dataset: str) -> int:
    """The number of classes of ``dataset`` (10 or 100).

    Returns
    -------
    int
        The number of classes.
    """
    return _spec(dataset).num_classes
