"""No number on a documentation page is typed by hand: it is computed when the page is built.

Unit level, without a docs build. The pages' prose (code blocks, ``{executed-code}`` blocks
and inline code left out: code is input, and what it prints is computed) must not contain a
decimal with three or more significant digits, a number with thousands separators or a
percentage: such numbers on these pages were results (a contraction factor, a parameter
count, the seed paper's timings) and now come from ``{value}`` (``docs/_ext/computed_values.py``),
``{computed-table}`` or ``{results-table}``. ``ALLOWED`` lists the exceptions, each with its
reason. Every ``{value}`` of every page is evaluated here, and the numbers a page may keep
because they are facts of the library (the training recipe, a default, the Python
requirement) are checked against the code.
"""

from __future__ import annotations

import importlib
import math
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATED = ("_build", "_generated", "auto_examples", "api", "_templates")


def _load_ext(name: str):
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


VALUES = _load_ext("computed_values")

PAGES = sorted(
    p
    for p in [*DOCS.rglob("*.md"), *DOCS.rglob("*.rst"), *(ROOT / "examples").rglob("*.rst")]
    if not set(p.relative_to(ROOT).parts) & set(GENERATED)
)

# (page relative to the repository, number as written): why it is not a computed result.
ALLOWED: dict[tuple[str, str], str] = {
    ("docs/install.md", "3.10"): "the Python requirement, checked against pyproject.toml below",
    ("docs/concepts/layerpipe.md", "2.14"): "a torch version (the release whose pipelining API is used)",
    ("docs/references.md", "2108.06629"): "an arXiv identifier (LayerPipe)",
    ("docs/references.md", "2401.10241"): "an arXiv identifier (Zero Bubble)",
}

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)\n.*?^(?P=fence)[ \t]*$", re.M | re.S)
# a reST code block: ``.. code-block::`` (or code, sourcecode) or a paragraph ending in ``::``,
# then its indented lines; other directives (notes) stay prose
_RST_CODE = re.compile(
    r"^(?P<indent>[ \t]*)(?:\.\. (?:code-block|code|sourcecode)::[^\n]*|(?!\.\. )[^\n]*::)[ \t]*\n"
    r"(?:(?P=indent)[ \t]+[^\n]*\n|[ \t]*\n)*",
    re.M,
)
_INLINE_CODE = re.compile(r"(?<!`)``(?!`)[^`]+?``(?!`)|(?<!`)`(?!`)[^`\n]+`(?!`)")
# a number as a token: digits with optional thousands separators, decimals, exponent, percent
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)*(?:[eE][-+]?\d+)?%?(?![\w])")


def prose(text: str, rst: bool) -> str:
    """``text`` without its code: fenced blocks (``{executed-code}`` too), reST literal blocks, inline code.

    Roles are inline code to this function, so ``{value}`...``` disappears with the rest;
    lines are kept (blanked), so positions still name the right line.
    """

    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    info_is_prose = ("{note}", "{seealso}", "{warning}", "{tip}", "{admonition}", "{important}")
    text = _FENCE.sub(lambda m: m.group(0) if m.group("info").strip().startswith(info_is_prose) else blank(m), text)
    if rst:
        text = _RST_CODE.sub(blank, text)
    return _INLINE_CODE.sub(blank, text)


def significant_digits(token: str) -> int:
    """Significant digits of a decimal (``0.2984``: 4, ``1.79``: 3, ``0.01``: 1, ``1e-8``: 1)."""
    mantissa = re.split(r"[eE]", token.rstrip("%"))[0].replace(",", "")
    return len(mantissa.replace(".", "").lstrip("0"))


