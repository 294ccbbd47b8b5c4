"""Small CIFAR-10 / CIFAR-100 datasets in the real on-disk format, for torchvision's loader.

The files are what ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` extract to:
python pickles (protocol 2, as the originals) of dictionaries with ``data`` (uint8, one
row of 3072 = 3 x 32 x 32 channel-major pixels per image), ``labels`` (CIFAR-10) or
``fine_labels`` + ``coarse_labels`` (CIFAR-100), ``filenames``, ``batch_label``; and the
meta files ``batches.meta`` (``label_names``) / ``meta`` (``fine_label_names``,
``coarse_label_names``).

Checksums. torchvision's ``CIFAR10._check_integrity`` / ``_load_meta`` compare the md5 sum of
every file with the class attributes ``train_list``, ``test_list`` and ``meta["md5"]``,
which hold the official sums. Files with other contents cannot match them, so
:func:`accept_checksums` sets those attributes (with pytest's ``monkeypatch``, undone after
the test) to the md5 sums of the files just written, computed here with ``hashlib``.
Everything else is torchvision's real code: the md5 check itself (a corrupted file fails
it), the pickle parsing, reshaping and metadata loading.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
from torchvision import datasets

CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
CIFAR100_FILES = ["train", "test", "meta"]


def _dump(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _images(rng, n):
    return rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)


def write_cifar10(root: Path, *, per_batch: int = 4, test: int = 6, seed: int = 0) -> dict:
    """Write ``root/cifar-10-batches-py``; return the arrays written (for comparisons)."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / datasets.CIFAR10.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    written = {"train_data": [], "train_labels": []}
    for i in range(1, 6):
        data, labels = _images(rng, per_batch), rng.integers(0, 10, per_batch).tolist()
        _dump(
            folder / f"data_batch_{i}",
            {
                "batch_label": f"training batch {i} of 5",
                "labels": labels,
                "data": data,
                "filenames": [f"img_{i}_{k}.png" for k in range(per_batch)],
            },
        )
        written["train_data"].append(data)
        written["train_labels"] += labels
    data, labels = _images(rng, test), rng.integers(0, 10, test).tolist()
    _dump(
        folder / "test_batch",
        {
            "batch_label": "testing batch 1 of 1",
            "labels": labels,
            "data": data,
            "filenames": [f"test_{k}.png" for k in range(test)],
        },
    )
    _dump(
        folder / "batches.meta",
        {
            "num_cases_per_batch": per_batch,
            "num_vis": 3072,
            "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        },
    )
    written["train_data"] = np.vstack(written["train_data"])
    written.update(test_data=data, test_labels=labels)
    return written


def write_cifar100(root: Path, *, train: int = 10, test: int = 5, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    folder = Path(root) / datasets.CIFAR100.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, n in (("train", train), ("test", test)):
        data, fine = _images(rng, n), rng.integers(0, 100, n).tolist()
        _dump(
            folder / split,
            {
                "filenames": [f"{split}_{k}.png" for k in range(n)],
                "batch_label": split,
                "fine_labels": fine,
                "coarse_labels": [f // 5 for f in fine],
                "data": data,
            },
        )
        written[f"{split}_data"], written[f"{split}_labels"] = data, fine
    _dump(
        folder / "meta",
        {
            "fine_label_names": [f"fine_{k}" for k in range(100)],
            "coarse_label_names": [f"coarse_{k}" for k in range(20)],
        },
    )
    return written


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def accept_checksums(monkeypatch, root: Path) -> None:
    """Make torchvision's CIFAR classes expect the md5 sums of the files under ``root``."""
    for cls in (datasets.CIFAR10, datasets.CIFAR100):
        folder = Path(root) / cls.base_folder
        if not folder.is_dir():
            continue
        monkeypatch.setattr(cls, "train_list", [[name, md5(folder / name)] for name, _ in cls.train_list])
        monkeypatch.setattr(cls, "test_list", [[name, md5(folder / name)] for name, _ in cls.test_list])
        monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(folder / cls.meta["filename"])})
