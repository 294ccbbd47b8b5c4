"""The smallest training runs the tests train: one place for their settings."""

from __future__ import annotations

from typing import Any

from parareal_toolkit.training import TrainConfig

# ResNet-11 (3 units) on augmented FakeData in batches of 8: 4 steps per epoch, deterministic
TINY_RUN: dict[str, Any] = dict(
    dataset="fake",
    depth=11,
    epochs=2,
    batch_size=8,
    train_size=32,
    test_size=16,
    workers=0,
    lr=0.05,
    milestones=[1],
    deterministic=True,
)


def tiny_config(tmp_path, name: str = "run", **overrides: Any) -> TrainConfig:
    """:data:`TINY_RUN` with ``overrides``, writing to ``tmp_path / name``."""
    return TrainConfig(**{**TINY_RUN, "output_dir": str(tmp_path / name), **overrides})
