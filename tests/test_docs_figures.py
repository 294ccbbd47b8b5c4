"""The convergence figures the docs draw: y-range and exact zeros, the first run's claims, headless examples.

The figure code is the docs' own: the ``executed-code`` block of ``docs/getting_started.md``
and the gallery scripts (which the concept pages show), run here with the arguments the
pages run them with (``PARAREAL_DOCS_QUICK=1``, as the CI docs build). Every log-scale error
axis they leave open must start no lower than the smallest nonzero value drawn divided by
100, and mark each exact zero on its floor with the legend entry ``"exact (0)"``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from parareal_toolkit.ode import advection_periodic, heat_1d
from parareal_toolkit.plotting import ZERO_LABEL

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SERIES, ZEROS, NONFINITE = "parareal-log-errors", "parareal-exact-zeros", "parareal-nonfinite"
PERTURBATION = 1 + 1e-12
# the gallery's error-per-iteration figures; the concept pages show the first three
CONVERGENCE_EXAMPLES = [
    "parareal/plot_heat_convergence.py",
    "parareal/plot_advection.py",
    "parareal/plot_erratum.py",
    "parareal/plot_dahlquist_by_hand.py",
    "parareal/plot_coarse_substeps.py",
    "parareal/plot_mgrit_heat.py",
]
SLOW_CONVERGENCE_EXAMPLES = [
    "networks/plot_proposition1.py",
    "nonlinear/plot_burgers.py",
    "nonlinear/plot_reaction_diffusion.py",
    "nonlinear/plot_van_der_pol.py",
    "nonlinear/plot_lorenz.py",
]


def _getting_started_code() -> str:
    page = (ROOT / "docs" / "getting_started.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```\{executed-code\}\n(.*?)```", page, re.S)
    return code


def _run_getting_started() -> tuple[dict, str]:
    namespace: dict = {"__name__": "getting_started"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_getting_started_code(), "getting_started.md", "exec"), namespace)
    return namespace, out.getvalue()


def _error_axes():
    """Every open axes with a log y-axis over a linear x-axis (error against iteration or time)."""
    for number in plt.get_fignums():
        for ax in plt.figure(number).axes:
            if ax.get_yscale() == "log" and ax.get_xscale() == "linear":
                yield ax


def check_error_axes(ax, where: str) -> None:
    """The floor is >= min nonzero / 100, every exact zero is marked on it, and the legend says so."""
    lines = ax.get_lines()
    series = [line for line in lines if line.get_gid() == SERIES]
    assert series, f"{where}: a log error axis not drawn by semilogy_errors"
    for line in lines:  # nothing else but its markers and horizontal reference lines (tol, rtol)
        horizontal = line.get_transform() == ax.get_yaxis_transform()
        assert line.get_gid() in (SERIES, ZEROS, NONFINITE) or horizontal, f"{where}: {line.get_label()!r}"
    data = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in series])
    positive = data[np.isfinite(data) & (data > 0)]
    floor = ax.get_ylim()[0]
    assert floor >= positive.min() / 100, f"{where}: axis floor {floor:g} under min nonzero {positive.min():g} / 100"
    zeros = int((data == 0).sum())
    markers = [line for line in lines if line.get_gid() == ZEROS]
    assert sum(len(m.get_xdata()) for m in markers) == zeros, f"{where}: {zeros} exact zeros, not all marked"
    assert all(np.all(m.get_ydata() == floor) for m in markers), f"{where}: a zero marker off the floor"
    if zeros:
        legend = ax.get_legend()
        assert legend is not None and ZERO_LABEL in [t.get_text() for t in legend.get_texts()], where


# --- the first run on getting_started ---------------------------------------------------


def test_getting_started_stops_by_tolerance_and_says_advection_does_not_converge():
    plt.close("all")
    namespace, printed = _run_getting_started()
    heat, advection, n = namespace["heat"], namespace["advection"], namespace["N"]
    assert heat.stop_reason == "tolerance" and heat.converged and heat.iterations <= n // 2
    assert f"heat: 'tolerance' after K = {heat.iterations} of N = {n} iterations, converged: True" in printed
    assert advection.stop_reason == "iteration-cap" and not advection.converged
    assert "advection: 'iteration-cap'" in printed and "converged: False" in printed
    # the advection error is still far above the tolerance the heat run met
    assert advection.errors[-1] > 1000 * namespace["TOL"]
    (ax,) = list(_error_axes())
    check_error_axes(ax, "getting_started")
    plt.close("all")


@pytest.mark.parametrize("variant", ["perturbed", "coarser"])
def test_getting_started_claims_survive_a_perturbation_and_a_coarser_step(variant):
    namespace, _ = _run_getting_started()
    plt.close("all")
    run, n = namespace["run"], namespace["N"]
    heat, advection = heat_1d(50), advection_periodic(50)
    if variant == "perturbed":  # every real input times 1 + 1e-12
        heat = dataclasses.replace(
            heat_1d(50, t_final=0.1 * PERTURBATION, diffusivity=PERTURBATION), u0=heat.u0 * PERTURBATION
        )
        advection = dataclasses.replace(
            advection_periodic(50, t_final=PERTURBATION, speed=PERTURBATION), u0=advection.u0 * PERTURBATION
        )
    else:  # the coarse step doubled: half the slices (the fine propagator is exact)
        n //= 2
        namespace["N"] = n
    result, bound = run(heat)
    assert result.stop_reason == "tolerance" and result.iterations <= n - 2
    assert np.all(np.asarray(result.errors) <= bound)
    capped, _ = run(advection, iterations=n // 2)
    assert capped.stop_reason == "iteration-cap" and not capped.converged


# --- the gallery's convergence figures ----------------------------------------------------


def _run_example(relative: str, tmp_path, monkeypatch) -> str:
    plt.close("all")
    monkeypatch.setenv("PARAREAL_DOCS_QUICK", "1")
    monkeypatch.chdir(tmp_path)  # headless: show_or_save writes its PNGs here
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(EXAMPLES / relative), run_name="__main__")
    return out.getvalue()


def _check_example(relative, tmp_path, monkeypatch) -> int:
    """Run the example, check each of its error axes, and return how many exact zeros they mark."""
    _run_example(relative, tmp_path, monkeypatch)
    axes = list(_error_axes())
    assert axes, f"{relative} drew no log error axis"
    for i, ax in enumerate(axes):
        check_error_axes(ax, f"{relative}, axes {i}")
    marked = sum(len(line.get_xdata()) for ax in axes for line in ax.get_lines() if line.get_gid() == ZEROS)
    plt.close("all")
    return marked


@pytest.mark.parametrize("relative", CONVERGENCE_EXAMPLES)
def test_gallery_convergence_figures_have_a_floor_and_marked_zeros(relative, tmp_path, monkeypatch):
    marked = _check_example(relative, tmp_path, monkeypatch)
    if relative.endswith(("plot_heat_convergence.py", "plot_advection.py", "plot_erratum.py")):
        # runs to K = N, or slice errors with U^k_0 = u0: exact zeros the figures must show
        assert marked > 0, relative


@pytest.mark.slow
@pytest.mark.parametrize("relative", SLOW_CONVERGENCE_EXAMPLES)
def test_nonlinear_gallery_convergence_figures(relative, tmp_path, monkeypatch):
    _check_example(relative, tmp_path, monkeypatch)


def test_examples_draw_log_errors_only_through_the_floor_helper():
    for path in sorted(EXAMPLES.rglob("plot_*.py")):
        source = path.read_text(encoding="utf-8")
        assert ".semilogy(" not in source, f"{path.name}: use parareal_toolkit.plotting.semilogy_errors"
        assert not re.search(r"np\.maximum\([^)]*1e-1\d\)", source), f"{path.name}: an ad-hoc floor"


# --- examples run as scripts, without a display -------------------------------------------


@pytest.mark.parametrize(
    ("relative", "figures"), [("parareal/plot_erratum.py", 1), ("parareal/plot_heat_convergence.py", 2)]
)
def test_headless_example_saves_its_figures(relative, figures, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", PARAREAL_DOCS_QUICK="1", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("DISPLAY", None)
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / relative)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    stem = Path(relative).stem
    written = sorted(tmp_path.glob("*.png"))
    assert [p.name for p in written] == [f"{stem}_{i}.png" for i in range(1, figures + 1)]
    for path in written:
        assert path.stat().st_size > 5_000  # a drawn figure, not an empty canvas
        assert f"saved figure: {path}" in completed.stdout


# --- examples run block by block, as the gallery runs them -----------------------------------

# sphinx-gallery runs an example one code block (``# %%`` cell) at a time, and after each block
# saves every open figure and closes it (its matplotlib scraper): a panel drawn in a later block
# onto a figure made in an earlier one is missing from the page, though the script run as a
# whole draws it (van der Pol's right panel was empty on its page).
SLOW_GALLERY_EXAMPLES = {"networks/plot_parareal_resnet.py", "nonlinear/plot_lorenz.py", *SLOW_CONVERGENCE_EXAMPLES}
ALL_EXAMPLES = sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("plot_*.py"))


def _drawn(fig) -> list[tuple]:
    """What each axes of ``fig`` shows: its artists, counted, and its labels and legend."""
    shown = []
    for ax in fig.axes:
        legend = ax.get_legend()
        shown.append(
            (
                len(ax.lines),
                len(ax.collections),
                len(ax.patches),
                len(ax.images),
                len(ax.texts),
                ax.get_title(),
                ax.get_xlabel(),
                ax.get_ylabel(),
                tuple(t.get_text() for t in legend.get_texts()) if legend else (),
            )
        )
    return shown


def _gallery_captures(relative: str, tmp_path, monkeypatch) -> list[tuple[int, object, list]]:
    """``(block line, figure, what it showed when captured)`` for every figure the gallery would save."""
    parser = pytest.importorskip("sphinx_gallery.py_source_parser", reason="the `docs` extra is not installed")
    path = EXAMPLES / relative
    _, blocks = parser.split_code_and_text_blocks(str(path))[:2]
    plt.close("all")
    monkeypatch.setenv("PARAREAL_DOCS_QUICK", "1")
    monkeypatch.chdir(tmp_path)  # show_or_save writes its PNGs here
    namespace: dict = {"__name__": "__main__", "__file__": str(path)}
    captured = []
    for label, content, line in blocks:
        if label != "code":
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile("\n" * (line - 1) + content, str(path), "exec"), namespace)
        for number in plt.get_fignums():
            figure = plt.figure(number)
            captured.append((line, figure, _drawn(figure)))
        plt.close("all")
    return captured


@pytest.mark.parametrize(
    "relative",
    [pytest.param(r, marks=pytest.mark.slow) if r in SLOW_GALLERY_EXAMPLES else r for r in ALL_EXAMPLES],
)
def test_gallery_pages_show_every_panel_drawn(relative, tmp_path, monkeypatch):
    captured = _gallery_captures(relative, tmp_path, monkeypatch)
    assert captured, f"{relative}: the gallery captures no figure"
    for line, figure, shown in captured:
        where = f"{relative}, the figure captured after the block at line {line}"
        # nothing drawn onto it after the gallery saved it: that would be missing on the page
        assert _drawn(figure) == shown, f"{where} was drawn on by a later block"
        for i, ax in enumerate(figure.axes):
            if ax.get_visible() and ax.axison:
                assert ax.has_data() or ax.texts or ax.tables, f"{where}: axes {i} is empty"
