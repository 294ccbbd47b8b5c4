"""Sphinx configuration of the parareal_toolkit documentation.

Build (warnings, including unresolved references to the project's names, are errors; every
gallery example executed)::

    PARAREAL_DOCS_QUICK=1 python -m sphinx -W --keep-going -b html docs docs/_build/html

``PARAREAL_DOCS_QUICK=1`` makes the gallery examples shrink their sizes (fewer epochs,
smaller problems) so the whole build stays within a couple of minutes on two CPU cores;
without it the examples run at their teaching sizes.

Links to other projects' documentation (intersphinx: Python, numpy, scipy, torch,
matplotlib, hypothesis) need their inventories from the internet. ``PARAREAL_DOCS_INTERSPHINX``
decides: ``1`` always fetches them, ``0`` never does, unset (the default) fetches them when
docs.python.org answers within two seconds. Offline, the other projects' names stay plain
text and are exempt from the nitpicky check (``nitpick_ignore_regex`` below); online they
are links. The project's own names are never exempt.

Formulas are typeset by MathJax, loaded by the reader's browser from a CDN: the pages read
offline everywhere except the formulas, which stay as LaTeX source until the browser is
online. For offline reading, ``PARAREAL_DOCS_MATHJAX=/path/to/MathJax.js`` builds pages that
load a local MathJax instead: a MathJax 2 ``MathJax.js`` (Debian's ``libjs-mathjax`` puts
one at ``/usr/share/javascript/mathjax/MathJax.js``), a MathJax 3 ``tex-chtml.js`` or the
MathJax 4 that Sphinx 9 loads from the CDN, after ``npm install mathjax@4`` in a folder
``D``: ``D/node_modules/mathjax/tex-mml-chtml.js`` (its fonts are found beside it).
Wide display formulas scroll sideways in their own box (``_static/parareal.css``).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

# One BLAS/OpenMP thread: the examples are small, and on a shared two-core machine torch's
# thread pool makes tiny float64 convolutions several times slower. Set before numpy and
# torch are first imported (both read it once, at start-up).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the checkout's package, also without an install

import parareal_toolkit

# The examples read this to pick their sizes; Sphinx runs them in this process.
QUICK = os.environ.get("PARAREAL_DOCS_QUICK", "0") not in ("", "0")
# Figures are rendered off-screen whatever the environment says.
os.environ.setdefault("MPLBACKEND", "Agg")

project = "parareal_toolkit"
author = "the parareal_toolkit authors"
copyright = "the parareal_toolkit authors, BSD-3-Clause"
release = version = parareal_toolkit.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "api_pages",
    "cli_reference",
    "results_tables",
    "build_notes",
    "executed_code",
    "computed_values",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    "**.ipynb_checkpoints",
    "auto_examples/**/*.ipynb",
    "auto_examples/**/*.py",
    "auto_examples/**/*.zip",
    "auto_examples/**/*.codeobj.json",
]
templates_path = ["_templates"]

# --- MyST: Markdown pages with LaTeX math -----------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# --- formulas: MathJax from its CDN, or a local copy for offline reading -----------------
_LOCAL_MATHJAX = os.environ.get("PARAREAL_DOCS_MATHJAX", "")
if _LOCAL_MATHJAX:
    _mathjax_file = Path(_LOCAL_MATHJAX).resolve()
    if not _mathjax_file.is_file():
        raise FileNotFoundError(f"PARAREAL_DOCS_MATHJAX names no file: {_LOCAL_MATHJAX!r}")
    if _mathjax_file.name == "MathJax.js":  # MathJax 2
        mathjax_path = f"{_mathjax_file.as_uri()}?config=TeX-AMS-MML_HTMLorMML"
        mathjax2_config = {  # Sphinx's documented MathJax 2 settings: only its math elements
            "tex2jax": {
                "inlineMath": [["\\(", "\\)"]],
                "displayMath": [["\\[", "\\]"]],
                "processEscapes": True,
                "ignoreClass": "document",
                "processClass": "math|output_area",
            }
        }
    else:  # MathJax 3 or 4
        mathjax_path = _mathjax_file.as_uri()
        # MathJax 4 fetches its fonts from a CDN unless told where they are: beside an npm
        # install (`npm install mathjax@4`), in node_modules/@mathjax/mathjax-newcm-font
        _fonts = _mathjax_file.parent.parent / "@mathjax"
        if (_fonts / "mathjax-newcm-font").is_dir():
            mathjax4_config = {"loader": {"paths": {"fonts": _fonts.as_uri()}}}

# --- API reference -------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
add_module_names = False

# --- links to other projects ------------------------------------------------------------


def _online(host: str = "docs.python.org", timeout: float = 2.0) -> bool:
    choice = os.environ.get("PARAREAL_DOCS_INTERSPHINX", "")
    if choice in ("0", "1"):
        return choice == "1"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


ONLINE = _online()
intersphinx_mapping = (
    {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "torch": ("https://pytorch.org/docs/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
        "hypothesis": ("https://hypothesis.readthedocs.io/en/latest", None),
    }
    if ONLINE
    else {}
)
intersphinx_timeout = 10

# Every cross-reference to the project's own names must resolve (the test suite builds with
# -W, so one unresolved name fails it). Other projects' names are exempt only offline, when
# their inventories cannot be fetched; online, intersphinx links them and an unknown one
# is an error like any other.
nitpicky = True
_OTHER_PROJECTS = r"(torch|torchvision|numpy|scipy|matplotlib|hypothesis|random|argparse|concurrent)(\..*)?"
nitpick_ignore_regex = [] if ONLINE else [(r"py:.*", _OTHER_PROJECTS)]

# --- gallery ---------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",  # every plot_*.py is executed
    # ... on every build, also when unchanged: quick and full builds share the output folder
    "run_stale_examples": True,
    "subsection_order": [
        "../examples/parareal",
        "../examples/nonlinear",
        "../examples/networks",
        "../examples/pipelines",
    ],
    "within_subsection_order": "gallery_order.TeachingOrder",
    "download_all_examples": False,
    "remove_config_comments": True,
    "write_computation_times": False,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "capture_repr": (),  # printed output only, not the repr of a cell's last expression
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "min_reported_time": 0,  # every example page states its running time
    # "Examples using this" on the API pages (the autosummary templates include them)
    "backreferences_dir": "reference/api/generated/backreferences",
    "doc_module": ("parareal_toolkit",),
    "inspect_global_variables": False,
}

# --- HTML ------------------------------------------------------------------------
html_theme = "furo"
html_title = f"parareal_toolkit {release}"
html_static_path = ["_static"]
html_css_files = ["parareal.css"]  # wide formulas scroll in their own box
html_theme_options = {"navigation_with_keys": True}
html_show_sourcelink = False


def _public_bases(app, name, obj, options, bases):
    """Show a class's first public ancestor in place of a private base (an implementation detail)."""
    for i, base in enumerate(bases):
        while isinstance(base, type) and base.__name__.startswith("_") and base.__bases__:
            base = base.__bases__[0]
        bases[i] = base


def setup(app):
    app.connect("autodoc-process-bases", _public_bases)
