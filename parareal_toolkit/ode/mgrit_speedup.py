"""The speedup study for MGRIT: its wall-clock against the sequential fine solve, at equal accuracy, beside the model.

The procedure of :func:`~parareal_toolkit.ode.speedup_study`, with MGRIT in parareal's
place, on parareal's discretisation (:func:`parareal_toolkit.ode.fine_steps.mgrit_levels`):
the fine propagator is ``M`` implicit-Euler substeps per slice (level 0: one substep per
slice, ``N_0 = N M``, so the coarsening factor is ``m = M``), level 1 is the coarse
propagator (``M_c`` substeps per slice) and level ``l >= 2`` the same on every
``M^(l-1)``-th slice boundary.

1. the sequential fine solve gives the reference ``U^F`` at the ``N + 1`` C-points;
2. ``K`` is the first MGRIT iteration whose relative error against it is at most ``rtol``;
3. MGRIT with exactly ``K`` iterations is timed on ``W`` workers of one persistent process
   pool (the whole hierarchy installed once; every map of every level goes to the pool,
   the coarsest solve runs in this process), for every ``W``, and each result's error is
   checked again;
4. each measured speedup ``T_seq / T_MGRIT`` is put beside
   :func:`~parareal_toolkit.ode.mgrit_cost.modelled_mgrit_speedup` with ``c_0`` (one fine
   step: the sequential fine solve over ``N M``) and ``c_l = c_G`` (one coarse slice, every
   coarse level taking ``M_c`` substeps) measured: per iteration, level ``l`` does its
   counted relaxation and restriction calls in parallel over ``W`` workers and the
   coarsest level its sequential solve.

A time limit is checked before the study (:func:`~parareal_toolkit.ode.speedup_estimate.estimate_speedup_study`
with ``K = 0``, a lower bound for MGRIT as for parareal) and once ``K`` is known (the search
run's time for each timed run).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._mgrit_cycles import AllLevels
from .._names import CYCLE_NAMES, RELAX_NAMES
from .._validation import check_choice, check_int, check_real
from ..backends import ProcessBackend
from ..errors import InputError
from ..mgrit_driver import mgrit
from ..propagator import Propagator, TimeGrid, propagate_sequentially
from .fine_steps import level_slices, mgrit_levels
from .implicit_euler import ImplicitEulerPropagator
from .linear import LinearProblem
from .measured_speedup import SpeedupRow, SpeedupStudy, _load_average, _relative_error
from .mgrit_cost import modelled_mgrit_speedup
from .speedup_estimate import check_study_sizes, estimate_speedup_study

__all__ = ["mgrit_speedup_study", "InstalledHierarchy"]


class InstalledHierarchy:
    """A backend that maps MGRIT's levels with one hierarchy installed in a process pool, whatever object MGRIT passes.

    :func:`~parareal_toolkit.mgrit` hands the backend a new ``AllLevels`` of the same levels
    on every run; a pool restarts for a propagator it does not hold, so this backend maps the
    installed one instead (the same levels, the same slice offsets: the same values).

    Parameters
    ----------
    target : Backend
        The pool or one of its views.
    hierarchy : AllLevels
        The hierarchy the pool holds.
    """

    name = "processes"

    def __init__(self, target: Any, hierarchy: AllLevels):
        self.target = target
        self.hierarchy = hierarchy

    def map(self, propagator: Propagator, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """``target.map(hierarchy, states, slices)``, once ``propagator`` is checked to hold the same levels.

        Returns
        -------
        list
            One state per slice.
        """
        same = getattr(propagator, "levels", None) == self.hierarchy.levels
        if not same or getattr(propagator, "offsets", None) != self.hierarchy.offsets:
            raise InputError("`propagator` must hold the installed hierarchy's levels.")
        return self.target.map(self.hierarchy, states, slices)


def mgrit_speedup_study(
    problem: LinearProblem,
    *,
    slices: int = 16,
    fine_substeps: int = 200,
    coarse_substeps: int = 4,
    workers: Sequence[int] = (1, 2),
    rtol: float = 1e-6,
    repeats: int = 3,
    mgrit_options: dict[str, Any] | None = None,
    progress: Any = None,
    time_limit: float | None = None,
) -> SpeedupStudy:
    """Measure MGRIT's speedup over the sequential fine solve at equal accuracy, for each ``W`` (module docstring).

    Parameters
    ----------
    problem : LinearProblem
        ``u' = A u`` with a sparse ``A``.
    slices, coarse_substeps, workers, rtol, repeats
        As for :func:`~parareal_toolkit.ode.speedup_study`; ``N = slices`` is ``N_1``.
    fine_substeps : int
        ``M >= 2``: fine steps per slice, MGRIT's coarsening factor.
    mgrit_options : dict, optional
        ``levels`` (``L >= 2``, default 2; ``N`` divisible by ``M^(L-2)``), ``relax``
        (``"F"``) and ``cycle`` (``"V"``).
    progress : callable, optional
        Called with one line of text as each stage ends.
    time_limit : float, optional
        Seconds the study may take: checked before it (``K = 0``) and once ``K`` is known.

    Returns
    -------
    SpeedupStudy
        One row per ``W``; ``model`` is :func:`~parareal_toolkit.ode.mgrit_cost.modelled_mgrit_speedup`.

    Examples
    --------
    >>> from parareal_toolkit.ode import heat_2d
    >>> from parareal_toolkit.ode.mgrit_speedup import mgrit_speedup_study
    >>> study = mgrit_speedup_study(heat_2d(6, sparse=True), slices=4, fine_substeps=4, workers=[1], repeats=1)
    >>> study.iterations <= 4 and study.rows[0].error <= 1e-6
    True
    """
    n, m, coarse_substeps, counts, repeats = check_study_sizes(
        problem, slices, fine_substeps, coarse_substeps, workers, repeats
    )
    options = dict(mgrit_options or {})
    num_levels = check_int(options.pop("levels", 2), "levels", minimum=2)
    relax = check_choice(options.pop("relax", "F"), "relax", RELAX_NAMES)
    cycle = check_choice(options.pop("cycle", "V"), "cycle", CYCLE_NAMES)
    if options:
        raise InputError(f"`mgrit_options` takes levels, relax and cycle; got {sorted(options)}.")
    rtol = check_real(rtol, "rtol", minimum=0, strict=True)
    say = progress if progress is not None else (lambda line: None)
    began = time.perf_counter()
    if time_limit is not None:
        time_limit = check_real(time_limit, "time_limit", minimum=0, strict=True)
        cost = estimate_speedup_study(
            problem, slices=n, fine_substeps=m, coarse_substeps=coarse_substeps, workers=counts, repeats=repeats
        )
        if cost.seconds > time_limit:
            raise InputError(
                f"the MGRIT speedup study would take at least ~{cost.seconds:.3g} s before any iteration, more than "
                f"`time_limit`={time_limit:g} s; use fewer slices, fine_substeps or repeats, or a smaller problem."
            )
    grid = TimeGrid.uniform(problem.t_final, n)
    fine = ImplicitEulerPropagator(problem.ode, grid, substeps=m).prepare()
    coarse = ImplicitEulerPropagator(problem.ode, grid, substeps=coarse_substeps).prepare()
    levels = mgrit_levels(fine, coarse, num_levels)
    sizes = level_slices(n, m, num_levels)
    run: dict[str, Any] = {"coarsening": m, "relax": relax, "cycle": cycle, "store_iterates": False}

    from threadpoolctl import threadpool_limits

    hierarchy = AllLevels(levels)
    with threadpool_limits(limits=1), ProcessBackend(max(counts)) as pool:
        reference = propagate_sequentially(fine, problem.u0)
        scale = max(float(np.abs(r).max()) for r in reference)
        if not math.isfinite(scale) or scale == 0:
            raise InputError(f"the fine solution must be finite and nonzero for a relative tolerance; got {scale}.")
        pool.start(hierarchy)
        startup = pool.startup_seconds
        assert startup is not None
        say(f"pool start-up: {startup:.3f} s ({pool.workers} worker process(es), the whole hierarchy installed)")
        errors: list[float] = []

        def watch(info: Any) -> None:
            errors.append(_relative_error(info.states, reference, scale))
            if errors[-1] <= rtol or not math.isfinite(errors[-1]):
                raise StopIteration

        start = time.perf_counter()
        mgrit(levels, problem.u0, backend=InstalledHierarchy(pool, hierarchy), callback=watch, **run)
        search_s = time.perf_counter() - start
        if not math.isfinite(errors[-1]) or errors[-1] > rtol:
            raise InputError(
                f"MGRIT did not reach rtol={rtol:g} against the fine solution (relative error {errors[-1]:g} "
                f"after {len(errors) - 1} iteration(s)): no iteration count to time."
            )
        k_needed = len(errors) - 1
        say(f"K = {k_needed}: relative error {errors[-1]:.2e} <= rtol {rtol:g}")
        if time_limit is not None:
            projected = time.perf_counter() - began + repeats * len(counts) * search_s
            if projected > time_limit:
                raise InputError(
                    f"the MGRIT speedup study would take ~{projected:.3g} s (K = {k_needed} found, each timed run "
                    f"~{search_s:.3g} s), more than `time_limit`={time_limit:g} s; use fewer repeats or slices."
                )
        setup = {"levels": levels, "problem": problem, "fine": fine, "coarse": coarse, "run": run}
        timed = _timed_runs(pool, hierarchy, setup, k_needed, counts, repeats)
        for w in counts:
            for states in timed["states"][w]:
                error = _relative_error(states, reference, scale)
                if not error <= rtol:  # pragma: no cover - the same code on the same inputs as the search
                    raise RuntimeError(f"the timed MGRIT run on {w} worker(s) has relative error {error:g}.")
    c_0 = statistics.median(timed["sequential"]) / sizes[0]
    c_g = statistics.median(timed["coarse"]) / n
    costs = [c_0] + [c_g] * (num_levels - 1)
    rows = []
    for w in counts:
        seq, par = statistics.median(timed["sequential"]), statistics.median(timed["parallel"][w])
        model = modelled_mgrit_speedup(costs, sizes, m, k_needed, w, relax=relax, cycle=cycle)
        share = min(statistics.median(timed["shares"][w]), 1.0) if timed["shares"][w] else 1.0
        error = max(_relative_error(s, reference, scale) for s in timed["states"][w])
        at_share = modelled_mgrit_speedup(costs, sizes, m, k_needed, w, relax=relax, cycle=cycle, core_share=share)
        rows.append(SpeedupRow(w, k_needed, seq, par, seq / par, model, error, share, at_share))
        say(f"W = {w}: measured {seq / par:.2f}x, model {model:.2f}x")
    description = (
        f"{problem.description}, T = {problem.t_final:g}; MGRIT, {num_levels} levels (N_l = "
        f"{', '.join(map(str, sizes))}), {relax}-relaxation, {cycle}-cycle; fine level: one implicit-Euler step, "
        f"{m} per slice; coarse levels: {coarse_substeps} implicit-Euler substeps per slice"
    )
    settings = {
        "method": "mgrit",
        "problem": problem.name,
        "size": problem.ode.size,
        "t_final": problem.t_final,
        "slices": n,
        "fine_substeps": m,
        "coarse_substeps": coarse_substeps,
        "levels": num_levels,
        "relax": relax,
        "cycle": cycle,
        "workers": counts,
        "rtol": rtol,
        "repeats": repeats,
    }
    return SpeedupStudy(
        rows=rows,
        description=description,
        num_slices=n,
        rtol=rtol,
        iterations=k_needed,
        errors=errors,
        startup_s=startup,
        fine_slice_s=c_0 * m,
        coarse_slice_s=c_g,
        pool_workers=max(counts),
        repeats=repeats,
        settings=settings,
        load_average=None if None in timed["load"] else timed["load"],
        method="MGRIT",
    )


def _timed_runs(
    pool: ProcessBackend, hierarchy: AllLevels, setup: dict[str, Any], k: int, counts: list[int], repeats: int
) -> dict[str, Any]:
    """The repeats, interleaved: a sequential fine solve, three coarse sweeps and MGRIT on each ``W``."""
    levels, problem, fine, coarse, run = (setup[key] for key in ("levels", "problem", "fine", "coarse", "run"))
    out: dict[str, Any] = {"sequential": [], "coarse": [], "parallel": {}, "shares": {}, "states": {}}
    for w in counts:
        out["parallel"][w], out["shares"][w], out["states"][w] = [], [], []
    backends = {w: InstalledHierarchy(pool.view(w), hierarchy) for w in counts}
    before = _load_average()
    for _ in range(repeats):
        start = time.perf_counter()
        propagate_sequentially(fine, problem.u0)
        out["sequential"].append(time.perf_counter() - start)
        for _ in range(3):
            start = time.perf_counter()
            propagate_sequentially(coarse, problem.u0)
            out["coarse"].append(time.perf_counter() - start)
        for w in counts:
            cpu = pool.worker_cpu_seconds
            start = time.perf_counter()
            result = mgrit(levels, problem.u0, iterations=k, backend=backends[w], **run)
            out["parallel"][w].append(time.perf_counter() - start)
            busy = min(w, levels[1].num_slices)
            if k > 0 and result.timings["fine"] > 0:
                out["shares"][w].append((pool.worker_cpu_seconds - cpu) / (busy * result.timings["fine"]))
            out["states"][w].append(result.states)
    out["load"] = (before, _load_average())
    return out
