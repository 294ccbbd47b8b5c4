"""The parareal iteration as small named steps, run on the options :func:`parareal` validated once.

A run is the initial iterate (the coarse sweep ``U^0_{j+1} = G_j(U^0_j)`` or the given
guesses), then per iteration one fine sweep ``F_j(U^k_j)`` over all slices, the update of
the chosen form (looked up in :data:`FORM_UPDATES`) and the recorder's measurements
(increments, errors, estimates, non-finite states). It stops when the criterion is at most
``tol``, at the iterations cap, at the first non-finite iterate, or when the callback raises
``StopIteration``, and names why (``PararealResult.stop_reason``; reaching ``K = N`` is
``"exact"`` only where :func:`exact_after_all_slices` says the theorem holds). The numerical facts are stated in the module docstring of
``parareal_toolkit.driver``. Nothing here refuses user input except the shape checks that
need the iterate (guesses against the fine states they stand for, the reference against the
initial iterate), through :func:`check_same_shape`, which the driver's validation shares.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ._checked import StateChecker
from ._names import CONVERGED_STOP_REASONS
from .backends import Backend
from .errors import InputError
from .norms import max_abs, nan_max, slice_norms
from .parareal_result import IterationInfo, PararealResult
from .propagator import Propagator

__all__ = ["RunOptions", "FORM_UPDATES", "run_iterations", "check_same_shape", "exact_after_all_slices"]


@dataclass(frozen=True)
class RunOptions:
    """Everything :func:`parareal_toolkit.parareal` validated, frozen before the first propagator call.

    ``initial`` and ``reference`` are the sequences of states (arrays already split along
    their first axis); ``backend`` is the resolved :class:`~parareal_toolkit.backends.Backend`.
    The other fields are the arguments of the same name (``max_iterations`` is
    ``iterations``, ``N`` when not given).
    """

    num_slices: int
    max_iterations: int
    tol: float | None
    criterion: str
    form: str
    norm: Callable[[Any], float]
    callback: Callable[[IterationInfo], Any] | None
    monitor: bool
    store_iterates: bool
    fine_lipschitz: float | None
    initial: Sequence[Any] | None
    reference: Sequence[Any] | None
    backend: Backend


def _new_timings() -> dict[str, float]:
    return {"initial": 0.0, "fine": 0.0, "coarse": 0.0}


@dataclass
class _Progress:
    """The iterate ``U^k``, the iterates before it, and what reaching it cost: a run's mutable state."""

    states: list[Any]
    initial_kind: str
    iterates: list[list[Any]] | None
    # compares every propagator return with the run's signature (parareal_toolkit._checked)
    checker: StateChecker
    # G_j(U^k_j) at index j, kept by the standard form so that an iteration costs one coarse
    # evaluation per slice
    coarse_of_states: list[Any] | None = None
    k: int = 0
    fine_evaluations: int = 0
    coarse_evaluations: int = 0
    timings: dict[str, float] = field(default_factory=_new_timings)

    def advance(self, new: list[Any]) -> None:
        """Make ``new`` the iterate ``U^{k+1}``."""
        self.states = new
        self.k += 1
        if self.iterates is not None:
            self.iterates.append(new)


def _initial_iterate(coarse: Propagator, u0: Any, options: RunOptions) -> _Progress:
    """``U^0``: the coarse sweep ``U^0_{j+1} = G_j(U^0_j)`` (N coarse evaluations), or ``u0`` and the guesses."""
    n, initial = options.num_slices, options.initial
    checker = StateChecker(u0)
    if initial is None:
        states = [u0]
        for j in range(n):
            states.append(checker.check(coarse(states[j], j), "coarse", j))
        iterates = [states] if options.store_iterates else None
        # the sweep's G_j(U^0_j) are the standard form's first coarse values
        return _Progress(states, "coarse", iterates, checker, coarse_of_states=states[1:], coarse_evaluations=n)
    states = [u0, *initial]
    if len(initial) == n - 1:
        states.append(None)  # the end state was not guessed
    return _Progress(states, "given", [states] if options.store_iterates else None, checker)


