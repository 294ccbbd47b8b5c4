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
state whose image the last exact coarse solve (or the initial sweep) computed; for two levels
with F-relaxation that is every ``c``, so an iteration costs parareal's ``N_1 - 1`` coarse calls.
"The very state" is tracked by ids: every point carries the id of the state it holds, a new
id for each computed state, the same id where a state is copied between points or levels.

Storage: where ``u0`` (and any given initial C-points) are float64 numpy arrays (``stackable``)
each level's points are the rows of one ``(N_l + 1, ...)`` array, a relaxation's inputs a
strided view of it, and the steps ``a_i + (Φ_l(u_{i-1}) - b_i)`` two array operations on all
of a map's rows (elementwise the same operations, so the same bits). The batched backend (and
``auto`` where it batches) hands a map straight to the level's ``propagate_batch`` as one array
when the propagator takes stacked states (``stacked_batch``, the ODE propagators); the
returned array is checked once (type, dtype, shape). Other backends and propagators get a list
of rows, and their returns are checked state by state and stacked. Other states (torch
tensors) are kept in lists, one state per point.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ._checked import StateChecker
from ._iteration import _Recorder
from ._mgrit_levels import AllLevels
from .backends import AutoBackend, Backend, BatchedBackend
from .errors import InputError
from .norms import nan_max, slice_norms
from .propagator import Propagator

__all__ = ["MGRITOptions", "MGRITRun", "AllLevels", "run_mgrit", "exact_iterations", "stackable"]

_FLOAT64 = np.dtype(np.float64)


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


def stackable(u0: Any, initial: Any) -> bool:
    """Whether a run keeps each level's states as the rows of one float64 array (module docstring).

    Returns
    -------
    bool
        True when ``u0`` and the given initial C-points (if any) are float64 arrays of one shape.
    """
    if type(u0) is not np.ndarray or u0.dtype is not _FLOAT64 or u0.ndim == 0:
        return False
    return isinstance(initial, str) or all(
        type(x) is np.ndarray and x.dtype is _FLOAT64 and x.shape == u0.shape for x in initial
    )


def _combine(a: Any, y: Any, b: Any, stacked: bool) -> Any:
    """``a + (y - b)`` state by state (parareal's ``F + (G_new - G_old)``); two array operations on stacked states."""
    if stacked:
        out = y - b
        return np.add(a, out, out=out)
    return [ai + (yi - bi) for ai, yi, bi in zip(a, y, b)]


@dataclass
class _Rhs:
    """A coarse level's right-hand side ``g_i = a_i - b_i`` at ``i >= 1``, both at index ``i - 1``; ``g_1 = a_1`` (no ``b_1``)."""

    a: Any  # the finer level's a_c
    a_ids: list[int]
    b: Any  # Φ(v_{i-1}): the restriction's images


@dataclass
class _Level:
    """One level's system and its current approximation (module docstring)."""

    propagator: Propagator
    name: str
    checker: StateChecker
    ids: np.ndarray  # which state each point holds: equal ids, the same state
    direct: bool  # stacked states go straight to the propagator's propagate_batch (Hierarchy.map)
    points: Any = None  # u_0..u_N: a list of states, or the rows of one array
    rhs: _Rhs | None = None  # None: g = 0
    fresh: bool = False  # the F-points follow from the current C-points
    c_values: Any = None  # a_c = Φ(u_{cm-1}) + g_{cm}, c = 1..N_{l+1}, at index c - 1
    c_ids: Any = None


