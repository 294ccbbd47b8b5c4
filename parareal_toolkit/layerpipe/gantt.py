"""Gantt charts of a simulated schedule (matplotlib): one row per processor.

Several schedules go in panels one above the other that share one time axis
(:func:`plot_gantt_panels`), so that their lengths compare by eye. Readable at page width: the legend (each task kind with its meaning) sits outside the
bars, to the right of the axes; a bar carries its micro-batch number only when the number
fits inside it, in a font scaled to the bar's width and height on the page (between
``MIN_LABEL_POINTS`` and ``MAX_LABEL_POINTS``), and is left bare otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InputError
from .engine import Trace
from .task_graph import KIND_NAMES

__all__ = ["plot_gantt", "plot_gantt_panels", "KIND_COLOURS", "MIN_LABEL_POINTS", "MAX_LABEL_POINTS"]

KIND_COLOURS = {"F": "#4C72B0", "A": "#DD8452", "G": "#55A868", "B": "#C44E52", "U": "#8172B3", "X": "#8C8C8C"}
MIN_LABEL_POINTS = 6.0
MAX_LABEL_POINTS = 9.0
_DIGIT_WIDTH = 0.62  # width of one digit in units of the font size (DejaVu Sans)
_PADDING = 0.75  # share of a bar's width and height a label may take (the layout may still narrow the axes)


def _label_points(width_pt: float, height_pt: float, text: str) -> float | None:
    """The font size (points) at which ``text`` fits a bar of that size, or None if below the minimum."""
    size = min(MAX_LABEL_POINTS, _PADDING * width_pt / (_DIGIT_WIDTH * len(text)), _PADDING * height_pt)
    return size if size >= MIN_LABEL_POINTS else None


def plot_gantt(
    trace: Trace,
    *,
    ax: Any = None,
    label_tasks: bool = True,
    title: str | None = None,
    max_time: float | None = None,
    unit: str = "cycles",
) -> Any:
    """Draw ``trace`` (from :func:`~parareal_toolkit.layerpipe.simulate`): one row per processor, one bar per task.

    Bars are coloured by task kind (the legend, right of the axes, says what F, A, G, B,
    U and X mean; rows of messages only are labelled as links) and labelled with their micro-batch where the number fits (font scaled to
    the bar); ``max_time`` cuts the chart (default: the makespan); ``unit`` names the
    time axis.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, or a new one sized to the number of processors.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from parareal_toolkit.layerpipe import build_schedule, profile_from_costs, simulate
    >>> trace = simulate(build_schedule("1f1b", profile_from_costs([1, 1], [1, 1], [1, 1]), 2, microbatches=4))
    >>> ax = plot_gantt(trace)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['F  forward', 'B  backward (A+G)']
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    sched = trace.schedule
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 0.7 + 0.45 * sched.num_processors))
    span = trace.makespan if max_time is None else max_time
    fig = ax.figure
    box = ax.get_position()
    width_pt = box.width * fig.get_figwidth() * 72
    row_pt = box.height * fig.get_figheight() * 72 / max(sched.num_processors, 1)
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
            if not label_tasks or span <= 0:
                continue
            text = str(task.microbatch)
            shown = min(end, span) - start
            size = _label_points(width_pt * shown / span, 0.8 * row_pt, text)
            if size is not None:
                ax.text(
                    start + shown / 2, proc, text, ha="center", va="center", fontsize=size, color="white", clip_on=True
                )
    ax.set_yticks(range(sched.num_processors))
    # rows holding only messages are links (``communication.with_link_tasks``), numbered apart
    is_link = [True] * sched.num_processors
    for task, proc in sched.processor.items():
        if task.kind != "X":
            is_link[proc] = False
    compute = [p for p in range(sched.num_processors) if not is_link[p]]
    links = [p for p in range(sched.num_processors) if is_link[p]]
    names = {p: f"P{i}" for i, p in enumerate(compute)} | {p: f"link {i}" for i, p in enumerate(links)}
    ax.set_yticklabels([names[p] for p in range(sched.num_processors)])
    ax.set_ylim(sched.num_processors - 0.5, -0.5)
    ax.set_xlim(0, span)
    ax.set_xlabel(unit)
    order = [k for k in KIND_COLOURS if any(t.kind == k for t in sched.cost)]
    order += sorted({t.kind for t in sched.cost} - set(order))
    ax.legend(
        handles=[Patch(color=KIND_COLOURS.get(k, "grey"), label=f"{k}  {KIND_NAMES.get(k, k)}") for k in order],
        loc="center left",
        bbox_to_anchor=(1.005, 0.5),
        fontsize=8,
        frameon=False,
        title="task (number: micro-batch)" if label_tasks else "task",
        title_fontsize=8,
    )
    ax.set_title(title or sched.name)
    return ax


def plot_gantt_panels(
    panels: Sequence[tuple[Trace, str, float | None]],
    *,
    unit: str = "cycles",
    width: float = 13.0,
    label_tasks: bool = True,
) -> Any:
    """Draw several traces, one panel each, one above the other, on one shared time axis.

    ``panels`` holds ``(trace, title, max_time)`` triples (``max_time`` None: the trace's
    makespan). Every panel shows ``[0, T]`` with ``T`` the largest of the panels' times, so
    equal lengths on the page are equal times: a panel whose schedule ends earlier is blank
    after it. The figure is ``width`` inches wide and half an inch high per processor row.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its axes share the x axis (``ax.get_shared_x_axes()``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from parareal_toolkit.layerpipe import build_schedule, profile_from_costs, simulate
    >>> profile = profile_from_costs([1, 1], [1, 1], [1, 1])
    >>> traces = [simulate(build_schedule(name, profile, 2, microbatches=4)) for name in ("gpipe", "1f1b")]
    >>> fig = plot_gantt_panels([(t, t.schedule.name, None) for t in traces])
    >>> len({ax.get_xlim() for ax in fig.axes})
    1
    """
    import matplotlib.pyplot as plt

    panels = list(panels)
    if not panels:
        raise InputError("`panels` must hold at least one (trace, title, max_time); got none.")
    span = max(trace.makespan if limit is None else limit for trace, _, limit in panels)
    rows = sum(trace.schedule.num_processors for trace, _, _ in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 1 + 0.5 * rows), squeeze=False, sharex=True)
    for ax, (trace, title, _) in zip(axes[:, 0], panels):
        plot_gantt(trace, ax=ax, max_time=span, title=title, unit=unit, label_tasks=label_tasks)
    for ax in axes[:-1, 0]:
        ax.set_xlabel("")  # one time axis: labelled once, under the last panel
    return fig
