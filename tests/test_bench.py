"""The Table 2 timing harness: the unit-count bound, attribution of time to parts, no side effects."""

import copy
import math
import time

import pytest
import torch
from float_tolerance import reordering_tolerance
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.bench import SEED_TABLE2, compile_modules, table2, time_network
from parareal_toolkit.bench.chain import coarse_chain
from parareal_toolkit.nn import PararealNetwork, PreActBottleneck, parareal_resnet, parareal_resnet_plan, preact_resnet
from parareal_toolkit.nn.parareal_resnets import unit_count_bound
from parareal_toolkit.nn.resnet import num_units

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _valid_n(depth):
    units = num_units(depth)
    return [n for n in range(1, units + 1) if (n - 1) * math.ceil(units / n) < units]


def seed_unit_count_bound(n):
    """The seed's closed form for ResNet-1001 (333 units, ceil(12/N) coarse units), from the plan."""
    return parareal_resnet_plan(1001, num_subnetworks=n).closed_form_unit_count_bound


def count_units(module):
    """The residual units built into ``module``, counted in the model itself (not from the plan)."""
    return sum(isinstance(m, PreActBottleneck) for m in module.modules())


# --- the bound -----------------------------------------------------------------------


def test_seed_bound_resnet1001_values():
    assert seed_unit_count_bound(18) == pytest.approx(9.25, abs=5e-3)
    assert seed_unit_count_bound(24) == pytest.approx(9.00, abs=5e-3)
    assert [seed_unit_count_bound(n) for n in (1, 3, 6, 12)] == [1.0, 333 / 119, 333 / 66, 333 / 39]
    assert seed_unit_count_bound(18) == 333 / 36  # 19 units + 17 coarse units
    assert seed_unit_count_bound(24) == 333 / 37  # 14 units + 23 coarse units


@given(st.sampled_from(_valid_n(1001)))
def test_resnet1001_plan_bound_is_the_closed_form(n):
    # built from the plan (pure Python), without building a depth-1001 network
    plan = parareal_resnet_plan(1001, num_subnetworks=n)
    assert sum(plan.units_per_subnetwork) == 333
    assert plan.unit_count_bound == seed_unit_count_bound(n)
    assert plan.unit_count_bound == unit_count_bound(plan.units_per_subnetwork, plan.units_per_coarse_network)


def test_resnet1001_plan_bound_at_18_and_24():
    assert parareal_resnet_plan(1001, num_subnetworks=18).unit_count_bound == pytest.approx(9.25, abs=5e-3)
    assert parareal_resnet_plan(1001, num_subnetworks=24).unit_count_bound == pytest.approx(9.00, abs=5e-3)


@st.composite
def _depth_and_n(draw, max_blocks=40):
    depth = 9 * draw(st.integers(1, max_blocks)) + 2
    return depth, draw(st.sampled_from(_valid_n(depth)))


@given(_depth_and_n(), st.integers(1, 30))
def test_bound_properties(depth_n, budget):
    depth, n = depth_n
    plan = parareal_resnet_plan(depth, num_subnetworks=n, coarse_units=budget)
    bound = plan.unit_count_bound
    units = num_units(depth)
    coarse = [len(c) for c in plan.coarse]
    assert bound == units / (max(plan.units_per_subnetwork) + sum(coarse))
    assert 0 < bound <= n
    if n == 1:
        assert bound == 1
    if all(c == budget for c in coarse):  # no coarse network enlarged to hold shape changes
        assert bound == plan.closed_form_unit_count_bound == units / (math.ceil(units / n) + (n - 1) * budget)


@settings(max_examples=8)
@given(_depth_and_n(max_blocks=4))
def test_counted_units_of_the_built_model_match_the_plan(depth_n):
    depth, n = depth_n
    network = parareal_resnet(depth, num_subnetworks=n)
    plan = network.plan
    assert [count_units(g) for g in network.subnetworks] == plan.units_per_subnetwork
    assert [count_units(f) for f in network.coarse] == [len(c) for c in plan.coarse] == plan.units_per_coarse_network
    assert sum(count_units(g) for g in network.subnetworks) == count_units(preact_resnet(depth)) == num_units(depth)


@pytest.mark.parametrize(
    ("sub", "coarse", "message"),
    [
        ([], [], "at least one"),
        ([3, 3], [], "N - 1 = 1"),
        ([3, 0], [1], r"subnetwork_units\[1\]"),
        ([3, 3], [-1], r"coarse_units\[0\]"),
        ([2.5], [], r"subnetwork_units\[0\]"),
    ],
)
def test_bound_rejects_bad_counts(sub, coarse, message):
    with pytest.raises(ValueError, match=message):
        unit_count_bound(sub, coarse)


