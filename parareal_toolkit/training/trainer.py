"""The training and evaluation loop for CIFAR ResNets and parareal ResNets.

Defaults are the seed recipe (He et al. 2016; Lee, Park, Lee): batch 128, 200 epochs, SGD
with momentum 0.9 and weight decay 5e-4, learning rate 0.1 divided by 10 at epochs 80 and
120 (:class:`torch.optim.lr_scheduler.MultiStepLR`).

Reproducibility. The model is initialised from ``seed``; at the start of epoch ``e`` the
global torch generator is reseeded with ``seed + e`` and the shuffling of
:class:`~torch.utils.data.distributed.DistributedSampler` uses ``seed`` and ``e`` (it is
used with one replica too, so one process and ``torchrun`` see the same global batches).
Hence a run resumed from a checkpoint replays exactly the random choices (order,
crops, flips) of an uninterrupted one; with ``deterministic=True``
(:func:`torch.use_deterministic_algorithms`) the weights are equal bit for bit, also
after an interruption in the middle of an epoch (the consumed batches are re-drawn and
skipped).

Data parallelism. Under ``torchrun`` (``WORLD_SIZE > 1``) every process holds a replica
wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` (NCCL on CUDA, gloo on
CPU) and takes ``batch_size / world_size`` images of each global batch; averaging the
gradients gives the single-process update up to floating-point reduction order, exactly
so for networks without BatchNorm. With BatchNorm each process normalises with its own
batch statistics unless ``sync_batchnorm`` converts them to
:class:`~torch.nn.SyncBatchNorm` (CUDA only in PyTorch).
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torch.utils.data.distributed import DistributedSampler

from .._names import MODEL_NAMES, NORM_NAMES
from .checkpoint import load_checkpoint, save_checkpoint
from .data import load_dataset, num_classes_of
from .metrics import MetricsLogger

__all__ = [
    "TrainConfig",
    "train",
    "evaluate",
    "evaluate_checkpoint",
    "build_model",
    "NonFiniteLossError",
    "TrainingInterrupted",
    "MODELS",
]

MODELS = MODEL_NAMES
NORMS = NORM_NAMES


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(Exception):
    """Ctrl-C (SIGINT) stopped training after a batch; a checkpoint was saved."""

    def __init__(self, message: str, checkpoint: Path | None):
        super().__init__(message)
        self.checkpoint = checkpoint


@dataclass
class TrainConfig:
    """Everything that defines a run; stored in every checkpoint (plain JSON types)."""

    model: str = "resnet"
    depth: int = 1001
    subnetworks: int = 3
    coarse_units: int | None = None
    norm: str = "batch"
    dataset: str = "cifar10"
    data_dir: str = "data"
    download: bool = False
    augment: bool = True
    train_size: int | None = None  # synthetic sets only
    test_size: int | None = None
    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    milestones: list[int] = field(default_factory=lambda: [80, 120])
    gamma: float = 0.1
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    amp: str = "none"
    channels_last: bool = False
    sync_batchnorm: bool = False
    workers: int = 4
    output_dir: str = "runs/default"
    eval_every: int = 1
    plot: bool = False

    def __post_init__(self):
        _choice("model", self.model, MODELS)
        _choice("norm", self.norm, NORMS)
        _choice("amp", self.amp, ("none", "bf16"))
        _choice("device", self.device, ("auto", "cpu", "cuda"))
        for name in ("depth", "subnetworks", "epochs", "batch_size", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int; got {value!r}.")
        if self.workers < 0:
            raise ValueError(f"`workers` must be >= 0; got {self.workers}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"`lr` must be a positive finite number; got {self.lr!r}.")
        self.milestones = sorted(int(m) for m in self.milestones)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _choice(name, value, options):
    if value not in options:
        raise ValueError(f"`{name}` must be one of {list(options)}; got {value!r}.")


def build_model(config: TrainConfig) -> nn.Module:
    """The network named by ``config`` (initialised from the current torch generator)."""
    from parareal_toolkit.nn.resnet import preact_resnet

    norm_layer = None if config.norm == "batch" else (lambda channels: nn.Identity())
    num_classes = num_classes_of(config.dataset)
    if config.model == "resnet":
        return preact_resnet(config.depth, num_classes, norm_layer=norm_layer)
    from parareal_toolkit.nn.parareal_resnets import parareal_resnet

    return parareal_resnet(
        config.depth,
        num_subnetworks=config.subnetworks,
        coarse_units=config.coarse_units,
        num_classes=num_classes,
        norm_layer=norm_layer,
    )


# ----------------------------------------------------------------------------- helpers


class _Distributed:
    """Rank, world size and device of this process (``torchrun`` or a single process)."""

    def __init__(self, device_name: str):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
        if use_cuda and not torch.cuda.is_available():
            raise ValueError("`device` is 'cuda' but torch.cuda.is_available() is False.")
        self.device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
        self.enabled = self.world_size > 1
        if self.enabled and not torch.distributed.is_initialized():
            if use_cuda:
                torch.cuda.set_device(self.device)
            torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
            self._owns_group = True
        else:
            self._owns_group = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_true(self, flag: bool) -> bool:
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MIN)
        return bool(t.item())

    def sum(self, values: list[float]) -> list[float]:
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def barrier(self):
        if self.enabled:
            torch.distributed.barrier()

    def close(self):
        if self._owns_group:
            torch.distributed.destroy_process_group()


class _StopOnSigint:
    """Turn the first Ctrl-C into a flag checked between batches; a second one aborts."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _set_determinism(config: TrainConfig, device: torch.device):
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def _loader(dataset, *, batch_size, shuffle, dist: _Distributed | None, seed, workers, device):
    sampler = None
    if shuffle:
        world, rank = (dist.world_size, dist.rank) if dist else (1, 0)
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=False)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=False,
    )


