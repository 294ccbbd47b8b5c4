"""The seed paper's Tables 1 and 2: its measurements, kept for side-by-side comparison only.

Lee, Park & Lee time ResNet-1001 (N = 1) and Parareal ResNet-N on CIFAR input at batch 128
on an NVIDIA Titan RTX (Table 2), and report their test errors on CIFAR-10 and CIFAR-100
after 200 epochs (Table 1). These are the PAPER's numbers, not ours; the harness prints
Table 2 beside every run and plots it next to it, and the documentation shows both tables
from here (never typed into a page).
"""

from __future__ import annotations

from typing import TypedDict

__all__ = [
    "SEED_TABLE1",
    "SEED_TABLE1_SOURCE",
    "SEED_TABLE2",
    "SEED_TABLE2_SOURCE",
    "SEED_DEPTH",
    "SeedRow",
    "seed_speedup",
]

SEED_TABLE2_SOURCE = (
    "Lee, Park & Lee, 'Parareal neural networks emulating a parallel-in-time algorithm', "
    "Table 2: ResNet-1001 (N = 1) and Parareal ResNet-N, CIFAR input, batch 128, "
    "NVIDIA Titan RTX (Intel Xeon Gold 5515 host); seconds per gradient iteration"
)

SEED_DEPTH = 1001  # the ResNet the paper times

SEED_TABLE1_SOURCE = (
    "Lee, Park & Lee, 'Parareal neural networks emulating a parallel-in-time algorithm', "
    "Table 1: test error (%) of ResNet-1001 (N = 1) and Parareal ResNet-N after 200 epochs"
)

# The paper's Table 1, verbatim (test error in percent); keys: N (1: ResNet-1001).
SEED_TABLE1: dict[int, dict[str, float]] = {
    1: {"cifar10": 5.03, "cifar100": 21.13},
    3: {"cifar10": 4.51, "cifar100": 21.02},
    6: {"cifar10": 4.35, "cifar100": 20.94},
    12: {"cifar10": 4.37, "cifar100": 20.77},
    18: {"cifar10": 4.11, "cifar100": 20.46},
}


class SeedRow(TypedDict):
    """One row of the paper's Table 2, in seconds per gradient iteration."""

    preprocess: float
    subnetworks: float
    coarse: float | None  # None for N = 1: there is no coarse network
    postprocess: float
    total: float


# The paper's Table 2, verbatim (seconds); keys: N.
SEED_TABLE2: dict[int, SeedRow] = {
    1: {"preprocess": 0.0010, "subnetworks": 1.4588, "coarse": None, "postprocess": 0.0009, "total": 1.4607},
    3: {"preprocess": 0.0012, "subnetworks": 0.5966, "coarse": 0.0543, "postprocess": 0.0008, "total": 0.6529},
    6: {"preprocess": 0.0019, "subnetworks": 0.3062, "coarse": 0.0638, "postprocess": 0.0007, "total": 0.3726},
    12: {"preprocess": 0.0023, "subnetworks": 0.1583, "coarse": 0.0797, "postprocess": 0.0009, "total": 0.2412},
    18: {"preprocess": 0.0025, "subnetworks": 0.1067, "coarse": 0.1224, "postprocess": 0.0010, "total": 0.2326},
    24: {"preprocess": 0.0020, "subnetworks": 0.0797, "coarse": 0.1701, "postprocess": 0.0008, "total": 0.2526},
}


def seed_speedup(num_subnetworks: int) -> float:
    """The paper's virtual speedup at N: ``total(1) / total(N)`` (6.28 at N = 18).

    Returns
    -------
    float
        The speedup of Parareal ResNet-N over ResNet-1001 on the paper's Titan RTX.
    """
    return SEED_TABLE2[1]["total"] / SEED_TABLE2[num_subnetworks]["total"]
