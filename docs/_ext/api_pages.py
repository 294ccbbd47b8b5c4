"""Write one API page per public module, listing exactly the names in its ``__all__``.

The pages are regenerated on every build (``builder-inited``, before autosummary reads
them), so the reference can never drift from the code's public lists: a name added to a
subpackage's ``__all__`` appears in the docs, a private helper never does. Backends that
:data:`parareal_toolkit.BACKENDS` resolves by name (``devices``, ``distributed``) are
documented when their module is present and imports.

Module docstrings are part of the reference. Each page opens with its public module's
docstring, and ends with the docstrings of the modules that define its names
("Module notes": ``parareal_toolkit.driver`` on the ``parareal_toolkit`` page, for
example), each under a label :func:`module_label` names. Docstrings that say "see the
module docstring" (or "the module docstring of ``parareal_toolkit.x``") get that phrase
turned into a link to the label (``autodoc-process-docstring``), wherever they are shown.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

# (module, one-line summary); the order is the order of the reference's table of contents
PUBLIC_MODULES = (
    ("parareal_toolkit", "the driver, the propagator contract, time grids"),
    ("parareal_toolkit.backends", "how the fine sweeps run: serial, batched, process pool, ..."),
    ("parareal_toolkit.mgrit_driver", "MGRIT (multigrid reduction in time, FAS): parareal as its two-level case"),
    ("parareal_toolkit.ode", "linear problems, exact and implicit-Euler propagators, theory"),
    ("parareal_toolkit.nn", "parareal neural networks, Proposition 1, (parareal) ResNets"),
    ("parareal_toolkit.training", "CIFAR data, training loop, checkpoints, curves"),
    ("parareal_toolkit.layerpipe", "pipeline schedules, simulator, Gantt charts, emulator"),
    ("parareal_toolkit.testing.ode", "hypothesis strategies for linear ODEs (no torch)"),
    ("parareal_toolkit.testing.nn", "hypothesis strategies for parareal networks"),
    ("parareal_toolkit.verification.configurations", "random network configurations and their fixture modules"),
    (
        "parareal_toolkit.verification.proposition1",
        "Proposition 1 measured on random configurations: what ``parareal verify`` runs",
    ),
    ("parareal_toolkit.plotting", "figures for teaching parareal convergence"),
    ("parareal_toolkit.errors", "one exception tree: refusals of input, recognised failures, and the rule for bugs"),
    ("parareal_toolkit.results", "the results-file format every benchmark writes and every page shows"),
    ("parareal_toolkit.bench", "the seed's Table 2: per-part gradient time, virtual speedup, unit-count bound"),
    ("parareal_toolkit.cli", "the ``parareal`` command (see also the CLI reference)"),
)

OUTPUT = Path("reference") / "api"
# the class of the container around each module note: references in it to names that are
# not documented (private helpers, submodule paths) are shown as literals, not as errors
NOTES_CLASS = "module-notes"


def public_names(module_name: str) -> list[str]:
    """The names a module exports (its ``__all__``), ``__version__`` left out."""
    module = importlib.import_module(module_name)
    return [name for name in module.__all__ if not name.startswith("__")]


def _backends_by_name() -> list[tuple[str, str]]:
    """(module, class) of each named backend whose module exists, outside ``backends.__all__``."""
    from parareal_toolkit import BACKENDS, backends

    found = []
    for target in BACKENDS.values():
        module_name, class_name = target.split(":")
        if class_name in backends.__all__:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # not written yet, or its optional dependency is missing
            continue
        if hasattr(module, class_name):
            found.append((module_name, class_name))
    return found


def module_label(module_name: str) -> str:
    """The reference label of a module's docstring on the API pages."""
    return f"module-docstring-{module_name}"


def _docstring(module_name: str) -> str:
    return inspect.cleandoc(importlib.import_module(module_name).__doc__ or "")


def defining_modules(module_name: str) -> list[str]:
    """The modules that define ``module_name``'s public functions and classes, in ``__all__`` order.

    The public module itself, the other public modules (their docstrings open their own
    pages) and modules without a docstring are left out.
    """
    public = {name for name, _ in PUBLIC_MODULES}
    module = importlib.import_module(module_name)
    found: list[str] = []
    for name in public_names(module_name):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        owner = getattr(obj, "__module__", None) or ""
        new = owner.startswith("parareal_toolkit.") and owner not in public and owner not in found
        if new and _docstring(owner):
            found.append(owner)
    if module_name == "parareal_toolkit.backends":  # the backends this page documents beside __all__
        found += [owner for owner, _ in _backends_by_name() if owner not in found and _docstring(owner)]
    return found


