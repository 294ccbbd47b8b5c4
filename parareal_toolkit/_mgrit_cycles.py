"""MGRIT's machinery: the level systems, F- and C-relaxation, FAS restriction, V- and F-cycles, the iteration.

Level ``l`` holds its points ``u_0..u_{N_l}`` and its right-hand side ``g``: ``None`` (zero,
level 0) or, at every point ``i >= 1``, a pair ``(a_i, b_i)`` standing for ``g_i = a_i - b_i``.
One *step* at point ``i`` is ``Φ_l(u_{i-1}, i-1) + g_i``, computed as ``a_i + (Φ_l(u_{i-1}) - b_i)``:
parareal's order of operations (``F + (G_new - G_old)``), so that two-level F-relaxation
reproduces parareal bit for bit. ``u_0 = u0`` on every level (injection keeps ``g_0 = u0``).

FAS restriction from level ``l`` to ``l + 1``: ``v_c = u_{cm}`` (injection) and
``g^{l+1}_c = r_c + v_c - Φ_{l+1}(v_{c-1})`` with the residual ``r_c = g_{cm} - u_{cm} +
Φ_l(u_{cm-1})``; since ``v_c = u_{cm}``, ``r_c + v_c`` is ``a_c = Φ_l(u_{cm-1}) + g_{cm}``, the
value a C-relaxation would give, which the preceding F-relaxation computes anyway, so
``g^{l+1}_c = (a_c, Φ_{l+1}(v_{c-1}))``. The correction ``u_{cm} <- u_{cm} + (w_c - v_c)`` is
``u_{cm} <- w_c`` (``v_c = u_{cm}``). A level's F-points are marked stale whenever its C-points
change; ``c_values`` holds the ``a_c`` of the current F-points, so a relaxation never repeats
work (level 0 carries them from one iteration to the next: the final F-relaxation of one
iteration is the first relaxation of the next).

Propagator calls are deterministic functions of their arguments (the same assumption as
parareal's coarse values): ``Φ_{l+1}(v_{c-1})`` is reused wherever ``v_{c-1}`` is the very
object whose image the last exact coarse solve (or the initial sweep) computed; for two levels
with F-relaxation that is every ``c``, so an iteration costs parareal's ``N_1 - 1`` coarse calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._checked import StateChecker
from ._iteration import _Recorder
from .backends import Backend
from .errors import InputError
from .norms import nan_max, slice_norms
from .propagator import Propagator

__all__ = ["MGRITOptions", "MGRITRun", "AllLevels", "run_mgrit", "exact_iterations"]


@dataclass(frozen=True)
class MGRITOptions:
    """Everything :func:`parareal_toolkit.mgrit` validated; the fields are its arguments of the same name.

    ``max_iterations`` is ``iterations`` (capped at :func:`exact_iterations`); ``initial`` is
    ``"coarse"``, ``"u0"``, ``"nested"`` or the ``N_1`` given C-point states; ``backend`` is resolved.
    """

    coarsening: int
    relax: str
    cycle: str
    max_iterations: int
    tol: float | None
    criterion: str
    initial: str | Sequence[Any]
    backend: Backend
    norm: Callable[[Any], float]
    reference: Sequence[Any] | None
    callback: Callable[[Any], Any] | None
    store_iterates: bool
    monitor: bool
    fine_lipschitz: None = None  # what the shared recorder reads: MGRIT has no error estimate


def exact_iterations(num_coarse: int, relax: str) -> int:
    """The iterations after which every C-point is exact: ``N_1`` with F-relaxation, ``ceil(N_1 / 2)`` with FCF.

    Returns
    -------
    int
        The count; more iterations would repeat the last iterate.
    """
    return num_coarse if relax == "F" else (num_coarse + 1) // 2


class AllLevels:
    """Every level's propagator as one, slice ``offsets[l] + j`` being slice ``j`` of level ``l``.

    The backend receives this one object for every map of every level, so a process pool
    installs the whole hierarchy once (it restarts for a propagator it does not hold).
    ``propagate_batch`` hands each level's slices to that level's ``propagate_batch`` (one
    call per slice without it, or for a single slice), as the batched backend would.
    """

    def __init__(self, levels: Sequence[Propagator]):
        self.levels = list(levels)
        self.offsets = [0]
        for p in self.levels:
            self.offsets.append(self.offsets[-1] + p.num_slices)
        self.num_slices = self.offsets[-1]

    def _locate(self, j: int) -> tuple[int, int]:
        for l in range(len(self.levels)):
            if j < self.offsets[l + 1]:
                return l, j - self.offsets[l]
        raise IndexError(f"slice index `j` must satisfy 0 <= j < {self.num_slices}; got {j}.")

    def __call__(self, u: Any, j: int) -> Any:
        """Slice ``j`` of the level that holds it.

        Returns
        -------
        state
            The propagated state.
        """
        l, local = self._locate(j)
        return self.levels[l](u, local)

    def propagate_batch(self, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """``[self(u, j) for u, j in zip(states, slices)]``, one batch per level.

        Returns
        -------
        list
            One state per slice.
        """
        if len(slices) >= 2:  # the driver's maps: slices of one level, handed on in one call
            first, last = min(slices), max(slices)
            l = self._locate(first)[0]
            if first >= 0 and last < self.offsets[l + 1]:
                propagator, offset = self.levels[l], self.offsets[l]
                batch = getattr(propagator, "propagate_batch", None)
                inner = [j - offset for j in slices]
                if batch is not None:
                    return list(batch(list(states), inner))
                return [propagator(u, j) for u, j in zip(states, inner)]
        groups: dict[int, list[int]] = {}
        located = [self._locate(j) for j in slices]
        for position, (l, _) in enumerate(located):
            groups.setdefault(l, []).append(position)
        out: list[Any] = [None] * len(slices)
        for l, positions in groups.items():
            propagator = self.levels[l]
            batch = getattr(propagator, "propagate_batch", None)
            inner_states = [states[p] for p in positions]
            inner_slices = [located[p][1] for p in positions]
            if batch is not None and len(positions) >= 2:
                values = list(batch(inner_states, inner_slices))
            else:
                values = [propagator(u, j) for u, j in zip(inner_states, inner_slices)]
            for p, value in zip(positions, values):
                out[p] = value
        return out


@dataclass
class _Level:
    """One level's system and its current approximation (module docstring)."""

    propagator: Propagator
    name: str
    checker: StateChecker
    points: list[Any]
    rhs: list[tuple[Any, Any] | None] | None = None  # g_i = a_i - b_i at index i >= 1; None: zero
    fresh: bool = False  # the F-points follow from the current C-points
    c_values: list[Any] | None = None  # a_c = Φ(u_{cm-1}) + g_{cm}, c = 1..N_{l+1}, at index c - 1


