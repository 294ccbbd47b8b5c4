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

from .._validation import check_int, check_real, check_real_array
from ..errors import InputError, InputTypeError

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
    times = check_real_array(node_time, "node_time", shape=(num_nodes,))
    if (times < 0).any():
        raise InputError(f"`node_time` must be non-negative; got {float(times.min())!r}.")
    table = _edge_table(edges, num_nodes)
    if not len(table):
        return 0.0
    src, dst = table[:, 0].astype(np.intp), table[:, 1].astype(np.intp)
    delay, edge_time = table[:, 2], table[:, 3]
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

    total = float(times.sum() + sum(table[:, 3].tolist()))  # summed left to right, as the runs committed were
    hi = total + 1.0
    if has_cycle_above(hi * (1 + 1e-9) + 1.0):
        raise InputError("`edges` hold a cycle without delay (a deadlock of the dependency graph).")
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


def _edge_table(edges: Iterable[Edge], num_nodes: int) -> np.ndarray:
    """``edges`` as an ``(E, 4)`` float array, refused unless each is ``(u, v, delay, edge_time)`` as documented.

    ``u`` and ``v`` are nodes ``0 .. num_nodes - 1``, ``delay`` an integer (of any sign) and
    ``edge_time`` finite and non-negative.
    """
    if isinstance(edges, (str, bytes)) or not isinstance(edges, Iterable):
        raise InputTypeError(f"`edges` must be an iterable of (u, v, delay, edge_time) tuples; got {edges!r}.")
    edges = list(edges)
    if not edges:
        return np.empty((0, 4))
    table = check_real_array(edges, "edges", finite=True)
    if table.ndim != 2 or table.shape[1] != 4:
        raise InputError(f"`edges` must hold (u, v, delay, edge_time) tuples; got an array of shape {table.shape}.")
    integral = table[:, :3] == np.round(table[:, :3])
    ends = table[:, :2]
    if not integral.all() or (ends < 0).any() or (ends >= num_nodes).any() or (table[:, 3] < 0).any():
        bad = int(np.flatnonzero(~integral.all(axis=1) | (ends < 0).any(axis=1) | (ends >= num_nodes).any(axis=1)
                                 | (table[:, 3] < 0))[0])  # fmt: skip
        raise InputError(
            f"`edges[{bad}]` must be (u, v, delay, edge_time) with nodes u, v in 0..{num_nodes - 1}, an integer "
            f"delay and a non-negative edge time; got {edges[bad]!r}."
        )
    return table
