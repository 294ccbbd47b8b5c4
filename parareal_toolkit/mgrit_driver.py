"""MGRIT, multigrid reduction in time, in full approximation storage (FAS): parareal is its two-level case.

A hierarchy of ``L >= 2`` propagators: ``levels[0]`` takes one fine step per slice over
``N_0`` slices, and ``levels[l]`` covers ``N_l = N_{l-1} / m`` slices, each across ``m``
slices of level ``l - 1``. Level ``l`` solves ``A_l(u) = g_l`` with ``(A_l u)_0 = u_0`` and
``(A_l u)_i = u_i - Φ_l(u_{i-1}, i-1)``; level 0's right-hand side is ``u0`` at ``i = 0`` and
zero elsewhere, so its solution is the sequential fine solution. The points ``i`` that are
multiples of ``m`` are C-points, the others F-points.

Numerical facts (exact arithmetic; the tests pin each in float64):

* Two levels with F-relaxation are parareal's standard form with the fine propagator ``m``
  steps of ``levels[0]`` per coarse interval (:class:`ComposedPropagator`) and the coarse
  propagator ``levels[1]``: the C-point iterates are parareal's, bit for bit (the same
  operations in the same order; backends that batch must agree with one call per slice,
  as parareal's backends must).
* With F-relaxation, after ``k`` iterations the C-points ``0..k`` are exact (equal to the
  sequential fine solution), so ``N_1`` iterations reproduce it; with FCF-relaxation the
  C-points ``0..2k``, so ``ceil(N_1 / 2)`` iterations do. The tests show both for two, three
  and four levels, V- and F-cycles.
* The fine solution is a fixed point, and FAS makes linear and nonlinear propagators the
  same code (no linearisation; the coarse levels solve for the full state).

One iteration is one cycle from level 0. Relaxation on level ``l < L - 1``: F-relaxation
computes each interval's F-points from its C-point (``m - 1`` backend maps over all
intervals at once, each one ``propagate_batch`` on the batched backend, on all of them as one
array for numpy states); FCF then sets the
C-points from their predecessors and F-relaxes again. FAS restriction injects the C-points
``v_c = u_{cm}`` and sets ``g^{l+1}_c = r_c + v_c - Φ_{l+1}(v_{c-1})`` with the residual
``r_c = g_{cm} - u_{cm} + Φ_l(u_{cm-1})``. The coarsest level is solved exactly, sequentially
on the driver's process; a V-cycle recurses once per level, an F-cycle runs an F-cycle and
then a V-cycle on the next level (with two levels V and F coincide). The correction
``u_{cm} <- u_{cm} + (w_c - v_c)`` is ``u_{cm} <- w_c`` (injection makes ``v_c = u_{cm}``),
and every level F-relaxes after it, level 0 included, which yields the residual of the new
iterate and the fine solution at no extra cost: the next iteration's relaxation starts from
it. Cost in propagator calls: the initial C-points ``N_1`` calls of ``levels[1]`` (``"coarse"``) or,
with ``initial="nested"``, ``N_{L-1}`` calls of the coarsest level and one V-cycle on each level
``L-2, ..., 1``; the initial F-relaxation costs ``N_0`` calls of ``levels[0]``;
each iteration ``N_0`` more with F-relaxation and ``2 N_0`` with FCF, and on level
``1 <= l < L - 1`` per visit ``N_l`` (F) or ``2 N_l`` (FCF) plus ``N_l - N_l / m`` after the
correction, plus at most ``N_{l+1} - 1`` images ``Φ_{l+1}(v_{c-1})`` of the restriction (reused where
``v_{c-1}`` is unchanged since the last coarse solve) and ``N_{L-1} - 1`` calls of the
coarsest solve. Two levels with F-relaxation: ``N_1 - 1`` coarse calls per iteration and
``N_1`` for the initial sweep, parareal's counts.

The driver only calls propagators and adds and subtracts states: numpy arrays and torch
tensors alike, differentiable under autograd. Layout: :func:`mgrit` validates its arguments
into ``MGRITOptions``; ``parareal_toolkit._mgrit_cycles`` runs the cycles; the result is a
:class:`~parareal_toolkit.MGRITResult`, a :class:`~parareal_toolkit.PararealResult`
recorded by parareal's recorder.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from ._checked import check_initial_state, checked_norm, is_torch_tensor
from ._iteration import check_same_shape
from ._mgrit_cycles import MGRITOptions, exact_iterations, run_mgrit
from ._names import CONVERGED_STOP_REASONS, CYCLE_NAMES, MGRIT_CRITERIA, MGRIT_INITIAL_NAMES, RELAX_NAMES
from ._validation import check_bool, check_callable, check_choice, check_int, check_real
from .backends import Backend, get_backend
from .driver import _as_sequence, _check_kinds, _check_reference, _check_states, _require_state_memory
from .errors import InputError, InputTypeError
from .mgrit_result import MGRITIterationInfo, MGRITResult
from .norms import max_abs
from .propagator import Propagator, check_propagator, check_slice

__all__ = ["mgrit", "MGRITResult", "MGRITIterationInfo", "ComposedPropagator"]


class ComposedPropagator:
    """``factor`` consecutive slices of a propagator as one slice: parareal's fine propagator from MGRIT's fine steps.

    Slice ``j`` applies ``propagator`` on its slices ``j m, ..., j m + m - 1`` in turn.
    ``propagate_batch`` advances all requested slices together, one ``propagate_batch`` of
    the inner propagator per step (one call per slice without it), exactly as MGRIT's
    F-relaxation does, so parareal with this fine propagator and MGRIT on the same steps
    compute the same values.

    Parameters
    ----------
    propagator : Propagator
        The step propagator over ``N`` slices.
    factor : int
        ``m >= 1``, dividing ``N``.

    Examples
    --------
    >>> from parareal_toolkit import ComposedPropagator, propagate_sequentially
    >>> class Doubling:
    ...     num_slices = 6
    ...     def __call__(self, u, j):
    ...         return 2 * u
    >>> composed = ComposedPropagator(Doubling(), 3)
    >>> composed.num_slices, propagate_sequentially(composed, 1)
    (2, [1, 8, 64])
    """

    def __init__(self, propagator: Propagator, factor: int):
        n = check_propagator(propagator, "propagator")
        self.factor = check_int(factor, "factor", minimum=1)
        if n % self.factor:
            raise InputError(f"`factor` must divide propagator.num_slices = {n}; got {self.factor}.")
        self.propagator = propagator
        self.num_slices = n // self.factor
        self.linear = getattr(propagator, "linear", None) is True

    def __call__(self, u: Any, j: int) -> Any:
        """The state after the inner slices ``j m .. j m + m - 1`` started from ``u``.

        Returns
        -------
        state
            ``u`` advanced by ``m`` inner slices.
        """
        if type(j) is not int or not 0 <= j < self.num_slices:
            j = check_slice(j, self.num_slices)
        m = self.factor
        for s in range(m):
            u = self.propagator(u, j * m + s)
        return u

    def propagate_batch(self, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """``[self(u, j) for u, j in zip(states, slices)]``, one inner batch per step.

        Returns
        -------
        list
            One state per slice.
        """
        states, m = list(states), self.factor
        slices = [check_slice(j, self.num_slices) for j in slices]
        if len(states) != len(slices):
            raise InputError(f"`states` and `slices` must have equal lengths; got {len(states)} and {len(slices)}.")
        batch = getattr(self.propagator, "propagate_batch", None)
        for s in range(m):
            inner = [j * m + s for j in slices]
            if batch is not None and len(states) >= 2:
                states = list(batch(states, inner))
            else:
                states = [self.propagator(u, i) for u, i in zip(states, inner)]
        return states

    def __repr__(self) -> str:
        return f"ComposedPropagator({self.propagator!r}, {self.factor})"


def mgrit(
    levels: Sequence[Propagator],
    u0: Any,
    *,
    coarsening: int,
    relax: str = "F",
    cycle: str = "V",
    iterations: int | None = None,
    tol: float | None = None,
    criterion: str = "increment",
    initial: str | Sequence[Any] = "coarse",
    backend: str | Backend = "auto",
    norm: Callable[[Any], float] = max_abs,
    reference: Sequence[Any] | None = None,
    callback: Callable[[MGRITIterationInfo], Any] | None = None,
    store_iterates: bool = True,
    monitor: bool = True,
) -> MGRITResult:
    """Run MGRIT (FAS) on the hierarchy ``levels``: parareal when ``L = 2`` with F-relaxation.

    With F-relaxation, after ``k`` iterations the level-0 C-points ``0..k`` are exact, so
    ``N_1`` iterations reproduce the sequential fine solution (``2k`` and ``ceil(N_1 / 2)``
    with FCF); shown by the tests for two to four levels, V- and F-cycles. Two levels with
    F-relaxation give parareal's standard-form iterates (fine propagator
    ``ComposedPropagator(levels[0], m)``, coarse ``levels[1]``) bit for bit. See the module
    docstring for the algorithm and its cost per iteration.

    Parameters
    ----------
    levels : sequence of Propagator
        ``L >= 2`` propagators: ``levels[0]`` one fine step per slice over ``N_0`` slices,
        ``levels[l]`` over ``N_l = N_{l-1} / m`` slices, each across ``m`` slices of level
        ``l - 1`` (:func:`parareal_toolkit.ode.time_hierarchy` builds them for an ODE).
    u0 : numpy.ndarray or torch.Tensor
        The initial value; checked as :func:`~parareal_toolkit.parareal` checks it, and every
        propagator return against it (naming ``levels[l]`` and the slice).
    coarsening : int
        ``m >= 2``.
    relax : {"F", "FCF"}
        The relaxation on every level but the coarsest.
    cycle : {"V", "F"}
        The cycle (the same for two levels).
    iterations : int, optional
        The number ``K >= 0`` of iterations, or the cap with ``tol``. Default and maximum:
        ``N_1`` with F-relaxation, ``ceil(N_1 / 2)`` with FCF, where the result is exact; a
        larger value is capped with a ``UserWarning``.
    tol : float, optional
        Stop after the first iteration whose ``criterion`` is at most ``tol``.
    criterion : {"increment", "residual"}
        What ``tol`` is compared with: ``max_c norm(U^k_c - U^{k-1}_c)`` over the C-points, or
        the FAS residual ``max_c norm(Φ_0(u_{cm-1}) - u_{cm})`` of the iterate after its
        F-relaxation (zero exactly at the fine solution). ``"residual"`` needs ``tol``.
    initial : {"coarse", "nested", "u0"} or sequence of states
        The initial C-point values: a sequential sweep of ``levels[1]``
        (``U^0_{c+1} = levels[1](U^0_c, c)``, parareal's coarse sweep, for any ``L``);
        ``"nested"``, PyMGRIT's nested iteration (``nested_iteration=True``, its default): a
        sweep of the coarsest level, then for ``l = L-2, ..., 1`` level ``l``'s system with a
        zero right-hand side takes level ``l + 1``'s points as its C-points and runs one
        V-cycle (with ``relax``, whatever ``cycle`` is), and level 1's points are ``U^0``
        (the same as ``"coarse"`` for two levels); ``u0`` at every C-point; or ``N_1`` given
        states ``U^0_1..U^0_{N_1}`` (or an array of them). With ``initial="nested"``,
        ``relax`` ``"FCF"``/``"F"`` for ``cf_iter=1``/``0`` and the same ``cycle``, the
        iterates are PyMGRIT 1.0.6's (its ``u[0]`` after each iteration, the C-points here and
        all points in ``fine_states`` at the end), to rounding: the iteration is the same
        (relaxation, FAS restriction by injection, exact coarsest solve, correction, then an
        F-relaxation on every level, level 0 included; an F-cycle is an F-cycle then a
        V-cycle on each coarse level).
    backend : str or Backend
        How the relaxations and restrictions run on every level (see
        :func:`~parareal_toolkit.parareal`); the coarsest solve runs where the driver runs.
    norm : callable
        State norm for increments, residuals and errors (default: max absolute entry).
    reference : sequence or array, optional
        ``N_1 + 1`` exact states at the C-points, for the errors per iteration.
    callback : callable, optional
        Called as ``callback(MGRITIterationInfo)`` after the initial iterate and each
        iteration; ``StopIteration`` ends the run.
    store_iterates : bool
        Keep every C-point iterate in ``result.iterates``.
    monitor : bool
        Compute increments, residuals and errors (and so find NaN and infinity in the
        C-points); ``tol`` needs it.

    Returns
    -------
    MGRITResult
        The C-point iterate ``U^K_0..U^K_{N_1}`` with parareal's record (stop reason,
        increments, errors, ...), the residuals and the fine solution ``fine_states``.

    Raises
    ------
    InputTypeError, InputError
        For an argument of the wrong kind or value, naming it (levels whose slice counts do
        not shrink by ``coarsening``, fewer than two levels, an unknown ``relax``, ...), and
        for a propagator return that does not match ``u0``, naming the level.

    Examples
    --------
    Three levels on the heat equation with implicit Euler: FCF-relaxation with V-cycles
    stops at an increment of 1e-8 after 6 iterations (of at most 8).

    >>> from parareal_toolkit import mgrit, propagate_sequentially
    >>> from parareal_toolkit.ode import heat_1d, time_hierarchy
    >>> problem = heat_1d(20)
    >>> levels = time_hierarchy(problem, 64, coarsening=4, num_levels=3)
    >>> fine = propagate_sequentially(levels[0], problem.u0)
    >>> result = mgrit(levels, problem.u0, coarsening=4, relax="FCF", tol=1e-8, reference=fine[::4])
    >>> result.stop_reason, result.iterations
    ('tolerance', 6)
    >>> result.errors[-1] < 1e-8
    True
    """
    sizes = _check_levels(levels, coarsening)
    m = coarsening
    check_choice(relax, "relax", RELAX_NAMES)
    check_choice(cycle, "cycle", CYCLE_NAMES)
    check_choice(criterion, "criterion", MGRIT_CRITERIA)
    monitor = check_bool(monitor, "monitor")
    store_iterates = check_bool(store_iterates, "store_iterates")
    if tol is not None:
        tol = check_real(tol, "tol", minimum=0, strict=True)
        if not monitor:
            raise InputError("`tol` needs `monitor=True`: increments and residuals are what it is compared with.")
    elif criterion != "increment":
        raise InputError(
            f"`criterion` = {criterion!r} applies only with `tol` (it is what `tol` bounds); got tol=None."
        )
    exact = exact_iterations(sizes[1], relax)
    max_iterations = exact if iterations is None else check_int(iterations, "iterations", minimum=0)
    if max_iterations > exact:
        warnings.warn(
            f"`iterations` capped at {exact}: got {max_iterations}, but after {exact} iterations ({relax}-relaxation, "
            f"N_1 = {sizes[1]}) every C-point is exact, so further iterations would only repeat the last.",
            UserWarning,
            stacklevel=2,
        )
        max_iterations = exact
    check_callable(norm, "norm")
    if callback is not None:
        check_callable(callback, "callback")
    runner = get_backend(backend)
    owns_runner = isinstance(backend, str)
    try:
        validate = getattr(levels[0], "validate_state", None)
        if validate is not None:
            validate(u0, "u0")
        check_initial_state(u0)
        _require_state_memory(u0, sizes[0] + 1, "`levels[0]`")
        initial_value = _check_initial(initial, sizes[1], u0, validate)
        reference_states = _as_sequence(reference, "reference")
        if reference_states is not None:
            _check_reference(reference_states, sizes[1], u0)
            _check_kinds(reference_states, "reference", u0)
        options = MGRITOptions(
            coarsening=m,
            relax=relax,
            cycle=cycle,
            max_iterations=max_iterations,
            tol=tol,
            criterion=criterion,
            initial=initial_value,
            backend=runner,
            norm=checked_norm(norm),
            reference=reference_states,
            callback=callback,
            store_iterates=store_iterates,
            monitor=monitor,
        )
        run = run_mgrit(levels, u0, options, _notifier(callback))
    finally:
        if owns_runner and hasattr(runner, "close"):
            runner.close()
    errors, slice_errors = run.recorder.errors()
    return MGRITResult(
        states=run.states,
        iterates=run.iterates,
        increments=run.recorder.increments,
        errors=errors,
        slice_errors=slice_errors,
        converged=run.stop_reason in CONVERGED_STOP_REASONS,
        iterations=run.iterations,
        num_slices=sizes[1],
        fine_evaluations=run.evaluations[0],
        coarse_evaluations=sum(run.evaluations[1:]),
        form="mgrit",
        initial=initial if isinstance(initial, str) else "given",
        timings=run.timings,
        finite=run.recorder.finite,
        nonfinite_iteration=run.recorder.nonfinite_iteration,
        criterion=criterion,
        stop_reason=run.stop_reason,
        num_levels=len(sizes),
        coarsening=m,
        relax=relax,
        cycle=cycle,
        residuals=run.residuals,
        fine_states=run.fine_states,
        level_evaluations=list(run.evaluations),
        level_slices=sizes,
    )


def _check_levels(levels: Any, coarsening: Any) -> list[int]:
    """The slice counts ``N_l``; refuses fewer than two levels and counts that do not shrink by ``coarsening``."""
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence):
        raise InputTypeError(f"`levels` must be a sequence of propagators; got {type(levels).__name__}.")
    if len(levels) < 2:
        raise InputError(f"`levels` must hold at least 2 propagators (fine and coarse); got {len(levels)}.")
    m = check_int(coarsening, "coarsening", minimum=2)
    sizes = [check_propagator(p, f"levels[{l}]") for l, p in enumerate(levels)]
    for l in range(1, len(sizes)):
        if sizes[l] * m != sizes[l - 1]:
            raise InputError(
                f"`levels` must shrink by `coarsening` = {m}: levels[{l}].num_slices must be "
                f"levels[{l - 1}].num_slices / {m} = {sizes[l - 1] / m:g}; got slice counts {sizes}."
            )
    return sizes


def _check_initial(initial: Any, n1: int, u0: Any, validate: Callable[[Any, str], Any] | None) -> str | list[Any]:
    """``"coarse"``, ``"u0"`` or the ``N_1`` given C-point states as a list."""
    if isinstance(initial, str):
        return check_choice(initial, "initial", MGRIT_INITIAL_NAMES)
    states = _as_sequence(initial, "initial")
    if not isinstance(states, Sequence):
        raise InputTypeError(
            f"`initial` must be 'coarse', 'nested', 'u0' or a sequence of states; got {type(initial).__name__}."
        )
    if len(states) != n1:
        raise InputError(f"`initial` must hold N_1 = {n1} states U^0_1..U^0_N_1; got {len(states)}.")
    _check_states(states, "initial")
    _check_kinds(states, "initial", u0)
    for i, state in enumerate(states):
        if validate is not None:
            validate(state, f"initial[{i}]")
        if not is_torch_tensor(u0):  # a network's states may change shape from slice to slice
            check_same_shape(state, f"initial[{i}]", u0, "`u0`")
    return list(states)


def _notifier(callback: Callable[[MGRITIterationInfo], Any] | None) -> Callable[..., bool]:
    """``notify(k, states, increment, error, residual, evaluations, finite)``: hands an iterate to ``callback``."""

    def notify(
        k: int, states: list[Any], increment: Any, error: Any, residual: Any, evaluations: list[int], finite: bool
    ) -> bool:
        if callback is None:
            return False
        info = MGRITIterationInfo(
            k, states, increment, error, evaluations[0], sum(evaluations[1:]), finite, residual=residual
        )
        try:
            callback(info)
        except StopIteration:
            return True
        return False

    return notify