@dataclass
class _Hierarchy:
    """All levels of one run, the options, and what the propagators cost."""

    levels: list[_Level]
    combined: AllLevels
    options: MGRITOptions
    evaluations: list[int]
    seconds: list[float]
    # per level: the states w and their images Φ(w_c) at index c of the last exact solve or sweep
    images: dict[int, tuple[list[Any], list[Any]]] = field(default_factory=dict)

    def call(self, l: int, u: Any, j: int) -> Any:
        """``Φ_l(u, j)``, checked and counted, where the driver runs."""
        level = self.levels[l]
        start = time.perf_counter()
        value = level.checker.check(level.propagator(u, j), level.name, j)
        self.seconds[l] += time.perf_counter() - start
        self.evaluations[l] += 1
        return value

    def map(self, l: int, states: list[Any], slices: list[int]) -> list[Any]:
        """``[Φ_l(u, j) for u, j in zip(states, slices)]`` run by the backend (the parallel work), checked and counted."""
        if not states:
            return []
        level = self.levels[l]
        start = time.perf_counter()
        offset = self.combined.offsets[l]
        values = list(self.options.backend.map(self.combined, states, [offset + j for j in slices]))
        if len(values) != len(slices):
            raise InputError(f"`backend` returned {len(values)} states for {len(slices)} slices of {level.name}.")
        for value, j in zip(values, slices):
            level.checker.check(value, level.name, j)
        self.seconds[l] += time.perf_counter() - start
        self.evaluations[l] += len(slices)
        return values

    def steps(self, l: int, targets: list[int]) -> list[Any]:
        """``Φ_l(u_{i-1}, i-1) + g_i`` for every point ``i`` of ``targets``, in one backend map.

        Where ``g_i = (a_i, None)`` (point 1 of a coarse level, whose predecessor is ``u0``
        on every level) the step is ``a_i`` without a call: ``Φ_l(u0) - Φ_l(u0) = 0``.
        """
        level = self.levels[l]
        rhs = level.rhs
        if rhs is None:
            return self.map(l, [level.points[i - 1] for i in targets], [i - 1 for i in targets])
        called = [i for i in targets if rhs[i] is None or rhs[i][1] is not None]  # type: ignore[index]
        values = dict(zip(called, self.map(l, [level.points[i - 1] for i in called], [i - 1 for i in called])))
        out = []
        for i in targets:
            g = rhs[i]
            if g is None:
                out.append(values[i])
            elif g[1] is None:
                out.append(g[0])
            else:
                out.append(g[0] + (values[i] - g[1]))
        return out


