"""The configuration of a training run: model, data, recipe and run settings.

Defaults are the seed recipe (He et al. 2016; Lee, Park, Lee): batch 128, 200 epochs, SGD
with momentum 0.9 and weight decay 5e-4, learning rate 0.1 divided by 10 at epochs 80 and
120 (:class:`torch.optim.lr_scheduler.MultiStepLR`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from .._names import AMP_NAMES, DATASET_NAMES, DEVICE_NAMES, MODEL_NAMES, NORM_NAMES
from .._validation import check_choice, check_int, check_ints, check_real, check_timeout
from ..backends.errors import DEFAULT_TIMEOUT_S

__all__ = ["TrainConfig", "RUN_SETTINGS"]

# Settings that say how and where a run executes, not what it computes: on resume they come
# from the caller, everything else from the checkpoint (the run it continues).
RUN_SETTINGS = ("epochs", "output_dir", "data_dir", "workers", "device", "eval_every", "plot", "download", "timeout")

# counts that must be at least 1; the message says "positive int" (tests match on it)
_POSITIVE_COUNTS = ("depth", "subnetworks", "epochs", "batch_size", "eval_every")


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored in every checkpoint (plain JSON types).

    Construction validates every field: ``TypeError`` for a value of the wrong kind,
    ``ValueError`` naming the field for an out-of-range value or an unknown choice.
    ``milestones`` is stored sorted.
    """

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
    timeout: float = DEFAULT_TIMEOUT_S  # seconds any collective waits for the other processes (torchrun)

    def __post_init__(self) -> None:
        check_choice(self.model, "model", MODEL_NAMES)
        check_choice(self.norm, "norm", NORM_NAMES)
        check_choice(self.dataset, "dataset", DATASET_NAMES)
        check_choice(self.amp, "amp", AMP_NAMES)
        check_choice(self.device, "device", DEVICE_NAMES)
        for name in _POSITIVE_COUNTS:
            value = check_int(getattr(self, name), name)
            if value < 1:
                raise ValueError(f"`{name}` must be a positive int; got {value!r}.")
            setattr(self, name, value)
        for name in ("coarse_units", "train_size", "test_size"):
            if getattr(self, name) is not None:
                setattr(self, name, check_int(getattr(self, name), name, minimum=1))
        self.workers = check_int(self.workers, "workers", minimum=0)
        self.seed = check_int(self.seed, "seed", minimum=0)
        self.lr = check_real(self.lr, "lr", minimum=0, strict=True)
        self.momentum = check_real(self.momentum, "momentum", minimum=0)
        self.weight_decay = check_real(self.weight_decay, "weight_decay", minimum=0)
        self.gamma = check_real(self.gamma, "gamma", minimum=0, strict=True)
        self.timeout = check_timeout(self.timeout)
        self.milestones = sorted(check_ints(self.milestones, "milestones", minimum=1, nonempty=False))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The configuration stored in a checkpoint or ``final.json`` (unknown keys are ignored).

        Returns
        -------
        TrainConfig
            The validated configuration.
        """
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def continuing(self, saved: TrainConfig) -> TrainConfig:
        """The configuration that resumes ``saved``: its model, data and recipe, this run's settings.

        The fields in :data:`RUN_SETTINGS` (epochs, output and data folders, workers, device,
        evaluation interval, plotting, download, timeout) come from ``self``, every other field from
        ``saved``, so a resumed run computes what the interrupted one would have.

        Returns
        -------
        TrainConfig
            A new configuration; neither input is changed.
        """
        return replace(saved, **{name: getattr(self, name) for name in RUN_SETTINGS})
