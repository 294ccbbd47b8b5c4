"""Linear constant-coefficient ODEs ``u' = A u`` and problems built on them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .._validation import check_real_array
from ..errors import InputError, InputTypeError
from ._arrays import is_tensor, times_transposed

__all__ = ["LinearODE", "LinearProblem"]

_COMPLEX = (
    "`{name}` must be real; got a {dtype} matrix (complex values are not supported: write u = x + iy "
    "as the real system [x, y]' = [[Re A, -Im A], [Im A, Re A]] [x, y])."
)


class LinearODE:
    """The equation ``u'(t) = A u(t)`` with a constant real square matrix ``A``.

    The exact solution operator over a step ``h`` is ``expm(h A)``; every propagator in
    :mod:`parareal_toolkit.ode` is a function of ``A`` and the step alone, so the
    equation is kept separate from the step rules (as in diffrax).

    Parameters
    ----------
    A : (m, m) array_like or scipy sparse matrix
        Real, square, finite. Sparse input stays sparse (CSC), which selects
        ``expm_multiply`` and ``splu`` in the propagators. Complex matrices are refused
        (``TypeError``), never cut to their real part: write a complex system as a real one
        of twice the size.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from parareal_toolkit.ode import LinearODE
    >>> ode = LinearODE([[-2.0, 1.0], [1.0, -2.0]])
    >>> ode.size, ode.is_sparse, ode.is_normal()
    (2, False, True)
    >>> LinearODE([[-1.0, 5.0], [0.0, -1.0]]).is_normal()
    False
    >>> LinearODE(sp.diags([-1.0, -2.0])).is_sparse
    True
    """

    def __init__(self, A):
        if sp.issparse(A):
            if A.dtype.kind == "c":
                raise InputTypeError(_COMPLEX.format(name="A", dtype=A.dtype))
            matrix = sp.csc_matrix(A, dtype=float)
            data = matrix.data
        else:
            try:
                if np.iscomplexobj(A):  # np.array(A, dtype=float) would drop the imaginary part
                    raise InputTypeError(_COMPLEX.format(name="A", dtype=np.asarray(A).dtype))
                matrix = np.array(A, dtype=float)
            except (TypeError, ValueError) as exc:
                if str(exc).startswith("`A`"):
                    raise
                raise InputTypeError(f"`A` must be a real matrix; got {type(A).__name__}.") from None
            data = matrix
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise InputError(f"`A` must be a square matrix; got shape {matrix.shape}.")
        if matrix.shape[0] == 0:
            raise InputError("`A` must not be empty; got shape (0, 0).")
        if not np.all(np.isfinite(data)):
            raise InputError("`A` must be finite; it contains NaN or infinite entries.")
        self._A = matrix
        self._tensor_cache: dict = {}

    @property
    def A(self):
        """The matrix (a float64 ndarray or a CSC sparse matrix)."""
        return self._A

    @property
    def size(self) -> int:
        """``m``, the dimension of the state."""
        return self._A.shape[0]

    @property
    def is_sparse(self) -> bool:
        """Whether ``A`` is stored as a scipy sparse (CSC) matrix."""
        return sp.issparse(self._A)

    vectorized = True  # rhs accepts stacked states: the time steppers batch slices

    def rhs(self, t, u: np.ndarray) -> np.ndarray:
        """``A u`` for one state ``(m,)`` or for the rows of a ``(k, m)`` array (``t`` is ignored).

        With ``jacobian()`` this is what the general time steppers (explicit Euler, RK4,
        Newton-based implicit methods) need, so they run the linear catalogue too.

        Returns
        -------
        numpy.ndarray
            ``A u`` (rows ``A U_i`` for stacked states).
        """
        if is_tensor(u):  # tensor states: A as a dense tensor like u, built once per device and dtype
            return times_transposed(u, self._A, self._tensor_cache)
        u = np.asarray(u, dtype=float)
        return np.asarray(self._A @ u.T).T

    def rhs_rows(self, t, U: np.ndarray) -> np.ndarray:
        """``A U_i`` for the rows of ``U`` (shape ``(k, m)``).

        Returns
        -------
        numpy.ndarray, shape (k, m)
            The derivatives, row by row.
        """
        return self.rhs(t, U)

    def jacobian(self, t, u) -> np.ndarray:
        """``A`` itself (dense or sparse), whatever ``t`` and ``u``.

        Returns
        -------
        numpy.ndarray or scipy.sparse matrix
            The matrix.
        """
        return self._A

    def dense(self) -> np.ndarray:
        """``A`` as a dense ndarray.

        Returns
        -------
        numpy.ndarray
            The ``(m, m)`` float64 matrix (``A`` itself when it is already dense).
        """
        return self._A.toarray() if self.is_sparse else self._A

    def is_normal(self, rtol: float = 1e-10) -> bool:
        """Whether ``A A^T = A^T A`` (to ``rtol``); then the modal bounds are sharp in the 2-norm.

        Parameters
        ----------
        rtol : float
            Tolerance on ``||A A^T - A^T A||_F`` relative to ``||A||_F^2``.

        Returns
        -------
        bool
            True for a normal ``A`` (symmetric, skew-symmetric, ...): its eigenvectors are
            orthonormal and :func:`~parareal_toolkit.ode.error_bounds` needs no ``||V||_2`` factor.
        """
        A = self.dense()
        commutator = A @ A.T - A.T @ A
        return bool(np.linalg.norm(commutator) <= rtol * max(np.linalg.norm(A) ** 2, 1e-300))

    def __repr__(self) -> str:
        kind = "sparse" if self.is_sparse else "dense"
        return f"LinearODE(<{self.size}x{self.size} {kind}>)"


@dataclass(frozen=True)
class LinearProblem:
    """An initial-value problem ``u' = A u``, ``u(0) = u0`` on ``[0, t_final]``.

    Attributes
    ----------
    name : str
        The catalogue name (see :data:`~parareal_toolkit.ode.PROBLEMS`).
    ode : LinearODE
        The equation.
    u0 : numpy.ndarray, shape (m,)
        The initial value (converted to float64; real and finite).
    t_final : float
        The end of the time interval.
    description : str
        A one-line human-readable description.
    """

    name: str
    ode: LinearODE
    u0: np.ndarray
    t_final: float
    description: str = ""

    def __post_init__(self):
        u0 = check_real_array(self.u0, "u0", shape=(self.ode.size,))
        object.__setattr__(self, "u0", u0)
