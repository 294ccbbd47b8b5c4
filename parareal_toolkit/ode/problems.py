"""A catalogue of linear test problems with known parareal behaviour.

==============  =========================================  ===================================
name            equation                                   behaviour under parareal (IE coarse)
==============  =========================================  ===================================
``heat1d``      1-D heat, Dirichlet, second differences     contracts by <= 0.2984 per iteration
``heat2d``      2-D heat on the unit square, Dirichlet      same bound, mesh independent
``advection``   periodic advection, centred differences     imaginary spectrum: contraction lost
``oscillator``  damped harmonic oscillator (non-normal A)   complex pair, converges
``dahlquist``   scalar ``u' = λ u``                          the model problem of the theory
==============  =========================================  ==================================="""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from .._names import INITIAL_NAMES
from .._resources import require_memory
from .._validation import check_choice, check_int, check_real, check_real_array
from ..errors import InputError
from .linear import LinearODE, LinearProblem

__all__ = [
    "heat_1d",
    "heat_2d",
    "advection_periodic",
    "damped_oscillator",
    "dahlquist",
    "PROBLEMS",
    "make_problem",
    "initial_profile",
    "INITIAL_NAMES",
]


def initial_profile(name: str, x: np.ndarray, *, periodic: bool = False) -> np.ndarray:
    """A named initial value on points ``x`` of ``[0, 1]``.

    ``"hat"``: ``1 - |2x - 1|`` (every odd sine mode); ``"sine"``: ``sin(πx)`` (one mode of
    the Dirichlet Laplacian), ``sin(2πx)`` when ``periodic``; ``"gaussian"``:
    ``exp(-100 (x - 1/2)^2)``; ``"square"``: 1 on ``[1/4, 3/4)``, 0 elsewhere (a discontinuity).

    Parameters
    ----------
    name : str
        One of :data:`INITIAL_NAMES`.
    x : numpy.ndarray
        The points.
    periodic : bool, keyword-only
        Whether the domain is periodic (only ``"sine"`` differs).

    Returns
    -------
    numpy.ndarray
        The profile at ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit.ode import initial_profile
    >>> initial_profile("hat", np.array([0.25, 0.5])).tolist()
    [0.5, 1.0]
    """
    check_choice(name, "initial", INITIAL_NAMES)
    x = check_real_array(x, "x")  # real and finite: a NaN point has no profile value
    if name == "hat":
        return 1.0 - np.abs(2.0 * x - 1.0)
    if name == "sine":
        return np.sin((2.0 if periodic else 1.0) * np.pi * x)
    if name == "gaussian":
        return np.exp(-100.0 * (x - 0.5) ** 2)
    return ((x >= 0.25) & (x < 0.75)).astype(float)


def _initial_value(initial, x: np.ndarray, *, periodic: bool = False, size: int | None = None) -> np.ndarray:
    """``initial`` (a profile name, a function of ``x``, or values) at the points ``x``."""
    shape = (size if size is not None else x.size,)
    if isinstance(initial, str):
        return initial_profile(initial, x, periodic=periodic)
    if callable(initial):
        return check_real_array(initial(x.copy()), "initial(x)", shape=shape)
    return check_real_array(initial, "initial", shape=shape)


def _finite_matrix(A: sp.spmatrix, scale: str, value: float, m: int) -> sp.spmatrix:
    """``A`` if its entries are finite, else a refusal naming the argument whose size overflowed them."""
    if not np.isfinite(A.data).all():
        raise InputError(
            f"`{scale}` = {value!r} with `m` = {m} makes A's entries overflow float64 (they scale as "
            f"{scale} / h^k, h = 1/m); got a non-finite entry."
        )
    return A


def _laplacian_1d(m: int) -> sp.csc_matrix:
    h = 1.0 / (m + 1)
    return sp.diags([np.ones(m - 1), -2.0 * np.ones(m), np.ones(m - 1)], [-1, 0, 1], format="csc") / h**2


