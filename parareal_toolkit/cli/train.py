"""``parareal train``: train a CIFAR ResNet or parareal ResNet (seed recipe by default).

Under ``torchrun --nproc-per-node P`` the same command trains data-parallel; with
``--placement distributed`` each rank owns a group of a parareal network's slices
(``--slice-groups S`` ranks per network, ``P / S`` data-parallel replicas), and
``--placement devices`` puts slice ``j`` on device ``j`` of ``--devices`` in one process.

Every option that is a :class:`~parareal_toolkit.training.TrainConfig` field has the
field's name and defaults to ``None`` here, meaning "not given": a new run fills it from the
configuration's defaults, ``--resume`` from the checkpoint's configuration, and an option
that is given and defines the run (model, data, optimisation) must agree with the
checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .._names import (
    AMP_NAMES,
    DATASET_NAMES,
    DEVICE_NAMES,
    LAYER_PARALLEL_BACKWARD_NAMES,
    LAYER_PARALLEL_NAMES,
    MODEL_NAMES,
    NORM_NAMES,
    PLACEMENT_NAMES,
    RUN_DEFINING_FIELDS,
    SPLIT_NAMES,
)
from ..backends.errors import DEFAULT_TIMEOUT_S
from ._common import CliError, non_negative_float, positive_float, positive_int
from ._options import Needs, Option, max_threads, number, other

HELP = "train ResNet / Parareal ResNet-N on CIFAR-10/100 (seed recipe by default; torchrun for data-parallel)"

# A CPU's float32 multiply-add rate that none reaches on these convolutions (flop/s): below
# MACs x 6 / this, a run is short whatever the machine, and the pilot is skipped.
_OPTIMISTIC_CPU_FLOPS = 1e11
_ANNOUNCE_SECONDS = 5.0
_DEFAULT_TIME_LIMIT = 600.0
# a recipe that trains in about a minute at most on a 2-core CPU (the README's smoke run with a ResNet:
# measured 40-60 s on a shared 2-core machine, train error 4%, test error 0% on the synthetic patterns)
CPU_RECIPE = "--dataset patterns --depth 20 --batch-size 32 --train-size 512 --epochs 2 --no-augment --workers 0"


# options that are neither TrainConfig fields nor may change on resume
_NOT_RUN_SETTINGS = ("help", "resume", "overwrite", "output_dir")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=MODEL_NAMES, default=None, help="default resnet")
    model.add_argument("--depth", type=int, default=None, help="9n+2 (default 1001: 333 bottleneck units)")
    model.add_argument("--subnetworks", "-N", type=int, default=None, help="N for parareal-resnet (default 3)")
    model.add_argument("--coarse-units", type=int, default=None, help="units per coarse network (default ceil(12/N))")
    model.add_argument(
        "--split",
        choices=SPLIT_NAMES,
        default=None,
        help="parareal-resnet: ceil(U/N) units per subnetwork (units, the seed's; default) or balanced "
        "counted multiply-adds (cost)",
    )
    model.add_argument("--norm", choices=NORM_NAMES, default=None, help="BatchNorm or none (default batch)")
    model.add_argument(
        "--layer-parallel",
        choices=LAYER_PARALLEL_NAMES,
        default=None,
        help="resnet: none (default: layer by layer) or mgrit (layer-parallel training: each stage's equal-shape "
        "units solved across the layers by MGRIT, forward and adjoint; the checkpoint is the plain ResNet and is "
        "evaluated layer by layer)",
    )
    model.add_argument(
        "--mgrit-iterations",
        type=int,
        default=None,
        metavar="K",
        help="--layer-parallel mgrit: MGRIT iterations per forward and per adjoint solve (default: the count that "
        "makes them exact; fewer are inexact and cheaper)",
    )
    model.add_argument(
        "--mgrit-levels", type=int, default=None, metavar="L", help="--layer-parallel mgrit: MGRIT levels (default 2)"
    )
    model.add_argument(
        "--mgrit-coarsening",
        type=int,
        default=None,
        metavar="M",
        help="--layer-parallel mgrit: units per coarse step (default 2; a stage with fewer equal-shape units "
        "runs layer by layer)",
    )
    model.add_argument(
        "--mgrit-backward",
        choices=LAYER_PARALLEL_BACKWARD_NAMES,
        default=None,
        help="--layer-parallel mgrit: the gradient by MGRIT on the adjoint (default) or by autograd through the "
        "MGRIT iterations",
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        choices=DATASET_NAMES,
        default=None,
        help="default cifar10; fake: torchvision FakeData; patterns: learnable synthetic images; "
        "imagefolder: your own images in DATA_DIR/train/<class>/ and DATA_DIR/test/<class>/",
    )
    data.add_argument(
        "--data-dir",
        default=None,
        help="folder holding cifar-10-batches-py / cifar-100-python, or train/ and test/ for imagefolder (data); "
        "the checkpoint stores its absolute path",
    )
    data.add_argument(
        "--image-size", type=int, default=None, help="imagefolder: side every image is resized to (the first image's)"
    )
    data.add_argument(
        "--mean",
        type=float,
        nargs=3,
        default=None,
        metavar=("R", "G", "B"),
        help="imagefolder: per-channel mean in [0, 1] (default: of the training images)",
    )
    data.add_argument(
        "--std",
        type=positive_float,
        nargs=3,
        default=None,
        metavar=("R", "G", "B"),
        help="imagefolder: per-channel standard deviation (default: of the training images)",
    )
    data.add_argument("--download", action="store_true", default=None, help="download CIFAR into --data-dir if missing")
    data.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        default=None,
        help="no augmentation (default: each training image padded by side/8, cropped back at a random offset and "
        "mirrored left-right with probability 1/2)",
    )
    data.add_argument(
        "--no-flip",
        dest="flip",
        action="store_false",
        default=None,
        help="keep the random crops but never mirror (digits, text: images whose mirror is another class or none)",
    )
    data.add_argument("--train-size", type=int, default=None, help="images in synthetic training sets (1024)")
    data.add_argument("--test-size", type=int, default=None, help="images in synthetic test sets (256)")
    data.add_argument(
        "--workers", type=int, default=None, help="DataLoader worker processes (default 4, at most the CPUs usable)"
    )
    opt = parser.add_argument_group("optimisation (defaults: the seed recipe)")
    opt.add_argument("--epochs", type=int, default=None, help="default 200")
    opt.add_argument("--batch-size", type=int, default=None, help="global batch size, split across processes (128)")
    opt.add_argument("--lr", type=positive_float, default=None, help="learning rate (0.1)")
    opt.add_argument("--momentum", type=non_negative_float, default=None, help="SGD momentum (0.9)")
    opt.add_argument("--weight-decay", type=non_negative_float, default=None, help="default 5e-4")
    opt.add_argument("--milestones", type=int, nargs="*", default=None, help="epochs where lr *= gamma (80 120)")
    opt.add_argument("--gamma", type=positive_float, default=None, help="lr factor at each milestone (0.1)")
    run = parser.add_argument_group("run")
    run.add_argument(
        "--output-dir", "-o", default=None, help="checkpoint, metrics and final.json go here (runs/default)"
    )
    resume = run.add_argument("--resume", action="store_true")
    run.add_argument("--overwrite", action="store_true", help="start afresh even if OUTPUT_DIR has a checkpoint")
    run.add_argument("--seed", type=int, default=None, help="default 0")
    run.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="deterministic algorithms: bit-for-bit resume, whatever --workers (one thread on the CPU)",
    )
    run.add_argument("--device", choices=DEVICE_NAMES, default=None, help="default auto")
    run.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: 1 on the CPU, where extra threads of a busy machine spin-wait; "
        "torch's default on CUDA)",
    )
    run.add_argument(
        "--placement",
        choices=PLACEMENT_NAMES,
        default=None,
        help="where a parareal-resnet's slices (C^j with g^j) train: single (default: one device; DDP under "
        "torchrun), devices (slice j on device j of --devices, one process) or distributed (under torchrun, each "
        "rank owns a group of slices)",
    )
    run.add_argument(
        "--slice-groups",
        type=positive_int,
        default=None,
        metavar="S",
        help="--placement distributed: ranks per slice-parallel network; torchrun's P processes make P/S "
        "data-parallel replicas (default S = P)",
    )
    run.add_argument(
        "--devices",
        nargs="+",
        default=None,
        metavar="DEVICE",
        help="--placement devices: slice j trains on DEVICE number j (cycled), e.g. cuda:0 cuda:1 or cpu cpu "
        "(default: every visible GPU, else the CPU)",
    )
    run.add_argument("--amp", choices=AMP_NAMES, default=None, help="bf16 autocast (CUDA only)")
    run.add_argument("--channels-last", action="store_true", default=None, help="channels-last memory format (CUDA)")
    run.add_argument("--sync-batchnorm", action="store_true", default=None, help="SyncBatchNorm under torchrun (CUDA)")
    run.add_argument("--eval-every", type=int, default=None, help="evaluate on the test set every K epochs (1)")
    run.add_argument("--plot", action="store_true", default=None, help="write OUTPUT_DIR/curves.png at the end")
    run.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    run.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="refuse a run whose estimated time (a pilot of each residual unit shape; under torchrun the counted "
        f"multiply-adds on a CPU) exceeds SECONDS (default on a CPU {_DEFAULT_TIME_LIMIT:g}; on a GPU none: the "
        "seed's recipe takes hours there), naming a CPU-sized recipe; the estimate of a run of more than a few "
        "seconds is announced either way",
    )
    run.add_argument("--yes", action="store_true", help="train even when the estimate exceeds --time-limit")
    run.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help="under torchrun: a process that dies, stops or waits longer than this for the others ends the run "
        "with an error (default %(default)g; also bounds the others' wait while rank 0 downloads CIFAR)",
    )
    resume.help = (
        "continue from OUTPUT_DIR/checkpoint.pt. Options not given come from the checkpoint; model, data "
        "and optimisation options that are given must equal the checkpoint's (else exit 2 naming them). "
        f"May change: {', '.join(resume_settings(parser))}"
    )


_BY_CONFIG = "parareal_toolkit.training.TrainConfig"


def _parareal_model(args: argparse.Namespace) -> bool:
    # on --resume the checkpoint's model decides (TrainConfig and the resume check refuse a mismatch)
    return bool(args.resume) or args.model == "parareal-resnet"


_PARAREAL = Needs("--model parareal-resnet", _parareal_model, lambda args: f"--model {args.model or 'resnet'}")


def _layer_parallel(args: argparse.Namespace) -> bool:
    return bool(args.resume) or args.layer_parallel == "mgrit"


_MGRIT = Needs(
    "--layer-parallel mgrit", _layer_parallel, lambda args: f"--layer-parallel {args.layer_parallel or 'none'}"
)


def _cifar(args: argparse.Namespace) -> bool:
    return bool(args.resume) or (args.dataset or "cifar10") in ("cifar10", "cifar100")


def _read_from_files(args: argparse.Namespace) -> bool:
    return bool(args.resume) or args.dataset not in ("fake", "patterns")


_FILES = Needs(
    "a dataset read from files (cifar10, cifar100, imagefolder)", _read_from_files, lambda a: f"--dataset {a.dataset}"
)

_CIFAR = Needs("--dataset cifar10 or cifar100", _cifar, lambda args: f"--dataset {args.dataset}")

# every option's domain and where it applies (checked by parareal_toolkit.cli.main before run)
OPTIONS: dict[str, Option] = {
    "time_limit": number(0, low_open=True),
    "model": other("choice"),
    "depth": number(integer=True, cost=True, checked_by=_BY_CONFIG),
    "subnetworks": number(integer=True, needs=(_PARAREAL,), checked_by=_BY_CONFIG),
    "coarse_units": number(integer=True, needs=(_PARAREAL,), checked_by=_BY_CONFIG),
    "split": other("choice", needs=(_PARAREAL,)),
    "norm": other("choice"),
    "layer_parallel": other("choice", checked_by=_BY_CONFIG),
    "mgrit_iterations": number(integer=True, cost=True, needs=(_MGRIT,), checked_by=_BY_CONFIG),
    "mgrit_levels": number(2, integer=True, needs=(_MGRIT,), checked_by=_BY_CONFIG),
    "mgrit_coarsening": number(2, integer=True, needs=(_MGRIT,), checked_by=_BY_CONFIG),
    "mgrit_backward": other("choice", needs=(_MGRIT,)),
    "dataset": other("choice"),
    "data_dir": other("path", needs=(_FILES,)),
    "image_size": number(integer=True, cost=True, checked_by=_BY_CONFIG),
    "mean": other("number", checked_by=_BY_CONFIG),  # NaN too: TrainConfig names `mean`
    "std": number(0, low_open=True, checked_by=_BY_CONFIG),
    "download": other("flag", needs=(_CIFAR,)),
    "augment": other("flag"),
    "flip": other("flag"),
    "train_size": number(integer=True, cost=True, checked_by=_BY_CONFIG),
    "test_size": number(integer=True, cost=True, checked_by=_BY_CONFIG),
    "workers": number(0, max_threads, integer=True, why="processes beyond a few per core only wait for a core"),
    "epochs": number(integer=True, cost=True, checked_by=_BY_CONFIG),
    "batch_size": number(integer=True, cost=True, checked_by=_BY_CONFIG),
    "lr": number(0, low_open=True),
    "momentum": number(0),
    "weight_decay": number(0),
    "milestones": number(integer=True, checked_by=_BY_CONFIG),
    "gamma": number(0, low_open=True),
    "output_dir": other("output"),
    "resume": other("flag"),
    "overwrite": other("flag"),
    "seed": number(integer=True, checked_by=_BY_CONFIG),
    "deterministic": other("flag"),
    "device": other("choice"),
    "threads": number(high=max_threads, integer=True, why="threads beyond a few per core only spin-wait for a core"),
    "placement": other("choice", checked_by=_BY_CONFIG),
    "slice_groups": number(1, integer=True, checked_by=_BY_CONFIG),
    "devices": other("text", checked_by=_BY_CONFIG),
    "amp": other("choice"),
    "channels_last": other("flag"),
    "sync_batchnorm": other("flag"),
    "eval_every": number(integer=True, checked_by=_BY_CONFIG),
    "plot": other("flag"),
    "quiet": other("flag"),
    "yes": other("flag"),
    "timeout": number(0, low_open=True),
}


def resume_settings(parser: argparse.ArgumentParser) -> list[str]:
    """The options of ``parser`` that may differ from the checkpoint's on ``--resume``.

    Returns
    -------
    list of str
        Every option except those of the run-defining fields
        (:data:`parareal_toolkit._names.RUN_DEFINING_FIELDS`), ``--resume``,
        ``--overwrite``, ``--output-dir`` and ``--help``, in the parser's order.
    """
    return [
        max(action.option_strings, key=len)
        for action in parser._actions
        if action.option_strings and action.dest not in RUN_DEFINING_FIELDS + _NOT_RUN_SETTINGS
    ]


def _option(name: str, value: Any) -> str:
    """A configuration field and its value as the command line spells them."""
    if name == "augment":
        return "--no-augment" if not value else "augmentation on"
    if name == "flip":
        return "--no-flip" if not value else "flips on"
    flag = "--" + name.replace("_", "-")
    if value is None:
        return f"{flag} unset"
    if isinstance(value, list):
        return f"{flag} {' '.join(map(str, value))}" if value else f"{flag} (none)"
    return f"{flag} {value}"


def _dataset_sizes(config: Any) -> tuple[int, int, int] | None:
    """Training images, test images and image side of the run's data; None for data not there (yet) or unreadable."""
    if config.dataset in ("fake", "patterns"):
        return (config.train_size or 1024), (config.test_size or 256), 32
    if config.dataset != "imagefolder":
        from ..training.data import DATASETS

        folder = os.path.join(config.data_dir, DATASETS[config.dataset].folder or "")
        if not config.download and not os.path.isdir(folder):
            return None  # not there: loading it refuses with the way to get it, before any estimate
        return 50_000, 10_000, 32
    from PIL import Image

    from ..training.image_folders import _scan_split

    try:
        train = _scan_split(os.path.join(config.data_dir, "train")).samples
        test = _scan_split(os.path.join(config.data_dir, "test")).samples
        side = config.image_size
        if side is None and train:
            with Image.open(train[0][0]) as image:
                side = max(image.size)  # resized to a square of the first image's side
    except OSError:
        return None  # missing or unreadable: loading the data refuses it with its own message
    return (len(train), len(test), side) if train and side else None


