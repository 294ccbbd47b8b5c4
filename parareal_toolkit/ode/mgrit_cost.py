"""MGRIT's cost in propagator calls per level and iteration, and the speedup model built on it.

The counts follow the cycle of :func:`parareal_toolkit.mgrit` (``parareal_toolkit._mgrit_cycles``)
call by call, for levels with ``N_0, ..., N_{L-1}`` slices and coarsening ``m``:

* **Initial iterate** (``k = 0``): the sweep of ``levels[1]`` (``N_1`` sequential calls,
  with ``initial="coarse"``; none with ``"u0"`` or given states) and the F-relaxation of
  level 0 with its C-point steps (``N_0`` calls, parallel).
* **Level 0**, every iteration: the F-relaxation after the correction, F-points and
  C-point steps (``N_0``); FCF-relaxation adds a C- and an F-relaxation before it (``N_0``).
* **A coarse level** ``1 <= l < L - 1``, on each visit that starts from a restriction:
  the restriction's images ``Φ_l(v_{c-1})`` (``N_l - 1``), its relaxation (``N_l - 1``
  calls for F, twice that for FCF: the step into point 1 is the right-hand side itself)
  and the F-relaxation after the correction (``N_l - N_{l+1} - 1``). An F-cycle visits
  each coarse level a second time without restriction: relaxation ``N_{l+1}`` (the
  C-point steps; FCF adds ``N_l - 1``) and the same F-relaxation after the correction.
* **The coarsest level** ``L - 1``, each visit: the restriction's images (``N_{L-1} - 1``)
  and the exact solve, ``N_{L-1} - 1`` sequential calls.
* **Reuse** (F-relaxation only, which leaves the C-points that the images were computed
  from unchanged): the images into the coarsest level are known from its last solve on
  every visit but the first of the run, and the images into level 1 in the first
  iteration after ``initial="coarse"`` (the sweep computed them). Two levels with
  F-relaxation thus cost parareal's ``N_1 - 1`` coarse calls per iteration.

Speedup model (:func:`modelled_mgrit_speedup`): the sequential fine solve costs
``N_0 c_0`` (``c_0`` one fine step). On ``P`` workers the parallel calls of level ``l`` in
one iteration cost ``ceil(n_l / P) c_l`` (``n_l`` the parallel calls above; this spreads a
level's maps as if they were one, a lower bound by at most one call per map), and the
sequential ones (the coarsest solve, the initial sweep) ``s_l c_l``, so

``S(P) = N_0 c_0 / sum_{k=0..K} sum_l (ceil(n_{l,k} / P) + s_{l,k}) c_l``.

Communication is not modelled. Two levels with F-relaxation, ``c_0 = c_F / m`` and the
initial sweep give ``N_1 c_G + K ((N_1 - 1) c_G + ceil(N_0 / P) c_F / m)``: parareal's
model (:func:`~parareal_toolkit.ode.modelled_speedup`) up to its ``N`` coarse calls per
iteration and its ``ceil(N / W)`` fine slices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._names import CYCLE_NAMES, MGRIT_INITIAL_NAMES, RELAX_NAMES
from .._validation import check_choice, check_int, check_ints, check_real
from ..errors import InputError

__all__ = ["mgrit_calls", "mgrit_level_calls", "modelled_mgrit_speedup"]


def _check_sizes(level_slices: Sequence[int], coarsening: int) -> list[int]:
    sizes = check_ints(level_slices, "level_slices", minimum=1)
    m = check_int(coarsening, "coarsening", minimum=2)
    if len(sizes) < 2 or any(sizes[l] != sizes[l + 1] * m for l in range(len(sizes) - 1)):
        raise InputError(
            f"`level_slices` must hold at least 2 counts, each `coarsening` = {m} times the next; got {sizes}."
        )
    return sizes


def mgrit_calls(
    level_slices: Sequence[int],
    coarsening: int,
    *,
    relax: str = "F",
    cycle: str = "V",
    iteration: int,
    initial: str = "coarse",
) -> tuple[list[int], list[int]]:
    """The propagator calls of each level in one MGRIT iteration, split into parallel and sequential ones.

    Parallel calls are those the backend maps (relaxations, restrictions); sequential ones
    run one after another on the driver (the coarsest solve, the initial coarse sweep).
    See the module docstring for the count of each part.

    Parameters
    ----------
    level_slices : sequence of int
        ``N_0, ..., N_{L-1}``, each ``coarsening`` times the next.
    coarsening : int
        ``m >= 2``.
    relax : {"F", "FCF"}
    cycle : {"V", "F"}
    iteration : int
        ``k >= 0``; ``0`` is the initial iterate and its F-relaxation.
    initial : {"coarse", "u0"}
        How the initial iterate is made (given states count as ``"u0"``).

    Returns
    -------
    tuple of (list of int, list of int)
        The parallel and the sequential calls of each level, level 0 first.

    Examples
    --------
    >>> from parareal_toolkit.ode.mgrit_cost import mgrit_calls
    >>> mgrit_calls([16, 4], 4, iteration=2)  # parareal: N_0 fine steps, N_1 - 1 coarse calls
    ([16, 0], [0, 3])
    """
    sizes = _check_sizes(level_slices, coarsening)
    check_choice(relax, "relax", RELAX_NAMES)
    check_choice(cycle, "cycle", CYCLE_NAMES)
    check_choice(initial, "initial", MGRIT_INITIAL_NAMES)
    k = check_int(iteration, "iteration", minimum=0)
    top = len(sizes) - 1
    parallel, sequential = [0] * len(sizes), [0] * len(sizes)
    if k == 0:
        parallel[0] = sizes[0]
        sequential[1] = sizes[1] if initial == "coarse" else 0
        return parallel, sequential
    fcf, first = relax == "FCF", k == 1
    coarsest_visits = [0]

    def restrict(l: int) -> None:
        reused = False
        if not fcf:
            if l == top:
                reused = not (first and coarsest_visits[0] == 0) or (l == 1 and first and initial == "coarse")
            else:
                reused = l == 1 and first and initial == "coarse"
        parallel[l] += 0 if reused else sizes[l] - 1

    def visit(l: int, kind: str, restricted: bool) -> None:
        n, below = sizes[l], sizes[l + 1]
        if l == 0:
            parallel[0] += n if fcf else 0
        elif restricted:
            parallel[l] += 2 * (n - 1) if fcf else n - 1
        else:
            parallel[l] += below + (n - 1 if fcf else 0)
        restrict(l + 1)
        if l + 1 == top:
            sequential[top] += sizes[top] - 1
            coarsest_visits[0] += 1
        elif kind == "F":
            visit(l + 1, "F", True)
            visit(l + 1, "V", False)
        else:
            visit(l + 1, "V", True)
        parallel[l] += n if l == 0 else n - below - 1

    visit(0, cycle, False)
    return parallel, sequential


def mgrit_level_calls(
    level_slices: Sequence[int],
    coarsening: int,
    *,
    relax: str = "F",
    cycle: str = "V",
    iteration: int,
    initial: str = "coarse",
) -> list[int]:
    """The propagator calls of each level in MGRIT's iteration ``iteration`` (``0``: the initial iterate).

    Returns
    -------
    list of int
        Parallel and sequential calls together (:func:`mgrit_calls`), level 0 first: what
        ``MGRITResult.level_evaluations`` grows by in that iteration.

    Examples
    --------
    >>> from parareal_toolkit.ode.mgrit_cost import mgrit_level_calls
    >>> mgrit_level_calls([16, 8, 4], 2, relax="FCF", iteration=3)
    [32, 24, 6]
    """
    parallel, sequential = mgrit_calls(
        level_slices, coarsening, relax=relax, cycle=cycle, iteration=iteration, initial=initial
    )
    return [p + s for p, s in zip(parallel, sequential)]


def modelled_mgrit_speedup(
    level_costs: Sequence[float],
    level_slices: Sequence[int],
    coarsening: int,
    iterations: int,
    workers: int,
    *,
    relax: str = "F",
    cycle: str = "V",
    initial: str = "coarse",
    core_share: float = 1.0,
) -> float:
    """The model's MGRIT speedup over the sequential fine solve (module docstring): counted calls times their costs.

    Parameters
    ----------
    level_costs : sequence of float
        ``c_l``, the seconds of one call of each level (``c_0 > 0`` one fine step).
    level_slices : sequence of int
        ``N_0, ..., N_{L-1}``.
    coarsening : int
        ``m``.
    iterations, workers : int
        ``K >= 0`` and ``P >= 1``.
    relax, cycle, initial : str
        As for :func:`~parareal_toolkit.mgrit`.
    core_share : float
        ``0 < s <= 1``, the share of a core each worker gets: the parallel calls cost ``c_l / s``.

    Returns
    -------
    float
        ``N_0 c_0`` over the modelled MGRIT time.

    Examples
    --------
    >>> from parareal_toolkit.ode.mgrit_cost import modelled_mgrit_speedup
    >>> # two levels, F: 4 coarse calls, then per iteration 3 coarse calls and 16 fine steps on 4 workers
    >>> round(modelled_mgrit_speedup([1.0, 0.5], [16, 4], 4, 2, 4), 4)  # 16 / (16/4 + 2 + 2 * (16/4 + 1.5))
    0.9412
    """
    costs = [check_real(c, f"level_costs[{l}]", minimum=0) for l, c in enumerate(level_costs)]
    sizes = _check_sizes(level_slices, coarsening)
    if len(costs) != len(sizes):
        raise InputError(f"`level_costs` must hold one cost per level ({len(sizes)}); got {len(costs)}.")
    if not costs[0] > 0:
        raise InputError(f"`level_costs[0]` must be positive (one fine step); got {costs[0]!r}.")
    k_max = check_int(iterations, "iterations", minimum=0)
    p = check_int(workers, "workers", minimum=1)
    share = check_real(core_share, "core_share", minimum=0, strict=True)
    if share > 1:
        raise InputError(f"`core_share` must be at most 1 (a whole core per worker); got {core_share!r}.")
    total = 0.0
    for k in range(k_max + 1):
        parallel, sequential = mgrit_calls(sizes, coarsening, relax=relax, cycle=cycle, iteration=k, initial=initial)
        total += sum((math.ceil(n / p) / share + s) * c for n, s, c in zip(parallel, sequential, costs))
    return sizes[0] * costs[0] / total
