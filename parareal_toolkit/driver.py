"""The parareal driver: one recurrence for ODE solvers and neural networks alike.

Given a fine propagator ``F`` and a coarse propagator ``G`` on the same ``N`` slices and an
initial value ``u0``, parareal iterates on the states ``U_0 = u0, U_1, ..., U_N`` at the
slice boundaries.

Numerical facts (exact arithmetic; the tests pin each of them in float64):

* After ``k`` iterations ``U_0..U_k`` equal the sequential fine solution, so ``N``
  iterations always reproduce it, whatever ``G`` is.
* ``G = F`` converges in one iteration; the fine solution is a fixed point.
* ``G = 0`` is the Jacobi iteration (each slice restarts from the last fine value).
* The standard form ``U^{k+1}_{j+1} = F_j(U^k_j) + G_j(U^{k+1}_j) - G_j(U^k_j)`` and the
  correction form ``U^{k+1}_{j+1} = F_j(U^k_j) + G_j(δ_j)``, ``δ_j = U^{k+1}_j - U^k_j``
  (equivalently ``δ_{j+1} = G_j(δ_j) + S_{j+1}`` with the jump
  ``S_{j+1} = F_j(U^k_j) - U^k_{j+1}``) agree whenever ``G`` is linear. For a nonlinear
  ``G`` with ``G(0) != 0`` the correction form adds ``G_j(0)`` at interfaces that are
  already exact and no longer reproduces the fine solution after ``N`` iterations.

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
certificate when ``L`` is a true Lipschitz constant, an estimate when ``L`` is). It costs
``2 N`` norms per iteration and no propagator evaluation.

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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._names import CRITERIA, FORMS
from ._validation import check_callable, check_choice, check_int, check_real
from .backends import Backend, get_backend
from .errors import InputError, InputTypeError
from .propagator import Propagator, check_propagator

__all__ = ["parareal", "PararealResult", "IterationInfo", "max_abs", "FORMS", "CRITERIA"]


def max_abs(x: Any) -> float:
    """The largest absolute entry of a numpy array or torch tensor, as a Python float.

    The driver's default state norm. A torch tensor is detached first: a norm is a
    measurement and never becomes part of an autograd graph.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        A state.

    Returns
    -------
    float
        ``max |x_i|``.

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit import max_abs
    >>> max_abs(np.array([1.5, -2.0, 0.5]))
    2.0
    """
    detach = getattr(x, "detach", None)  # a norm is a measurement, never part of a graph
    return float(abs(detach() if detach is not None else x).max())


@dataclass(frozen=True)
class IterationInfo:
    """What the per-iteration callback receives after iteration ``k`` (``k = 0`` is the initial iterate).

    Attributes
    ----------
    k : int
        The iteration just completed (0: the initial iterate).
    states : list
        The iterate ``U^k_0..U^k_N``; ``U^0_N`` is ``None`` when the initial guesses did not
        include the end state.
    increment : float or None
        ``max_j norm(U^k_j - U^{k-1}_j)``; ``None`` for ``k = 0`` or with ``monitor=False``.
    error : float or None
        ``max_j norm(U^k_j - reference_j)`` when a reference was given.
    fine_evaluations, coarse_evaluations : int
        Slice evaluations of each propagator so far.
    finite : bool
        Whether every state of this iterate is known to be finite (always True with
        ``monitor=False``, which computes no norms during the iteration).
    """

    k: int
    states: list[Any]
    increment: float | None
    error: float | None
    fine_evaluations: int
    coarse_evaluations: int
    finite: bool = True


@dataclass
class PararealResult:
    """The outcome of :func:`parareal`.

    After ``K`` iterations ``states[0..K]`` are exact (equal to the sequential fine
    solution); ``K >= N`` reproduces the fine solution everywhere.

    Attributes
    ----------
    states : list
        The final iterate ``U^K_0..U^K_N`` (``N + 1`` states); ``states[-1]`` is the end state.
    iterates : list of lists or None
        ``U^0..U^K`` when ``store_iterates=True``. ``U^0_N`` is ``None`` when the initial
        guesses did not include the end state.
    increments : list of float
        ``max_j norm(U^k_j - U^{k-1}_j)`` for ``k = 1..K`` (empty with ``monitor=False``);
        NaN or infinite when a state is.
    errors : list of float or None
        ``max_j norm(U^k_j - reference_j)`` over the known states, for ``k = 0..K``, when a
        reference was given; NaN or infinite when a state (or the reference) is, never skipped.
    slice_errors : numpy.ma.MaskedArray of shape (K + 1, N + 1) or None
        ``norm(U^k_j - reference_j)``, masked where ``U^k_j`` is unknown (the end state of
        the initial iterate when the guesses did not include it). A NaN or infinite entry
        that is not masked is a non-finite state or reference.
    converged : bool
        The iterate is finite and the last increment was at most ``tol``, or ``K >= N``
        (then the iterate is exact).
    iterations : int
        ``K``, the number of parareal iterations performed.
    num_slices : int
        ``N``, the number of slices of the propagators.
    fine_evaluations, coarse_evaluations : int
        Slice evaluations of each propagator, the inputs of the cost model.
    form : str
        The update rule used, ``"standard"`` or ``"correction"``.
    initial : str
        How the initial iterate was made: ``"coarse"`` (a coarse sweep) or ``"given"``.
    timings : dict
        Seconds spent in the ``"initial"`` iterate, the ``"fine"`` sweeps, the ``"coarse"``
        sweeps and in ``"total"`` (host clock; asynchronous devices are not synchronised).
    finite : bool
        Whether no NaN or infinity was found: with ``monitor=True`` in any state of any
        iterate, with ``monitor=False`` in the end state (the only one checked).
    nonfinite_iteration : int or None
        The iterate ``k`` where a NaN or an infinity was found, None when ``finite``. With
        ``monitor=True`` the first iterate holding one (``0`` for a non-finite ``u0`` or
        initial iterate); the iteration stops there, so it equals ``iterations``. With
        ``monitor=False``, ``K``: only its end state is checked.
    criterion : str
        What ``tol`` was compared with: ``"increment"`` or ``"estimate"`` (the a-posteriori
        bound on the error against the fine solution, see the module docstring).
    estimates : list of float
        For ``k = 1..K``, the a-posteriori bound on ``max_j norm(U^k_j - u_j)`` when
        ``fine_lipschitz`` was given (empty otherwise).

    Examples
    --------
    Two iterations on ``u' = -u`` over four slices of ``[0, 1]``:

    >>> import math
    >>> from parareal_toolkit import TimeGrid, parareal
    >>> from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, dahlquist
    >>> problem = dahlquist(-1.0)
    >>> grid = TimeGrid.uniform(problem.t_final, 4)
    >>> fine, coarse = ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)
    >>> result = parareal(fine, coarse, problem.u0, iterations=2)
    >>> len(result.states), result.iterations, result.converged
    (5, 2, False)
    >>> result.fine_evaluations, result.coarse_evaluations  # 2 N; N (initial sweep) + 2 (N - 1)
    (8, 10)
    >>> f"{abs(float(result.final[0]) - math.exp(-1.0)):.1e}"  # error at t = 1
    '3.0e-05'
    """

    states: list[Any]
    iterates: list[list[Any]] | None
    increments: list[float]
    errors: list[float] | None
    slice_errors: np.ndarray | None
    converged: bool
    iterations: int
    num_slices: int
    fine_evaluations: int
    coarse_evaluations: int
    form: str
    initial: str
    timings: dict[str, float] = field(default_factory=dict)
    finite: bool = True
    nonfinite_iteration: int | None = None
    criterion: str = "increment"
    estimates: list[float] = field(default_factory=list)

    @property
    def final(self) -> Any:
        """The end state ``U^K_N``."""
        return self.states[-1]

    def states_array(self) -> Any:
        """The final iterate as one array of shape ``(N + 1, *u0.shape)`` (a tensor for torch states).

        Returns
        -------
        numpy.ndarray or torch.Tensor
            ``U^K_0..U^K_N`` stacked along a new first axis.
        """
        return _stack(self.states)

    def iterates_array(self) -> Any:
        """Every stored iterate as one array of shape ``(K + 1, N + 1, *u0.shape)``.

        ``U^0_N``, unknown when the initial guesses did not include the end state, is
        filled with NaN (numpy states; torch states refuse it with ``ValueError``).

        Returns
        -------
        numpy.ndarray or torch.Tensor
            ``U^k_j`` at index ``[k, j]``.

        Raises
        ------
        ValueError
            Without stored iterates (``store_iterates=False``).

        Examples
        --------
        >>> import numpy as np
        >>> from parareal_toolkit import TimeGrid, parareal
        >>> from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, heat_1d
        >>> problem = heat_1d(6)
        >>> grid = TimeGrid.uniform(problem.t_final, 4)
        >>> result = parareal(ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid),
        ...                   problem.u0, iterations=2)
        >>> result.iterates_array().shape, result.states_array().shape
        ((3, 5, 6), (5, 6))
        """
        if self.iterates is None:
            raise InputError("`iterates_array` needs stored iterates; the run had store_iterates=False.")
        rows = []
        for iterate in self.iterates:
            if iterate[-1] is None:
                known = iterate[0]
                if not isinstance(known, np.ndarray) and not np.isscalar(known):
                    raise InputError("the end state of the initial iterate is unknown (no guess of it was given).")
                iterate = [*iterate[:-1], np.full(np.shape(known), np.nan)]
            rows.append(_stack(iterate))
        return _stack(rows)


def _stack(states: Sequence[Any]) -> Any:
    """``numpy.stack`` or ``torch.stack``, whichever fits the states."""
    first = states[0]
    if type(first).__module__.startswith("torch"):
        import torch

        return torch.stack(list(states))
    return np.stack([np.asarray(u) for u in states])


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

    After ``k`` iterations the first ``k + 1`` states are exact (equal to
    ``propagate_sequentially(fine, u0)``); ``N`` iterations reproduce the fine solution
    whatever ``coarse`` is. ``coarse = fine`` converges in one iteration. The standard and
    correction forms agree for linear ``coarse``. Non-convergence is a result
    (``converged=False``), not an exception, and so is a NaN or an infinity: the iteration
    stops at the first non-finite iterate and returns it with ``finite=False``,
    ``nonfinite_iteration`` set and ``converged=False`` (see the module docstring).

    Parameters
    ----------
    fine, coarse : Propagator
        Propagators over the same ``N`` slices (see ``parareal_toolkit.propagator``).
        ``coarse`` is evaluated on slice 0 only by the initial coarse sweep.
    u0 : state
        The initial value ``U_0`` (numpy array, torch tensor, ...). Every guess in
        ``initial`` and every state in ``reference`` must have its shape.
    iterations : int, optional
        The number ``K >= 0`` of iterations, or the cap on it when ``tol`` is given. Default:
        ``N`` (exact), or ``N`` as the cap with ``tol``.
    tol : float, optional
        Stop after the first iteration whose ``criterion`` is at most ``tol``.
    initial : sequence or array, optional
        Guesses of the interface states instead of the coarse sweep: ``N - 1`` states
        ``U^0_1..U^0_{N-1}`` (the end state is then never guessed, as in a parareal
        network) or ``N`` states ``U^0_1..U^0_N``; an array (or tensor) holds them along
        its first axis.
    form : {"standard", "correction"}
        The update rule; both agree for linear ``coarse``.
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
        NaN or infinity for a state holding one (as a max or a sum does; a ``nanmax`` does not).
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
        solution (needs ``fine_lipschitz``; see the module docstring).
    fine_lipschitz : float, optional
        ``L >= 0``, a Lipschitz constant of every fine slice propagator in ``norm``; given,
        ``result.estimates`` holds the a-posteriori error bound of every iterate. For an
        ODE, :func:`parareal_toolkit.ode.fine_lipschitz_estimate` computes one from the
        Jacobian.

    Returns
    -------
    PararealResult
        The final iterate ``U^K_0..U^K_N`` (``result.final`` is the end state), the number
        of iterations ``K``, whether it converged, the increments (and errors against
        ``reference``) per iteration, evaluation counts and timings.

    Raises
    ------
    TypeError, ValueError
        For an argument of the wrong kind or value, naming it (``fine`` and ``coarse``
        covering different numbers of slices, ``tol`` without ``monitor``, ``initial`` or
        ``reference`` of the wrong length, or holding a state whose shape is not ``u0``'s,
        which would broadcast, ...).

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
    >>> result.iterations, result.converged
    (8, True)
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
    max_iterations = n if iterations is None else check_int(iterations, "iterations", minimum=0)
    check_callable(norm, "norm")
    if callback is not None:
        check_callable(callback, "callback")
    runner = get_backend(backend)
    owns_runner = isinstance(backend, str)  # a backend built here from its name is closed here

    validate = getattr(fine, "validate_state", None)
    if validate is not None:
        validate(u0, "u0")
    initial = _as_sequence(initial, "initial")
    reference = _as_sequence(reference, "reference")
    if initial is not None:
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
    if reference is not None:
        if isinstance(reference, (str, bytes)) or not isinstance(reference, Sequence):
            raise InputTypeError(f"`reference` must be a sequence of states; got {type(reference).__name__}.")
        if len(reference) != n + 1:
            raise InputError(f"`reference` must hold N + 1 = {n + 1} states; got {len(reference)}.")
        _check_states(reference, "reference")
        _check_shape(reference[0], "reference[0]", u0, "`u0`")

    try:
        return _iterate(
            fine,
            coarse,
            u0,
            n,
            max_iterations,
            tol,
            initial,
            form,
            reference,
            runner,
            norm,
            callback,
            monitor,
            store_iterates,
            criterion,
            fine_lipschitz,
        )
    finally:
        if owns_runner and hasattr(runner, "close"):
            runner.close()


def _shape(state: Any) -> tuple[int, ...] | None:
    """The shape of a numpy array, torch tensor, nested list or number; None if it has none."""
    shape = getattr(state, "shape", None)
    if shape is not None:
        return tuple(shape)
    try:
        return np.shape(state)
    except ValueError:  # a ragged nested list
        return None


def _check_states(states: Sequence[Any], name: str) -> None:
    """Refuse a missing state (None) in a sequence of states."""
    for i, state in enumerate(states):
        if state is None:
            raise InputTypeError(f"`{name}[{i}]` must be a state; got None.")


def _check_shape(state: Any, name: str, other: Any, what: str) -> None:
    """Refuse ``state`` unless it has the shape of ``other``: a difference would broadcast silently.

    Nothing is compared when ``other`` has no shape (a number or a custom state type).
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


