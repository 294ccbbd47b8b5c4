"""Convergence theory of parareal for nonlinear ODEs (Gander & Hairer 2008) and the constants it needs.

Gander & Hairer (*Nonlinear convergence analysis for the parareal algorithm*, Domain
Decomposition Methods XVII, LNCSE 60, 2008, Theorem 1) assume, for all states ``x, y`` and
every slice,

* ``norm((F - G)(x) - (F - G)(y)) <= α norm(x - y)`` (for an order-``p`` coarse propagator
  ``α = C_1 ΔT^{p+1}``: the difference of fine and coarse is Lipschitz with a small constant);
* ``norm(G(x) - G(y)) <= β norm(x - y)`` (``β = 1 + C_2 ΔT``).

Then the error of parareal iterate ``k`` at ``T_n`` against the fine solution obeys

    ``norm(e^k_n) <= α^k / k! · β^{n-1-k} · Π_{j=1..k} (n - j) · max_n norm(e^0_n)``,

superlinear in ``k`` and zero for ``k >= n`` (the first ``k`` slices are exact).
:func:`gander_hairer_bound` evaluates it (its maximum over ``n``) for given ``α``, ``β``.

The constants are seldom known. :func:`lipschitz_constants` *estimates* them by finite
differences of the propagators themselves around given states (the fine solution, say):
ratios along a few random directions, maximised over slices. That is a lower estimate of
the true suprema (only nearby states are tried), so the bound built on it is an estimate,
not a certificate. :func:`fine_lipschitz_estimate` gives the constant ``L`` of the
a-posteriori error estimate of :func:`~parareal_toolkit.parareal` (``fine_lipschitz=``)
from the logarithmic max-norm ``μ(J) = max_i (J_ii + Σ_{k≠i} |J_ik|)`` of the Jacobian:
``||e^{ΔT A}||_∞ <= e^{μ ΔT}`` for the exact flow and ``||(I - hA)^{-1}||_∞ <= 1/(1 - hμ)``
for implicit Euler, so for ``u' = A u`` with the exact or implicit-Euler fine propagator it
is a true Lipschitz constant (on the heat equation ``μ = 0`` and ``L = 1``); for a nonlinear
``f`` the Jacobian is sampled at the given states only, and it is an estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.special import comb

from .._validation import check_int, check_real
from ..driver import max_abs
from ..errors import InputError, InputTypeError
from ..propagator import TimeGrid, check_propagator

__all__ = ["gander_hairer_bound", "lipschitz_constants", "logarithmic_norm", "fine_lipschitz_estimate"]


def gander_hairer_bound(
    alpha: float, beta: float, num_slices: int, iterations: int, initial_error: float
) -> np.ndarray:
    """The Gander–Hairer superlinear bound on ``max_n norm(e^k_n)`` for ``k = 0..iterations``.

    ``max_{1<=n<=N} α^k β^{n-1-k} C(n-1, k) E_0`` with ``E_0 = max_n norm(e^0_n)`` (see the
    module docstring); zero for ``k >= N``, ``E_0`` at ``k = 0``.

    Parameters
    ----------
    alpha : float
        ``α >= 0``, Lipschitz constant of ``F - G`` per slice.
    beta : float
        ``β >= 0``, Lipschitz constant of ``G`` per slice.
    num_slices : int
        ``N >= 1``.
    iterations : int
        The last ``k >= 0``.
    initial_error : float
        ``E_0 >= 0``, the largest error of the initial iterate.

    Returns
    -------
    numpy.ndarray, shape (iterations + 1,)
        The bound for each ``k``.

    Examples
    --------
    >>> from parareal_toolkit.ode import gander_hairer_bound
    >>> gander_hairer_bound(0.1, 1.0, 4, 4, 1.0).round(6).tolist()  # 0.1^k C(3, k)
    [1.0, 0.3, 0.03, 0.001, 0.0]
    """
    alpha = check_real(alpha, "alpha", minimum=0)
    beta = check_real(beta, "beta", minimum=0)
    n_slices = check_int(num_slices, "num_slices", minimum=1)
    iterations = check_int(iterations, "iterations", minimum=0)
    e0 = check_real(initial_error, "initial_error", minimum=0)
    n = np.arange(1, n_slices + 1)[None, :]
    k = np.arange(iterations + 1)[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        terms = np.where(k < n, alpha**k * beta ** np.maximum(n - 1 - k, 0) * comb(n - 1, k), 0.0)
    bound = terms.max(axis=1) * e0
    bound[0] = e0
    return bound


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
        u = np.asarray(states[j], dtype=float)
        f0, g0 = fine(u, j), coarse(u, j)
        eps = relative_step * max(1.0, float(norm(u)))
        for _ in range(directions):
            d = rng.standard_normal(u.shape)
            d /= float(norm(d))
            v = u + eps * d
            size = float(norm(v - u))
            g1 = coarse(v, j)
            alpha = max(alpha, float(norm((fine(v, j) - g1) - (f0 - g0))) / size)
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
    dense = J.toarray() if hasattr(J, "toarray") else np.asarray(J, dtype=float)
    diagonal = np.diag(dense)
    off = np.abs(dense).sum(axis=1) - np.abs(diagonal)
    return float((diagonal + off).max())


def fine_lipschitz_estimate(ode: Any, grid: TimeGrid, states: Sequence[Any], *, substeps: int | None = None) -> float:
    """``L``: a Lipschitz constant, in the max-norm, of every fine slice propagator, from ``μ_∞`` of the Jacobian.

    With ``μ = max`` of :func:`logarithmic_norm` of ``ode.jacobian`` over ``states``:
    ``L = max_j e^{μ ΔT_j}`` for the exact flow (``substeps=None``) or
    ``max_j (1 - μ ΔT_j / M)^{-M}`` for ``M`` implicit-Euler substeps (infinite when
    ``μ ΔT_j / M >= 1``). Rigorous for ``u' = A u``; an estimate for nonlinear ``f`` (the
    Jacobian is sampled at ``states``) and for other steppers (their amplification differs
    from ``e^{hμ}`` by ``O(h^{p+1})``).

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