def _fine_sweep(fine: Propagator, progress: _Progress, options: RunOptions) -> list[Any]:
    """``F_j(U^k_j)`` for ``j = 0..N-1``, run by the backend (the one parallel step)."""
    n = options.num_slices
    start = time.perf_counter()
    fine_values = list(options.backend.map(fine, progress.states[:n], range(n)))
    if len(fine_values) != n:
        raise InputError(f"`backend` returned {len(fine_values)} fine states for the N = {n} slices; expected {n}.")
    progress.fine_evaluations += n
    if progress.k == 0 and options.initial is not None:  # a guess must have the shape of the state it guesses
        for j, guess in enumerate(options.initial):  # (first: a wrong guess makes fine's return wrong too)
            check_same_shape(guess, f"initial[{j}]", fine_values[j], f"the fine state F_{j}(U_{j}) it guesses")
    check = progress.checker.check
    for j, value in enumerate(fine_values):
        check(value, "fine", j)
    progress.timings["fine"] += time.perf_counter() - start
    return fine_values


def _standard_update(coarse: Propagator, fine_values: list[Any], progress: _Progress) -> tuple[list[Any], list[Any]]:
    """``U^{k+1}_{j+1} = F_j(U^k_j) + G_j(U^{k+1}_j) - G_j(U^k_j)``; returns the new iterate and the corrections ``c_j``."""
    n, states = len(fine_values), progress.states
    if progress.coarse_of_states is None:
        # Given guesses: G_j(U^0_j). Coarse work always runs where the driver runs (the
        # backends carry only fine sweeps), so replicated coarse networks see the same
        # computation, and get the same gradients, on every rank.
        check = progress.checker.check
        progress.coarse_of_states = [None, *(check(coarse(states[j], j), "coarse", j) for j in range(1, n))]
        progress.coarse_evaluations += n - 1
    coarse_of_old = progress.coarse_of_states
    new = [states[0], fine_values[0]]
    corrections: list[Any] = [None]  # the coarse correction c_j added to F_j(U^k_j), j >= 1
    coarse_of_new: list[Any] = [None]
    check = progress.checker.check
    for j in range(1, n):
        g = check(coarse(new[j], j), "coarse", j)
        coarse_of_new.append(g)
        # F + (G_new - G_old): the difference is exactly zero on converged slices.
        corrections.append(g - coarse_of_old[j])
        new.append(fine_values[j] + corrections[j])
    progress.coarse_of_states = coarse_of_new
    progress.coarse_evaluations += n - 1
    return new, corrections


def _correction_update(coarse: Propagator, fine_values: list[Any], progress: _Progress) -> tuple[list[Any], list[Any]]:
    """``U^{k+1}_{j+1} = F_j(U^k_j) + G_j(U^{k+1}_j - U^k_j)``; returns the new iterate and the corrections ``c_j``."""
    n, states = len(fine_values), progress.states
    new = [states[0], fine_values[0]]
    corrections: list[Any] = [None]  # c_j = G_j(δ_j), j >= 1 (δ_0 = 0: slice 0 is never corrected)
    check = progress.checker.check
    for j in range(1, n):
        corrections.append(check(coarse(new[j] - states[j], j), "coarse", j))
        new.append(fine_values[j] + corrections[j])
    progress.coarse_evaluations += n - 1
    return new, corrections


# name -> update; the keys are parareal_toolkit._names.FORMS (a test checks it)
FORM_UPDATES: Mapping[str, Callable[[Propagator, list[Any], _Progress], tuple[list[Any], list[Any]]]] = {
    "standard": _standard_update,
    "correction": _correction_update,
}


class RecordingOptions(Protocol):
    """What a recorder reads from a run's options (``RunOptions``, or MGRIT's options)."""

    @property
    def norm(self) -> Callable[[Any], float]: ...

    @property
    def monitor(self) -> bool: ...

    @property
    def reference(self) -> Sequence[Any] | None: ...

    @property
    def fine_lipschitz(self) -> float | None: ...


