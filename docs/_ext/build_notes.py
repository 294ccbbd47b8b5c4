"""Tell the reader, at the end of a build, how to view the pages (also offline)."""

from __future__ import annotations

from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)


def _note(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    index = Path(app.outdir) / "index.html"
    logger.info(
        f"\nThe pages are static: open {index} in a browser (no server needed). "
        "Formulas are typeset by MathJax from a CDN; offline they show as LaTeX source "
        "(PARAREAL_DOCS_MATHJAX=/path/to/MathJax.js builds pages that use a local MathJax; see docs/conf.py). "
        + (
            "Links to Python, numpy, scipy, torch, matplotlib and hypothesis were resolved (online build)."
            if app.config.intersphinx_mapping
            else "This build was offline: other projects' names are plain text "
            "(PARAREAL_DOCS_INTERSPHINX=1 links them when online)."
        )
    )


def setup(app):
    app.connect("build-finished", _note)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
