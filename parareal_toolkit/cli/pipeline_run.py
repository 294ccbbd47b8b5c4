"""``parareal pipeline-run``: one rank of a synchronous pipeline schedule, run for real.

Launched once per stage by torchrun (``torchrun --nproc-per-node 2 -m parareal_toolkit.cli
pipeline-run --schedule NAME --out DIR``); each rank writes its stage's gradients to
``DIR/grads_rank{r}.pt`` (:func:`parareal_toolkit.layerpipe.runtime.run`).
"""

from __future__ import annotations

import os
import sys

from .._names import RUNTIME_SCHEDULES
from ..backends.errors import DEFAULT_TIMEOUT_S
from ._common import check_output_dir, positive_float, positive_int
from ._options import Option, number, other

HELP = "one rank of a synchronous pipeline schedule on torch.distributed.pipelining (launch with torchrun)"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--schedule",
        default="gpipe",
        choices=RUNTIME_SCHEDULES,
        help="torch's GPipe or 1F1B, or our ZB-H1 / LayerPipe-flush order as an action list (default gpipe)",
    )
    parser.add_argument(
        "--microbatches",
        type=positive_int,
        default=4,
        metavar="M",
        help="micro-batches of the step: 1, 2, 4 or 8 (the example batch holds 8 samples; default 4)",
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="existing folder for grads_rank{r}.pt (overwritten if they exist)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help="a rank that dies, stops or waits longer than this for its peer ends with an error (default %(default)g)",
    )


# every option's domain and where it applies (checked by parareal_toolkit.cli.main before run)
OPTIONS: dict[str, Option] = {
    "schedule": other("choice"),
    "microbatches": number(1, integer=True, checked_by="parareal_toolkit.layerpipe.runtime.run (1, 2, 4 or 8)"),
    "out": other("path"),
    "timeout": number(0, low_open=True),
}


def run(args) -> int:
    """Run this rank's stage, write ``--out/grads_rank{r}.pt`` and print its path; refused at once outside torchrun.

    Returns
    -------
    int
        The exit status, 0.
    """
    check_output_dir("--out", args.out)
    from ..layerpipe.runtime import run as run_rank

    run_rank(args.schedule, args.microbatches, args.out, timeout=args.timeout)
    rank = int(os.environ["RANK"])  # checked by run_rank before it joined the group
    path = os.path.join(args.out, f"grads_rank{rank}.pt")
    line = f"rank {rank}: wrote stage {rank}'s gradients and losses ({args.schedule}, {args.microbatches} micro-batches) to {path}\n"
    # the line alone in the emptied buffer, then flushed: one write call per line, and a line
    # written in one call (shorter than a pipe's atomic size) is never cut by another rank's
    sys.stdout.flush()
    sys.stdout.write(line)
    sys.stdout.flush()
    return 0
