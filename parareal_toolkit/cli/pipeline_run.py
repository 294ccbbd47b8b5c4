"""``parareal pipeline-run``: one rank of a synchronous pipeline schedule, run for real.

Launched once per stage by torchrun (``torchrun --nproc-per-node 2 -m parareal_toolkit.cli
pipeline-run --schedule NAME --out DIR``); each rank writes its stage's gradients to
``DIR/grads_rank{r}.pt`` (:func:`parareal_toolkit.layerpipe.runtime.run`).
"""

from __future__ import annotations

import os

from .._names import RUNTIME_SCHEDULES
from ..backends.errors import DEFAULT_TIMEOUT_S
from ._common import CliError, positive_float, positive_int

HELP = "one rank of a synchronous pipeline schedule on torch.distributed.pipelining (launch with torchrun)"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--schedule",
        default="gpipe",
        choices=RUNTIME_SCHEDULES,
        help="torch's GPipe or 1F1B, or our ZB-H1 / LayerPipe-flush order as an action list (default gpipe)",
    )
    parser.add_argument(
        "--microbatches", type=positive_int, default=4, metavar="M", help="micro-batches of the step (default 4)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="existing folder for grads_rank{r}.pt")
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help="a rank that dies, stops or waits longer than this for its peer ends with an error (default %(default)g)",
    )


def run(args) -> int:
    if not os.path.isdir(args.out):
        raise CliError(f"--out: directory {args.out!r} does not exist.")
    from ..layerpipe.runtime import run as run_rank

    run_rank(args.schedule, args.microbatches, args.out, timeout=args.timeout)
    return 0
