"""The API pages show the module docstrings their names point to, and wide formulas scroll.

Unit level, without a docs build: ``docs/_ext/api_pages.py`` renders each public module's
page as reST, so the tests read that text; the stylesheet is read as written (the build
copies it unchanged into ``_static/``, which ``tests/test_docs.py`` checks on a built site).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _api_pages():
    spec = importlib.util.spec_from_file_location("api_pages", DOCS / "_ext" / "api_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


API = _api_pages()
PAGES = API.documented_modules()


def _first_line(module_name: str) -> str:
    return inspect.cleandoc(importlib.import_module(module_name).__doc__ or "").splitlines()[0]


@pytest.mark.parametrize("module_name", [m for m, _ in API.PUBLIC_MODULES])
def test_an_api_page_shows_its_modules_docstrings(module_name):
    summary = dict(API.PUBLIC_MODULES)[module_name]
    page = API.render(module_name, summary, PAGES)
    assert f".. _{API.module_label(module_name)}:" in page
    assert _first_line(module_name) in page, f"{module_name}'s docstring is not on its page"
    for owner in API.defining_modules(module_name):
        shown_on = PAGES[owner]
        text = page if shown_on == module_name else API.render(shown_on, dict(API.PUBLIC_MODULES)[shown_on], PAGES)
        assert f".. _{API.module_label(owner)}:" in text, owner
        # indented inside the notes container, so compare the stripped lines
        lines = {line.strip() for line in text.splitlines()}
        assert _first_line(owner).strip() in lines, f"{owner}'s docstring is not on {shown_on}'s page"


def test_each_module_docstring_is_on_exactly_one_page():
    labels = []
    for module_name, summary in API.PUBLIC_MODULES:
        labels += re.findall(r"^\.\. _(module-docstring-[\w.]+):$", API.render(module_name, summary, PAGES), re.M)
    assert len(labels) == len(set(labels)), sorted(label for label in labels if labels.count(label) > 1)
    assert set(labels) == {API.module_label(m) for m in PAGES}


def test_the_driver_docstring_is_on_the_top_level_page():
    # the a-posteriori estimate's derivation and the non-finite policy live there
    page = API.render("parareal_toolkit", "", PAGES)
    assert PAGES["parareal_toolkit.driver"] == "parareal_toolkit"
    assert "A-posteriori error estimate (``fine_lipschitz=L``)" in page
    assert "Non-finite values are never hidden." in page


def test_module_docstring_phrases_become_links():
    shown = {"parareal_toolkit.driver", "parareal_toolkit.ode.theory"}
    bare = API.link_module_docstrings("(see the module docstring).", "parareal_toolkit.ode.theory", shown)
    assert bare == "(see the :ref:`module docstring <module-docstring-parareal_toolkit.ode.theory>`)."
    named = API.link_module_docstrings(
        "see the module docstring of\n    ``parareal_toolkit.driver``)", "parareal_toolkit.parareal_result", shown
    )
    assert (
        named
        == "see the :ref:`module docstring of parareal_toolkit.driver <module-docstring-parareal_toolkit.driver>`)"
    )
    # a module whose docstring no page shows keeps the plain words
    assert (
        API.link_module_docstrings("(module docstring)", "parareal_toolkit._iteration", shown) == "(module docstring)"
    )


def _public_docstrings():
    for module_name, _ in API.PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in API.public_names(module_name):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                yield f"{module_name}.{name}", obj


def test_every_public_see_the_module_docstring_links_to_a_shown_docstring():
    pointing = [(name, obj) for name, obj in _public_docstrings() if "module docstring" in (obj.__doc__ or "")]
    assert len(pointing) >= 15  # the pages that used to point nowhere
    for name, obj in pointing:
        linked = API.link_module_docstrings(obj.__doc__, obj.__module__, set(PAGES))
        assert "module docstring" not in re.sub(r":ref:`[^`]*`", "", linked), name


def _css_rules(text: str) -> dict[str, str]:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    rules: dict[str, str] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text):
        for selector in selectors.split(","):
            rules[" ".join(selector.split())] = rules.get(" ".join(selector.split()), "") + body
    return rules


def test_the_stylesheet_lets_wide_formulas_scroll_in_their_own_box():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert re.search(r'^html_static_path = \[.*"_static".*\]$', conf, re.M)
    css_files = re.search(r"^html_css_files = \[(.*)\]", conf, re.M).group(1)
    assert '"parareal.css"' in css_files
    rules = _css_rules((DOCS / "_static" / "parareal.css").read_text(encoding="utf-8"))
    for selector in ('mjx-container[display="true"]', ".math-wrapper", "div.math"):
        body = " ".join(rules.get(selector, "").split())
        assert "overflow-x: auto" in body, selector
        assert "max-width: 100%" in body, selector