def _max_norm(values: Sequence[float]) -> float:
    """``max(values)``, but NaN as soon as one value is NaN (Python's ``max`` keeps or drops it by position)."""
    largest = -math.inf
    for value in values:
        if math.isnan(value):
            return math.nan
        largest = max(largest, value)
    return largest


def _stackable(states: Sequence[Any]) -> bool:
    """Whether ``states`` are non-empty numpy arrays of one shape and one numeric dtype (one stack holds them)."""
    first = states[0]
    if type(first) is not np.ndarray or first.ndim == 0 or first.size == 0 or first.dtype.kind not in "fciu":
        return False
    shape, dtype = first.shape, first.dtype
    return all(type(x) is np.ndarray and x.shape == shape and x.dtype == dtype for x in states)


def _slice_norms(norm: Callable[[Any], float], states: Sequence[Any], others: Sequence[Any]) -> list[float]:
    """``[norm(a - b) for a, b in zip(states, others)]``, in three numpy calls for the default norm.

    With :func:`max_abs` on numpy arrays of one shape and dtype the differences are formed
    as one concatenated array: elementwise the same subtractions and the same maxima (a maximum
    is exact, and NaN propagates as in :func:`max_abs`), at a fraction of the per-state
    Python overhead that dominates small states.
    """
    if norm is max_abs and len(states) > 1 and _stackable(states) and _stackable([states[0], *others]):
        # concatenate, not stack: one C loop instead of a Python-level reshape per state
        differences = np.concatenate(states) - np.concatenate(others)
        return np.abs(differences).reshape(len(states), -1).max(axis=1).tolist()
    return [float(norm(a - b)) for a, b in zip(states, others)]


