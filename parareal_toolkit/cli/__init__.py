"""The ``parareal`` command: one dispatcher, one module per command.

A reader finds each command's code in ``parareal_toolkit/cli/<command>.py``: a module that
defines ``HELP`` (one line), ``add_arguments(parser)``, ``OPTIONS`` (every option's declared
domain and applicability, ``parareal_toolkit.cli._options``, checked by :func:`main`
before ``run``) and ``run(args) -> int``. Those
modules import only the standard library and torch-free names at the top and the library
inside ``run``, so building the parser stays cheap and ``parareal ode`` never imports
torch. Choices come from ``parareal_toolkit._names``, the same tuples the library's
registries are built from.

Exit status: 0 on success; 1 when a command's check fails (``verify``) or on a bug; 2 with
one line ``parareal COMMAND: error: ...`` on stderr for a refused input or another expected
failure; 130 after Ctrl-C (one line).

**The error boundary** (:func:`main`, the only place that turns exceptions into exit
statuses) classifies by type alone, by the rule stated in :mod:`parareal_toolkit.errors`.
Expected, one line, exit 2:

* a usage error found by the parser (argparse's own one-line message);
* a :class:`~parareal_toolkit.errors.PararealError`: a refused input
  (:class:`~parareal_toolkit.errors.InputError`, :class:`~parareal_toolkit.errors.InputTypeError`,
  :class:`CliError`) or a failure the toolkit recognised (``CheckpointError``,
  ``DatasetNotFoundError``, ``DistributedError``, ``NewtonConvergenceError``, ...);
* an ``OSError`` (a file that cannot be read or written, a name too long, no permission,
  no network);
* running out of memory: ``MemoryError`` (also the up-front estimates that refuse a request
  that cannot fit, with the estimate and a way out in the message) and torch's allocation
  failures.

* a missing optional dependency: a command (or an option) that needs PyTorch on an install
  without the ``nn`` extra ends with ``... needs PyTorch (No module named 'torch'): pip install
  "parareal-toolkit[nn]"``. ``parareal ode``, ``speedup`` and ``models`` (and ``layerpipe
  --costs``) never import torch.

Everything else is a bug and keeps its full traceback (exit 1): a plain ``ValueError`` or
``TypeError`` comes from numpy, torch or Python itself (a broadcast error, an operator on the
wrong type), which means the toolkit let a bad value through, and hiding that behind one
line would hide the bug. Ctrl-C (``KeyboardInterrupt``) ends any command with the line
``parareal COMMAND: interrupted`` and exit status 130; a closed output pipe
(``parareal models | head -1``) ends it quietly with 141.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from importlib import metadata

from ..errors import CliError, PararealError
from ._common import ArgumentParser
from ._options import check_declared, command_parser, typed_options, validate

__all__ = ["main", "build_parser", "expected_failure", "version", "COMMANDS", "CliError", "NN_EXTRA"]

# command -> module implementing it (named after the command, "-" written "_")
COMMANDS: dict[str, str] = {
    name: f"{__name__}.{name.replace('-', '_')}"
    for name in ("ode", "speedup", "verify", "models", "train", "evaluate", "bench", "layerpipe", "pipeline-run")
}

# the packages of the ``nn`` extra (pyproject.toml) and the line that asks for them
_NN_PACKAGES = ("torch", "torchvision")
NN_EXTRA = 'pip install "parareal-toolkit[nn]" (from a checkout: pip install ".[nn]")'

_EPILOG = (
    "Exit status: 0 success; 1 a failed check (verify) or a bug (with its traceback); 2 a refused "
    "option or another expected failure (one line on stderr); 130 Ctrl-C."
)


def version() -> str:
    """The installed distribution's version, or the package's ``__version__`` when run from a checkout.

    Returns
    -------
    str
        A version string such as ``"0.1.0"``.

    Examples
    --------
    >>> from parareal_toolkit import __version__
    >>> from parareal_toolkit.cli import version
    >>> version() == __version__
    True
    """
    try:
        return metadata.version("parareal-toolkit")
    except metadata.PackageNotFoundError:  # not installed: PYTHONPATH on a checkout
        import parareal_toolkit

        return parareal_toolkit.__version__


def build_parser() -> argparse.ArgumentParser:
    """The ``parareal`` parser with every command's options (imports no torch).

    Returns
    -------
    argparse.ArgumentParser
        The parser; ``parse_args`` sets ``_module`` to the command's module name.
    """
    parser = ArgumentParser(prog="parareal", description="Parareal for ODEs and neural networks.", epilog=_EPILOG)
    parser.add_argument("--version", action="version", version=f"parareal {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        command.set_defaults(_module=module_name)
        module.add_arguments(command)
        check_declared(name, command, module.OPTIONS)  # a new option cannot skip its domain
    return parser


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _os_error_message(exc: OSError) -> str:
    reason = getattr(exc, "reason", None)  # urllib's URLError: no network, refused, timeout
    if reason is not None:
        return _one_line(f"network error: {reason}")
    if exc.strerror and exc.filename is not None:
        target = repr(exc.filename) + ("" if exc.filename2 is None else f" -> {exc.filename2!r}")
        return _one_line(f"{exc.strerror}: {target}")
    return _one_line(str(exc)) or type(exc).__name__


def expected_failure(exc: BaseException) -> str | None:
    """The one-line message for an expected failure, or ``None`` for a bug (see the module docstring).

    Returns
    -------
    str or None
        The message printed after ``parareal COMMAND: error:``; ``None`` when ``exc`` must
        keep its traceback.
    """
    if isinstance(exc, PararealError):
        return _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, MemoryError):
        return _one_line(str(exc)) or "out of memory; try a smaller size."
    if isinstance(exc, RuntimeError) and (
        type(exc).__name__ == "OutOfMemoryError" or "can't allocate memory" in str(exc)
    ):  # torch on CUDA, torch's CPU allocator
        return "out of memory: " + _one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if isinstance(exc, OSError):
        return _os_error_message(exc)
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").partition(".")[0] in _NN_PACKAGES:
        return _one_line(f"needs PyTorch ({exc}): {NN_EXTRA}")
    return None


def main(argv: list[str] | None = None) -> int:
    """Run ``parareal COMMAND ...`` with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success (and after ``--help``), the command's own status
        (``verify``: 1 when a case fails), 2 with one line on stderr for a usage error, a
        refused value or another expected failure, 130 after Ctrl-C. A bug is raised with its
        traceback (status 1 when run as a program).
    """
    prefix = "parareal"
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # a usage error (one line already printed), or --help
            return exc.code if isinstance(exc.code, int) else 2
        prefix = f"parareal {args.command}"
        module = importlib.import_module(args._module)
        command = command_parser(parser, args.command)
        typed = typed_options(parser, args.command, sys.argv[1:] if argv is None else argv)
        validate(args, module.OPTIONS, typed, command._actions)
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:
        message = expected_failure(exc)
        if message is None:
            raise
        print(f"{prefix}: error: {message}", file=sys.stderr)
        # Collect the failed run's objects now, while the interpreter is whole: a gloo process
        # group whose peer stopped, left to the interpreter's exit, can abort the process in its
        # C++ teardown ("terminate called without an active exception").
        gc.collect()
        return 2
