"""The configuration of a training run: model, data, recipe and run settings.

Defaults are the seed recipe (He et al. 2016; Lee, Park, Lee): batch 128, 200 epochs, SGD
with momentum 0.9 and weight decay 5e-4, learning rate 0.1 divided by 10 at epochs 80 and
120 (:class:`torch.optim.lr_scheduler.MultiStepLR`).

The fields fall in two kinds. :data:`RUN_DEFINING` fields say *what* a run computes: the
network and how its forward and backward run (``model``, ``depth``, ``subnetworks``,
``coarse_units``, ``split``, ``norm``, ``layer_parallel`` and the ``mgrit_*`` options: an
inexact MGRIT solve changes the updates), the data
(``dataset``, ``image_size``, ``mean``, ``std``, ``augment``, ``flip``, ``train_size``, ``test_size``,
``seed``) and the optimisation
(``batch_size``, ``lr``, ``momentum``, ``weight_decay``, ``milestones``, ``gamma``); a
resumed run must agree with its checkpoint on every one of them. Every other field
(:data:`RUN_SETTINGS`: ``epochs``, folders, ``download``, ``workers``, ``device``,
``threads``, ``amp``, ``channels_last``, ``sync_batchnorm``, ``deterministic``,
``eval_every``, ``plot``, ``placement``, ``slice_groups``, ``devices``) says how and where
the run executes or how long it goes on, and may change when it is resumed. The placement
is a run setting because every placement computes the same updates (see
``parareal_toolkit.training.placement``) and writes the same checkpoint: a run trained
slice-parallel under torchrun may continue in one process, and the other way round.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from .._names import (
    AMP_NAMES,
    DATASET_NAMES,
    DEVICE_NAMES,
    LAYER_PARALLEL_BACKWARD_NAMES,
    LAYER_PARALLEL_NAMES,
    MODEL_NAMES,
    NORM_NAMES,
    RUN_DEFINING_FIELDS,
    SPLIT_NAMES,
)
from .._validation import check_choice, check_int, check_ints, check_real, check_real_array, check_timeout
from ..backends.errors import DEFAULT_TIMEOUT_S
from ..errors import InputError, InputTypeError
from .placement import PLACEMENTS

__all__ = ["TrainConfig", "RUN_DEFINING", "RUN_SETTINGS"]

# What a run computes: the model, the data and the optimisation. A resumed run must agree with
# its checkpoint on these; every other field is a run setting (see RUN_SETTINGS below).
RUN_DEFINING = RUN_DEFINING_FIELDS

# the largest seed torch's generators take, less room for ``seed + epoch``
_MAX_SEED = 2**63 - 1

_SWITCHES = ("download", "augment", "flip", "deterministic", "channels_last", "sync_batchnorm", "plot")

# counts that must be at least 1; the message says "positive int" (tests match on it)
_POSITIVE_COUNTS = ("depth", "subnetworks", "epochs", "batch_size", "eval_every")


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored in every checkpoint (plain JSON types).

    Construction validates every field: ``TypeError`` for a value of the wrong kind,
    ``ValueError`` naming the field for an out-of-range value, a non-finite number or an
    unknown choice. ``milestones`` is stored sorted. ``train_size`` and ``test_size`` are
    the sizes of the synthetic sets (``fake``, ``patterns``) and are refused for CIFAR,
    whose size is fixed. ``split`` is how a ``parareal-resnet`` cuts its units: the seed's
    equal counts (``"units"``) or balanced multiply-adds (``"cost"``, counted, so that a
    checkpoint rebuilds the same network on any machine). ``image_size``, ``mean`` and
    ``std`` apply to ``dataset="imagefolder"`` only (default: from the training images).
    ``threads`` is the number of torch intra-op threads (default: 1 on
    the CPU, where the tensors of a batch are small and extra threads of a busy machine
    spin-wait; torch's default on CUDA); a ``deterministic`` CPU run uses one thread (see
    :class:`~parareal_toolkit.training.RunEnvironment`). ``augment`` pads each training
    image by a side/8 border, crops it back at a random offset and, if ``flip``, mirrors it
    left-right with probability 1/2; set ``flip=False`` for images whose mirror image is
    another class or none (digits, text).

    ``layer_parallel="mgrit"`` trains a plain ``resnet`` as a
    :class:`~parareal_toolkit.nn.LayerParallelResNet`: each stage's equal-shape units solved
    across the layers by MGRIT, ``mgrit_iterations`` iterations per forward (``None``, the
    default: the count that makes it exact), ``mgrit_levels`` levels (default 2),
    ``mgrit_coarsening`` (default 2) and the gradient by ``mgrit_backward`` (``"adjoint"``,
    the default: MGRIT on the adjoint with as many iterations, or ``"autograd"`` through the
    iterations). The ``mgrit_*`` fields need it. Its checkpoint is a plain ResNet's, and the
    test error is measured with the serial forward (the network the checkpoint holds).

    ``placement`` says where a parareal network's slices (``C^j`` with ``g^j``) train:
    ``"single"`` (default) on one device; ``"devices"`` slice ``j`` on ``devices[j % len]``
    in one process (default ``devices``: every visible GPU, or the CPU); ``"distributed"``
    under torchrun, each of ``slice_groups`` ranks owning a contiguous group of slices, and
    ``WORLD_SIZE / slice_groups`` data-parallel replicas of that slice-parallel network
    (default ``slice_groups``: the world size, one replica). ``"devices"`` and
    ``"distributed"`` need ``model="parareal-resnet"`` or ``layer_parallel="mgrit"`` (then
    the MGRIT blocks' parallel maps run over the devices or ranks); ``slice_groups`` needs
    ``"distributed"`` and ``devices`` needs ``"devices"``
    (``parareal_toolkit.training.placement``).

    Examples
    --------
    The seed recipe is the default; a run on the synthetic ``patterns`` data changes a few
    fields, and a bad value is refused with the field's name:

    >>> from parareal_toolkit.training import TrainConfig
    >>> config = TrainConfig(model="parareal-resnet", depth=20, subnetworks=3, dataset="patterns", epochs=2)
    >>> config.batch_size, config.lr, config.milestones, config.weight_decay
    (128, 0.1, [80, 120], 0.0005)
    >>> TrainConfig(depth=0)
    Traceback (most recent call last):
    ...
    parareal_toolkit.errors.InputError: ...depth...
    """

    model: str = "resnet"
    depth: int = 1001
    subnetworks: int = 3
    coarse_units: int | None = None
    split: str = "units"
    norm: str = "batch"
    layer_parallel: str = "none"
    mgrit_iterations: int | None = None  # None: the count that makes the solve exact
    mgrit_levels: int | None = None  # None: 2
    mgrit_coarsening: int | None = None  # None: 2
    mgrit_backward: str | None = None  # None: "adjoint"
    dataset: str = "cifar10"
    data_dir: str = "data"
    image_size: int | None = None  # image folders only
    mean: list[float] | None = None
    std: list[float] | None = None
    download: bool = False
    augment: bool = True  # pad, random crop and (with flip) horizontal flip of training images
    flip: bool = True
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
    threads: int | None = None  # torch intra-op threads; None: 1 on the CPU, torch's default on CUDA
    output_dir: str = "runs/default"
    eval_every: int = 1
    plot: bool = False
    timeout: float = DEFAULT_TIMEOUT_S  # seconds any collective waits for the other processes (torchrun)
    placement: str = "single"
    slice_groups: int | None = None  # ranks per slice-parallel network (placement "distributed")
    devices: list[str] | None = None  # one device per slice, cycled (placement "devices")

    def __post_init__(self) -> None:
        check_choice(self.model, "model", MODEL_NAMES)
        check_choice(self.norm, "norm", NORM_NAMES)
        check_choice(self.dataset, "dataset", DATASET_NAMES)
        check_choice(self.split, "split", SPLIT_NAMES)
        check_choice(self.amp, "amp", AMP_NAMES)
        check_choice(self.device, "device", DEVICE_NAMES)
        self._check_layer_parallel()
        self._check_placement()
        for name in _POSITIVE_COUNTS:
            value = check_int(getattr(self, name), name)
            if value < 1:
                raise InputError(f"`{name}` must be a positive int; got {value!r}.")
            setattr(self, name, value)
        for name in ("coarse_units", "train_size", "test_size", "threads", "image_size"):
            if getattr(self, name) is not None:
                setattr(self, name, check_int(getattr(self, name), name, minimum=1))
        for name in ("train_size", "test_size"):
            if getattr(self, name) is not None and self.dataset not in ("fake", "patterns"):
                raise InputError(
                    f"`{name}` sets the size of the synthetic datasets ('fake', 'patterns'); "
                    f"{self.dataset} has a fixed size; got {name}={getattr(self, name)!r}."
                )
        for name in ("image_size", "mean", "std"):
            if getattr(self, name) is not None and self.dataset != "imagefolder":
                raise InputError(
                    f"`{name}` applies to the 'imagefolder' dataset (CIFAR and the synthetic sets fix it); "
                    f"got {name}={getattr(self, name)!r} with dataset {self.dataset!r}."
                )
        for name in ("mean", "std"):
            if getattr(self, name) is not None:
                values = check_real_array(getattr(self, name), name, shape=(3,))
                if name == "std" and (values <= 0).any():
                    raise InputError(f"`std` must be three positive numbers (one per channel); got {values.tolist()}.")
                setattr(self, name, [float(v) for v in values])  # a checkpoint holds plain types only
        self.workers = check_int(self.workers, "workers", minimum=0)
        self.seed = check_int(self.seed, "seed", minimum=0, maximum=_MAX_SEED)
        self.lr = check_real(self.lr, "lr", minimum=0, strict=True)
        self.momentum = check_real(self.momentum, "momentum", minimum=0)
        self.weight_decay = check_real(self.weight_decay, "weight_decay", minimum=0)
        self.gamma = check_real(self.gamma, "gamma", minimum=0, strict=True)
        self.timeout = check_timeout(self.timeout)
        self.milestones = sorted(check_ints(self.milestones, "milestones", minimum=1, nonempty=False))
        for name in _SWITCHES:
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise InputTypeError(f"`{name}` must be a bool; got {value!r}.")
            setattr(self, name, bool(value))
        for name in ("data_dir", "output_dir"):  # stored as str: a checkpoint holds plain types only
            value = getattr(self, name)
            if not isinstance(value, (str, os.PathLike)):
                raise InputTypeError(f"`{name}` must be a path (str or os.PathLike); got {value!r}.")
            setattr(self, name, os.fspath(value))

    def _check_layer_parallel(self) -> None:
        check_choice(self.layer_parallel, "layer_parallel", LAYER_PARALLEL_NAMES)
        if self.layer_parallel != "none" and self.model != "resnet":
            raise InputError(
                f"`layer_parallel` {self.layer_parallel!r} solves a plain ResNet across its layers; it needs "
                f"model='resnet' (a parareal-resnet is the other road); got model={self.model!r}."
            )
        for name, minimum in (("mgrit_iterations", 1), ("mgrit_levels", 2), ("mgrit_coarsening", 2)):
            if getattr(self, name) is not None:
                setattr(self, name, check_int(getattr(self, name), name, minimum=minimum))
        if self.mgrit_backward is not None:
            check_choice(self.mgrit_backward, "mgrit_backward", LAYER_PARALLEL_BACKWARD_NAMES)
        if self.layer_parallel == "none":
            for name in ("mgrit_iterations", "mgrit_levels", "mgrit_coarsening", "mgrit_backward"):
                if getattr(self, name) is not None:
                    raise InputError(
                        f"`{name}` sets the MGRIT solve of layer_parallel='mgrit'; got {name}={getattr(self, name)!r} "
                        "with layer_parallel='none'."
                    )

    def _check_placement(self) -> None:
        check_choice(self.placement, "placement", tuple(PLACEMENTS))
        chosen = PLACEMENTS[self.placement]
        if chosen.splits_network and self.model != "parareal-resnet" and self.layer_parallel == "none":
            raise InputError(
                f"`placement` {self.placement!r} splits a parareal network's slices, or a layer-parallel ResNet's "
                "MGRIT sweeps, over devices or ranks; it needs model='parareal-resnet' or layer_parallel='mgrit'; "
                f"got model={self.model!r}."
            )
        for strategy in PLACEMENTS.values():  # each option belongs to one placement and needs it
            option = strategy.option
            if option is None or getattr(self, option) is None:
                continue
            value = strategy.check_option(getattr(self, option))
            if strategy is not chosen:
                raise InputError(
                    f"`{option}` ({strategy.option_meaning}) needs placement={strategy.name!r}; "
                    f"got {option}={value!r} with placement={self.placement!r}."
                )
            setattr(self, option, value)

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

    def resume_conflicts(self, saved: TrainConfig) -> dict[str, tuple[Any, Any]]:
        """The run-defining fields (:data:`RUN_DEFINING`) on which ``self`` and ``saved`` differ.

        A run may resume the checkpoint of ``saved`` only if this is empty: the model, the
        data and the optimisation are the same (run settings such as ``epochs`` may differ).

        Returns
        -------
        dict
            ``{field: (value in self, value in saved)}``, in :data:`RUN_DEFINING` order; empty
            when the two configurations define the same run.
        """
        if not isinstance(saved, TrainConfig):
            raise InputTypeError(f"`saved` must be a TrainConfig; got {type(saved).__name__}.")
        return {
            name: (getattr(self, name), getattr(saved, name))
            for name in RUN_DEFINING
            if getattr(self, name) != getattr(saved, name)
        }

    def continuing(self, saved: TrainConfig) -> TrainConfig:
        """The configuration that resumes ``saved``: its model, data and recipe, this run's settings.

        The fields in :data:`RUN_SETTINGS` (epochs, output and data folders, workers, device,
        threads, precision and determinism switches, evaluation interval, plotting, download, timeout,
        placement, slice groups, devices)
        come from ``self``, every other field from ``saved``, so a resumed run computes what
        the interrupted one would have. (:func:`~parareal_toolkit.training.train` first
        refuses a ``self`` whose ``resume_conflicts`` with ``saved`` are not empty.)

        Returns
        -------
        TrainConfig
            A new configuration; neither input is changed.
        """
        return replace(saved, **{name: getattr(self, name) for name in RUN_SETTINGS})


# How and where a run executes, or how long it goes on: every field that does not define the
# run. On resume they come from the caller, everything else from the checkpoint.
RUN_SETTINGS = tuple(f.name for f in fields(TrainConfig) if f.name not in RUN_DEFINING)
