"""Declared domains of the ``parareal`` commands' options, and the validation generated from them.

Every command module holds ``OPTIONS``: one :class:`Option` per destination of its parser
(``argparse``'s ``dest``), saying what the value may be and where the option applies. The
dispatcher (:func:`parareal_toolkit.cli.main`) parses the command line, works out which
options the user actually typed (:func:`typed_options`) and calls :func:`validate` before
the command's ``run``: so no command can skip it, and :func:`check_declared` (called by
``build_parser``) refuses, as a bug, a parser option that has no declaration.

A value's domain (:class:`Range`) is checked on the parsed value (every element of a list):
finite unless declared otherwise, inside ``[low, high]`` with either end open, with the
meaning in the message (``speedup --rtol`` must be below 1 to mean "equal accuracy"). An
option typed where it does not apply (:class:`Needs` false) is refused with one line
``--OPTION applies only to WHAT IT NEEDS; got ...``. Only the standard library is imported.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import CliError

__all__ = [
    "Range",
    "Needs",
    "Option",
    "THREADS_FACTOR",
    "max_threads",
    "typed_options",
    "validate",
    "check_declared",
    "command_parser",
    "flag_of",
]

# ``--threads`` above this many per core only adds spin-waiting threads: a documented cap
THREADS_FACTOR = 4


def max_threads() -> int:
    """The most torch threads a ``--threads`` option accepts: :data:`THREADS_FACTOR` per core.

    Returns
    -------
    int
        ``THREADS_FACTOR * os.cpu_count()`` (``os.cpu_count()`` read as 1 when unknown).
    """
    return THREADS_FACTOR * (os.cpu_count() or 1)


@dataclass(frozen=True)
class Range:
    """A numeric domain: ``low <= value <= high`` (``<`` at an open end), finite unless ``finite=False``.

    With ``finite=False`` :func:`validate` leaves NaN and infinities to the command's own
    check (whose message a test asserts); :meth:`contains` is false for NaN either way.

    ``high`` may be a callable (read when checked, e.g. :func:`max_threads`). ``why`` states
    the meaning behind a bound and is added to the message.
    """

    low: float = -math.inf
    high: float | Callable[[], float] = math.inf
    low_open: bool = False
    high_open: bool = False
    finite: bool = True
    integer: bool = False
    why: str = ""

    def upper(self) -> float:
        """The upper bound, read now.

        Returns
        -------
        float
            ``high``, or ``high()`` when it is a callable.
        """
        return float(self.high()) if callable(self.high) else float(self.high)

    def describe(self) -> str:
        """The domain in words, e.g. ``a finite number in (0, 1)``.

        Returns
        -------
        str
            The description used in refusals.
        """
        kind = "an integer" if self.integer else ("a finite number" if self.finite else "a number")
        low, high = self.low, self.upper()
        if low == -math.inf and high == math.inf:
            return kind
        if high == math.inf:
            return f"{kind} {'>' if self.low_open else '>='} {low:g}"
        if low == -math.inf:
            return f"{kind} {'<' if self.high_open else '<='} {high:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"{kind} in {left}{low:g}, {high:g}{right}"

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the domain.

        Returns
        -------
        bool
            True when finite (if required), integral (if required) and within the bounds.
        """
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if math.isnan(value) or (self.finite and not math.isfinite(value)):
            return False
        if self.integer and not float(value).is_integer():
            return False
        high = self.upper()
        above = value > self.low if self.low_open else value >= self.low
        below = value < high if self.high_open else value <= high
        return above and below


@dataclass(frozen=True)
class Needs:
    """Where an option applies: ``holds(args)`` is true; ``what`` names it, ``got(args)`` says what was given."""

    what: str
    holds: Callable[[argparse.Namespace], bool]
    got: Callable[[argparse.Namespace], str] = lambda args: ""


@dataclass(frozen=True)
class Option:
    """The declaration of one option: its domain (``None`` for a choice, a switch or a text), where it applies.

    ``kind`` tells the fuzzer what to draw: ``"number"``, ``"choice"``, ``"flag"``, ``"path"``
    (an input file or folder), ``"output"`` (a file written), ``"text"``. ``cost`` marks an
    option whose large valid values make the run long (the fuzzer draws small ones).
    ``checked_by`` names the later check that refuses the option where it does not apply when
    that check (with its own message, asserted by the catalogue) is kept instead of a
    :class:`Needs`.
    """

    kind: str
    range: Range | None = None
    needs: tuple[Needs, ...] = ()
    sum_finite: bool = False
    cost: bool = False
    checked_by: str = ""


def number(
    low: float = -math.inf,
    high: float | Callable[[], float] = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    finite: bool = True,
    why: str = "",
    needs: Sequence[Needs] = (),
    cost: bool = False,
    sum_finite: bool = False,
    checked_by: str = "",
) -> Option:
    """A numeric option's declaration.

    Returns
    -------
    Option
        ``kind="number"`` with the :class:`Range` given.
    """
    domain = Range(low, high, low_open, high_open, finite, integer, why)
    return Option("number", domain, tuple(needs), sum_finite, cost, checked_by)


def other(kind: str, *, needs: Sequence[Needs] = (), checked_by: str = "") -> Option:
    """The declaration of a choice, switch, path or text option.

    Returns
    -------
    Option
        With no numeric domain.
    """
    return Option(kind, None, tuple(needs), checked_by=checked_by)