def test_seed_table_is_the_papers():
    for n, row in SEED_TABLE2.items():
        parts = row["preprocess"] + row["subnetworks"] + (row["coarse"] or 0) + row["postprocess"]
        assert parts == pytest.approx(row["total"], abs=1.5e-4), n
    assert SEED_TABLE2[1]["total"] / SEED_TABLE2[18]["total"] == pytest.approx(6.28, abs=5e-3)


# --- attribution of time to parts ----------------------------------------------------


class Sleep(nn.Module):
    """A linear map that also sleeps: its forward costs at least ``seconds`` (of ``sleep``'s clock)."""

    def __init__(self, seconds, width=4, sleep=time.sleep):
        super().__init__()
        self.seconds, self.sleep = seconds, sleep
        self.linear = nn.Linear(width, width, bias=False)

    def forward(self, x):
        self.sleep(self.seconds)
        return self.linear(x)


def _sleepy_network(pre, sub, coarse, post, sleep=time.sleep):
    return PararealNetwork(
        [Sleep(s, sleep=sleep) for s in pre],
        [Sleep(s, sleep=sleep) for s in sub],
        [Sleep(s, sleep=sleep) for s in coarse],
        nn.Sequential(Sleep(post, sleep=sleep), nn.Linear(4, 3)),
    )


class VirtualClock:
    """``perf_counter`` that only moves when a module "sleeps": the parts' times are exact, on any
    machine (a real sleep of 0.02 s overshoots by the scheduler's delay, which a loaded machine
    makes large). ``process_time`` stays the real one."""

    def __init__(self):
        self.now = 1000.0

    def perf_counter(self):
        return self.now

    def process_time(self):
        return time.process_time()

    def sleep(self, seconds):
        self.now += seconds


def test_each_part_is_timed_on_its_own_modules(monkeypatch):
    # only C^2, g^3, F^1, F^2 and h sleep, in virtual time: each part's time is exactly the sleep
    # of its own modules (medians of 3 after a warm-up)
    import parareal_toolkit.bench.clocks as clocks

    clock = VirtualClock()
    monkeypatch.setattr(clocks, "time", clock)
    network = _sleepy_network(pre=[0, 0.04, 0], sub=[0, 0, 0.08], coarse=[0.02, 0.02], post=0.04, sleep=clock.sleep)
    timing = time_network(network, torch.randn(2, 4), repeats=3, warmup=1, backend=None)
    exact = dict(abs=1e-9)  # sums of a few floats near 1000 s: round-off 1e-13
    assert timing.preprocess == pytest.approx([0, 0.04, 0], **exact)
    assert timing.preprocess_max == timing.preprocess[1]
    assert timing.subnetworks == pytest.approx([0, 0, 0.08], **exact)
    assert timing.subnetworks_max == timing.subnetworks[2]
    assert timing.coarse == pytest.approx(0.04, **exact)  # both coarse networks, one after the other
    assert timing.postprocess == pytest.approx(0.04, **exact)
    assert timing.wall_clock is None


def test_process_clock_counts_cpu_time_not_sleep():
    network = _sleepy_network(pre=[0, 0], sub=[0, 0.08], coarse=[0.04], post=0.04)
    timing = time_network(network, torch.randn(2, 4), repeats=3, warmup=1, backend="serial", clock="process")
    assert timing.subnetworks[1] < 0.03 and timing.coarse < 0.03 and timing.postprocess < 0.03
    assert timing.wall_clock >= 0.16  # the real wall-clock stays perf_counter


def test_parts_add_up_and_units_partition_the_trunk():
    network = parareal_resnet(20, num_subnetworks=3)
    timing = time_network(network, torch.randn(2, 3, 32, 32), repeats=2, warmup=1)
    assert len(timing.preprocess) == len(timing.subnetworks) == 3
    assert all(
        t > 0 for t in (*timing.preprocess, *timing.subnetworks, timing.coarse, timing.postprocess, timing.wall_clock)
    )
    assert timing.virtual_total == timing.preprocess_max + timing.subnetworks_max + timing.coarse + timing.postprocess
    assert timing.subnetworks_sum == pytest.approx(sum(timing.subnetworks))
    assert timing.subnetworks_max <= timing.subnetworks_sum
    assert sum(timing.subnetwork_units) == 6 and timing.subnetwork_units == (2, 2, 2)
    assert timing.coarse_units == (4, 4)
    assert timing.bound == 6 / (2 + 8)
    assert timing.backend == "serial"
    row = timing.as_dict()
    assert row["virtual_total"] == timing.virtual_total and row["coarse"] == timing.coarse