def _f_relax(h: _Hierarchy, l: int, *, with_c: bool) -> None:
    """The F-points of every coarse interval from its C-point (``m - 1`` maps), and ``a_c`` if ``with_c``."""
    level, m = h.levels[l], h.options.coarsening
    intervals = (len(level.points) - 1) // m
    if not level.fresh:
        for s in range(1, m):
            targets = [c * m + s for c in range(intervals)]
            for i, value in zip(targets, h.steps(l, targets)):
                level.points[i] = value
        level.fresh, level.c_values = True, None
    if with_c and level.c_values is None:
        level.c_values = h.steps(l, [c * m for c in range(1, intervals + 1)])


def _set_c_points(level: _Level, values: Sequence[Any], m: int) -> None:
    """``u_{cm} <- values[c - 1]`` for ``c >= 1``; the F-points become stale."""
    for c, value in enumerate(values, start=1):
        level.points[c * m] = value
    level.fresh, level.c_values = False, None


def _relax(h: _Hierarchy, l: int) -> None:
    """F- or FCF-relaxation of level ``l``; afterwards its F-points and ``a_c`` are current."""
    _f_relax(h, l, with_c=True)
    if h.options.relax == "FCF":
        level = h.levels[l]
        assert level.c_values is not None
        _set_c_points(level, level.c_values, h.options.coarsening)  # C-relaxation: u_{cm} = a_c
        _f_relax(h, l, with_c=True)


def _restrict(h: _Hierarchy, l: int) -> None:
    """FAS restriction: level ``l + 1`` starts from ``v = u[::m]`` with ``g_c = (a_c, Φ_{l+1}(v_{c-1}))``.

    ``g_1 = (a_1, None)``: ``v_0 = u0`` never changes, so the step into point 1 is ``a_1``.
    """
    level, m = h.levels[l], h.options.coarsening
    assert level.c_values is not None
    v = level.points[::m]
    images: list[Any] = [None] * (len(v) - 1)  # Φ_{l+1}(v_c, c) at index c, c >= 1
    known_states, known_images = h.images.get(l + 1, ([], []))
    missing = []
    for c in range(1, len(v) - 1):
        if c < len(known_images) and v[c] is known_states[c] and known_images[c] is not None:
            images[c] = known_images[c]
        else:
            missing.append(c)
    for c, value in zip(missing, h.map(l + 1, [v[c] for c in missing], missing)):
        images[c] = value
    coarse = h.levels[l + 1]
    coarse.points = list(v)
    coarse.rhs = [None, *((a, b) for a, b in zip(level.c_values, images))]
    coarse.fresh, coarse.c_values = False, None
    h.images[l + 1] = (v, images)  # v_c and Φ(v_c): a solve that keeps w_c = v_c reuses them


