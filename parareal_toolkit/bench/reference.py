"""The seed paper's Table 2: its measurements, kept for side-by-side comparison only.

Lee, Park & Lee time ResNet-1001 (N = 1) and Parareal ResNet-N on CIFAR input at batch 128
on an NVIDIA Titan RTX. These are the PAPER's numbers, not ours; the harness prints them
beside every run and plots them next to it.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["SEED_TABLE2", "SEED_TABLE2_SOURCE", "SEED_DEPTH", "SeedRow", "seed_speedup"]

SEED_TABLE2_SOURCE = (
    "Lee, Park & Lee, 'Parareal neural networks emulating a parallel-in-time algorithm', "
    "Table 2: ResNet-1001 (N = 1) and Parareal ResNet-N, CIFAR input, batch 128, "
    "NVIDIA Titan RTX (Intel Xeon Gold 5515 host); seconds per gradient iteration"
)

SEED_DEPTH = 1001  # the ResNet the paper times


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