def _estimate_first(config: Any, args: argparse.Namespace) -> None:
    """Estimate the run's time before any work; refuse it over ``--time-limit`` (unless ``--yes``), else announce it.

    Two estimates, both lower bounds. The counted one, the multiply-adds of the residual
    units (x 6 for forward and backward, per image of this process's share) at a CPU rate
    none reaches (:data:`_OPTIMISTIC_CPU_FLOPS`), is the same on every machine and every
    rank. The pilot, one training step of each residual unit shape timed here
    (:func:`~parareal_toolkit.training.resources.estimate_training_seconds`), is closer
    (measured: an epoch takes about 3 times it). An image folder's images are counted
    (the costs scale with the side squared, from 32 pixels).

    On a CPU the counted bound is checked first (no pilot when it is over the limit, or
    under a second). Under torchrun the pilot is skipped, with a note (each rank would time
    its own pilot, and a rank refusing alone would leave the others waiting): the counted
    bound, equal on every rank, is the one checked on a CPU; on a GPU nothing is.

    The announcement goes to standard output (a refusal found later, of the data or the
    device, stays the one line on standard error).
    """
    from ..plans.units import num_units, stage_unit_specs, unit_multiply_adds
    from ..training.data_parallel import resolve_device
    from ..training.resources import device_memory, estimate_training_seconds, training_memory_lower_bound
    from ._ode_estimate import duration

    sizes = _dataset_sizes(config)
    if sizes is None:
        return
    train_images, test_images, side = sizes
    area = (side / 32) ** 2
    processes = max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    main = int(os.environ.get("RANK", "0")) == 0
    epochs = config.epochs
    if args.resume:
        from ..training import load_run_state
        from ..training.trainer import CHECKPOINT_NAME

        epochs -= load_run_state(os.path.join(config.output_dir, CHECKPOINT_NAME)).epoch
    epochs = max(epochs, 0)
    images = min(max(config.batch_size // processes, 1), train_images)
    batches = -(-train_images // config.batch_size)
    n = num_units(config.depth) // 3
    macs = sum(unit_multiply_adds(a) + (n - 1) * unit_multiply_adds(b) for a, b in stage_unit_specs(config.depth))
    device = resolve_device(config.device)
    need = training_memory_lower_bound(config.depth, images)["total"]
    have, _ = device_memory(device)
    if have is not None and need > have:
        return  # the trainer refuses it with the memory it needs, before building anything
    what = f"{batches} batches of {images} images per epoch{' per process' if processes > 1 else ''}, {epochs} epoch(s)"
    if device.type == "cpu":
        counted = 6 * macs * area * batches * images * epochs / _OPTIMISTIC_CPU_FLOPS
        _check_time(args, device, counted, f"{what}; counted multiply-adds at {_OPTIMISTIC_CPU_FLOPS:g} flop/s")
        if counted < 1.0:
            return
    if processes > 1:
        if main and not args.quiet:
            print(
                "parareal train: no pilot time estimate under torchrun (each rank would time its own, and a rank "
                "refusing alone would leave the others waiting); "
                + (
                    "--time-limit applied to the counted lower bound"
                    if device.type == "cpu"
                    else "--time-limit not applied"
                ),
                flush=True,
            )
        return
    threads = config.threads if config.threads is not None else (1 if device.type == "cpu" else None)
    cost = estimate_training_seconds(
        config.depth,
        images_per_batch=images,
        batches_per_epoch=batches,
        test_images=test_images,
        epochs=epochs,
        eval_every=config.eval_every,
        device=device,
        threads=threads,
        pilot_images=8,
    )
    cost = {key: value * area for key, value in cost.items()}
    what = f"~{duration(cost['batch'])} per batch, {what}, from a pilot of each residual unit shape on {device.type}"
    _check_time(args, device, cost["total"], what)
    if cost["total"] > _ANNOUNCE_SECONDS and not args.quiet:
        # on stdout, with the run's report: a refusal found later (the data, the device) stays one line on stderr
        print(f"estimated training time at least ~{duration(cost['total'])} ({what})", flush=True)


def _check_time(args: argparse.Namespace, device: Any, seconds: float, what: str) -> None:
    """Refuse an estimate over ``--time-limit`` (one line naming a CPU-sized recipe), unless ``--yes``.

    Without ``--time-limit`` the limit is :data:`_DEFAULT_TIME_LIMIT` on a CPU and none on an
    accelerator, where the seed's recipe rightly takes hours.
    """
    from ._ode_estimate import duration

    limit = args.time_limit
    if limit is None:
        limit = _DEFAULT_TIME_LIMIT if device.type == "cpu" else float("inf")
    if seconds <= limit or args.yes:
        return
    raise CliError(
        f"estimated training time at least ~{duration(seconds)} ({what}) exceeds --time-limit {limit:g} s; "
        "use fewer --epochs, a smaller --depth, --train-size or --batch-size, or a GPU (a CPU-sized run, about a "
        f"minute on 2 cores: {CPU_RECIPE}), or run it anyway with --yes or a larger --time-limit."
    )


def _config(args: argparse.Namespace) -> Any:
    """The run's configuration: the options given, the rest from the checkpoint (--resume) or the defaults."""
    from dataclasses import fields, replace

    from ..training import TrainConfig, load_run_state
    from ..training.trainer import CHECKPOINT_NAME

    # every TrainConfig field is an option of the same name; None means "not given"
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    if "data_dir" in given or not args.resume:
        # stored absolute: `parareal evaluate` finds the data wherever it runs from
        default = TrainConfig.__dataclass_fields__["data_dir"].default
        given["data_dir"] = os.path.abspath(given.get("data_dir", default))
    if not args.resume:
        if "workers" not in given:  # the default, but never more workers than CPUs (torch warns in many lines)
            from ..training.loaders import default_workers

            given["workers"] = default_workers(TrainConfig().workers)
        return TrainConfig(**given)
    if args.overwrite:
        raise CliError("--resume continues the run in OUTPUT_DIR and --overwrite starts it again: choose one.")
    # the run continues where its checkpoint is, wherever it was first written
    output_dir = given.setdefault("output_dir", TrainConfig.__dataclass_fields__["output_dir"].default)
    checkpoint = os.path.join(output_dir, CHECKPOINT_NAME)
    saved = load_run_state(checkpoint).config
    if given.get("placement", saved.placement) != saved.placement:
        # another placement: the old one's --devices / --slice-groups no longer apply
        given.setdefault("devices", None)
        given.setdefault("slice_groups", None)
    config = replace(saved, **given)  # validates the options given
    conflicts = config.resume_conflicts(saved)
    if conflicts:
        mine = ", ".join(_option(name, value) for name, (value, _) in conflicts.items())
        theirs = ", ".join(_option(name, value) for name, (_, value) in conflicts.items())
        raise CliError(
            f"--resume: {mine} differ from the run in {checkpoint} ({theirs}); leave these options out to "
            "continue that run, or start a new one with --overwrite or another --output-dir."
        )
    return config


def _layer_parallel_plan(config: Any) -> str:
    """What ``--layer-parallel mgrit`` solves by MGRIT in each stage, in one line (a stage too short runs layer by layer)."""
    from .._mgrit_cycles import exact_iterations
    from ..plans.layer_parallel import stage_split
    from ..plans.units import num_units
    from ..training.models import layer_parallel_options

    equal = num_units(config.depth) // 3 - 1  # each stage's units after its shape-changing first
    options = layer_parallel_options(config)
    m = options["coarsening"]
    count, used = stage_split(equal, options["levels"], m)
    if not count:
        return (
            f"layer-parallel MGRIT: each stage of ResNet-{config.depth} has {equal} equal-shape unit(s), fewer than "
            f"--mgrit-coarsening {m}: every stage runs layer by layer (the serial network, no MGRIT)"
        )
    exact = exact_iterations(count // m, "F")
    k = exact if config.mgrit_iterations is None else min(config.mgrit_iterations, exact)
    rest = f", {equal - count} more layer by layer" if equal > count else ""
    state = "exact" if k == exact else f"inexact; exact at {exact}"
    return (
        f"layer-parallel MGRIT: in each of 3 stages {count} of {equal} equal-shape units on {used} levels{rest}; "
        f"{k} iteration(s) per forward and adjoint solve ({state})"
    )


def run(args: argparse.Namespace) -> int:
    """Train as the options say; 1 after a NaN loss or metric, 130 after Ctrl-C (checkpoint saved).

    Returns
    -------
    int
        The exit status.
    """
    from ..backends.distributed import environment_rank
    from ..training import NonFiniteLossError, TrainingInterrupted
    from ..training import run as training_run

    config = _config(args)
    # a meta tensor has a shape but no values: the backend can place modules there (the tests
    # check placement with it), but nothing can be trained there
    if any(str(device).split(":")[0] == "meta" for device in config.devices or ()):
        raise CliError(f"--devices must name devices that compute (cpu, cuda, ...), not meta; got {config.devices}.")
    environment_rank()  # a malformed torchrun environment fails before the output folder is made
    training_run.check_output_dir(config.output_dir, "--output-dir")
    _estimate_first(config, args)
    if config.layer_parallel == "mgrit" and int(os.environ.get("RANK", "0")) == 0 and not args.quiet:
        print(_layer_parallel_plan(config), flush=True)
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