def _iterate(
    fine,
    coarse,
    u0,
    n,
    max_iterations,
    tol,
    initial,
    form,
    reference,
    runner,
    norm,
    callback,
    monitor,
    store_iterates,
    criterion,
    fine_lipschitz,
):
    timings = {"initial": 0.0, "fine": 0.0, "coarse": 0.0}
    fine_evals = coarse_evals = 0
    start = time.perf_counter()

    # --- initial iterate -------------------------------------------------------------
    # coarse_of_old[j] holds G_j(U^k_j) for the standard form, reused across iterations so
    # every iteration costs one coarse evaluation per slice.
    coarse_of_old: list[Any] | None = None
    if initial is None:
        states = [u0]
        for j in range(n):
            states.append(coarse(states[j], j))
        coarse_evals += n
        coarse_of_old = states[1:]
        initial_kind = "coarse"
    else:
        states = [u0, *initial]
        if len(initial) == n - 1:
            states.append(None)
        initial_kind = "given"
    timings["initial"] = time.perf_counter() - start

    increments: list[float] = []
    estimates: list[float] = []
    slice_errors: list[list[float]] | None = [] if (reference is not None and monitor) else None
    unknown: list[list[bool]] = []
    iterates = [states] if store_iterates else None

    def record_errors(current: list[Any]) -> float | None:
        if slice_errors is None:
            return None
        if len(slice_errors) == 0:  # the first iterate fixes every state's shape
            for j, (u, r) in enumerate(zip(current, reference)):
                if u is not None:
                    _check_shape(r, f"reference[{j}]", u, f"the iterate's state U_{j}")
        known = [j for j, u in enumerate(current) if u is not None]
        values = _slice_norms(norm, [current[j] for j in known], [reference[j] for j in known])
        row = [math.nan] * len(current)
        for j, value in zip(known, values):
            row[j] = value
        slice_errors.append(row)
        unknown.append([u is None for u in current])
        return _max_norm([e for e, u in zip(row, current) if u is not None])

    def all_finite(current: Sequence[Any]) -> bool:
        return all(math.isfinite(norm(u)) for u in current if u is not None)

    def notify(k: int, current: list[Any], increment: float | None, error: float | None, finite: bool) -> bool:
        if callback is None:
            return False
        try:
            callback(IterationInfo(k, current, increment, error, fine_evals, coarse_evals, finite))
        except StopIteration:
            return True
        return False

    # First iterate holding a NaN or an infinity. With monitoring, the initial iterate's norms
    # are checked once; after that an increment is finite exactly when the new state is.
    nonfinite_iteration: int | None = None
    if monitor and not all_finite(states):
        nonfinite_iteration = 0
    stopped = notify(0, states, None, record_errors(states), nonfinite_iteration is None)
    stopped = stopped or nonfinite_iteration is not None
    converged = False
    k = 0
    while not stopped and k < max_iterations:
        t0 = time.perf_counter()
        fine_values = runner.map(fine, states[:n], range(n))
        fine_evals += n
        if k == 0 and initial is not None:  # a guess must have the shape of the state it guesses
            for j, guess in enumerate(initial):
                _check_shape(guess, f"initial[{j}]", fine_values[j], f"the fine state F_{j}(U_{j}) it guesses")
        t1 = time.perf_counter()
        timings["fine"] += t1 - t0

        new = [u0, fine_values[0]]
        corrections: list[Any] = [None]  # the coarse correction c_j added to F_j(U^k_j), j >= 1
        if form == "standard":
            if coarse_of_old is None:
                # Given guesses: G_j(U^0_j). Coarse work always runs where the driver runs (the
                # backends carry only fine sweeps), so replicated coarse networks see the same
                # computation, and get the same gradients, on every rank.
                coarse_of_old = [None, *(coarse(states[j], j) for j in range(1, n))]
                coarse_evals += n - 1
            coarse_of_new: list[Any] = [None]
            for j in range(1, n):
                g = coarse(new[j], j)
                coarse_of_new.append(g)
                # F + (G_new - G_old): the difference is exactly zero on converged slices.
                corrections.append(g - coarse_of_old[j])
                new.append(fine_values[j] + corrections[j])
            coarse_of_old = coarse_of_new
        else:
            for j in range(1, n):
                corrections.append(coarse(new[j] - states[j], j))
                new.append(fine_values[j] + corrections[j])
        coarse_evals += n - 1
        timings["coarse"] += time.perf_counter() - t1

        increment = None
        if monitor:
            pairs = [(a, b) for a, b in zip(new[1:], states[1:]) if b is not None]
            increment = _max_norm(_slice_norms(norm, *zip(*pairs))) if pairs else 0.0
            increments.append(increment)
            # States that no increment checked (U^1_N after guesses without the end state),
            # or all of them after a non-finite increment (a non-finite state, or the
            # difference of two finite ones overflowing).
            unchecked = (
                new[1:] if not math.isfinite(increment) else [a for a, b in zip(new[1:], states[1:]) if b is None]
            )
            if unchecked and not all_finite(unchecked):
                nonfinite_iteration = k + 1
        if fine_lipschitz is not None:
            estimates.append(_error_estimate(fine_values, states, corrections, fine_lipschitz, norm))
        states = new
        k += 1
        if iterates is not None:
            iterates.append(states)
        error = record_errors(states)
        stopped = notify(k, states, increment, error, nonfinite_iteration is None)
        if nonfinite_iteration is not None:
            break
        measure = increment if criterion == "increment" else estimates[-1]
        if tol is not None and measure <= tol:
            converged = True
            break
    if not monitor and not math.isfinite(norm(states[-1])):
        nonfinite_iteration = k
    finite = nonfinite_iteration is None
    converged = finite and (converged or k >= n)
    timings["total"] = time.perf_counter() - start

    errors = None
    errors_array = None
    if slice_errors is not None:
        errors_array = np.ma.masked_array(np.array(slice_errors, dtype=float), mask=np.array(unknown, dtype=bool))
        errors = [
            _max_norm([e for e, masked in zip(row, mask) if not masked]) for row, mask in zip(slice_errors, unknown)
        ]
    return PararealResult(
        states=states,
        iterates=iterates,
        increments=increments,
        errors=errors,
        slice_errors=errors_array,
        converged=converged,
        iterations=k,
        num_slices=n,
        fine_evaluations=fine_evals,
        coarse_evaluations=coarse_evals,
        form=form,
        initial=initial_kind,
        timings=timings,
        finite=finite,
        nonfinite_iteration=nonfinite_iteration,
        criterion=criterion,
        estimates=estimates,
    )


def _error_estimate(
    fine_values: list[Any], states: list[Any], corrections: list[Any], lipschitz: float, norm: Callable[[Any], float]
) -> float:
    """The a-posteriori bound on the new iterate's error (module docstring): ``max_j L E^k_j + norm(c_j)``."""
    bound = 0.0  # U^{k+1}_1 = F_0(u0) is exact
    previous = 0.0  # E^k_0
    for j in range(1, len(fine_values)):
        old = states[j]
        # E^k_j from the jump into slice j; an unknown U^0_N is never needed (j < N)
        previous = lipschitz * previous + float(norm(fine_values[j - 1] - old))
        bound = _max_norm([bound, lipschitz * previous + float(norm(corrections[j]))])
    return bound
