"""How a training run stops early: a non-finite loss or metric, or Ctrl-C."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NonFiniteLossError", "TrainingInterrupted"]


class NonFiniteLossError(RuntimeError):
    """The training loss or an epoch's metric became NaN or infinite; the last good checkpoint is kept.

    Parameters
    ----------
    message : str
        What became non-finite, where, and what was kept.
    metric : str
        ``"train_loss"`` (a batch's loss, or the epoch's mean) or ``"test_loss"``.
    value : float
        The non-finite value.
    epoch : int
        The epoch (1-based) it happened in (training) or after (evaluation).
    step : int or None
        The batch (1-based) for a batch's training loss, else ``None``.
    """

    def __init__(self, message: str, *, metric: str, value: float, epoch: int, step: int | None = None):
        super().__init__(message)
        self.metric = metric
        self.value = value
        self.epoch = epoch
        self.step = step


class TrainingInterrupted(Exception):
    """Ctrl-C (SIGINT) stopped training after a batch; a checkpoint was saved.

    Parameters
    ----------
    message : str
        Where the run stopped and how to continue it.
    checkpoint : Path or None
        The checkpoint written (``None`` on ranks other than 0, which write none).
    """

    def __init__(self, message: str, checkpoint: Path | None):
        super().__init__(message)
        self.checkpoint = checkpoint
