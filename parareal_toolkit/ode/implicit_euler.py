"""Implicit Euler with ``M`` substeps: the coarse solver of classical parareal."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg

from ..propagator import TimeGrid
from .base import LinearSlicePropagator
from .linear import LinearODE

__all__ = ["ImplicitEulerPropagator"]


class ImplicitEulerPropagator(LinearSlicePropagator):
    """``M`` implicit-Euler steps of length ``h = ΔT_j / M``: ``u -> (I - h A)^{-M} u``.

    On a mode ``A v = λ v`` this multiplies by ``R(z) = (1 - z/M)^{-M}``, ``z = λ ΔT``;
    ``|R(z)| < 1`` on the whole open left half-plane (A-stable, L-stable), first-order
    accurate: ``R(z) - e^z = O(z^2 / M)``.

    ``I - h A`` is factorised once per distinct slice length (``scipy.linalg.lu_factor``,
    or ``scipy.sparse.linalg.splu`` for sparse ``A``); no inverse is ever formed. With many
    substeps it is also an *expensive* fine propagator, the regime in which parareal can
    actually win (see :func:`parareal_toolkit.ode.theory.speedup`).
    """

    def __init__(self, ode: LinearODE, grid: TimeGrid, *, substeps: int = 1):
        super().__init__(ode, grid)
        if isinstance(substeps, bool) or not isinstance(substeps, numbers.Integral):
            raise TypeError(f"`substeps` must be an integer; got {substeps!r}.")
        if substeps < 1:
            raise ValueError(f"`substeps` must be at least 1; got {substeps}.")
        self.substeps = int(substeps)

    def _factor(self, h: float):
        step = h / self.substeps
        if self.ode.is_sparse:
            identity = sp.identity(self.ode.size, format="csc")
            return scipy.sparse.linalg.splu((identity - step * self.ode.A).tocsc())
        return scipy.linalg.lu_factor(np.eye(self.ode.size) - step * self.ode.A, check_finite=False)

    def _apply(self, factor, X: np.ndarray) -> np.ndarray:
        for _ in range(self.substeps):
            X = factor.solve(X) if self.ode.is_sparse else scipy.linalg.lu_solve(factor, X, check_finite=False)
        return X

    def __repr__(self) -> str:
        return f"ImplicitEulerPropagator({self.ode!r}, {self.grid!r}, substeps={self.substeps})"
