"""``train(config)``: one training run, from a configuration (or a checkpoint) to its summary.

Under ``torchrun`` (``WORLD_SIZE > 1``) the same call trains data-parallel: see
``data_parallel`` and ``trainer``. Rank 0 writes the checkpoint, the metrics, the
summary and the figure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .._validation import check_callable
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .data_parallel import data_parallel_group
from .environment import run_environment
from .metrics import MetricsLogger
from .plots import plot_training_curves
from .progress import format_epoch_row, write_line
from .run_state import RunState
from .trainer import CHECKPOINT_NAME, Trainer

__all__ = ["train"]


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    on_batch_end: Callable[[int, int, float], Any] | None = None,
) -> dict[str, Any]:
    """Train as ``config`` says, checkpointing to ``<output_dir>/checkpoint.pt`` each epoch.

    ``resume=True`` continues from that checkpoint (model, optimiser, scheduler, epoch and
    position inside the epoch); the checkpoint's configuration wins except for the run
    settings (``epochs``, ``output_dir``, ``data_dir``, ``workers``, ``device``,
    ``eval_every``, ``plot``, ``download``). Without ``resume`` an existing checkpoint there
    is an error unless ``overwrite``. ``on_batch_end(epoch, step, loss)`` is called after
    every optimiser step (0-based epoch, 1-based step). Process-wide settings (random
    generators, deterministic algorithms, cuDNN, the SIGINT handler) are restored when the
    call returns or raises (:func:`~parareal_toolkit.training.run_environment`).

    Raises :class:`~parareal_toolkit.training.NonFiniteLossError` if the loss is NaN or
    infinite (nothing is saved from the failing epoch) and
    :class:`~parareal_toolkit.training.TrainingInterrupted` after Ctrl-C (the state after
    the last completed batch is saved).

    Returns
    -------
    dict
        The final summary, also written to ``<output_dir>/final.json``: ``config``,
        ``epochs_completed``, ``final_train_loss``, ``final_test_loss``,
        ``final_test_error``, ``best_test_error``, ``wall_time_s``, ``parameters``,
        ``world_size`` and ``device``.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"`config` must be a TrainConfig; got {type(config).__name__}.")
    if on_batch_end is not None:
        check_callable(on_batch_end, "on_batch_end")
    run_dir = Path(config.output_dir)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    if not resume and not overwrite and checkpoint_path.exists():
        raise ValueError(
            f"{checkpoint_path} already exists; pass --resume to continue that run, --overwrite to start "
            "again from scratch, or choose another --output-dir."
        )
    state = None
    if resume:
        state = RunState.from_checkpoint(load_checkpoint(checkpoint_path))
        config = state.config = config.continuing(state.config)

    with (
        data_parallel_group(config.device, timeout=config.timeout) as group,
        run_environment(config, group.device) as environment,
    ):
        trainer = Trainer(
            config,
            group,
            state=state,
            progress=progress,
            on_batch_end=on_batch_end,
            stop_requested=lambda: environment.stop_requested,
        )
        logger = MetricsLogger(run_dir, resume_after_epoch=trainer.epoch) if group.is_main else None
        started = time.perf_counter()
        while trainer.epoch < config.epochs:
            row = trainer.train_epoch()
            if trainer.epoch % config.eval_every == 0 or trainer.epoch == config.epochs:
                row.update(trainer.evaluate())
            if logger is not None:
                logger.log(row)
                trainer.save_checkpoint()
                if progress:
                    write_line(format_epoch_row(row))
            group.barrier()

        summary = _summary(config, logger.rows if logger else [], trainer, time.perf_counter() - started)
        if group.is_main:
            (run_dir / "final.json").write_text(json.dumps(summary, indent=2) + "\n")
            if config.plot and summary["epochs_completed"]:
                plot_training_curves([run_dir], path=run_dir / "curves.png")
        group.barrier()  # leave together: a rank exiting under a live gloo peer can abort
    return summary


def _summary(config: TrainConfig, rows: list[dict[str, Any]], trainer: Trainer, seconds: float) -> dict[str, Any]:
    last = rows[-1] if rows else {}
    return {
        "config": asdict(config),
        "epochs_completed": last.get("epoch", 0),
        "final_train_loss": last.get("train_loss"),
        "final_test_loss": last.get("test_loss"),
        "final_test_error": last.get("test_error"),
        "best_test_error": trainer.best_test_error,
        "wall_time_s": seconds,
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "world_size": trainer.group.world_size,
        "device": str(trainer.device),
    }