def heat_1d(
    m: int = 50, *, t_final: float = 0.1, diffusivity: float = 1.0, sparse: bool = False, initial="hat"
) -> LinearProblem:
    """``u_t = κ u_xx`` on (0, 1), ``u = 0`` at both ends, ``m`` interior points.

    ``A = κ/h^2 tridiag(1, -2, 1)``, ``h = 1/(m+1)``: symmetric negative definite, with
    eigenvectors ``sin(kπx_j)`` and eigenvalues ``-4κ/h^2 sin^2(kπh/2)`` in ``(-4κ/h^2, 0)``,
    ``k = 1..m`` (also for ``m = 1``); ``|u|`` decays at least like ``e^{λ_1 t}``. The default initial value is the hat ``1 - |2x - 1|``,
    which excites every odd mode. Parareal with an implicit-Euler coarse propagator multiplies
    its error bound by a factor of at most 0.2984 per iteration, whatever ``m``.

    Parameters
    ----------
    m : int
        Interior grid points (default 50), ``m >= 1``.
    t_final : float, keyword-only
        End time (default 0.1).
    diffusivity : float, keyword-only
        ``κ > 0`` (default 1).
    sparse : bool, keyword-only
        Store ``A`` as a scipy sparse matrix (default dense).
    initial : str, callable or array_like of shape (m,), keyword-only
        A profile name (see :func:`initial_profile`; default ``"hat"``), a function of the
        interior points ``x``, or the values.

    Returns
    -------
    LinearProblem
        ``name="heat1d"``, ``A`` of shape ``(m, m)`` and the initial value.

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit.ode import heat_1d
    >>> problem = heat_1d(10)
    >>> problem.name, problem.u0.shape, problem.t_final
    ('heat1d', (10,), 0.1)
    >>> eigenvalues = np.linalg.eigvalsh(problem.ode.A)  # in (-4 (m + 1)^2, 0)
    >>> bool(eigenvalues.max() < 0 and eigenvalues.min() > -4 * 11**2)
    True
    """
    m = check_int(m, "m", minimum=1)
    kappa = check_real(diffusivity, "diffusivity", minimum=0, strict=True)
    require_memory(40.0 * m if sparse else 8.0 * m * m, f"heat_1d(m={m}), {'sparse' if sparse else 'dense'}")
    A = _finite_matrix(kappa * _laplacian_1d(m), "diffusivity", kappa, m)
    x = np.arange(1, m + 1) / (m + 1)
    return LinearProblem(
        name="heat1d",
        ode=LinearODE(A if sparse else A.toarray()),
        u0=_initial_value(initial, x),
        t_final=check_real(t_final, "t_final", minimum=0, strict=True),
        description=f"1-D heat equation, {m} interior points, Dirichlet",
    )


def heat_2d(
    m: int = 16, *, t_final: float = 0.1, diffusivity: float = 1.0, sparse: bool = False, initial="hat"
) -> LinearProblem:
    """``u_t = κ Δu`` on the unit square, ``u = 0`` on the boundary, ``m x m`` interior points.

    ``A = κ (L ⊗ I + I ⊗ L)`` (five-point Laplacian), symmetric negative definite. Initial
    value: the product of a profile in ``x`` and the same in ``y`` (default hats). The same mesh-independent contraction
    bound (0.2984 per iteration) holds as for :func:`heat_1d`.

    Parameters
    ----------
    m : int
        Interior grid points per direction (default 16), ``m >= 1``; the state has ``m^2``
        entries.
    t_final : float, keyword-only
        End time (default 0.1).
    diffusivity : float, keyword-only
        ``κ > 0`` (default 1).
    sparse : bool, keyword-only
        Store ``A`` as a scipy sparse matrix (default dense).
    initial : str or array_like of shape (m^2,), keyword-only
        A profile name (see :func:`initial_profile`; default ``"hat"``), used in ``x`` and
        ``y``, or the values (row-major over the grid).

    Returns
    -------
    LinearProblem
        ``name="heat2d"``, ``A`` of shape ``(m^2, m^2)``.
    """
    m = check_int(m, "m", minimum=1)
    kappa = check_real(diffusivity, "diffusivity", minimum=0, strict=True)
    n = float(m) * m
    require_memory(72.0 * n if sparse else 8.0 * n * n, f"heat_2d(m={m}), {'sparse' if sparse else 'dense'}")
    L = _laplacian_1d(m)
    identity = sp.identity(m, format="csc")
    A = _finite_matrix((kappa * (sp.kron(L, identity) + sp.kron(identity, L))).tocsc(), "diffusivity", kappa, m)
    x = np.arange(1, m + 1) / (m + 1)
    if isinstance(initial, str):
        profile = initial_profile(initial, x)
        u0 = np.outer(profile, profile).ravel()
    else:
        u0 = check_real_array(initial, "initial", shape=(m * m,))
    return LinearProblem(
        name="heat2d",
        ode=LinearODE(A if sparse else A.toarray()),
        u0=u0,
        t_final=check_real(t_final, "t_final", minimum=0, strict=True),
        description=f"2-D heat equation, {m}x{m} interior points, Dirichlet",
    )


