"""Test-set error rate and cross-entropy of a model, or of a checkpoint's model."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from .._names import AMP_NAMES
from .._validation import check_choice, check_int
from ..errors import DatasetFormatError, InputError
from .checkpoint import CheckpointError
from .data import _IMAGE_FOLDER, image_folder_spec, image_options, load_dataset, test_transform
from .data_parallel import resolve_device
from .image_folders import _image_folder
from .loaders import OneLineErrorsLoader, to_device
from .models import build_model
from .run_state import load_run_state

__all__ = ["evaluate", "evaluate_checkpoint", "checkpoint_data_dir", "recompute_batchnorm_statistics"]

# datasets drawn from a seed, not read from a folder
_SYNTHETIC = ("fake", "patterns")


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    device: torch.device | str | None = None,
    amp: str = "none",
    channels_last: bool = False,
) -> dict[str, Any]:
    """Mean cross-entropy loss, error rate and image count of ``model`` (eval mode) on ``loader``.

    The model is put back in the mode it was in. ``amp="bf16"`` runs the forward pass
    under bfloat16 autocast; the loss is computed in float32.

    Returns
    -------
    dict
        ``loss`` (mean over images), ``error`` (fraction misclassified), ``images``, and the
        sums ``loss_sum`` and ``wrong`` they come from (to add up over shards).
    """
    check_choice(amp, "amp", AMP_NAMES)
    device = torch.device("cpu") if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    loss_sum, wrong, count = 0.0, 0, 0
    try:
        for images, labels in loader:
            images, labels = to_device(images, labels, device, channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
                logits = model(images)
            loss_sum += nn.functional.cross_entropy(logits.float(), labels, reduction="sum").item()
            wrong += int((logits.argmax(1) != labels).sum().item())
            count += labels.numel()
    finally:
        model.train(was_training)
    return {
        "loss": loss_sum / max(count, 1),
        "error": wrong / max(count, 1),
        "images": count,
        "loss_sum": loss_sum,
        "wrong": wrong,
    }


@torch.no_grad()
def recompute_batchnorm_statistics(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    device: torch.device | str | None = None,
    max_batches: int | None = None,
    amp: str = "none",
    channels_last: bool = False,
) -> int:
    """Set every BatchNorm's running mean and variance to the average of its batch statistics on ``loader``.

    What ``torch.optim.swa_utils.update_bn`` does: the running statistics are reset,
    the momentum set to ``None`` (a cumulative average: after ``k`` batches the running
    mean is the mean of the ``k`` batch means, the running variance the mean of the ``k``
    unbiased batch variances), the first ``max_batches`` batches of ``loader`` (all by
    default) go forward in training mode without gradients, and the momenta and the
    model's mode are restored. The weights are unchanged; evaluation mode then normalises
    with statistics of the current weights instead of an exponential average over weights
    that kept changing (with few batches per epoch that average lags the weights, and the
    test error of evaluation mode far exceeds the training error).

    Returns
    -------
    int
        The batches used (0 when the model has no BatchNorm: nothing is run).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from parareal_toolkit.training import recompute_batchnorm_statistics
    >>> model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    >>> batches = [(torch.full((2, 3, 4, 4), float(k)), torch.zeros(2, dtype=torch.long)) for k in range(3)]
    >>> recompute_batchnorm_statistics(model, batches)
    3
    >>> bn = model[1]
    >>> bool(torch.allclose(bn.running_mean, model[0].bias + model[0].weight.sum((1, 2, 3))))
    True
    """
    check_choice(amp, "amp", AMP_NAMES)
    if max_batches is not None:
        max_batches = check_int(max_batches, "max_batches", minimum=1)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    device = torch.device("cpu") if device is None else torch.device(device)
    momenta = [m.momentum for m in norms]
    was_training = model.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    used = 0
    try:
        for images, labels in loader:
            if max_batches is not None and used >= max_batches:
                break
            images, _ = to_device(images, labels, device, channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
                model(images)
            used += 1
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
    return used


def checkpoint_data_dir(path: str | os.PathLike, data_dir: str | os.PathLike) -> str:
    """A checkpoint's ``data_dir`` as an absolute path: a relative one is taken from the checkpoint's folder.

    ``parareal train`` stores the absolute path; a relative one (a run configured through
    the API) is read against the folder holding the checkpoint, not the current folder, so
    the result does not depend on where ``evaluate`` runs.

    Returns
    -------
    str
        The absolute path.
    """
    folder = os.fspath(data_dir)
    if os.path.isabs(folder):
        return folder
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(os.fspath(path))), folder))


def _classifier_outputs(model: nn.Module, weights: dict[str, Any]) -> int | None:
    """The number of outputs of the last ``nn.Linear`` of ``model`` as stored in ``weights`` (None if absent)."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    weight = weights.get(f"{names[-1]}.weight") if names else None
    return int(weight.shape[0]) if isinstance(weight, torch.Tensor) and weight.ndim == 2 else None


