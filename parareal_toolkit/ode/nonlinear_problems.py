"""A catalogue of nonlinear test problems with the behaviour a parareal course shows.

==================  ===============================================  ==========================================
name                equation                                         behaviour under parareal
==================  ===============================================  ==========================================
``lorenz``          Lorenz 1963, σ = 10, ρ = 28, β = 8/3             chaotic: errors grow like ``e^{0.9 t}``,
                                                                     convergence slows and is lost on long
                                                                     intervals (many iterations, up to ``N``)
``vanderpol``       van der Pol oscillator, stiffness ``μ``          stiff for large ``μ``: explicit coarse
                                                                     steps blow up, implicit ones converge
``brusselator``     1-D Brusselator with diffusion (Hairer–Wanner)   stiff reaction–diffusion system
``burgers``         viscous Burgers, periodic, centred differences   steepening front: slower convergence as
                                                                     the viscosity falls
``allencahn``       Allen–Cahn, periodic, ``ν u_xx + u - u^3``       stiff; fast convergence (dissipative)
==================  ===============================================  ==========================================

Every right-hand side is vectorized (it accepts stacked states) and comes with its exact
Jacobian, so Newton-based steppers need no differences and the steppers batch slices. The
right-hand sides also accept torch tensors (the explicit steppers then run on tensors, on
any device); the Jacobians are numpy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._resources import require_memory
from .._validation import check_int, check_real, check_real_array
from ._arrays import concat_last, constant_like, roll_last, stack_last, times_transposed
from .nonlinear import NonlinearODE, NonlinearProblem

__all__ = ["lorenz", "van_der_pol", "brusselator", "burgers", "allen_cahn", "NONLINEAR_PROBLEMS"]


def _start(u0, default, size: int) -> np.ndarray:
    return check_real_array(default if u0 is None else u0, "u0", shape=(size,))


def lorenz(
    *,
    sigma: float = 10.0,
    rho: float = 28.0,
    beta: float = 8.0 / 3.0,
    t_final: float = 5.0,
    u0=None,
) -> NonlinearProblem:
    """The Lorenz system ``x' = σ(y - x)``, ``y' = x(ρ - z) - y``, ``z' = xy - βz`` (chaotic).

    The origin is steady, and so are ``C± = (±sqrt(β(ρ-1)), ±sqrt(β(ρ-1)), ρ-1)`` for
    ``β(ρ - 1) > 0``; the divergence is ``-(σ + 1 + β)`` everywhere, the ``z`` axis is
    invariant, and ``(x, y, z) -> (-x, -y, z)`` maps solutions to solutions.
    With the classical parameters the largest Lyapunov exponent is about 0.9: two nearby
    trajectories separate like ``e^{0.9 t}``. Parareal's coarse correction then amplifies
    errors from slice to slice, and on long intervals convergence needs nearly ``N``
    iterations (no speedup is possible); on short ones it converges in a few.

    Parameters
    ----------
    sigma, rho, beta : float, keyword-only
        The parameters (default 10, 28, 8/3).
    t_final : float, keyword-only
        End time (default 5).
    u0 : array_like, shape (3,), keyword-only
        Initial value (default ``(-8, 7, 27)``, near the attractor).

    Returns
    -------
    NonlinearProblem
        ``name="lorenz"``, state ``(x, y, z)``.

    Examples
    --------
    >>> from parareal_toolkit.ode import lorenz
    >>> problem = lorenz()
    >>> problem.ode.rhs(0.0, problem.u0).tolist()  # (σ(y - x), x(ρ - z) - y, xy - βz)
    [150.0, -15.0, -128.0]
    """
    s, r, b = check_real(sigma, "sigma"), check_real(rho, "rho"), check_real(beta, "beta")

    def rhs(t, u):
        x, y, z = u[..., 0], u[..., 1], u[..., 2]
        return stack_last([s * (y - x), x * (r - z) - y, x * y - b * z])

    def jacobian(t, u):
        x, y, z = u
        return np.array([[-s, s, 0.0], [r - z, -1.0, -x], [y, x, -b]])

    return NonlinearProblem(
        name="lorenz",
        ode=NonlinearODE(rhs, 3, jacobian, vectorized=True),
        u0=_start(u0, [-8.0, 7.0, 27.0], 3),
        t_final=check_real(t_final, "t_final", minimum=0, strict=True),
        description=f"Lorenz system, σ = {s:.4g}, ρ = {r:.4g}, β = {b:.4g}",
    )


def van_der_pol(mu: float = 10.0, *, t_final: float = 10.0, u0=None) -> NonlinearProblem:
    """The van der Pol oscillator ``x' = y``, ``y' = μ (1 - x^2) y - x``: stiff for large ``μ``.

    A limit cycle of period about ``(3 - 2 ln 2) μ`` for large ``μ``, with slow phases and
    fast jumps; the Jacobian has an eigenvalue near ``-μ (x^2 - 1)`` on the slow phases, so
    explicit steppers need ``h ≲ 2 / (μ (x^2 - 1))`` while implicit ones do not. The
    right-hand side is odd, and ``d/dt (x^2 + y^2)/2 = μ (1 - x^2) y^2``.

    Parameters
    ----------
    mu : float
        The stiffness parameter ``μ >= 0`` (default 10; 0 is the harmonic oscillator).
    t_final : float, keyword-only
        End time (default 10).
    u0 : array_like, shape (2,), keyword-only
        Initial value (default ``(2, 0)``, on the limit cycle's slow branch).

    Returns
    -------
    NonlinearProblem
        ``name="vanderpol"``, state ``(x, y)``, ``stiff`` when ``μ >= 10``.

    Examples
    --------
    >>> from parareal_toolkit.ode import van_der_pol
    >>> problem = van_der_pol(100.0)
    >>> problem.stiff, problem.ode.jacobian(0.0, problem.u0).tolist()
    (True, [[0.0, 1.0], [-1.0, -300.0]])
    """
    mu = check_real(mu, "mu", minimum=0)

    def rhs(t, u):
        x, y = u[..., 0], u[..., 1]
        return stack_last([y, mu * (1 - x**2) * y - x])

    def jacobian(t, u):
        x, y = u
        return np.array([[0.0, 1.0], [-2.0 * mu * x * y - 1.0, mu * (1 - x**2)]])

    return NonlinearProblem(
        name="vanderpol",
        ode=NonlinearODE(rhs, 2, jacobian, vectorized=True),
        u0=_start(u0, [2.0, 0.0], 2),
        t_final=check_real(t_final, "t_final", minimum=0, strict=True),
        description=f"van der Pol oscillator, μ = {mu:.4g}",
        stiff=mu >= 10,
    )


def _periodic_laplacian(m: int) -> np.ndarray:
    """``m^2 (S + S^T - 2I)`` with the cyclic shift ``S``, summed, so right for every ``m``
    (for ``m = 2`` both neighbours are the same point, for ``m = 1`` the row is zero)."""
    shift = np.roll(np.eye(m), 1, axis=1)
    return (shift + shift.T - 2.0 * np.eye(m)) * m**2


def brusselator(
    m: int = 32, *, a: float = 1.0, b: float = 3.0, diffusion: float = 0.02, t_final: float = 10.0
) -> NonlinearProblem:
    """The 1-D Brusselator with diffusion (Hairer & Wanner, *Solving ODEs II*, §IV.1): stiff.

    ``u_t = a + u^2 v - (b + 1) u + α u_xx``, ``v_t = b u - u^2 v + α v_xx`` on ``(0, 1)``
    with ``u = a``, ``v = b/a`` at both ends, ``m`` interior points, second differences
    (``h = 1/(m+1)``), initial value ``u = a + sin(2πx)``, ``v = b/a``. The diffusion
    eigenvalues reach ``-4α/h^2``: stiff for fine grids. The state is ``(u_1..u_m, v_1..v_m)``.
    The homogeneous state ``(a, b/a)`` is steady for every ``m`` (for ``m = 1`` both Dirichlet
    values enter the one row); the right-hand side commutes with ``x -> 1 - x``, and
    ``u, v >= 0`` stays so (for ``b >= 0``).

    Parameters
    ----------
    m : int
        Interior grid points (default 32), ``m >= 1``.
    a, b : float, keyword-only
        Reaction parameters (default 1 and 3: an oscillating solution), ``a > 0``.
    diffusion : float, keyword-only
        ``α > 0`` (default 0.02, the book's 1/50).
    t_final : float, keyword-only
        End time (default 10).

    Returns
    -------
    NonlinearProblem
        ``name="brusselator"``, state of size ``2m``, ``stiff=True``.
    """
    m = check_int(m, "m", minimum=1)
    require_memory(128.0 * m, f"brusselator(m={m})")
    a = check_real(a, "a", minimum=0, strict=True)
    b = check_real(b, "b")
    alpha = check_real(diffusion, "diffusion", minimum=0, strict=True)
    h = 1.0 / (m + 1)
    L = (-2.0 * np.eye(m) + np.eye(m, k=1) + np.eye(m, k=-1)) * (alpha / h**2)
    # Dirichlet values enter the end rows of the second differences: the left value in row 0,
    # the right one in row m - 1, so twice in the single row of m = 1 (a fancy-indexed
    # ``+=`` on [0, -1] would add it once there)
    boundary_u = np.zeros(m)
    boundary_v = np.zeros(m)
    for end in (0, m - 1):
        boundary_u[end] += alpha / h**2 * a
        boundary_v[end] += alpha / h**2 * (b / a)
    x = np.arange(1, m + 1) * h
    cache: dict = {}
    boundary_cache: dict = {}
    boundary = np.concatenate([boundary_u, boundary_v])

    def rhs(t, w):
        u, v = w[..., :m], w[..., m:]
        shift = constant_like(boundary, w, boundary_cache)
        du = a + u**2 * v - (b + 1) * u + times_transposed(u, L, cache) + shift[:m]
        dv = b * u - u**2 * v + times_transposed(v, L, cache) + shift[m:]
        return concat_last([du, dv])

    def jacobian(t, w):
        u, v = w[:m], w[m:]
        J = np.zeros((2 * m, 2 * m))
        J[:m, :m] = L + np.diag(2 * u * v - (b + 1))
        J[:m, m:] = np.diag(u**2)
        J[m:, :m] = np.diag(b - 2 * u * v)
        J[m:, m:] = L - np.diag(u**2)
        return J

    return NonlinearProblem(
        name="brusselator",
        ode=NonlinearODE(rhs, 2 * m, jacobian, vectorized=True),
        u0=np.concatenate([a + np.sin(2 * np.pi * x), np.full(m, b / a)]),
        t_final=check_real(t_final, "t_final", minimum=0, strict=True),
        description=f"1-D Brusselator with diffusion, {m} points, a = {a:.4g}, b = {b:.4g}, α = {alpha:.4g}",
        stiff=True,
    )


def burgers(m: int = 64, *, viscosity: float = 0.02, t_final: float = 0.5, initial=None) -> NonlinearProblem:
    """Viscous Burgers ``u_t + (u^2/2)_x = ν u_xx`` on the periodic unit interval.

    Centred differences on ``m`` points (``h = 1/m``): the flux term
    ``(u_{i+1}^2 - u_{i-1}^2) / (4h)``, the viscous term ``ν (u_{i+1} - 2u_i + u_{i-1}) / h^2``.
    The initial value ``sin(2πx)`` steepens into a front at ``x = 1/2`` from
    ``t ≈ 1/(2π)``; the grid resolves it while the cell Péclet number ``h max|u| / ν``
    stays below 2 (the default does: 0.78). The viscous eigenvalues reach ``-4ν/h^2``.
    The flux form telescopes, so ``Σ u_i`` is conserved exactly and constants are steady;
    ``Σ u_i^2`` is not (the centred flux changes it at ``-(1/4h) Σ u_i u_{i+1} (u_{i+1} - u_i)``;
    the skew-symmetric split form would conserve it). ``x -> -x`` with ``u -> -u`` and
    translations map solutions to solutions.

    Parameters
    ----------
    m : int
        Grid points (default 64), ``m >= 3``.
    viscosity : float, keyword-only
        ``ν > 0`` (default 0.02).
    t_final : float, keyword-only
        End time (default 0.5).
    initial : array_like of shape (m,) or callable, keyword-only
        The initial value, or a function of the grid points ``x`` (default ``sin(2πx)``).

    Returns
    -------
    NonlinearProblem
        ``name="burgers"``; ``stiff`` when ``4ν/h^2 > 100``.

    Examples
    --------
    Mass ``Σ u_i`` is conserved by the centred scheme:

    >>> import numpy as np
    >>> from parareal_toolkit.ode import burgers
    >>> problem = burgers(16)
    >>> bool(abs(problem.ode.rhs(0.0, problem.u0 + 0.3).sum()) < 1e-12)
    True
    """
    m = check_int(m, "m", minimum=3)
    require_memory(64.0 * m, f"burgers(m={m})")
    nu = check_real(viscosity, "viscosity", minimum=0, strict=True)
    h = 1.0 / m
    L = _periodic_laplacian(m) * nu
    x = np.arange(m) * h
    u0 = _initial(initial, x, lambda x: np.sin(2 * np.pi * x))
    cache: dict = {}

    def rhs(t, u):
        flux = u**2 / 2
        return -(roll_last(flux, -1) - roll_last(flux, 1)) / (2 * h) + times_transposed(u, L, cache)

    def jacobian(t, u):
        J = L.copy()
        index = np.arange(m)
        J[index, (index + 1) % m] -= u[(index + 1) % m] / (2 * h)
        J[index, (index - 1) % m] += u[(index - 1) % m] / (2 * h)
        return J

    return NonlinearProblem(
        name="burgers",
        ode=NonlinearODE(rhs, m, jacobian, vectorized=True),
        u0=u0,
        t_final=check_real(t_final, "t_final", minimum=0, strict=True),
        description=f"viscous Burgers, {m} points, periodic, ν = {nu:.4g}",
        stiff=4 * nu / h**2 > 100,
    )


def allen_cahn(m: int = 64, *, diffusion: float = 1e-3, t_final: float = 5.0, initial=None) -> NonlinearProblem:
    """Allen–Cahn ``u_t = ν u_xx + u - u^3`` on the periodic unit interval: stiff, dissipative.

    Second differences on ``m`` points (``h = 1/m``). The reaction drives ``u`` to the
    stable states ``±1`` (``0`` is steady, unstable), separated by fronts of width about
    ``sqrt(2ν)``. The discretisation is the gradient flow ``u' = -∇E / h`` of the discrete
    energy ``E = h Σ ν/2 ((u_{i+1} - u_i)/h)^2 + (1 - u_i^2)^2/4``, which therefore decreases;
    ``[-1, 1]`` is invariant, and ``u -> -u``, reflections and translations map solutions to
    solutions. Initial value ``0.5 sin(2πx) + 0.2 sin(6πx)``.

    Parameters
    ----------
    m : int
        Grid points (default 64), ``m >= 3``.
    diffusion : float, keyword-only
        ``ν > 0`` (default 1e-3).
    t_final : float, keyword-only
        End time (default 5).
    initial : array_like of shape (m,) or callable, keyword-only
        The initial value, or a function of the grid points ``x``.

    Returns
    -------
    NonlinearProblem
        ``name="allencahn"``, ``stiff=True``.
    """
    m = check_int(m, "m", minimum=3)
    require_memory(64.0 * m, f"allen_cahn(m={m})")
    nu = check_real(diffusion, "diffusion", minimum=0, strict=True)
    L = _periodic_laplacian(m) * nu
    x = np.arange(m) / m
    u0 = _initial(initial, x, lambda x: 0.5 * np.sin(2 * np.pi * x) + 0.2 * np.sin(6 * np.pi * x))

    cache: dict = {}

    def rhs(t, u):
        return times_transposed(u, L, cache) + u - u**3

    def jacobian(t, u):
        return L + np.diag(1.0 - 3.0 * u**2)

    return NonlinearProblem(
        name="allencahn",
        ode=NonlinearODE(rhs, m, jacobian, vectorized=True),
        u0=u0,
        t_final=check_real(t_final, "t_final", minimum=0, strict=True),
        description=f"Allen-Cahn, {m} points, periodic, ν = {nu:.4g}",
        stiff=True,
    )


def _initial(initial, x: np.ndarray, default: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    if initial is None:
        return default(x)
    if callable(initial):
        return check_real_array(initial(x.copy()), "initial(x)", shape=x.shape)
    return check_real_array(initial, "initial", shape=x.shape)


NONLINEAR_PROBLEMS: dict[str, Callable[..., NonlinearProblem]] = {
    "lorenz": lorenz,
    "vanderpol": van_der_pol,
    "brusselator": brusselator,
    "burgers": burgers,
    "allencahn": allen_cahn,
}
