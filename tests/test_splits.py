"""Balanced splits of Parareal ResNet-N: the min-max partition, the multiply-add counts, the cost plans."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from parareal_toolkit.nn import (
    balanced_partition,
    parareal_resnet,
    parareal_resnet_plan,
    parareal_resnet_table,
    resnet_unit_specs,
    unit_multiply_adds,
)
from parareal_toolkit.nn.parareal_resnets import stage_unit_specs


def _exhaustive_optimum(costs: list[float], n: int) -> float:
    """The smallest largest part over every contiguous partition into n non-empty parts."""
    best = math.inf
    for cuts in itertools.combinations(range(1, len(costs)), n - 1):
        bounds = [0, *cuts, len(costs)]
        best = min(best, max(math.fsum(costs[a:b]) for a, b in zip(bounds, bounds[1:])))
    return best


costs_strategy = st.lists(
    st.one_of(
        st.integers(0, 6).map(float),
        st.floats(0, 10, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=300, deadline=None)
@given(costs=costs_strategy, data=st.data())
def test_balanced_partition_is_a_contiguous_min_max_partition(costs, data):
    n = data.draw(st.integers(1, len(costs)))
    parts = balanced_partition(costs, n)
    assert len(parts) == n
    assert parts[0].start == 0 and parts[-1].stop == len(costs)
    assert all(len(p) > 0 for p in parts)
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
    largest = max(math.fsum(costs[p.start : p.stop]) for p in parts)
    optimum = _exhaustive_optimum(costs, n)
    assert largest <= optimum * (1 + 1e-9) + 1e-12


@settings(max_examples=100, deadline=None)
@given(
    runs=st.lists(st.tuples(st.integers(1, 9).map(float), st.integers(1, 4)), min_size=1, max_size=4),
    data=st.data(),
)
def test_runs_of_equal_costs_split_like_the_flat_list(runs, data):
    """The plan works on runs of equal units: a long run must split as its unrolled list does."""
    costs = [cost for cost, count in runs for _ in range(count)]
    n = data.draw(st.integers(1, len(costs)))
    parts = balanced_partition(costs, n)
    largest = max(sum(costs[p.start : p.stop]) for p in parts)
    assert largest == pytest.approx(_exhaustive_optimum(costs, n), rel=1e-9)


def test_balanced_partition_examples_and_refusals():
    assert balanced_partition([4, 1, 1, 1, 1, 4], 3) == [range(1), range(1, 5), range(5, 6)]
    assert balanced_partition([0, 0, 0], 3) == [range(1), range(1, 2), range(2, 3)]
    with pytest.raises(ValueError, match="num_parts"):
        balanced_partition([1, 2], 3)
    with pytest.raises(ValueError, match="nonnegative"):
        balanced_partition([1, -2], 1)
    with pytest.raises(ValueError, match="costs"):
        balanced_partition([1, float("nan")], 1)


@pytest.mark.parametrize("spec", sorted({*resnet_unit_specs(20)}, key=str))
def test_multiply_adds_equal_torch_flop_counter(spec):
    unit = spec.build(None)
    x = torch.zeros(2, spec.in_channels, spec.resolution, spec.resolution)
    with FlopCounterMode(display=False) as counter:
        unit(x)
    assert counter.get_total_flops() == 2 * 2 * unit_multiply_adds(spec)  # batch 2, a multiply-add is 2 flops


def test_every_plain_unit_costs_the_same_multiply_adds():
    assert len({unit_multiply_adds(plain) for _, plain in stage_unit_specs(1001)}) == 1


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9])
def test_cost_plan_is_the_min_max_partition_of_its_unit_costs(n):
    price = {32: 3.0, 16: 2.0, 8: 1.0}

    def costs(spec):
        return price[spec.resolution] + (0.5 if spec.changes_shape else 0.0)

    plan = parareal_resnet_plan(29, num_subnetworks=n, split="cost", unit_costs=costs)
    flat = [costs(spec) for spec in plan.units]
    assert list(plan.ranges) == balanced_partition(flat, n)
    assert max(plan.subnetwork_costs) == pytest.approx(_exhaustive_optimum(flat, n), rel=1e-12)
    assert plan.split == "cost" and plan.bound == plan.cost_bound
    # the same split, counted without building (table) and built (network)
    network = parareal_resnet(29, num_subnetworks=n, split="cost", unit_costs=costs)
    row = parareal_resnet_table(29, (n,), split="cost", unit_costs=costs)[1]
    assert row["parameters"] == sum(p.numel() for p in network.parameters())
    assert network.plan.ranges == plan.ranges


def test_cost_split_by_multiply_adds_balances_resnet1001_within_10_percent():
    for n in (3, 6, 12, 18, 24):
        cost = parareal_resnet_plan(1001, num_subnetworks=n, split="cost")
        units = parareal_resnet_plan(1001, num_subnetworks=n)
        assert cost.cost_imbalance <= 1.10
        assert max(cost.subnetwork_costs) <= max(units.subnetwork_costs)
        assert sum(len(r) for r in cost.ranges) == 333


def test_units_split_is_unchanged_and_its_bound_is_the_unit_count_bound():
    plan = parareal_resnet_plan(1001, num_subnetworks=18)
    assert plan.split == "units" and plan.units_per_subnetwork == [19] * 17 + [10]
    assert plan.bound == plan.unit_count_bound == pytest.approx(9.25)


def test_cost_split_refuses_a_cost_it_cannot_use():
    with pytest.raises(ValueError, match="unit_costs"):
        parareal_resnet_plan(20, num_subnetworks=2, split="cost", unit_costs={})
    with pytest.raises(ValueError, match="unit_costs"):
        parareal_resnet_plan(20, num_subnetworks=2, split="cost", unit_costs=lambda spec: -1.0)
    with pytest.raises(TypeError, match="unit_costs"):
        parareal_resnet_plan(20, num_subnetworks=2, split="cost", unit_costs=3)
    with pytest.raises(ValueError, match="split"):
        parareal_resnet_plan(20, num_subnetworks=2, split="memory")
    with pytest.raises(ValueError, match="num_subnetworks"):
        parareal_resnet_plan(20, num_subnetworks=7, split="cost")


def test_table2_reports_split_cost_balance_and_activation_memory():
    from parareal_toolkit.bench import table2
    from parareal_toolkit.bench.memory import saved_tensor_bytes

    table = table2([3], depth=20, batch_size=2, repeats=1, warmup=0, split="cost", cost_model="macs", clock="process")
    reference, row = table.rows
    assert row.split == "cost" and table.settings["cost_model"] == "macs"
    plan = parareal_resnet_plan(20, num_subnetworks=3, split="cost")
    assert row.bound == pytest.approx(plan.cost_bound) and row.cost_imbalance == pytest.approx(plan.cost_imbalance)
    assert list(row.subnetwork_units) == plan.units_per_subnetwork
    # device 1 of N = 1 holds the whole trunk: what the sequential network saves for backward
    sequential = parareal_resnet(20, num_subnetworks=1)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    trunk = saved_tensor_bytes(lambda: sequential.subnetworks[0](sequential.preprocess[0](x)), exclude=sequential)
    assert reference.activation_bytes == (trunk,)
    assert 1 / 3 <= table.memory_per_device(row) < 1
    assert table.as_dict()["rows"][1]["memory_per_device"] == table.memory_per_device(row)


def test_measured_unit_costs_cover_every_shape_a_plan_needs():
    from parareal_toolkit.bench.unit_costs import measure_unit_costs

    costs = measure_unit_costs(20, batch_size=1, repeats=1, warmup=0, clock="process")
    assert len(costs) == 6 and all(seconds > 0 for seconds in costs.values())
    for n in (2, 3, 5):
        plan = parareal_resnet_plan(20, num_subnetworks=n, split="cost", unit_costs=costs)
        assert plan.cost_imbalance >= 1 and sum(plan.units_per_subnetwork) == 6


def test_models_and_bench_commands_take_the_split(capsys, tmp_path):
    import json

    from parareal_toolkit.cli import main

    assert main(["models", "--depth", "1001", "-N", "3", "--split", "cost", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[1]["units_per_subnetwork"] == parareal_resnet_table(1001, (3,), split="cost")[1]["units_per_subnetwork"]
    assert main(["models", "--depth", "1001", "-N", "3", "--split", "cost"]) == 0
    assert "units split by multiply-adds" in capsys.readouterr().out

    out = tmp_path / "bench.json"
    code = main(
        ["bench", "--depth", "20", "-N", "2", "--batch-size", "1", "--repeats", "1", "--warmup", "0",
         "--device", "cpu", "--clock", "process", "--split", "cost", "--unit-cost", "macs", "--json", str(out)]
    )  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert report["split"] == "cost" and report["cost_model"] == "macs"
    plan = parareal_resnet_plan(20, num_subnetworks=2, split="cost")
    assert report["rows"][1]["subnetwork_units"] == plan.units_per_subnetwork
    assert report["rows"][1]["bound"] == pytest.approx(plan.cost_bound)
    assert "max/mean cost" in capsys.readouterr().out


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda shapes: st.tuples(
            st.lists(st.floats(0, 10, allow_nan=False), min_size=shapes, max_size=shapes),
            st.lists(st.lists(st.integers(0, 5), min_size=shapes, max_size=shapes), min_size=shapes, max_size=12),
        )
    )
)
def test_fit_unit_costs_recovers_known_costs_from_exact_part_times(data):
    import numpy as np

    from parareal_toolkit.bench.unit_costs import fit_unit_costs

    costs, counts = data
    matrix = np.array(counts, dtype=float)
    # identity rows make the matrix full rank whatever hypothesis drew
    matrix = np.vstack([matrix, np.eye(len(costs))])
    times = matrix @ np.array(costs)
    fitted = fit_unit_costs(matrix.tolist(), times.tolist())
    assert fitted == pytest.approx(costs, abs=1e-9 * (1 + max(costs)))


def test_fit_unit_costs_is_the_least_squares_fit_of_noisy_times():
    import numpy as np

    from parareal_toolkit.bench.unit_costs import fit_unit_costs

    counts = np.array([[1, 2], [0, 3], [0, 1], [2, 0]], dtype=float)
    times = counts @ np.array([1.0, 2.0]) + np.array([0.1, -0.2, 0.05, 0.3])
    expected, *_ = np.linalg.lstsq(counts, times, rcond=None)  # positive here, so NNLS agrees
    assert (expected > 0).all()
    assert fit_unit_costs(counts, times) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("depth", [11, 20])
def test_in_context_unit_costs_determine_every_shape_at_any_depth(depth):
    from parareal_toolkit.bench.unit_costs import _context_parts, measure_unit_costs

    shapes = {spec for pair in stage_unit_specs(depth) for spec in pair}
    parts = _context_parts(depth)
    # the parts hold the trunk in order, then any shape the trunk lacks (depth 11: the plain ones)
    trunk = [spec for part in parts for spec in part][: len(resnet_unit_specs(depth))]
    assert trunk == resnet_unit_specs(depth)
    assert {spec for part in parts for spec in part} == shapes
    costs = measure_unit_costs(depth, batch_size=1, repeats=1, warmup=0, clock="process", method="context")
    assert set(costs) == shapes and all(math.isfinite(c) and c >= 0 for c in costs.values())
    assert math.fsum(costs.values()) > 0


def _exhaustive_virtual_optimum(costs: list[float], n: int, coarse) -> float:
    """The smallest max c(B_j) + sum_{j >= 2} F(B_j) over every contiguous partition into n parts."""
    best = math.inf
    for cuts in itertools.combinations(range(1, len(costs)), n - 1):
        bounds = [0, *cuts, len(costs)]
        blocks = list(zip(bounds, bounds[1:]))
        value = max(math.fsum(costs[a:b]) for a, b in blocks) + math.fsum(coarse(a, b) for a, b in blocks[1:])
        best = min(best, value)
    return best


@settings(max_examples=300, deadline=None)
@given(
    costs_strategy,
    st.integers(1, 10),
    st.lists(st.floats(0, 5, allow_nan=False), min_size=3, max_size=3),
)
def test_virtual_time_partition_is_optimal_against_exhaustive_search(costs, n, weights):
    from parareal_toolkit.nn import virtual_time_partition

    n = min(n, len(costs))
    fixed, per_layer, per_cost = weights

    def coarse(a, b):
        # like a coarse network: a fixed part, a part per layer and a part that follows the block's cost
        return fixed + per_layer * (b - a) + per_cost * math.fsum(costs[a:b])

    ranges = virtual_time_partition(costs, n, coarse)
    assert len(ranges) == n and all(len(r) > 0 for r in ranges)
    assert [i for r in ranges for i in r] == list(range(len(costs)))
    value = max(math.fsum(costs[r.start : r.stop]) for r in ranges) + math.fsum(
        coarse(r.start, r.stop) for r in ranges[1:]
    )
    optimum = _exhaustive_virtual_optimum(costs, n, coarse)
    assert value <= optimum + 1e-9 * (1 + optimum)


def test_virtual_time_partition_keeps_the_min_max_split_when_the_coarse_cost_is_constant():
    from parareal_toolkit.nn import virtual_time_partition

    costs = [3.0, 1.0, 2.0, 2.0, 5.0, 1.0, 1.0]
    for n in range(1, len(costs) + 1):
        assert virtual_time_partition(costs, n, lambda a, b: 0.5) == balanced_partition(costs, n)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.01, 10, allow_nan=False), min_size=6, max_size=6),
    st.sampled_from([20, 29]),
    st.integers(2, 6),
    st.integers(1, 4),
)
def test_virtual_cost_plan_has_the_least_virtual_time_of_all_contiguous_splits(values, depth, n, budget):
    from parareal_toolkit.plans.coarse import coarse_specs as _coarse_specs

    shapes = [spec for pair in stage_unit_specs(depth) for spec in pair]
    costs = dict(zip(shapes, values))
    units = resnet_unit_specs(depth)
    plan = parareal_resnet_plan(
        depth, num_subnetworks=n, split="cost", unit_costs=costs, coarse_units=budget, objective="virtual"
    )
    assert plan.objective == "virtual"
    value = max(plan.subnetwork_costs) + math.fsum(plan.coarse_costs)
    best = math.inf
    for cuts in itertools.combinations(range(1, len(units)), n - 1):
        bounds = [0, *cuts, len(units)]
        blocks = list(zip(bounds, bounds[1:]))
        largest = max(math.fsum(costs[units[i]] for i in range(a, b)) for a, b in blocks)
        chain = math.fsum(costs[s] for a, b in blocks[1:] for s in _coarse_specs(units[a:b], budget))
        best = min(best, largest + chain)
    assert value <= best * (1 + 1e-9)
    largest_plan = parareal_resnet_plan(depth, num_subnetworks=n, split="cost", unit_costs=costs, coarse_units=budget)
    assert value <= (max(largest_plan.subnetwork_costs) + math.fsum(largest_plan.coarse_costs)) * (1 + 1e-9)


def test_block_coarse_cost_is_the_cost_of_the_coarse_network_built_for_the_block():
    from parareal_toolkit.plans.coarse import coarse_specs as _coarse_specs
    from parareal_toolkit.plans.costs import cost_table as _cost_table
    from parareal_toolkit.plans.costs import plan_shapes as _shapes
    from parareal_toolkit.plans.splits import _block_coarse_cost

    depth = 38  # 4 units per stage
    table = _cost_table(_shapes(depth), lambda spec: 1.0 + spec.resolution / 7 + spec.in_channels / 13)
    costs = dict(table)
    units = resnet_unit_specs(depth)
    for budget in (1, 2, 3, 5):
        coarse_cost = _block_coarse_cost(depth, budget, table)
        for a in range(len(units)):
            for b in range(a + 1, len(units) + 1):
                expected = math.fsum(costs[s] for s in _coarse_specs(units[a:b], budget))
                assert coarse_cost(a, b) == pytest.approx(expected, rel=1e-12)


def test_unit_costs_fitted_to_timings_recover_the_costs_that_made_them():
    from parareal_toolkit.bench.network_timing import NetworkTiming
    from parareal_toolkit.bench.unit_costs import fit_unit_costs_to_timings

    depth = 38
    shapes = [spec for pair in stage_unit_specs(depth) for spec in pair]
    costs = dict(zip(shapes, [0.75, 1.25, 2.5, 0.5, 1.75, 0.25]))
    timings = []
    for n in (1, 3, 4, 6):
        plan = parareal_resnet_plan(depth, num_subnetworks=n, unit_costs=costs)
        seconds = tuple(plan.subnetwork_costs)  # a subnetwork takes exactly the sum of its units' costs
        timings.append(
            NetworkTiming(n, (0.0,) * n, seconds, None, 0.0, subnetwork_units=tuple(plan.units_per_subnetwork))
        )
    fitted = fit_unit_costs_to_timings(depth, timings)
    assert fitted == pytest.approx(costs, rel=1e-9)
    with pytest.raises(ValueError, match="full column rank"):
        fit_unit_costs_to_timings(depth, timings[:1])
    with pytest.raises(ValueError, match="subnetwork_units"):
        fit_unit_costs_to_timings(20, timings[1:])