def _image_folder_test_set(
    path: str, config: Any, trained_dir: str, data_dir: str | os.PathLike | None
) -> tuple[Any, int, str]:
    """The test split to score a checkpoint trained on the image folder ``trained_dir`` on, checked against it.

    The side and normalisation are the training run's: from the checkpoint's configuration
    where it set them, else measured on ``trained_dir/train`` as training did (on the
    evaluated folder's ``train/`` only when ``trained_dir`` is gone). When ``trained_dir``
    is there, the evaluated folder's ``test/`` class folders must be its ``train/`` class
    folders (names and order: label ``i`` is the ``i``-th name), and without a set
    ``image_size`` its first test image must have the side training measured.

    Returns
    -------
    tuple
        The dataset, the number of classes the model is built for, and the folder whose
        ``train/`` classes define the labels.
    """
    evaluated = os.path.abspath(os.fspath(data_dir)) if data_dir is not None else trained_dir
    known = os.path.isdir(os.path.join(trained_dir, "train"))
    labels_dir = trained_dir if known else evaluated
    spec = image_folder_spec(labels_dir, image_size=config.image_size, mean=config.mean, std=config.std)
    trained_classes = _image_folder(labels_dir, "train", None).classes
    test = _image_folder(evaluated, "test", test_transform(spec))
    if test.classes != trained_classes:
        only_here = sorted(set(test.classes) - set(trained_classes))
        only_there = sorted(set(trained_classes) - set(test.classes))
        raise DatasetFormatError(
            f"evaluate: the class folders of {test.root} ({len(test.classes)}) are not those checkpoint {path} "
            f"was trained on ({len(trained_classes)}, in {labels_dir}/train; only in the test folder: {only_here}, "
            f"only in training: {only_there}); give --data-dir a folder with the same classes."
        )
    if config.image_size is None:
        first = test.samples[0][0]
        with Image.open(first) as image:
            width, height = image.size
        if (width, height) != (spec.image_size, spec.image_size):
            raise DatasetFormatError(
                f"evaluate: the test image {first} is {width}x{height}, but checkpoint {path} was trained on "
                f"{spec.image_size}x{spec.image_size} images (the side of its first training image in {labels_dir}); "
                "evaluate it on images of that side."
            )
    return test, len(trained_classes), labels_dir


def evaluate_checkpoint(
    path: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    batch_size: int = 256,
    device: str = "auto",
    workers: int = 2,
    progress: bool = False,
) -> dict[str, Any]:
    """Error rate and mean loss of a checkpoint's model on its dataset's test split.

    The model, dataset and test-set size come from the checkpoint's configuration;
    ``data_dir`` overrides the folder it was trained from (refused, an
    :class:`~parareal_toolkit.errors.InputError`, for the synthetic ``fake`` and ``patterns``
    sets, which have none; a relative ``data_dir`` stored in
    the checkpoint is read against the checkpoint's folder).
    For an image folder the evaluated ``test/`` classes must be the training classes (names
    and count) and, when no ``image_size`` was set, its images the trained side; the side
    and normalisation are the training run's (a
    :class:`~parareal_toolkit.training.DatasetFormatError` otherwise).
    ``progress`` shows a bar over the batches. A checkpoint that cannot be read, or whose
    weights do not fit the network its configuration names, is a
    :class:`~parareal_toolkit.training.CheckpointError` naming the file.

    Returns
    -------
    dict
        ``error``, ``loss`` and ``images``, with the checkpoint's path, ``dataset``,
        ``model``, ``depth`` and ``epoch``, and ``finite``: whether the loss is finite (a
        diverged model's loss is NaN or infinite and reported as such, never dropped).
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    workers = check_int(workers, "workers", minimum=0)
    resolved = resolve_device(device)
    state = load_run_state(path)
    config = state.config
    if data_dir is not None and config.dataset in _SYNTHETIC:
        raise InputError(
            f"`data_dir` (--data-dir) applies to checkpoints trained on files (cifar10, cifar100, imagefolder); "
            f"{os.fspath(path)!r} was trained on the synthetic {config.dataset!r} set, which has no folder; "
            f"got {os.fspath(data_dir)!r}."
        )
    trained_dir = checkpoint_data_dir(path, config.data_dir)
    if config.dataset == _IMAGE_FOLDER:
        test_set, classes, labels_dir = _image_folder_test_set(os.fspath(path), config, trained_dir, data_dir)
        model = build_model(replace(config, data_dir=labels_dir), serial=True)
        outputs = _classifier_outputs(model, state.model)
        if outputs is not None and outputs != classes:
            raise DatasetFormatError(
                f"evaluate: checkpoint {os.fspath(path)!r} classifies {outputs} classes, but {labels_dir}/train has "
                f"{classes} class folders; give --data-dir the folder it was trained on."
            )
    else:
        model = build_model(config, serial=True)  # a layer-parallel run's checkpoint is the plain ResNet
        test_set = load_dataset(
            config.dataset,
            train=False,
            data_dir=os.fspath(data_dir) if data_dir is not None else trained_dir,
            size=config.test_size,
            seed=config.seed,
            **image_options(config),
        )
    try:
        model.load_state_dict(state.model)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {os.fspath(path)!r}: its weights do not fit the {config.model}-{config.depth} its "
            f"configuration names: {str(exc).splitlines()[0]}"
        ) from None
    model.to(resolved)
    loader = OneLineErrorsLoader(test_set, batch_size=batch_size, num_workers=workers)
    batches = tqdm(loader, desc="evaluating", unit="batch", disable=not progress, leave=False, dynamic_ncols=True)
    result = evaluate(model, batches, device=resolved)
    return {
        "checkpoint": str(path),
        "dataset": config.dataset,
        "model": config.model,
        "depth": config.depth,
        "epoch": state.epoch,
        "error": result["error"],
        "loss": result["loss"],
        "images": result["images"],
        "finite": math.isfinite(result["loss"]),
    }