@dataclass
class _Hierarchy:
    """All levels of one run, the options, and what the propagators cost."""

    levels: list[_Level]
    combined: AllLevels
    options: MGRITOptions
    stacked: bool
    shape: tuple[int, ...]
    evaluations: list[int]
    seconds: list[float]
    # per level: the ids of the states w of the last exact solve, sweep or restriction, their
    # images Φ(w_c) at index c, and which of those are known
    images: dict[int, tuple[np.ndarray, Any, np.ndarray]] = field(default_factory=dict)
    next_id: int = 1  # id 0 is u0's

    def new(self, n: int) -> Any:
        """Room for ``n`` states: an array of ``n`` rows, or a list."""
        return np.empty((n, *self.shape)) if self.stacked else [None] * n

    def copy(self, states: Any) -> Any:
        return states.copy() if self.stacked else list(states)

    def take(self, states: Any, indices: list[int]) -> Any:
        return states[indices] if self.stacked else [states[i] for i in indices]

    def put(self, states: Any, indices: Any, values: Any) -> None:
        if self.stacked:
            states[indices] = values
        else:
            for i, value in zip(indices, values):
                states[i] = value

    def fresh_ids(self, n: int) -> np.ndarray:
        """``n`` ids no state had before."""
        self.next_id += n
        return np.arange(self.next_id - n, self.next_id)

    def map(self, l: int, states: Any, slices: Sequence[int]) -> Any:
        """``[Φ_l(u, j) for u, j in zip(states, slices)]`` run by the backend (the parallel work), checked and counted.

        Stacked states go to the level's ``propagate_batch`` as one array where the backend
        would hand them to it in one call anyway (the batched backend, ``auto`` where it
        batches) and the propagator takes them stacked; the returned array is checked as a
        whole (its type, dtype and shape), once per call.
        """
        if not len(slices):
            return self.new(0)
        level = self.levels[l]
        start = time.perf_counter()
        if level.direct and len(states) >= 2:
            if type(self.options.backend) is AutoBackend:
                self.options.backend.choice = "batched"
            values = cast(Any, level.propagator).propagate_batch(states, slices)
            if not (type(values) is np.ndarray and values.dtype is _FLOAT64 and values.shape == states.shape):
                values = self._checked(l, values, slices, f"`{level.name}.propagate_batch`")
        else:
            offset = self.combined.offsets[l]
            given = list(states) if self.stacked else states
            values = self.options.backend.map(self.combined, given, [offset + j for j in slices])
            values = self._checked(l, values, slices, "`backend`")
        self.seconds[l] += time.perf_counter() - start
        self.evaluations[l] += len(slices)
        return values

    def _checked(self, l: int, values: Any, slices: Sequence[int], source: str) -> Any:
        """Every state of ``values`` checked against the run's signature; stacked in a stacked run."""
        level = self.levels[l]
        values = list(values)
        if len(values) != len(slices):
            raise InputError(f"{source} returned {len(values)} states for {len(slices)} slices of {level.name}.")
        for value, j in zip(values, slices):
            level.checker.check(value, level.name, j)
        return np.stack(values) if self.stacked else values

    def steps(self, l: int, targets: range) -> tuple[Any, np.ndarray]:
        """``Φ_l(u_{i-1}, i-1) + g_i`` for every point ``i`` of ``targets``, in one backend map, and their new ids.

        Where ``g_i = a_i`` (point 1 of a coarse level, whose predecessor is ``u0`` on every
        level) the step is ``a_i`` itself, without a call: ``Φ_l(u0) - Φ_l(u0) = 0``.
        """
        level = self.levels[l]
        rhs = level.rhs
        start, stop, step = targets.start, targets.stop, targets.step
        first = rhs is not None and start == 1
        if first:
            start += step
        y = self.map(l, level.points[start - 1 : stop - 1 : step], range(start - 1, stop - 1, step))
        ids = self.fresh_ids(len(y))
        if rhs is None:
            return y, ids
        values = _combine(rhs.a[start - 1 : stop - 1 : step], y, rhs.b[start - 1 : stop - 1 : step], self.stacked)
        if first:
            ids = np.concatenate([rhs.a_ids[:1], ids])
            values = np.concatenate([rhs.a[:1], values]) if self.stacked else [rhs.a[0], *values]
        return values, ids


