"""Two-level MGRIT convergence for ``u' = A u``: the exact error propagator per mode and its bounds.

Setting. The fine grid has ``N = m N_c`` steps of a one-step method ``Φ``; every ``m``-th
point is a C-point, ``N_c`` coarse intervals, and the coarse step ``Φ_Δ`` spans one
interval. For a diagonalisable ``A`` both steps share its eigenvectors, and mode by mode
``Φ`` multiplies by ``λ`` and ``Φ_Δ`` by ``μ`` (for implicit Euler with fine step ``δt``
and eigenvalue ``a`` of ``A``: ``λ = 1/(1 - δt a)``, ``μ = 1/(1 - m δt a)``).

One two-level iteration (Falgout et al. 2014): relax, then the FAS coarse-grid correction
(restrict the residual by injection to the C-points, solve the coarse system exactly
with ``Φ_Δ``, overwrite the C-points). F-relaxation propagates ``Φ`` from each C-point
across its interval (the iteration is then parareal); FCF-relaxation adds a C-relaxation
(each C-point becomes ``Φ`` of the point before it) and a second F-relaxation.

The error at the C-points ``1..N_c`` (C-point 0 holds the initial value: its error is 0)
after one iteration is ``e^{k+1} = E e^k``. F-relaxation leaves at the C-point ``j`` the
residual ``λ^m e_{j-1} - e_j``, and the coarse solve ``v_j = μ v_{j-1} + (λ^m - μ) e_{j-1}``
(``v_0 = 0``) gives

* ``E_F = (λ^m - μ) T_1``, ``(T_1)_{ij} = μ^{i-j-1}`` for ``i > j``, else 0;
* ``E_FCF = E_F · C`` with the C-relaxation ``(C e)_j = λ^m e_{j-1}``:
  ``E_FCF = (λ^m - μ) λ^m T_2``, ``(T_2)_{ij} = μ^{i-j-2}`` for ``i >= j + 2``, else 0
  (its first subdiagonal is zero).

Both are ``N_c × N_c`` lower-triangular Toeplitz. ``E_F^k`` vanishes below its ``k``-th
subdiagonal and above it, so ``E_F^{N_c} = 0`` while ``E_F^{N_c-1}`` has the corner
``(λ^m - μ)^{N_c-1}``: F-relaxation is exact after ``N_c`` iterations (parareal after
``N`` slices). ``E_FCF^k`` lives on the subdiagonals ``>= 2k``, so ``E_FCF^k = 0`` exactly
when ``2k >= N_c``: FCF is exact after ``ceil(N_c/2)`` iterations (its entry ``(2k+1, 1)``,
1-based, is ``((λ^m - μ) λ^m)^k != 0`` for ``k = ceil(N_c/2) - 1``).

The nonzero part of ``E_F`` is ``(λ^m - μ) L_{N_c-1}(μ)`` and that of ``E_FCF`` is
``(λ^m - μ) λ^m L_{N_c-2}(μ)``, with ``L_n(μ) = (I - μ S_n)^{-1}`` the ``n × n``
lower-triangular Toeplitz matrix of ``μ^{i-j}`` (``S_n`` the down shift). With ``r = |μ|``:

* Dobrev, Kolev, Petersson & Schroder (2017): ``||L_n||_2 <= sqrt(||L_n||_1 ||L_n||_∞)
  = Σ_{k<n} r^k``, hence ``||E_F||_2 <= |λ^m - μ| (1 - r^{N_c})/(1 - r)`` and
  ``||E_FCF||_2 <= |λ|^m |λ^m - μ| (1 - r^{N_c-1})/(1 - r)`` (``N_c``, ``N_c - 1`` at
  ``r = 1``), for every ``μ``: the sums have one term more than the matrices need.
* Southworth (2019), for ``r < 1``: ``||L_n||_2 <= sup_{|z|=1} |1/(1 - μ z)| = 1/(1 - r)``
  (a section of the Toeplitz operator with that symbol), hence the ``N_c``-independent
  bounds ``|λ^m - μ|/(1 - r)`` and ``|λ|^m |λ^m - μ|/(1 - r)``; ``inf`` for ``r >= 1``.
  These are looser than the finite-``N_c`` sums above: Southworth's point is that they are
  tight as ``N_c → ∞``.
* Southworth's estimate ``|λ^m - μ| / sqrt((1 - r)^2 + π^2 r / N_c^2)`` (times ``|λ|^m``
  for FCF) is an estimate, not a bound. What holds for the matrices as indexed here
  (derived for this module, checked in its tests): ``1/σ_min(I - μS_n)^2`` is the smallest
  eigenvalue of a tridiagonal matrix, and ``v_j = sin((n + 1 - j)θ)`` is an eigenvector
  with eigenvalue ``(1 - r)^2 + 2r(1 - cos θ)`` when ``sin((n+1)θ) = r sin(nθ)``, which has
  a root in ``(0, π/(n+1))`` for ``0 < r <= 1``. With ``ρ = ||E||/prefactor``:

  - F (``N_c >= 2``, ``r <= 1``): ``(1 - r)^2 <= 1/ρ^2 <= (1 - r)^2 + π^2 r / N_c^2``,
    so the estimate is a lower bound on ``||E_F||_2`` and ``0 <= 1/est^2 - 1/ρ^2 <=
    π^2 r / N_c^2`` (in these normalised units: an ``O(1/N_c^2)`` error);
  - FCF (``N_c >= 3``, ``r <= 1``): the same with ``N_c - 1``, so
    ``|1/est^2 - 1/ρ^2| <= π^2 r / (N_c - 1)^2``; the estimate may lie on either side.

  For ``r > 1`` the norms grow like ``r^{N_c}`` and no ``N_c``-independent estimate exists
  (``inf`` here).

For a diagonalisable ``A = V Λ V^{-1}`` the mode factors bound the error in the norm
``||V^{-1} ·||_2`` (the 2-norm for normal ``A``); :func:`~parareal_toolkit.ode.mgrit_bound` takes their maximum.

References: V. A. Dobrev, Tz. Kolev, N. A. Petersson and J. B. Schroder, *Two-level
convergence theory for multigrid reduction in time (MGRIT)*, SIAM J. Sci. Comput. 39(5),
S501–S527, 2017; B. S. Southworth, *Necessary conditions and tight two-level convergence
bounds for parareal and multigrid reduction in time*, SIAM J. Matrix Anal. Appl. 40(2),
564–608, 2019; R. D. Falgout, S. Friedhoff, Tz. V. Kolev, S. P. MacLachlan and
J. B. Schroder, *Parallel time integration with multigrid*, SIAM J. Sci. Comput. 36(6),
C635–C661, 2014.
"""

