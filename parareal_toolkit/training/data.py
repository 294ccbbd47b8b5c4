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
  (He et al. 2016): 4-pixel zero padding, random 32x32 crop, horizontal flip (unless ``flip=False``); both splits
  are normalised with the training set's per-channel mean and standard deviation.
* ``imagefolder``: any labelled images, read with PIL from ``<data_dir>/train/<class>/...``
  and ``<data_dir>/test/<class>/...`` (the suffixes of ``image_folders.IMAGE_EXTENSIONS``, as
  torchvision's ``ImageFolder``; converted to RGB). Hidden entries (a name starting with
  ``.``: ``.ipynb_checkpoints``, ``.DS_Store``), files of other suffixes and broken links
  are skipped, never a class, and listed once on stderr (how many, and a few of them);
  symbolic links are followed unless they lead to a folder already walked (a loop, or
  another class's folder) or to one holding the split. At least two classes are needed.
  Both splits are scanned, and every file checked with PIL's ``Image.open`` and
  ``verify()`` (the format's header; for PNG also every chunk's checksum, so a truncated
  PNG fails; pixels are not decoded) when the dataset is built, before any epoch: the
  first bad file is named. A file that fails to
  decode later is a :class:`DatasetFormatError` naming it, with or without ``DataLoader``
  workers. The class names are the folder names, the same in both splits; the
  image side is the first training image's (or ``image_size``: every image is resized to
  it); the normalisation is the per-channel mean and standard deviation of the training
  images, computed in one pass (or ``mean``/``std``); augmentation pads by side/8 and crops
  back to the side, and flips left-right (``flip=False``, ``parareal train --no-flip``: crops
  only, for digits or text, whose mirror images are another class or none). A missing folder, a split without class folders or images,
  and class folders that differ between the splits are refused naming the folder.
* ``fake``: :class:`torchvision.datasets.FakeData` (Gaussian noise, random labels; nothing
  to learn, for smoke runs of the pipeline).
* ``patterns``: :class:`~parareal_toolkit.training.ClassPatterns`, CIFAR-shaped images
  made of a fixed smooth pattern per class plus pixel noise: learnable in a few steps, for
  tests that training works.
