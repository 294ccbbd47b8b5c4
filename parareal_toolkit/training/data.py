"""CIFAR-10/100 through ``torchvision.datasets``, plus two synthetic sets for smoke runs.

* ``cifar10`` / ``cifar100``: :class:`torchvision.datasets.CIFAR10` / ``CIFAR100`` read
  from ``<data_dir>/cifar-10-batches-py`` / ``<data_dir>/cifar-100-python`` (torchvision
  checks the md5 sum of every batch file). Every file of the split is then checked here
  too: a pickled dictionary with ``data`` (uint8, ``n x 3072``) and ``n`` labels
  (``labels``, or ``fine_labels`` for CIFAR-100) in ``0 .. classes - 1``, and the metadata
  file's class names; a malformed file is a :class:`DatasetFormatError` naming it (not a
  ``KeyError`` or ``IndexError`` from deep inside torchvision or the loss). A download
  that fails (no network, a refused connection, a stalled transfer: ``DOWNLOAD_TIMEOUT_S``
  seconds without data) is a :class:`DatasetNotFoundError` naming the URL. Training augmentation is the standard one
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
import pickle
import socket
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import Dataset
from torchvision import datasets, transforms
from torchvision.datasets.utils import check_integrity, download_and_extract_archive

from .._validation import check_choice, check_int
from .class_patterns import ClassPatterns

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "DOWNLOAD_TIMEOUT_S",
    "load_dataset",
    "train_transform",
    "test_transform",
    "num_classes_of",
]


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is missing or corrupt and ``download`` was not requested, or the download failed."""


class DatasetFormatError(ValueError):
    """A dataset file passed its checksum but does not hold what the format says (the file is named)."""


# seconds a download may wait for the server (to connect, or for the next block of data)
DOWNLOAD_TIMEOUT_S = 60.0

# CIFAR images are rows of 3 x 32 x 32 channel-major bytes
_CIFAR_ROW = 3 * 32 * 32


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
    fails torchvision's md5 checks and ``download`` is false, or naming the URL when the
    download fails; :class:`DatasetFormatError` (a ``ValueError``) naming the file when a
    CIFAR file passes its md5 check but is malformed.

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
    return _load_cifar(dataset, spec, os.fspath(data_dir), train=train, transform=transform, download=download)


def _load_cifar(dataset: str, spec: DatasetSpec, data_dir: str, *, train: bool, transform: Any, download: bool) -> Any:
    """torchvision's CIFAR class on ``data_dir``, its failures turned into errors that say what to do."""
    cls = _TORCHVISION_CLASSES[dataset]
    root = os.path.abspath(data_dir)
    if os.path.exists(root) and not os.path.isdir(root):
        raise DatasetNotFoundError(f"the data directory {root!r} (--data-dir) is a file, not a directory.")
    if download:
        _download(cls, spec, root)
    try:
        ds = cls(data_dir, train=train, transform=transform, download=False)
    except RuntimeError as exc:
        if "not found or corrupted" not in str(exc):
            raise
        folder = os.path.join(root, cls.base_folder)
        raise DatasetNotFoundError(
            f"{spec.name} not found or corrupted in {folder} (torchvision checks the md5 sum of every batch file); "
            f"pass --download to fetch {cls.url} into {root}, "
            f"or extract that archive there yourself, or point --data-dir at the folder that holds {spec.folder}/."
        ) from None
    except Exception:
        # the checksums matched but torchvision could not parse a file: find which one
        _check_cifar_files(cls, spec, root, train=train)
        raise
    _check_cifar_files(cls, spec, root, train=train)
    return ds


def _download(cls: Any, spec: DatasetSpec, root: str) -> None:
    """torchvision's download (archive, md5, extraction) with a timeout and errors naming the URL."""
    folder = os.path.join(root, cls.base_folder)
    if all(check_integrity(os.path.join(folder, name), md5) for name, md5 in cls.train_list + cls.test_list):
        return  # already there (what torchvision's own download() checks first)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # urllib waits forever otherwise
    try:
        download_and_extract_archive(cls.url, root, filename=cls.filename, md5=cls.tgz_md5)
    except OSError as exc:  # URLError, HTTPError, timeouts, refused connections, a full disk, ...
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise DatasetNotFoundError(
            f"could not download {spec.name} from {cls.url} into {root}: {reason}; check the network, "
            f"or fetch that archive yourself and extract it into {root}."
        ) from None
    except RuntimeError as exc:
        if "not found or corrupted" not in str(exc):
            raise
        raise DatasetNotFoundError(
            f"the {spec.name} archive downloaded from {cls.url} into {root} failed its md5 check ({exc}); "
            "delete it and try again, or fetch and extract it yourself."
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def _check_cifar_files(cls: Any, spec: DatasetSpec, root: str, *, train: bool) -> None:
    """Raise :class:`DatasetFormatError` naming the first malformed file of the split or the metadata."""
    folder = os.path.join(root, cls.base_folder)
    label_key = "labels" if cls is datasets.CIFAR10 else "fine_labels"
    for name, _ in cls.train_list if train else cls.test_list:
        path = os.path.join(folder, name)
        entry = _unpickle(spec, path, ("data", label_key))
        data = entry["data"]
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _CIFAR_ROW:
            described = (
                f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
            )
            raise _malformed(spec, path, f"'data' must be a uint8 array of shape (n, {_CIFAR_ROW}); got a {described}")
        labels = entry[label_key]
        try:
            values = np.asarray(labels)
        except (TypeError, ValueError):
            values = np.asarray([None])
        if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
            raise _malformed(spec, path, f"{label_key!r} must be a list of integers; got {type(labels).__name__}")
        if len(values) != len(data):
            raise _malformed(spec, path, f"{len(values)} labels ({label_key!r}) for {len(data)} images ('data')")
        bad = np.flatnonzero((values < 0) | (values >= spec.num_classes))
        if bad.size:
            raise _malformed(
                spec,
                path,
                f"label {values[bad[0]]} at position {bad[0]} is outside 0..{spec.num_classes - 1} "
                f"({bad.size} labels out of range)",
            )
    path = os.path.join(folder, cls.meta["filename"])
    names = _unpickle(spec, path, (cls.meta["key"],))[cls.meta["key"]]
    if not isinstance(names, (list, tuple)) or len(names) != spec.num_classes:
        count = len(names) if isinstance(names, (list, tuple)) else type(names).__name__
        raise _malformed(spec, path, f"{cls.meta['key']!r} must list {spec.num_classes} class names; got {count}")


def _unpickle(spec: DatasetSpec, path: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The dictionary pickled in ``path`` (read as torchvision reads it), with ``keys`` present."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, ... for a damaged file
        detail = str(exc).splitlines()[0] if str(exc) else "no detail"
        raise _malformed(spec, path, f"not a readable pickle ({type(exc).__name__}: {detail})") from None
    if not isinstance(entry, dict):
        raise _malformed(spec, path, f"holds a {type(entry).__name__}, not a dictionary")
    missing = [key for key in keys if key not in entry]
    if missing:
        raise _malformed(spec, path, f"missing {', '.join(map(repr, missing))} (it has {sorted(map(str, entry))})")
    return entry


def _malformed(spec: DatasetSpec, path: str, problem: str) -> DatasetFormatError:
    return DatasetFormatError(
        f"{spec.name} file {path!r} is malformed: {problem}; replace it with the file from {spec.archive_url}."
    )


def num_classes_of(dataset: str) -> int:
    """The number of classes of ``dataset`` (10 or 100).

    Returns
    -------
    int
        The number of classes.
    """
    return _spec(dataset).num_classes