def advection_periodic(
    m: int = 64, *, t_final: float = 1.0, speed: float = 1.0, sparse: bool = False, initial="gaussian"
) -> LinearProblem:
    """``u_t + c u_x = 0`` on the periodic unit interval, centred differences.

    ``A = -c/(2h) (S - S^T)`` with the cyclic shift ``S``: skew-symmetric (not upwind), so
    ``Σ u`` and ``|u|^2`` are conserved, its eigenvalues are purely imaginary and
    ``|e^z| = 1``; the Fourier mode ``θ = 2πk/m`` travels at ``c sin(θ)/θ``, not ``c``. Implicit Euler damps them
    (``|R(iy)| = 1/sqrt(1+y^2)``) and the linear bound's factor exceeds 1 for every
    mode: parareal loses its contraction on hyperbolic problems. Initial value: a
    Gaussian pulse by default.

    Parameters
    ----------
    m : int
        Grid points (default 64), ``m >= 3``.
    t_final : float, keyword-only
        End time (default 1).
    speed : float, keyword-only
        ``c`` (default 1), finite.
    sparse : bool, keyword-only
        Store ``A`` as a scipy sparse matrix (default dense).
    initial : str, callable or array_like of shape (m,), keyword-only
        A profile name (see :func:`initial_profile`, periodic; default ``"gaussian"``), a
        function of the points ``x``, or the values.

    Returns
    -------
    LinearProblem
        ``name="advection"``, a skew-symmetric ``A`` of shape ``(m, m)``.
    """
    m = check_int(m, "m", minimum=3)
    c = check_real(speed, "speed")
    require_memory(40.0 * m if sparse else 8.0 * m * m, f"advection_periodic(m={m}), {'sparse' if sparse else 'dense'}")
    h = 1.0 / m
    shift = sp.diags([np.ones(m - 1), [1.0]], [1, -(m - 1)], format="csc")
    A = _finite_matrix((-c / (2 * h) * (shift - shift.T)).tocsc(), "speed", c, m)
    x = np.arange(m) * h
    return LinearProblem(
        name="advection",
        ode=LinearODE(A if sparse else A.toarray()),
        u0=_initial_value(initial, x, periodic=True),
        t_final=check_real(t_final, "t_final", minimum=0, strict=True),
        description=f"periodic advection, {m} points, centred differences",
    )


def damped_oscillator(*, frequency: float = 2.0 * np.pi, damping: float = 0.1, t_final: float = 5.0) -> LinearProblem:
    """``x'' + 2 ζ ω x' + ω^2 x = 0`` as a first-order system: a non-normal 2x2 ``A``.

    Non-normal unless ``ω = 1`` and ``ζ = 0`` (a rotation). Eigenvalues
    ``ω(-ζ ± i sqrt(1 - ζ^2))`` for ``ζ < 1``; the energy ``(ω^2 x^2 + x'^2)/2`` changes at
    the rate ``-2ζω x'^2``. Initial value ``x = 1, x' = 0``.

    Parameters
    ----------
    frequency : float, keyword-only
        ``ω > 0`` (default ``2π``).
    damping : float, keyword-only
        ``ζ >= 0`` (default 0.1).
    t_final : float, keyword-only
        End time (default 5).

    Returns
    -------
    LinearProblem
        ``name="oscillator"``, the state ``(x, x')``.
    """
    omega = check_real(frequency, "frequency", minimum=0, strict=True)
    zeta = check_real(damping, "damping", minimum=0)
    with np.errstate(over="ignore"):
        A = np.array([[0.0, 1.0], [-(np.float64(omega) ** 2), -2.0 * np.float64(zeta) * omega]])
    if not np.all(np.isfinite(A)):
        raise InputError(
            f"`frequency` and `damping` must keep ω² and 2ζω finite; got frequency={frequency!r}, damping={damping!r}."
        )
    return LinearProblem(
        name="oscillator",
        ode=LinearODE(A),
        u0=np.array([1.0, 0.0]),
        t_final=check_real(t_final, "t_final", minimum=0, strict=True),
        description=f"damped oscillator, ω = {omega:.4g}, ζ = {zeta:.4g}",
    )


