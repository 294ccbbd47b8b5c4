"""General ODEs ``u' = f(t, u)`` and initial-value problems built on them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import check_callable, check_int, check_real, check_real_array
from ..errors import InputError, InputTypeError
from ._arrays import is_tensor

__all__ = ["NonlinearODE", "NonlinearProblem"]


class NonlinearODE:
    """The equation ``u'(t) = f(t, u(t))`` for a real state ``u`` of size ``m``.

    The time steppers of :mod:`parareal_toolkit.ode` need only ``rhs()`` and, for the
    implicit ones, ``jacobian()`` (the protocols :class:`~parareal_toolkit.ode.ODE` and
    :class:`~parareal_toolkit.ode.ODEWithJacobian`); :class:`~parareal_toolkit.ode.LinearODE`
    offers the same methods, so every stepper also runs the linear catalogue.

    Parameters
    ----------
    rhs : callable
        ``f(t, u)``: the time derivative, a real array of the shape of ``u`` (checked on every
        call: a scalar, None, a complex or a wrongly shaped return raises ``InputError`` or
        ``InputTypeError`` naming ``f``; a NaN is not refused, it is the solution's). With
        ``vectorized=True`` it must also accept ``k`` states as the rows of a ``(k, m)``
        array with ``t`` of shape ``(k, 1)`` and return ``(k, m)`` (write it with
        ``u[..., i]`` indexing); the steppers then advance many slices in one call.
    size : int
        ``m >= 1``.
    jacobian : callable, optional
        ``J(t, u) = ∂f/∂u`` at one state ``u`` of shape ``(m,)``: a real dense ``(m, m)`` array
        or a scipy sparse matrix, finite at a finite ``u`` (checked on every call; a mismatch
        raises ``InputError``/``InputTypeError`` naming ``jacobian``). Default: forward
        differences of ``rhs`` (``m`` extra evaluations of ``f``, one batched call when
        ``vectorized``).
    vectorized : bool, keyword-only
        Whether ``rhs`` accepts stacked states (default False).

    Examples
    --------
    The logistic equation ``u' = u (1 - u)``:

    >>> import numpy as np
    >>> from parareal_toolkit.ode import NonlinearODE
    >>> ode = NonlinearODE(lambda t, u: u * (1 - u), 1, vectorized=True)
    >>> ode.rhs(0.0, np.array([0.5])).tolist()
    [0.25]
    >>> round(float(ode.jacobian(0.0, np.array([0.25]))[0, 0]), 6)  # 1 - 2u, by differences
    0.5
    """

    def __init__(
        self,
        rhs: Callable[[Any, np.ndarray], np.ndarray],
        size: int,
        jacobian: Callable[[float, np.ndarray], Any] | None = None,
        *,
        vectorized: bool = False,
    ):
        self._rhs = check_callable(rhs, "rhs")
        self._size = check_int(size, "size", minimum=1)
        self._jacobian = None if jacobian is None else check_callable(jacobian, "jacobian")
        if not isinstance(vectorized, bool):
            raise InputTypeError(f"`vectorized` must be a bool; got {vectorized!r}.")
        self.vectorized = vectorized

    @property
    def size(self) -> int:
        """``m``, the state dimension."""
        return self._size

    @property
    def has_jacobian(self) -> bool:
        """Whether the user supplied ``jacobian`` (otherwise it is computed by differences)."""
        return self._jacobian is not None

    def rhs(self, t: Any, u: Any) -> Any:
        """``f(t, u)``; for stacked states see the class docstring.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            The derivative, of the shape of ``u``: float64 for numpy states, a tensor as
            ``rhs`` returns it for tensor states.
        """
        value = self._rhs(t, u)
        expected = tuple(u.shape) if hasattr(u, "shape") else np.shape(u)
        if is_tensor(value):
            if tuple(value.shape) != expected or value.is_complex():
                raise InputError(
                    f"`f` (the `rhs` of {self!r}) must return a real array of shape {expected}, the shape of `u`; "
                    f"got a tensor of shape {tuple(value.shape)} and dtype {value.dtype}."
                )
            return value
        return _real_array(value, "f", f"the `rhs` of {self!r}", expected, "the shape of `u`")

    def rhs_rows(self, t: Any, U: Any) -> Any:
        """``f(t_i, U_i)`` for the rows of ``U`` (shape ``(k, m)``), ``t`` of shape ``(k, 1)``.

        One call of ``rhs`` when it is vectorized, else one per row.

        Returns
        -------
        numpy.ndarray, shape (k, m)
            The derivatives, row by row.
        """
        if self.vectorized:
            return self.rhs(t, U)
        rows = [self.rhs(float(t[i, 0]), U[i]) for i in range(U.shape[0])]
        if is_tensor(U):
            import torch

            return torch.stack(rows)
        return np.stack(rows)

    def jacobian(self, t: float, u: np.ndarray) -> Any:
        """``∂f/∂u`` at ``(t, u)``: the user's, or forward differences of ``f``.

        The difference step for column ``i`` is ``sqrt(eps) max(1, |u_i|)``, which gives
        about eight correct digits: enough for Newton's method, whose fixed point (the
        implicit step) does not depend on the Jacobian.

        Returns
        -------
        numpy.ndarray or scipy.sparse matrix, shape (m, m)
            The Jacobian.
        """
        if self._jacobian is not None:
            return self._checked_jacobian(self._jacobian(t, u), u)
        m = self._size
        steps = np.sqrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(u))
        f0 = self.rhs(t, u)
        shifted = u[None, :] + np.diag(steps)
        if self.vectorized:
            columns = self.rhs(np.full((m, 1), t), shifted)
        else:
            columns = np.stack([self.rhs(t, shifted[i]) for i in range(m)])
        return ((columns - f0[None, :]) / steps[:, None]).T

    def _checked_jacobian(self, J: Any, u: Any) -> Any:
        """The user's Jacobian if it is a real ``(m, m)`` array or sparse matrix, finite where ``u`` is."""
        m = self._size
        where = f"the `jacobian` of {self!r}"
        if sp.issparse(J):
            if J.shape != (m, m) or J.dtype.kind not in "fiu":
                raise InputError(
                    f"`jacobian` ({where}) must return a real ({m}, {m}) matrix; "
                    f"got a sparse matrix of shape {J.shape} and dtype {J.dtype}."
                )
            entries = J.tocoo().data
        else:
            J = entries = _real_array(J, "jacobian", where, (m, m), "(m, m) for m = size")
        if not np.all(np.isfinite(entries)) and np.all(np.isfinite(np.asarray(u, dtype=float))):
            raise InputError(
                f"`jacobian` ({where}) must be finite at a finite state; got {int(np.sum(~np.isfinite(entries)))} "
                "NaN or infinite entries."
            )
        return J

    def __repr__(self) -> str:
        jac = "user Jacobian" if self.has_jacobian else "difference Jacobian"
        return f"NonlinearODE(<size {self._size}, {jac}{', vectorized' if self.vectorized else ''}>)"


