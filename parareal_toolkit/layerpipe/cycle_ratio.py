"""Maximum cycle ratio of a directed graph with node times, edge times and edge delays.

The period of a max-plus system (a task graph repeated every step, where an edge with
delay d links a task of step t - d to a task of step t) is the largest ratio, over its
directed cycles, of the time around the cycle to the delays around it (Reiter 1968). The
iteration bound of a dependency graph, the exact period of a periodic order and the
steady-state period of a run are all this ratio on a folded graph (``folding``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from .._validation import check_int, check_real
from ..errors import InputError

__all__ = ["Edge", "max_cycle_ratio"]

Edge = tuple[int, int, int, float]
"""``(from node, to node, delay, edge time)``: one edge of a cycle-ratio graph."""


def max_cycle_ratio(num_nodes: int, edges: Iterable[Edge], node_time: Sequence[float], *, rtol: float = 1e-12) -> float:
    """max over directed cycles of (sum of node times + edge times) / (sum of edge delays).

    ``edges``: iterable of ``(u, v, delay, edge_time)`` with integer delays (an edge may go
    back in steps, as a processor order from a later step to an earlier one does, as long as
    every cycle has a positive total delay or zero time); the time of node ``u`` counts on
    each edge leaving it. Parametric search: a cycle with ratio > lam exists iff the graph
    with edge weights lam * delay - time(u) - edge_time has a negative cycle (scipy's
    Bellman-Ford), bisected to relative tolerance ``rtol``.

    Returns
    -------
    float
        The maximum cycle ratio (within ``rtol``, from above); 0 for an acyclic graph.

    Raises
    ------
    ValueError
        If a cycle without delay has positive time (a deadlock).
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import NegativeCycleError, bellman_ford

    num_nodes = check_int(num_nodes, "num_nodes", minimum=0)
    rtol = check_real(rtol, "rtol", minimum=0, strict=True)
    edges = list(edges)
    if not edges:
        return 0.0
    times = np.asarray(node_time, dtype=float)

    src, dst, delay, edge_time = (np.asarray(x) for x in zip(*edges))
    src, dst = src.astype(np.intp), dst.astype(np.intp)
    delay, edge_time = delay.astype(float), edge_time.astype(float)
    # In units of the total time: scipy's Bellman-Ford misses negative cycles lighter than an
    # absolute epsilon (about 1e-15), and the bounds below are absolute too, so times of 1e-40
    # would read as no cycle at all. Dividing by the total is exact up to one rounding that
    # scaling every time by 2**k leaves unchanged: the ratio scales by 2**k exactly.
    unit = float(times.sum() + edge_time.sum())
    if unit > 0 and math.isfinite(unit):
        times, edge_time = times / unit, edge_time / unit
    else:
        unit = 1.0
    order = np.lexsort((dst, src))
    src, dst, delay, edge_time = src[order], dst[order], delay[order], edge_time[order]
    first = np.flatnonzero(np.r_[True, (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])])
    # a super source (node num_nodes) reaches every node, so one Bellman-Ford run from it
    # finds any negative cycle; its edges weigh -1 (never on a cycle) so none is implicit
    rows = np.r_[src[first], np.full(num_nodes, num_nodes)]
    cols = np.r_[dst[first], np.arange(num_nodes)]

    def has_cycle_above(lam: float) -> bool:
        weight = lam * delay - times[src] - edge_time
        data = np.r_[np.minimum.reduceat(weight, first), np.full(num_nodes, -1.0)]
        # built from coordinates, so zero weights stay explicit edges for csgraph
        graph = csr_matrix((data, (rows, cols)), shape=(num_nodes + 1, num_nodes + 1))
        try:
            bellman_ford(graph, directed=True, indices=num_nodes, return_predecessors=False)
        except NegativeCycleError:
            return True
        return False

    total = float(times.sum() + sum(c for *_, c in edges))
    hi = total + 1.0
    if has_cycle_above(hi * (1 + 1e-9) + 1.0):
        raise InputError("the dependency graph has a cycle without delay (deadlock).")
    if not has_cycle_above(0.0 if total > 0 else -1.0):
        return 0.0
    lo = 0.0
    while hi - lo > rtol * max(hi, 1e-300):
        mid = 0.5 * (lo + hi)
        if has_cycle_above(mid):
            lo = mid
        else:
            hi = mid
    return hi * unit