"""

from __future__ import annotations

import functools
import os
import pickle
import socket
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from torch.utils.data import Dataset
from torchvision import datasets, transforms
from torchvision.datasets.utils import check_integrity, download_and_extract_archive

from .._validation import check_choice, check_int, check_real_array
from ..errors import DatasetFormatError, DatasetNotFoundError, InputError
from .class_patterns import ClassPatterns
from .image_folders import _image_folder

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
    "image_folder_spec",
    "image_options",
]


# seconds a download may wait for the server (to connect, or for the next block of data)
DOWNLOAD_TIMEOUT_S = 60.0

# CIFAR images are rows of 3 x 32 x 32 channel-major bytes
_CIFAR_ROW = 3 * 32 * 32


@dataclass(frozen=True)
class DatasetSpec:
    """What the loader needs to know about one dataset: classes, normalisation, where it lives.

    ``mean`` and ``std`` are the per-channel statistics of the training images in [0, 1];
    ``folder`` and ``archive_url`` are torchvision's extracted folder under the data
    directory and the archive it downloads (``None`` for the synthetic sets and image
    folders); ``image_size`` is the side of the (square) images the network sees.
    """

    name: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    folder: str | None = None
    archive_url: str | None = None
    image_size: int = 32


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


def train_transform(dataset: str | DatasetSpec, *, augment: bool = True, flip: bool = True) -> transforms.Compose:
    """Pad by side/8 + random crop back to the side + horizontal flip (if ``augment``; the flip if ``flip``), then normalise.

    For CIFAR (side 32) the standard 4-pixel pad and 32x32 crop. ``dataset`` is a name of
    :data:`DATASETS` or the ``DatasetSpec`` of an image folder
    (``image_folder_spec()``), whose images are first resized to its ``image_size``.

    Returns
    -------
    torchvision.transforms.Compose
        PIL image to a normalised ``(3, side, side)`` float tensor.
    """
    spec = dataset if isinstance(dataset, DatasetSpec) else _spec(dataset)
    side = spec.image_size
    steps = [transforms.Resize((side, side))] if spec.name == _IMAGE_FOLDER else []
    if augment:
        steps.append(transforms.RandomCrop(side, padding=max(1, side // 8)))
        if flip:
            steps.append(transforms.RandomHorizontalFlip())
    return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(spec.mean, spec.std)])


def test_transform(dataset: str | DatasetSpec) -> transforms.Compose:
    """Normalise only (no augmentation): the evaluation transform of ``dataset``.

    Returns
    -------
    torchvision.transforms.Compose
        PIL image to a normalised ``(3, side, side)`` float tensor.
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
    flip: bool = True,
    size: int | None = None,
    seed: int = 0,
    image_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Dataset:
    """The training (``train=True``, augmented if ``augment``, flips only if ``flip`` too) or test split of ``dataset``.

    ``image_size``, ``mean`` and ``std`` apply to ``imagefolder`` only (see
    ``image_folder_spec()``): a missing, empty or inconsistent folder is a
    :class:`DatasetNotFoundError` or :class:`DatasetFormatError` naming it.

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
    if dataset == _IMAGE_FOLDER:
        spec = image_folder_spec(data_dir, image_size=image_size, mean=mean, std=std)
        transform = train_transform(spec, augment=augment, flip=flip) if train else test_transform(spec)
        return _image_folder(os.path.abspath(os.fspath(data_dir)), "train" if train else "test", transform)
    spec = _spec(dataset)
    seed = check_int(seed, "seed", minimum=0)
    transform = train_transform(dataset, augment=augment, flip=flip) if train else test_transform(dataset)
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


def num_classes_of(dataset: str, data_dir: str | os.PathLike | None = None) -> int:
    """The number of classes of ``dataset`` (10 or 100; an image folder's class folders in ``data_dir``).

    Returns
    -------
    int
        The number of classes.
    """
    if dataset == _IMAGE_FOLDER:
        if data_dir is None:
            raise InputError("`data_dir` is needed for the classes of the 'imagefolder' dataset; got None.")
        return len(_image_folder(os.path.abspath(os.fspath(data_dir)), "train", None).classes)
    return _spec(dataset).num_classes


_IMAGE_FOLDER = "imagefolder"


def _triple(values: Sequence[float] | None, name: str, *, positive: bool) -> tuple[float, float, float] | None:
    if values is None:
        return None
    array = check_real_array(values, name, shape=(3,))
    if positive and (array <= 0).any():
        raise InputError(f"`{name}` must be three positive numbers (one per channel); got {list(map(float, array))}.")
    return (float(array[0]), float(array[1]), float(array[2]))


def image_folder_spec(
    data_dir: str | os.PathLike,
    *,
    image_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> DatasetSpec:
    """The ``DatasetSpec`` of the image folder ``data_dir``: classes, side, normalisation.

    ``data_dir/train`` and ``data_dir/test`` must hold the same class folders (at least
    two), each with at least one image, every file passing the header check (see the module
    docstring; hidden and non-image entries are skipped). ``image_size`` defaults to the first training image's side
    (it must be square, else give ``image_size``); ``mean`` and ``std`` default to the
    per-channel mean and standard deviation of all training pixels in ``[0, 1]`` after
    resizing, computed in one pass over the training images (cached per folder and side).

    Returns
    -------
    DatasetSpec
        ``name="imagefolder"``, the number of classes, the statistics and the side.
    """
    root = os.path.abspath(os.fspath(data_dir))
    train = _image_folder(root, "train", None)
    test = _image_folder(root, "test", None)
    if train.classes != test.classes:
        only_train = sorted(set(train.classes) - set(test.classes))
        only_test = sorted(set(test.classes) - set(train.classes))
        raise DatasetFormatError(
            f"image folder {root}: the class folders of train/ and test/ differ (only in train/: {only_train}, "
            f"only in test/: {only_test}); both splits need the same classes."
        )
    if image_size is None:
        width, height = train.loader(train.samples[0][0]).size
        if width != height:
            raise DatasetFormatError(
                f"image folder {root}: the first training image {train.samples[0][0]} is {width}x{height}, not square; "
                "give --image-size (every image is resized to a square of that side)."
            )
        image_size = width
    image_size = check_int(image_size, "image_size", minimum=1)
    mean_t, std_t = _triple(mean, "mean", positive=False), _triple(std, "std", positive=True)
    if mean_t is None or std_t is None:
        measured_mean, measured_std = _pixel_statistics(root, image_size)
        mean_t, std_t = mean_t or measured_mean, std_t or measured_std
    spec = DatasetSpec(_IMAGE_FOLDER, len(train.classes), mean_t, std_t)
    return replace(spec, image_size=image_size)


@functools.lru_cache(maxsize=8)
def _pixel_statistics(root: str, image_size: int) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-channel mean and standard deviation of the training images of ``root`` (float64 sums)."""
    convert = transforms.Compose([transforms.Resize((image_size, image_size)), transforms.ToTensor()])
    train = _image_folder(root, "train", convert)
    total = np.zeros(3)
    squares = np.zeros(3)
    count = 0
    for index in range(len(train)):
        image, _ = train[index]
        pixels = image.double().reshape(3, -1).numpy()
        total += pixels.sum(axis=1)
        squares += (pixels**2).sum(axis=1)
        count += pixels.shape[1]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std = np.where(std > 0, std, 1.0)  # a constant channel: leave it unscaled rather than divide by 0
    return (float(mean[0]), float(mean[1]), float(mean[2])), (float(std[0]), float(std[1]), float(std[2]))


def image_options(config: Any) -> dict[str, Any]:
    """The keyword arguments of :func:`load_dataset` that a training configuration sets for image folders.

    Returns
    -------
    dict
        ``image_size``, ``mean`` and ``std`` of ``config`` (a
        :class:`~parareal_toolkit.training.TrainConfig`) for ``imagefolder``; empty otherwise.
    """
    if config.dataset != _IMAGE_FOLDER:
        return {}
    return {"image_size": config.image_size, "mean": config.mean, "std": config.std}
