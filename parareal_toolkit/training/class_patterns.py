"""``ClassPatterns``: a learnable synthetic CIFAR-shaped dataset for smoke runs and tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image
from torchvision.datasets import VisionDataset

from .._validation import check_int, check_real

__all__ = ["ClassPatterns"]


class ClassPatterns(VisionDataset):
    """CIFAR-shaped RGB images: ``128 + amplitude * pattern[label] + noise`` (uint8, PIL).

    Each class has one fixed smooth random pattern (8x8 Gaussian noise upsampled to 32x32,
    drawn from ``seed``); every image adds independent Gaussian pixel noise of standard
    deviation ``noise`` (drawn from ``seed`` and ``index + index_offset``, so item ``i``
    never changes; a test split uses the same patterns with another offset).
    Labels cycle through the classes, so every class has ``size / num_classes`` images.
    A linear classifier separates the classes when ``noise`` is not much larger than
    ``amplitude``.

    Parameters
    ----------
    size : int
        Number of images (at least 1).
    num_classes : int
        Number of classes (at least 2).
    amplitude, noise : float
        Scale of the class patterns and standard deviation of the pixel noise (grey levels).
    seed : int
        Seed of the patterns and of the noise.
    index_offset : int
        Added to the index when drawing an image's noise (another split, same patterns).
    transform, target_transform : callable, optional
        Applied to the PIL image and to the label.

    Examples
    --------
    >>> from parareal_toolkit.training import ClassPatterns
    >>> data = ClassPatterns(20, num_classes=5, noise=40.0)
    >>> image, label = data[7]
    >>> image.size, image.mode, label, len(data)
    ((32, 32), 'RGB', 2, 20)
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
        transform: Callable[..., Any] | None = None,
        target_transform: Callable[..., Any] | None = None,
    ):
        super().__init__(transform=transform, target_transform=target_transform)
        self.size = check_int(size, "size", minimum=1)
        self.num_classes = check_int(num_classes, "num_classes", minimum=2)
        self.noise = check_real(noise, "noise", minimum=0)
        self.seed = check_int(seed, "seed", minimum=0)
        self.index_offset = check_int(index_offset, "index_offset", minimum=0)
        coarse = np.random.default_rng(self.seed).standard_normal((self.num_classes, 8, 8, 3))
        self.patterns = check_real(amplitude, "amplitude") * coarse.repeat(4, axis=1).repeat(4, axis=2)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if not 0 <= index < self.size:
            raise IndexError(f"{type(self).__name__} index {index} out of range")
        label = index % self.num_classes
        rng = np.random.default_rng([self.seed, index + self.index_offset])
        pixels = 128.0 + self.patterns[label] + self.noise * rng.standard_normal((32, 32, 3))
        img: Any = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        if self.transform is not None:
            img = self.transform(img)
        target: Any = label if self.target_transform is None else self.target_transform(label)
        return img, target
