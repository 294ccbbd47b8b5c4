"""Convergence theory of parareal for ``u' = A u`` (Gander & Vandewalle 2007) and its cost model.

For a mode ``A v = λ v`` and a slice of length ``ΔT`` put ``z = λ ΔT``; the fine propagator
multiplies by ``e^z`` and the coarse one by its amplification factor ``R(z)``. The error
``e^k_j`` of iterate ``k`` at ``T_j`` obeys ``e^{k+1}_{j+1} = R e^{k+1}_j + (e^z - R) e^k_j``,
``e^k_0 = 0``, hence, with ``d = max_j |e^{z_j} - R(z_j)|`` and ``r = max_j |R(z_j)|``:

* linear bound (``r < 1``): ``max_j |e^k_j| <= (d / (1 - r))^k max_j |e^0_j|``;
* superlinear bound (``r <= 1``): ``max_j |e^k_j| <= d^k C(N-1, k) max_j |e^0_j|``, with
  ``C(N-1, k) = (N-1)...(N-k)/k!``, zero for ``k >= N`` (parareal is exact after N steps).

Both hold slice by slice on non-uniform grids with the maxima above. For a diagonalisable
``A = V Λ V^{-1}`` they apply mode by mode to ``ê = V^{-1} e``; :func:`error_bounds` turns
them into a bound on ``max_j ||e^k_j||_2 <= ||V||_2 (Σ_i B_i^2)^{1/2}`` (``||V||_2 = 1``
for normal ``A``), which also bounds the max-abs error.

Implicit Euler (``R = 1/(1 - z)``) on the negative real axis gives the factor
``((1 + x) e^{-x} - 1)/x`` at ``z = -x``, whose supremum is 0.2984 at ``x ≈ 1.79``: on the
heat equation parareal contracts at least that fast whatever the mesh. On the imaginary
axis (advection) ``|e^z| = 1`` and the factor exceeds 1 for every ``z = iy != 0``:
the linear bound promises no contraction, only the superlinear one (finite ``N``) remains.

Cost model (``α = c_G / c_F``, ``N`` workers, ``K`` iterations): speedup over the
sequential fine solve ``1 / ((K + 1) α + K / N)``, or ``1 / ((1 + K/N) α + K / N)`` with
pipelined coarse sweeps. With an exact (precomputed expm) fine propagator ``α > 1`` and
parareal cannot win.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize
from scipy.special import comb

from .._validation import check_choice, check_int, check_real
from ..errors import InputError, InputTypeError
from ..propagator import TimeGrid
from .linear import LinearODE

__all__ = [
    "implicit_euler_amplification",
    "convergence_factor",
    "heat_contraction_factor",
    "modal_decomposition",
    "error_bounds",
    "speedup",
    "speedup_from_result",
    "BOUND_KINDS",
]

BOUND_KINDS = ("linear", "superlinear", "best")


#: The most implicit-Euler substeps the amplification is evaluated for: beyond, ``1 - z/M``
#: keeps too few digits of ``z/M`` in float64 for ``(1 - z/M)^{-M}`` to mean anything
#: (at ``M = 10^6`` the relative error is about ``M eps = 2e-10``).
MAX_SUBSTEPS = 10**6
# the largest A that modal_decomposition decomposes densely: O(m^3) work, minutes at this size
MAX_MODAL_SIZE = 4096


def _finite_complex(z, name: str) -> np.ndarray:
    """``z`` as a complex array, refusing what is not a number and non-finite entries."""
    try:
        array = np.asarray(z, dtype=complex)
    except (TypeError, ValueError):
        raise InputTypeError(f"`{name}` must be a complex number or an array of them; got {z!r}.") from None
    if not np.all(np.isfinite(array)):
        raise InputError(f"`{name}` must be finite; got {z!r}.")
    return array


def implicit_euler_amplification(z, substeps: int = 1):
    """``R(z) = (1 - z/M)^{-M}``: ``M`` implicit-Euler substeps over one slice, ``z = λ ΔT``.

    ``|R(z)| < 1`` on the open left half-plane (A-stable), ``R(z) -> 0`` as ``z -> -∞``
    (L-stable) and ``R(z) - e^z = O(z^2 / M)``.

    Parameters
    ----------
    z : complex or array_like of complex
        ``λ ΔT``.
    substeps : int
        ``M >= 1``.

    Returns
    -------
    numpy.ndarray of complex
        ``R(z)``, of the shape of ``z`` (0-dimensional for a scalar); ``inf`` at the pole
        ``z = M``.

    Examples
    --------
    >>> from parareal_toolkit.ode import implicit_euler_amplification
    >>> complex(implicit_euler_amplification(-1.0))
    (0.5+0j)
    """
    m = check_int(substeps, "substeps", minimum=1, maximum=MAX_SUBSTEPS)
    z = _finite_complex(z, "z")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):  # the pole z = M gives inf
        r = (1.0 - z / m) ** (-m)
        # Far from the pole the power over- or underflows to NaN on the way (|1 - z/M|^M
        # beyond 1e308); exp(-M log(1 - z/M)) gives the true value there (0 or inf).
        lost = ~np.isfinite(r) & (z != m)
        if np.any(lost):
            r = np.where(lost, np.exp(-m * np.log(1.0 - z / m)), r)
    return np.where(z == m, complex(np.inf, 0.0), r)  # the pole: inf, not 0**-M's NaN


def convergence_factor(z, substeps: int = 1):
    """The linear-bound factor ``|e^z - R(z)| / (1 - |R(z)|)``; ``inf`` where ``|R(z)| >= 1``.

    Each parareal iteration with implicit-Euler coarse steps multiplies the linear bound on
    the error of mode ``z`` by this factor (the error shrinks at least that fast); below 1 it
    converges, above 1 the bound gives no contraction.

    Parameters
    ----------
    z : complex or array_like of complex
        ``λ ΔT``.
    substeps : int
        ``M >= 1`` implicit-Euler substeps of the coarse propagator.

    Returns
    -------
    float or numpy.ndarray of float
        The factor at each ``z`` (a float for scalar ``z``).

    Examples
    --------
    Near the heat equation's worst mode (``x ≈ 1.79``) and on the imaginary axis:

    >>> from parareal_toolkit.ode import convergence_factor
    >>> round(convergence_factor(-1.79), 4), convergence_factor(2j) > 1
    (0.2984, True)
    """
    z = _finite_complex(z, "z")
    r = implicit_euler_amplification(z, substeps)
    gap = 1.0 - np.abs(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(gap > 0, np.abs(np.exp(z) - r) / np.where(gap > 0, gap, 1.0), np.inf)
    return factor if factor.ndim else float(factor)


def heat_contraction_factor(substeps: int = 1) -> float:
    """``sup_{x > 0}`` of the convergence factor on the negative real axis (0.2984 for M = 1).

    The mesh-independent contraction of parareal on any symmetric negative definite ``A``.

    Parameters
    ----------
    substeps : int
        ``M >= 1`` implicit-Euler substeps of the coarse propagator.

    Returns
    -------
    float
        The largest linear-bound factor ``|e^{-x} - R(-x)| / (1 - |R(-x)|)`` over ``x > 0``,
        found by bounded scalar minimisation (0.2984 at ``x ≈ 1.79`` for ``M = 1``).

    Examples
    --------
    >>> from parareal_toolkit.ode import heat_contraction_factor
    >>> round(heat_contraction_factor(), 4)
    0.2984
    """
    m = check_int(substeps, "substeps", minimum=1, maximum=MAX_SUBSTEPS)
    objective = lambda s: -convergence_factor(-math.exp(s), m)
    best = min(
        (
            scipy.optimize.minimize_scalar(objective, bounds=(a, a + 2.0), method="bounded")
            for a in np.arange(-6.0, 8.0, 2.0)
        ),
        key=lambda r: r.fun,
    )
    return float(-best.fun)


def modal_decomposition(ode: LinearODE):
    """``(eigenvalues, V, V^{-1})`` of ``A``; ``V`` is orthogonal for symmetric ``A``.

    Parameters
    ----------
    ode : LinearODE
        The equation; ``A`` must be diagonalisable (a dense copy is decomposed, so ``m`` is at
        most 4096: the work grows as ``m^3``).

    Returns
    -------
    eigenvalues : numpy.ndarray of complex, shape (m,)
        The eigenvalues of ``A``.
    V : numpy.ndarray, shape (m, m)
        The eigenvectors as columns, ``A V = V diag(eigenvalues)``.
    V_inv : numpy.ndarray, shape (m, m)
        ``V^{-1}`` (``V^T`` for symmetric ``A``, computed without an inverse).

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit.ode import heat_1d, modal_decomposition
    >>> eigenvalues, V, V_inv = modal_decomposition(heat_1d(10).ode)
    >>> bool(np.all(eigenvalues.real < 0)), np.allclose(V @ V_inv, np.eye(10))
    (True, True)
    """
    if not isinstance(ode, LinearODE):
        raise InputTypeError(f"`ode` must be a LinearODE; got {type(ode).__name__}.")
    if ode.size > MAX_MODAL_SIZE:
        raise InputError(
            f"`ode` must have at most {MAX_MODAL_SIZE} unknowns for a dense eigendecomposition (O(m^3) work: "
            f"minutes at m = {MAX_MODAL_SIZE}, hours beyond); got m = {ode.size}. Pass the eigenvalues instead "
            "where they are known."
        )
    A = ode.dense()
    if np.array_equal(A, A.T):
        eigenvalues, V = np.linalg.eigh(A)
        return eigenvalues.astype(complex), V, V.T
    eigenvalues, V = np.linalg.eig(A)
    return eigenvalues, V, np.linalg.inv(V)


def error_bounds(
    ode: LinearODE,
    grid: TimeGrid,
    initial_error,
    iterations: int,
    *,
    substeps: int = 1,
    fine_substeps: int | None = None,
    kind: str = "best",
) -> np.ndarray:
    """Upper bounds on ``max_j ||e^k_j||_2`` for ``k = 0..iterations``.

    The error is measured against the fine solution: with ``fine_substeps = M_F`` the fine
    propagator is ``M_F`` implicit-Euler substeps and ``e^z`` becomes ``(1 - z/M_F)^{-M_F}``
    in the bounds.

    Linear bound (``r < 1``): ``(d / (1 - r))^k``; superlinear bound: ``d^k C(N-1, k)``,
    zero for ``k >= N``; both times the initial modal error, then summed over modes (see the
    module docstring). Modes where the linear bound does not apply (``|R| >= 1``) get
    ``inf`` from it.

    Parameters
    ----------
    ode : LinearODE
        The equation.
    grid : TimeGrid
        Its slices.
    initial_error : sequence of N + 1 arrays
        ``U^0_j - u(T_j)`` with ``u`` the fine solution (``e^0_0 = 0``).
    iterations : int
        The last ``k``, at least 0.
    substeps : int, keyword-only
        Implicit-Euler substeps of the coarse propagator (default 1).
    fine_substeps : int, keyword-only, optional
        Implicit-Euler substeps of the fine propagator; default: the exact propagator.
    kind : {"linear", "superlinear", "best"}, keyword-only
        Which bound; ``"best"`` (default) takes the smaller, mode by mode.

    Returns
    -------
    numpy.ndarray, shape (iterations + 1,)
        The bound for each ``k = 0..iterations``; it also bounds the max-abs error.

    Examples
    --------
    The bounds hold for the measured errors on the heat equation:

    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
    >>> from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, error_bounds, heat_1d
    >>> problem = heat_1d(20)
    >>> grid = TimeGrid.uniform(problem.t_final, 8)
    >>> fine, coarse = ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)
    >>> reference = propagate_sequentially(fine, problem.u0)
    >>> result = parareal(fine, coarse, problem.u0, iterations=3, reference=reference)
    >>> bounds = error_bounds(problem.ode, grid, [u - r for u, r in zip(result.iterates[0], reference)], 3)
    >>> [f"{b:.1e}" for b in bounds], bool(np.all(np.array(result.errors) <= bounds))
    (['7.3e-02', '1.3e-02', '3.4e-03', '9.3e-04'], True)
    """
    check_choice(kind, "kind", BOUND_KINDS)
    iterations = check_int(iterations, "iterations", minimum=0)
    if len(initial_error) != grid.num_slices + 1:
        raise InputError(f"`initial_error` must hold N + 1 = {grid.num_slices + 1} arrays; got {len(initial_error)}.")
    eigenvalues, V, V_inv = modal_decomposition(ode)
    n = grid.num_slices
    z = np.outer(eigenvalues, grid.steps)  # modes x slices
    with np.errstate(over="ignore", invalid="ignore"):  # huge steps: inf and NaN bounds, reported as such
        r = np.abs(implicit_euler_amplification(z, substeps))
        fine = np.exp(z) if fine_substeps is None else implicit_euler_amplification(z, fine_substeps)
        d = np.abs(fine - implicit_euler_amplification(z, substeps)).max(axis=1)
        r = r.max(axis=1)
        e0 = np.abs(V_inv @ np.column_stack(initial_error)).max(axis=1)
    k = np.arange(iterations + 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        linear_rate = np.where(r < 1, d / np.where(r < 1, 1.0 - r, 1.0), np.inf)
        linear = np.where(k == 0, 1.0, linear_rate[None, :] ** k) * e0
        superlinear = np.where(r[None, :] <= 1 + 1e-15, d[None, :] ** k * comb(n - 1, k), np.inf) * e0
        superlinear = np.where(k >= n, 0.0, superlinear)
        superlinear[0] = e0
    per_mode = {"linear": linear, "superlinear": superlinear, "best": np.minimum(linear, superlinear)}[kind]
    with np.errstate(over="ignore", invalid="ignore"):
        return np.linalg.norm(V, 2) * np.sqrt(np.sum(per_mode**2, axis=1))


def speedup(
    alpha: float, num_slices: int, iterations: int, *, workers: int | None = None, pipelined: bool = False
) -> float:
    """Model speedup of parareal over the sequential fine solve.

    ``alpha = c_G / c_F`` is the cost of one coarse slice over one fine slice. With one
    worker per slice (``workers = N``, the default): ``1 / ((K + 1) α + K / N)`` without
    pipelining, ``1 / ((1 + K/N) α + K / N)`` with it. With ``W < N`` workers each fine
    sweep takes ``ceil(N / W)`` fine slices, so ``K / N`` becomes ``K ceil(N/W) / N``; the
    speedup can then never exceed ``W / K``. Communication is not modelled.

    Parameters
    ----------
    alpha : float
        ``c_G / c_F >= 0``.
    num_slices : int
        ``N >= 1``.
    iterations : int
        ``K >= 1``.
    workers : int, keyword-only, optional
        ``W >= 1`` (default ``N``); more than ``N`` workers count as ``N``.
    pipelined : bool, keyword-only
        Whether the coarse sweeps are pipelined (default False).

    Returns
    -------
    float
        The modelled speedup; below 1 parareal is slower than the sequential fine solve.

    Examples
    --------
    >>> from parareal_toolkit.ode import speedup
    >>> round(speedup(0.01, 8, 2), 4)  # 1 / (3 * 0.01 + 2/8)
    3.5714
    >>> round(speedup(0.01, 8, 2, pipelined=True), 4)  # 1 / (1.25 * 0.01 + 2/8)
    3.8095
    >>> speedup(0.01, 8, 2, workers=4) < 4 / 2
    True
    """
    alpha = check_real(alpha, "alpha", minimum=0)
    n = check_int(num_slices, "num_slices", minimum=1)
    k = check_int(iterations, "iterations", minimum=1)
    w = n if workers is None else check_int(workers, "workers", minimum=1)
    return _modelled_speedup(alpha, n, k, w, pipelined=pipelined)


def _modelled_speedup(
    alpha: float, slices: int, iterations: int, workers: int, *, pipelined: bool = False, core_share: float = 1.0
) -> float:
    """``1 / (C α + K ceil(N / W) / (N s))``, the one cost model behind every speedup entry point.

    ``C`` coarse sweeps: ``K + 1``, or ``1 + K / N`` pipelined; each of the ``K`` fine
    sweeps takes ``ceil(N / W)`` fine slices (``W`` capped at ``N``) on workers that each get
    the share ``s`` of a core. The callers validate; :func:`speedup` is this with ``s = 1``,
    :func:`~parareal_toolkit.ode.modelled_speedup` with ``α = c_G / c_F`` and ``K >= 0``.
    """
    fine_sweeps = iterations * math.ceil(slices / min(workers, slices)) / (slices * core_share)
    coarse_sweeps = (1 + iterations / slices) if pipelined else (iterations + 1)
    return 1.0 / (coarse_sweeps * alpha + fine_sweeps)


def speedup_from_result(
    result, *, fine_cost: float, coarse_cost: float, workers: int | None = None, pipelined: bool = False
) -> float:
    """:func:`speedup` for a :class:`~parareal_toolkit.PararealResult` and per-slice costs.

    Parameters
    ----------
    result : PararealResult
        Supplies ``N`` and ``K`` (``K = 0`` counts as 1).
    fine_cost, coarse_cost : float, keyword-only
        Seconds (or any unit) of one fine slice (positive) and one coarse slice.
    workers, pipelined : keyword-only
        As in :func:`speedup`.

    Returns
    -------
    float
        ``speedup(coarse_cost / fine_cost, result.num_slices, result.iterations, ...)``.

    Examples
    --------
    >>> from parareal_toolkit import TimeGrid, parareal
    >>> from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, heat_1d, speedup_from_result
    >>> problem = heat_1d(20)
    >>> grid = TimeGrid.uniform(problem.t_final, 8)
    >>> fine, coarse = ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)
    >>> result = parareal(fine, coarse, problem.u0, iterations=2)
    >>> round(speedup_from_result(result, fine_cost=1.0, coarse_cost=0.01), 4)  # 1 / (3 * 0.01 + 2/8)
    3.5714
    """
    fine_cost = check_real(fine_cost, "fine_cost", minimum=0, strict=True)
    coarse_cost = check_real(coarse_cost, "coarse_cost", minimum=0)
    if not (
        isinstance(getattr(result, "num_slices", None), int) and isinstance(getattr(result, "iterations", None), int)
    ):
        raise InputTypeError(f"`result` must be a PararealResult (with `num_slices` and `iterations`); got {result!r}.")
    return speedup(
        coarse_cost / fine_cost, result.num_slices, max(result.iterations, 1), workers=workers, pipelined=pipelined
    )
