"""Test-set error rate and cross-entropy of a model, or of a checkpoint's model."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .._names import AMP_NAMES
from .._validation import check_choice, check_int
from .checkpoint import CheckpointError
from .data import image_options, load_dataset
from .data_parallel import resolve_device
from .loaders import to_device
from .models import build_model
from .run_state import load_run_state

__all__ = ["evaluate", "evaluate_checkpoint"]


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
    ``data_dir`` overrides the folder it was trained from. ``progress`` shows a bar over
    the batches. A checkpoint that cannot be read, or whose weights do not fit the network
    its configuration names, is a :class:`~parareal_toolkit.training.CheckpointError`
    naming the file.

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
    model = build_model(config)
    try:
        model.load_state_dict(state.model)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {os.fspath(path)!r}: its weights do not fit the {config.model}-{config.depth} its "
            f"configuration names: {str(exc).splitlines()[0]}"
        ) from None
    model.to(resolved)
    test_set = load_dataset(
        config.dataset,
        train=False,
        data_dir=data_dir or config.data_dir,
        size=config.test_size,
        seed=config.seed,
        **image_options(config),
    )
    loader = DataLoader(test_set, batch_size=batch_size, num_workers=workers)
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
