"""MGRIT's levels from parareal's pair: the fine propagator's substeps as level 0, the coarse one above it.

A fine propagator with ``M`` substeps per slice (a :class:`~parareal_toolkit.ode.TimeStepper`
or an :class:`~parareal_toolkit.ode.ImplicitEulerPropagator`) is, substep by substep, a
propagator over ``N M`` slices: :class:`SubstepPropagator`, whose slice ``j M + i`` is
substep ``i`` of slice ``j`` computed with the very operations the fine propagator performs
(the same step length ``h_j = ΔT_j / M``, the same times ``T_j + i h_j``, the same
factorisation). ``ComposedPropagator(SubstepPropagator(fine), M)`` is therefore ``fine``
bit for bit, and :func:`mgrit_levels` gives MGRIT the discretisation parareal runs on:
two levels with F-relaxation compute parareal's iterates exactly (``parareal ode --method
mgrit --levels 2``). Levels ``l >= 2`` take the coarse propagator's kind and substeps on
every ``m^(l-1)``-th boundary of the slices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_int
from ..errors import InputError, InputTypeError
from ..propagator import TimeGrid
from ._arrays import constant_like, is_tensor
from .base import SlicePropagator
from .implicit_euler import ImplicitEulerPropagator
from .steppers import TimeStepper

__all__ = ["SubstepPropagator", "mgrit_levels", "coarse_levels", "level_slices"]


class SubstepPropagator(SlicePropagator):
    """One substep per slice of a propagator with ``M`` substeps: ``N M`` slices, slice ``j M + i`` substep ``i`` of ``j``.

    Slice ``j M + i`` advances by ``h_j = ΔT_j / M`` from ``T_j + i h_j`` with the fine
    propagator's own step (its ``_step``, or its cached factorisation of ``I - h_j A``), so
    ``M`` consecutive slices equal one slice of the fine propagator bit for bit.
    ``propagate_batch`` advances the rows together as the fine propagator's batch does.

    Parameters
    ----------
    propagator : TimeStepper or ImplicitEulerPropagator
        The fine propagator (``substeps = M``).

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit import ComposedPropagator, TimeGrid
    >>> from parareal_toolkit.ode import RK4Stepper, heat_1d
    >>> from parareal_toolkit.ode.fine_steps import SubstepPropagator
    >>> problem = heat_1d(6)
    >>> fine = RK4Stepper(problem.ode, TimeGrid.uniform(problem.t_final, 3), substeps=5)
    >>> steps = SubstepPropagator(fine)
    >>> steps.num_slices, np.array_equal(ComposedPropagator(steps, 5)(problem.u0, 1), fine(problem.u0, 1))
    (15, True)
    """

    def __init__(self, propagator: Any):
        if not isinstance(propagator, (TimeStepper, ImplicitEulerPropagator)):
            raise InputTypeError(
                f"`propagator` must be a TimeStepper or an ImplicitEulerPropagator; got {type(propagator).__name__}."
            )
        self.propagator = propagator
        self.substeps = propagator.substeps
        coarse = propagator.grid.times
        h = np.diff(coarse) / self.substeps
        times = (coarse[:-1, None] + np.arange(self.substeps)[None, :] * h[:, None]).ravel()
        super().__init__(propagator.ode, TimeGrid(np.append(times, coarse[-1])))
        self.supports_tensors = propagator.supports_tensors
        self.linear = getattr(propagator, "linear", None) is True
        self.order = propagator.order

    def prepare(self) -> SubstepPropagator:
        """Prepare the fine propagator (its factorisations); nothing is propagated.

        Returns
        -------
        SubstepPropagator
            ``self``.
        """
        self.propagator.prepare()
        return self

    def _propagate_rows(self, rows: list[Any], slices: Sequence[int]) -> list[Any]:
        fine, m = self.propagator, self.substeps
        coarse = [j // m for j in slices]
        if isinstance(fine, ImplicitEulerPropagator):
            out: list[Any] = [None] * len(rows)
            groups: dict[int, list[int]] = {}
            for position, j in enumerate(coarse):
                groups.setdefault(fine._keys[j], []).append(position)
            for positions in groups.values():
                factor = fine._factor_for(coarse[positions[0]])
                if len(rows) == 1:
                    return [fine._apply(factor, rows[0], 1)]
                X = np.concatenate([rows[p] for p in positions]).reshape(len(positions), self._size)
                for p, y in zip(positions, fine._apply(factor, X, 1)):
                    out[p] = y
            return out
        times = fine.grid.times
        t0 = np.array([times[j] for j in coarse])[:, None]
        h = (np.array([times[j + 1] for j in coarse])[:, None] - t0) / m
        index = np.array([float(j % m) for j in slices])[:, None]
        if is_tensor(rows[0]):
            import torch

            U: Any = torch.stack(rows)
            t0, h, index = (constant_like(a, U, {}) for a in (t0, h, index))
            stepped: Any = fine._step(t0 + index * h, U, h)
            return list(stepped.unbind(0))
        return list(fine._step(t0 + index * h, np.stack(rows), h))

    def __repr__(self) -> str:
        return f"SubstepPropagator({self.propagator!r})"


def mgrit_levels(fine: Any, coarse: Any, num_levels: int) -> list[Any]:
    """MGRIT's ``num_levels`` propagators on parareal's discretisation: ``fine``'s substeps, ``coarse``, coarser copies.

    ``levels[0]`` is :class:`SubstepPropagator` of ``fine`` (``N M`` slices, ``m = M``),
    ``levels[1]`` is ``coarse`` itself (``N`` slices) and ``levels[l]`` for ``l >= 2`` is
    the coarse propagator's kind with its substeps on every ``M^(l-1)``-th boundary of the
    slices (``N / M^(l-1)`` slices).

    Parameters
    ----------
    fine : TimeStepper or ImplicitEulerPropagator
        Parareal's fine propagator, ``M >= 2`` substeps per slice.
    coarse : TimeStepper or ImplicitEulerPropagator
        Parareal's coarse propagator on the same slices.
    num_levels : int
        ``L >= 2``; ``N`` must be divisible by ``M^(L-2)``.

    Returns
    -------
    list
        The ``L`` propagators, fine first, for :func:`~parareal_toolkit.mgrit` with
        ``coarsening = M``.

    Examples
    --------
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import ImplicitEulerPropagator, heat_1d
    >>> from parareal_toolkit.ode.fine_steps import mgrit_levels
    >>> problem, grid = heat_1d(6), TimeGrid.uniform(0.1, 8)
    >>> fine = ImplicitEulerPropagator(problem.ode, grid, substeps=2)
    >>> [p.num_slices for p in mgrit_levels(fine, ImplicitEulerPropagator(problem.ode, grid), 3)]
    [16, 8, 4]
    """
    levels = check_int(num_levels, "num_levels", minimum=2)
    step = SubstepPropagator(fine)
    m = step.substeps
    if m < 2:
        raise InputError(f"`fine` must take at least 2 substeps per slice (the coarsening factor); got {m}.")
    n = coarse.num_slices
    if n != fine.num_slices:
        raise InputError(f"`coarse` must have the fine propagator's {fine.num_slices} slices; got {n}.")
    if n % m ** (levels - 2):
        raise InputError(
            f"the slices N = {n} must be divisible by M^(L-2) = {m ** (levels - 2)} for {levels} levels with M = {m}."
        )
    return [step, *coarse_levels(coarse, m, levels - 1)]


def coarse_levels(coarse: Any, coarsening: int, count: int) -> list[Any]:
    """``coarse`` and ``count - 1`` coarser copies: level ``l`` on every ``coarsening^l``-th boundary of its slices.

    Returns
    -------
    list
        ``count`` propagators of ``coarse``'s kind and substeps, ``coarse`` first.

    Examples
    --------
    >>> from parareal_toolkit import TimeGrid
    >>> from parareal_toolkit.ode import ImplicitEulerPropagator, heat_1d
    >>> from parareal_toolkit.ode.fine_steps import coarse_levels
    >>> coarse = ImplicitEulerPropagator(heat_1d(6).ode, TimeGrid.uniform(0.1, 8), substeps=2)
    >>> [(p.num_slices, p.substeps) for p in coarse_levels(coarse, 2, 3)]
    [(8, 2), (4, 2), (2, 2)]
    """
    out: list[Any] = [coarse]
    for l in range(1, count):
        grid = TimeGrid(coarse.grid.times[:: coarsening**l])
        out.append(_like(coarse, grid))
    return out


def _like(propagator: Any, grid: TimeGrid) -> Any:
    """``propagator``'s kind and substeps on ``grid``."""
    if isinstance(propagator, ImplicitEulerPropagator):
        return ImplicitEulerPropagator(propagator.ode, grid, substeps=propagator.substeps)
    if isinstance(propagator, TimeStepper):
        return type(propagator)(propagator.ode, grid, substeps=propagator.substeps)
    raise InputTypeError(
        f"`coarse` must be a TimeStepper or an ImplicitEulerPropagator; got {type(propagator).__name__}."
    )


def level_slices(num_slices: int, coarsening: int, num_levels: int) -> list[int]:
    """``N_l`` of MGRIT on parareal's ``N`` slices with ``M = coarsening`` fine steps each: ``[N M, N, N / M, ...]``.

    Returns
    -------
    list of int
        ``L`` slice counts (integer division: the caller checks divisibility).
    """
    return [num_slices * coarsening] + [num_slices // coarsening**l for l in range(num_levels - 1)]
