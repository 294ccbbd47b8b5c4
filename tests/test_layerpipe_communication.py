"""Communication that costs time: free links give the free-communication results, time only
grows as bandwidth shrinks, the ring all-reduce costs what the formula says, and the
committed bandwidth benchmark is what the code computes now."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layerpipe_checks import assert_feasible

from parareal_toolkit.layerpipe import build_schedule, evaluate, profile_from_costs
from parareal_toolkit.layerpipe.communication import (
    Network,
    charge_allreduce,
    evaluate_on_network,
    timed_profile,
    with_link_tasks,
)

ROOT = Path(__file__).resolve().parents[1]

layer_costs = st.lists(
    st.tuples(st.integers(1, 9), st.integers(0, 9), st.integers(1, 9), st.integers(1, 50)), min_size=3, max_size=7
)


def _profile(costs):
    f, a, g, sizes = zip(*costs)
    return profile_from_costs(f, a, g, sizes=sizes)


@settings(max_examples=15, deadline=None)
@given(costs=layer_costs, p=st.integers(2, 3), name=st.sampled_from(["pipedream", "pipedream-replicated", "layerpipe"]))
def test_free_network_equals_free_communication(costs, p, name):
    prof = _profile(costs)
    p = min(p, len(prof))
    # on a network LayerPipe is list-scheduled (the periodic MILP knows no links)
    free = evaluate(name, prof, p, scheduler="list")["cycles_per_microbatch"]
    row = evaluate_on_network(name, prof, p, Network(), samples=1, macs_per_second=1)
    assert row["seconds_per_microbatch"] == free
    assert row["compute_seconds_per_microbatch"] == free
    assert row["allreduce_seconds"] == 0.0


@pytest.mark.slow
def test_free_network_scales_vgg16_cycles_to_seconds():
    from parareal_toolkit.layerpipe import vgg16_profile

    prof = vgg16_profile()
    for name in ("pipedream", "layerpipe", "1f1b"):
        cycles = evaluate(name, prof, 4, microbatches=4, scheduler="list")["cycles_per_microbatch"]
        # 32 samples at 2**40 MAC/s: a power-of-two scaling of every cost; the period is
        # measured from differences of sums of those costs, so equal up to rounding
        row = evaluate_on_network(name, prof, 4, Network(), samples=32, macs_per_second=2.0**40, microbatches=4)
        assert math.isclose(row["seconds_per_microbatch"], cycles * 32 / 2.0**40, rel_tol=1e-12)


@settings(max_examples=12, deadline=None)
@given(
    costs=layer_costs,
    p=st.integers(2, 3),
    name=st.sampled_from(["pipedream", "gpipe", "1f1b", "zb-h1"]),
    slow=st.floats(0.05, 20.0),
    factor=st.floats(1.5, 50.0),
    latency=st.sampled_from([0.0, 0.5]),
)
def test_time_never_grows_with_bandwidth_under_a_fixed_order(costs, p, name, slow, factor, latency):
    # a fixed processor order makes every start time a max-plus expression of the costs and
    # transfer times, hence monotone in them
    prof = _profile(costs)
    p = min(p, len(prof))
    times = [
        evaluate_on_network(name, prof, p, Network(bw, latency, 1), samples=1, macs_per_second=1)[
            "seconds_per_microbatch"
        ]
        for bw in (slow, slow * factor, math.inf)
    ]
    assert times[0] >= times[1] - 1e-9 * times[1]
    assert times[1] >= times[2] - 1e-9 * times[2]


def test_layerpipe_list_schedule_can_run_faster_on_slower_links():
    # Graham's anomaly of list scheduling: a late message changes which task an idle
    # processor picks, and here that order is better than the one free communication gives
    prof = profile_from_costs(
        [7, 9, 3, 7, 7, 4, 8], [4, 5, 2, 4, 9, 4, 2], [2, 6, 6, 3, 5, 5, 5], sizes=[23, 25, 18, 37, 30, 1, 10]
    )
    period = {
        bw: evaluate_on_network(
            "layerpipe", prof, 2, Network(bw, 0.0, 1), samples=1, macs_per_second=1, contention=False
        )["seconds_per_microbatch"]
        for bw in (4.0, 8.0, math.inf)
    }
    assert period[4.0] == 55.0 < period[math.inf] == 57.0 < period[8.0]


@pytest.mark.slow
def test_committed_sweep_is_monotone_in_bandwidth():
    record = json.loads((ROOT / "benchmarks" / "results" / "layerpipe_bandwidth.json").read_text())
    for p in {r["processors"] for r in record["runs"]}:
        for name in {r["schedule"] for r in record["runs"]}:
            runs = [r for r in record["runs"] if r["processors"] == p and r["schedule"] == name and r["contention"]]
            by_speed = sorted(runs, key=lambda r: math.inf if r["gbps"] is None else r["gbps"])
            times = [r["seconds_per_microbatch"] for r in by_speed]
            # equal times (the network stops mattering) differ by rounding only
            assert all(a >= b * (1 - 1e-12) for a, b in zip(times, times[1:])), (p, name)


def test_ring_allreduce_formula_by_hand():
    # 100 float32 weights = 400 bytes among 4 replicas over 100 B/s links, 1 s per message:
    # reduce-scatter + all-gather send 2 * 3 / 4 * 400 = 600 bytes (6 s) in 6 messages (6 s)
    net = Network(bandwidth=100.0, latency=1.0, bytes_per_element=4)
    assert net.allreduce_time(100, 4) == 12.0
    assert net.allreduce_time(100, 1) == 0.0
    assert net.allreduce_time(100, 2) == 2 * 1 / 2 * 400 / 100 + 2 * 1.0
    assert Network.from_gigabits(8).bandwidth == 1e9
    assert Network().allreduce_time(1e9, 8) == 0.0


def test_allreduce_is_charged_to_every_backward_of_a_replicated_stage():
    # one heavy layer: the replicated plan copies it onto both processors
    prof = profile_from_costs([1, 8], [1, 8], [1, 8], sizes=[3, 10])
    net = Network(bandwidth=2.0, latency=0.5, bytes_per_element=1)
    plain = build_schedule("pipedream-replicated", prof, 3, steps=8)
    charged = charge_allreduce(build_schedule("pipedream-replicated", prof, 3, steps=8), prof, net)
    stages, reps = charged.info.stages, charged.info.replicas
    assert reps is not None and max(reps) > 1
    for task, cost in charged.cost.items():
        start, stop = stages[task.unit]
        weights = sum(prof.layers[l].weight_size for l in range(start, stop))
        extra = net.allreduce_time(weights, reps[task.unit]) if task.kind == "B" else 0.0
        assert cost == plain.cost[task] + extra
    assert charged.info.load_bound > plain.info.load_bound


def test_timed_profile_scales_work_and_activations_not_weights():
    prof = profile_from_costs([2, 4], [0, 4], [2, 4], update=[1, 1], sizes=[5, 7])
    timed = timed_profile(prof, samples=8, macs_per_second=2)
    assert timed.unit == "s"
    assert [l.forward for l in timed.layers] == [8.0, 16.0]
    assert [l.update for l in timed.layers] == [0.5, 0.5]
    assert [l.activation_size for l in timed.layers] == [40.0, 56.0]
    assert [l.weight_size for l in timed.layers] == [5.0, 7.0]


def test_slow_links_are_feasible_and_cost_time():
    prof = _profile([(3, 2, 3, 40), (5, 5, 5, 10), (4, 4, 2, 30), (2, 2, 2, 5)])
    for name in ("pipedream", "layerpipe", "zb-h1"):
        row, trace = evaluate_on_network(
            name, prof, 3, Network(4.0, 0.25, 1), samples=1, macs_per_second=1, return_trace=True
        )
        assert_feasible(trace)
        assert row["seconds_per_microbatch"] >= row["compute_seconds_per_microbatch"]


def _bandwidth_benchmark():
    spec = importlib.util.spec_from_file_location("layerpipe_bandwidth", ROOT / "benchmarks" / "layerpipe_bandwidth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_committed_bandwidth_results_equal_the_code_now():
    committed = json.loads((ROOT / "benchmarks" / "results" / "layerpipe_bandwidth.json").read_text())
    fresh = json.loads(json.dumps(_bandwidth_benchmark().simulate_all()))
    assert committed["command"] == "python benchmarks/layerpipe_bandwidth.py"
    for key in ("setup", "tables", "runs"):
        assert committed[key] == fresh[key], key


def test_cli_bandwidth_prints_and_writes_the_simulated_seconds(tmp_path, capsys):
    from parareal_toolkit import cli

    costs = ["3", "0", "3", "5", "5", "5", "4", "4", "2", "2", "2", "2"]
    argv = ["layerpipe", "--costs", *costs, "--processors", "2", "--schedules", "pipedream", "layerpipe"]
    argv += ["--bandwidth", "0.000001", "--link-latency", "2", "--samples", "4", "--tmacs", "1e-12"]
    assert cli.main([*argv, "--json", str(tmp_path / "r.json"), "--gantt", str(tmp_path / "g.png")]) == 0
    out = capsys.readouterr().out
    assert "1e-06 Gb/s links, 2 us per message" in out
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    prof = profile_from_costs([3, 5, 4, 2], [0, 5, 4, 2], [3, 5, 2, 2])
    net = Network.from_gigabits(1e-6, latency_us=2)
    for row in rows:
        expected = evaluate_on_network(row["schedule"], prof, 2, net, samples=4, macs_per_second=1.0)
        assert row["seconds_per_microbatch"] == expected["seconds_per_microbatch"]
        assert row["seconds_per_microbatch"] >= row["compute_seconds_per_microbatch"]
    assert (tmp_path / "g.png").stat().st_size > 1000


def test_messages_on_one_link_queue_by_hand():
    # GPipe on 2 stages, 2 micro-batches, forward 1 s per stage; each activation takes
    # 10 s on the link 0 -> 1: unqueued both arrive 10 s after they leave (at 11 and 12),
    # queued the second waits for the first (11, then 21)
    prof = profile_from_costs([1, 1], [1, 1], [1, 1], sizes=[10, 1])
    net = Network(bandwidth=1.0, latency=0.0, bytes_per_element=1)
    sched = build_schedule("gpipe", prof, 2, microbatches=2)
    from parareal_toolkit.layerpipe import Task, simulate

    unqueued = simulate(sched, latency=0.0, bandwidth=net.elements_per_second)
    queued_sched, links = with_link_tasks(sched, net)
    queued = simulate(queued_sched)
    assert links == [(0, 1), (1, 0)]
    assert [unqueued.start[Task("F", 1, i)] for i in (0, 1)] == [11.0, 12.0]
    assert [queued.start[Task("F", 1, i)] for i in (0, 1)] == [11.0, 21.0]
    assert_feasible(queued)


@settings(max_examples=10, deadline=None)
@given(
    costs=layer_costs,
    p=st.integers(2, 3),
    name=st.sampled_from(["pipedream", "layerpipe", "1f1b", "zb-h1"]),
    bandwidth=st.floats(0.5, 20.0),
    latency=st.sampled_from([0.0, 0.5]),
)
def test_queued_links_bound_the_period_by_the_busiest_link(costs, p, name, bandwidth, latency):
    prof = _profile(costs)
    p = min(p, len(prof))
    net = Network(bandwidth, latency, 1)
    queued, trace = evaluate_on_network(name, prof, p, net, samples=1, macs_per_second=1, return_trace=True)
    sched = build_schedule(name, prof, p, steps=trace.schedule.microbatches, microbatches=8)
    # the messages a link carries: of the whole step (synchronous), or of one steady-state
    # step (asynchronous: the last step has every edge, and no processor changes per step)
    last = sched.microbatches - 1
    busiest: dict[tuple[int, int], float] = {}
    for task, deps in sched.deps.items():
        if sched.asynchronous and task.microbatch != last:
            continue
        for dep in deps:
            a, b = sched.processor[dep.task], sched.processor[task]
            if a != b:
                busiest[(a, b)] = busiest.get((a, b), 0.0) + net.transfer_time(dep.volume)
    per_step = max(busiest.values(), default=0.0) / (1 if sched.asynchronous else sched.microbatches)
    assert queued["seconds_per_microbatch"] >= per_step * (1 - 1e-9)
    if name != "layerpipe":  # fixed orders: queueing never helps
        unqueued = evaluate_on_network(name, prof, p, net, samples=1, macs_per_second=1, contention=False)
        assert queued["seconds_per_microbatch"] >= unqueued["seconds_per_microbatch"] * (1 - 1e-12)
