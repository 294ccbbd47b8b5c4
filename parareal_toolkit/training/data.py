"""CIFAR-10/100 through ``torchvision.datasets``, plus two synthetic sets for smoke runs.

* ``cifar10`` / ``cifar100``: :class:`torchvision.datasets.CIFAR10` / ``CIFAR100`` read
  from ``<data_dir>/cifar-10-batches-py`` / ``<data_dir>/cifar-100-python`` (torchvision
  checks the md5 sum of every batch file). Training augmentation is the standard one
  (He et al. 2016): 4-pixel zero padding, random 32x32 crop, horizontal flip; both splits
  are normalised with the training set's per-channel mean and standard deviation.
* ``fake``: :class:`torchvision.datasets.FakeData` (Gaussian noise, random labels; nothing
  to learn, for smoke runs of the pipeline).
* ``patterns``: :class:`ClassPatterns`, CIFAR-shaped images made of a fixed smooth pattern
  per class plus pixel noise: learnable in a few steps, for tests that training works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image
from torchvision import datasets, transforms
from torchvision.datasets import VisionDataset

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DatasetNotFoundError",
    "ClassPatterns",
    "load_dataset",
    "train_transform",
    "test_transform",
]


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is missing or corrupt and ``download`` was not requested."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    folder: str | None = None  # torchvision's extracted folder under the data directory
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


class ClassPatterns(VisionDataset):
    """CIFAR-shaped RGB images: ``128 + amplitude * pattern[label] + noise`` (uint8, PIL).

    Each class has one fixed smooth random pattern (8x8 Gaussian noise upsampled to 32x32,
    drawn from ``seed``); every image adds independent Gaussian pixel noise of standard
    deviation ``noise`` (drawn from ``seed`` and ``index + index_offset``, so item ``i``
    never changes; a test split uses the same patterns with another offset).
    Labels cycle through the classes, so every class has ``size / num_classes`` images.
    A linear classifier separates the classes when ``noise`` is not much larger than
    ``amplitude``.
    """

    def __init__(
        self,
        size: int = 1000,
        *,
        num_classes: int = 10,
        amplitude: float = 60.0,
        noise: float = 20.0,
        seed: int = 0,
        index_offset: int = 0,
        transform=None,
        target_transform=None,
    ):
        super().__init__(transform=transform, target_transform=target_transform)
        if size < 1 or num_classes < 2:
            raise ValueError(f"`size` must be >= 1 and `num_classes` >= 2; got {size}, {num_classes}.")
        self.size, self.num_classes, self.noise, self.seed = size, num_classes, noise, seed
        self.index_offset = index_offset
        coarse = np.random.default_rng(seed).standard_normal((num_classes, 8, 8, 3))
        self.patterns = amplitude * coarse.repeat(4, axis=1).repeat(4, axis=2)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        if not 0 <= index < self.size:
            raise IndexError(f"{type(self).__name__} index {index} out of range")
        label = index % self.num_classes
        rng = np.random.default_rng([self.seed, index + self.index_offset])
        pixels = 128.0 + self.patterns[label] + self.noise * rng.standard_normal((32, 32, 3))
        img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return img, label


def train_transform(dataset: str, *, augment: bool = True) -> transforms.Compose:
    """4-pixel pad + random 32x32 crop + horizontal flip (if ``augment``), then normalise."""
    spec = _spec(dataset)
    steps = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if augment else []
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(spec.mean, spec.std)])


def test_transform(dataset: str) -> transforms.Compose:
    """Normalise only (no augmentation): the evaluation transform of ``dataset``."""
    return train_transform(dataset, augment=False)


def _spec(dataset: str) -> DatasetSpec:
    if dataset not in DATASETS:
        raise ValueError(f"`dataset` must be one of {sorted(DATASETS)}; got {dataset!r}.")
    return DATASETS[dataset]


def load_dataset(
    dataset: str,
    *,
    train: bool,
    data_dir: str | os.PathLike = "data",
    download: bool = False,
    augment: bool = True,
    size: int | None = None,
    seed: int = 0,
):
    """The training (``train=True``, augmented if ``augment``) or test split of ``dataset``.

    ``size`` is the number of images of the synthetic sets (default 1024 for training and
    256 for testing) and is ignored for CIFAR. Raises :class:`DatasetNotFoundError` (a
    ``FileNotFoundError``) naming the folder it looked in when a CIFAR set is missing or
    fails torchvision's md5 checks and ``download`` is false.
    """
    spec = _spec(dataset)
    transform = train_transform(dataset, augment=augment) if train else test_transform(dataset)
    if dataset in ("fake", "patterns"):
        size = (1024 if train else 256) if size is None else size
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
        folder = os.path.join(os.path.abspath(data_dir), spec.folder)
        raise DatasetNotFoundError(
            f"{spec.name} not found or corrupted in {folder} (torchvision checks the md5 sum of every batch file); "
            f"pass --download to fetch {spec.archive_url} into {os.path.abspath(data_dir)}, "
            f"or extract that archive there yourself, or point --data-dir at the folder that holds {spec.folder}/."
        ) from None


def num_classes_of(dataset: str) -> int:
    return _spec(dataset).num_classes
