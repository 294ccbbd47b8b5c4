"""The committed runtime-against-simulation results are a complete, self-consistent record:
every synchronous schedule at every rank count, the ratio column equal to measured /
simulated, the simulated column what the simulator gives for the recorded layer costs."""

import json
import math
from pathlib import Path

from parareal_toolkit.layerpipe import Network, build_schedule, profile_from_costs, simulate, with_link_tasks

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "layerpipe_runtime_cpu.json"


def test_runtime_results_are_consistent():
    record = json.loads(RESULTS.read_text())
    for key in ("benchmark", "command", "machine", "date", "tables"):
        assert key in record
    table = record["tables"]["runtime_vs_simulation"]
    assert table["columns"][:6] == [
        "schedule",
        "ranks",
        "microbatches",
        "measured s",
        "simulated s",
        "measured/simulated",
    ]
    assert {(r[0], r[1]) for r in table["rows"]} == {
        (s, str(n)) for s in ("gpipe", "1f1b", "zb-h1", "layerpipe-flush") for n in (2, 4)
    }
    for run, row in zip(record["runs"], table["rows"]):
        assert row[3] == f"{run['measured_s']:.4f}" and row[4] == f"{run['simulated_s']:.4f}"
        assert row[5] == f"{run['measured_s'] / run['simulated_s']:.3f}"
        assert row[7] == f"{run['measured_s'] / run['simulated_with_link_s']:.3f}"
        assert len(run["measured_steps_s"]) == record["timed_steps"]


def test_simulated_column_is_the_simulator_on_the_recorded_costs():
    record = json.loads(RESULTS.read_text())
    f, a, g = zip(*record["layer_costs_s"])
    profile = profile_from_costs(f, a, g, unit="s", sizes=record["boundary_elements"])
    for run in record["runs"]:
        sched = build_schedule(run["schedule"], profile, run["ranks"], microbatches=run["microbatches"])
        assert math.isclose(simulate(sched).makespan, run["simulated_s"], rel_tol=1e-12)
        link = run["link"]
        gloo = Network(bandwidth=link["bytes_per_s"], latency=link["latency_s"], bytes_per_element=4)
        with_link = simulate(with_link_tasks(sched, gloo)[0]).makespan
        assert math.isclose(with_link, run["simulated_with_link_s"], rel_tol=1e-12)
        assert with_link >= run["simulated_s"] * (1 - 1e-12)  # a link never makes it faster (fixed orders)
