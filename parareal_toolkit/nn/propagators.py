"""Neural blocks as propagators: slice ``j`` of a partition is block ``j`` of a network.

A :class:`ModulePropagator` is the network-side counterpart of the ODE propagators in
:mod:`parareal_toolkit.ode`: it honours the same contract (``num_slices`` and
``__call__(u, j)``, see ``parareal_toolkit.propagator``), so the one driver
:func:`parareal_toolkit.parareal` runs it unchanged. It is an :class:`torch.nn.Module`
container, so its parameters register, move with ``.to()`` and save with ``state_dict()``.

It has no ``propagate_batch``: different slices hold different parameters, so there is no
single batched operation; parallelism across slices is a backend's business.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from .._checked import autocast_enabled
from .._validation import check_int
from ..errors import InputError, InputTypeError
from ..propagator import check_slice

__all__ = ["ModulePropagator"]


class ModulePropagator(nn.Module):
    """A propagator whose slice ``j`` applies ``modules[j - first_slice]``.

    Parameters
    ----------
    modules : iterable of nn.Module
        The blocks, in order. An :class:`torch.nn.ModuleList` is used as it is (not
        copied), so a propagator built over a network's blocks shares their parameters.
    first_slice : int, keyword-only
        The index of the first slice that has a module (default 0). Slices
        ``0..first_slice-1`` exist for the driver's bookkeeping but must never be evaluated:
        a parareal network's coarse propagator has ``first_slice=1`` because the driver never
        evaluates the coarse propagator on slice 0 when it is given initial guesses.

    ``num_slices = first_slice + len(modules)``; it must be at least 1.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from parareal_toolkit import propagate_sequentially
    >>> from parareal_toolkit.nn import ModulePropagator
    >>> propagator = ModulePropagator([nn.Tanh(), nn.Tanh()])
    >>> states = propagate_sequentially(propagator, torch.tensor([1.0], dtype=torch.float64))
    >>> [round(float(u), 4) for u in states]  # 1, tanh(1), tanh(tanh(1))
    [1.0, 0.7616, 0.642]
    >>> ModulePropagator([nn.Tanh()], first_slice=1).num_slices  # a coarse propagator: no module on slice 0
    2
    """

    def __init__(self, modules: Iterable[nn.Module], *, first_slice: int = 0):
        super().__init__()
        first_slice = check_int(first_slice, "first_slice", minimum=0)
        if isinstance(modules, nn.Module) and not isinstance(modules, nn.ModuleList):
            raise InputTypeError(
                f"`modules` must be an iterable of nn.Module (one per slice), not a single {type(modules).__name__}."
            )
        if not isinstance(modules, nn.ModuleList):
            if isinstance(modules, (str, bytes)) or not isinstance(modules, Iterable):
                raise InputTypeError(f"`modules` must be an iterable of nn.Module (one per slice); got {modules!r}.")
            modules = list(modules)
            for i, module in enumerate(modules):
                if not isinstance(module, nn.Module):
                    raise InputTypeError(f"`modules[{i}]` must be an nn.Module; got {type(module).__name__}.")
            modules = nn.ModuleList(modules)
        if first_slice + len(modules) < 1:
            raise InputError("`modules` must hold at least one module (a propagator covers at least one slice); got 0.")
        self.blocks = modules
        self.first_slice = int(first_slice)

    @property
    def num_slices(self) -> int:
        """``first_slice + len(modules)``."""
        return self.first_slice + len(self.blocks)

    def forward(self, u, j: int):
        """The state after slice ``j``: ``modules[j - first_slice](u)``.

        Returns
        -------
        torch.Tensor
            The module's output.

        Raises
        ------
        IndexError
            For ``j`` outside ``0..num_slices-1`` or below ``first_slice``.
        InputTypeError
            For a ``u`` that is not a tensor, or whose dtype or device differs from the
            module's parameters (a parameterless module takes any tensor; under
            ``torch.autocast`` the dtype may differ, as autocast casts).
        """
        j = check_slice(j, self.num_slices)
        if j < self.first_slice:
            raise IndexError(f"slice {j} has no module: this propagator's modules start at slice {self.first_slice}.")
        block = self.blocks[j - self.first_slice]
        if not isinstance(u, torch.Tensor):
            raise InputTypeError(
                f"`u` given to ModulePropagator slice {j} must be a torch tensor; got {type(u).__name__} "
                "(convert numpy input with torch.as_tensor, on the modules' device and dtype)."
            )
        parameter = next(block.parameters(), None)
        if parameter is not None and (
            u.device != parameter.device or (u.dtype != parameter.dtype and not autocast_enabled(u.device.type))
        ):
            raise InputTypeError(
                f"`u` given to ModulePropagator slice {j} must be a {parameter.dtype} tensor on {parameter.device}, "
                f"the dtype and device of the module's parameters; got {u.dtype} on {u.device}."
            )
        return block(u)

    def extra_repr(self) -> str:
        return f"num_slices={self.num_slices}, first_slice={self.first_slice}"
