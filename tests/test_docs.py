"""The documentation builds with warnings as errors and every gallery example runs.

One quick-mode build (``PARAREAL_DOCS_QUICK=1``) of a fresh copy of ``docs/`` and
``examples/`` in a temporary folder, so no cached gallery output from an earlier build can
stand in for an example that no longer runs. Needs the ``docs`` extra (skipped without it).
"""

from __future__ import annotations

import html
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").rglob("plot_*.py"))
CONCEPTS = (
    "parareal",
    "correction_form",
    "convergence",
    "nonlinear",
    "parareal_mgrit",
    "mgrit",
    "networks",
    "cost_model",
    "layerpipe",
)


def _text(path: Path) -> str:
    """The visible text of an HTML page: tags stripped, entities decoded, spaces collapsed."""
    text = html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))
    return re.sub(r"[ \t]+", " ", text)


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    for requirement in ("sphinx", "furo", "myst_parser", "sphinx_gallery", "numpydoc"):
        pytest.importorskip(requirement, reason="the `docs` extra is not installed")
    tmp = tmp_path_factory.mktemp("docs")
    generated = shutil.ignore_patterns(
        "_build", "_generated", "auto_examples", "api", "sg_execution_times.rst", "__pycache__"
    )
    shutil.copytree(ROOT / "docs", tmp / "docs", ignore=generated)
    shutil.copytree(ROOT / "examples", tmp / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    # the pages read results files relative to themselves (../benchmarks/results/...)
    shutil.copytree(ROOT / "benchmarks" / "results", tmp / "benchmarks" / "results")
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
        "-n",
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
        "plot_mgrit_heat",
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
    for needle in ("1.4607", "5.03", "not measured", "parareal layerpipe", "unit-count bound"):
        assert needle in reproducing, needle
    for name in ("install", "getting_started", "references", "changelog"):
        assert (built_site / f"{name}.html").is_file(), name
    cli_html = (built_site / "reference" / "cli.html").read_text(encoding="utf-8")
    cli = _text(built_site / "reference" / "cli.html")
    from parareal_toolkit.cli import COMMANDS

    for command in COMMANDS:
        assert f"parareal {command}" in cli and f"usage: parareal {command}" in cli, command
    # plain text, not Python: no Pygments Python token classes in the help text
    assert 'class="highlight-python' not in cli_html and 'class="highlight-default' not in cli_html
    assert cli_html.count('class="highlight-console') >= len(COMMANDS)


def test_every_command_has_a_usage_example():
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        cli_reference = importlib.import_module("cli_reference")
    finally:
        sys.path.pop(0)
    from parareal_toolkit.cli import COMMANDS

    assert set(cli_reference.USAGE) == set(COMMANDS)
    for command, lines in cli_reference.USAGE.items():
        assert f"parareal {command}" in lines[0] or f"cli {command}" in lines[0], command


@pytest.mark.slow
def test_no_placeholder_or_todo_on_any_page(built_site):
    for page in built_site.rglob("*.html"):
        text = _text(page)
        for word in ("Placeholder", "TODO", "FIXME"):
            assert word not in text, f"{word!r} on {page.relative_to(built_site)}"


@pytest.mark.slow
def test_getting_started_shows_what_the_code_printed_and_drew(built_site):
    page = built_site / "getting_started.html"
    text = _text(page)
    assert "converged: True" in text
    assert re.search(r"\n\s*0\s+\d\.\d{3}e[-+]\d\d\s+\d\.\d{3}e[-+]\d\d", text)
    images = re.findall(r'<img[^>]+src="(_images/[^"]+\.png)"', page.read_text(encoding="utf-8"))
    assert images and all((built_site / image).stat().st_size > 5_000 for image in images)


@pytest.mark.slow
def test_api_pages_list_the_examples_using_a_name(built_site):
    text = _text(built_site / "reference" / "api" / "generated" / "parareal_toolkit.parareal.html")
    assert "Examples using" in text and "Parareal on the heat equation" in text


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
    # with -n -W above, one unresolved reference to the project's own names fails the build;
    # only other projects' names are exempt, and only when their inventories are unreachable
    conf = (ROOT / "docs" / "conf.py").read_text(encoding="utf-8")
    assert re.search(r"^nitpicky = True$", conf, re.M)
    exempt = re.search(r"^_OTHER_PROJECTS = (.*)$", conf, re.M).group(1)
    assert "parareal" not in exempt
    assert re.search(r"^nitpick_ignore_regex = \[\] if ONLINE else ", conf, re.M)


# --- numbers from data: every generated table equals its source --------------------------

_DIRECTIVE = re.compile(r"```\{(results-table|computed-table)\} (\S+)\n((?::\w+: .*\n)*)```")


class _Tables(HTMLParser):
    """The cells of every ``<table class="... results-table ...">`` of a page, in order."""

    def __init__(self):
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._in_table = False

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table" and "results-table" in classes:
            self._in_table = True
            self.tables.append({"caption": "", "rows": []})
        elif self._in_table and tag == "tr":
            self.tables[-1]["rows"].append([])
        elif self._in_table and tag in ("td", "th", "caption"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if not self._in_table:
            return
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "caption" and self._cell is not None:
            self.tables[-1]["caption"] = " ".join("".join(self._cell).split())
            self._cell = None
        elif tag == "table":
            self._in_table = False


def _expected_tables(page: Path) -> list[tuple[dict, str]]:
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        results_tables = importlib.import_module("results_tables")
    finally:
        sys.path.pop(0)
    expected = []
    for kind, argument, options in _DIRECTIVE.findall(page.read_text(encoding="utf-8")):
        opts = dict(re.findall(r":(\w+): (.*)", options))
        if kind == "results-table":
            expected.append(results_tables.results_source(page.parent / argument, opts["table"]))
        else:
            sys.path.insert(0, str(ROOT / "docs" / "_ext"))
            try:
                expected.append(results_tables.computed_source(argument, results_tables.parse_args(opts.get("args"))))
            finally:
                sys.path.pop(0)
    return expected


def test_every_results_file_carries_its_tables():
    files = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    assert files
    for path in files:
        record = json.loads(path.read_text(encoding="utf-8"))
        for key in ("benchmark", "command", "machine", "date", "tables"):
            assert record.get(key), f"{path.name} lacks {key}"
        for name, table in record["tables"].items():
            assert table["rows"], f"{path.name}#{name} is empty"
            assert all(len(row) == len(table["columns"]) for row in table["rows"])
            assert all(isinstance(cell, str) for row in table["rows"] for cell in row)


@pytest.mark.slow
def test_every_generated_table_on_a_page_equals_its_source(built_site):
    pages = [p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts and _DIRECTIVE.search(p.read_text())]
    assert {p.stem for p in pages} >= {"reproducing", "cost_model", "layerpipe"}
    for source in pages:
        html_page = built_site / source.relative_to(ROOT / "docs").with_suffix(".html")
        parser = _Tables()
        parser.feed(html_page.read_text(encoding="utf-8"))
        expected = _expected_tables(source)
        assert len(parser.tables) == len(expected), source.name
        for shown, (table, caption, code) in zip(parser.tables, expected):
            assert shown["rows"] == [table["columns"], *table["rows"]], f"{source.name}: {table['title']}"
            assert " ".join(f"{caption} {code}".split()) in shown["caption"], source.name


def test_readme_results_blocks_equal_a_fresh_render():
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        results_tables = importlib.import_module("results_tables")
        blocks = results_tables.readme_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    finally:
        sys.path.pop(0)
    sources = {source for source, _, _ in blocks}
    # the wide tables are on docs/benchmarks.md; the README keeps one generated line of each
    assert "parareal_toolkit.layerpipe:claims_table" in sources
    assert {s.split(" |")[0] for s in sources} >= {
        "benchmarks/results/table2_cpu.json#ratios",
        "benchmarks/results/core_driver_cpu.json#overhead",
        "benchmarks/results/ode_speedup_cpu.json#speedup",
    }
    for source, body, fresh in blocks:
        assert body == fresh, f"README block {source} is stale: python docs/_ext/results_tables.py --update-readme"


@pytest.mark.slow
def test_built_pages_scroll_wide_formulas_and_show_module_docstrings(built_site):
    css = (built_site / "_static" / "parareal.css").read_text(encoding="utf-8")
    assert re.search(r'mjx-container\[display="true"\][^{]*\{[^}]*overflow-x: auto', css)
    for name in ("networks", "cost_model", "nonlinear"):
        assert "_static/parareal.css" in (built_site / "concepts" / f"{name}.html").read_text(encoding="utf-8")
    top = _text(built_site / "reference" / "api" / "parareal_toolkit.html")
    assert "A-posteriori error estimate" in top and "Non-finite values are never hidden." in top
    driver = (built_site / "reference" / "api" / "generated" / "parareal_toolkit.parareal.html").read_text(
        encoding="utf-8"
    )
    assert 'href="../parareal_toolkit.html#module-docstring-parareal-toolkit-driver"' in driver
    nonlinear = _text(built_site / "concepts" / "nonlinear.html")
    assert "stop reason 'non-finite'" in nonlinear and "stop reason: tolerance" in nonlinear


@pytest.mark.slow
def test_pages_link_the_driver_function(built_site):
    target = "reference/api/generated/parareal_toolkit.parareal.html"
    assert (built_site / target).is_file()
    for page in ("index.html", "concepts/correction_form.html", "concepts/networks.html", "concepts/parareal.html"):
        text = (built_site / page).read_text(encoding="utf-8")
        assert re.search(r'href="(\.\./)?' + re.escape(target), text), page
