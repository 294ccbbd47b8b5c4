"""``train(config)``: one training run, from a configuration (or a checkpoint) to its summary.

Under ``torchrun`` (``WORLD_SIZE > 1``) the same call trains data-parallel, and with
``placement="distributed"`` slice-parallel too: see ``data_parallel``, ``placement`` and
``trainer``. Rank 0 writes the checkpoint, the metrics, the
summary and the figure.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .._validation import check_callable
from ..backends.distributed import environment_rank
from ..errors import InputError, InputTypeError
from .config import TrainConfig
from .data_parallel import data_parallel_group
from .environment import run_environment
from .metrics import MetricsLogger
from .placement import PLACEMENTS
from .plots import plot_training_curves
from .progress import format_epoch_row, write_line
from .run_state import load_run_state
from .trainer import CHECKPOINT_NAME, Trainer

__all__ = ["train", "check_output_dir", "resume_conflict_message"]


def check_output_dir(path: str | os.PathLike, option: str = "`output_dir`") -> Path:
    """Create the run directory ``path`` if needed and check that files can be written in it.

    Called before any work starts, so that a path that is a file, lies under a file, has a
    name the file system refuses (too long) or is not writable fails at once.

    Raises
    ------
    ValueError
        Naming ``option`` and the path, with the operating system's reason.

    Returns
    -------
    pathlib.Path
        The directory.
    """
    run_dir = Path(path)
    try:
        if run_dir.exists() and not run_dir.is_dir():
            raise InputError(f"{option}: {str(run_dir)!r} is a file, not a directory; choose another --output-dir.")
        run_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=run_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(
            f"{option}: cannot write in {str(run_dir)!r}: {exc.strerror or exc}; choose another --output-dir."
        ) from None
    return run_dir


def resume_conflict_message(checkpoint: str | os.PathLike, conflicts: dict[str, tuple[Any, Any]]) -> str:
    """The one-line refusal to resume ``checkpoint`` with the differing run-defining fields ``conflicts``.

    Returns
    -------
    str
        Names each field with both values, and the ways out.
    """
    described = ", ".join(f"`{name}` {mine!r} (checkpoint: {saved!r})" for name, (mine, saved) in conflicts.items())
    return (
        f"cannot resume {checkpoint}: it holds another run; {described} differ. Resume with the checkpoint's "
        "model, data and optimisation settings, or start a new run (overwrite=True or another output_dir)."
    )


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
    position inside the epoch). ``config`` must define the same run as the checkpoint's
    configuration (same model, data and optimisation: the fields in ``RUN_DEFINING`` of
    ``training.config``), else ``ValueError`` naming the fields that differ; its run
    settings (``epochs``, ``output_dir``, ``data_dir``, ``workers``, ``device``,
    ``threads``, ``amp``, ``channels_last``, ``sync_batchnorm``, ``deterministic``,
    ``eval_every``, ``plot``, ``download``, ``placement``, ``slice_groups``, ``devices``)
    are used: a run trained slice-parallel may continue in one process. With
    ``deterministic=True`` a resumed run's weights equal an uninterrupted run's bit for
    bit, whatever the number of ``workers`` before and after. Without ``resume`` an existing checkpoint there is an
    error unless ``overwrite`` (which removes the earlier run's ``final.json`` and
    ``curves.png``). The output directory is created and checked for writing before any
    work (``ValueError`` when it cannot be). ``on_batch_end(epoch, step, loss)`` is called
    after every optimiser step (0-based epoch, 1-based step). Process-wide settings (random
    generators, deterministic algorithms, cuDNN, torch's thread count, the SIGINT handler)
    are restored when the call returns or raises
    (:func:`~parareal_toolkit.training.run_environment`).

    Raises :class:`~parareal_toolkit.training.NonFiniteLossError` if the training loss or
    the test loss is NaN or infinite (nothing is saved from the failing epoch; no
    ``final.json``) and
    :class:`~parareal_toolkit.training.TrainingInterrupted` after Ctrl-C (the state after
    the last completed batch is saved).

    Returns
    -------
    dict
        The final summary, also written to ``<output_dir>/final.json``: ``config``,
        ``epochs_completed``, ``final_train_loss``, ``final_test_loss``,
        ``final_test_error``, ``best_test_error``, ``wall_time_s``, ``parameters``,
        ``world_size`` (the processes, torch.distributed ranks, of the run),
        ``data_parallel_replicas`` (the copies of the network trained on different data:
        ``world_size / slice_groups`` with placement ``"distributed"``, else ``world_size``),
        ``device`` and ``mgrit_solves`` (``layer_parallel="mgrit"``: the ``last_solves``
        records of the last training step, one per MGRIT block, with the iterations run
        forward and adjoint; ``None`` otherwise or when no step ran). Every number in it is
        finite (the file is strict JSON).
    """
    if not isinstance(config, TrainConfig):
        raise InputTypeError(f"`config` must be a TrainConfig; got {type(config).__name__}.")
    if on_batch_end is not None:
        check_callable(on_batch_end, "on_batch_end")
    if resume and overwrite:
        raise InputError("`resume` and `overwrite` contradict each other: continue the run, or start it again.")
    environment_rank()  # a malformed torchrun environment fails before anything is written
    run_dir = Path(config.output_dir)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    if not resume and not overwrite and checkpoint_path.exists():
        raise InputError(
            f"{checkpoint_path} already exists; pass --resume to continue that run, --overwrite to start "
            "again from scratch, or choose another --output-dir."
        )
    state = None
    if resume:
        state = load_run_state(checkpoint_path)
        conflicts = config.resume_conflicts(state.config)
        if conflicts:
            raise InputError(resume_conflict_message(checkpoint_path, conflicts))
        config = state.config = config.continuing(state.config)
    check_output_dir(run_dir)
    if not resume:  # a new run: the summary and figure of an earlier one would describe another run
        for stale in ("final.json", "curves.png"):
            (run_dir / stale).unlink(missing_ok=True)

    with (
        data_parallel_group(config.device, timeout=config.timeout) as world,
        run_environment(config, world.device) as environment,
    ):
        group = PLACEMENTS[config.placement].process_group(world, config)  # slice groups, or the world
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
            trainer.save_checkpoint()  # every rank: slice-parallel weights gather before rank 0 writes
            if logger is not None and progress:
                write_line(format_epoch_row(row))
            group.barrier()

        summary = _summary(config, logger.rows if logger else [], trainer, time.perf_counter() - started)
        if group.is_main:
            (run_dir / "final.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
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
        "world_size": _processes(),
        "data_parallel_replicas": trainer.group.world_size,
        "device": str(trainer.device),
        # layer-parallel runs: what MGRIT did in the last training step, block by block (iterations
        # run forward and adjoint, unit evaluations per level); None for a network solved layer by layer
        "mgrit_solves": [dict(record) for record in getattr(trainer.model, "last_solves", [])] or None,
    }


def _processes() -> int:
    """The processes of the run: torch.distributed's world size, 1 without a process group."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
