"""Gantt charts of a simulated schedule (matplotlib): one row per processor."""

from __future__ import annotations

from typing import Any

from .engine import Trace

__all__ = ["plot_gantt", "KIND_COLOURS"]

KIND_COLOURS = {"F": "#4C72B0", "A": "#DD8452", "G": "#55A868", "B": "#C44E52", "U": "#8172B3"}


def plot_gantt(
    trace: Trace, *, ax: Any = None, label_tasks: bool = True, title: str | None = None, max_time: float | None = None
) -> Any:
    """Draw ``trace`` (from :func:`~parareal_toolkit.layerpipe.simulate`): one row per processor, one bar per task.

    Bars are coloured by task kind and labelled with their micro-batch; ``max_time`` cuts
    the chart (default: the makespan).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, or a new one sized to the number of processors.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    sched = trace.schedule
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 0.5 + 0.45 * sched.num_processors))
    span = trace.makespan if max_time is None else max_time
    for proc in range(sched.num_processors):
        for start, end, task in trace.intervals(proc):
            if end <= start or start >= span:
                continue
            ax.broken_barh(
                [(start, end - start)],
                (proc - 0.4, 0.8),
                facecolors=KIND_COLOURS.get(task.kind, "grey"),
                edgecolor="black",
                linewidth=0.3,
            )
            if label_tasks and (end - start) > span / 80:
                ax.text(
                    (start + end) / 2, proc, str(task.microbatch), ha="center", va="center", fontsize=6, color="white"
                )
    ax.set_yticks(range(sched.num_processors))
    ax.set_yticklabels([f"P{p}" for p in range(sched.num_processors)])
    ax.invert_yaxis()
    ax.set_xlim(0, span)
    ax.set_xlabel("cycles")
    kinds = sorted({t.kind for t in sched.cost})
    ax.legend(
        handles=[Patch(color=KIND_COLOURS[k], label=k) for k in kinds], loc="upper right", fontsize=7, ncol=len(kinds)
    )
    ax.set_title(title or sched.name)
    return ax
