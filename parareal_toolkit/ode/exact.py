"""The exact propagator ``u -> expm(ΔT_j A) u``: the fine solver of classical parareal."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from ..errors import InputError
from ..propagator import TimeGrid
from .base import LinearSlicePropagator
from .linear import LinearODE

__all__ = ["ExactPropagator"]


class ExactPropagator(LinearSlicePropagator):
    """Exact solution operator of ``u' = A u`` over each slice.

    Dense ``A``: ``scipy.linalg.expm(ΔT A)`` is computed once per distinct slice length and
    applied by matrix products; on a uniform grid the whole fine sweep of a parareal
    iteration is a single product ``expm(ΔT A) @ [U_0 ... U_{N-1}]``.
    Sparse ``A``: ``scipy.sparse.linalg.expm_multiply`` acts on the states directly (one
    call per distinct slice length for a batch); no dense exponential is formed.

    Exact up to the accuracy of ``expm`` (about machine precision times ``||ΔT A||``).
    ``expm`` itself fails for huge ``||ΔT A||`` (around ``1e300``): the dense exponential is
    then NaN, which :func:`~parareal_toolkit.parareal` reports as a non-finite iterate
    (``result.finite`` is False); the sparse ``expm_multiply`` costs about
    ``||ΔT A||_1`` matrix-vector products per slice and raises ``ValueError`` where that
    count overflows.

    Parameters
    ----------
    ode : LinearODE
        The equation ``u' = A u``.
    grid : TimeGrid
        The slices; slice ``j`` multiplies by ``expm(ΔT_j A)``.
    prepare : bool, keyword-only
        Compute every distinct ``expm(ΔT_j A)`` in the constructor (as ``prepare()``
        does) instead of on first use, so that no later call, timed or not, pays for it
        (default False).

    Examples
    --------
    A rotation, ``u(t) = (cos t, -sin t)``: a quarter turn per slice of length ``π/2``.

    >>> import numpy as np
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import ExactPropagator, LinearODE
    >>> exact = ExactPropagator(LinearODE([[0.0, 1.0], [-1.0, 0.0]]), TimeGrid.uniform(np.pi, 2))
    >>> u0 = np.array([1.0, 0.0])
    >>> bool(np.allclose(exact(u0, 0), [0.0, -1.0], rtol=0, atol=1e-14))
    True
    >>> batch = exact.propagate_batch([u0, u0], [0, 1])  # one matrix product for both slices
    >>> bool(np.allclose(batch[1], exact(u0, 1), rtol=0, atol=1e-15))
    True
    """

    def __init__(self, ode: LinearODE, grid: TimeGrid, *, prepare: bool = False):
        super().__init__(ode, grid)
        if prepare:
            self.prepare()

    def _factor(self, h: float):
        if self._sparse:
            return (h * self.ode.A).tocsc()
        # Stored transposed: states are rows, so one product X @ expm(hA)^T serves 1 or k states.
        return np.ascontiguousarray(scipy.linalg.expm(h * self.ode.A).T)

    def _apply(self, factor, X: np.ndarray) -> np.ndarray:
        if self._sparse:
            try:
                return scipy.sparse.linalg.expm_multiply(factor, X.T).T
            except OverflowError:  # its step count ||ΔT A||_1 / θ overflows an integer
                raise InputError(
                    f"expm_multiply cannot propagate over this slice: ||ΔT A||_1 = "
                    f"{scipy.sparse.linalg.norm(factor, 1):.3g} would need more steps than an integer "
                    "can count; use shorter slices (more slices or a smaller final time)."
                ) from None
        return X @ factor
