"""What a parareal run returns: the result, and what the per-iteration callback sees.

:class:`PararealResult` holds the final iterate ``U^K_0..U^K_N`` and the run's record:
increments, errors against a reference, a-posteriori estimates, evaluation counts, timings
and where a NaN or an infinity was found. :class:`IterationInfo` is the snapshot handed to
the callback after each iteration. The numerical facts behind the fields (exactness after
``K`` iterations, the error estimate, non-finite values) are stated in the module docstring
of ``parareal_toolkit.driver``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._names import CONVERGED_STOP_REASONS, STOP_REASONS
from .errors import InputError

__all__ = ["PararealResult", "IterationInfo"]


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

    In the standard form, after ``K`` iterations ``states[0..K]`` are exact (equal to the
    sequential fine solution), so ``K >= N`` reproduces the fine solution everywhere; the
    correction form does so only when ``G_j(0) = 0`` (``stop_reason`` says which held).

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
        True exactly when ``stop_reason`` is ``"tolerance"`` or ``"exact"``: the criterion
        met ``tol``, or ``K >= N`` in a form where ``K = N`` iterations reproduce the fine
        solution by theorem. Reaching ``K = N`` where they do not (``"all-slices"``) is not
        convergence.
    stop_reason : str
        Why the iteration stopped, one of ``parareal_toolkit._names.STOP_REASONS``, checked
        in this order:

        * ``"non-finite"``: a NaN or an infinity was found (``finite`` is False);
        * ``"tolerance"``: the ``criterion`` was at most ``tol`` after iteration ``K``;
        * ``"exact"``: ``K >= N`` and the theorem holds, so the result is the sequential
          fine solution up to the round-off of the fine sweep: always in the standard form
          (``G_j(U) - G_j(U) = 0`` on every exact interface), in the correction form when
          ``G_j(0) = 0`` for ``j = 1..N-1``, which the driver knows only for ``N = 1`` or a
          coarse propagator that declares ``linear = True`` (or is a
          :class:`~parareal_toolkit.ode.LinearSlicePropagator`);
        * ``"all-slices"``: ``K >= N`` in the correction form with a coarse propagator not
          known to be linear: an affine ``G`` adds ``G_j(0) != 0`` at interfaces that are
          already exact, so the result need not be the fine solution;
        * ``"callback"``: the callback raised ``StopIteration`` before any of the above;
        * ``"iteration-cap"``: ``K`` reached the ``iterations`` cap below ``N`` (also the
          default for results built by hand, such as the seed's literal algorithm).
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
        bound on the error against the fine solution, see the module docstring of
        ``parareal_toolkit.driver``).
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
    >>> len(result.states), result.iterations, result.converged, result.stop_reason
    (5, 2, False, 'iteration-cap')
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
    stop_reason: str = "iteration-cap"

    def __post_init__(self) -> None:
        if self.stop_reason not in STOP_REASONS:
            raise InputError(f"`stop_reason` must be one of {STOP_REASONS}; got {self.stop_reason!r}.")
        if bool(self.converged) != (self.stop_reason in CONVERGED_STOP_REASONS):
            raise InputError(
                f"`converged` must be True exactly for the stop reasons {CONVERGED_STOP_REASONS}; got "
                f"converged={self.converged!r} with stop_reason={self.stop_reason!r}."
            )

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