from __future__ import annotations

import math

import numpy as np

from .._resources import require_memory
from .._validation import check_choice, check_int, check_real
from ..errors import InputError, InputTypeError
from .linear import LinearODE, LinearProblem
from .theory import implicit_euler_amplification, modal_decomposition

__all__ = [
    "mgrit_error_propagator",
    "mgrit_convergence_factor",
    "mgrit_dobrev_bound",
    "mgrit_southworth_bound",
    "mgrit_southworth_estimate",
    "mgrit_bound",
    "MGRIT_RELAXATIONS",
    "MGRIT_STEPPERS",
    "MGRIT_BOUND_KINDS",
]

MGRIT_RELAXATIONS = ("F", "FCF")
#: The one-step methods whose amplification factors :func:`~parareal_toolkit.ode.mgrit_bound` knows, by the names
#: ``parareal ode --fine/--coarse`` gives the steppers, plus ``"exact"`` (``e^z``).
MGRIT_STEPPERS = ("exact", "implicit-euler", "explicit-euler", "trapezoid", "rk4")
MGRIT_BOUND_KINDS = ("exact", "dobrev", "southworth", "estimate")

#: The largest ``N_c`` whose ``N_c × N_c`` propagator is built: an SVD costs ``O(N_c^3)``.
MAX_EXACT_COARSE = 2048
#: ``m`` and ``N_c`` up to ``2^53``: integers that float64 holds exactly.
_MAX_COUNT = 2**53
# modes x N_c^2 entries per stacked SVD in mgrit_convergence_factor (16 MiB of complex)
_CHUNK_ENTRIES = 2**20


