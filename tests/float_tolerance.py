"""Tolerances derived from the arithmetic for two computations that differ only in rounding.

Two runs that do the same mathematics in another order (a data-parallel all-reduce instead of
one batch sum, another CPU's convolution blocking, a compiled kernel's fused loops) round
differently. A sum of ``m`` terms computed in two orders differs by at most ``m eps sum |t|``
(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., Lemma 3.1), and in practice
by about ``sqrt(m) eps sum |t|``: the rounding errors are independent and add like a random walk
(Higham §2.8; the worst case needs every error to have the same sign). Training adds the
difference of each optimiser step's gradient into the weights; with momentum ``mu`` one step's
gradient enters ``1 / (1 - mu)`` weight updates. An update is no larger than the weights it
changes (small learning rates), so the weights of two such runs differ by about

    steps / (1 - mu) * sqrt(m) * eps * max|w|

per tensor. That is what the training comparisons allow. It depends on the dtype, the size of
the sums and the number of steps, not on which CPU ran first: the float32 comparison that was
tuned to 1e-6 on one machine differed by 2.09e-6 on another (issue 21). A real error (a
gradient not averaged, a missed all-reduce, a slice updated twice) moves the weights by the
size of an update, ``lr |g|``, orders of magnitude above this.
"""

from __future__ import annotations

import math

import pytest
import torch


def reordering_tolerance(dtype: torch.dtype, *, scale: float, terms: int, steps: int = 1, momentum: float = 0) -> float:
    """``steps / (1 - momentum) * sqrt(terms) * eps(dtype) * scale``: see the module docstring.

    Returns
    -------
    float
        The largest difference two orderings of the same computation are expected to show.
    """
    return steps / (1 - momentum) * math.sqrt(terms) * torch.finfo(dtype).eps * scale


def assert_states_agree(a: dict, b: dict, *, terms: int, steps: int, momentum: float = 0) -> None:
    """Every tensor of ``a`` equals that of ``b`` to :func:`reordering_tolerance` at its own scale.

    The scale of a tensor is its largest magnitude in ``b`` (the reference); integer tensors
    (BatchNorm's batch counts) must be equal.
    """
    assert a.keys() == b.keys()
    for key in b:
        x, y = a[key], b[key]
        if not y.is_floating_point():
            assert torch.equal(x, y), key
            continue
        scale = float(y.abs().max()) if y.numel() else 0.0
        atol = reordering_tolerance(y.dtype, scale=scale, terms=terms, steps=steps, momentum=momentum)
        torch.testing.assert_close(
            x, y, rtol=0, atol=atol, msg=lambda m, key=key, atol=atol: f"{key} (atol {atol:.3g}): {m}"
        )


def approx_metric(value: float, *, terms: int, steps: int, momentum: float = 0, dtype=torch.float32):
    """``pytest.approx`` for a loss computed by such a network: relative, same tolerance per unit scale."""
    rel = reordering_tolerance(dtype, scale=1.0, terms=terms, steps=steps, momentum=momentum)
    return pytest.approx(value, rel=rel, abs=rel)
