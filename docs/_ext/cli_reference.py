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

# One typical invocation per command, shown above its --help text (a command without one
# fails tests/test_docs.py, so a new command cannot go undocumented).
USAGE = {
    "ode": [
        "parareal ode                                   # heat1d, m = 50, N = 10: one row per iteration",
        "parareal ode --problem advection --size 64 --plot advection.png",
        "parareal ode --problem lorenz --slices 20 --tol 1e-6 --criterion estimate",
        "parareal ode --problem vanderpol --fine ivp-radau --rtol 1e-8 --plot vdp.png",
        "parareal ode --method mgrit --coarsening 4 --levels 3 --slices 16 --relax FCF --tol 1e-8",
    ],
    "speedup": [
        "parareal speedup --workers 1 2 --rtol 1e-6 --plot speedup.png --json speedup.json",
        "parareal speedup --method mgrit --fine-substeps 20 --levels 2 --workers 1 2 --json mgrit-speedup.json",
    ],
    "verify": ["parareal verify --examples 20 --seed 0 --json proposition1.json"],
    "models": ["parareal models --depth 1001 --subnetworks 3 6 12 18 24"],
    "train": [
        "parareal train --model parareal-resnet --depth 1001 --subnetworks 6 \\",
        "    --dataset cifar10 --data-dir data --download --output-dir runs/c10-n6",
    ],
    "evaluate": ["parareal evaluate runs/c10-n6/checkpoint.pt"],
    "bench": [
        "parareal bench                                 # CPU: ResNet-218, batch 8",
        "parareal bench --device cuda --depth 1001 --batch-size 128 --plot table2.png --json table2.json",
    ],
    "layerpipe": [
        "parareal layerpipe --processors 2 3 4 5 6 7 8 9 --gantt gantt.png",
        "parareal layerpipe --network resnet50 --processors 8 --scheduler periodic",
        "parareal layerpipe --network vgg16 --processors 4 8 --bandwidth 25 --link-latency 5",
    ],
    "pipeline-run": [
        "torchrun --nproc-per-node 2 -m parareal_toolkit.cli pipeline-run --schedule 1f1b --out runs/pipe"
    ],
}


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
    lines = [".. code-block:: text", ""]
    lines += ["   " + line for line in _help_text(parser).splitlines()]
    lines.append("")
    for name, sub in _subparsers(parser).items():
        title = f"parareal {name}"
        lines += [f".. _cli-{name}:", "", title, "-" * len(title), ""]
        lines += [sub.description or "", "", f"Implemented in ``{COMMANDS[name]}``. For example:", ""]
        lines += [".. code-block:: console", ""]
        lines += ["   $ " + line if not line.startswith(" ") else "     " + line for line in USAGE[name]]
        lines += ["", "Options:", "", ".. code-block:: text", ""]
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