class _Recorder:
    """A run's measurements: increments, errors against the reference, estimates, the first non-finite iterate.

    With monitoring every state of every iterate is known to be finite or not from norms
    already computed: the initial iterate's norms, then each increment, which is finite
    exactly when the new state is (the previous one being finite). Only a non-finite
    increment costs extra norms, to tell an overflowing difference of finite states from a
    non-finite state.
    """

    def __init__(self, options: RecordingOptions) -> None:
        self.norm = options.norm
        self.monitor = options.monitor
        self.reference = options.reference
        self.fine_lipschitz = options.fine_lipschitz
        self.increments: list[float] = []
        self.estimates: list[float] = []
        self.slice_errors: list[list[float]] | None = [] if (self.reference is not None and self.monitor) else None
        self.unknown: list[list[bool]] = []  # per iterate: which states are unknown (an unguessed U^0_N)
        self.nonfinite_iteration: int | None = None

    @property
    def finite(self) -> bool:
        """Whether no NaN or infinity has been found so far."""
        return self.nonfinite_iteration is None

    def record_initial(self, states: list[Any]) -> float | None:
        """Check ``U^0`` for NaN and infinity (with monitoring); returns its error against the reference."""
        if self.monitor and not self._all_finite(states):
            self.nonfinite_iteration = 0
        return self.record_error(states)

    def record_iteration(
        self, k: int, old: Any, new: Any, fine_values: list[Any], corrections: list[Any]
    ) -> tuple[float | None, float | None]:
        """Record iterate ``k`` (``new``, made from ``old``); returns its increment and its error."""
        increment = self._record_increment(k, old, new)
        if self.fine_lipschitz is not None:
            self.estimates.append(_error_estimate(fine_values, old, corrections, self.fine_lipschitz, self.norm))
        return increment, self.record_error(new)

    def _record_increment(self, k: int, old: Any, new: Any) -> float | None:
        """``max_j norm(U^k_j - U^{k-1}_j)`` over the known old states, and the finiteness of ``new``.

        ``old`` and ``new`` are lists of states (``None`` for an unknown one), or two arrays
        whose rows are the states.
        """
        if not self.monitor:
            return None
        if isinstance(new, np.ndarray) and isinstance(old, np.ndarray):  # stacked states (MGRIT's): all known
            norms = slice_norms(self.norm, new[1:], old[1:])
            increment = nan_max(norms) if norms else 0.0
            self.increments.append(increment)
            if not math.isfinite(increment) and not self._all_finite(new[1:]):
                self.nonfinite_iteration = k
            return increment
        pairs = [(a, b) for a, b in zip(new[1:], old[1:]) if b is not None]
        norms = slice_norms(self.norm, [a for a, _ in pairs], [b for _, b in pairs])
        increment = nan_max(norms) if pairs else 0.0
        self.increments.append(increment)
        # States that no increment checked (U^1_N after guesses without the end state), or
        # all of them after a non-finite increment (a non-finite state, or the difference of
        # two finite ones overflowing).
        if math.isfinite(increment):
            unchecked = [a for a, b in zip(new[1:], old[1:]) if b is None]
        else:
            unchecked = new[1:]
        if unchecked and not self._all_finite(unchecked):
            self.nonfinite_iteration = k
        return increment

    def record_error(self, current: list[Any]) -> float | None:
        """``max_j norm(U_j - reference_j)`` over the known states, recorded per slice; None without a reference."""
        if self.slice_errors is None or self.reference is None:
            return None
        reference = self.reference
        if len(self.slice_errors) == 0:  # the first iterate fixes every state's shape
            for j, (u, r) in enumerate(zip(current, reference)):
                if u is not None:
                    check_same_shape(r, f"reference[{j}]", u, f"the iterate's state U_{j}")
        known = [j for j, u in enumerate(current) if u is not None]
        values = slice_norms(self.norm, [current[j] for j in known], [reference[j] for j in known])
        row = [math.nan] * len(current)
        for j, value in zip(known, values):
            row[j] = value
        self.slice_errors.append(row)
        self.unknown.append([u is None for u in current])
        return nan_max([e for e, u in zip(row, current) if u is not None])

    def check_end_state(self, states: list[Any], k: int) -> None:
        """Without monitoring, the one norm computed: the end state's, which says whether it is finite."""
        if not self.monitor and not math.isfinite(self.norm(states[-1])):
            self.nonfinite_iteration = k

    def errors(self) -> tuple[list[float] | None, np.ma.MaskedArray | None]:
        """The error of each iterate and the masked per-slice errors, both None without a reference."""
        if self.slice_errors is None:
            return None, None
        masked = np.ma.masked_array(np.array(self.slice_errors, dtype=float), mask=np.array(self.unknown, dtype=bool))
        errors = [
            nan_max([e for e, unknown in zip(row, mask) if not unknown])
            for row, mask in zip(self.slice_errors, self.unknown)
        ]
        return errors, masked

    def _all_finite(self, states: Sequence[Any] | np.ndarray) -> bool:
        if type(states) is np.ndarray and self.norm is max_abs:  # stacked states: one norm of them all
            return math.isfinite(max_abs(states))
        return all(math.isfinite(self.norm(u)) for u in states if u is not None)


