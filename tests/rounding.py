"""Rounding bounds for float64 checks that claim agreement to the arithmetic (Higham §3.1).

``gamma(n)`` bounds the relative error of ``n`` rounded operations; ``reals`` draws floats
whose products of a few stay in the normal range, where that model holds.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

EPS = float(np.finfo(float).eps)


def gamma(n: int) -> float:
    """Higham's ``γ_n``: the relative bound of ``n`` rounded operations."""
    unit = EPS / 2
    return n * unit / (1 - n * unit)


def reals(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats in ``[low, high]`` that are 0 or at least 1e-12 in size: products of a few stay
    in the normal range, where the model ``fl(x op y) = (x op y)(1 + δ)`` behind ``γ_n`` holds
    (subnormal results add an absolute error it does not cover)."""
    return st.floats(low, high).map(lambda x: 0.0 if abs(x) < 1e-12 else x)
