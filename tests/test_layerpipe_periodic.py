"""The rate-optimal static periodic scheduler: its period against the lower bound, the
simulator against the static schedule, the list scheduler against both, and a graph whose
lower bound is provably out of reach."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layerpipe_checks import assert_feasible

from parareal_toolkit import cli
from parareal_toolkit.layerpipe import (
    PeriodicScheduleInfo,
    Schedule,
    ScheduleInfo,
    Task,
    certified_schedule,
    evaluate,
    iteration_bound,
    layerpipe_schedule,
    network_profile,
    periodic_schedule,
    profile_from_costs,
    simulate,
    simulated_period,
    vgg16_profile,
)


@st.composite
def layer_profiles(draw):
    n = draw(st.integers(2, 6))
    costs = st.lists(st.integers(1, 9), min_size=n, max_size=n)
    forward, activation, weight = draw(costs), draw(costs), draw(costs)
    activation[0] = 0  # no gradient for the input, as in every network profile
    processors = draw(st.integers(1, min(5, 2 * n)))
    latency = draw(st.sampled_from([0.0, 0.5, 2.0]))  # cycles per message between processors
    return profile_from_costs(forward, activation, weight), processors, latency


@settings(max_examples=25, deadline=None)
@given(case=layer_profiles())
def test_period_is_the_lower_bound_or_reports_its_gap_and_the_simulator_confirms_it(case):
    profile, p, latency = case
    sched = layerpipe_schedule(profile, p, steps=12, scheduler="periodic", latency=latency)
    plan = sched.info.periodic
    loads = sched.load()
    steps = sched.microbatches
    assert plan.load_bound == pytest.approx(max(loads) / steps, rel=1e-12)
    assert plan.iteration_bound == pytest.approx(iteration_bound(sched, latency=latency), rel=1e-9)
    assert plan.lower_bound == max(plan.load_bound, plan.iteration_bound)
    if plan.status == "optimal":
        assert plan.period == plan.lower_bound and plan.gap == 0.0
    else:  # the MILP proved the bound infeasible, or ran out of time: the gap says how far
        assert plan.period > plan.lower_bound and plan.gap == plan.period / plan.lower_bound - 1
    trace = simulate(sched, latency=latency)
    assert_feasible(trace)  # an independent check of the static schedule
    assert simulated_period(trace, plan) == pytest.approx(plan.period, rel=1e-9)

    row = evaluate("layerpipe", profile, p, steps=12, latency=latency, scheduler="decide")
    assert row["periodic_cycles"] == pytest.approx(plan.period, rel=1e-9)
    assert row["cycles_per_microbatch"] <= min(row["periodic_cycles"], row["list_cycles"]) * (1 + 1e-9)
    if plan.status == "optimal":  # rate-optimal: no schedule of this placement is faster
        assert row["periodic_cycles"] <= row["list_cycles"] * (1 + 1e-9)
        assert row["scheduler"] == "periodic"


def test_only_a_periodically_scheduled_run_carries_its_plan():
    # the basic Schedule/ScheduleInfo know nothing of periodic scheduling (no import circle)
    profile = profile_from_costs([2, 3, 1], [0, 2, 2], [2, 1, 3])
    listed = layerpipe_schedule(profile, 2, steps=8, scheduler="list")
    periodic = layerpipe_schedule(profile, 2, steps=8, scheduler="periodic")
    assert type(listed.info) is ScheduleInfo and "periodic" not in ScheduleInfo.__dataclass_fields__
    assert isinstance(periodic.info, PeriodicScheduleInfo)
    assert periodic.info.periodic == periodic_schedule(layerpipe_schedule(profile, 2, steps=8))
    assert (periodic.info.placement, periodic.info.staleness) == (listed.info.placement, listed.info.staleness)
    assert not any(key.startswith("periodic") for key in evaluate("layerpipe", profile, 2, scheduler="list"))
    assert evaluate("layerpipe", profile, 2, scheduler="periodic")["periodic_status"] == "optimal"


def _two_processor_loop(steps: int) -> Schedule:
    """X, Y (2 cycles) on processor 0; Z, W (1 cycle) on processor 1; X -> Z -> Y -> W within a
    step, W -> X two steps later. Lower bound 4 (processor 0), iteration bound 3; but
    Y - X must lie in [3, 2T - 3] and, modulo T, in [2, T - 2]: first possible at T = 5."""
    sched = Schedule("loop", 2, steps, priority=lambda t: (t.microbatch, t.kind), asynchronous=True)
    for t in range(steps):
        x, z, y, w = Task("F", 0, t), Task("F", 1, t), Task("A", 0, t), Task("G", 0, t)
        sched.add(x, 2, 0, [(Task("G", 0, t - 2), 0.0)] if t >= 2 else [])
        sched.add(z, 1, 1, [(x, 0.0)])
        sched.add(y, 2, 0, [(z, 0.0)])
        sched.add(w, 1, 1, [(y, 0.0)])
    return sched


def test_milp_proves_the_lower_bound_infeasible_and_bisection_finds_the_true_period():
    sched = _two_processor_loop(10)
    plan = periodic_schedule(sched)
    assert (plan.load_bound, plan.iteration_bound) == (4.0, pytest.approx(3.0))
    assert plan.status == "bisection"
    assert plan.period == 5.0 and plan.infeasible_below == 4.0
    assert plan.gap == pytest.approx(0.25)


def test_milp_reaches_the_bound_where_modulo_list_scheduling_does_not():
    # VGG-16 (32x32 input) on 12 processors: every greedy modulo placement tried leaves a
    # hole, the MILP does not
    plan = layerpipe_schedule(vgg16_profile(image_size=32), 12, steps=14, scheduler="periodic").info.periodic
    assert plan.method == "milp" and plan.status == "optimal"
    assert plan.period == plan.lower_bound


@pytest.mark.slow
def test_resnet50_on_8_processors_no_longer_loses_to_pipedream():
    profile = network_profile("resnet50")
    pipedream = evaluate("pipedream", profile, 8)
    layerpipe = evaluate("layerpipe", profile, 8, scheduler="decide")
    placement_ratio = pipedream["load_bound"] / layerpipe["load_bound"]
    assert placement_ratio > 1  # LayerPipe's placement is better ...
    assert pipedream["cycles_per_microbatch"] / layerpipe["list_cycles"] < 1  # ... list scheduling lost
    assert layerpipe["scheduler"] == "periodic" and layerpipe["periodic_status"] == "optimal"
    speedup = pipedream["cycles_per_microbatch"] / layerpipe["cycles_per_microbatch"]
    assert math.isclose(speedup, placement_ratio, rel_tol=1e-9)  # the whole placement gain


def test_milp_time_limit_falls_back_to_the_heuristic_and_reports_the_gap():
    sched = layerpipe_schedule(vgg16_profile(image_size=32), 4, steps=6)
    plan = periodic_schedule(sched, time_limit=1e-3)  # far too short for this MILP here
    if plan.status == "optimal":  # a machine fast enough to solve it in a millisecond
        assert plan.period == plan.lower_bound
        return
    assert plan.status == "heuristic" and plan.method in ("modulo-list", "sequential")
    assert plan.period > plan.lower_bound and plan.gap > 0
    checked = certified_schedule(sched, plan.period, plan.offset)  # a valid schedule all the same
    assert checked.status == "feasible" and checked.period == plan.period


def test_cli_reports_both_schedulers(tmp_path, capsys):
    out = tmp_path / "rows.json"
    code = cli.main(
        ["layerpipe", "--costs", "2", "0", "2", "3", "2", "1", "1", "2", "3", "--processors", "2", "--json", str(out)]
    )
    assert code == 0
    rows = {r["schedule"]: r for r in json.loads(out.read_text())["rows"]}
    lp = rows["layerpipe"]
    assert lp["scheduler"] == "periodic" and lp["periodic_status"] == "optimal"
    assert lp["cycles_per_microbatch"] == lp["periodic_cycles"] <= lp["list_cycles"]
    assert "periodic optimal" in capsys.readouterr().out
    code = cli.main(["layerpipe", "--costs", "2", "0", "2", "3", "2", "1", "--processors", "2", "--scheduler", "list"])
    assert code == 0 and "list: list" in capsys.readouterr().out
