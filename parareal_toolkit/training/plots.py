"""Training curves: loss and error rate per epoch for one or several runs on one figure."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .metrics import read_metrics

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_training_curves"]


def plot_training_curves(
    runs: Iterable[str | os.PathLike | Sequence[dict[str, Any]]],
    *,
    labels: Sequence[str] | None = None,
    path: str | os.PathLike | None = None,
    figsize: tuple[float, float] = (10, 4),
) -> Figure:
    """Plot loss (left) and error rate in % (right) against the epoch.

    ``runs``: run directories or ``metrics.jsonl`` files, or lists of metric rows (as
    written by :class:`~parareal_toolkit.training.metrics.MetricsLogger`). Training curves
    are dashed, test curves solid, one colour per run. ``labels`` default to the run
    folders' names. Every epoch is a marker, so a run of one epoch shows its points. Saves to ``path`` if
    given (and closes the figure).

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with the loss and the error axes.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    runs = list(runs)
    if not runs:
        raise InputError("`runs` must name at least one run; got none.")
    if labels is None:
        labels = [Path(r).name if isinstance(r, (str, os.PathLike)) else f"run {i + 1}" for i, r in enumerate(runs)]
    if len(labels) != len(runs):
        raise InputError(f"`labels` must have one entry per run ({len(runs)}); got {len(labels)}.")
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=figsize)
    for i, (run, label) in enumerate(zip(runs, labels)):
        rows = read_metrics(run) if isinstance(run, (str, os.PathLike)) else list(run)
        color = f"C{i % 10}"
        epochs = [r["epoch"] for r in rows]
        ax_loss.plot(epochs, [r["train_loss"] for r in rows], "--o", color=color, markersize=4, label=f"{label} train")
        ax_err.plot(
            epochs, [100 * r["train_error"] for r in rows], "--o", color=color, markersize=4, label=f"{label} train"
        )
        tested = [r for r in rows if r.get("test_error") is not None]
        if tested:
            ax_loss.plot(
                [r["epoch"] for r in tested],
                [r["test_loss"] for r in tested],
                "-o",
                color=color,
                markersize=4,
                label=f"{label} test",
            )
            ax_err.plot(
                [r["epoch"] for r in tested],
                [100 * r["test_error"] for r in tested],
                "-o",
                color=color,
                markersize=4,
                label=f"{label} test",
            )
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_err.set(xlabel="epoch", ylabel="error (%)", title="error rate")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_err):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