def _batches_stacked(propagator: Propagator, u0: np.ndarray, backend: Backend) -> bool:
    """Whether the backend hands a batch of states to ``propagator.propagate_batch`` in one call, which takes them stacked.

    The batched backend does for two states or more, ``auto`` where it batches states of
    ``u0``'s size (``AutoBackend.chooses_batched``); another backend gets every map.
    """
    if getattr(propagator, "stacked_batch", False) is not True:
        return False
    if type(backend) is BatchedBackend:
        return True
    return type(backend) is AutoBackend and backend.chooses_batched(propagator, [u0, u0])


def _f_relax(h: _Hierarchy, l: int, *, with_c: bool) -> None:
    """The F-points of every coarse interval from its C-point (``m - 1`` maps), and ``a_c`` if ``with_c``."""
    level, m = h.levels[l], h.options.coarsening
    n = len(level.ids) - 1
    if not level.fresh:
        for s in range(1, m):
            level.points[s:n:m], level.ids[s:n:m] = h.steps(l, range(s, n, m))
        level.fresh, level.c_values = True, None
    if with_c and level.c_values is None:
        level.c_values, level.c_ids = h.steps(l, range(m, n + 1, m))


def _set_c_points(level: _Level, values: Any, ids: np.ndarray, m: int) -> None:
    """``u_{cm} <- values[c - 1]`` for ``c >= 1``; the F-points become stale."""
    level.points[m::m] = values
    level.ids[m::m] = ids
    level.fresh, level.c_values = False, None


def _relax(h: _Hierarchy, l: int) -> None:
    """F- or FCF-relaxation of level ``l``; afterwards its F-points and ``a_c`` are current."""
    _f_relax(h, l, with_c=True)
    if h.options.relax == "FCF":
        level = h.levels[l]
        _set_c_points(level, level.c_values, level.c_ids, h.options.coarsening)  # C-relaxation: u_{cm} = a_c
        _f_relax(h, l, with_c=True)


def _restrict(h: _Hierarchy, l: int) -> None:
    """FAS restriction: level ``l + 1`` starts from ``v = u[::m]`` with ``g_c = a_c - Φ_{l+1}(v_{c-1})``.

    ``g_1 = a_1``: ``v_0 = u0`` never changes, so the step into point 1 is ``a_1``.
    ``Φ_{l+1}(v_c)`` is reused where ``v_c`` is the state whose image the last solve, sweep
    or restriction on level ``l + 1`` computed (the same id).
    """
    level, m = h.levels[l], h.options.coarsening
    assert level.c_values is not None
    v, v_ids = level.points[::m], level.ids[::m].copy()
    n = len(v_ids) - 1
    images = h.new(n)  # Φ_{l+1}(v_c) at index c >= 1
    known_ids, known_images, known = h.images.get(l + 1, (v_ids, None, np.zeros(n, dtype=bool)))
    same = (v_ids[1:n] == known_ids[1:n]) & known[1:n]
    if not len(same):  # one coarse interval: no image needed
        pass
    elif same.all():  # two levels with F-relaxation: the last solve's images
        images[1:] = known_images[1:n]
    elif not same.any():  # the first restriction, FCF-relaxation: all anew, one map
        images[1:] = h.map(l + 1, v[1:n], range(1, n))
    else:
        reused, missing = (np.flatnonzero(same) + 1).tolist(), (np.flatnonzero(~same) + 1).tolist()
        h.put(images, reused, h.take(known_images, reused))
        h.put(images, missing, h.map(l + 1, h.take(v, missing), missing))
    coarse = h.levels[l + 1]
    coarse.points, coarse.ids = h.copy(v), v_ids.copy()
    coarse.rhs = _Rhs(level.c_values, level.c_ids.tolist(), images)
    coarse.fresh, coarse.c_values = False, None
    h.images[l + 1] = (v_ids, images, np.arange(n) >= 1)  # a solve that keeps w_c = v_c reuses them


