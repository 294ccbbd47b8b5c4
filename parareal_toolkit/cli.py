"""The ``parareal`` command.

Each subcommand lives beside the code it drives, in a module that defines ``HELP`` (one
line), ``add_arguments(parser)`` and ``run(args) -> int``. Those modules import only the
standard library at the top and their heavy dependencies inside ``run``, so building the
parser stays cheap and ``parareal ode`` never imports torch. Usage errors and invalid
values exit with status 2 and a single line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "COMMANDS", "CliError"]

# subcommand -> module implementing it
COMMANDS: dict[str, str] = {
    "ode": "parareal_toolkit.ode.cli",
    "train": "parareal_toolkit.training.train_cli",
    "evaluate": "parareal_toolkit.training.evaluate_cli",
    "models": "parareal_toolkit.training.models_cli",
    "verify": "parareal_toolkit.nn.cli",
    "layerpipe": "parareal_toolkit.layerpipe.cli",
    "bench": "parareal_toolkit.timing_cli",
}


class CliError(Exception):
    """A user error detected while running a subcommand: reported in one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="parareal", description="Parareal for ODEs and neural networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        command.set_defaults(_module=module_name)
        module.add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``parareal COMMAND ...`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Exit status 2 with one line on stderr for a usage error or invalid value, 130 after Ctrl-C.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except (CliError, ValueError, FileNotFoundError) as exc:
        print(f"parareal {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"parareal {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
