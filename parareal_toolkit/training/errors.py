"""How a training run stops early: a non-finite loss or Ctrl-C."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NonFiniteLossError", "TrainingInterrupted"]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


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
