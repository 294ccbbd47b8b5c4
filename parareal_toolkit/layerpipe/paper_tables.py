"""LayerPipe against PipeDream as tables: the numbers the documentation shows, computed.

The simulation is deterministic (cycles are multiply-adds counted from layer shapes), so
the pages call these functions while they are built instead of quoting a run: a change to
the simulator or to the reading of the paper changes the tables with it.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Iterable
from typing import Any

from .._validation import check_choice, check_ints
from ..results import results_table
from .comparison import PAPER_AVERAGE_SPEEDUP, PAPER_PEAK_SPEEDUP, compare
from .costs import NETWORKS, network_profile

__all__ = ["speedup_table", "claims_table"]

_PEAK_PROCESSORS = (7, 8, 9)  # the abstract's "with 7 to 9 processors"


@functools.lru_cache(maxsize=8)
def _pairs(network: str, processors: tuple[int, ...]) -> tuple[tuple[int, dict[str, Any], dict[str, Any]], ...]:
    rows = compare(network_profile(network), processors, ["pipedream", "layerpipe"])
    by_p = {(r["processors"], r["schedule"]): r for r in rows}
    return tuple((p, by_p[p, "pipedream"], by_p[p, "layerpipe"]) for p in processors)


def _checked(network: str, processors: Iterable[int]) -> tuple[str, tuple[int, ...]]:
    network = check_choice(network, "network", NETWORKS)
    return network, tuple(check_ints(processors, "processors", minimum=1))


def speedup_table(network: str = "vgg16", processors: Iterable[int] = range(2, 10)) -> dict[str, Any]:
    """LayerPipe's speedup over PipeDream and its communication, per processor count.

    Speedup = PipeDream's steady-state cycles per micro-batch / LayerPipe's, at the same
    P, with free communication; communication = data sent between processors per
    micro-batch, LayerPipe's over PipeDream's.

    Parameters
    ----------
    network : str
        One of :data:`NETWORKS` (default ``"vgg16"``, the paper's).
    processors : iterable of int
        The processor counts P (default 2 to 9).

    Returns
    -------
    dict
        A :func:`~parareal_toolkit.results.results_table`: one row per P.

    Examples
    --------
    >>> table = speedup_table(processors=[2])
    >>> table["columns"][:2], table["rows"][0][:1]
    (['P', 'PipeDream cycles/micro-batch'], ['2'])
    """
    network, processors = _checked(network, processors)
    rows = [
        [
            str(p),
            f"{pipedream['cycles_per_microbatch']:.4e}",
            f"{layerpipe['cycles_per_microbatch']:.4e}",
            f"{layerpipe['speedup']:.3f}",
            f"{layerpipe['communication_per_microbatch'] / pipedream['communication_per_microbatch']:.2f}",
        ]
        for p, pipedream, layerpipe in _pairs(network, processors)
    ]
    return results_table(
        f"LayerPipe against PipeDream on {network}, free communication (simulated)",
        [
            "P",
            "PipeDream cycles/micro-batch",
            "LayerPipe cycles/micro-batch",
            "LayerPipe speedup",
            "LayerPipe communication / PipeDream's",
        ],
        rows,
    )


def claims_table(network: str = "vgg16", processors: Iterable[int] = range(2, 10)) -> dict[str, Any]:
    """The LayerPipe abstract's three claims beside the simulation.

    The average speedup over all ``processors``, the largest at P = 7 to 9 (those among
    ``processors``) and the range of the communication ratio.

    Parameters
    ----------
    network : str
        One of :data:`NETWORKS` (default ``"vgg16"``).
    processors : iterable of int
        The processor counts P averaged over (default 2 to 9).

    Returns
    -------
    dict
        A :func:`~parareal_toolkit.results.results_table` with columns claim, paper,
        simulated.
    """
    network, processors = _checked(network, processors)
    pairs = _pairs(network, processors)
    speedups = {p: layerpipe["speedup"] for p, _, layerpipe in pairs}
    ratios = [
        layerpipe["communication_per_microbatch"] / pipedream["communication_per_microbatch"]
        for _, pipedream, layerpipe in pairs
    ]
    peak = [speedups[p] for p in _PEAK_PROCESSORS if p in speedups]
    span = f"P = {min(processors)}..{max(processors)}"
    rows = [
        [
            f"average speedup over PipeDream ({span})",
            f"{PAPER_AVERAGE_SPEEDUP:.2f}x",
            f"{statistics.fmean(speedups.values()):.2f}x",
        ],
        [
            "largest speedup with 7 to 9 processors",
            f">= {PAPER_PEAK_SPEEDUP:.2f}x",
            f"{max(peak):.2f}x" if peak else "n/a (no P in 7..9)",
        ],
        [
            "communication per micro-batch, LayerPipe / PipeDream",
            "< 1 (less)",
            f"{min(ratios):.2f} to {max(ratios):.2f}",
        ],
    ]
    return results_table(
        f"The LayerPipe abstract's claims and the simulation of our reading ({network}, free communication)",
        ["claim", "paper (abstract)", "simulated here"],
        rows,
    )
