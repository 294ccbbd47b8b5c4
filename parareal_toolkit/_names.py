"""The names users choose from, in one torch-free place.

The library's registries are built from these tuples (and a test checks that each registry
holds exactly these names), and the ``parareal`` command's parser offers them as
``choices`` without importing torch or scipy.
"""

from __future__ import annotations

__all__ = [
    "FORMS",
    "BACKEND_NAMES",
    "PROBLEM_NAMES",
    "VERIFY_CASES",
    "DATASET_NAMES",
    "MODEL_NAMES",
    "NORM_NAMES",
    "DEVICE_NAMES",
    "AMP_NAMES",
    "PLACEMENT_NAMES",
    "RUN_DEFINING_FIELDS",
    "CLOCKS",
    "NETWORK_NAMES",
    "SYNCHRONOUS_SCHEDULES",
    "ASYNCHRONOUS_SCHEDULES",
    "SCHEDULE_NAMES",
    "RUNTIME_SCHEDULES",
]

# the driver
FORMS = ("standard", "correction")
BACKEND_NAMES = ("serial", "batched", "processes", "devices", "distributed")

# ODEs
PROBLEM_NAMES = ("heat1d", "heat2d", "advection", "oscillator", "dahlquist")

# networks and training
VERIFY_CASES = ("linear", "linear+bias", "relu", "batchnorm")
DATASET_NAMES = ("cifar10", "cifar100", "fake", "patterns")
MODEL_NAMES = ("resnet", "parareal-resnet")
NORM_NAMES = ("batch", "none")
DEVICE_NAMES = ("auto", "cpu", "cuda")
AMP_NAMES = ("none", "bf16")
# where a parareal network's slices run while it trains: one device, one device per slice in
# one process, or one group of slices per torchrun rank
PLACEMENT_NAMES = ("single", "devices", "distributed")
# the TrainConfig fields (and `parareal train` options) that define a run: model, data,
# optimisation; a resumed run must agree with its checkpoint on these, the rest may change
RUN_DEFINING_FIELDS = (
    "model",
    "depth",
    "subnetworks",
    "coarse_units",
    "norm",
    "dataset",
    "augment",
    "train_size",
    "test_size",
    "seed",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "milestones",
    "gamma",
)

# timing (Table 2)
CLOCKS = ("wall", "process")

# LayerPipe
NETWORK_NAMES = ("vgg16", "resnet18", "resnet34", "resnet50")
SYNCHRONOUS_SCHEDULES = ("sequential", "gpipe", "1f1b", "zb-h1", "zb-h2", "layerpipe-flush")
ASYNCHRONOUS_SCHEDULES = ("pipedream", "pipedream-replicated", "layerpipe")
SCHEDULE_NAMES = SYNCHRONOUS_SCHEDULES + ASYNCHRONOUS_SCHEDULES
RUNTIME_SCHEDULES = ("gpipe", "1f1b", "zb-h1", "layerpipe-flush")
