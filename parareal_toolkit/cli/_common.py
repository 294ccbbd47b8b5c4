"""What every ``parareal`` command shares: the error type, argparse types, output files, tables.

Only the standard library is imported here, so building the parser never imports torch.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .._io import dumps_strict
from ..errors import CliError

__all__ = [
    "CliError",
    "ArgumentParser",
    "positive_int",
    "non_negative_int",
    "positive_float",
    "non_negative_float",
    "finite_float",
    "check_output_path",
    "check_output_dir",
    "check_figure_path",
    "check_distinct_outputs",
    "write_json",
    "Progress",
    "format_table",
]


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
finite_float = _number(float, "a finite number", minimum=-math.inf, inclusive=False)


def check_output_path(option: str, path: str | None, *, stdout: bool = False) -> None:
    """Refuse, before any work starts, an output file that could not be written at the end.

    ``None`` passes, and ``"-"`` (standard output) where ``stdout`` is true. An existing
    file is overwritten, as output files normally are; a missing or non-directory parent,
    a directory, an empty name, a name the file system refuses (too long, read-only,
    no permission) are refused. A file that does not exist yet is created and removed
    again, so the file system itself answers.

    Raises
    ------
    CliError
        Naming ``option``, the path and what is wrong with it.
    """
    if path is None or (stdout and path == "-"):
        return
    problem = _output_file_problem(path)
    if problem is not None:
        raise CliError(f"cannot write {option} file {path!r}: {problem}.")


def _output_file_problem(path: str) -> str | None:
    """Why ``path`` could not be written as a file, or ``None`` if it can."""
    if path == "":
        return "the name is empty"
    if os.path.isdir(path):
        return "it is a directory"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(parent):
        return f"directory {parent!r} does not exist"
    if not os.path.isdir(parent):
        return f"{parent!r} is not a directory"
    if os.path.exists(path):
        return None if os.access(path, os.W_OK) else "permission denied"
    try:  # let the file system answer: name length, permissions, read-only mounts
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(path)
    return None


def check_output_dir(option: str, path: str) -> None:
    """Refuse, before any work starts, an output folder that is missing or cannot be written.

    Raises
    ------
    CliError
        Naming ``option``, the path and what is wrong with it.
    """
    if not os.path.exists(path):
        raise CliError(f"{option}: directory {path!r} does not exist.")
    if not os.path.isdir(path):
        raise CliError(f"{option}: {path!r} is not a directory.")
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise CliError(f"{option}: cannot write in {path!r}: {exc.strerror or exc}.") from None


def check_figure_path(option: str, path: str | None) -> None:
    """:func:`check_output_path` for a figure, whose extension must be a format matplotlib writes.

    Raises
    ------
    CliError
        Naming ``option`` and the supported extensions when the extension is missing or
        unknown (matplotlib would otherwise add ``.png`` or fail after the work is done).
    """
    if path is None:
        return
    check_output_path(option, path)
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    extension = os.path.splitext(path)[1][1:].lower()
    if extension not in formats:
        got = f"unknown extension '.{extension}'" if extension else "no extension"
        raise CliError(f"cannot write {option} file {path!r}: {got}; use one of .{', .'.join(formats)}.")


def check_distinct_outputs(**paths: str | None) -> None:
    """Refuse two output options naming the same file (``option_name=path``; ``-`` is stdout).

    Raises
    ------
    CliError
        Naming both options.
    """
    seen: dict[str, str] = {}
    for option, path in paths.items():
        if path is None or path == "-":
            continue
        key = os.path.realpath(path)
        flag = "--" + option.replace("_", "-")
        if key in seen:
            raise CliError(f"{seen[key]} and {flag} name the same file {path!r}.")
        seen[key] = flag


def write_json(option: str, path: str, payload: Any, *, indent: int = 2) -> None:
    """Write ``payload`` as strict JSON to ``path``; an unwritable path is a :class:`CliError` naming ``option``.

    NaN and infinities are not JSON: they are written as ``null`` (``NaN`` would make the file
    unreadable by strict parsers).
    """
    text = dumps_strict(payload, indent=indent)
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        raise CliError(f"cannot write {option} file {path!r}: {exc.strerror or exc}") from None


class Progress:
    """Progress of ``total`` items on stderr: a tqdm bar on a terminal, else a line now and then.

    On a terminal a bar appears with the first item done and is cleared when the work ends
    (or is interrupted). Elsewhere (a log, a pipe, a test) a line ``"{description}:
    {done}/{total} {unit} ({seconds} s)"`` is written at most every ``interval`` seconds,
    none for work shorter than that, so short runs leave stderr untouched. ``enabled=False``
    shows nothing. Use it as a context manager and call :meth:`update` after each item.
    """

    def __init__(self, total: int, description: str, *, unit: str = "it", enabled: bool = True, interval: float = 30):
        self.total, self.description, self.unit, self.interval = total, description, unit, interval
        self.done = 0
        self._bar: Any = None
        self._terminal = enabled and sys.stderr.isatty()
        self._enabled = enabled
        self._start = self._last = time.monotonic()

    def __enter__(self) -> Progress:
        return self

    def update(self, count: int = 1, *, total: int | None = None) -> None:
        """Count ``count`` more items done (and set the ``total`` if it is known only now)."""
        self.done += count
        if total is not None:
            self.total = total
        if self._terminal:
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=self.total, desc=self.description, unit=self.unit, leave=False, file=sys.stderr)
            self._bar.total = self.total
            self._bar.update(count)
        elif self._enabled and time.monotonic() - self._last >= self.interval:
            self._last = time.monotonic()
            elapsed = self._last - self._start
            line = f"{self.description}: {self.done}/{self.total} {self.unit} ({elapsed:.0f} s)"
            print(line, file=sys.stderr, flush=True)

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()


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
