"""What every ``parareal`` command shares: the error type, argparse types, output files, tables.

Only the standard library is imported here, so building the parser never imports torch.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

__all__ = [
    "CliError",
    "ArgumentParser",
    "positive_int",
    "non_negative_int",
    "positive_float",
    "non_negative_float",
    "check_output_path",
    "write_json",
    "format_table",
]


class CliError(Exception):
    """A user error detected while running a command: reported in one line, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse`` parser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(cast: Callable[[str], Any], description: str, *, minimum: float, inclusive: bool) -> Callable[[str], Any]:
    """An argparse type accepting a finite ``cast(text)`` above ``minimum`` (or equal, if inclusive)."""

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not (value >= minimum if inclusive else value > minimum):
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}")
        return value

    parse.__name__ = description.replace(" ", "_")  # argparse names the type in some messages
    return parse


positive_int = _number(int, "a positive integer", minimum=1, inclusive=True)
non_negative_int = _number(int, "a non-negative integer", minimum=0, inclusive=True)
positive_float = _number(float, "a positive number", minimum=0.0, inclusive=False)
non_negative_float = _number(float, "a non-negative number", minimum=0.0, inclusive=True)


def check_output_path(option: str, path: str | None) -> None:
    """Refuse, before any work starts, an output file whose folder does not exist.

    ``None`` and ``"-"`` (standard output) pass.

    Raises
    ------
    CliError
        Naming ``option`` and the missing folder.
    """
    if path is None or path == "-":
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CliError(f"{option}: directory {parent!r} does not exist.")
    if os.path.isdir(path):
        raise CliError(f"{option}: {path!r} is a directory, not a file.")


def write_json(option: str, path: str, payload: Any, *, indent: int = 2) -> None:
    """Write ``payload`` as JSON to ``path``; an unwritable path is a :class:`CliError` naming ``option``."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=indent, default=str)
            fh.write("\n")
    except OSError as exc:
        raise CliError(f"cannot write {option} file {path!r}: {exc.strerror or exc}") from None


def format_table(rows: Sequence[Sequence[str]], *, align: str = "left") -> str:
    """Rows of strings as aligned columns, a rule under the first (header) row.

    Returns
    -------
    str
        The table, one line per row plus the rule.
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    pad = (lambda cell, w: cell.ljust(w)) if align == "left" else (lambda cell, w: cell.rjust(w))
    lines = ["  ".join(pad(cell, w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