def _solve_exactly(h: _Hierarchy, l: int) -> None:
    """The coarsest level, sequentially: ``w_c = a_c + (Φ(w_{c-1}) - b_c)``; ``w_c = a_c`` where ``w_{c-1}`` is ``v_{c-1}``."""
    level = h.levels[l]
    v, rhs = level.points, level.rhs
    assert rhs is not None
    w: list[Any] = [v[0]]
    images: list[Any] = []  # Φ(w_c) at index c where known
    for c in range(1, len(v)):
        g = rhs[c]
        assert g is not None
        if g[1] is None or w[c - 1] is v[c - 1]:  # Φ(w_{c-1}) = b_c: the correction vanishes (parareal's U_1 = F_0(u0))
            images.append(g[1])
            w.append(g[0])
        else:
            y = h.call(l, w[c - 1], c - 1)
            images.append(y)
            w.append(g[0] + (y - g[1]))
    level.points = w
    h.images[l] = (w, images)


def _cycle(h: _Hierarchy, l: int, kind: str) -> None:
    """One V- or F-cycle from level ``l``: relax, restrict, solve or recurse, correct, F-relax."""
    _relax(h, l)
    _restrict(h, l)
    if l + 1 == len(h.levels) - 1:
        _solve_exactly(h, l + 1)
    else:
        if kind == "F":
            _cycle(h, l + 1, "F")
        _cycle(h, l + 1, "V")
    m = h.options.coarsening
    _set_c_points(h.levels[l], h.levels[l + 1].points[1:], m)  # u_{cm} <- w_c (injection: v_c = u_{cm})
    _f_relax(h, l, with_c=(l == 0))


@dataclass
class MGRITRun:
    """What :func:`run_mgrit` hands back for the result: the C-point iterates, the record, the fine solution."""

    states: list[Any]
    iterates: list[list[Any]] | None
    recorder: _Recorder
    residuals: list[float]
    iterations: int
    stop_reason: str
    fine_states: list[Any]
    evaluations: list[int]
    timings: dict[str, float]


def _sweep(h: _Hierarchy, l: int, u0: Any) -> list[Any]:
    """``w_0 = u0``, ``w_{j+1} = Φ_l(w_j, j)``: level ``l``'s system with ``g = 0`` solved sequentially."""
    states = [u0]
    for j in range(len(h.levels[l].points) - 1):
        states.append(h.call(l, states[j], j))
    h.images[l] = (states, states[1:])  # Φ_l(w_j) = w_{j+1}
    return states


def _nested_points(h: _Hierarchy, u0: Any) -> list[Any]:
    """PyMGRIT's nested iteration: sweep the coarsest level, then on each level ``l = L-2 .. 1`` a V-cycle.

    Level ``l`` (right-hand side ``g = 0``) takes level ``l + 1``'s points as its C-points and
    runs one V-cycle from them (its relaxation first); its points are then level ``l - 1``'s
    C-points. With two levels this is the sweep of ``levels[1]``, ``initial="coarse"``.
    """
    m, last = h.options.coarsening, len(h.levels) - 1
    points = _sweep(h, last, u0)
    for l in range(last - 1, 0, -1):
        level = h.levels[l]
        level.points = [None] * len(level.points)
        level.points[::m] = points
        level.rhs, level.fresh, level.c_values = None, False, None
        _cycle(h, l, "V")
        points = level.points
    return list(points)


