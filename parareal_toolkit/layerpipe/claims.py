"""LayerPipe's claims against three readings, for VGG-16 (224 and 32 input), ResNet-18/34/50.

Speedup = PipeDream's period / LayerPipe's period at the same P, free communication
(the abstract counts clock cycles). PipeDream's period is its largest stage load (its
periodic 1F1B order reaches it; tested). Three readings of LayerPipe:

* (a) *faithful*: our placement (``partition``) run as its rate-optimal static periodic
  schedule (``modulo_scheduling``); its period, max(largest load, iteration bound) when
  the status says ``optimal``, is the best any schedule of that placement reaches.
* (b) *every layer the same time*: the abstract's "the computation time of each layer is
  the same" taken literally, for both pipelines: every layer costs total/L, so LayerPipe
  reaches total/P and PipeDream's best stages hold ceil(L/P) layers: ceil(L/P) P / L.
* (c) *utilisation bound*: LayerPipe at total/P on the real costs (no placement of the
  work does better), i.e. 1 / PipeDream's utilisation.

and (d), LayerPipe at total/P against a PipeDream whose stages hold equal numbers of
layers (not equal work), the baseline under which large gains appear. The paper's 1.25
average (over P = 2..16 here) and "upwards of 80%" at P = 7..9 are set against each, with
the reason each is or is not reachable, in words generated from the comparisons.

PipeDream without replication needs P <= L (L = the profile's layers or blocks); beyond
that the row says so. The periodic schedules are exact MILP results: stored as
certificates (:func:`claims_schedules`), they are re-checked constraint by constraint
(:func:`~parareal_toolkit.layerpipe.certified_schedule`) instead of solved again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .asynchronous_schedules import layerpipe_schedule
from .comparison import PAPER_AVERAGE_SPEEDUP, PAPER_PEAK_SPEEDUP
from .costs import CostProfile, network_profile
from .modulo_scheduling import PeriodicSchedule, certified_schedule, periodic_schedule
from .partition import partition_contiguous

__all__ = ["CLAIM_NETWORKS", "CLAIM_PROCESSORS", "claims_rows", "claims_schedules", "claims_tables"]

CLAIM_NETWORKS: tuple[tuple[str, int], ...] = (
    ("vgg16", 224),
    ("vgg16", 32),
    ("resnet18", 224),
    ("resnet34", 224),
    ("resnet50", 224),
)
"""(network, input side) of every row group of the claims table."""
CLAIM_PROCESSORS: tuple[int, ...] = tuple(range(2, 17))
"""The processor counts of the claims table."""
_PEAK = range(7, 10)  # "upwards of 80% with 7 to 9 processors"


def _key(network: str, image_size: int, processors: int) -> str:
    return f"{network}-{image_size}-P{processors}"


def _plan(profile: CostProfile, p: int, stored: Mapping[str, Any] | None, time_limit: float) -> PeriodicSchedule:
    sched = layerpipe_schedule(profile, p, steps=p + 2)
    if stored is not None:
        offset = {(k, int(u), int(part)): float(s) for k, u, part, s in stored["offset"]}
        return certified_schedule(sched, float(stored["period"]), offset)
    return periodic_schedule(sched, time_limit=time_limit)


def _stage_load(profile: CostProfile, stages: Sequence[range]) -> float:
    return max(sum(profile.layers[l].total for l in stage) for stage in stages)


def claims_rows(
    schedules: Mapping[str, Any] | None = None,
    *,
    networks: Sequence[tuple[str, int]] = CLAIM_NETWORKS,
    processors: Sequence[int] = CLAIM_PROCESSORS,
    time_limit: float = 300.0,
) -> list[dict[str, Any]]:
    """One row per (network, input, P): the periods and the speedups (a)-(d) (module docstring).

    ``schedules`` maps :func:`claims_schedules` keys to stored periodic schedules (checked,
    not solved again); the others are solved with MILP solves of at most ``time_limit``
    seconds.

    Returns
    -------
    list of dict
        ``network``, ``image_size``, ``processors``, ``layers``, ``pipedream`` (period),
        ``layerpipe`` (periodic period), ``status``, ``gap``, ``faithful``, ``equal_layers``,
        ``utilisation_bound``, ``equal_count`` (speedups; None where PipeDream needs more
        layers than it has) and ``plan`` (the :class:`~parareal_toolkit.layerpipe.PeriodicSchedule`).
    """
    rows = []
    for network, size in networks:
        profile = network_profile(network, image_size=size)
        n = len(profile)
        ideal_layer = profile.total / n
        for p in processors:
            key = _key(network, size, p)
            plan = _plan(profile, p, None if schedules is None else schedules.get(key), time_limit)
            row: dict[str, Any] = dict(
                key=key,
                network=network,
                image_size=size,
                processors=p,
                layers=n,
                layerpipe=plan.period,
                status=plan.status,
                gap=plan.gap,
                plan=plan,
                pipedream=None,
                faithful=None,
                equal_layers=None,
                utilisation_bound=None,
                equal_count=None,
            )
            if p <= n:
                pipedream = _stage_load(profile, partition_contiguous(profile, p))
                per = math.ceil(n / p)
                count_stages = [range(i, min(i + per, n)) for i in range(0, n, per)]
                row.update(
                    pipedream=pipedream,
                    faithful=pipedream / plan.period,
                    equal_layers=per * ideal_layer / (profile.total / p),
                    utilisation_bound=pipedream / (profile.total / p),
                    equal_count=_stage_load(profile, count_stages) / (profile.total / p),
                )
            rows.append(row)
    return rows


def claims_schedules(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The periodic schedules of ``rows`` as JSON-ready certificates, by key.

    Returns
    -------
    dict
        ``{key: {"period": T, "status": ..., "offset": [[kind, unit, part, start], ...]}}``.
    """
    out = {}
    for row in rows:
        plan = row["plan"]
        out[row["key"]] = {
            "period": plan.period,
            "status": plan.status,
            "offset": [[k, u, part, s] for (k, u, part), s in sorted(plan.offset.items())],
        }
    return out


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _verdict(claim: float, faithful: float, bound: float, equal_layers: float, equal_count: float) -> str:
    """Why ``claim`` is or is not reached, from the four numbers it is compared with."""
    if faithful >= claim:
        return "reached by the faithful placement"
    if bound >= claim:
        return "not reached; possible only with a better-balanced placement (below the utilisation bound)"
    others = [
        name
        for name, v in (("equal-layer reading", equal_layers), ("equal-count PipeDream", equal_count))
        if v >= claim
    ]
    tail = f"; appears only in the {' and the '.join(others)}" if others else ""
    return f"out of reach under any placement: PipeDream's utilisation leaves less{tail}"