def when(name: str, *values: Any, what: str | None = None) -> Needs:
    """``--NAME`` is one of ``values`` (a ``None`` value compares as given).

    Returns
    -------
    Needs
        Naming ``--NAME VALUE`` (or ``what``).
    """
    flag = "--" + name.replace("_", "-")
    text = what or " or ".join(f"{flag} {v}" for v in values)
    return Needs(text, lambda args: getattr(args, name) in values, lambda args: f"{flag} {getattr(args, name)}")


def given(name: str) -> Needs:
    """``--NAME`` is given (not ``None``).

    Returns
    -------
    Needs
        Naming ``--NAME``.
    """
    flag = "--" + name.replace("_", "-")
    return Needs(f"a run with {flag}", lambda args: getattr(args, name) is not None, lambda args: f"no {flag}")


def flag_of(action: argparse.Action) -> str:
    """The longest option string of ``action`` (its ``dest`` for a positional).

    Returns
    -------
    str
        E.g. ``--fine-substeps``.
    """
    return max(action.option_strings, key=len) if action.option_strings else action.dest


def _declared_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def check_declared(command: str, parser: argparse.ArgumentParser, options: Mapping[str, Option]) -> None:
    """Refuse, as a bug, an option of ``parser`` that ``options`` does not declare (or a declaration without option).

    Raises
    ------
    RuntimeError
        Naming the command and the undeclared destinations.
    """
    dests = {a.dest for a in _declared_actions(parser)}
    missing, extra = sorted(dests - set(options)), sorted(set(options) - dests)
    if missing or extra:
        raise RuntimeError(
            f"parareal {command}: options without a declared domain {missing}, declarations of no option {extra}"
        )


def command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The sub-parser of ``command`` in the ``parareal`` parser.

    Returns
    -------
    argparse.ArgumentParser
        The parser holding the command's options.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    raise KeyError(command)


class _Unset:
    """The default of every option while :func:`typed_options` parses again."""

    def __repr__(self) -> str:
        return "<unset>"


def typed_options(parser: argparse.ArgumentParser, command: str, argv: Sequence[str]) -> set[str]:
    """The destinations of the ``command`` options the user typed in ``argv`` (whatever their value).

    The command's parser is run again with every default replaced by a sentinel; an option
    that does not hold the sentinel afterwards was typed. ``append`` options (whose default
    must be a list or ``None``) count as typed when they are not ``None``.

    Returns
    -------
    set of str
        The ``dest`` of every option typed.
    """
    sub = command_parser(parser, command)
    unset = _Unset()
    saved = {}
    appends = set()
    for action in _declared_actions(sub):
        if isinstance(action, (argparse._AppendAction, argparse._AppendConstAction)):
            appends.add(action.dest)
            continue
        saved[action] = action.default
        action.default = unset
    try:
        again = parser.parse_args(list(argv))
    finally:
        for action, default in saved.items():
            action.default = default
    typed = {dest for dest, value in vars(again).items() if value is not unset and dest != "command"}
    typed -= {"_module"}
    return {d for d in typed if d not in appends} | {d for d in appends if getattr(again, d, None) is not None}


def _values(value: Any) -> Iterable[Any]:
    return value if isinstance(value, (list, tuple)) else (value,)


def validate(
    args: argparse.Namespace, options: Mapping[str, Option], typed: set[str], actions: Iterable[argparse.Action]
) -> None:
    """Refuse, with one line, a value outside its declared domain or a typed option that does not apply.

    Domains are checked on every option whose value is not ``None`` (a default too: a wrong
    default is refused, not used); applicability on the options typed.

    Raises
    ------
    CliError
        ``--OPTION must be DOMAIN (WHY); got VALUE.``, ``--OPTION: the sum of the values must
        be finite; got ...`` or ``--OPTION applies only to WHAT; got ...``.
    """
    by_dest = {a.dest: a for a in actions}
    flags = {dest: flag_of(a) for dest, a in by_dest.items()}
    for dest, option in options.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        flag = flags.get(dest, "--" + dest.replace("_", "-"))
        action = by_dest.get(dest)
        if isinstance(action, argparse._AppendAction):
            action = None  # a list of single values, one per use
        if action is not None and action.nargs in (None, "?") and isinstance(value, list):
            # argparse turns `--option=--` into an empty list instead of refusing it
            raise CliError(f"{flag} expects one value; got {' '.join(map(str, value)) or 'none'}.")
        if action is not None and action.nargs == "+" and isinstance(value, list) and not value:
            raise CliError(f"{flag} expects at least one value; got none.")
        if option.range is not None:
            for v in _values(value):
                if not option.range.finite and isinstance(v, float) and not math.isfinite(v):
                    continue  # finite=False: NaN and infinities are left to the command's own check
                if not option.range.contains(v):
                    why = f" ({option.range.why})" if option.range.why else ""
                    raise CliError(f"{flag} must be {option.range.describe()}{why}; got {v!r}.")
        numbers = [float(v) for v in _values(value) if isinstance(v, (int, float))]
        if option.sum_finite and all(map(math.isfinite, numbers)) and not math.isfinite(sum(numbers)):
            raise CliError(f"{flag}: the values must have a finite sum; got a sum beyond the largest float.")
    for dest, option in options.items():
        if dest not in typed:
            continue
        flag = flags.get(dest, "--" + dest.replace("_", "-"))
        for need in option.needs:
            if not need.holds(args):
                got = need.got(args)
                raise CliError(f"{flag} applies only to {need.what}" + (f"; got {got}." if got else "."))
