r"""The coarse chain of a parareal network, on its own: ``z_{j+1} = y_{j+1} + F^j(z_j - x_{j+1})``.

Table 2 times the chain separately from the subnetworks, on their precomputed outputs
``y_j``. It is computed by :func:`parareal_toolkit.parareal` itself (one correction-form
iteration whose fine values are the given ``y_j``), so its time includes the driver's
bookkeeping exactly as the network's forward pass does. :func:`compile_modules` makes
``torch.compile`` stand-ins for the coarse networks, whose launch overhead dominates a
small chain on a GPU.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import torch
from torch import nn

from ..driver import parareal
from ..nn.propagators import ModulePropagator

__all__ = ["coarse_chain", "compile_modules"]


class _GivenOutputs:
    """A fine "propagator" that returns the precomputed subnetwork output ``y_{j+1}`` on slice ``j``.

    With it, one correction-form parareal iteration from the guesses ``x_2..x_N`` is exactly
    the coarse chain, and costs only the chain.
    """

    def __init__(self, outputs: Sequence[torch.Tensor]):
        self.outputs = list(outputs)
        self.num_slices = len(self.outputs)

    def __call__(self, u: torch.Tensor, j: int) -> torch.Tensor:
        return self.outputs[j]


def coarse_chain(
    coarse: Iterable[nn.Module], inputs: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor]
) -> torch.Tensor:
    """``z_N`` of the chain ``z_1 = y_1``, ``z_{j+1} = y_{j+1} + F^j(z_j - x_{j+1})``, by the driver.

    ``coarse`` are ``F^1..F^{N-1}``, ``inputs`` the subnetwork inputs ``x_1..x_N`` (``x_1``
    is not used) and ``outputs`` the subnetwork outputs ``y_1..y_N``.

    Returns
    -------
    torch.Tensor
        ``z_N``, differentiable with respect to ``inputs``, ``outputs`` and the coarse networks.
    """
    result = parareal(
        _GivenOutputs(outputs),
        ModulePropagator(coarse, first_slice=1),
        inputs[0],
        iterations=1,
        initial=list(inputs[1:]),
        form="correction",
        backend="serial",
        monitor=False,
        store_iterates=False,
    )
    return result.final


def compile_modules(modules: Sequence[nn.Module], *, device: torch.device) -> list[nn.Module]:
    """``torch.compile`` wrappers of ``modules`` that share their parameters (the modules are untouched).

    On CUDA the mode is ``"reduce-overhead"`` (CUDA graphs: one launch per graph instead of
    one per kernel, the cost that dominates small coarse networks); elsewhere the default mode.
    Compilation happens on the first call.

    Returns
    -------
    list of nn.Module
        One compiled wrapper per module, in order.
    """
    mode = "reduce-overhead" if device.type == "cuda" else None
    return [cast(nn.Module, torch.compile(module, mode=mode)) for module in modules]
