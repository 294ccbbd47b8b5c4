"""Implicit time steppers for stiff ``u' = f(t, u)``: Newton's method on each step.

Both methods solve, per step from ``(t, u)`` to ``t + h``,

    ``Y - c - h γ f(t + h, Y) = 0``

(implicit Euler: ``c = u``, ``γ = 1``; trapezoid: ``c = u + h/2 f(t, u)``, ``γ = 1/2``) by
Newton's method with the matrix ``I - h γ J(t + h, Y)``, where ``J`` is the user's Jacobian
or forward differences of ``f`` (:meth:`NonlinearODE.jacobian`).

* **Predictor.** Newton starts from whichever of ``u`` and the explicit-Euler predictor
  ``u + h f(t, u)`` has the smaller residual.
* **Line search.** A Newton correction that does not decrease the residual's max-norm is
  halved, up to ten times; a row whose residual still does not decrease has *failed*: a
  worse iterate is never accepted.
* **Step splitting.** Where Newton fails (no decrease, or no convergence in ``max_newton``
  iterations), the implicit equation has no root near the predictor for this ``h`` (van der
  Pol at its fold, for example). That step, and only that one, is replaced by two implicit
  steps of length ``h / 2``, recursively, down to ``h / 2**10``; the count of such splits is
  kept in ``stepper.step_splits``. Only then does :class:`NewtonConvergenceError` say so
  (never a silently wrong state).

Rows of a batch iterate independently (a converged row is left alone), so a batch gives the
values one call per slice gives. Newton stops when the full correction is small,
``max |ΔY| <= newton_tol (1 + max |Y|)``; a row whose iterate becomes NaN or infinite
returns it, and the parareal driver reports the non-finite state.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg

from .._validation import check_int, check_real
from ..errors import NewtonConvergenceError
from ..propagator import TimeGrid
from .steppers import TimeStepper

__all__ = ["ImplicitEulerStepper", "TrapezoidStepper", "NewtonConvergenceError"]


# how many times a step whose implicit equation Newton cannot solve is halved (h / 1024)
_MAX_SPLITS = 10


class _NewtonStepper(TimeStepper):
    gamma = 1.0
    supports_tensors = False  # Newton's linear solves and the Jacobians are numpy
    needs_jacobian = True

    def __init__(self, ode, grid: TimeGrid, *, substeps: int = 1, newton_tol: float = 1e-12, max_newton: int = 50):
        super().__init__(ode, grid, substeps=substeps)
        self.newton_tol = check_real(newton_tol, "newton_tol", minimum=0, strict=True)
        self.max_newton = check_int(max_newton, "max_newton", minimum=1)
        #: implicit steps that Newton could not solve whole and that were split in halves
        self.step_splits = 0

    def _constant(self, t, U, h):  # pragma: no cover - abstract
        raise NotImplementedError

    def _residual(self, c, t1, gh, Y):
        return Y - c - gh * self.ode.rhs_rows(t1, Y)

    def _step(self, t, U, h, depth=0):
        Y, failed = self._newton(t, U, h)
        if failed.any():
            rows = np.flatnonzero(failed)
            if depth >= _MAX_SPLITS:
                i = int(rows[0])
                raise NewtonConvergenceError(
                    f"Newton's method did not converge in {self.max_newton} iterations on the {self.name} step "
                    f"from t = {float(t[i, 0]):.6g} of length {float(h[i, 0]):.3g}, the step split {depth} times "
                    "in halves; use more substeps."
                )
            self.step_splits += rows.size
            half = h[rows] / 2
            middle = self._step(t[rows], U[rows], half, depth + 1)
            Y[rows] = self._step(t[rows] + half, middle, half, depth + 1)
        return Y

    def _predictor(self, c, t, U, h):
        """``u`` or ``u + h f(t, u)``, whichever has the smaller residual, per row, and its residual."""
        t1, gh = t + h, self.gamma * h
        Y = U.copy()
        residual = self._residual(c, t1, gh, Y)
        euler = U + h * self.ode.rhs_rows(t, U)
        euler_residual = self._residual(c, t1, gh, euler)
        better = np.abs(euler_residual).max(axis=1) < np.abs(residual).max(axis=1)  # NaN is never better
        Y[better], residual[better] = euler[better], euler_residual[better]
        return Y, residual

    def _newton(self, t, U, h):
        """Newton on every row; returns the states and the rows where it failed (to be split)."""
        c = self._constant(t, U, h)
        t1, gh = t + h, self.gamma * h
        Y, residual = self._predictor(c, t, U, h)
        failed = np.zeros(U.shape[0], dtype=bool)
        active = np.arange(U.shape[0])
        for _ in range(self.max_newton):
            bad = ~np.all(np.isfinite(residual[active]), axis=1)
            if bad.any():
                Y[active[bad]] = np.nan  # reported by the driver as a non-finite state
                active = active[~bad]
            if active.size == 0:
                return Y, failed
            y, tt, g, r = Y[active], t1[active], gh[active], residual[active]
            delta = self._solve(tt, y, g, r)
            trial = y - delta
            # converged when the full Newton correction is negligible
            done = np.abs(delta).max(axis=1) <= self.newton_tol * (1.0 + np.abs(trial).max(axis=1))
            Y[active[done]] = trial[done]
            active, y, tt, g, r, delta, trial = (a[~done] for a in (active, y, tt, g, r, delta, trial))
            if active.size == 0:
                return Y, failed
            trial, trial_residual, worse = self._line_search(c[active], (tt, g), (y, r, delta), trial)
            failed[active[worse]] = True
            Y[active[~worse]] = trial[~worse]
            residual[active[~worse]] = trial_residual[~worse]
            active = active[~worse]
        failed[active] = True
        return Y, failed

    def _line_search(self, c, times, newton, trial):
        """Halve the correction while it increases the residual (ten times at most).

        Far from the root the full step can leave the basin of attraction. Returns the trial
        states, their residuals, and the rows whose residual never decreased.
        """
        (tt, g), (y, r, delta) = times, newton
        size = np.ones((y.shape[0], 1))
        trial_residual = self._residual(c, tt, g, trial)
        before = np.abs(r).max(axis=1)
        worse = ~(np.abs(trial_residual).max(axis=1) <= before)  # NaN counts as worse
        for _ in range(10):
            if not worse.any():
                break
            size[worse] /= 2
            trial[worse] = y[worse] - size[worse] * delta[worse]
            trial_residual[worse] = self._residual(c[worse], tt[worse], g[worse], trial[worse])
            worse = ~(np.abs(trial_residual).max(axis=1) <= before)
        return trial, trial_residual, worse

    def _solve(self, t, Y, g, residual):
        m = self._size
        out = np.empty_like(residual)
        dense = []
        for i in range(Y.shape[0]):
            J = self.ode.jacobian(float(t[i, 0]), Y[i])
            if sp.issparse(J):
                matrix = (sp.identity(m, format="csc") - g[i, 0] * J).tocsc()
                out[i] = scipy.sparse.linalg.spsolve(matrix, residual[i])
            else:
                dense.append((i, np.eye(m) - g[i, 0] * J))
        if dense:
            rows = [i for i, _ in dense]
            matrices = np.stack([matrix for _, matrix in dense])
            out[rows] = np.linalg.solve(matrices, residual[rows][:, :, None])[:, :, 0]
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.ode!r}, {self.grid!r}, substeps={self.substeps}, "
            f"newton_tol={self.newton_tol:g})"
        )


class ImplicitEulerStepper(_NewtonStepper):
    """Implicit Euler with Newton, ``Y = u + h f(t + h, Y)``, ``M`` steps per slice: order 1, L-stable.

    For stiff nonlinear problems (van der Pol with large ``μ``, Brusselator, Allen–Cahn,
    Burgers with small viscosity): stable for any step on dissipative problems. Halving
    ``h`` halves the error. On ``u' = A u`` it equals
    :class:`~parareal_toolkit.ode.ImplicitEulerPropagator` (Newton converges in one step),
    which is faster there (one LU factorisation per slice length).

    Parameters
    ----------
    ode : NonlinearODE or LinearODE
        The equation (``jacobian`` is used for Newton).
    grid : TimeGrid
        The slices.
    substeps : int, keyword-only
        ``M >= 1`` steps per slice (default 1).
    newton_tol : float, keyword-only
        Newton stops at ``max |ΔY| <= newton_tol (1 + max |Y|)`` (default 1e-12).
    max_newton : int, keyword-only
        Newton iterations before :class:`NewtonConvergenceError` (default 50).

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import ImplicitEulerStepper, NonlinearODE
    >>> logistic = NonlinearODE(lambda t, u: u * (1 - u), 1, vectorized=True)
    >>> step = ImplicitEulerStepper(logistic, TimeGrid.uniform(1.0, 1))
    >>> y = float(step(np.array([0.5]), 0)[0])  # solves y = 0.5 + y (1 - y)
    >>> round(y, 12), round(y - 0.5 - y * (1 - y), 12)
    (0.707106781187, 0.0)
    """

    order = 1
    name = "implicit-euler"
    gamma = 1.0

    def _constant(self, t, U, h):
        return U


class TrapezoidStepper(_NewtonStepper):
    """The implicit trapezoidal rule (Crank–Nicolson) with Newton, ``M`` steps per slice: order 2, A-stable.

    ``Y = u + h/2 (f(t, u) + f(t + h, Y))``. Not L-stable: very stiff modes are not damped
    (factor ``-> -1``), which makes it a poor coarse propagator for parabolic problems and a
    good accurate fine one.

    Parameters
    ----------
    ode : NonlinearODE or LinearODE
        The equation.
    grid : TimeGrid
        The slices.
    substeps : int, keyword-only
        ``M >= 1`` steps per slice (default 1).
    newton_tol : float, keyword-only
        As for :class:`ImplicitEulerStepper` (default 1e-12).
    max_newton : int, keyword-only
        As for :class:`ImplicitEulerStepper` (default 50).

    Examples
    --------
    On ``u' = -u`` one step of length 1 multiplies by ``(1 - 1/2)/(1 + 1/2) = 1/3``:

    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import LinearODE, TrapezoidStepper
    >>> round(float(TrapezoidStepper(LinearODE([[-1.0]]), TimeGrid.uniform(1.0, 1))(np.array([1.0]), 0)[0]), 12)
    0.333333333333
    """

    order = 2
    name = "trapezoid"
    gamma = 0.5

    def _constant(self, t, U, h):
        return U + (h / 2) * self.ode.rhs_rows(t, U)