def documented_modules() -> dict[str, str]:
    """Every module whose docstring the API pages show: module -> the public module of its page."""
    pages: dict[str, str] = {}
    for module_name, _ in PUBLIC_MODULES:
        pages.setdefault(module_name, module_name)
        for owner in defining_modules(module_name):
            pages.setdefault(owner, module_name)
    return pages


_MODULE_DOCSTRING = re.compile(r"(?<![\w`<])module docstring(?:\s+of\s+``(parareal_toolkit(?:\.\w+)*)``)?")


def link_module_docstrings(text: str, module_name: str, shown: set[str] | frozenset[str]) -> str:
    """``text`` with each "module docstring" phrase a link to the docstring it means.

    "module docstring of ``parareal_toolkit.x``" means ``parareal_toolkit.x``'s, a bare
    "module docstring" ``module_name``'s. A phrase is left as it is when that module's
    docstring is not in ``shown`` (not on any page).
    """

    def link(match: re.Match) -> str:
        target = match.group(1) or module_name
        if target not in shown:
            return match.group(0)
        title = f"module docstring of {target}" if match.group(1) else "module docstring"
        return f":ref:`{title} <{module_label(target)}>`"

    return _MODULE_DOCSTRING.sub(link, text)


def _kind(obj) -> str:
    if inspect.isclass(obj):
        return "classes"
    if callable(obj):
        return "functions"
    return "constants"


