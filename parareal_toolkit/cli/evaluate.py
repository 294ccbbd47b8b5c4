"""``parareal evaluate CHECKPOINT``: error rate and loss of a trained model on the test set."""

from __future__ import annotations

import argparse
import json
import math
import sys

from .._names import DEVICE_NAMES
from ._common import non_negative_int, positive_int
from ._options import Option, max_threads, number, other

HELP = "print the test error rate and loss of a training checkpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint.pt written by `parareal train`")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="dataset folder (default: the one used for training; a relative one stored in the checkpoint is read "
        "from the checkpoint's folder); an image folder's test/ classes and image side must match the checkpoint's",
    )
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        help="DataLoader worker processes (default 2, at most the CPUs)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object (a non-finite loss is null)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


# every option's domain and where it applies (checked by parareal_toolkit.cli.main before run)
OPTIONS: dict[str, Option] = {
    "checkpoint": other("path"),
    "data_dir": other("path"),
    "batch_size": number(1, integer=True),
    "device": other("choice"),
    "workers": number(0, max_threads, integer=True, why="processes beyond a few per core only wait for a core"),
    "json": other("flag"),
    "quiet": other("flag"),
}


def run(args: argparse.Namespace) -> int:
    """Print the checkpoint's test error and loss (one line, or JSON with ``--json``).

    A non-finite loss (a diverged model) is printed as it is (``nan``; ``null`` in JSON, with
    ``"finite": false``) and the exit status is 1, with one line on stderr saying so.

    Returns
    -------
    int
        The exit status: 0, or 1 when the loss is not finite.
    """
    from ..training import evaluate_checkpoint
    from ..training.loaders import default_workers

    result = evaluate_checkpoint(
        args.checkpoint,
        data_dir=args.data_dir,
        batch_size=args.batch_size,
        device=args.device,
        workers=default_workers(2) if args.workers is None else args.workers,
        progress=not (args.quiet or args.json),
    )
    if args.json:
        strict = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in result.items()}
        print(json.dumps(strict, allow_nan=False))
    else:
        print(
            f"{result['model']}-{result['depth']} on {result['dataset']} test set ({result['images']} images, "
            f"epoch {result['epoch']}): error {100 * result['error']:.2f}%  loss {result['loss']:.4f}"
        )
    if not result["finite"]:
        print(
            f"parareal evaluate: the test loss of {args.checkpoint} is {result['loss']}: the model's outputs "
            "are not finite (a diverged run?)",
            file=sys.stderr,
        )
        return 1
    return 0
