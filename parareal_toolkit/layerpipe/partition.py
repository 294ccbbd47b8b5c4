"""Partitioners: contiguous layers over P processors, balanced by per-step work.

* :func:`partition_contiguous`: P contiguous stages, whole layers (F + A + G atomic),
  minimising the largest stage load; exact (dynamic programme over prefix sums). Used by
  GPipe, 1F1B, Zero Bubble and PipeDream.
* :func:`partition_replicated`: PipeDream's planner with stage replication: contiguous
  stages, stage s replicated on r_s processors (sum r_s = P), minimising max load_s / r_s;
  exact dynamic programme.
* :func:`partition_layerpipe`: LayerPipe's finer split (our reading of the abstract, see the
  package docstring). Each layer contributes, in this order, [A_l, F_l, G_l] to one line of
  work; the line is cut into P consecutive pieces of at most T cycles, where at most one cut
  may fall inside A_l (A_l's two parts then sit on two consecutive processors: the
  *inter-layer* split) but F_l and G_l move whole to one side. G_l thus lands on the
  processor of F_l or on the next one, in parallel with A_l (the *intra-layer* split).
  The smallest feasible T is found exactly (to 1e-12, by bisection on a greedy fill that is
  optimal for each T, see :func:`_fill`).

Balance of the LayerPipe placement (tested on random profiles). Write tau = total/P,
M = the largest indivisible atom (F_l, or G_l + U_l) and a = the largest A_l. Then

    max(tau, M, a/2)  <=  T*  <=  max(tau + M, (2 tau + a)/3, a/2).

The lower bound is plain (P processors; atoms whole; A_l on at most two processors). Upper
bound: run the greedy fill with T equal to the right-hand side and suppose it needs a
(P+1)-th processor. A processor is closed (i) because a whole atom c did not fit: its load
is > T - c >= T - M >= tau; (ii) full, by the first part of a split A_l: load T >= tau; or
(iii) skipped, because A_l did not fit in its room r plus one whole processor
(A_l > r + T): its load T - r > 2T - A_l, and the next processor is then full with T, so
the pair carries > 3T - a >= 2 tau. So P closed processors carry >= P tau = total while
positive work is left: a contradiction (in case (iii) on the last processor, its load plus
the unplaced A_l exceeds 2T >= tau, again more than the total). The term (2 tau + a)/3 is
needed: with no F/G work, A = (x, a, x) on P = 3 has T* = (a + x)/2, which exceeds
max(tau, a/2) = max((a + 2x)/3, a/2) (x = a/2: 0.75a against 0.67a; the bound gives 0.78a).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._resources import require_memory
from .._validation import check_instance, check_int
from ..errors import InputError
from .costs import CostProfile

__all__ = [
    "partition_contiguous",
    "partition_replicated",
    "partition_layerpipe",
    "LayerPipePlacement",
    "check_processors",
]


def check_processors(processors: int, *, limit: int | None = None, what: str = "layers") -> int:
    """``processors`` as an ``int`` >= 1 and, if ``limit`` is given, at most ``limit`` (the number of ``what``).

    Returns
    -------
    int
        The number of processors.
    """
    processors = check_int(processors, "processors", minimum=1)
    if limit is not None and processors > limit:
        raise InputError(f"`processors` must be at most {limit} (the number of {what}); got {processors}.")
    return processors


def _layer_loads(profile: CostProfile) -> list[float]:
    return [layer.forward + layer.activation_grad + layer.weight_grad + layer.update for layer in profile.layers]


def partition_contiguous(profile: CostProfile, processors: int) -> list[range]:
    """P contiguous non-empty stages minimising the largest stage load (exact).

    Returns
    -------
    list of range
        The layers of each stage, in order; together they cover every layer once.
    """
    n = len(check_instance(profile, "profile", CostProfile))
    processors = check_processors(processors, limit=n)
    loads = _layer_loads(profile)
    prefix = [0.0]
    for c in loads:
        prefix.append(prefix[-1] + c)
    inf = math.inf
    # best[k][j]: minimal max load splitting layers [0, j) into k stages
    best = [[inf] * (n + 1) for _ in range(processors + 1)]
    cut = [[0] * (n + 1) for _ in range(processors + 1)]
    best[0][0] = 0.0
    for k in range(1, processors + 1):
        for j in range(k, n + 1):
            for i in range(k - 1, j):
                value = max(best[k - 1][i], prefix[j] - prefix[i])
                if value < best[k][j]:
                    best[k][j], cut[k][j] = value, i
    bounds = []
    j = n
    for k in range(processors, 0, -1):
        i = cut[k][j]
        bounds.append(range(i, j))
        j = i
    return bounds[::-1]


def partition_replicated(profile: CostProfile, processors: int) -> list[tuple[range, int]]:
    """Contiguous stages with replication counts r_s (sum = P) minimising max load/r (exact).

    Ties are broken towards fewer replicas (less gradient all-reduce traffic).

    Returns
    -------
    list of (range, int)
        The layers of each stage and its number of replicas; the replicas sum to ``processors``.
    """
    n = len(check_instance(profile, "profile", CostProfile))
    processors = check_processors(processors)
    # two (P + 1) x (n + 1) tables of tuples, about 150 bytes an entry
    require_memory(150.0 * (processors + 1) * (n + 1), f"partition_replicated(processors={processors}) on {n} layers")
    loads = _layer_loads(profile)
    prefix = [0.0]
    for c in loads:
        prefix.append(prefix[-1] + c)
    inf = math.inf
    # best[p][j]: (max load/r, total replicas-1) using exactly p processors for layers [0, j)
    best: list[list[tuple[float, float]]] = [[(inf, inf)] * (n + 1) for _ in range(processors + 1)]
    choice: list[list[tuple[int, int]]] = [[(0, 0)] * (n + 1) for _ in range(processors + 1)]
    best[0][0] = (0.0, 0)
    for p in range(1, processors + 1):
        for j in range(1, n + 1):
            for i in range(j):
                for r in range(1, p + 1):
                    prev = best[p - r][i]
                    if prev[0] == inf:
                        continue
                    value = (max(prev[0], (prefix[j] - prefix[i]) / r), prev[1] + r - 1)
                    if value < best[p][j]:
                        best[p][j], choice[p][j] = value, (i, r)
    stages = []
    p, j = processors, n
    while j > 0:
        i, r = choice[p][j]
        stages.append((range(i, j), r))
        p, j = p - r, i
    return stages[::-1]


@dataclass(frozen=True)
class LayerPipePlacement:
    """Where LayerPipe puts each layer's tasks.

    ``forward[l]``: processor of F_l; ``weight[l]``: processor of G_l (and of U_l);
    ``activation[l]``: list of (processor, fraction) parts of A_l, fractions summing to 1
    (one part, or two parts on consecutive processors).
    """

    forward: tuple[int, ...]
    weight: tuple[int, ...]
    activation: tuple[tuple[tuple[int, float], ...], ...]
    target: float

    @property
    def num_processors(self) -> int:
        procs = set(self.forward) | set(self.weight) | {p for parts in self.activation for p, _ in parts}
        return max(procs) + 1


Atom = tuple[str, int, float]  # (kind F, A or G, layer, cost): one piece of the work line
Placed = tuple[str, int, int | tuple[tuple[int, float], ...]]  # the processor, or A's (processor, fraction) parts


def _fill(atoms: list[Atom], target: float, processors: int) -> list[Placed] | None:
    """Greedy fill of the work line at load ``target``; the placement, or None if infeasible.

    Each atom goes as early as it can: whole atoms on the current processor if they fit,
    else on the next; an A atom fills the current room and puts its rest on the next
    processor, or, when the rest would exceed a whole processor, starts on the next one
    (then it fills that one and ends on the one after). The state (processor, load on it)
    after every atom is thus the smallest that any feasible placement reaches, and the step
    from one state to the next is monotone in the state, so the greedy fill succeeds
    whenever some placement with loads <= ``target`` exists (exchange argument).
    """
    proc, room = 0, target
    placed: list[Placed] = []
    tol = 1e-12 * target  # relative to the load: costs of any scale (1e-300 or 1e300) compare alike
    for kind, layer, cost in atoms:
        if kind == "A" and cost > room + tol:
            if cost > 2 * target + tol:
                return None
            if cost - room > target + tol:  # skip the room: whole next processor + rest
                proc, room = proc + 1, target
            first = room
            rest = cost - first
            if proc + 1 >= processors:
                return None
            parts: list[tuple[int, float]] = [(proc, first / cost)] if first > tol else []
            proc, room = proc + 1, target - rest
            parts.append((proc, rest / cost))
            if len(parts) == 1:
                parts = [(proc, 1.0)]
            placed.append((kind, layer, tuple(parts)))
            continue
        if cost > room + tol:
            proc, room = proc + 1, target
            if proc >= processors or cost > target + tol:
                return None
        room -= cost
        placed.append((kind, layer, ((proc, 1.0),) if kind == "A" else proc))
    return placed


def partition_layerpipe(
    profile: CostProfile, processors: int, *, split_activation: bool = True, move_weight_gradient: bool = True
) -> LayerPipePlacement:
    """LayerPipe placement on ``processors`` processors (see the module docstring).

    ``split_activation=False`` keeps A_l whole (no inter-layer split);
    ``move_weight_gradient=False`` keeps G_l on F_l's processor (no intra-layer split).
    With both off this is the contiguous whole-layer partition.

    Returns
    -------
    LayerPipePlacement
        The processor of every F, A part and G, and the largest load ``target`` = T*.
    """
    n = len(check_instance(profile, "profile", CostProfile))
    split_activation = bool(check_instance(split_activation, "split_activation", (bool, np.bool_), "True or False"))
    move_weight_gradient = bool(
        check_instance(move_weight_gradient, "move_weight_gradient", (bool, np.bool_), "True or False")
    )
    atoms_per_layer = 1 + split_activation + move_weight_gradient
    processors = check_processors(processors, limit=atoms_per_layer * n, what="splittable tasks")
    atoms: list[Atom] = []
    for l, layer in enumerate(profile.layers):
        a = layer.activation_grad
        if split_activation:
            atoms.append(("A", l, a))
            head = layer.forward
        else:
            head = layer.forward + a
        if move_weight_gradient:
            atoms.append(("F", l, head))
            atoms.append(("G", l, layer.weight_grad + layer.update))
        else:
            atoms.append(("F", l, head + layer.weight_grad + layer.update))
    total = sum(c for *_, c in atoms)
    lo = max(
        total / processors,
        max((c for k, _, c in atoms if k != "A"), default=0.0),
        max((c / 2 for k, _, c in atoms if k == "A"), default=0.0),
    )
    hi = total
    if _fill(atoms, lo, processors) is not None:
        hi = lo
    else:
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if _fill(atoms, mid, processors) is not None:
                hi = mid
            else:
                lo = mid
            if hi - lo <= 1e-12 * hi:
                break
    placed = _fill(atoms, hi, processors)
    assert placed is not None  # hi only ever takes feasible loads (the total fits on one processor)
    forward = [0] * n
    weight = [0] * n
    activation: list[tuple[tuple[int, float], ...]] = [((0, 1.0),)] * n
    for kind, l, where in placed:
        if isinstance(where, tuple):  # the parts of an A atom
            activation[l] = where
        elif kind == "F":
            forward[l] = where
            if not split_activation:
                activation[l] = ((where, 1.0),)
            if not move_weight_gradient:
                weight[l] = where
        else:
            weight[l] = where
    return LayerPipePlacement(tuple(forward), tuple(weight), tuple(activation), hi)
