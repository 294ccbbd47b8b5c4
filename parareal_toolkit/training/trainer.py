"""``Trainer``: one run's model, optimiser, schedule and data, advanced an epoch at a time.

Reproducibility. The model is initialised from ``seed``; at the start of epoch ``e`` every
global generator is reseeded with ``seed + e`` and the shuffling of the training sampler
uses ``seed`` and ``e`` (see ``loaders``). Hence a run resumed from a checkpoint
replays exactly the random choices (order, crops, flips) of an uninterrupted one; with
``deterministic=True`` (see ``environment``) the weights are equal bit for bit,
also after an interruption in the middle of an epoch (the consumed batches are re-drawn
and skipped).

Data parallelism. With several replicas (``data_parallel``) each holds the model
wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` and takes
``batch_size / world_size`` images of each global batch; averaging the gradients gives
the single-process update up to floating-point reduction order, exactly so for networks
without BatchNorm. With BatchNorm each process normalises with its own batch statistics
unless ``sync_batchnorm`` converts them to :class:`~torch.nn.SyncBatchNorm` (CUDA only in
PyTorch).

Slice parallelism. ``placement="devices"`` or ``"distributed"`` trains a parareal network
with its slices on several devices or ranks, composed with data parallelism under torchrun
(``slice_groups``); ``parareal_toolkit.training.placement`` says what is computed where
and what equals single-process training. Checkpoints have one format whatever the placement.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data.distributed import DistributedSampler

from .._validation import check_callable
from ..errors import InputError, InputTypeError
from .checkpoint import CheckpointError
from .checkpoint import save_checkpoint as write_checkpoint
from .config import TrainConfig
from .data import image_options, load_dataset
from .data_parallel import DataParallelGroup, resolve_device
from .environment import seed_everything
from .errors import NonFiniteLossError, TrainingInterrupted
from .evaluation import evaluate, recompute_batchnorm_statistics
from .loaders import PerSampleSeeded, test_loader, to_device, train_loader
from .models import build_model, serial_forward
from .placement import PLACEMENTS, place_for_training
from .progress import EpochProgress
from .resources import check_memory
from .run_state import EpochTotals, RunState

__all__ = ["Trainer", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"

# BatchNorm statistics are recomputed after each epoch from at most this many training images
# (a forward pass over them: for CIFAR, 50,000 images, about 3% of an epoch's compute)
BATCHNORM_IMAGES = 4096


class Trainer:
    """A run's model, SGD optimiser, multi-step schedule and data loaders; one epoch per call.

    Building it checks that the run fits the hardware (CUDA-only options, the batch split,
    a lower bound on the memory: ``resources``), seeds the generators with ``config.seed``,
    builds the model, optimiser and schedule, restores ``state`` if given (a mid-epoch state
    continues that epoch; its configuration must define the same run,
    ``TrainConfig.resume_conflicts``), wraps the model for data parallelism when ``group``
    has several replicas and loads the datasets. Run it inside
    :func:`~parareal_toolkit.training.run_environment` for the deterministic settings and the Ctrl-C handling of :func:`~parareal_toolkit.training.train`.

    Parameters
    ----------
    config : TrainConfig
        The run.
    group : DataParallelGroup, optional
        This replica (default: a single process on ``config.device``).
    state : RunState, optional
        The state to continue from (a checkpoint's).
    progress : bool
        Show a progress bar (rank 0 only).
    on_batch_end : callable, optional
        ``on_batch_end(epoch, step, loss)`` after every optimiser step (0-based epoch, 1-based step).
    stop_requested : callable, optional
        Polled after every batch; once it returns true (on any replica) the epoch stops, a
        checkpoint is saved and :class:`~parareal_toolkit.training.TrainingInterrupted` is raised.

    Attributes
    ----------
    epoch : int
        Completed epochs.
    step : int
        Batches of the current epoch already trained on (nonzero only after a resume).
    best_test_error : float or None
        The smallest test error rate :meth:`evaluate` has measured.
    """

    def __init__(
        self,
        config: TrainConfig,
        group: DataParallelGroup | None = None,
        *,
        state: RunState | None = None,
        progress: bool = False,
        on_batch_end: Callable[[int, int, float], Any] | None = None,
        stop_requested: Callable[[], bool] | None = None,
    ):
        if not isinstance(config, TrainConfig):
            raise InputTypeError(f"`config` must be a TrainConfig; got {type(config).__name__}.")
        self.config = config
        self.group = DataParallelGroup(device=resolve_device(config.device)) if group is None else group
        self.device = self.group.device
        self.progress = progress
        self.on_batch_end = None if on_batch_end is None else check_callable(on_batch_end, "on_batch_end")
        self._stop_requested = (
            (lambda: False) if stop_requested is None else check_callable(stop_requested, "stop_requested")
        )
        self.checkpoint_path = Path(config.output_dir) / CHECKPOINT_NAME
        self._check_fits_the_hardware()

        seed_everything(config.seed, self.device)
        self.model = self._build_model()
        self.placement = place_for_training(config, self.model, self.group)
        self.device = self.placement.device  # where batches go: C^1's device
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=config.milestones, gamma=config.gamma
        )
        self.epoch, self.step = 0, 0
        self.best_test_error: float | None = None
        self._partial: EpochTotals | None = None
        if state is not None:
            self._restore(state)
        self._train_model: nn.Module = self.model
        if self.group.enabled and self.placement.strategy.replicates_network:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self._train_model = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        self._build_loaders()

    # ------------------------------------------------------------------ set-up

    def _check_fits_the_hardware(self) -> None:
        config, group = self.config, self.group
        if self.device.type != "cuda" and (config.amp != "none" or config.channels_last or config.sync_batchnorm):
            raise InputError("--amp bf16, --channels-last and --sync-batchnorm need CUDA; this run is on the CPU.")
        if config.batch_size % group.world_size:
            raise InputError(
                f"`batch_size` ({config.batch_size}) must be divisible by the number of processes ({group.world_size})."
            )
        if config.train_size is not None:
            train_images = config.train_size
        else:
            train_images = 1024 if config.dataset in ("fake", "patterns") else 50_000
        per_process = min(config.batch_size // group.world_size, -(-train_images // group.world_size))
        devices = PLACEMENTS[config.placement].memory_devices(config)  # slices on several GPUs share the load
        check_memory(config.depth, per_process, self.device, devices=devices)

    def _build_model(self) -> nn.Module:
        model = build_model(self.config)  # placed by place_for_training
        if self.config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        replicated = PLACEMENTS[self.config.placement].replicates_network
        if self.config.sync_batchnorm and self.group.enabled and replicated:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model

    def _restore(self, state: RunState) -> None:
        conflicts = self.config.resume_conflicts(state.config)
        if conflicts:
            described = "; ".join(
                f"`{k}` is {mine!r} here, {saved!r} in the state" for k, (mine, saved) in conflicts.items()
            )
            raise InputError(f"the state to continue belongs to another run: {described}.")
        try:
            self.model.load_state_dict(state.model)
        except (RuntimeError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"the weights in the state to continue ({self.checkpoint_path}) do not fit the network its "
                f"configuration names: {str(exc).splitlines()[0]}"
            ) from None
        if state.optimizer is not None:
            self.optimizer.load_state_dict(state.optimizer)
        if state.scheduler is not None:
            self.scheduler.load_state_dict(state.scheduler)
        self.epoch, self.step = state.epoch, state.step
        self._partial = state.partial
        self.best_test_error = state.best_test_error

    def _build_loaders(self) -> None:
        config, group = self.config, self.group
        train_set = load_dataset(
            config.dataset,
            train=True,
            data_dir=config.data_dir,
            download=config.download and group.is_main,
            augment=config.augment,
            flip=config.flip,
            size=config.train_size,
            seed=config.seed,
            **image_options(config),
        )
        group.barrier()  # rank 0 may have downloaded
        test_set = load_dataset(
            config.dataset,
            train=False,
            data_dir=config.data_dir,
            size=config.test_size,
            seed=config.seed,
            **image_options(config),
        )
        per_process_batch = config.batch_size // group.world_size
        self.train_loader = train_loader(
            train_set,
            batch_size=per_process_batch,
            rank=group.rank,
            world_size=group.world_size,
            seed=config.seed,
            workers=config.workers,
            device=self.device,
        )
        self.test_loader = test_loader(
            test_set,
            batch_size=per_process_batch,
            rank=group.rank,
            world_size=group.world_size,
            workers=config.workers,
            device=self.device,
        )

    # ------------------------------------------------------------------ training

    def train_epoch(self) -> dict[str, Any]:
        """Train one epoch (the rest of it after a mid-epoch resume) and step the schedule.

        Raises :class:`~parareal_toolkit.training.NonFiniteLossError` when the loss is NaN or
        infinite on any replica (nothing is saved), and
        :class:`~parareal_toolkit.training.TrainingInterrupted` after saving a checkpoint
        when ``stop_requested`` turns true.

        Returns
        -------
        dict
            ``epoch`` (1-based), ``lr`` (the rate it trained with), ``train_loss`` and
            ``train_error`` over all replicas, ``images_per_s`` and ``epoch_time_s``.
        """
        epoch, skip = self.epoch, self.step
        seed_everything(self.config.seed + epoch, self.device)
        sampler = self.train_loader.sampler
        assert isinstance(sampler, DistributedSampler)
        sampler.set_epoch(epoch)
        dataset = self.train_loader.dataset
        assert isinstance(dataset, PerSampleSeeded)
        dataset.set_epoch(epoch)  # each image's augmentation: from (seed, epoch, index) only
        totals = self._partial if (skip and self._partial) else EpochTotals()
        self._train_model.train()
        started = time.perf_counter()
        step, interrupted = 0, False
        with EpochProgress(
            epoch=epoch,
            epochs=self.config.epochs,
            total=len(self.train_loader),
            initial=skip,
            world_size=self.group.world_size,
            enabled=self.progress and self.group.is_main,
        ) as bar:
            batches = iter(self.train_loader)
            while True:
                try:
                    images, labels = next(batches)
                except StopIteration:
                    break
                except RuntimeError:
                    if not self._stop_requested():
                        raise
                    interrupted = True  # a DataLoader worker died of the same Ctrl-C
                    break
                step += 1
                if step <= skip:  # trained on before the interruption; drawn to replay the random choices
                    continue
                loss, wrong = self._train_step(images, labels, epoch, step)
                totals.add(loss, wrong, labels.numel())
                if self.on_batch_end is not None:
                    self.on_batch_end(epoch, step, loss)
                bar.advance(totals, totals.time + time.perf_counter() - started)
                if not self.group.all_true(not self._stop_requested()):
                    interrupted = True
                    break
        totals.time += time.perf_counter() - started
        if interrupted:
            self._interrupt(max(step, skip), totals)
        self._settle_batchnorm()
        return self._finish_epoch(totals)

    def _settle_batchnorm(self) -> None:
        """Recompute the BatchNorm running statistics from the epoch's first training batches (same on every rank).

        Training mode normalises with each batch's statistics, evaluation mode with running
        averages; their exponential average over an epoch's changing weights lags the final
        weights (badly with few batches per epoch), so they are replaced by the average over
        up to ``BATCHNORM_IMAGES`` training images of the weights just trained
        (``recompute_batchnorm_statistics``). Each replica uses its own shard; a checkpoint
        holds rank 0's.
        """
        batches = -(-BATCHNORM_IMAGES // self.config.batch_size)
        with serial_forward(self.model):  # the statistics of the network evaluated and checkpointed
            recompute_batchnorm_statistics(
                self.model,
                self.train_loader,
                device=self.device,
                max_batches=batches,
                amp=self.config.amp,
                channels_last=self.config.channels_last,
            )

    def _train_step(self, images: torch.Tensor, labels: torch.Tensor, epoch: int, step: int) -> tuple[float, int]:
        images, labels = to_device(images, labels, self.device, self.config.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.amp == "bf16"):
            logits = self._train_model(images)
            loss = nn.functional.cross_entropy(logits.float(), labels)
        loss_value = loss.item()
        if not self.group.all_true(math.isfinite(loss_value)):
            raise NonFiniteLossError(
                f"training loss became {loss_value} in epoch {epoch + 1}, batch {step}; stopped: "
                f"{self._kept()}. Try a smaller --lr.",
                metric="train_loss",
                value=loss_value,
                epoch=epoch + 1,
                step=step,
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.placement.reduce_gradients(self.model)
        self.optimizer.step()
        return loss_value, int((logits.argmax(1) != labels).sum().item())

    def _kept(self) -> str:
        if self.checkpoint_path.is_file():
            return f"the last good checkpoint, {self.checkpoint_path}, is kept unchanged"
        return "no checkpoint was saved (no earlier epoch to keep)"

    def _interrupt(self, step: int, totals: EpochTotals) -> None:
        self.step, self._partial = step, totals
        saved = self.save_checkpoint()
        raise TrainingInterrupted(
            f"interrupted in epoch {self.epoch + 1} after batch {step}; checkpoint saved to "
            f"{self.checkpoint_path}; continue with --resume.",
            saved,
        )

    def _finish_epoch(self, totals: EpochTotals) -> dict[str, Any]:
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        loss_sum, wrong, count = self.group.sum([totals.loss_sum, totals.wrong, totals.count])
        if not math.isfinite(loss_sum / count):  # finite batch losses whose sum overflows
            raise NonFiniteLossError(
                f"the mean training loss of epoch {self.epoch + 1} is {loss_sum / count}; stopped: {self._kept()}. "
                "Try a smaller --lr.",
                metric="train_loss",
                value=loss_sum / count,
                epoch=self.epoch + 1,
            )
        self.epoch, self.step, self._partial = self.epoch + 1, 0, None
        return {
            "epoch": self.epoch,
            "lr": lr,
            "train_loss": loss_sum / count,
            "train_error": wrong / count,
            "images_per_s": count / max(totals.time, 1e-9),
            "epoch_time_s": totals.time,
        }

    # ------------------------------------------------------------------ evaluation and state

    def evaluate(self) -> dict[str, float]:
        """Test loss and error rate of the current model over the whole test set (all replicas).

        Updates :attr:`best_test_error`. Raises
        :class:`~parareal_toolkit.training.NonFiniteLossError` when the test loss is NaN or
        infinite (diverged weights or BatchNorm statistics give non-finite outputs in
        evaluation mode even while the training loss, with batch statistics, stays finite).

        Returns
        -------
        dict
            ``test_loss`` (mean cross-entropy) and ``test_error`` (fraction misclassified).
        """
        config = self.config
        with serial_forward(self.model):  # a layer-parallel ResNet is evaluated as the plain network it trains
            result = evaluate(
                self.model, self.test_loader, device=self.device, amp=config.amp, channels_last=config.channels_last
            )
        loss_sum, wrong, count = self.group.sum([result["loss_sum"], result["wrong"], result["images"]])
        if not math.isfinite(loss_sum / count):
            raise NonFiniteLossError(
                f"test loss became {loss_sum / count} when evaluating after epoch {self.epoch} (the model's "
                f"outputs are not finite); stopped: {self._kept()}. Try a smaller --lr.",
                metric="test_loss",
                value=loss_sum / count,
                epoch=self.epoch,
            )
        test_error = wrong / count
        if self.best_test_error is None or test_error < self.best_test_error:
            self.best_test_error = test_error
        return {"test_loss": loss_sum / count, "test_error": test_error}

    def run_state(self) -> RunState:
        """Where the run stands now, ready to be checkpointed.

        Returns
        -------
        RunState
            Sharing the model's, optimiser's and schedule's current tensors.
        """
        return RunState(
            config=self.config,
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            epoch=self.epoch,
            step=self.step,
            partial=self._partial,
            best_test_error=self.best_test_error,
        )

    def save_checkpoint(self) -> Path | None:
        """Write :meth:`run_state` atomically to ``<output_dir>/checkpoint.pt`` (rank 0 only).

        Every rank must call it: with placement ``"distributed"`` the slices' weights and
        momenta first travel from their owners to every rank, so that rank 0 writes the full
        state, the format of a single-process run.

        Returns
        -------
        pathlib.Path or None
            The checkpoint written, or ``None`` on other ranks.
        """
        self.placement.synchronize(self.model, self.optimizer)
        if not self.group.is_main:
            return None
        return write_checkpoint(self.checkpoint_path, self.run_state().to_checkpoint())