def _solve_exactly(h: _Hierarchy, l: int) -> None:
    """The coarsest level, sequentially: ``w_c = a_c + (Φ(w_{c-1}) - b_c)``; ``w_c = a_c`` where ``w_{c-1}`` is ``v_{c-1}``.

    Stacked states are updated in place, row by row (the rows as lists of views).
    """
    level, rhs = h.levels[l], h.levels[l].rhs
    assert rhs is not None
    start = time.perf_counter()
    v_ids = level.ids.tolist()
    w, w_ids = h.copy(level.points), list(v_ids)
    n = len(v_ids) - 1
    images: Any = [None] * n  # Φ(w_c) at index c where known
    a, b = rhs.a, rhs.b
    w_rows, a_rows, b_rows = (list(w), list(a), list(b)) if h.stacked else (w, a, b)
    scratch = np.empty(h.shape) if h.stacked else None
    propagator, check, name = level.propagator, level.checker.check, level.name
    first_id = h.next_id
    for c in range(1, n + 1):
        if c == 1 or w_ids[c - 1] == v_ids[c - 1]:  # Φ(w_{c-1}) = b_c: no correction (parareal's U_1 = F_0(u0))
            w[c], w_ids[c] = a[c - 1], rhs.a_ids[c - 1]
            if c > 1:
                images[c - 1] = b_rows[c - 1]
            continue
        y = images[c - 1] = check(propagator(w_rows[c - 1], c - 1), name, c - 1)
        w_ids[c] = h.next_id
        h.next_id += 1
        if scratch is None:
            w[c] = a[c - 1] + (y - b[c - 1])
        else:  # the same two operations, into the row
            np.add(a_rows[c - 1], np.subtract(y, b_rows[c - 1], out=scratch), out=w_rows[c])
    known = np.array([image is not None for image in images], dtype=bool)
    if h.stacked:
        stacked = h.new(n)
        if n > 1:
            stacked[1:] = images[1:]
        images = stacked
    level.points, level.ids = w, np.array(w_ids)
    h.images[l] = (level.ids.copy(), images, known)
    h.evaluations[l] += h.next_id - first_id
    h.seconds[l] += time.perf_counter() - start  # as parareal's coarse time: the calls and the updates


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
    coarse = h.levels[l + 1]
    _set_c_points(h.levels[l], coarse.points[1:], coarse.ids[1:], h.options.coarsening)  # u_{cm} <- w_c
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


def _sweep(h: _Hierarchy, l: int, u0: Any) -> tuple[Any, np.ndarray]:
    """``w_0 = u0``, ``w_{j+1} = Φ_l(w_j, j)``: level ``l``'s system with ``g = 0`` solved sequentially, and the ids."""
    n = len(h.levels[l].ids) - 1
    level, start = h.levels[l], time.perf_counter()
    states: Any = [u0]
    for j in range(n):
        states.append(level.checker.check(level.propagator(states[j], j), level.name, j))
    h.seconds[l] += time.perf_counter() - start
    h.evaluations[l] += n
    if h.stacked:
        states = np.stack(states)
    ids = np.concatenate([[0], h.fresh_ids(n)])
    h.images[l] = (ids, states[1:], np.ones(n, dtype=bool))  # Φ_l(w_j) = w_{j+1}
    return states, ids


def _nested_points(h: _Hierarchy, u0: Any) -> tuple[Any, np.ndarray]:
    """PyMGRIT's nested iteration: sweep the coarsest level, then on each level ``l = L-2 .. 1`` a V-cycle.

    Level ``l`` (right-hand side ``g = 0``) takes level ``l + 1``'s points as its C-points and
    runs one V-cycle from them (its relaxation first); its points are then level ``l - 1``'s
    C-points. With two levels this is the sweep of ``levels[1]``, ``initial="coarse"``.
    """
    m, last = h.options.coarsening, len(h.levels) - 1
    points, ids = _sweep(h, last, u0)
    for l in range(last - 1, 0, -1):
        level = h.levels[l]
        level.points = h.new(len(level.ids))
        level.points[::m], level.ids[::m] = points, ids
        level.rhs, level.fresh, level.c_values = None, False, None
        _cycle(h, l, "V")
        points, ids = level.points, level.ids
    return h.copy(points), ids.copy()