def _test_shard(dataset, dist: _Distributed):
    """Every process evaluates ``dataset[rank::world]``; sums are all-reduced (no padding)."""
    if not dist.enabled:
        return dataset
    return Subset(dataset, range(dist.rank, len(dataset), dist.world_size))


@torch.no_grad()
def evaluate(model: nn.Module, loader, *, device=None, amp: str = "none", channels_last: bool = False) -> dict:
    """Mean cross-entropy loss, error rate and image count of ``model`` (eval mode) on ``loader``."""
    device = torch.device("cpu") if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    loss_sum, wrong, count = 0.0, 0, 0
    try:
        for images, labels in loader:
            images, labels = _to_device(images, labels, device, channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
                logits = model(images)
            loss_sum += nn.functional.cross_entropy(logits.float(), labels, reduction="sum").item()
            wrong += (logits.argmax(1) != labels).sum().item()
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


def _to_device(images, labels, device, channels_last):
    images = images.to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, labels.to(device, non_blocking=True)


def _rng_seed(seed: int, epoch: int) -> int:
    return seed + epoch


# ----------------------------------------------------------------------------- training


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    on_batch_end: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Train as ``config`` says, checkpointing to ``<output_dir>/checkpoint.pt`` each epoch.

    ``resume=True`` continues from that checkpoint (model, optimiser, scheduler, epoch and
    position inside the epoch); the checkpoint's configuration wins except for ``epochs``,
    ``output_dir``, ``data_dir``, ``workers``, ``device`` and ``eval_every``.
    Without ``resume`` an existing checkpoint there is an error unless ``overwrite``.
    ``on_batch_end(epoch, step, loss)`` is called after every optimiser step (0-based epoch,
    1-based step). Returns the final summary, also written to ``<output_dir>/final.json``.

    Raises :class:`NonFiniteLossError` if the loss is NaN or infinite (nothing is saved
    from the failing epoch) and :class:`TrainingInterrupted` after Ctrl-C (the state after
    the last completed batch is saved).
    """
    run_dir = Path(config.output_dir)
    checkpoint_path = run_dir / "checkpoint.pt"
    state = None
    if not resume and not overwrite and checkpoint_path.exists():
        raise ValueError(
            f"{checkpoint_path} already exists; pass --resume to continue that run, --overwrite to start "
            "again from scratch, or choose another --output-dir."
        )
    if resume:
        state = load_checkpoint(checkpoint_path)
        saved = dict(state["config"])
        for key in ("epochs", "output_dir", "data_dir", "workers", "device", "eval_every", "plot", "download"):
            saved[key] = getattr(config, key)
        config = TrainConfig.from_dict(saved)

    dist = _Distributed(config.device)
    device = dist.device
    # process-wide switches set for this run only, so that a caller (a notebook, a test
    # session) gets its own settings back
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    try:
        result = _train(config, state, dist, device, run_dir, checkpoint_path, progress, on_batch_end)
        dist.barrier()  # leave together: a rank exiting under a live gloo peer can abort
        return result
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.benchmark = previous[1]
        dist.close()


def _train(config, state, dist, device, run_dir, checkpoint_path, progress, on_batch_end):
    from tqdm.auto import tqdm

    if device.type != "cuda" and (config.amp != "none" or config.channels_last or config.sync_batchnorm):
        raise ValueError("--amp bf16, --channels-last and --sync-batchnorm need CUDA; this run is on the CPU.")
    if config.batch_size % dist.world_size:
        raise ValueError(
            f"`batch_size` ({config.batch_size}) must be divisible by the number of processes ({dist.world_size})."
        )
    _set_determinism(config, device)

    torch.manual_seed(config.seed)
    model = build_model(config).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.sync_batchnorm and dist.enabled:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=config.milestones, gamma=config.gamma)

    start_epoch, start_step, partial, best_error = 0, 0, None, None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, start_step = state["epoch"], state.get("step", 0)
        partial = state.get("partial")
        best_error = state.get("best_test_error")

    train_model = model
    if dist.enabled:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    train_set = load_dataset(
        config.dataset,
        train=True,
        data_dir=config.data_dir,
        download=config.download and dist.is_main,
        augment=config.augment,
        size=config.train_size,
        seed=config.seed,
    )
    dist.barrier()  # rank 0 may have downloaded
    test_set = load_dataset(
        config.dataset, train=False, data_dir=config.data_dir, size=config.test_size, seed=config.seed
    )
    per_process_batch = config.batch_size // dist.world_size
    train_loader = _loader(
        train_set,
        batch_size=per_process_batch,
        shuffle=True,
        dist=dist,
        seed=config.seed,
        workers=config.workers,
        device=device,
    )
    test_loader = _loader(
        _test_shard(test_set, dist),
        batch_size=per_process_batch,
        shuffle=False,
        dist=None,
        seed=config.seed,
        workers=config.workers,
        device=device,
    )

    logger = MetricsLogger(run_dir, resume_after_epoch=start_epoch) if dist.is_main else None
    num_params = sum(p.numel() for p in model.parameters())
    train_start = time.perf_counter()
    summary_extra = {"parameters": num_params, "world_size": dist.world_size, "device": str(device)}

    def checkpoint(epoch, step, partial_sums):
        if not dist.is_main:
            return None
        return save_checkpoint(
            checkpoint_path,
            {
                "config": asdict(config),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "step": step,
                "partial": partial_sums,
                "best_test_error": best_error,
            },
        )

    with _StopOnSigint() as stop:
        for epoch in range(start_epoch, config.epochs):
            torch.manual_seed(_rng_seed(config.seed, epoch))
            train_loader.sampler.set_epoch(epoch)
            skip = start_step if epoch == start_epoch else 0
            sums = dict(partial) if (skip and partial) else {"loss_sum": 0.0, "wrong": 0, "count": 0, "time": 0.0}
            train_model.train()
            epoch_start = time.perf_counter()
            bar = tqdm(
                total=len(train_loader),
                initial=skip,
                desc=f"epoch {epoch + 1}/{config.epochs}",
                disable=not (progress and dist.is_main),
                unit="batch",
                dynamic_ncols=True,
                leave=False,
            )
            iterator = iter(train_loader)
            step = 0
            interrupted = False
            while True:
                try:
                    images, labels = next(iterator)
                except StopIteration:
                    break
                except RuntimeError:
                    if stop.requested:  # a DataLoader worker died of the same Ctrl-C
                        interrupted = True
                        break
                    raise
                step += 1
                if step <= skip:  # already trained on before the interruption
                    continue
                images, labels = _to_device(images, labels, device, config.channels_last)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp == "bf16"):
                    logits = train_model(images)
                    loss = nn.functional.cross_entropy(logits.float(), labels)
                loss_value = loss.item()
                if not dist.all_true(math.isfinite(loss_value)):
                    bar.close()
                    kept = (
                        f"the last good checkpoint, {checkpoint_path}, is kept unchanged"
                        if checkpoint_path.is_file()
                        else "no checkpoint was saved (no epoch completed)"
                    )
                    raise NonFiniteLossError(
                        f"training loss became {loss_value} in epoch {epoch + 1}, batch {step}; stopped: "
                        f"{kept}. Try a smaller --lr."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                n = labels.numel()
                sums["loss_sum"] += loss_value * n
                sums["wrong"] += int((logits.argmax(1) != labels).sum().item())
                sums["count"] += n
                if on_batch_end is not None:
                    on_batch_end(epoch, step, loss_value)
                elapsed = sums["time"] + time.perf_counter() - epoch_start
                bar.update(1)
                if bar.n % 10 == 0 or bar.n == bar.total:
                    bar.set_postfix(
                        loss=f"{sums['loss_sum'] / sums['count']:.3f}",
                        acc=f"{1 - sums['wrong'] / sums['count']:.3f}",
                        img_s=f"{sums['count'] * dist.world_size / max(elapsed, 1e-9):.0f}",
                    )
                if not dist.all_true(not stop.requested):
                    interrupted = True
                    break
            bar.close()
            sums["time"] += time.perf_counter() - epoch_start
            if interrupted:
                saved = checkpoint(epoch, step if step > skip else skip, sums)
                raise TrainingInterrupted(
                    f"interrupted in epoch {epoch + 1} after batch {max(step, skip)}; checkpoint saved to "
                    f"{checkpoint_path}; continue with --resume.",
                    saved,
                )

            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            train_loss, train_wrong, train_count = dist.sum([sums["loss_sum"], sums["wrong"], sums["count"]])
            row = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": train_loss / train_count,
                "train_error": train_wrong / train_count,
                "images_per_s": train_count / max(sums["time"], 1e-9),
                "epoch_time_s": sums["time"],
            }
            if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
                result = evaluate(model, test_loader, device=device, amp=config.amp, channels_last=config.channels_last)
                loss_sum, wrong, count = dist.sum([result["loss_sum"], result["wrong"], result["images"]])
                row["test_loss"], row["test_error"] = loss_sum / count, wrong / count
                best_error = row["test_error"] if best_error is None else min(best_error, row["test_error"])
            if dist.is_main:
                logger.log(row)
                checkpoint(epoch + 1, 0, None)
                if progress:
                    tqdm.write(_format_row(row))
            dist.barrier()

    summary = _summary(
        config, logger.rows if logger else [], best_error, time.perf_counter() - train_start, summary_extra
    )
    if dist.is_main:
        (run_dir / "final.json").write_text(json.dumps(summary, indent=2) + "\n")
        if config.plot and summary["epochs_completed"]:
            from .plots import plot_training_curves

            plot_training_curves([run_dir], path=run_dir / "curves.png")
    return summary


def _format_row(row: dict) -> str:
    text = (
        f"epoch {row['epoch']}: lr {row['lr']:.4g} train loss {row['train_loss']:.4f} "
        f"error {100 * row['train_error']:.2f}%"
    )
    if "test_error" in row:
        text += f" | test loss {row['test_loss']:.4f} error {100 * row['test_error']:.2f}%"
    return text + f" | {row['images_per_s']:.0f} images/s"


def _summary(config, rows, best_error, seconds, extra) -> dict:
    last = rows[-1] if rows else {}
    return {
        "config": asdict(config),
        "epochs_completed": last.get("epoch", 0),
        "final_train_loss": last.get("train_loss"),
        "final_test_loss": last.get("test_loss"),
        "final_test_error": last.get("test_error"),
        "best_test_error": best_error,
        "wall_time_s": seconds,
        **extra,
    }


def evaluate_checkpoint(
    path,
    *,
    data_dir: str | None = None,
    batch_size: int = 256,
    device: str = "auto",
    workers: int = 2,
) -> dict:
    """Error rate and mean loss of a checkpoint's model on its dataset's test split."""
    state = load_checkpoint(path)
    config = TrainConfig.from_dict(state["config"])
    dev = torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")
    model = build_model(config)
    model.load_state_dict(state["model"])
    model.to(dev)
    test_set = load_dataset(
        config.dataset, train=False, data_dir=data_dir or config.data_dir, size=config.test_size, seed=config.seed
    )
    loader = DataLoader(test_set, batch_size=batch_size, num_workers=workers)
    result = evaluate(model, loader, device=dev)
    return {
        "checkpoint": str(path),
        "dataset": config.dataset,
        "model": config.model,
        "depth": config.depth,
        "epoch": state["epoch"],
        "error": result["error"],
        "loss": result["loss"],
        "images": result["images"],
    }
