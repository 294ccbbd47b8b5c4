"""``.. parareal-cli::``: the command-line reference, rendered from the real parser.

The directive builds :func:`parareal_toolkit.cli.build_parser` (cheap: subcommand modules
import only the standard library at the top) and writes one section per subcommand with
its one-line help and its ``--help`` text, so the reference always matches the code.
"""

from __future__ import annotations

import argparse
import os

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

HELP_WIDTH = "88"


def _help_text(parser: argparse.ArgumentParser) -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps to the terminal width
    try:
        return parser.format_help()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render_cli() -> list[str]:
    """reStructuredText lines: the top-level help, then one section per subcommand."""
    from parareal_toolkit.cli import COMMANDS, build_parser

    parser = build_parser()
    lines = ["::", ""]
    lines += ["   " + line for line in _help_text(parser).splitlines()]
    lines.append("")
    for name, sub in _subparsers(parser).items():
        title = f"parareal {name}"
        lines += [f".. _cli-{name}:", "", title, "-" * len(title), ""]
        lines += [sub.description or "", "", f"Implemented in ``{COMMANDS[name]}``.", "", "::", ""]
        lines += ["   " + line for line in _help_text(sub).splitlines()]
        lines.append("")
    return lines


class PararealCli(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(render_cli(), source="<parareal-cli>"), container)
        return container.children


def setup(app):
    app.add_directive("parareal-cli", PararealCli)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