def _error_estimate(
    fine_values: list[Any], states: list[Any], corrections: list[Any], lipschitz: float, norm: Callable[[Any], float]
) -> float:
    """The a-posteriori bound on the new iterate's error (driver module docstring): ``max_j L E^k_j + norm(c_j)``."""
    bound = 0.0  # U^{k+1}_1 = F_0(u0) is exact
    previous = 0.0  # E^k_0
    for j in range(1, len(fine_values)):
        old = states[j]
        # E^k_j from the jump into slice j; an unknown U^0_N is never needed (j < N)
        previous = lipschitz * previous + float(norm(fine_values[j - 1] - old))
        bound = nan_max([bound, lipschitz * previous + float(norm(corrections[j]))])
    return bound


def _notify(
    callback: Callable[[IterationInfo], Any] | None,
    progress: _Progress,
    increment: float | None,
    error: float | None,
    finite: bool,
) -> bool:
    """Hand iterate ``k`` to the callback; returns whether it asked to stop (raised ``StopIteration``)."""
    if callback is None:
        return False
    info = IterationInfo(
        progress.k,
        progress.states,
        increment,
        error,
        progress.fine_evaluations,
        progress.coarse_evaluations,
        finite,
    )
    try:
        callback(info)
    except StopIteration:
        return True
    return False


def _tolerance_met(increment: float | None, recorder: _Recorder, options: RunOptions) -> bool:
    """The stop test: whether the criterion (the increment or the estimate) is at most ``tol``."""
    if options.tol is None:
        return False
    measure = increment if options.criterion == "increment" else recorder.estimates[-1]
    return measure is not None and measure <= options.tol


def run_iterations(fine: Propagator, coarse: Propagator, u0: Any, options: RunOptions) -> PararealResult:
    """Run parareal on validated options: ``U^0``, then a fine sweep, an update and a record per iteration.

    After ``k`` iterations ``U^k_0..U^k_k`` equal the sequential fine solution.

    Parameters
    ----------
    fine, coarse : Propagator
        Propagators over the same ``options.num_slices`` slices.
    u0 : state
        The initial value ``U_0``.
    options : RunOptions
        The validated arguments of :func:`parareal_toolkit.parareal`.

    Returns
    -------
    PararealResult
        The final iterate and the run's record.
    """
    start = time.perf_counter()
    progress = _initial_iterate(coarse, u0, options)
    progress.timings["initial"] = time.perf_counter() - start
    recorder = _Recorder(options)
    error = recorder.record_initial(progress.states)
    stopped = _notify(options.callback, progress, None, error, recorder.finite) or not recorder.finite
    asked_to_stop = stopped and recorder.finite
    update = FORM_UPDATES[options.form]
    tolerance_met = False
    while not stopped and progress.k < options.max_iterations:
        old = progress.states
        fine_values = _fine_sweep(fine, progress, options)
        coarse_start = time.perf_counter()
        new, corrections = update(coarse, fine_values, progress)
        progress.timings["coarse"] += time.perf_counter() - coarse_start
        increment, error = recorder.record_iteration(progress.k + 1, old, new, fine_values, corrections)
        progress.advance(new)
        stopped = asked_to_stop = _notify(options.callback, progress, increment, error, recorder.finite)
        if not recorder.finite:
            break
        if _tolerance_met(increment, recorder, options):
            tolerance_met = True
            break
    recorder.check_end_state(progress.states, progress.k)
    reason = _stop_reason(coarse, progress, recorder, options, tolerance_met=tolerance_met, asked=asked_to_stop)
    progress.timings["total"] = time.perf_counter() - start
    return _result(progress, recorder, reason, options)


