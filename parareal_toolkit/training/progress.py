"""What a run shows on the console: a tqdm bar per epoch and one line per finished epoch."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from tqdm.auto import tqdm

from .run_state import EpochTotals

__all__ = ["EpochProgress", "format_epoch_row", "write_line"]

# refreshing the postfix on every batch costs more than small batches take
_POSTFIX_EVERY = 10


class EpochProgress:
    """Context manager: a tqdm bar over one epoch's batches with running loss, accuracy and images/s.

    Parameters
    ----------
    epoch, epochs : int
        The epoch (0-based) and the run's number of epochs, for the label.
    total, initial : int
        Batches in the epoch and batches already done (a resumed epoch).
    world_size : int
        Replicas whose images add up to the throughput.
    enabled : bool
        Whether to show the bar (rank 0 with progress on).
    """

    def __init__(self, *, epoch: int, epochs: int, total: int, initial: int, world_size: int, enabled: bool):
        self.world_size = world_size
        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=f"epoch {epoch + 1}/{epochs}",
            disable=not enabled,
            unit="batch",
            dynamic_ncols=True,
            leave=False,
        )

    def advance(self, totals: EpochTotals, seconds: float) -> None:
        """One more batch done; ``totals`` and ``seconds`` so far in this epoch."""
        self._bar.update(1)
        if self._bar.n % _POSTFIX_EVERY == 0 or self._bar.n == self._bar.total:
            self._bar.set_postfix(
                loss=f"{totals.loss_sum / totals.count:.3f}",
                acc=f"{1 - totals.wrong / totals.count:.3f}",
                img_s=f"{totals.count * self.world_size / max(seconds, 1e-9):.0f}",
            )

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._bar.close()


def format_epoch_row(row: dict[str, Any]) -> str:
    """One finished epoch's metrics as one console line (test columns when it was evaluated).

    Returns
    -------
    str
        ``"epoch 3: lr 0.1 train loss 1.2345 error 40.00% | test loss ... | 1234 images/s"``.
    """
    text = (
        f"epoch {row['epoch']}: lr {row['lr']:.4g} train loss {row['train_loss']:.4f} "
        f"error {100 * row['train_error']:.2f}%"
    )
    if "test_error" in row:
        text += f" | test loss {row['test_loss']:.4f} error {100 * row['test_error']:.2f}%"
    return text + f" | {row['images_per_s']:.0f} images/s"


def write_line(text: str) -> None:
    """Print ``text`` without breaking a progress bar that is on screen."""
    tqdm.write(text)
