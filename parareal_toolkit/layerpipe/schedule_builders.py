"""Every schedule by name: :func:`build_schedule` and the lists of names.

Synchronous schedules (``stage_schedules``): ``sequential``, ``gpipe``, ``1f1b``,
``zb-h1``, ``zb-h2``, ``layerpipe-flush``. Asynchronous schedules
(``asynchronous_schedules``): ``pipedream``, ``pipedream-replicated``, ``layerpipe``.
"""

from __future__ import annotations

import inspect
from typing import Any

from .._names import ASYNCHRONOUS_SCHEDULES, SCHEDULE_NAMES, SYNCHRONOUS_SCHEDULES
from .._validation import check_choice, check_instance, check_int
from ..errors import InputTypeError
from .asynchronous_schedules import layerpipe_schedule, pipedream_schedule
from .costs import CostProfile
from .partition import check_processors
from .stage_schedules import synchronous_schedule
from .task_graph import Schedule

__all__ = ["SYNCHRONOUS", "ASYNCHRONOUS", "SCHEDULES", "build_schedule"]

SYNCHRONOUS = SYNCHRONOUS_SCHEDULES
ASYNCHRONOUS = ASYNCHRONOUS_SCHEDULES
SCHEDULES = SCHEDULE_NAMES


def build_schedule(
    name: str,
    profile: CostProfile,
    processors: int,
    *,
    microbatches: int = 8,
    steps: int | None = None,
    **options: Any,
) -> Schedule:
    """Build schedule ``name`` (one of :data:`SCHEDULES`) for ``profile`` on ``processors``.

    Synchronous schedules use ``microbatches`` micro-batches per step; asynchronous ones are
    unrolled over ``steps`` steps (default max(40, 8P)), enough to reach steady state, and
    take the ``options`` of :func:`~parareal_toolkit.layerpipe.pipedream_schedule` or
    :func:`~parareal_toolkit.layerpipe.layerpipe_schedule`.
    Synchronous and PipeDream schedules forbid more processors than layers.

    Returns
    -------
    Schedule
        The task graph with its processors and order (or priority) and its :class:`.ScheduleInfo`.

    Examples
    --------
    >>> from parareal_toolkit.layerpipe import build_schedule, profile_from_costs
    >>> profile = profile_from_costs([1.0] * 8, [1.0] * 8, [1.0] * 8)
    >>> schedule = build_schedule("1f1b", profile, 4, microbatches=8)
    >>> len(schedule.cost)  # 8 micro-batches x 4 stages x (forward, backward)
    64
    """
    name = check_choice(name, "schedule", SCHEDULES)
    check_instance(profile, "profile", CostProfile)
    processors = check_processors(processors)
    microbatches = check_int(microbatches, "microbatches", minimum=1)
    if name in ASYNCHRONOUS:
        steps = check_int(max(40, 8 * processors) if steps is None else steps, "steps", minimum=2)
        builder = layerpipe_schedule if name == "layerpipe" else pipedream_schedule
        taken = sorted(set(inspect.signature(builder).parameters) - {"profile", "processors", "steps", "replicated"})
        if set(options) - set(taken):
            raise InputTypeError(
                f"`options` for {name!r} must be among {taken}; got {sorted(set(options) - set(taken))}."
            )
        if name == "layerpipe":
            return layerpipe_schedule(profile, processors, steps=steps, **options)
        return pipedream_schedule(
            profile, processors, steps=steps, replicated=name == "pipedream-replicated", **options
        )
    if options:
        raise InputTypeError(f"`options` are not taken by the synchronous {name!r}; got {sorted(options)}.")
    return synchronous_schedule(name, profile, processors, microbatches)
