"""Training ResNets and parareal ResNets on CIFAR: data, loop, checkpoints, metrics, plots.

The public names are imported lazily (PEP 562) so that the ``parareal`` command can load
the ``train`` / ``evaluate`` / ``models`` subcommands without importing torch.
"""

from __future__ import annotations

import importlib

__all__ = [
    # data
    "DATASETS",
    "ClassPatterns",
    "DatasetNotFoundError",
    "load_dataset",
    "train_transform",
    "test_transform",
    # loop
    "TrainConfig",
    "train",
    "evaluate",
    "evaluate_checkpoint",
    "build_model",
    "NonFiniteLossError",
    "TrainingInterrupted",
    # checkpoints, metrics, figures
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "MetricsLogger",
    "read_metrics",
    "plot_training_curves",
]

_MODULE_OF = {
    **dict.fromkeys(
        ["DATASETS", "ClassPatterns", "DatasetNotFoundError", "load_dataset", "train_transform", "test_transform"],
        "data",
    ),
    **dict.fromkeys(
        ["TrainConfig", "train", "evaluate", "evaluate_checkpoint", "build_model", "NonFiniteLossError",
         "TrainingInterrupted"],
        "trainer",
    ),
    **dict.fromkeys(["CheckpointError", "save_checkpoint", "load_checkpoint"], "checkpoint"),
    **dict.fromkeys(["MetricsLogger", "read_metrics"], "metrics"),
    "plot_training_curves": "plots",
}


def __getattr__(name: str):
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