def typed_results(text: str, rst: bool = False) -> list[tuple[int, str]]:
    """``(line, token)`` of every number in the prose of ``text`` that looks like a result.

    A decimal with three or more significant digits (``0.2984``, ``1.4607``, ``9.25``,
    ``2.53e-02``), a number with thousands separators (``10,327,706``) or a percentage
    (``25%``, ``5.03 %``). Inputs the text chooses (``m = 50``, ``1e-8``, ``T = 0.1``) and
    years do not match; dotted versions (``0.1.0``) neither.
    """
    found = []
    body = prose(text, rst)
    for match in _NUMBER.finditer(body):
        token = match.group(0).rstrip(",")
        line = body.count("\n", 0, match.start()) + 1
        percent = token.endswith("%") or body[match.end() : match.end() + 2] == " %"
        if token.count(".") > 1:  # a version, 0.1.0
            continue
        if percent or re.search(r"\d,\d{3}", token) or ("." in token and significant_digits(token) >= 3):
            found.append((line, token))
    return found


def test_the_scanner_finds_results_and_spares_inputs():
    page = (
        "The factor is 0.2984 (x ≈ 1.79), $0.2984^k$, ResNet-1001 has 10,327,706 parameters,\n"
        "a speedup of 25% and 5.03 % error, stalls at 2.53e-02.\n"
        "Inputs: $m = 50$, $T = 0.1$, tol 1e-8, version 0.1.0, year 2021, N = 18, 0.01.\n"
        "Computed: {value}`.4f parareal_toolkit.ode:heat_contraction_factor()` and `9.25` in code.\n"
        "```python\nprint(0.2984)\n```\n"
        "```{executed-code}\nx = 1.4607\n```\n"
        "```{note}\nat most 0.2984\n```\n"
    )
    assert [token for _, token in typed_results(page)] == [
        "0.2984",
        "1.79",
        "0.2984",
        "10,327,706",
        "25%",
        "5.03",
        "2.53e-02",
        "0.2984",
    ]
    assert typed_results(page)[-1][0] == 12  # the note's line, counted through the blanked blocks
    assert typed_results("A literal block::\n\n    y = 0.2984\n\nback: 1.79\n", rst=True) == [(5, "1.79")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_types_a_result_by_hand(page):
    name = str(page.relative_to(ROOT))
    typed = [
        f"line {line}: {token}"
        for line, token in typed_results(page.read_text(encoding="utf-8"), rst=page.suffix == ".rst")
        if (name, token) not in ALLOWED
    ]
    assert not typed, (
        f"{name} types numbers by hand: {typed}; compute them at build time "
        "({value}`FORMAT module:expression`, {computed-table}, {results-table}) or, for an input, "
        "add it to ALLOWED with the reason"
    )


def test_every_allowed_number_is_still_on_its_page():
    # a stale exception would let the same number back in elsewhere on the page unnoticed
    for page, token in ALLOWED:
        assert token in prose((ROOT / page).read_text(encoding="utf-8"), page.endswith(".rst")), (page, token)


def gallery_text(path: Path) -> str:
    """The reST an example shows on its gallery page (its text blocks), blank lines for its code."""
    parser = pytest.importorskip("sphinx_gallery.py_source_parser", reason="the `docs` extra is not installed")
    _, blocks = parser.split_code_and_text_blocks(str(path))[:2]
    lines = [""] * len(path.read_text(encoding="utf-8").splitlines())
    for label, content, line in blocks:
        if label == "text":
            for i, text in enumerate(content.splitlines()):
                if line - 1 + i < len(lines):
                    lines[line - 1 + i] = text
    return "\n".join(lines)


EXAMPLES = sorted((ROOT / "examples").rglob("plot_*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_no_gallery_page_types_a_result_by_hand(example):
    typed = [f"line {line}: {token}" for line, token in typed_results(gallery_text(example), rst=True)]
    assert not typed, f"{example.name}'s text types numbers by hand: {typed}; use :value:`FORMAT module:expression`"


ROLES = [
    (page, match.group("md") or match.group("rst"))
    for page in [*PAGES, *EXAMPLES]
    for match in VALUES.ROLE.finditer(page.read_text(encoding="utf-8"))
]


def test_the_pages_use_computed_values():
    pages = {str(page.relative_to(ROOT)) for page, _ in ROLES}
    assert {"docs/concepts/convergence.md", "docs/reproducing.md", "docs/concepts/layerpipe.md"} <= pages
    assert "examples/parareal/plot_heat_convergence.py" in pages


@pytest.mark.parametrize("page, text", ROLES, ids=[f"{p.name}:{t.split()[-1][:40]}" for p, t in ROLES])
def test_every_value_on_a_page_evaluates(page, text):
    shown = VALUES.compute(text)
    assert shown and re.search(r"\d", shown), f"{page.name}: {{value}}`{text}` shows {shown!r}"


def test_values_show_what_the_toolkit_computes():
    from parareal_toolkit.bench import SEED_TABLE2
    from parareal_toolkit.ode import convergence_factor, heat_contraction_factor

    assert VALUES.compute(".4f parareal_toolkit.ode:heat_contraction_factor()") == f"{heat_contraction_factor():.4f}"
    assert VALUES.compute('.4f parareal_toolkit.bench:SEED_TABLE2[18]["total"]') == f"{SEED_TABLE2[18]['total']:.4f}"
    assert VALUES.compute(".0% parareal_toolkit.layerpipe:PAPER_PEAK_SPEEDUP - 1") == "80%"
    assert VALUES.compute(", parareal_toolkit.plans:parareal_resnet_table(1001, ())[0]['parameters']") == "10,327,706"
    # the worst heat mode is where the factor reaches its supremum, to the search's accuracy
    x = VALUES.heat_worst_mode()
    assert math.isclose(convergence_factor(-x), heat_contraction_factor(), rel_tol=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        ".4f parareal_toolkit.ode",  # no expression
        ".4f parareal_toolkit.ode:__import__('os')",  # only literal arguments... and no unknown names
        ".4f parareal_toolkit.ode:heat_contraction_factor(substeps=len([]))",  # a call as an argument
        ".4f parareal_toolkit.ode:[x for x in (1,)]",  # not a lookup, call, index or arithmetic
        ".4f parareal_toolkit.ode:heat_contraction_factor(",  # not an expression
    ],
)
def test_a_value_is_a_source_not_code(text):
    with pytest.raises(ValueError):
        VALUES.compute(text)


# --- numbers the pages keep because they are facts of the library, checked against it ---------


def _recipe(config) -> str:
    return (
        f"{config.epochs} epochs, batch {config.batch_size}, SGD with momentum {config.momentum}, weight decay\n"
        f"$5\\cdot10^{{-4}}$, learning rate {config.lr} divided by 10 at epochs "
        f"{config.milestones[0]} and {config.milestones[1]})"
    )


def test_the_seed_recipe_on_the_pages_is_the_training_default():
    from parareal_toolkit.training import TrainConfig

    config = TrainConfig()
    assert config.weight_decay == 5e-4 and config.gamma == 0.1 and len(config.milestones) == 2
    assert _recipe(config) in (DOCS / "users" / "training.md").read_text(encoding="utf-8")
    reproducing = " ".join((DOCS / "reproducing.md").read_text(encoding="utf-8").split())
    assert (
        f"batch {config.batch_size}, {config.epochs} epochs, SGD momentum {config.momentum}, weight decay 5e-4, "
        f"learning rate {config.lr} divided by 10 at epochs {config.milestones[0]} and {config.milestones[1]}"
    ) in reproducing


def test_the_time_limit_default_on_the_training_page_is_the_commands():
    from parareal_toolkit.cli.train import _DEFAULT_TIME_LIMIT  # what `--time-limit` unset means

    assert f"`--time-limit` (default {_DEFAULT_TIME_LIMIT:g} s)" in (DOCS / "users" / "training.md").read_text(
        encoding="utf-8"
    )


def test_the_python_requirement_on_the_install_page_is_the_packages():
    # tomllib is Python 3.11's; the package supports 3.10
    requirement = re.search(
        r'^requires-python = ">=([\d.]+)"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M
    )
    assert requirement, "pyproject.toml states no lower bound on Python"
    assert f"Python {requirement.group(1)} or newer" in (DOCS / "install.md").read_text(encoding="utf-8")
