"""Gantt charts readable at page width: legend outside the bars with the meaning of each
kind, micro-batch labels in a legible font and only where they fit."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from parareal_toolkit.layerpipe import build_schedule, profile_from_costs, simulate
from parareal_toolkit.layerpipe.gantt import MAX_LABEL_POINTS, MIN_LABEL_POINTS, plot_gantt


def test_legend_sits_right_of_the_bars_and_names_every_kind():
    prof = profile_from_costs([3, 4, 2, 5], [0, 3, 2, 4], [2, 4, 3, 3])
    trace = simulate(build_schedule("layerpipe", prof, 3, steps=12))
    fig, ax = plt.subplots(figsize=(8, 2.5))
    plot_gantt(trace, ax=ax)
    fig.canvas.draw()
    legend = ax.get_legend()
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1
    assert [t.get_text() for t in legend.get_texts()] == [
        "F  forward",
        "A  activation gradient",
        "G  weight gradient",
    ]
    plt.close(fig)


def test_labels_are_legible_and_left_out_where_they_do_not_fit():
    # one long and one very short stage: at 6 inches the short bars cannot hold a digit
    prof = profile_from_costs([100, 1], [100, 1], [100, 1])
    trace = simulate(build_schedule("1f1b", prof, 2, microbatches=4))
    fig, ax = plt.subplots(figsize=(6, 1.6))
    plot_gantt(trace, ax=ax)
    texts = list(ax.texts)
    sizes = [t.get_fontsize() for t in texts]
    assert texts and all(MIN_LABEL_POINTS <= s <= MAX_LABEL_POINTS for s in sizes)
    labelled_rows = {round(t.get_position()[1]) for t in texts}
    assert labelled_rows == {0}  # stage 1's bars (cost 1 and 2 of ~800) carry no label
    plt.close(fig)
    # twice as wide: the same bars, the labels no smaller
    fig, ax = plt.subplots(figsize=(12, 1.6))
    plot_gantt(trace, ax=ax)
    assert min(t.get_fontsize() for t in ax.texts) >= min(sizes)
    plt.close(fig)


def test_no_labels_when_asked():
    trace = simulate(build_schedule("gpipe", profile_from_costs([1, 1], [1, 1], [1, 1]), 2, microbatches=2))
    ax = plot_gantt(trace, label_tasks=False, unit="s")
    assert len(ax.texts) == 0 and ax.get_xlabel() == "s"
    plt.close(ax.figure)


def test_link_rows_are_labelled_as_links():
    from parareal_toolkit.layerpipe import Network, with_link_tasks

    sched = build_schedule("gpipe", profile_from_costs([1, 1], [1, 1], [1, 1], sizes=[4, 1]), 2, microbatches=2)
    queued, links = with_link_tasks(sched, Network(bandwidth=1.0, latency=0.0, bytes_per_element=1))
    ax = plot_gantt(simulate(queued))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["P0", "P1", "link 0", "link 1"]
    assert links == [(0, 1), (1, 0)]
    assert "X  message on a link" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(ax.figure)


def test_panels_share_one_time_axis_whatever_each_schedule_lasts():
    from parareal_toolkit.layerpipe.gantt import plot_gantt_panels

    prof = profile_from_costs([3, 4, 2, 5], [1, 3, 2, 4], [2, 4, 3, 3])
    gpipe = simulate(build_schedule("gpipe", prof, 2, microbatches=4))
    onef = simulate(build_schedule("1f1b", prof, 2, microbatches=8))
    # a panel cut at 10 time units and two whole traces of different makespans
    fig = plot_gantt_panels([(gpipe, "gpipe", None), (onef, "1f1b", None), (onef, "1f1b cut", 10.0)])
    axes = fig.axes
    assert gpipe.makespan != onef.makespan
    assert {ax.get_xlim() for ax in axes} == {(0.0, max(gpipe.makespan, onef.makespan))}
    assert all(axes[0].get_shared_x_axes().joined(axes[0], ax) for ax in axes[1:])
    assert [ax.get_xlabel() for ax in axes] == ["", "", "cycles"]  # one axis, labelled once
    plt.close(fig)


def test_layerpipe_cli_says_where_it_wrote_and_its_panels_share_the_time_axis(tmp_path, monkeypatch, capsys):
    from matplotlib.figure import Figure

    from parareal_toolkit import cli

    saved = []
    original = Figure.savefig

    def keep(fig, *args, **kwargs):
        saved.append(fig)
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    monkeypatch.chdir(tmp_path)
    argv = ["layerpipe", "--processors", "2", "--microbatches", "4", "--schedules", "gpipe", "layerpipe"]
    assert cli.main([*argv, "--gantt", "g.png", "--json", str(tmp_path / "rows.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("wrote")] == [
        "wrote the Gantt chart (P=2, 2 schedules, one time axis) to g.png",
        f"wrote the rows as JSON to {tmp_path / 'rows.json'}",
    ]
    assert (tmp_path / "g.png").stat().st_size > 0 and (tmp_path / "rows.json").stat().st_size > 0
    (fig,) = saved
    assert len(fig.axes) == 2 and len({ax.get_xlim() for ax in fig.axes}) == 1