def _modes(lam, mu) -> tuple[np.ndarray, np.ndarray]:
    """``lam`` and ``mu`` as broadcast float64 (both real) or complex128 arrays, finite."""
    arrays = []
    for value, name in ((lam, "lam"), (mu, "mu")):
        try:
            array = np.asarray(value)
        except (TypeError, ValueError):
            raise InputTypeError(f"`{name}` must be a number or an array of numbers; got {value!r}.") from None
        if array.dtype.kind not in "fiuc":
            raise InputTypeError(f"`{name}` must be real or complex numbers; got {value!r} (dtype {array.dtype}).")
        arrays.append(array)
    kind = complex if any(a.dtype.kind == "c" for a in arrays) else float
    lam_a, mu_a = (a.astype(kind) for a in arrays)
    for array, value, name in ((lam_a, lam, "lam"), (mu_a, mu, "mu")):
        if not np.all(np.isfinite(array)):
            raise InputError(f"`{name}` must be finite; got {value!r}.")
    try:
        lam_b, mu_b = np.broadcast_arrays(lam_a, mu_a)
    except ValueError:
        raise InputError(
            f"`lam` and `mu` must broadcast together; got shapes {lam_a.shape} and {mu_a.shape}."
        ) from None
    return lam_b, mu_b


def _prefactor(lam: np.ndarray, mu: np.ndarray, m: int, relax: str) -> np.ndarray:
    """``(λ^m - μ)``, times ``λ^m`` for FCF (complex or real); non-finite where it overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        lam_m = np.power(lam, m)
        c = lam_m - mu
        return c * lam_m if relax == "FCF" else c


def _abs_prefactor(lam: np.ndarray, mu: np.ndarray, m: int, relax: str) -> np.ndarray:
    """``|λ^m - μ|`` (times ``|λ|^m`` for FCF) as floats, ``inf`` where it overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        lam_m = np.power(lam, m)
        size = np.where(np.isfinite(lam_m), np.abs(lam_m - mu), np.inf)
        if relax == "FCF":
            scale = np.power(np.abs(lam), m)
            size = np.where((size == 0) | (scale == 0), 0.0, size * scale)
    return size


def _counts(m, num_coarse, relax, maximum: int) -> tuple[int, int, str]:
    m = check_int(m, "m", minimum=1, maximum=_MAX_COUNT)
    n = check_int(num_coarse, "num_coarse", minimum=1, maximum=maximum)
    return m, n, check_choice(relax, "relax", MGRIT_RELAXATIONS)


def _as_result(values: np.ndarray):
    return values if values.ndim else float(values)


def _stack(lam: np.ndarray, mu: np.ndarray, m: int, n: int, relax: str) -> np.ndarray:
    """The propagators of the modes ``lam``, ``mu`` (1-d), shape ``(modes, n, n)``.

    Entry ``(i, j)`` is ``c μ^{i-j-s}`` (``s`` = 1 for F, 2 for FCF) computed as the running
    product ``c, c μ, c μ^2, ...``: an entry overflows only where its true value does.
    """
    shift = 1 if relax == "F" else 2
    c = _prefactor(lam, mu, m, relax)
    factors = np.empty((*lam.shape, max(n - shift, 0) + 1), dtype=c.dtype)
    factors[:, 0] = c
    factors[:, 1:] = mu[:, None]
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        entries = np.cumprod(factors, axis=1)
    i, j = np.indices((n, n))
    k = i - j - shift
    below = k >= 0
    matrix = np.where(below, entries[:, np.clip(k, 0, None)], 0)
    matrix[c == 0] = 0  # λ^m = μ: E = 0 (0 · inf where a power of μ overflowed)
    return matrix


