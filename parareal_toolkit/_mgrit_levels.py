"""MGRIT's hierarchy as one propagator: what every backend map of every level is handed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .propagator import Propagator

__all__ = ["AllLevels"]


class AllLevels:
    """Every level's propagator as one, slice ``offsets[l] + j`` being slice ``j`` of level ``l``.

    The backend receives this one object for every map of every level, so a process pool
    installs the whole hierarchy once (it restarts for a propagator it does not hold).
    ``propagate_batch`` hands each level's slices to that level's ``propagate_batch`` (one
    call per slice without it, or for a single slice), as the batched backend would.
    """

    def __init__(self, levels: Sequence[Propagator]):
        self.levels = list(levels)
        self.offsets = [0]
        for p in self.levels:
            self.offsets.append(self.offsets[-1] + p.num_slices)
        self.num_slices = self.offsets[-1]

    def _locate(self, j: int) -> tuple[int, int]:
        for l in range(len(self.levels)):
            if j < self.offsets[l + 1]:
                return l, j - self.offsets[l]
        raise IndexError(f"slice index `j` must satisfy 0 <= j < {self.num_slices}; got {j}.")

    def __call__(self, u: Any, j: int) -> Any:
        """Slice ``j`` of the level that holds it.

        Returns
        -------
        state
            The propagated state.
        """
        l, local = self._locate(j)
        return self.levels[l](u, local)

    def propagate_batch(self, states: Sequence[Any], slices: Sequence[int]) -> list[Any]:
        """``[self(u, j) for u, j in zip(states, slices)]``, one batch per level.

        Returns
        -------
        list
            One state per slice.
        """
        if len(slices) >= 2:  # the driver's maps: slices of one level, handed on in one call
            first, last = min(slices), max(slices)
            l = self._locate(first)[0]
            if first >= 0 and last < self.offsets[l + 1]:
                propagator, offset = self.levels[l], self.offsets[l]
                batch = getattr(propagator, "propagate_batch", None)
                inner = [j - offset for j in slices]
                if batch is not None:
                    return list(batch(list(states), inner))
                return [propagator(u, j) for u, j in zip(states, inner)]
        groups: dict[int, list[int]] = {}
        located = [self._locate(j) for j in slices]
        for position, (l, _) in enumerate(located):
            groups.setdefault(l, []).append(position)
        out: list[Any] = [None] * len(slices)
        for l, positions in groups.items():
            propagator = self.levels[l]
            batch = getattr(propagator, "propagate_batch", None)
            inner_states = [states[p] for p in positions]
            inner_slices = [located[p][1] for p in positions]
            if batch is not None and len(positions) >= 2:
                values = list(batch(inner_states, inner_slices))
            else:
                values = [propagator(u, j) for u, j in zip(inner_states, inner_slices)]
            for p, value in zip(positions, values):
                out[p] = value
        return out