def test_one_subnetwork_has_no_coarse_part():
    timing = time_network(parareal_resnet(11, num_subnetworks=1), torch.randn(2, 3, 32, 32), repeats=1, warmup=0)
    assert timing.coarse is None and timing.coarse_units == ()
    assert timing.virtual_total == timing.preprocess_max + timing.subnetworks_max + timing.postprocess
    assert timing.bound == 1


def test_each_part_runs_warmup_plus_repeats_times():
    network = parareal_resnet(20, num_subnetworks=3)
    calls = {}

    def counter(name):
        def hook(module, inputs, output):
            calls[name] = calls.get(name, 0) + 1

        return hook

    parts = {f"C{j}": c for j, c in enumerate(network.preprocess)} | {
        f"g{j}": g for j, g in enumerate(network.subnetworks)
    }
    parts |= {f"F{j}": f for j, f in enumerate(network.coarse)} | {"h": network.postprocess}
    for name, module in parts.items():
        module.register_forward_hook(counter(name))
    time_network(network, torch.randn(2, 3, 32, 32), repeats=3, warmup=2, backend=None)
    # once to compute the interface tensors, then once per sample (warm-up + repeats);
    # C^1 twice per sample: an untimed call first settles the allocator
    expected = dict.fromkeys(parts, 1 + 2 + 3) | {"C0": 1 + 2 * (2 + 3)}
    assert calls == expected
    calls.clear()
    time_network(network, torch.randn(2, 3, 32, 32), repeats=3, warmup=2, backend="serial")
    assert calls == {name: count + 2 + 3 for name, count in expected.items()}  # plus the full-network runs


# --- no side effects ------------------------------------------------------------------


def test_timing_leaves_the_model_unchanged():
    network = parareal_resnet(20, num_subnetworks=3).eval()
    state = {k: v.clone() for k, v in network.state_dict().items()}
    time_network(network, torch.randn(3, 3, 32, 32), repeats=2, warmup=1)  # times in train mode
    assert all(torch.equal(v, state[k]) for k, v in network.state_dict().items())  # incl. BN running stats
    assert all(p.grad is None for p in network.parameters())
    assert not any(m.training for m in network.modules())


def test_timing_restores_existing_gradients():
    network = parareal_resnet(11, num_subnetworks=2)
    x = torch.randn(2, 3, 32, 32)
    network(x).square().sum().backward()
    grads = {n: p.grad.clone() for n, p in network.named_parameters()}
    time_network(network, x, repeats=1, warmup=0)
    assert all(torch.equal(p.grad, grads[n]) for n, p in network.named_parameters())
    assert network.training


def test_forward_on_serial_backend_is_the_network_forward():
    network = parareal_resnet(20, num_subnetworks=3).double().eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    assert torch.equal(network.forward_on(x, "serial"), network(x))
    assert torch.equal(network.forward_on(x, "batched"), network(x))
    assert torch.equal(network.forward_on(x, "serial", coarse=list(network.coarse)), network(x))
    doubled = copy.deepcopy(list(network.coarse))  # stand-ins with other weights change the output
    with torch.no_grad():
        for parameter in (p for f in doubled for p in f.parameters()):
            parameter.mul_(2)
    assert not torch.allclose(network.forward_on(x, "serial", coarse=doubled), network(x))


def test_forward_on_rejects_a_wrong_number_of_coarse_networks():
    network = parareal_resnet(20, num_subnetworks=3)
    with pytest.raises(ValueError, match=r"`coarse` must hold N - 1 = 2 modules; got 1"):
        network.forward_on(torch.randn(1, 3, 32, 32), "serial", coarse=list(network.coarse)[:1])
    with pytest.raises(ValueError, match="`backend`"):
        network.forward_on(torch.randn(1, 3, 32, 32), "nope")


