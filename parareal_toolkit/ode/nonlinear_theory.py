"""Convergence theory of parareal for nonlinear ODEs (Gander & Hairer 2008) and the constants it needs.

Gander & Hairer (*Nonlinear convergence analysis for the parareal algorithm*, Domain
Decomposition Methods XVII, LNCSE 60, 2008, Theorem 1) assume, for all states ``x, y`` and
every slice,

* ``norm((F - G)(x) - (F - G)(y)) <= α norm(x - y)`` (for an order-``p`` coarse propagator
  ``α = C_1 ΔT^{p+1}``: the difference of fine and coarse is Lipschitz with a small constant);
* ``norm(G(x) - G(y)) <= β norm(x - y)`` (``β = 1 + C_2 ΔT``).

Then the error of parareal iterate ``k`` at ``T_n`` against the fine solution obeys, *for* ``β >= 1``,

    ``norm(e^k_n) <= α^k / k! · β^{n-1-k} · Π_{j=1..k} (n - j) · max_n norm(e^0_n)``,

superlinear in ``k`` and zero for ``k >= n`` (the first ``k`` slices are exact).
:func:`gander_hairer_bound` evaluates the sharper worst case of the recurrence it comes from
(its maximum over ``n``), which holds for every ``β >= 0``.

The constants are seldom known. :func:`lipschitz_constants` *estimates* them by finite
differences of the propagators themselves around given states (the fine solution, say):
ratios along a few random directions, maximised over slices. That is a lower estimate of
the true suprema (only nearby states are tried), so the bound built on it is an estimate,
not a certificate. The bound itself (:func:`gander_hairer_bound`) is the worst case of the
theorem's error recurrence, valid for every ``β >= 0``: Gander–Hairer's closed form above
assumes ``β >= 1`` and is violated for a contracting ``G`` (``β < 1``).

:func:`fine_lipschitz` gives the constant ``L`` of the a-posteriori error estimate of
:func:`~parareal_toolkit.parareal` (``fine_lipschitz=``) from the Jacobians of the fine
propagator *actually used* (its stepper, substeps and times), formed by differences of
``fine(., j)`` at the reference states: a true constant (up to rounding) for an affine fine
map, so the estimate is a certificate there; a local estimate with a safety factor for a
nonlinear one. :func:`fine_lipschitz_estimate` bounds ``L`` from the logarithmic max-norm
``μ(J) = max_i (J_ii + Σ_{k≠i} |J_ik|)``: ``||e^{ΔT A}||_∞ <= e^{μ ΔT}`` for the exact flow
and ``||(I - hA)^{-1}||_∞ <= 1/(1 - hμ)`` for implicit Euler, so it is a true constant only
for ``u' = A u`` with those two fine propagators (on the heat equation ``μ = 0`` and
``L = 1``); it ignores the stepper otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.special import gammaln, logsumexp

from .._resources import require_memory
from .._validation import check_int, check_real, check_real_array
from ..driver import max_abs
from ..errors import InputError, InputTypeError
from ..propagator import TimeGrid, check_propagator

__all__ = [
    "gander_hairer_bound",
    "lipschitz_constants",
    "logarithmic_norm",
    "fine_lipschitz",
    "fine_lipschitz_estimate",
    "FINE_LIPSCHITZ_SAFETY",
    "FINE_LIPSCHITZ_MAX_SIZE",
]


#: The most log terms :func:`gander_hairer_bound` sums (``N`` per iteration): about a minute.
_MAX_LOG_TERMS = 1e9


def gander_hairer_bound(
    alpha: float, beta: float, num_slices: int, iterations: int, initial_error: float
) -> np.ndarray:
    """The worst case of Gander–Hairer's error recurrence: a bound on ``max_n norm(e^k_n)``, ``k = 0..iterations``.

    Numerical facts. Under the hypotheses below the errors obey, for every ``k`` and ``n``,
    ``E^{k+1}_n <= α E^k_{n-1} + β E^{k+1}_{n-1}`` with ``E^k_0 = 0`` and ``E^0_n <= E_0``.
    Its worst case (equality) is, for ``1 <= k < N``,

        ``E_0 α^k Σ_{j=0}^{n-1-k} C(k-1+j, j) β^j``,

    nondecreasing in ``n``, so the returned value is its ``n = N`` term; ``E_0`` at ``k = 0``
    and zero for ``k >= N`` (slices ``1..k`` are exact). It holds for every ``β >= 0``. For
    ``β >= 1`` it is at most Gander–Hairer's closed form ``α^k β^{N-1-k} C(N-1, k) E_0``
    (``Σ_j C(k-1+j, j) = C(N-1, k)``); for ``β < 1`` that closed form is *not* a bound (it
    drops the sum), while this one is (at most ``α^k max(β, 1)^{N-1-k} C(N-1, k) E_0``).

    Evaluated in log space (``gammaln`` and ``logsumexp``): no ``0 · inf``, no NaN, and
    ``inf`` only where the true value overflows float64. The logarithm is raised by a bound
    on its own rounding error (a few units of ``eps`` times the magnitudes of the logs
    weighted by each term's share of the sum), so the float result is not below the exact one. Cost ``O(N)`` time and memory per
    ``k`` (``O(N K)`` in all; no ``N x N`` array).

    Hypotheses (Gander & Hairer 2008, Theorem 1), for every slice and all states ``x, y``:
    ``norm((F-G)(x) - (F-G)(y)) <= α norm(x - y)`` and ``norm(G(x) - G(y)) <= β norm(x - y)``;
    ``E_0 >= max_n norm(e^0_n)``; the standard update form (the correction form only with a
    linear ``G``). Constants that hold only near some states (:func:`lipschitz_constants`)
    make the result an estimate, not a bound. What can be checked is checked: ``α``, ``β``,
    ``E_0`` finite and ``>= 0``.

    Parameters
    ----------
    alpha : float
        ``α >= 0``, finite: Lipschitz constant of ``F - G`` per slice.
    beta : float
        ``β >= 0``, finite: Lipschitz constant of ``G`` per slice (either side of 1).
    num_slices : int
        ``N >= 1``.
    iterations : int
        The last ``k >= 0``.
    initial_error : float
        ``E_0 >= 0``, finite: the largest error of the initial iterate.

    Returns
    -------
    numpy.ndarray, shape (iterations + 1,)
        The bound for each ``k`` (``inf`` only where it overflows float64).

    Raises
    ------
    InputError
        If ``α``, ``β`` or ``E_0`` is negative, NaN or infinite, or ``N < 1`` or ``K < 0``.

    Examples
    --------
    >>> from parareal_toolkit.ode import gander_hairer_bound
    >>> gander_hairer_bound(0.1, 1.0, 4, 4, 1.0).round(6).tolist()  # β = 1: 0.1^k C(3, k)
    [1.0, 0.3, 0.03, 0.001, 0.0]
    >>> gander_hairer_bound(0.1, 0.5, 3, 2, 1.0).round(6).tolist()  # k = 1: 0.1 (1 + 0.5)
    [1.0, 0.15, 0.01]
    """
    alpha = check_real(alpha, "alpha", minimum=0)
    beta = check_real(beta, "beta", minimum=0)
    n_slices = check_int(num_slices, "num_slices", minimum=1)
    iterations = check_int(iterations, "iterations", minimum=0)
    e0 = check_real(initial_error, "initial_error", minimum=0)
    # about six float64 arrays of N - 1 log terms at once, and the K + 1 bounds
    require_memory(48.0 * n_slices + 8.0 * (iterations + 1), f"gander_hairer_bound(N={n_slices}, K={iterations})")
    if float(n_slices) * min(iterations, n_slices - 1) > _MAX_LOG_TERMS:
        raise InputError(
            f"`num_slices` x `iterations` must be at most {_MAX_LOG_TERMS:.0e} log terms (minutes of work); got "
            f"N = {n_slices}, K = {iterations}: the bound past K = N - 1 is 0, ask for fewer iterations or slices."
        )
    bound = np.zeros(iterations + 1)
    bound[0] = e0
    last = min(iterations, n_slices - 1)
    if last < 1 or alpha == 0.0 or e0 == 0.0:
        return bound
    tiny = 8.0 * np.finfo(float).eps  # a few rounding errors per log term, relative to its magnitude
    j = np.arange(n_slices - 1, dtype=float)  # j = 0..N-2 covers every k >= 1
    log_j_factorial = gammaln(j + 1.0)
    j_log_beta = np.zeros_like(j) if beta == 0.0 else j * math.log(beta)
    log_head = math.log(e0)
    for k in range(1, last + 1):
        count = n_slices - k  # j = 0..N-1-k
        terms = gammaln(k + j[:count]) - gammaln(k) - log_j_factorial[:count]
        magnitude = np.abs(gammaln(k + j[:count])) + abs(gammaln(k)) + log_j_factorial[:count]
        if beta == 0.0:
            terms, magnitude = terms[:1], magnitude[:1]  # 0^0 = 1: only j = 0 is left
        else:
            terms = terms + j_log_beta[:count]
            magnitude = magnitude + np.abs(j_log_beta[:count])
        log_sum = float(logsumexp(terms))
        share = np.exp(terms - log_sum)  # each term's part of the sum: its rounding counts that much
        log_value = log_head + k * math.log(alpha) + log_sum
        error = tiny * (abs(log_head) + k * abs(math.log(alpha)) + float(share @ magnitude) + math.log(count) + 1.0)
        with np.errstate(over="ignore"):
            bound[k] = np.exp(log_value + error)
    return bound


def _finite_state(u: Any, name: str) -> np.ndarray:
    """``u`` as a float64 array; refused (``InputError`` naming ``name``) when it holds a NaN or an infinity."""
    array = np.asarray(u.detach().cpu() if hasattr(u, "detach") else u)
    if array.dtype.kind == "c":
        raise InputTypeError(f"`{name}` must be real; got dtype {array.dtype}.")
    array = array.astype(float)
    if not np.all(np.isfinite(array)):
        raise InputError(
            f"`{name}` must be finite; got {np.count_nonzero(~np.isfinite(array))} NaN or infinite "
            "entries (a Lipschitz constant measured there would be meaningless)."
        )
    return array


def lipschitz_constants(
    fine: Any,
    coarse: Any,
    states: Sequence[Any],
    *,
    norm: Callable[[Any], float] = max_abs,
    directions: int = 3,
    relative_step: float = 1e-6,
    seed: int = 0,
) -> tuple[float, float]:
    """Estimates of ``α`` (for ``F - G``) and ``β`` (for ``G``) by finite differences around ``states``.

    For each slice ``j`` and ``directions`` random unit directions ``d`` (in ``norm``),
    ``ε = relative_step · max(1, norm(U_j))``: ``α ≈ max norm((F-G)(U_j + εd) - (F-G)(U_j)) / ε``
    and likewise ``β`` with ``G``. Local and sampled: a lower estimate of the true
    constants (see the module docstring). Costs ``N (directions + 1)`` evaluations of each
    propagator.

    Parameters
    ----------
    fine, coarse : Propagator
        Over the same ``N`` slices, numpy states.
    states : sequence of N + 1 (or N) arrays
        ``U_j`` at the slice starts (the fine solution, or an iterate).
    norm : callable, keyword-only
        The norm of the bound (default max-abs).
    directions : int, keyword-only
        Random directions per slice (default 3).
    relative_step : float, keyword-only
        ``ε`` relative to the state (default 1e-6).
    seed : int, keyword-only
        Seed of the directions.

    Returns
    -------
    tuple of float
        ``(alpha, beta)``.

    Raises
    ------
    InputError
        If a state, or a propagator's value at one, holds a NaN or an infinity (ratios of
        NaN norms would read as 0).

    Examples
    --------
    On ``u' = -u`` with exact fine and implicit-Euler coarse over slices of length 0.5:
    ``α = |e^{-0.5} - 1/1.5| = 0.0601`` and ``β = 1/1.5``, exactly (the propagators are linear).

    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, dahlquist, lipschitz_constants
    >>> problem, grid = dahlquist(-1.0), TimeGrid.uniform(1.0, 2)
    >>> fine, coarse = ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)
    >>> alpha, beta = lipschitz_constants(fine, coarse, [problem.u0, problem.u0])
    >>> round(alpha, 4), round(beta, 4)
    (0.0601, 0.6667)
    """
    n = check_propagator(fine, "fine")
    if check_propagator(coarse, "coarse") != n:
        raise InputError("`fine` and `coarse` must cover the same slices.")
    if len(states) not in (n, n + 1):
        raise InputError(f"`states` must hold N = {n} or N + 1 states; got {len(states)}.")
    directions = check_int(directions, "directions", minimum=1)
    relative_step = check_real(relative_step, "relative_step", minimum=0, strict=True)
    rng = np.random.default_rng(seed)
    alpha = beta = 0.0
    for j in range(n):
        u = _finite_state(states[j], f"states[{j}]")
        f0 = _finite_state(fine(u, j), f"fine(states[{j}], {j})")
        g0 = _finite_state(coarse(u, j), f"coarse(states[{j}], {j})")
        eps = relative_step * max(1.0, float(norm(u)))
        for _ in range(directions):
            d = rng.standard_normal(u.shape)
            d /= float(norm(d))
            v = u + eps * d
            size = float(norm(v - u))
            g1 = _finite_state(coarse(v, j), f"coarse(states[{j}] + εd, {j})")
            f1 = _finite_state(fine(v, j), f"fine(states[{j}] + εd, {j})")
            alpha = max(alpha, float(norm((f1 - g1) - (f0 - g0))) / size)
            beta = max(beta, float(norm(g1 - g0)) / size)
    return alpha, beta


def logarithmic_norm(J: Any) -> float:
    """The logarithmic max-norm ``μ_∞(J) = max_i (J_ii + Σ_{k≠i} |J_ik|)``.

    ``||e^{tJ}||_∞ <= e^{t μ_∞(J)}`` for ``t >= 0``, and ``||(I - hJ)^{-1}||_∞ <= 1/(1 - h μ_∞(J))``
    when ``h μ_∞(J) < 1``.

    Parameters
    ----------
    J : array_like or scipy sparse matrix, shape (m, m)
        The matrix.

    Returns
    -------
    float
        ``μ_∞(J)``; 0 for the 1-D heat matrix (rows sum to at most 0).

    Examples
    --------
    >>> from parareal_toolkit.ode import logarithmic_norm
    >>> logarithmic_norm([[-2.0, 1.0], [1.0, -2.0]])
    -1.0
    """
    shape = getattr(J, "shape", None) if hasattr(J, "toarray") else None
    if shape is not None and (len(shape) != 2 or shape[0] != shape[1] or shape[0] == 0):
        raise InputError(f"`J` must be a non-empty square matrix; got shape {shape}.")
    dense = J.toarray() if shape is not None else check_real_array(J, "J")
    if dense.ndim != 2 or dense.shape[0] != dense.shape[1] or dense.size == 0:
        raise InputError(f"`J` must be a non-empty square matrix; got shape {dense.shape}.")
    if not np.isfinite(dense).all():
        raise InputError("`J` must be finite; got NaN or infinity among its entries.")
    diagonal = np.diag(dense)
    off = np.abs(dense).sum(axis=1) - np.abs(diagonal)
    return float((diagonal + off).max())


def fine_lipschitz_estimate(ode: Any, grid: TimeGrid, states: Sequence[Any], *, substeps: int | None = None) -> float:
    """``L`` for the *exact flow* or *implicit-Euler substeps* of ``u' = A u``, from ``μ_∞`` of the Jacobian.

    With ``μ = max`` of :func:`logarithmic_norm` of ``ode.jacobian(0, u)`` over ``states``:
    ``L = max_j e^{μ ΔT_j}`` for the exact flow (``substeps=None``) or
    ``max_j (1 - μ ΔT_j / M)^{-M}`` for ``M`` implicit-Euler substeps (infinite when
    ``μ ΔT_j / M >= 1``). A true Lipschitz constant only for a constant ``A`` with one of
    those two fine propagators (``||e^{tA}||_∞ <= e^{tμ}``, ``||(I - hA)^{-1}||_∞ <= 1/(1 - hμ)``).
    It models the fine propagator as that map whatever stepper is actually run, and takes
    the Jacobian at ``t = 0``: for any other stepper (trapezoid on a stiff problem amplifies
    by up to 1 where the flow contracts to 0; explicit steppers can amplify), for a
    time-dependent ``f`` and for a nonlinear ``f`` it is not a bound, and the driver's
    estimate built on it can certify errors far above ``tol``. Use :func:`fine_lipschitz`,
    which differentiates the fine propagator itself, there.

    Parameters
    ----------
    ode : LinearODE or NonlinearODE
        The equation (its ``jacobian``).
    grid : TimeGrid
        The slices.
    states : sequence of arrays
        Where the Jacobian is sampled (the fine solution, say; one state suffices for ``u' = Au``).
    substeps : int, keyword-only, optional
        ``M``: the fine propagator is ``M`` implicit-Euler substeps; default the exact flow.

    Returns
    -------
    float
        ``L >= 0`` for :func:`~parareal_toolkit.parareal`'s ``fine_lipschitz``.

    Examples
    --------
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import fine_lipschitz_estimate, heat_1d
    >>> problem = heat_1d(20)
    >>> fine_lipschitz_estimate(problem.ode, TimeGrid.uniform(0.1, 4), [problem.u0])
    1.0
    """
    if not isinstance(grid, TimeGrid):
        raise InputTypeError(f"`grid` must be a TimeGrid; got {type(grid).__name__}.")
    if len(states) == 0:
        raise InputError("`states` must hold at least one state; got none.")
    mu = max(logarithmic_norm(ode.jacobian(0.0, np.asarray(u, dtype=float))) for u in states)
    steps = grid.steps
    if substeps is None:
        return float(np.exp(mu * steps).max())
    m = check_int(substeps, "substeps", minimum=1)
    x = mu * steps / m
    if np.any(x >= 1):
        return float("inf")
    return float(((1.0 - x) ** (-m)).max())


FINE_LIPSCHITZ_SAFETY = 1.1
"""The factor :func:`fine_lipschitz` multiplies the largest slice-Jacobian norm by (default)."""

FINE_LIPSCHITZ_MAX_SIZE = 512
"""The largest state size ``m`` :func:`fine_lipschitz` forms Jacobians for by default (``m + 1`` fine calls per slice)."""


def fine_lipschitz(
    fine: Any,
    states: Sequence[Any],
    *,
    norm: Callable[[Any], float] = max_abs,
    safety: float = FINE_LIPSCHITZ_SAFETY,
    max_size: int = FINE_LIPSCHITZ_MAX_SIZE,
) -> float:
    """``L``: the max-norm Lipschitz constant of the fine slice maps actually used, from their Jacobians.

    For each slice ``j`` the Jacobian ``J_j`` of the *discrete* map ``u -> fine(u, j)`` at
    ``U_j = states[j]`` is formed column by column from the propagator itself, by forward
    differences ``(fine(U_j + s e_i, j) - fine(U_j, j)) / s`` with ``s = sqrt(eps) max(1,
    norm(U_j))`` (one batched call of ``m + 1`` states per slice where the propagator has
    ``propagate_batch``). Whatever the stepper, its substeps, a solver's tolerances or a
    time-dependent ``f`` (evaluated at slice ``j``'s own times, since ``fine(., j)`` is what is
    differenced), the constant is that of the map the driver calls. The result is
    ``L = safety · max_j ||J_j||_∞`` (max row sum of ``|J_j|``, the norm the max-abs state norm
    induces).

    What it certifies:

    * an *affine* fine map (any Runge–Kutta or implicit stepper with fixed steps on
      ``u' = A(t) u + b(t)``): the differences give ``J_j`` up to rounding (relative
      ``~ sqrt(eps)``), the same at every state, so ``L`` is a true Lipschitz constant and the
      driver's a-posteriori estimate with it is a certificate (``safety >= 1`` covers the
      rounding);
    * a nonlinear map: ``||J_j(U_j)||`` is the local constant at the reference state only
      (``F_j(x) - F_j(u_j) = J_j(u_j)(x - u_j) + O(norm(x - u_j)^2)``), and ``safety``
      (default 1.1) is a margin for the states the iterates take near it: an estimate, which
      holds once the iterates are close to the fine solution (where a stop by
      ``criterion="estimate"`` at a small ``tol`` happens). Adaptive solvers (``solve_ivp``)
      are not smooth maps; their steps rarely change under a perturbation of ``s``, and when
      they do the difference is large, which makes ``L`` larger, never smaller.

    Where no constant can be had it refuses rather than return a number it cannot back:
    a norm other than the max-abs norm, ``m > max_size`` (``m + 1`` fine evaluations per slice),
    a non-finite state, or a non-finite propagator value.

    Parameters
    ----------
    fine : Propagator
        The fine propagator over ``N`` slices, on real numpy states (torch CPU tensors are read).
    states : sequence of N or N + 1 arrays
        ``U_j`` at the slice starts: the sequential fine solution, say (``states[j]`` for slice ``j``).
    norm : callable, keyword-only
        The driver's norm; only :func:`~parareal_toolkit.max_abs` (the default) is handled.
    safety : float, keyword-only
        The factor ``>= 1`` applied to ``max_j ||J_j||_∞`` (default 1.1).
    max_size : int, keyword-only
        The largest state size accepted (default 512).

    Returns
    -------
    float
        ``L >= 0`` for :func:`~parareal_toolkit.parareal`'s ``fine_lipschitz``.

    Raises
    ------
    InputError
        If ``norm`` is not the max-abs norm, ``m > max_size``, ``states`` does not hold ``N`` or
        ``N + 1`` states, a state or a propagator value is not finite, or ``safety < 1``.

    Examples
    --------
    Five implicit-Euler substeps of ``u' = -u`` over a slice of length 1 multiply by
    ``1/1.2^5 = 0.4019`` (the exact flow would give ``e^{-1} = 0.3679``); with ``safety=1``:

    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import ImplicitEulerStepper, dahlquist, fine_lipschitz
    >>> problem = dahlquist(-1.0)
    >>> fine = ImplicitEulerStepper(problem.ode, TimeGrid.uniform(2.0, 2), substeps=5)
    >>> round(fine_lipschitz(fine, [problem.u0, problem.u0], safety=1.0), 4)
    0.4019
    """
    n = check_propagator(fine, "fine")
    if norm is not max_abs:
        raise InputError(
            f"`norm` must be the max-abs norm (parareal_toolkit.norms.max_abs) for fine_lipschitz; got {norm!r}: "
            "no Jacobian norm is computed for other norms, so no constant can be given."
        )
    if len(states) not in (n, n + 1):
        raise InputError(f"`states` must hold N = {n} or N + 1 states; got {len(states)}.")
    safety = check_real(safety, "safety", minimum=1)
    max_size = check_int(max_size, "max_size", minimum=1)
    batch = getattr(fine, "propagate_batch", None)
    largest = 0.0
    for j in range(n):
        u = _finite_state(states[j], f"states[{j}]")
        m = u.size
        if u.ndim != 1 or m > max_size:
            raise InputError(
                f"`states[{j}]` must be a 1-D state of size at most max_size = {max_size}; got shape {u.shape} "
                f"(the Jacobian of a fine slice costs m + 1 fine evaluations)."
            )
        step = math.sqrt(np.finfo(float).eps) * max(1.0, float(np.abs(u).max(initial=0.0)))
        rows = [u] + [u + step * e for e in np.eye(m)]
        steps = np.array([row[i] - u[i] for i, row in enumerate(rows[1:])])  # the representable steps
        values = batch(rows, [j] * (m + 1)) if batch is not None else [fine(row, j) for row in rows]
        values = [_finite_state(value, f"fine(states[{j}] + s e_i, {j})") for value in values]
        jacobian = (np.stack(values[1:]) - values[0]).T / steps  # column i: d fine / d u_i
        largest = max(largest, float(np.abs(jacobian).sum(axis=1).max(initial=0.0)))
    return safety * largest
