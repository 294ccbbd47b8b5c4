"""Image folders: ``DIR/<split>/<class>/...`` scanned, checked and read with PIL.

The scan skips hidden entries (a name starting with ``.``), files without an image suffix
(``IMAGE_EXTENSIONS``) and broken links, each listed once on stderr; it follows
symbolic links unless they lead to a folder already walked in the split (a loop, or another
class's folder) or to one that holds the split. A split needs at least two classes, each
with an image, and every file must pass PIL's header check (``Image.open`` and
``verify()``) before the dataset is returned: a bad file is named before any epoch.
"""

from __future__ import annotations

import collections
import os
import sys
from dataclasses import dataclass
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

from ..errors import DatasetFormatError, DatasetNotFoundError

__all__ = ["IMAGE_EXTENSIONS", "FolderImages"]

_LAYOUT = "DIR/train/<class>/<image> and DIR/test/<class>/<image>"


# what torchvision's ImageFolder reads: a file with another suffix is not an image
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# examples of skipped entries named in the one-line notice
_NOTICE_EXAMPLES = 3
# folders whose skipped entries were already listed (once per process)
_NOTICED: set[str] = set()
# files that passed the header check, by (real path, size, modification time)
_VERIFIED: set[tuple[str, int, int]] = set()


@dataclass(frozen=True)
class _Scan:
    """The labelled images of one split: class names, ``(path, class index)`` pairs, skipped entries."""

    classes: list[str]
    samples: list[tuple[str, int]]
    skipped: list[str]