def _initial_points(h: _Hierarchy, u0: Any) -> tuple[Any, np.ndarray]:
    """The level-0 C-point values ``U^0`` and their ids: a sweep of ``levels[1]``, nested iteration, ``u0``, or the given."""
    initial, n1 = h.options.initial, len(h.levels[1].ids) - 1
    if initial == "coarse":
        return _sweep(h, 1, u0)  # U^0_{j+1} = Φ_1(U^0_j)
    if initial == "nested":
        return _nested_points(h, u0)
    if initial == "u0":
        states = h.new(n1 + 1)
        states[:] = u0 if h.stacked else [u0] * (n1 + 1)
        return states, np.zeros(n1 + 1, dtype=int)
    assert not isinstance(initial, str)
    states = [u0, *initial]
    return (np.stack(states) if h.stacked else states), np.concatenate([[0], h.fresh_ids(n1)])


def _listed(c_points: Any, u0: Any) -> list[Any]:
    """The C-points as a list of states, ``u0`` itself first."""
    states = list(c_points)
    states[0] = u0
    return states


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
    stacked = stackable(u0, options.initial)
    h = _Hierarchy(
        [
            _Level(p, name, StateChecker(u0), np.full(n + 1, -1), stacked and _batches_stacked(p, u0, options.backend))
            for p, name, n in zip(levels, names, sizes)
        ],
        AllLevels(levels),
        options,
        stacked,
        tuple(u0.shape) if stacked else (),
        [0] * len(levels),
        [0.0] * len(levels),
    )
    c_points, c_ids = _initial_points(h, u0)
    fine = h.levels[0]
    fine.points = h.new(sizes[0] + 1)
    fine.points[::m], fine.ids[::m] = c_points, c_ids
    _f_relax(h, 0, with_c=True)
    initial_seconds = time.perf_counter() - start
    recorder = _Recorder(options)
    listed = options.store_iterates or options.callback is not None  # else no list of each iterate is needed
    states = _listed(c_points, u0) if listed else c_points
    error = recorder.record_initial(c_points)
    residuals: list[float] = []
    residual = _residual(h)
    if residual is not None:
        residuals.append(residual)
    iterates = [states] if options.store_iterates else None
    k = 0
    stopped = notify(0, states, None, error, residual, h.evaluations, recorder.finite) or not recorder.finite
    asked = stopped and recorder.finite
    tolerance_met = False
    while not stopped and k < options.max_iterations:
        old = c_points
        _cycle(h, 0, options.cycle)
        c_points = h.copy(fine.points[::m])
        k += 1
        increment, error = recorder.record_iteration(k, old, c_points, [], [])
        states = _listed(c_points, u0) if listed else c_points
        residual = _residual(h)
        if residual is not None:
            residuals.append(residual)
        if iterates is not None:
            iterates.append(states)
        stopped = asked = notify(k, states, increment, error, residual, h.evaluations, recorder.finite)
        if not recorder.finite:
            break
        measure = increment if options.criterion == "increment" else residual
        if options.tol is not None and measure is not None and measure <= options.tol:
            tolerance_met = True
            break
    recorder.check_end_state(states, k)
    reason = _stop_reason(recorder.finite, tolerance_met, k >= exact_iterations(sizes[1], options.relax), asked)
    timings = {
        "initial": initial_seconds,
        "fine": h.seconds[0],
        "coarse": sum(h.seconds[1:]),
        "total": time.perf_counter() - start,
    }
    return MGRITRun(
        _listed(states, u0), iterates, recorder, residuals, k, reason, list(fine.points), h.evaluations, timings
    )


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