def mgrit_error_propagator(lam, mu, m: int, num_coarse: int, relax: str = "F") -> np.ndarray:
    """``E``, the ``N_c × N_c`` error propagator of two-level MGRIT at the C-points, per mode.

    ``E_F = (λ^m - μ) T_1`` with ``(T_1)_{ij} = μ^{i-j-1}`` for ``i > j``;
    ``E_FCF = (λ^m - μ) λ^m T_2`` with ``(T_2)_{ij} = μ^{i-j-2}`` for ``i >= j + 2`` (zero
    first subdiagonal). Rows and columns are the C-points ``1..N_c``; ``E_F^{N_c} = 0``
    and ``E_FCF^{ceil(N_c/2)} = 0`` (exactness). See :doc:`/concepts/mgrit` for the
    derivation.

    Parameters
    ----------
    lam, mu : complex or array_like of complex (or real)
        The eigenvalues of the fine step ``Φ`` and of the coarse step ``Φ_Δ`` on each mode;
        they broadcast together. Finite.
    m : int
        Coarsening factor, ``1 <= m <= 2^53``.
    num_coarse : int
        ``N_c``, the number of coarse intervals, ``1 <= N_c <= 2048``.
    relax : {"F", "FCF"}
        The relaxation (default ``"F"``, which makes the iteration parareal).

    Returns
    -------
    numpy.ndarray, shape ``broadcast(lam, mu).shape + (N_c, N_c)``
        Float64 when ``lam`` and ``mu`` are real, else complex128.

    Raises
    ------
    InputError
        When an entry overflows float64, or on invalid arguments.
    MemoryError
        When the stack of matrices cannot fit in memory.

    Examples
    --------
    >>> from parareal_toolkit.ode import mgrit_error_propagator
    >>> mgrit_error_propagator(0.9, 0.5, 2, 4)  # λ^m - μ = 0.31
    array([[0.    , 0.    , 0.    , 0.    ],
           [0.31  , 0.    , 0.    , 0.    ],
           [0.155 , 0.31  , 0.    , 0.    ],
           [0.0775, 0.155 , 0.31  , 0.    ]])
    >>> mgrit_error_propagator(0.9, 0.5, 2, 4, "FCF")  # (λ^m - μ) λ^m = 0.2511, zero first subdiagonal
    array([[0.     , 0.     , 0.     , 0.     ],
           [0.     , 0.     , 0.     , 0.     ],
           [0.2511 , 0.     , 0.     , 0.     ],
           [0.12555, 0.2511 , 0.     , 0.     ]])
    """
    m, n, relax = _counts(m, num_coarse, relax, MAX_EXACT_COARSE)
    lam, mu = _modes(lam, mu)
    shape = lam.shape
    require_memory(
        3.0 * lam.size * n * n * lam.dtype.itemsize, f"mgrit_error_propagator(num_coarse={n}), {lam.size} modes"
    )
    matrix = _stack(lam.reshape(-1), mu.reshape(-1), m, n, relax)
    if not np.all(np.isfinite(matrix)):
        raise InputError(
            f"the error propagator's entries overflow float64 for `lam`={lam!r}, `mu`={mu!r}, `m`={m}, "
            f"`num_coarse`={n}; use mgrit_convergence_factor (inf there) or smaller values."
        )
    return matrix.reshape((*shape, n, n))