def test_coarse_chain_is_the_recurrence():
    torch.manual_seed(0)
    coarse = [nn.Linear(3, 3).double() for _ in range(3)]
    xs = [torch.randn(2, 3, dtype=torch.float64) for _ in range(4)]
    ys = [torch.randn(2, 3, dtype=torch.float64) for _ in range(4)]
    z = ys[0]
    for j in range(3):
        z = ys[j + 1] + coarse[j](z - xs[j + 1])
    assert torch.allclose(coarse_chain(coarse, xs, ys), z, rtol=0, atol=1e-14)


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"repeats": 0}, ValueError, "`repeats` must be at least 1"),
        ({"warmup": -1}, ValueError, "`warmup`"),
        ({"repeats": 1.5}, TypeError, "`repeats` must be an integer"),
        ({"backend": "nope"}, ValueError, "`backend`"),
        ({"compile_coarse": True, "warmup": 0}, ValueError, "`warmup` must be at least 1"),
        ({"clock": "cpu"}, ValueError, "`clock` must be one of"),
    ],
)
def test_time_network_rejects_bad_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        time_network(parareal_resnet(11, num_subnetworks=1), torch.randn(1, 3, 32, 32), **kwargs)


def test_time_network_rejects_other_models():
    with pytest.raises(TypeError, match="`network` must be a PararealNetwork"):
        time_network(preact_resnet(11), torch.randn(1, 3, 32, 32))
    network = parareal_resnet(11, num_subnetworks=2, iterations=2)
    with pytest.raises(ValueError, match="`network.iterations` must be 1"):
        time_network(network, torch.randn(1, 3, 32, 32))


def test_table2_clips_default_n_and_rejects_explicit_invalid_n():
    table = table2(depth=20, batch_size=1, repeats=1, warmup=0, backend=None)
    assert [r.num_subnetworks for r in table.rows] == [1, 3, 6]
    assert table.skipped == (12, 18, 24)
    assert table.speedup(table.rows[0]) == 1
    with pytest.raises(ValueError, match="`num_subnetworks`"):
        table2([1, 5], depth=20, batch_size=1, repeats=1, warmup=0)
    with pytest.raises(ValueError, match="`device`"):
        table2([1], depth=20, device="nonsense")


# --- torch.compile on the coarse chain ------------------------------------------------


@pytest.mark.slow
def test_compiled_coarse_chain_matches_eager():
    torch.manual_seed(0)
    network = parareal_resnet(11, num_subnetworks=2, coarse_units=1)
    compiled = compile_modules(list(network.coarse), device=torch.device("cpu"))
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        xs = [c(image) for c in network.preprocess]
        ys = [g(x) for g, x in zip(network.subnetworks, xs)]
    xs = [x.requires_grad_() for x in xs]
    ys = [y.requires_grad_() for y in ys]
    eager = coarse_chain(network.coarse, xs, ys)
    eager_grads = torch.autograd.grad(eager.square().sum(), [*xs[1:], *ys])  # x_1 = y_1 input: unused
    fast = coarse_chain(compiled, xs, ys)
    fast_grads = torch.autograd.grad(fast.square().sum(), [*xs[1:], *ys])
    # float32, fused kernels against eager ones: the same sums in another order. Each of the chain's
    # layers reduces over at most `fan_in` terms; the backward pass runs the chain again (it was
    # rtol/atol 1e-5 and 1e-4, tuned on one CPU; see float_tolerance.py)
    layers = [m for m in network.coarse.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    fan_in = max(m.weight[0].numel() for m in layers)
    budget = dict(terms=fan_in, steps=len(layers))
    atol = reordering_tolerance(torch.float32, scale=float(eager.detach().abs().max()), **budget)
    torch.testing.assert_close(fast, eager, rtol=0, atol=atol)
    for a, b in zip(fast_grads, eager_grads):
        atol = reordering_tolerance(torch.float32, scale=float(b.abs().max()), terms=fan_in, steps=2 * len(layers))
        torch.testing.assert_close(a, b, rtol=0, atol=atol)
    timing = time_network(network, image, repeats=1, warmup=1, compile_coarse=True)
    assert timing.coarse > 0 and timing.wall_clock > 0


@pytest.mark.parametrize(("split", "kind"), [("units", "unit-count"), ("cost", "cost-count")])
def test_table2_figure_names_the_bound_of_its_split(split, kind, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from parareal_toolkit.bench import plot_table2, table2

    table = table2([3], depth=20, batch_size=1, repeats=1, warmup=0, split=split, cost_model="macs")
    figure = plot_table2(table, tmp_path / "t2.png")
    labels = [line.get_label() for line in figure.axes[-1].get_lines()]
    assert f"{kind} bound, depth 20" in labels
    assert (tmp_path / "t2.png").stat().st_size > 0
