"""``parareal train``: train a CIFAR ResNet or parareal ResNet (seed recipe by default).

Under ``torchrun --nproc-per-node P`` the same command trains data-parallel.
"""

from __future__ import annotations

import argparse
import os
import sys

from .._names import AMP_NAMES, DATASET_NAMES, DEVICE_NAMES, MODEL_NAMES, NORM_NAMES
from ..backends.errors import DEFAULT_TIMEOUT_S
from ._common import positive_float

HELP = "train ResNet / Parareal ResNet-N on CIFAR-10/100 (seed recipe by default; torchrun for data-parallel)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=MODEL_NAMES, default="resnet")
    model.add_argument("--depth", type=int, default=1001, help="9n+2 (default 1001: 333 bottleneck units)")
    model.add_argument("--subnetworks", "-N", type=int, default=3, help="N for parareal-resnet (default 3)")
    model.add_argument("--coarse-units", type=int, default=None, help="units per coarse network (default ceil(12/N))")
    model.add_argument("--norm", choices=NORM_NAMES, default="batch", help="BatchNorm or none")
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        choices=DATASET_NAMES,
        default="cifar10",
        help="fake: torchvision FakeData; patterns: learnable synthetic images",
    )
    data.add_argument("--data-dir", default="data", help="folder holding cifar-10-batches-py / cifar-100-python")
    data.add_argument("--download", action="store_true", help="download CIFAR into --data-dir if missing")
    data.add_argument("--no-augment", dest="augment", action="store_false", help="no pad/crop/flip")
    data.add_argument("--train-size", type=int, default=None, help="images in synthetic training sets (1024)")
    data.add_argument("--test-size", type=int, default=None, help="images in synthetic test sets (256)")
    data.add_argument("--workers", type=int, default=4, help="DataLoader worker processes (default 4)")
    opt = parser.add_argument_group("optimisation (defaults: the seed recipe)")
    opt.add_argument("--epochs", type=int, default=200)
    opt.add_argument("--batch-size", type=int, default=128, help="global batch size (split across processes)")
    opt.add_argument("--lr", type=float, default=0.1)
    opt.add_argument("--momentum", type=float, default=0.9)
    opt.add_argument("--weight-decay", type=float, default=5e-4)
    opt.add_argument("--milestones", type=int, nargs="*", default=[80, 120], help="epochs where lr *= gamma")
    opt.add_argument("--gamma", type=float, default=0.1)
    run = parser.add_argument_group("run")
    run.add_argument("--output-dir", "-o", default="runs/default", help="checkpoint, metrics and final.json go here")
    run.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint.pt")
    run.add_argument("--overwrite", action="store_true", help="start afresh even if OUTPUT_DIR has a checkpoint")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--deterministic", action="store_true", help="deterministic algorithms (bit-for-bit resume)")
    run.add_argument("--device", choices=DEVICE_NAMES, default="auto")
    run.add_argument("--amp", choices=AMP_NAMES, default="none", help="bf16 autocast (CUDA only)")
    run.add_argument("--channels-last", action="store_true", help="channels-last memory format (CUDA only)")
    run.add_argument("--sync-batchnorm", action="store_true", help="SyncBatchNorm under torchrun (CUDA only)")
    run.add_argument("--eval-every", type=int, default=1, help="evaluate on the test set every K epochs")
    run.add_argument("--plot", action="store_true", help="write OUTPUT_DIR/curves.png at the end")
    run.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    run.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help="under torchrun: a process that dies, stops or waits longer than this for the others ends the run "
        "with an error (default %(default)g; also bounds the others' wait while rank 0 downloads CIFAR)",
    )


def run(args: argparse.Namespace) -> int:
    """Train as the options say; 1 after a NaN loss, 130 after Ctrl-C (checkpoint saved).

    Returns
    -------
    int
        The exit status.
    """
    from dataclasses import fields

    from ..training import NonFiniteLossError, TrainConfig, TrainingInterrupted
    from ..training import run as training_run

    # every TrainConfig field is an option of the same name
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    try:
        summary = training_run.train(config, resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
    except NonFiniteLossError as exc:
        print(f"parareal train: {exc}", file=sys.stderr)
        return 1
    except TrainingInterrupted as exc:
        print(f"parareal train: {exc}", file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        error = summary["final_test_error"]
        error_text = "n/a" if error is None else f"{100 * error:.2f}%"
        print(
            f"trained {summary['epochs_completed']} epochs; test error {error_text}; "
            f"results in {config.output_dir}/final.json"
        )
    return 0
