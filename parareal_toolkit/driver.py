"""The parareal driver: one recurrence for ODE solvers and neural networks alike.

Given a fine propagator ``F`` and a coarse propagator ``G`` on the same ``N`` slices and an
initial value ``u0``, parareal iterates on the states ``U_0 = u0, U_1, ..., U_N`` at the
slice boundaries.

Numerical facts (exact arithmetic; the tests pin each of them in float64):

* In the standard form, after ``k`` iterations ``U_0..U_k`` equal the sequential fine
  solution, so ``N`` iterations reproduce it, whatever ``G`` is. In the correction form
  this holds when ``G_j(0) = 0`` for ``j = 1..N-1`` (a linear ``G``), and not otherwise
  (below).
* ``G = F`` converges in one iteration; the fine solution is a fixed point.
* ``G = 0`` is the Jacobi iteration (each slice restarts from the last fine value).
* The standard form ``U^{k+1}_{j+1} = F_j(U^k_j) + G_j(U^{k+1}_j) - G_j(U^k_j)`` and the
  correction form ``U^{k+1}_{j+1} = F_j(U^k_j) + G_j(δ_j)``, ``δ_j = U^{k+1}_j - U^k_j``
  (equivalently ``δ_{j+1} = G_j(δ_j) + S_{j+1}`` with the jump
  ``S_{j+1} = F_j(U^k_j) - U^k_{j+1}``) agree whenever ``G`` is linear. For a nonlinear
  ``G`` with ``G(0) != 0`` (an affine one: a stepper of ``u' = f(t, u)`` with
  ``f(t, 0) != 0``) the correction form adds ``G_j(0)`` at interfaces that are already exact
  and no longer reproduces the fine solution after ``N`` iterations: ``U_2`` is off by
  ``G_1(0)`` at every ``K >= 2``.

Why a run stopped is ``result.stop_reason``, and ``result.converged`` is True exactly for
two of the reasons: ``"tolerance"`` (the criterion was at most ``tol``) and ``"exact"``
(``K >= N`` where the fact above makes the result the fine solution: the standard form, or
the correction form with ``N = 1`` or a coarse propagator known to be linear, that is one
with ``linear = True`` or a :class:`~parareal_toolkit.ode.LinearSlicePropagator`). Reaching
``K = N`` in the correction form with any other coarse propagator is ``"all-slices"``, not
convergence; the ``iterations`` cap below ``N`` is ``"iteration-cap"``, a callback's
``StopIteration`` ``"callback"``, a NaN or an infinity ``"non-finite"``. A ``tol`` that was
never met is never reported as met, even when ``K = N`` made the result exact.

A-posteriori error estimate (``fine_lipschitz=L``). Let ``u_j`` be the sequential fine
solution and ``L`` a Lipschitz constant of every ``F_j`` in ``norm``. The jumps
``r^k_{j+1} = F_j(U^k_j) - U^k_{j+1}``, which the fine sweep of iteration ``k + 1`` yields
for free, bound the error of ``U^k``: ``E^k_0 = 0``,
``E^k_{j+1} = L E^k_j + norm(r^k_{j+1}) >= norm(U^k_{j+1} - u_{j+1})``. The update then bounds
the new iterate, since ``U^{k+1}_{j+1} - u_{j+1} = F_j(U^k_j) - F_j(u_j) + c_j`` with the
coarse correction ``c_j = G_j(U^{k+1}_j) - G_j(U^k_j)`` (standard form) or ``G_j(δ_j)``
(correction form): ``norm(U^{k+1}_{j+1} - u_{j+1}) <= L E^k_j + norm(c_j)``. The maximum
over ``j`` is ``result.estimates[k]``; with ``criterion="estimate"`` the iteration stops
when it is at most ``tol``, so ``tol`` then bounds the error against the fine solution (a
certificate when ``L`` is a true Lipschitz constant of the *discrete* fine maps ``F_j``
actually called, an estimate when ``L`` is). ``L`` must be that of ``F_j`` itself, not of
the exact flow: a trapezoid step on a stiff problem amplifies by up to 1 where the flow
contracts to 0, and a constant taken from the flow then certifies errors hundreds of times
``tol``. :func:`parareal_toolkit.ode.fine_lipschitz` differentiates ``F_j`` itself (exact
for affine fine maps; a local estimate with a safety factor for nonlinear ones) and refuses
where it cannot give one. The bound is exact arithmetic's: in floating point the error can
exceed it by the rounding difference between the fine sweep and the reference (batched
and single calls of ``F_j`` agree only up to reordering, a few ``eps`` times the state's
size), so a ``tol`` at that level certifies nothing. It costs ``2 N`` norms per iteration
and no propagator evaluation.

The initial iterate is a coarse sweep ``U^0_{j+1} = G_j(U^0_j)`` or given guesses of the
interface states (the parareal network's preprocessed inputs). One correction-form
iteration from given guesses is exactly the forward pass of a parareal neural network
(Lee, Park & Lee): ``z_{j+1} = y_{j+1} + F^j(z_j - x_{j+1})``.

``U_0 = u0`` never changes, so ``δ_0 = 0`` structurally and the coarse propagator is never
evaluated on slice 0 except in the initial coarse sweep; a network therefore needs only
``N - 1`` coarse networks.

The driver only calls propagators and adds and subtracts states: it runs numpy arrays and
torch tensors unchanged (complex states too, with a norm that takes absolute values, as the
default does) and stays differentiable under autograd.

Non-finite values are never hidden. With ``monitor=True`` every state of every iterate is
known to be finite or not from the norms already computed: the initial iterate's norms, then
each increment ``norm(U^k_j - U^{k-1}_j)``, which is finite exactly when ``U^k_j`` is (the
previous iterate being finite); only a non-finite increment costs extra norms, to tell an
overflowing difference of finite states from a non-finite state. The iteration stops at the
first iterate holding a NaN or an infinity (nothing is left to gain: the fine propagator
carries it forward), and the result says so: ``finite=False``, ``nonfinite_iteration`` that
iterate's ``k`` and ``converged=False``. With ``monitor=False`` the one norm computed, of the
end state, says so.

Layout: :func:`parareal` validates its arguments once, here, into a frozen ``RunOptions``;
``parareal_toolkit._iteration`` runs the steps on them (the initial iterate, one fine sweep
and one update per iteration, the form's update looked up in ``FORM_UPDATES``, and a recorder
of the measurements); ``parareal_toolkit.parareal_result`` holds what a run returns.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._checked import check_initial_state, checked_norm, describe_state, is_torch_tensor
from ._iteration import RunOptions, check_same_shape, run_iterations
from ._names import CRITERIA, FORMS
from ._resources import require_memory
from ._validation import check_bool, check_callable, check_choice, check_int, check_real
from .backends import Backend, get_backend
from .errors import InputError, InputTypeError
from .norms import max_abs
from .parareal_result import IterationInfo, PararealResult
from .propagator import Propagator, check_propagator

__all__ = ["parareal", "PararealResult", "IterationInfo", "max_abs", "FORMS", "CRITERIA"]


def _require_state_memory(u0: Any, count: int, owner: str) -> None:
    """Refuse (``MemoryError``, before the first call) a run whose ``count`` states of ``u0``'s size cannot fit in memory.

    The iterate alone holds ``count`` states; a propagator that claims ``10**12`` slices
    would otherwise run until memory runs out. ``owner`` names where ``count`` came from.
    """
    entries = u0.size if isinstance(u0, np.ndarray) else u0.numel()
    itemsize = u0.itemsize if isinstance(u0, np.ndarray) else u0.element_size()
    per_state = entries * itemsize + 100  # the array's data and its object's header, at least
    require_memory(float(count) * per_state, f"{count} states of shape {tuple(u0.shape)} ({owner}.num_slices + 1)")


def _as_sequence(states: Any, name: str) -> Any:
    """An array or tensor of stacked states (first axis: the states) as a list of states."""
    if isinstance(states, np.ndarray) or type(states).__module__.startswith("torch"):
        if getattr(states, "ndim", 0) < 1:
            raise InputError(f"`{name}` must hold states along its first axis; got a 0-dimensional array.")
        return list(states)
    return states


def parareal(
    fine: Propagator,
    coarse: Propagator,
    u0: Any,
    *,
    iterations: int | None = None,
    tol: float | None = None,
    initial: Sequence[Any] | np.ndarray | None = None,
    form: str = "standard",
    reference: Sequence[Any] | np.ndarray | None = None,
    backend: str | Backend = "auto",
    norm: Callable[[Any], float] = max_abs,
    callback: Callable[[IterationInfo], Any] | None = None,
    monitor: bool = True,
    store_iterates: bool = True,
    criterion: str = "increment",
    fine_lipschitz: float | None = None,
) -> PararealResult:
    """Run parareal with fine propagator ``fine`` and coarse propagator ``coarse``.

    In the standard form, after ``k`` iterations the first ``k + 1`` states are exact
    (equal to ``propagate_sequentially(fine, u0)``), so ``N`` iterations reproduce the fine
    solution whatever ``coarse`` is; the correction form does so only when
    ``coarse_j(0) = 0`` (a linear ``coarse``). ``coarse = fine`` converges in one iteration.
    The standard and correction forms agree for linear ``coarse``. ``result.stop_reason``
    says why the iteration stopped and ``result.converged`` is True only when ``tol`` was
    met or ``K >= N`` made the result exact (see the module docstring). Non-convergence is a
    result (``converged=False``), not an exception, and so is a NaN or an infinity: the
    iteration stops at the first non-finite iterate and returns it with ``finite=False``,
    ``nonfinite_iteration`` set, ``stop_reason="non-finite"`` and ``converged=False``.

    Parameters
    ----------
    fine, coarse : Propagator
        Propagators over the same ``N`` slices (see ``parareal_toolkit.propagator``).
        ``coarse`` is evaluated on slice 0 only by the initial coarse sweep.
    u0 : numpy.ndarray or torch.Tensor
        The initial value ``U_0``: a non-empty numeric array or tensor (a number, None, a
        list or an empty array is refused). Every guess in ``initial`` and every state in
        ``reference`` must be of its kind and have its shape. Every state ``fine`` and
        ``coarse`` return is checked against it where it enters the driver: the same kind
        (on one device), ``u0``'s shape for numpy states (for tensors, one shape per slice
        for both propagators), one dtype for the whole run, real unless ``u0`` is complex;
        a mismatch raises ``InputError``/``InputTypeError`` naming ``fine`` or ``coarse``
        and the slice (see ``parareal_toolkit._checked``). A NaN or an infinity is not a
        mismatch: it is reported as ``finite=False``.
    iterations : int, optional
        The number ``K >= 0`` of iterations, or the cap on it when ``tol`` is given. Default:
        ``N`` (exact in the standard form), or ``N`` as the cap with ``tol``. A value above
        ``N`` is capped at ``N`` with a ``UserWarning``: ``U^k_j`` no longer changes once
        ``k >= j`` (both forms), so every iterate after the ``N``-th would repeat it.
    tol : float, optional
        Stop after the first iteration whose ``criterion`` is at most ``tol``
        (``stop_reason="tolerance"``).
    initial : sequence or array, optional
        Guesses of the interface states instead of the coarse sweep: ``N - 1`` states
        ``U^0_1..U^0_{N-1}`` (the end state is then never guessed, as in a parareal
        network) or ``N`` states ``U^0_1..U^0_N``; an array (or tensor) holds them along
        its first axis.
    form : {"standard", "correction"}
        The update rule; both agree for linear ``coarse``. The correction form's result at
        ``K = N`` counts as exact only for a ``coarse`` known to be linear: one with the
        attribute ``linear = True``, or a :class:`~parareal_toolkit.ode.LinearSlicePropagator`.
    reference : sequence or array, optional
        ``N + 1`` exact states for the per-iteration errors (usually the sequential fine
        solution); an array of shape ``(N + 1, *u0.shape)`` works too.
    backend : str or Backend
        How the fine sweep runs: ``"auto"`` (default: ``"batched"``, one ``propagate_batch``
        call, where the fine propagator has it and a state has at least 64 entries, else
        ``"serial"``; see :class:`~parareal_toolkit.backends.AutoBackend`), ``"batched"``,
        ``"serial"``, or a :class:`~parareal_toolkit.backends.Backend`.
    norm : callable
        State norm for increments and errors (default: max absolute entry). It must return
        a real number, non-negative, and NaN or infinity for a state holding one (as a max or
        a sum does; a ``nanmax`` does not). Every return is checked: a negative value, a
        complex one or None raises ``InputError``/``InputTypeError`` naming ``norm``.
    callback : callable, optional
        Called as ``callback(IterationInfo)`` after the initial iterate and each iteration;
        raising ``StopIteration`` ends the iteration early.
    monitor : bool
        Compute increments (and errors) every iteration, and so check every state for NaN
        and infinity. Networks pass ``False`` to avoid device synchronisations; then only the
        end state's norm is computed, once. ``tol`` needs ``monitor=True``.
    store_iterates : bool
        Keep every iterate in ``result.iterates`` (references, not copies).
    criterion : {"increment", "estimate"}
        What ``tol`` is compared with: the increment ``max_j norm(U^k_j - U^{k-1}_j)``
        (default), or the a-posteriori bound on the error against the sequential fine
        solution (needs ``fine_lipschitz``; see the module docstring). Anything but the
        default needs ``tol``.
    fine_lipschitz : float, optional
        ``L >= 0``, a Lipschitz constant of every fine slice propagator in ``norm``; given,
        ``result.estimates`` holds the a-posteriori error bound of every iterate. For an
        ODE, :func:`parareal_toolkit.ode.fine_lipschitz` computes one from the Jacobians of
        the fine propagator itself (``fine_lipschitz(fine, reference)``).

    Returns
    -------
    PararealResult
        The final iterate ``U^K_0..U^K_N`` (``result.final`` is the end state), the number
        of iterations ``K``, why it stopped and whether it converged, the increments (and errors against
        ``reference``) per iteration, evaluation counts and timings.

    Raises
    ------
    InputTypeError, InputError
        (a ``TypeError``, a ``ValueError``) For an argument of the wrong kind or value,
        naming it (``fine`` and ``coarse`` covering different numbers of slices, ``tol``
        without ``monitor``, ``initial`` or ``reference`` of the wrong length, or holding a
        state whose shape is not ``u0``'s, which would broadcast, ...), and for a return of
        ``fine``, ``coarse`` or ``norm`` outside its domain, naming the callable. An
        exception raised inside a user's callable propagates unchanged.

    Examples
    --------
    The 1-D heat equation on 8 slices, exact fine and one-step implicit-Euler coarse
    propagator: the error falls about fivefold per iteration (the theory guarantees the
    mesh-independent contraction factor 0.2984), and ``K = N = 8`` iterations reproduce the
    fine solution up to round-off.

    >>> from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
    >>> from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, heat_1d
    >>> problem = heat_1d(20)
    >>> grid = TimeGrid.uniform(problem.t_final, 8)
    >>> fine, coarse = ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)
    >>> reference = propagate_sequentially(fine, problem.u0)
    >>> result = parareal(fine, coarse, problem.u0, reference=reference)
    >>> result.iterations, result.converged, result.stop_reason
    (8, True, 'exact')
    >>> [f"{e:.1e}" for e in result.errors[:5]]
    ['2.7e-02', '3.4e-03', '6.6e-04', '1.4e-04', '3.3e-05']
    >>> result.errors[-1] < 1e-14
    True
    """
    n = check_propagator(fine, "fine")
    n_coarse = check_propagator(coarse, "coarse")
    if n_coarse != n:
        raise InputError(
            f"`fine` and `coarse` must cover the same slices; got fine.num_slices={n} and coarse.num_slices={n_coarse}."
        )
    check_choice(form, "form", FORMS)
    check_choice(criterion, "criterion", CRITERIA)
    monitor = check_bool(monitor, "monitor")
    store_iterates = check_bool(store_iterates, "store_iterates")
    if fine_lipschitz is not None:
        fine_lipschitz = check_real(fine_lipschitz, "fine_lipschitz", minimum=0)
        if not monitor:
            raise InputError("`fine_lipschitz` needs `monitor=True`: the estimate is built from norms.")
    if criterion == "estimate" and fine_lipschitz is None:
        raise InputError(
            "`criterion='estimate'` needs `fine_lipschitz` (a Lipschitz constant of the fine propagator); got None."
        )
    if tol is not None:
        tol = check_real(tol, "tol", minimum=0, strict=True)
        if not monitor:
            raise InputError("`tol` needs `monitor=True`: increments are what it is compared with.")
    elif criterion != "increment":
        raise InputError(
            f"`criterion` = {criterion!r} applies only with `tol` (it is what `tol` bounds); got tol=None."
        )
    max_iterations = n if iterations is None else check_int(iterations, "iterations", minimum=0)
    if max_iterations > n:
        warnings.warn(
            f"`iterations` capped at N = {n}: got {max_iterations}, but from K = N on every iterate equals "
            "the last (U^k_j no longer changes once k >= j), so further iterations would only repeat it.",
            UserWarning,
            stacklevel=2,
        )
        max_iterations = n
    check_callable(norm, "norm")
    if callback is not None:
        check_callable(callback, "callback")
    runner = get_backend(backend)
    owns_runner = isinstance(backend, str)  # a backend built here from its name is closed here
    try:
        validate = getattr(fine, "validate_state", None)
        if validate is not None:
            validate(u0, "u0")
        check_initial_state(u0)  # after the propagator's own check, whose message is the more specific
        _require_state_memory(u0, n + 1, "`fine`")
        initial_states: Sequence[Any] | None = _as_sequence(initial, "initial")
        reference_states: Sequence[Any] | None = _as_sequence(reference, "reference")
        if initial_states is not None:
            _check_initial(initial_states, n, max_iterations, validate)
            _check_kinds(initial_states, "initial", u0)
        if reference_states is not None:
            _check_reference(reference_states, n, u0)
            _check_kinds(reference_states, "reference", u0)
        options = RunOptions(
            num_slices=n,
            max_iterations=max_iterations,
            tol=tol,
            criterion=criterion,
            form=form,
            norm=checked_norm(norm),
            callback=callback,
            monitor=monitor,
            store_iterates=store_iterates,
            fine_lipschitz=fine_lipschitz,
            initial=initial_states,
            reference=reference_states,
            backend=runner,
        )
        return run_iterations(fine, coarse, u0, options)
    finally:
        if owns_runner and hasattr(runner, "close"):
            runner.close()


def _check_initial(initial: Any, n: int, max_iterations: int, validate: Callable[[Any, str], Any] | None) -> None:
    """Refuse guesses that are not a sequence of N - 1 or N states (N - 1 needs at least one iteration)."""
    if isinstance(initial, (str, bytes)) or not isinstance(initial, Sequence):
        raise InputTypeError(f"`initial` must be a sequence of states; got {type(initial).__name__}.")
    if len(initial) not in (n - 1, n):
        raise InputError(
            f"`initial` must hold N - 1 = {n - 1} interface guesses (optionally followed by "
            f"a guess of the end state); got {len(initial)} for N = {n} slices."
        )
    if len(initial) == n - 1 and max_iterations == 0:
        raise InputError(
            "`iterations` must be at least 1 when `initial` holds no guess of the end state "
            "(there would be no end state to return); got iterations=0."
        )
    if validate is not None:
        for i, guess in enumerate(initial):
            validate(guess, f"initial[{i}]")
    _check_states(initial, "initial")


def _check_reference(reference: Any, n: int, u0: Any) -> None:
    """Refuse a reference that is not a sequence of N + 1 states starting with one of ``u0``'s shape."""
    if isinstance(reference, (str, bytes)) or not isinstance(reference, Sequence):
        raise InputTypeError(f"`reference` must be a sequence of states; got {type(reference).__name__}.")
    if len(reference) != n + 1:
        raise InputError(f"`reference` must hold N + 1 = {n + 1} states; got {len(reference)}.")
    _check_states(reference, "reference")
    check_same_shape(reference[0], "reference[0]", u0, "`u0`")


def _check_kinds(states: Sequence[Any], name: str, u0: Any) -> None:
    """Refuse states that are not of ``u0``'s kind: torch tensors among numpy states or the reverse."""
    torch_run = is_torch_tensor(u0)
    for i, state in enumerate(states):
        if state is not None and is_torch_tensor(state) != torch_run:
            expected = "a torch tensor" if torch_run else "a numpy array"
            raise InputTypeError(f"`{name}[{i}]` must be {expected}, the kind of `u0`; got {describe_state(state)}.")


def _check_states(states: Sequence[Any], name: str) -> None:
    """Refuse a missing state (None) in a sequence of states."""
    for i, state in enumerate(states):
        if state is None:
            raise InputTypeError(f"`{name}[{i}]` must be a state; got None.")
