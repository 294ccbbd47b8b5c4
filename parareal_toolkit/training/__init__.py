"""Training ResNets and parareal ResNets on CIFAR: data, loop, checkpoints, metrics, plots."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .data import DATASETS, ClassPatterns, DatasetNotFoundError, load_dataset, test_transform, train_transform
from .metrics import MetricsLogger, read_metrics
from .plots import plot_training_curves
from .trainer import (
    NonFiniteLossError,
    TrainConfig,
    TrainingInterrupted,
    build_model,
    evaluate,
    evaluate_checkpoint,
    train,
)

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