def _real_array(value: Any, name: str, where: str, shape: tuple[int, ...], meaning: str) -> np.ndarray:
    """``value`` returned by the user's callable ``name`` as a float64 array of ``shape``; else a refusal naming it."""
    if value is None or isinstance(value, (str, bytes)):
        raise InputTypeError(f"`{name}` ({where}) must return a real array of shape {shape}; got {value!r}.")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged nested sequences
        raise InputTypeError(
            f"`{name}` ({where}) must return a real array of shape {shape}; got {type(value).__name__}."
        ) from None
    if array.dtype.kind == "c":
        raise InputError(
            f"`{name}` ({where}) must return real values (a NonlinearODE is real: write a complex system as "
            f"a real one of twice the size); got dtype {array.dtype}."
        )
    if array.dtype.kind not in "fiu":
        raise InputTypeError(
            f"`{name}` ({where}) must return a real array of shape {shape}; got dtype {array.dtype} "
            f"({type(value).__name__})."
        )
    if array.shape != tuple(shape):
        raise InputError(
            f"`{name}` ({where}) must return an array of shape {shape}, {meaning}; got shape {array.shape} "
            "(it would broadcast into a wrong answer)."
        )
    return array.astype(float, copy=False)


@dataclass(frozen=True)
class NonlinearProblem:
    """An initial-value problem ``u' = f(t, u)``, ``u(0) = u0`` on ``[0, t_final]``.

    Attributes
    ----------
    name : str
        The catalogue name (see :data:`~parareal_toolkit.ode.NONLINEAR_PROBLEMS`).
    ode : NonlinearODE
        The equation.
    u0 : numpy.ndarray, shape (m,)
        The initial value (float64, real and finite).
    t_final : float
        The end of the time interval: positive and finite.
    description : str
        A one-line human-readable description.
    stiff : bool
        Whether explicit steppers need steps far below the time scale of the solution
        (choose implicit steppers, or a stiff ``solve_ivp`` method).
    """

    name: str
    ode: NonlinearODE
    u0: np.ndarray
    t_final: float
    description: str = ""
    stiff: bool = False

    def __post_init__(self):
        u0 = check_real_array(self.u0, "u0", shape=(self.ode.size,))
        object.__setattr__(self, "u0", u0)
        object.__setattr__(self, "t_final", check_real(self.t_final, "t_final", minimum=0, strict=True))
