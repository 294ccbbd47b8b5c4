"""Everything a checkpoint holds: where a run stands and what it has learnt so far.

A run is at epoch ``epoch`` (completed epochs) and, after an interruption, ``step``
batches into the next one, with that epoch's running totals in ``partial``. Randomness
needs no saved generator state: every epoch reseeds from ``seed + epoch`` and a resumed
epoch re-draws (and skips) the batches it already trained on, so it replays the same
random choices.

The checkpoint form is a plain dictionary (tensors, numbers, strings, lists, ``None``) that
loads under ``torch.load(..., weights_only=True)``; its keys are the field names below.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from .checkpoint import CheckpointError, load_checkpoint
from .config import TrainConfig

__all__ = ["RunState", "EpochTotals", "load_run_state"]


@dataclass
class EpochTotals:
    """Running totals of the epoch in progress: summed loss, errors, images and seconds.

    ``loss_sum`` is the sum over images of the cross-entropy (batch mean times batch size),
    ``wrong`` the misclassified images, ``count`` the images seen, ``time`` the training
    seconds (accumulated over interruptions).
    """

    loss_sum: float = 0.0
    wrong: int = 0
    count: int = 0
    time: float = 0.0

    def add(self, batch_mean_loss: float, wrong: int, count: int) -> None:
        """Account for one batch of ``count`` images with ``wrong`` errors and mean loss ``batch_mean_loss``."""
        self.loss_sum += batch_mean_loss * count
        self.wrong += wrong
        self.count += count

    def to_dict(self) -> dict[str, float | int]:
        """The totals as a plain dictionary (the checkpoint's ``"partial"`` entry).

        Returns
        -------
        dict
            ``{"loss_sum", "wrong", "count", "time"}``.
        """
        return asdict(self)


@dataclass
class RunState:
    """A training run's state: configuration, weights, optimiser, schedule and position.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration.
    model, optimizer, scheduler : dict
        ``state_dict()`` of the network, the SGD optimiser and the learning-rate schedule
        (optimiser and schedule may be ``None`` in a checkpoint written by other code).
    epoch : int
        Completed epochs.
    step : int
        Batches of epoch ``epoch`` (0-based) already trained on; 0 at an epoch boundary.
    partial : EpochTotals or None
        That epoch's running totals when ``step > 0``.
    best_test_error : float or None
        The smallest test error rate measured so far.
    """

    config: TrainConfig
    model: dict[str, Any]
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    epoch: int = 0
    step: int = 0
    partial: EpochTotals | None = None
    best_test_error: float | None = None

    def to_checkpoint(self) -> dict[str, Any]:
        """The state as the dictionary :func:`~parareal_toolkit.training.save_checkpoint` writes.

        Returns
        -------
        dict
            Keys ``config`` (a plain dictionary), ``model``, ``optimizer``, ``scheduler``,
            ``epoch``, ``step``, ``partial`` (a plain dictionary or ``None``) and
            ``best_test_error``; tensors are shared with the state, not copied.
        """
        return {
            "config": asdict(self.config),
            "model": self.model,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "epoch": self.epoch,
            "step": self.step,
            "partial": None if self.partial is None else self.partial.to_dict(),
            "best_test_error": self.best_test_error,
        }

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> RunState:
        """The state a checkpoint dictionary holds (as :func:`~parareal_toolkit.training.load_checkpoint` returns it).

        ``step``, ``partial``, ``best_test_error``, ``optimizer`` and ``scheduler`` are
        optional (an epoch-boundary state without them); the configuration is validated.

        Returns
        -------
        RunState
            The state; its tensors are the checkpoint's.
        """
        partial = checkpoint.get("partial")
        return cls(
            config=TrainConfig.from_dict(checkpoint["config"]),
            model=checkpoint["model"],
            optimizer=checkpoint.get("optimizer"),
            scheduler=checkpoint.get("scheduler"),
            epoch=checkpoint["epoch"],
            step=checkpoint.get("step", 0),
            partial=None if partial is None else EpochTotals(**partial),
            best_test_error=checkpoint.get("best_test_error"),
        )


def load_run_state(path: str | os.PathLike) -> RunState:
    """The :class:`RunState` in the checkpoint file ``path``.

    Raises :class:`~parareal_toolkit.training.CheckpointError` (a ``ValueError``) naming the
    file when it cannot be read (:func:`~parareal_toolkit.training.load_checkpoint`) or its
    entries are not a valid state (an invalid configuration, a malformed entry).

    Returns
    -------
    RunState
        The state, tensors on the CPU.
    """
    checkpoint = load_checkpoint(path)
    try:
        return RunState.from_checkpoint(checkpoint)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} does not hold a valid training state: {exc}") from None