def _initial_points(h: _Hierarchy, u0: Any) -> list[Any]:
    """The level-0 C-point values ``U^0``: a sweep of ``levels[1]``, nested iteration, copies of ``u0``, or the given states."""
    initial, n1 = h.options.initial, len(h.levels[1].points) - 1
    if initial == "coarse":
        return _sweep(h, 1, u0)  # U^0_{j+1} = Φ_1(U^0_j)
    if initial == "nested":
        return _nested_points(h, u0)
    if initial == "u0":
        return [u0] * (n1 + 1)
    assert not isinstance(initial, str)
    return [u0, *initial]


def _residual(h: _Hierarchy) -> float | None:
    """``max_c norm(a_c - u_{cm})`` at the level-0 C-points, from the current F-relaxation; None without monitoring."""
    if not h.options.monitor:
        return None
    level, m = h.levels[0], h.options.coarsening
    assert level.c_values is not None
    return nan_max(slice_norms(h.options.norm, level.c_values, level.points[m::m]))


def run_mgrit(levels: Sequence[Propagator], u0: Any, options: MGRITOptions, notify: Callable[..., bool]) -> MGRITRun:
    """Run MGRIT on validated options: ``U^0`` and its F-relaxation, then one cycle from level 0 per iteration.

    ``notify(k, states, increment, error, residual, evaluations, finite)`` hands iterate
    ``k`` to the callback and returns whether it asked to stop.

    Returns
    -------
    MGRITRun
        The final C-point iterate, the record and the fine solution.
    """
    start = time.perf_counter()
    m = options.coarsening
    sizes = [p.num_slices for p in levels]
    names = [f"levels[{l}]" for l in range(len(levels))]
    h = _Hierarchy(
        [_Level(p, name, StateChecker(u0), [u0] * (n + 1)) for p, name, n in zip(levels, names, sizes)],
        AllLevels(levels),
        options,
        [0] * len(levels),
        [0.0] * len(levels),
    )
    c_points = _initial_points(h, u0)
    fine = h.levels[0]
    fine.points = [None] * (sizes[0] + 1)
    fine.points[::m] = c_points
    _f_relax(h, 0, with_c=True)
    initial_seconds = time.perf_counter() - start
    recorder = _Recorder(options)
    error = recorder.record_initial(c_points)
    residuals: list[float] = []
    residual = _residual(h)
    if residual is not None:
        residuals.append(residual)
    iterates = [c_points] if options.store_iterates else None
    k = 0
    stopped = notify(0, c_points, None, error, residual, h.evaluations, recorder.finite) or not recorder.finite
    asked = stopped and recorder.finite
    tolerance_met = False
    while not stopped and k < options.max_iterations:
        old = c_points
        _cycle(h, 0, options.cycle)
        c_points = fine.points[::m]
        k += 1
        increment, error = recorder.record_iteration(k, old, c_points, [], [])
        residual = _residual(h)
        if residual is not None:
            residuals.append(residual)
        if iterates is not None:
            iterates.append(c_points)
        stopped = asked = notify(k, c_points, increment, error, residual, h.evaluations, recorder.finite)
        if not recorder.finite:
            break
        measure = increment if options.criterion == "increment" else residual
        if options.tol is not None and measure is not None and measure <= options.tol:
            tolerance_met = True
            break
    recorder.check_end_state(c_points, k)
    reason = _stop_reason(recorder.finite, tolerance_met, k >= exact_iterations(sizes[1], options.relax), asked)
    timings = {
        "initial": initial_seconds,
        "fine": h.seconds[0],
        "coarse": sum(h.seconds[1:]),
        "total": time.perf_counter() - start,
    }
    return MGRITRun(c_points, iterates, recorder, residuals, k, reason, list(fine.points), h.evaluations, timings)


def _stop_reason(finite: bool, tolerance_met: bool, exact: bool, asked: bool) -> str:
    """Why the run stopped, the first that applies in the order of ``parareal_toolkit._names.STOP_REASONS``."""
    if not finite:
        return "non-finite"
    if tolerance_met:
        return "tolerance"
    if exact:
        return "exact"
    if asked:
        return "callback"
    return "iteration-cap"
