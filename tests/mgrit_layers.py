"""MGRIT hierarchies for the backend tests: heat (numpy) and residual tanh layers (torch), and a call log.

``layer_hierarchy`` is the layer-parallel use of MGRIT: level 0 applies ``N_0`` residual
layers ``u + h tanh(W_j u + b_j)``; level ``l`` takes ``N_0 / m^l`` steps of length
``h m^l``, step ``j`` with the parameters of fine layer ``j m^l`` (the layers are shared,
not copied). ``Logged`` wraps a level and appends the global slice number of every call to a
list, so a test sees which slices of a backend map a process evaluated.
"""

from __future__ import annotations

import numpy as np

from parareal_toolkit.ode import heat_1d, time_hierarchy

# (levels, relax, cycle): 2 and 3 levels, F and FCF, both cycles
CASES = [(2, "F", "V"), (2, "FCF", "V"), (3, "F", "F"), (3, "FCF", "V")]
COARSENING = 2


def heat_hierarchy(num_levels: int):
    """``(levels, u0)``: implicit Euler on heat_1d(6), 12 fine steps, coarsening 2."""
    problem = heat_1d(6)
    return time_hierarchy(
        problem, 12, coarsening=COARSENING, num_levels=num_levels, steppers="implicit-euler"
    ), problem.u0


def layer_hierarchy(num_levels: int, *, width: int = 4, num_layers: int = 12):
    """``(levels, u0)``: residual tanh layers in float64, level ``l`` with step ``h m^l`` on every ``m^l``-th layer."""
    import torch
    from torch import nn

    class ResidualSteps(nn.Module):
        def __init__(self, layers, stride: int, step: float):
            super().__init__()
            self.layers, self.stride, self.step = layers, stride, step

        @property
        def num_slices(self) -> int:
            return len(self.layers) // self.stride

        def forward(self, u, j: int):
            return u + self.step * torch.tanh(self.layers[j * self.stride](u))

    torch.manual_seed(4321)  # the same layers in every process
    layers = nn.ModuleList(nn.Linear(width, width, dtype=torch.float64) for _ in range(num_layers))
    h = 1.0 / num_layers
    levels = [ResidualSteps(layers, COARSENING**l, h * COARSENING**l) for l in range(num_levels)]
    u0 = torch.linspace(-1.0, 1.0, width, dtype=torch.float64)
    return levels, u0


class Logged:
    """``level`` with every call's global slice (``offset + j``) appended to ``log``."""

    def __init__(self, level, offset: int, log: list[int]):
        self.level, self.offset, self.log = level, offset, log
        self.num_slices = level.num_slices

    def __call__(self, u, j: int):
        self.log.append(self.offset + j)
        return self.level(u, j)


def logged(levels, log: list[int]) -> list[Logged]:
    """Every level wrapped in :class:`Logged`, offsets as ``AllLevels`` numbers the slices."""
    offsets = np.cumsum([0, *(p.num_slices for p in levels)])
    return [Logged(p, int(offset), log) for p, offset in zip(levels, offsets)]


def max_difference(a, b) -> float:
    """The largest entry-wise difference between two results' iterates and fine states (inf if they differ in shape)."""
    pairs = [(x, y) for s, t in zip(a.iterates, b.iterates) for x, y in zip(s, t)]
    pairs += list(zip(a.fine_states, b.fine_states))
    if len(a.iterates) != len(b.iterates) or len(a.fine_states) != len(b.fine_states):
        return float("inf")
    return max(float(np.abs(np.asarray(_numpy(x)) - np.asarray(_numpy(y))).max()) for x, y in pairs)


def _numpy(x):
    detach = getattr(x, "detach", None)
    return detach().cpu().numpy() if detach is not None else x


def distributed_report() -> list[dict]:
    """Under torchrun: every case of :data:`CASES` on both hierarchies, serial and distributed, on this rank.

    Each entry holds the largest difference between the two runs' iterates and fine states,
    and every backend map of the distributed run: its global slices and the slices this rank
    evaluated in it (the rest of the log are the sequential calls every rank makes).
    """
    import torch

    from parareal_toolkit import mgrit
    from parareal_toolkit.backends.distributed import DistributedBackend

    class Recording(DistributedBackend):
        def __init__(self, log: list[int]):
            super().__init__()
            self.log, self.maps = log, []

        def map(self, propagator, states, slices):
            start = len(self.log)
            out = super().map(propagator, states, slices)
            self.maps.append({"slices": list(slices), "evaluated": self.log[start:]})
            return out

    report = []
    for kind, build in (("numpy", heat_hierarchy), ("torch", layer_hierarchy)):
        for num_levels, relax, cycle in CASES:
            levels, u0 = build(num_levels)
            options = dict(coarsening=COARSENING, relax=relax, cycle=cycle)
            log: list[int] = []
            backend = Recording(log)
            with torch.enable_grad():  # torch states: every map is one autograd node (_Sweep)
                serial = mgrit(levels, u0, backend="serial", **options)
                distributed = mgrit(logged(levels, log), u0, backend=backend, **options)
            report.append(
                {
                    "kind": kind,
                    "case": [num_levels, relax, cycle],
                    "iterations": distributed.iterations,
                    "stop_reason": distributed.stop_reason,
                    "difference": max_difference(serial, distributed),
                    "level_evaluations": [distributed.level_evaluations, serial.level_evaluations],
                    "maps": backend.maps,
                    "calls": len(log),
                }
            )
    return report
