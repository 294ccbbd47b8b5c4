"""MGRIT's level hierarchy for an ODE: one propagator per level on the fine grid coarsened by ``m`` per level.

Level ``l`` steps across the grid ``times[::m**l]`` of the fine grid, one step per slice, so
its step is ``h m^l`` on a uniform grid; :func:`~parareal_toolkit.mgrit` runs on the list.
:func:`parareal_pair` turns the same hierarchy into parareal's fine and coarse propagators
(``m`` fine steps per coarse interval, and level 1), so parareal and two-level MGRIT run on
one discretisation and agree iterate by iterate.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from .._names import HIERARCHY_STEPPERS, STEPPER_CLASSES
from .._validation import check_choice, check_int
from ..errors import InputError, InputTypeError
from ..mgrit_driver import ComposedPropagator
from ..propagator import Propagator, TimeGrid, check_propagator
from .exact import ExactPropagator
from .implicit_euler import ImplicitEulerPropagator
from .linear import LinearProblem
from .steppers import TimeStepper

__all__ = ["time_hierarchy", "parareal_pair", "HIERARCHY_STEPPERS"]


def time_hierarchy(
    problem: Any,
    steps: int | TimeGrid,
    *,
    coarsening: int,
    num_levels: int,
    steppers: str | Sequence[str] = "implicit-euler",
) -> list[Propagator]:
    """The ``num_levels`` propagators of MGRIT for ``problem``: level ``l`` takes one step per slice of ``times[::m**l]``.

    ``levels[0]`` has ``N_0`` slices (one fine step each) and ``levels[l]`` has
    ``N_0 / m^l``; each level's step spans ``m`` steps of the level below, as
    :func:`~parareal_toolkit.mgrit` requires.

    Parameters
    ----------
    problem : LinearProblem or NonlinearProblem
        The equation (``problem.ode``) and the interval ``[0, problem.t_final]``.
    steps : int or TimeGrid
        ``N_0``, the fine steps of a uniform grid on ``[0, t_final]``, or the fine grid
        itself (non-uniform grids work: every level takes every ``m``-th boundary).
    coarsening : int
        ``m >= 2``.
    num_levels : int
        ``L >= 2``; ``N_0`` must be divisible by ``m^(L-1)``.
    steppers : str or sequence of str
        One name of :data:`HIERARCHY_STEPPERS` for every level, or one per level (fine
        first). For a :class:`~parareal_toolkit.ode.LinearProblem`, ``"implicit-euler"`` is
        :class:`~parareal_toolkit.ode.ImplicitEulerPropagator` (a factorised solve instead of
        Newton: the same step map) and ``"exact"`` is
        :class:`~parareal_toolkit.ode.ExactPropagator`; ``"exact"`` needs a linear problem.

    Returns
    -------
    list of Propagator
        ``L`` propagators, the fine one first.

    Raises
    ------
    InputError
        For ``N_0`` not divisible by ``m^(L-1)``, an unknown stepper name, ``"exact"`` for a
        nonlinear problem or a wrong number of names, naming the argument.

    Examples
    --------
    >>> from parareal_toolkit.ode import heat_1d, time_hierarchy
    >>> levels = time_hierarchy(heat_1d(8), 32, coarsening=4, num_levels=3, steppers=["exact", "implicit-euler"] + ["implicit-euler"])
    >>> [type(p).__name__ for p in levels], [p.num_slices for p in levels]
    (['ExactPropagator', 'ImplicitEulerPropagator', 'ImplicitEulerPropagator'], [32, 8, 2])
    >>> time_hierarchy(heat_1d(8), 30, coarsening=4, num_levels=2)
    Traceback (most recent call last):
        ...
    parareal_toolkit.errors.InputError: `steps` must be divisible by coarsening ** (num_levels - 1) = 4 for 2 levels; got N_0 = 30.
    """
    m = check_int(coarsening, "coarsening", minimum=2)
    levels = check_int(num_levels, "num_levels", minimum=2)
    ode = getattr(problem, "ode", None)
    if ode is None or not hasattr(problem, "t_final"):
        raise InputTypeError(f"`problem` must be a LinearProblem or NonlinearProblem; got {type(problem).__name__}.")
    if isinstance(steps, TimeGrid):
        times = steps.times
    else:
        times = TimeGrid.uniform(problem.t_final, check_int(steps, "steps", minimum=1)).times
    n0 = len(times) - 1
    factor = 1
    for _ in range(levels - 1):  # m ** (L - 1), stopped once it exceeds N_0 (a huge L would not finish)
        factor *= m
        if factor > n0:
            raise InputError(
                f"`steps` must be divisible by coarsening ** (num_levels - 1) for {levels} levels, which exceeds "
                f"N_0 = {n0} (coarsening = {m}); use fewer levels or more steps."
            )
    if n0 % factor:
        raise InputError(
            f"`steps` must be divisible by coarsening ** (num_levels - 1) = {factor} for {levels} levels; got N_0 = {n0}."
        )
    if not isinstance(steppers, (str, Sequence)):
        raise InputTypeError(f"`steppers` must be a stepper name or a sequence of names; got {steppers!r}.")
    names = [steppers] * levels if isinstance(steppers, str) else list(steppers)
    if len(names) != levels:
        raise InputError(f"`steppers` must hold one name per level ({levels}); got {len(names)}.")
    linear = isinstance(problem, LinearProblem)
    out: list[Propagator] = []
    for l, name in enumerate(names):
        check_choice(name, f"steppers[{l}]", HIERARCHY_STEPPERS)
        grid = TimeGrid(times[:: m**l])
        if name == "exact":
            if not linear:
                raise InputError(f"`steppers[{l}]` = 'exact' needs a LinearProblem; got {type(problem).__name__}.")
            out.append(ExactPropagator(ode, grid))
        elif name == "implicit-euler" and linear:
            out.append(ImplicitEulerPropagator(ode, grid))
        else:
            out.append(_stepper(name)(ode, grid))
    return out


def _stepper(name: str) -> type[TimeStepper]:
    module_name, class_name = STEPPER_CLASSES[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def parareal_pair(levels: Sequence[Propagator], coarsening: int) -> tuple[ComposedPropagator, Propagator]:
    """Parareal's fine and coarse propagators on MGRIT's discretisation: ``m`` fine steps per slice, and level 1.

    ``parareal(*parareal_pair(levels, m), u0)`` and ``mgrit(levels[:2], u0, coarsening=m)``
    (F-relaxation) compute the same iterates, bit for bit.

    Parameters
    ----------
    levels : sequence of Propagator
        At least two levels (:func:`time_hierarchy`); only the first two are used.
    coarsening : int
        ``m``: ``levels[0].num_slices == m * levels[1].num_slices``.

    Returns
    -------
    tuple
        ``(ComposedPropagator(levels[0], m), levels[1])``.

    Examples
    --------
    >>> import numpy as np
    >>> from parareal_toolkit import mgrit, parareal
    >>> from parareal_toolkit.ode import heat_1d, parareal_pair, time_hierarchy
    >>> problem = heat_1d(10)
    >>> levels = time_hierarchy(problem, 24, coarsening=3, num_levels=2)
    >>> fine, coarse = parareal_pair(levels, 3)
    >>> a = parareal(fine, coarse, problem.u0, iterations=3)
    >>> b = mgrit(levels, problem.u0, coarsening=3, iterations=3)
    >>> all(np.array_equal(x, y) for x, y in zip(a.states, b.states))
    True
    """
    coarsening = check_int(coarsening, "coarsening", minimum=1)  # `factor` of the ComposedPropagator
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence):
        raise InputTypeError(f"`levels` must be a sequence of at least 2 propagators; got {type(levels).__name__}.")
    if len(levels) < 2:
        raise InputError(f"`levels` must be a sequence of at least 2 propagators; got {len(levels)}.")
    n0 = check_propagator(levels[0], "levels[0]")
    if n0 % coarsening:
        raise InputError(f"`coarsening` must divide levels[0].num_slices = {n0}; got {coarsening}.")
    fine = ComposedPropagator(levels[0], coarsening)
    check_propagator(levels[1], "levels[1]")
    if fine.num_slices != levels[1].num_slices:
        raise InputError(
            f"`levels` must shrink by `coarsening` = {fine.factor}: levels[0].num_slices / {fine.factor} = "
            f"{fine.num_slices}, levels[1].num_slices = {levels[1].num_slices}."
        )
    return fine, levels[1]