def mgrit_convergence_factor(lam, mu, m: int, num_coarse: int, relax: str = "F"):
    """``||E||_2``, the exact worst-case error reduction of one two-level MGRIT iteration per mode.

    The largest singular value of :func:`~parareal_toolkit.ode.mgrit_error_propagator` (``numpy.linalg.norm(E, 2)``);
    ``inf`` where an entry of ``E`` overflows float64 (the norm is at least that entry).
    ``||e^{k+1}||_2 <= ||E||_2 ||e^k||_2`` at the C-points, with equality for some ``e^k``.

    Parameters
    ----------
    lam, mu : complex or array_like of complex (or real)
        Fine- and coarse-step eigenvalues per mode, broadcast together; finite.
    m : int
        Coarsening factor, ``1 <= m <= 2^53``.
    num_coarse : int
        ``N_c``, ``1 <= N_c <= 2048``.
    relax : {"F", "FCF"}
        The relaxation (default ``"F"``).

    Returns
    -------
    float or numpy.ndarray of float
        The factor of each mode (a float for scalar ``lam`` and ``mu``).

    Examples
    --------
    Implicit Euler on ``a δt = -1`` with ``m = 4``: FCF contracts faster than F.

    >>> from parareal_toolkit.ode import mgrit_convergence_factor
    >>> lam, mu = 1 / (1 + 1.0), 1 / (1 + 4.0)
    >>> round(mgrit_convergence_factor(lam, mu, 4, 16), 4), round(mgrit_convergence_factor(lam, mu, 4, 16, "FCF"), 4)
    (0.1709, 0.0107)
    """
    m, n, relax = _counts(m, num_coarse, relax, MAX_EXACT_COARSE)
    lam, mu = _modes(lam, mu)
    flat_lam, flat_mu = lam.reshape(-1), mu.reshape(-1)
    out = np.empty(flat_lam.shape)
    chunk = max(1, _CHUNK_ENTRIES // (n * n))
    for start in range(0, flat_lam.size, chunk):
        matrix = _stack(flat_lam[start : start + chunk], flat_mu[start : start + chunk], m, n, relax)
        finite = np.all(np.isfinite(matrix), axis=(1, 2))
        norms = np.full(matrix.shape[0], np.inf)
        if np.any(finite):
            norms[finite] = np.linalg.norm(matrix[finite], 2, axis=(1, 2))
        out[start : start + chunk] = norms
    return _as_result(out.reshape(lam.shape))


def _geometric_sum(r: np.ndarray, terms: int) -> np.ndarray:
    """``Σ_{k<terms} r^k = (r^terms - 1)/(r - 1)``, ``terms`` at ``r = 1``; ``inf`` on overflow.

    ``expm1(terms · log1p(r - 1))`` keeps the relative accuracy near ``r = 1`` that
    ``1 - r^terms`` loses to cancellation.
    """
    if terms == 0:
        return np.zeros_like(r)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        ratio = np.expm1(terms * np.log1p(r - 1.0)) / np.where(r == 1.0, 1.0, r - 1.0)
    return np.where(r == 1.0, float(terms), ratio)


def _times(prefactor: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``prefactor · factor``, 0 where ``prefactor = 0`` (``E = 0`` there, whatever ``factor``)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(prefactor == 0, 0.0, prefactor * factor)


def mgrit_dobrev_bound(lam, mu, m: int, num_coarse: int, relax: str = "F"):
    """Dobrev et al.'s bound: ``||E_F||_2 <= |λ^m - μ| (1 - |μ|^{N_c}) / (1 - |μ|)``, any ``μ``.

    For FCF ``|λ|^m |λ^m - μ| (1 - |μ|^{N_c-1}) / (1 - |μ|)``; at ``|μ| = 1`` the fraction is
    ``N_c`` (``N_c - 1``). It is ``sqrt(||E||_1 ||E||_∞)`` bounded by the sum of the
    entries' moduli along a column, so it holds for ``|μ| >= 1`` too, where it grows like
    ``|μ|^{N_c}`` (Dobrev, Kolev, Petersson & Schroder, SIAM J. Sci. Comput. 2017).

    Parameters
    ----------
    lam, mu : complex or array_like of complex (or real)
        Fine- and coarse-step eigenvalues per mode, broadcast together; finite.
    m : int
        Coarsening factor, ``1 <= m <= 2^53``.
    num_coarse : int
        ``N_c``, ``1 <= N_c <= 2^53``.
    relax : {"F", "FCF"}
        The relaxation (default ``"F"``).

    Returns
    -------
    float or numpy.ndarray of float
        The bound per mode; ``inf`` where it overflows float64.

    Examples
    --------
    >>> from parareal_toolkit.ode import mgrit_dobrev_bound
    >>> round(mgrit_dobrev_bound(0.9, 0.5, 2, 4), 6)  # 0.31 (1 - 0.5^4) / 0.5
    0.58125
    >>> round(mgrit_dobrev_bound(0.9, 1.0, 2, 4), 6)  # |μ| = 1: 0.19 · 4
    0.76
    """
    m, n, relax = _counts(m, num_coarse, relax, _MAX_COUNT)
    lam, mu = _modes(lam, mu)
    terms = n if relax == "F" else n - 1
    return _as_result(_times(_abs_prefactor(lam, mu, m, relax), _geometric_sum(np.abs(mu), terms)))


def mgrit_southworth_bound(lam, mu, m: int, relax: str = "F"):
    """Southworth's ``N_c``-independent bound ``||E_F||_2 <= |λ^m - μ| / (1 - |μ|)`` for ``|μ| < 1``.

    For FCF ``|λ|^m |λ^m - μ| / (1 - |μ|)``; ``inf`` for ``|μ| >= 1`` (no bound uniform in
    ``N_c`` exists there, unless ``λ^m = μ`` and ``E = 0``). The bound is the supremum of
    the Toeplitz symbol ``1/(1 - μ z)`` on ``|z| = 1``; it is approached as ``N_c → ∞``
    (Southworth, SIAM J. Matrix Anal. Appl. 2019). For F with ``λ = e^{δt a}`` (exact fine
    steps) and implicit-Euler ``μ`` it is the parareal factor of
    :func:`~parareal_toolkit.ode.convergence_factor` (Gander & Vandewalle 2007).

    Parameters
    ----------
    lam, mu : complex or array_like of complex (or real)
        Fine- and coarse-step eigenvalues per mode, broadcast together; finite.
    m : int
        Coarsening factor, ``1 <= m <= 2^53``.
    relax : {"F", "FCF"}
        The relaxation (default ``"F"``).

    Returns
    -------
    float or numpy.ndarray of float
        The bound per mode (``inf`` where ``|μ| >= 1`` or on overflow).

    Examples
    --------
    >>> from parareal_toolkit.ode import mgrit_southworth_bound
    >>> round(mgrit_southworth_bound(0.9, 0.5, 2), 6)  # 0.31 / 0.5
    0.62
    >>> mgrit_southworth_bound(0.9, 1.0, 2)
    inf
    """
    m, _, relax = _counts(m, 1, relax, _MAX_COUNT)
    lam, mu = _modes(lam, mu)
    r = np.abs(mu)
    with np.errstate(divide="ignore"):
        factor = np.where(r < 1.0, 1.0 / np.where(r < 1.0, 1.0 - r, 1.0), np.inf)
    return _as_result(_times(_abs_prefactor(lam, mu, m, relax), factor))


def mgrit_southworth_estimate(lam, mu, m: int, num_coarse: int, relax: str = "F"):
    """Southworth's estimate ``|λ^m - μ| / sqrt((1 - |μ|)^2 + π^2 |μ| / N_c^2)`` of ``||E_F||_2``.

    An estimate, not an upper bound. For ``|μ| <= 1`` and ``N_c >= 2`` it is a lower bound
    on ``||E_F||_2``, and its reciprocal square is within ``π^2 |μ| / N_c^2`` of that of
    ``||E_F||_2 / |λ^m - μ|``. For FCF (times ``|λ|^m``, ``N_c >= 3``) the two reciprocal
    squares are within ``π^2 |μ| / (N_c - 1)^2``, on either side. (Derivation in
    :doc:`/concepts/mgrit`; the form is from Southworth, SIAM J. Matrix
    Anal. Appl. 2019.) ``inf`` for ``|μ| > 1``, where the norm grows like ``|μ|^{N_c}``.

    Parameters
    ----------
    lam, mu : complex or array_like of complex (or real)
        Fine- and coarse-step eigenvalues per mode, broadcast together; finite.
    m : int
        Coarsening factor, ``1 <= m <= 2^53``.
    num_coarse : int
        ``N_c``, ``1 <= N_c <= 2^53``.
    relax : {"F", "FCF"}
        The relaxation (default ``"F"``).

    Returns
    -------
    float or numpy.ndarray of float
        The estimate per mode (``inf`` where ``|μ| > 1`` or on overflow).

    Examples
    --------
    At ``|μ| = 1`` the exact factor grows like ``2 N_c / π``, the estimate like ``N_c / π``:

    >>> from parareal_toolkit.ode import mgrit_convergence_factor, mgrit_southworth_estimate
    >>> round(mgrit_southworth_estimate(0.0, 1.0, 1, 100), 2), round(mgrit_convergence_factor(0.0, 1.0, 1, 100), 2)
    (31.83, 63.34)
    >>> f"{mgrit_southworth_estimate(0.9, 0.5, 2, 1000):.8f} {mgrit_convergence_factor(0.9, 0.5, 2, 1000):.8f}"
    '0.61999388 0.61999389'
    """
    m, n, relax = _counts(m, num_coarse, relax, _MAX_COUNT)
    lam, mu = _modes(lam, mu)
    r = np.abs(mu)
    denominator = np.sqrt((1.0 - r) ** 2 + math.pi**2 * r / float(n) ** 2)
    with np.errstate(divide="ignore"):
        factor = np.where(r <= 1.0, 1.0 / np.where(denominator > 0, denominator, 1.0), np.inf)
    return _as_result(_times(_abs_prefactor(lam, mu, m, relax), factor))


def _amplification(name: str, z) -> np.ndarray:
    """``R(z)``: one step of the method ``name`` on ``u' = a u`` multiplies by it, ``z = h a``.

    ``exact``: ``e^z``; ``implicit-euler``: ``1/(1 - z)``; ``explicit-euler``: ``1 + z``;
    ``trapezoid``: ``(1 + z/2)/(1 - z/2)``; ``rk4``: ``Σ_{k<=4} z^k/k!``. ``inf`` at a pole.

    Returns
    -------
    numpy.ndarray of complex
        ``R(z)``.
    """
    z = np.asarray(z, dtype=complex)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if name == "exact":
            return np.exp(z)
        if name == "implicit-euler":
            return implicit_euler_amplification(z)
        if name == "explicit-euler":
            return 1.0 + z
        if name == "trapezoid":
            return np.where(z == 2.0, complex(np.inf, 0.0), (1.0 + z / 2) / (1.0 - z / 2))
        return 1.0 + z * (1.0 + z / 2 * (1.0 + z / 3 * (1.0 + z / 4)))


def _eigenvalues(problem_or_eigenvalues) -> np.ndarray:
    if isinstance(problem_or_eigenvalues, LinearProblem):
        problem_or_eigenvalues = problem_or_eigenvalues.ode
    if isinstance(problem_or_eigenvalues, LinearODE):
        return modal_decomposition(problem_or_eigenvalues)[0]
    try:
        values = np.asarray(problem_or_eigenvalues)
    except (TypeError, ValueError):
        values = np.asarray(None)
    if values.dtype.kind not in "fiuc" or values.ndim != 1 or values.size == 0:
        raise InputTypeError(
            "`problem_or_eigenvalues` must be a LinearProblem, a LinearODE or a non-empty 1-d array of "
            f"eigenvalues; got {problem_or_eigenvalues!r}."
        )
    values = values.astype(complex)
    if not np.all(np.isfinite(values)):
        raise InputError(f"`problem_or_eigenvalues` must be finite; got {problem_or_eigenvalues!r}.")
    return values


def mgrit_bound(
    problem_or_eigenvalues,
    dt: float,
    m: int,
    num_coarse: int,
    relax: str = "F",
    *,
    fine: str = "exact",
    coarse: str = "implicit-euler",
    kind: str = "exact",
) -> float:
    """The worst two-level MGRIT factor over the modes of ``A``: ``max_a`` of a per-mode factor.

    Mode ``a`` (an eigenvalue of ``A``) gets ``λ = R_fine(δt a)`` and ``μ = R_coarse(m δt a)``;
    ``kind`` picks the factor: ``"exact"`` (:func:`~parareal_toolkit.ode.mgrit_convergence_factor`), ``"dobrev"``
    (:func:`~parareal_toolkit.ode.mgrit_dobrev_bound`), ``"southworth"`` (:func:`~parareal_toolkit.ode.mgrit_southworth_bound`) or
    ``"estimate"`` (:func:`~parareal_toolkit.ode.mgrit_southworth_estimate`). For diagonalisable ``A = V Λ V^{-1}``
    the exact and bound kinds bound the error reduction per iteration in the norm
    ``||V^{-1} ·||_2`` (the 2-norm for normal ``A``, as the heat equation's).

    Parameters
    ----------
    problem_or_eigenvalues : LinearProblem, LinearODE or array_like of complex
        The equation (its eigenvalues are computed) or the eigenvalues of ``A``.
    dt : float
        The fine step ``δt > 0``; the coarse step is ``m δt``.
    m : int
        Coarsening factor, ``1 <= m <= 2^53``.
    num_coarse : int
        ``N_c`` (at most 2048 for ``kind="exact"``).
    relax : {"F", "FCF"}
        The relaxation (default ``"F"``).
    fine, coarse : str, keyword-only
        One of :data:`~parareal_toolkit.ode.MGRIT_STEPPERS` (defaults ``"exact"`` and ``"implicit-euler"``).
    kind : {"exact", "dobrev", "southworth", "estimate"}, keyword-only
        Which factor (default ``"exact"``).

    Returns
    -------
    float
        The largest factor over the modes; ``inf`` where a step hits a pole of ``R`` or
        overflows, or where the chosen bound gives none.

    Examples
    --------
    The heat equation with exact fine and implicit-Euler coarse steps:

    >>> from parareal_toolkit.ode import heat_1d, mgrit_bound
    >>> problem = heat_1d(20)
    >>> f, fcf = (mgrit_bound(problem, 1e-3, 8, 16, r) for r in ("F", "FCF"))
    >>> round(f, 3), round(fcf, 3), fcf < f <= mgrit_bound(problem, 1e-3, 8, 16, kind="dobrev")
    (0.294, 0.104, True)
    """
    dt = check_real(dt, "dt", minimum=0, strict=True)
    check_choice(kind, "kind", MGRIT_BOUND_KINDS)
    maximum = MAX_EXACT_COARSE if kind == "exact" else _MAX_COUNT
    m, n, relax = _counts(m, num_coarse, relax, maximum)
    check_choice(fine, "fine", MGRIT_STEPPERS)
    check_choice(coarse, "coarse", MGRIT_STEPPERS)
    a = _eigenvalues(problem_or_eigenvalues)
    with np.errstate(over="ignore", invalid="ignore"):
        z = dt * a
        if not np.all(np.isfinite(z * m)):
            return math.inf
        lam, mu = _amplification(fine, z), _amplification(coarse, m * z)
    if not (np.all(np.isfinite(lam)) and np.all(np.isfinite(mu))):
        return math.inf
    if kind == "exact":
        factors = mgrit_convergence_factor(lam, mu, m, n, relax)
    elif kind == "dobrev":
        factors = mgrit_dobrev_bound(lam, mu, m, n, relax)
    elif kind == "southworth":
        factors = mgrit_southworth_bound(lam, mu, m, relax)
    else:
        factors = mgrit_southworth_estimate(lam, mu, m, n, relax)
    return float(np.max(factors))