def dahlquist(lam: float = -1.0, *, t_final: float = 1.0) -> LinearProblem:
    """The scalar model problem ``u' = λ u``, ``u(0) = 1`` (the setting of the theory).

    Parameters
    ----------
    lam : float
        ``λ`` (default -1), finite.
    t_final : float, keyword-only
        End time (default 1).

    Returns
    -------
    LinearProblem
        ``name="dahlquist"``, ``A = [[λ]]``, ``u0 = [1]``; the exact solution is ``e^{λ t}``.

    Examples
    --------
    >>> from parareal_toolkit.ode import dahlquist
    >>> problem = dahlquist(-2.0, t_final=2.0)
    >>> problem.ode.A.tolist(), problem.u0.tolist(), problem.t_final
    ([[-2.0]], [1.0], 2.0)
    """
    lam = check_real(lam, "lam")
    return LinearProblem(
        name="dahlquist",
        ode=LinearODE(np.array([[lam]])),
        u0=np.array([1.0]),
        t_final=check_real(t_final, "t_final", minimum=0, strict=True),
        description=f"Dahlquist u' = λu, λ = {lam:.4g}",
    )


PROBLEMS: dict[str, Callable[..., LinearProblem]] = {
    "heat1d": heat_1d,
    "heat2d": heat_2d,
    "advection": advection_periodic,
    "oscillator": damped_oscillator,
    "dahlquist": dahlquist,
}

_SIZED = ("heat1d", "heat2d", "advection")


def make_problem(
    name: str,
    *,
    size: int | None = None,
    t_final: float | None = None,
    sparse: bool = False,
    lam: float | None = None,
    initial: str | None = None,
) -> LinearProblem:
    """Build a catalogue problem by name; ``size`` is the grid size of the PDE problems.

    Parameters
    ----------
    name : str
        A key of :data:`PROBLEMS`: ``"heat1d"``, ``"heat2d"``, ``"advection"``,
        ``"oscillator"`` or ``"dahlquist"``.
    size : int, optional
        The builder's ``m`` (PDE problems only).
    t_final : float, optional
        End time (default: the builder's).
    sparse : bool
        Sparse ``A`` (PDE problems only).
    lam : float, optional
        ``λ`` of ``"dahlquist"`` (default its -1; a positive ``λ`` is a growing solution).
    initial : str, optional
        A profile name for the PDE problems (see :func:`initial_profile`).

    Returns
    -------
    LinearProblem
        What ``PROBLEMS[name]`` builds with these options.

    Raises
    ------
    ValueError
        For an unknown name, ``size`` / ``sparse`` / ``initial`` given for a problem of
        fixed size, or ``lam`` for a problem other than ``"dahlquist"``.

    Examples
    --------
    >>> from parareal_toolkit.ode import make_problem
    >>> problem = make_problem("heat2d", size=4)
    >>> problem.ode.size, problem.description
    (16, '2-D heat equation, 4x4 interior points, Dirichlet')
    """
    if name not in PROBLEMS:
        raise InputError(f"`name` must be one of {sorted(PROBLEMS)}; got {name!r}.")
    kwargs: dict = {}
    if t_final is not None:
        kwargs["t_final"] = t_final
    if name in _SIZED:
        kwargs["sparse"] = sparse
        if size is not None:
            kwargs["m"] = size
    elif size is not None:
        raise InputError(f"`size` applies only to {list(_SIZED)}; problem {name!r} has a fixed size.")
    elif sparse:
        raise InputError(f"`sparse` applies only to {list(_SIZED)}; got problem {name!r}.")
    if initial is not None:
        if name not in _SIZED:
            raise InputError(f"`initial` applies only to {list(_SIZED)}; problem {name!r} has a fixed initial value.")
        kwargs["initial"] = check_choice(initial, "initial", INITIAL_NAMES)
    if lam is not None:
        if name != "dahlquist":
            raise InputError(f"`lam` applies only to 'dahlquist'; got problem {name!r}.")
        kwargs["lam"] = lam
    return PROBLEMS[name](**kwargs)
