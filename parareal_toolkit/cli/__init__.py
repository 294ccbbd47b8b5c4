"""The ``parareal`` command: one dispatcher, one module per command.

A reader finds each command's code in ``parareal_toolkit/cli/<command>.py``: a module that
defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Those
modules import only the standard library and torch-free names at the top and the library
inside ``run``, so building the parser stays cheap and ``parareal ode`` never imports
torch. Choices come from ``parareal_toolkit._names``, the same tuples the library's
registries are built from.

Exit status: 0 on success; 2 with one line on stderr for a usage error, an invalid value
or another expected failure (:class:`CliError`; under torchrun, a process that died, stopped
or did not answer within the timeout: ``DistributedError``); 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys

from ..backends.errors import DistributedError
from ._common import ArgumentParser, CliError

__all__ = ["main", "build_parser", "COMMANDS", "CliError"]

# command -> module implementing it (named after the command, "-" written "_")
COMMANDS: dict[str, str] = {
    name: f"{__name__}.{name.replace('-', '_')}"
    for name in ("ode", "verify", "models", "train", "evaluate", "bench", "layerpipe", "pipeline-run")
}


def build_parser() -> argparse.ArgumentParser:
    """The ``parareal`` parser with every command's options (imports no torch).

    Returns
    -------
    argparse.ArgumentParser
        The parser; ``parse_args`` sets ``_module`` to the command's module name.
    """
    parser = ArgumentParser(prog="parareal", description="Parareal for ODEs and neural networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        command.set_defaults(_module=module_name)
        module.add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``parareal COMMAND ...`` with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success (and after ``--help``), 2 with one line on stderr
        for a usage error or invalid value, 130 after Ctrl-C.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a usage error (one line already printed), or --help
        return exc.code if isinstance(exc.code, int) else 2
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except (CliError, ValueError, FileNotFoundError, DistributedError) as exc:  # a lost peer under torchrun too
        print(f"parareal {args.command}: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"parareal {args.command}: interrupted", file=sys.stderr)
        return 130
    # Collect the failed run's objects now, while the interpreter is whole: a gloo process group
    # whose peer stopped, left to the interpreter's exit, can abort the process in its C++
    # teardown ("terminate called without an active exception").
    gc.collect()
    return 2
