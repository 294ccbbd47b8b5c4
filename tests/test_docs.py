"""The documentation builds with warnings as errors and every gallery example runs.

One quick-mode build (``PARAREAL_DOCS_QUICK=1``) of a fresh copy of ``docs/`` and
``examples/`` in a temporary folder, so no cached gallery output from an earlier build can
stand in for an example that no longer runs. Needs the ``docs`` extra (skipped without it).
"""

from __future__ import annotations

import html
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").rglob("plot_*.py"))
CONCEPTS = ("parareal", "correction_form", "convergence", "networks", "cost_model", "layerpipe")


def _text(path: Path) -> str:
    """The visible text of an HTML page: tags stripped, entities decoded, spaces collapsed."""
    text = html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))
    return re.sub(r"[ \t]+", " ", text)


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    for requirement in ("sphinx", "furo", "myst_parser", "sphinx_gallery", "numpydoc"):
        pytest.importorskip(requirement, reason="the `docs` extra is not installed")
    tmp = tmp_path_factory.mktemp("docs")
    generated = shutil.ignore_patterns("_build", "auto_examples", "api", "sg_execution_times.rst", "__pycache__")
    shutil.copytree(ROOT / "docs", tmp / "docs", ignore=generated)
    shutil.copytree(ROOT / "examples", tmp / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(
        os.environ,
        PARAREAL_DOCS_QUICK="1",
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    out = tmp / "html"
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "-q",
        "-d",
        str(tmp / "doctrees"),
        str(tmp / "docs"),
        str(out),
    ]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"docs build failed:\n{run.stdout[-4000:]}\n{run.stderr[-8000:]}"
    return out


def test_there_is_an_example_for_every_gallery_topic():
    names = {p.stem for p in EXAMPLES}
    assert {
        "plot_heat_convergence",
        "plot_coarse_substeps",
        "plot_advection",
        "plot_convergence_factor",
        "plot_erratum",
        "plot_speedup",
        "plot_proposition1",
        "plot_parareal_resnet",
        "plot_layerpipe_gantt",
    } <= names
    for path in EXAMPLES:  # sphinx-gallery needs a title docstring; examples use the public API
        source = path.read_text(encoding="utf-8")
        assert re.match(r'r?"""\n.+\n=+\n', source), f"{path.name} has no title docstring"
        assert not re.search(r"from parareal_toolkit(\.\w+)*\._|import parareal_toolkit\.\w+\._", source)


@pytest.mark.slow
def test_every_example_ran_and_drew_its_figures(built_site):
    for path in EXAMPLES:
        gallery = path.parent.name
        page = built_site / "auto_examples" / gallery / f"{path.stem}.html"
        assert page.is_file(), f"no page for {path.name}"
        figures = sorted((built_site / "_images").glob(f"sphx_glr_{path.stem}_[0-9][0-9][0-9].png"))
        assert figures, f"{path.name} produced no figure"
        assert all(f.stat().st_size > 5_000 for f in figures), f"{path.name} produced an empty figure"
        text = _text(page)
        assert "Traceback" not in text
        assert "Total running time of the script" in text  # sphinx-gallery ran it in this build


@pytest.mark.slow
def test_examples_print_what_the_pages_claim(built_site):
    erratum = _text(built_site / "auto_examples" / "parareal" / "plot_erratum.html")
    # the literal Algorithm 1 stalls at 2.53e-02, the correction form falls 3.21e-03, 5.95e-04, ...
    assert re.search(r"1\s+2\.53e-02\s+3\.21e-03", erratum)
    assert re.search(r"3\s+2\.53e-02\s+1\.23e-04", erratum)
    heat = _text(built_site / "auto_examples" / "parareal" / "plot_heat_convergence.html")
    assert "mesh-independent contraction factor of implicit Euler: 0.2984" in heat
    proposition = _text(built_site / "auto_examples" / "networks" / "plot_proposition1.html")
    assert re.search(r"linear\s+holds\s+\S+\s+0/\d+", proposition)


@pytest.mark.slow
def test_key_pages_exist(built_site):
    assert (built_site / "index.html").is_file()
    for name in CONCEPTS:
        assert (built_site / "concepts" / f"{name}.html").is_file(), name
    reproducing = _text(built_site / "reproducing.html")
    for needle in ("1.4607", "5.03", "not measured", "parareal layerpipe", "Placeholder"):
        assert needle in reproducing, needle
    cli = _text(built_site / "reference" / "cli.html")
    from parareal_toolkit.cli import COMMANDS

    for command in COMMANDS:
        assert f"parareal {command}" in cli and f"usage: parareal {command}" in cli, command


@pytest.mark.slow
def test_api_reference_lists_every_public_name(built_site):
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        api_pages = importlib.import_module("api_pages")
    finally:
        sys.path.pop(0)
    for module_name, _ in api_pages.PUBLIC_MODULES:
        page = built_site / "reference" / "api" / f"{module_name}.html"
        assert page.is_file(), module_name
        text = _text(page)
        for name in api_pages.public_names(module_name):
            assert name in text, f"{module_name}.{name} is not on its API page"


def test_the_build_is_nitpicky():
    # with -W above, one unresolved reference to the project's own names fails the build;
    # only other projects' names (no inventories offline) are exempt
    conf = (ROOT / "docs" / "conf.py").read_text(encoding="utf-8")
    assert re.search(r"^nitpicky = True$", conf, re.M)
    exempt = re.search(r"nitpick_ignore_regex = \[(.*?)\]\n", conf, re.S).group(1)
    assert "parareal" not in exempt


@pytest.mark.slow
def test_pages_link_the_driver_function(built_site):
    target = "reference/api/generated/parareal_toolkit.parareal.html"
    assert (built_site / target).is_file()
    for page in ("index.html", "concepts/correction_form.html", "concepts/networks.html", "concepts/parareal.html"):
        text = (built_site / page).read_text(encoding="utf-8")
        assert re.search(r'href="(\.\./)?' + re.escape(target), text), page
