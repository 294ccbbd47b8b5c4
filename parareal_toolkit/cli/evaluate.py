"""``parareal evaluate CHECKPOINT``: error rate and loss of a trained model on the test set."""

from __future__ import annotations

import argparse
import json

from .._names import DEVICE_NAMES
from ._common import non_negative_int, positive_int

HELP = "print the test error rate and loss of a training checkpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint.pt written by `parareal train`")
    parser.add_argument("--data-dir", default=None, help="dataset folder (default: the one used for training)")
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    parser.add_argument("--workers", type=non_negative_int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    """Print the checkpoint's test error and loss (one line, or JSON with ``--json``).

    Returns
    -------
    int
        The exit status, 0.
    """
    from ..training import evaluate_checkpoint

    result = evaluate_checkpoint(
        args.checkpoint, data_dir=args.data_dir, batch_size=args.batch_size, device=args.device, workers=args.workers
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['model']}-{result['depth']} on {result['dataset']} test set ({result['images']} images, "
            f"epoch {result['epoch']}): error {100 * result['error']:.2f}%  loss {result['loss']:.4f}"
        )
    return 0
