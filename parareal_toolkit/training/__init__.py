"""Training ResNets and parareal ResNets on CIFAR: data, loop, checkpoints, metrics, plots.

:func:`train` is the entry point: it sets up the data-parallel group
(``data_parallel``) and the process-wide settings (:func:`run_environment`), then
drives a :class:`Trainer` epoch by epoch, checkpointing its :class:`RunState` after each.
"""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .class_patterns import ClassPatterns
from .config import TrainConfig
from .data import DATASETS, DatasetFormatError, DatasetNotFoundError, load_dataset, test_transform, train_transform
from .environment import RunEnvironment, run_environment
from .errors import NonFiniteLossError, TrainingInterrupted
from .evaluation import evaluate, evaluate_checkpoint, recompute_batchnorm_statistics
from .metrics import MetricsLogger, read_metrics
from .models import build_model
from .plots import plot_training_curves
from .run import train
from .run_state import EpochTotals, RunState, load_run_state
from .trainer import Trainer

__all__ = [
    # data
    "DATASETS",
    "ClassPatterns",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "load_dataset",
    "train_transform",
    "test_transform",
    # loop
    "TrainConfig",
    "train",
    "Trainer",
    "RunState",
    "EpochTotals",
    "run_environment",
    "RunEnvironment",
    "evaluate",
    "evaluate_checkpoint",
    "recompute_batchnorm_statistics",
    "build_model",
    "NonFiniteLossError",
    "TrainingInterrupted",
    # checkpoints, metrics, figures
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "load_run_state",
    "MetricsLogger",
    "read_metrics",
    "plot_training_curves",
]
