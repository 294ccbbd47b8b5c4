"""The claims table: the committed JSON is what the code computes now (from the stored
periodic schedules, each re-checked constraint by constraint), its readings are ordered
as they must be, and a stored schedule that does not hold is refused."""

import json
from pathlib import Path

import pytest

from parareal_toolkit.layerpipe import (
    certified_schedule,
    claims_rows,
    claims_tables,
    layerpipe_schedule,
    periodic_schedule,
    profile_from_costs,
)

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


@pytest.mark.slow
def test_committed_claims_table_equals_what_the_code_computes():
    stored = json.loads((RESULTS.parent / "certificates" / "layerpipe_claims_schedules.json").read_text())["schedules"]
    committed = json.loads((RESULTS / "layerpipe_claims.json").read_text())
    rows = claims_rows(stored)
    assert claims_tables(rows) == committed["tables"]
    assert len(rows) == 75
    for row in rows:
        plan = row["plan"]
        if row["status"] == "optimal":
            assert plan.period == max(plan.load_bound, plan.iteration_bound)
        if row["pipedream"] is not None:
            # no placement beats the work bound: (a) <= (c) <= (d)
            assert row["faithful"] <= row["utilisation_bound"] * (1 + 1e-12)
            assert row["utilisation_bound"] <= row["equal_count"] * (1 + 1e-12)


def test_a_stored_schedule_that_does_not_hold_is_refused():
    sched = layerpipe_schedule(profile_from_costs([2, 3, 1], [0, 2, 2], [2, 1, 3]), 2, steps=6)
    plan = periodic_schedule(sched)
    again = certified_schedule(sched, plan.period, plan.offset)
    assert again.status == "optimal" and again.period == plan.period
    with pytest.raises(ValueError, match="period"):
        certified_schedule(sched, 0.9 * plan.period, plan.offset)
    moved = dict(plan.offset)
    moved[("F", 1, 0)] -= 0.5
    with pytest.raises(ValueError, match="dependence|overlap"):
        certified_schedule(sched, plan.period, moved)