def _within(path: str, folder: str) -> bool:
    """Whether the real path ``path`` is ``folder`` or lies inside it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _scan_split(folder: str) -> _Scan:
    """Walk ``folder/<class>/...``: images per class, following symbolic links only where they make no loop.

    Entries whose name starts with ``.`` (``.ipynb_checkpoints``, ``.DS_Store``) and files
    without an image suffix (``IMAGE_EXTENSIONS``) are skipped, never a class. A
    linked folder is followed unless its real path is a folder already walked in this split
    (a loop), contains the split (a link to an ancestor) or lies inside the split but in
    another class's folder (its images would count twice, under two labels); a link to a
    file in another class is skipped too. So every image stored under ``folder/<class>/``
    is counted once, with that class's label; an image outside the split reached through
    links counts once, under the first class (in name order) that reaches it. Broken links
    are skipped.
    """
    root_real = os.path.realpath(folder)
    skipped: list[str] = []
    class_dirs: list[tuple[str, str]] = []
    seen_dirs = {root_real}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        real = os.path.realpath(entry.path)
        if entry.name.startswith("."):
            skipped.append(f"{entry.name} (hidden)")
        elif not entry.is_dir():
            skipped.append(f"{entry.name} ({'broken link' if not os.path.exists(entry.path) else 'not a folder'})")
        elif real in seen_dirs or _within(root_real, real):
            skipped.append(f"{entry.name} (link to a folder already scanned)")
        else:
            seen_dirs.add(real)
            class_dirs.append((entry.name, entry.path))
    seen_files: set[str] = set()
    samples: list[tuple[str, int]] = []
    for index, (_, path) in enumerate(class_dirs):
        class_real = os.path.realpath(path)
        pending = [path]
        while pending:
            current = pending.pop()
            entries = sorted(os.scandir(current), key=lambda e: e.name)
            subfolders = []
            for entry in entries:
                shown = os.path.relpath(entry.path, folder)
                real = os.path.realpath(entry.path)
                if entry.name.startswith("."):
                    skipped.append(f"{shown} (hidden)")
                elif _within(real, root_real) and not _within(real, class_real):
                    skipped.append(f"{shown} (link into another class)")  # its images keep their own label
                elif entry.is_dir():
                    if real in seen_dirs or _within(root_real, real):
                        skipped.append(f"{shown} (link loop or a folder already scanned)")
                    else:
                        seen_dirs.add(real)
                        subfolders.append(entry.path)
                elif not entry.is_file():
                    skipped.append(f"{shown} ({'broken link' if not os.path.exists(entry.path) else 'not a file'})")
                elif not entry.name.lower().endswith(IMAGE_EXTENSIONS):
                    skipped.append(f"{shown} (not an image)")
                elif real in seen_files:
                    skipped.append(f"{shown} (a file already counted)")
                else:
                    seen_files.add(real)
                    samples.append((entry.path, index))
            pending.extend(reversed(subfolders))  # depth first, in name order
    return _Scan([name for name, _ in class_dirs], samples, skipped)


def _verify(path: str) -> None:
    """Raise :class:`~parareal_toolkit.training.DatasetFormatError` naming ``path`` unless PIL identifies it and its checks pass.

    ``Image.open`` reads the header (format, mode, size; a file that is not an image of a
    known format fails here); ``verify()`` then runs the format's own integrity check without
    decoding the pixels (PNG: every chunk's CRC up to ``IEND``, so a truncated or damaged
    PNG fails; for JPEG and most other formats only the header is checked). A zero-sized
    image fails too. A file that passed is not checked again while its size and
    modification time stay the same.
    """
    info = os.stat(path)
    key = (os.path.realpath(path), info.st_size, info.st_mtime_ns)
    if key in _VERIFIED:
        return
    try:
        with Image.open(path) as image:
            width, height = image.size
            image.verify()
    except Exception as exc:  # UnidentifiedImageError, SyntaxError, struct.error, OSError, ... from the plugins
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetFormatError(f"image {path} is not a readable image ({detail}); remove or replace it.") from None
    if width < 1 or height < 1:
        raise DatasetFormatError(f"image {path} is {width}x{height}; remove or replace it.")
    _VERIFIED.add(key)


class FolderImages(Dataset):
    """The images of one split of an image folder, labelled by class folder, read with PIL as RGB.

    Built by :func:`~parareal_toolkit.training.load_dataset` (``imagefolder``) after the split was scanned and every
    file's header checked; a file that still fails to decode is a
    :class:`~parareal_toolkit.training.DatasetFormatError` naming it.

    Attributes
    ----------
    classes : list of str
        The class folder names, sorted; class ``i`` is label ``i``.
    samples : list of (str, int)
        Each image's path and label.
    """

    def __init__(self, folder: str, classes: list[str], samples: list[tuple[str, int]], transform: Any):
        self.root = folder
        self.classes = classes
        self.class_to_idx = {name: i for i, name in enumerate(classes)}
        self.samples = samples
        self.targets = [label for _, label in samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    @staticmethod
    def loader(path: str) -> Any:
        """The image in ``path`` as an RGB PIL image (a :class:`~parareal_toolkit.training.DatasetFormatError` naming it if unreadable).

        Returns
        -------
        PIL.Image.Image
            The decoded image in mode ``RGB``.
        """
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except Exception as exc:  # any decoder failure: name the file, one line
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DatasetFormatError(f"image {path} cannot be decoded ({detail}); remove or replace it.") from None

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        image = self.loader(path)
        return (self.transform(image) if self.transform is not None else image), label


def _notice_skipped(folder: str, skipped: list[str]) -> None:
    """One line on stderr, once per folder and process, naming how many entries were skipped and a few.

    Under ``torchrun`` only rank 0 says it (every rank scans the same folder).
    """
    if not skipped or folder in _NOTICED or os.environ.get("RANK", "0") != "0":
        return
    _NOTICED.add(folder)
    examples = ", ".join(skipped[:_NOTICE_EXAMPLES]) + (", ..." if len(skipped) > _NOTICE_EXAMPLES else "")
    print(
        f"parareal: note: image folder {folder}: skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} "
        f"(each with its reason): {examples}",
        file=sys.stderr,
    )


def _image_folder(root: str, split: str, transform: Any) -> FolderImages:
    """The images of ``root/split``, scanned and header-checked, or an error naming the folder or the file."""
    folder = os.path.join(root, split)
    if not os.path.isdir(folder):
        what = "is not a directory" if os.path.exists(folder) else "does not exist"
        raise DatasetNotFoundError(f"image folder {folder} {what}; --data-dir must hold {_LAYOUT}.")
    scan = _scan_split(folder)
    _notice_skipped(folder, scan.skipped)
    if not scan.classes:
        raise DatasetNotFoundError(
            f"image folder {folder} holds no labelled images (no class folders); --data-dir must hold {_LAYOUT}."
        )
    counts = collections.Counter(label for _, label in scan.samples)
    empty = [name for i, name in enumerate(scan.classes) if counts[i] == 0]
    if empty:
        raise DatasetNotFoundError(
            f"image folder {folder} holds no labelled images in the class folder(s) {empty} (images end in "
            f"{', '.join(IMAGE_EXTENSIONS)}); --data-dir must hold {_LAYOUT}."
        )
    if len(scan.classes) < 2:
        raise DatasetFormatError(
            f"image folder {folder} has one class folder ({scan.classes[0]!r}); classification needs at least "
            "two classes, each a folder of images."
        )
    for path, _ in scan.samples:
        _verify(path)
    return FolderImages(folder, scan.classes, scan.samples, transform)