def claims_tables(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The claims table and its summary, as :func:`parareal_toolkit.results.results_table` dicts.

    Returns
    -------
    dict
        ``{"speedups": ..., "claims": ...}``: every (network, input, P) with (a)-(d) and the
        periodic schedule's status; per network the mean over P and the largest value at
        P = 7..9 of each reading, set against the paper's 1.25 and 1.8 with the reason.
    """
    from ..results import results_table

    speedups = results_table(
        "LayerPipe over PipeDream (periods in MACs per sample, free communication): (a) faithful placement, "
        "periodic schedule; (b) every layer the same time; (c) utilisation bound, any placement; "
        "(d) total/P against equal-count PipeDream stages",
        ["network", "input", "P", "(a) faithful", "(b) equal layers", "(c) bound", "(d) equal-count", "schedule"],
        [
            [
                r["network"],
                r["image_size"],
                r["processors"],
                _ratio(r["faithful"]),
                _ratio(r["equal_layers"]),
                _ratio(r["utilisation_bound"]),
                _ratio(r["equal_count"]),
                r["status"] if r["gap"] == 0 else f"{r['status']}, gap {r['gap']:.2%}",
            ]
            if r["pipedream"] is not None
            else [
                r["network"],
                r["image_size"],
                r["processors"],
                "n/a",
                "n/a",
                "n/a",
                "n/a",
                f"P > {r['layers']} layers",
            ]
            for r in rows
        ],
    )
    summary = []
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for r in rows:
        if r["pipedream"] is not None:
            groups.setdefault((r["network"], r["image_size"]), []).append(r)
    for (network, size), group in groups.items():
        means = {
            k: sum(r[k] for r in group) / len(group)
            for k in ("faithful", "equal_layers", "utilisation_bound", "equal_count")
        }
        peak = [r for r in group if r["processors"] in _PEAK]
        peaks = {k: max((r[k] for r in peak), default=math.nan) for k in means}
        ps = [r["processors"] for r in group]
        summary.append(
            [
                network,
                size,
                f"{min(ps)}-{max(ps)}",
                f"{means['faithful']:.3f}",
                f"{means['utilisation_bound']:.3f}",
                _verdict(
                    PAPER_AVERAGE_SPEEDUP,
                    means["faithful"],
                    means["utilisation_bound"],
                    means["equal_layers"],
                    means["equal_count"],
                ),
                f"{peaks['faithful']:.3f}" if peak else "n/a",
                f"{peaks['utilisation_bound']:.3f}" if peak else "n/a",
                _verdict(
                    PAPER_PEAK_SPEEDUP,
                    peaks["faithful"],
                    peaks["utilisation_bound"],
                    peaks["equal_layers"],
                    peaks["equal_count"],
                )
                if peak
                else "n/a",
            ]
        )
    claims = results_table(
        f"The paper's {PAPER_AVERAGE_SPEEDUP:.2f} average and {PAPER_PEAK_SPEEDUP:.2f} at P = 7-9 against (a) and (c)",
        [
            "network",
            "input",
            "P",
            "mean (a)",
            "mean (c)",
            f"average {PAPER_AVERAGE_SPEEDUP:.2f}",
            "max (a), P=7-9",
            "max (c), P=7-9",
            f"peak {PAPER_PEAK_SPEEDUP:.2f}",
        ],
        summary,
    )
    return {"speedups": speedups, "claims": claims}