def exact_after_all_slices(coarse: Propagator, form: str, num_slices: int) -> bool:
    """Whether ``K >= N`` iterations reproduce the fine solution by theorem, for this form and ``coarse``.

    The standard form: always, since ``G_j(U^{k+1}_j) - G_j(U^k_j)`` vanishes once both
    states are the exact ``u_j`` (induction on ``k``). The correction form adds
    ``G_j(δ_j)`` with ``δ_j = 0`` on exact interfaces, so it needs ``G_j(0) = 0`` for
    ``j = 1..N-1``: vacuous for ``N = 1``, and true for a linear ``G``. The driver does not
    probe ``G`` (a coarse network may update its statistics when called); it trusts a
    ``linear`` attribute set to ``True``, as every
    :class:`~parareal_toolkit.ode.LinearSlicePropagator` has (linear by construction).

    Parameters
    ----------
    coarse : Propagator
        The coarse propagator.
    form : str
        ``"standard"`` or ``"correction"``.
    num_slices : int
        ``N``.

    Returns
    -------
    bool
        True when exactness at ``K = N`` is a theorem for these inputs; False when it is
        unknown or false (an affine ``G`` with ``G_j(0) != 0``).
    """
    if form == "standard" or num_slices == 1:
        return True
    return getattr(coarse, "linear", None) is True


def _stop_reason(
    coarse: Propagator,
    progress: _Progress,
    recorder: _Recorder,
    options: RunOptions,
    *,
    tolerance_met: bool,
    asked: bool,
) -> str:
    """Why the run stopped, the first that applies of ``parareal_toolkit._names.STOP_REASONS`` in the order there."""
    if not recorder.finite:
        return "non-finite"
    if tolerance_met:
        return "tolerance"
    if progress.k >= options.num_slices:
        return "exact" if exact_after_all_slices(coarse, options.form, options.num_slices) else "all-slices"
    if asked:
        return "callback"
    return "iteration-cap"


def _result(progress: _Progress, recorder: _Recorder, stop_reason: str, options: RunOptions) -> PararealResult:
    """The :class:`PararealResult` of a finished run that stopped for ``stop_reason``."""
    errors, slice_errors = recorder.errors()
    return PararealResult(
        states=progress.states,
        iterates=progress.iterates,
        increments=recorder.increments,
        errors=errors,
        slice_errors=slice_errors,
        converged=stop_reason in CONVERGED_STOP_REASONS,
        iterations=progress.k,
        num_slices=options.num_slices,
        fine_evaluations=progress.fine_evaluations,
        coarse_evaluations=progress.coarse_evaluations,
        form=options.form,
        initial=progress.initial_kind,
        timings=progress.timings,
        finite=recorder.finite,
        nonfinite_iteration=recorder.nonfinite_iteration,
        criterion=options.criterion,
        estimates=recorder.estimates,
        stop_reason=stop_reason,
    )


def _shape(state: Any) -> tuple[int, ...] | None:
    """The shape of a numpy array, torch tensor, nested list or number; None if it has none."""
    shape = getattr(state, "shape", None)
    if shape is not None:
        return tuple(shape)
    try:
        return np.shape(state)
    except ValueError:  # a ragged nested list
        return None


def check_same_shape(state: Any, name: str, other: Any, what: str) -> None:
    """Refuse ``state`` unless it has the shape of ``other``: a difference would broadcast silently.

    Nothing is compared when ``other`` has no shape (a number or a custom state type).

    Raises
    ------
    InputError
        Naming ``name`` and ``what`` when the shapes differ.
    """
    expected = getattr(other, "shape", None)
    if expected is None:
        return
    expected = tuple(expected)
    shape = _shape(state)
    if shape != expected:
        raise InputError(
            f"`{name}` must have shape {expected}, the shape of {what}; got {shape} "
            "(states of different shapes would broadcast into meaningless differences)."
        )