def _heading(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def render(module_name: str, summary: str, pages: dict[str, str] | None = None) -> str:
    """The reST of ``module_name``'s page: its docstring, its public names, its module notes.

    ``pages`` maps each module whose docstring the pages show to the page that shows it
    (:func:`documented_modules`, the default): a module that defines names of two public
    modules has its notes on the first one's page only, and the "module docstring" links
    point there.
    """
    if pages is None:
        pages = documented_modules()
    module = importlib.import_module(module_name)
    notes = [owner for owner in defining_modules(module_name) if pages.get(owner, module_name) == module_name]
    shown = set(pages) | {module_name, *notes}
    groups: dict[str, list[str]] = {"classes": [], "functions": [], "constants": []}
    # a name the top-level package also exports, defined in a third module (MGRITResult in
    # mgrit_result, re-exported by mgrit_driver), is documented on the top-level page only: both
    # autodocs would describe its defining module's name, a duplicate (an error under -W)
    top = set(public_names("parareal_toolkit")) if module_name != "parareal_toolkit" else set()
    linked = []
    for name in public_names(module_name):
        obj = getattr(module, name)
        kind = _kind(obj)
        if name in top and kind != "constants" and getattr(obj, "__module__", module_name) != module_name:
            linked.append(f"- :{'class' if kind == 'classes' else 'func'}:`parareal_toolkit.{name}`")
        else:
            groups[kind].append(name)
    lines = [
        f".. This page is generated by docs/_ext/api_pages.py from {module_name}.__all__; do not edit.",
        "",
        f".. _{module_label(module_name)}:",
        "",
        _heading(f"``{module_name}``", "="),
        f"*{summary}*",
        "",
        f".. py:module:: {module_name}",
        "",
        link_module_docstrings(_docstring(module_name), module_name, shown),
        "",
        f".. currentmodule:: {module_name}",
        "",
    ]
    for title, names in (("Functions", groups["functions"]), ("Classes", groups["classes"])):
        if not names:
            continue
        lines += [_heading(title, "-"), ".. autosummary::", "   :toctree: generated/", ""]
        lines += [f"   {name}" for name in names]
        lines.append("")
    if linked:
        lines += [_heading("Documented on the top-level page", "-"), *linked, ""]
    if groups["constants"]:
        lines.append(_heading("Constants", "-"))
        for name in groups["constants"]:
            value = getattr(module, name)
            lines += [
                f".. py:data:: {name}",
                f"   :type: {type(value).__name__}",
                "",
                f"   ``{_short_repr(value)}``",
                "",
            ]
    if module_name == "parareal_toolkit.backends":
        extra = _backends_by_name()
        if extra:
            lines += [_heading("Backends resolved by name", "-"), ".. autosummary::", "   :toctree: generated/", ""]
            # relative to the page's current module, as autosummary requires for submodules
            prefix = module_name + "."
            lines += [f"   ~{m[len(prefix) :] if m.startswith(prefix) else m}.{c}" for m, c in extra]
            lines.append("")
    if notes:
        lines += [
            _heading("Module notes", "-"),
            "The modules that define the names above, each with its docstring: the numerical",
            "facts, derivations and design that the names' own docstrings call \"the module",
            "docstring\". References in them resolve against this page's module.",
            "",
        ]
        for owner in notes:
            text = link_module_docstrings(_docstring(owner), owner, shown)
            lines += [
                f".. _{module_label(owner)}:",
                "",
                _heading(f"``{owner}``", "~"),
                f".. container:: {NOTES_CLASS}",
                "",
                *[f"   {line}" if line.strip() else "" for line in text.splitlines()],
                "",
            ]
    return "\n".join(lines)


def _short_repr(value, limit: int = 200) -> str:
    if isinstance(value, dict):
        text = "{" + ", ".join(repr(k) + ": ..." for k in value) + "}"
    else:
        text = repr(value)
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def write_pages(app) -> None:
    out = Path(app.srcdir) / OUTPUT
    out.mkdir(parents=True, exist_ok=True)
    index = [
        ".. This page is generated by docs/_ext/api_pages.py; do not edit.",
        "",
        _heading("Python API", "="),
        "Every public name, and only those: each page lists its module's ``__all__``.",
        "Importing :mod:`parareal_toolkit` does not import torch; ``nn``, ``training`` and",
        "``layerpipe`` load torch on first use of a name.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
    ]
    pages = documented_modules()
    for module_name, summary in PUBLIC_MODULES:
        text = render(module_name, summary, pages)
        path = out / f"{module_name}.rst"
        if not path.exists() or path.read_text() != text:  # keep mtimes for incremental builds
            path.write_text(text)
        index.append(f"   {module_name}")
    index_text = "\n".join(index) + "\n"
    index_path = out / "index.rst"
    if not index_path.exists() or index_path.read_text() != index_text:
        index_path.write_text(index_text)


def _link_in_docstring(app, what, name, obj, options, lines) -> None:
    """``autodoc-process-docstring``: "see the module docstring" becomes a link to it."""
    if what == "module":
        owner = name
    else:
        owner = getattr(obj, "__module__", None) or getattr(getattr(obj, "fget", None), "__module__", None)
    if not owner:
        return
    text = "\n".join(lines)
    linked = link_module_docstrings(text, owner, _shown())
    if linked != text:
        lines[:] = linked.split("\n")


_SHOWN: set[str] = set()


def _shown() -> set[str]:
    if not _SHOWN:
        _SHOWN.update(documented_modules())
    return _SHOWN


def _resolve_in_notes(app, env, node, contnode):
    """``missing-reference``: a module with shown notes links to them; elsewhere in notes, a literal.

    ``:mod:`parareal_toolkit.x``` resolves to ``x``'s notes wherever it is written. Any other
    reference that nothing resolves, written in a note (a private module's docstring, which
    may name private helpers), is shown as its text; everywhere else it stays an error.
    """
    target = node.get("reftarget", "")
    if node.get("refdomain") == "py" and node.get("reftype") in ("mod", "obj"):
        label = env.domains.standard_domain.labels.get(module_label(target))
        if label is not None:
            from sphinx.util.nodes import make_refnode

            docname, labelid, _ = label
            return make_refnode(app.builder, node["refdoc"], docname, labelid, contnode)
    parent = node.parent
    while parent is not None:
        if NOTES_CLASS in parent.get("classes", ()):
            return contnode
        parent = parent.parent
    return None


def setup(app):
    # at config-inited, before Sphinx lists the source files and autosummary turns the
    # pages' tables into stub pages
    app.connect("config-inited", lambda app, config: write_pages(app))
    # before numpydoc (priority 500) rearranges the docstring into sections
    app.connect("autodoc-process-docstring", _link_in_docstring, priority=400)
    app.connect("missing-reference", _resolve_in_notes)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
