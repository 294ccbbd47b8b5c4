"""A ``parareal`` command that fails on purpose, for the error-boundary tests.

The tests register it in ``parareal_toolkit.cli.COMMANDS`` (in a child process or for one
test) and run it through the real dispatcher; ``--fault`` picks what ``run`` raises.
"""

import numpy as np

from parareal_toolkit.cli._options import Option

HELP = "fail on purpose (tests only)"

FAULTS = ("zero-division", "numpy-broadcast", "operator-in-library", "interrupt", "memory", "assertion", "broken-pipe")


def add_arguments(parser):
    parser.add_argument("--fault", choices=FAULTS, required=True)


# every command declares its options' domains (parareal_toolkit.cli._options)
OPTIONS = {"fault": Option("choice")}


def run(args):
    if args.fault == "zero-division":
        return 1 // (len(args.fault) - len(args.fault))
    if args.fault == "numpy-broadcast":  # a ValueError raised inside numpy: a bug, not a refusal
        return int((np.ones(2) + np.ones(3)).sum())
    if args.fault == "operator-in-library":  # a TypeError raised in the library's code, but by an operator
        from parareal_toolkit.nn.resnet import ceil_div

        return ceil_div("seven", 2)
    if args.fault == "interrupt":
        raise KeyboardInterrupt
    if args.fault == "memory":
        raise MemoryError
    if args.fault == "assertion":
        assert args.fault == "never", "an internal consistency check"
    if args.fault == "broken-pipe":
        raise BrokenPipeError(32, "Broken pipe")
    return 0
