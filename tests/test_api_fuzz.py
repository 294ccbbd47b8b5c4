"""The public API against drawn arguments: a result that is finite, or a refusal of the project's type.

Every public function of the ODE half that takes numbers is called with arguments drawn from
inside, at the edge of and outside its domain (NaN, ±inf, 1e308, the smallest subnormal,
zero, negatives, sizes no machine can hold, wrong types, numpy scalars). Each call must
either return a finite result (where the function documents ``inf``, at a pole or where a
factor is unbounded, that ``inf`` is allowed) or raise a
:class:`~parareal_toolkit.errors.PararealError` (a refusal naming the argument) or a
``MemoryError`` (a request that cannot fit, refused before allocating). A plain
``ValueError``/``TypeError`` from numpy, an ``IndexError`` or an ``OverflowError`` is a bug.

The second table (``FUNCTIONS_WITH_OBJECTS``) does the same for the functions that take
objects: layerpipe's profiles, schedules, traces and networks, the nn builders and
:class:`~parareal_toolkit.nn.ModulePropagator`, the plans, the training configuration and
MGRIT's hierarchies with adversarial levels. In both tables a refusal of an input must name
one of the call's arguments in backticks, and every call runs under a 10 s alarm. The
number of examples per function and how each ended (returned, or refused by which type)
show with ``pytest tests/test_api_fuzz.py --hypothesis-show-statistics``.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parareal_toolkit.ode as ode
from parareal_toolkit import TimeGrid
from parareal_toolkit.errors import PararealError

SIZES = st.sampled_from([-1, 0, 1, 2, 3, 5, 10**12, 2**63, 2.5, True, None, "7", np.int64(4)])
_EDGES = [0.0, -0.0, -1.0, 1.0, 0.5, math.nan, math.inf, -math.inf, 1e308, 5e-324, 1e-300]
_WRONG_KINDS = [None, "x", True, complex(1, 1), np.float32(0.5), [1.0]]
LISTS = st.one_of(
    st.sampled_from([[], "abc", None, [[1.0]], [1e308, 1e308], [5e-324, 5e-324, 1.0], [-1.0, 2.0], [1.0, math.nan]]),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6),
)
REALS = st.one_of(st.sampled_from([*_EDGES, *_WRONG_KINDS]), st.floats(allow_nan=True, allow_infinity=True))

# name -> (function, its arguments' strategies, whether a documented inf may come back)
FUNCTIONS = {
    "heat_1d": (ode.heat_1d, dict(m=SIZES, t_final=REALS, diffusivity=REALS), False),
    "heat_2d": (ode.heat_2d, dict(m=SIZES, t_final=REALS, diffusivity=REALS), False),
    "advection_periodic": (ode.advection_periodic, dict(m=SIZES, t_final=REALS, speed=REALS), False),
    "damped_oscillator": (ode.damped_oscillator, dict(frequency=REALS, damping=REALS, t_final=REALS), False),
    "dahlquist": (ode.dahlquist, dict(lam=REALS, t_final=REALS), False),
    "lorenz": (ode.lorenz, dict(sigma=REALS, rho=REALS, beta=REALS, t_final=REALS), False),
    "van_der_pol": (ode.van_der_pol, dict(mu=REALS, t_final=REALS), False),
    "brusselator": (ode.brusselator, dict(m=SIZES, a=REALS, b=REALS, diffusion=REALS, t_final=REALS), False),
    "burgers": (ode.burgers, dict(m=SIZES, viscosity=REALS, t_final=REALS), False),
    "allen_cahn": (ode.allen_cahn, dict(m=SIZES, diffusion=REALS, t_final=REALS), False),
    "gander_hairer_bound": (
        ode.gander_hairer_bound,
        dict(alpha=REALS, beta=REALS, num_slices=SIZES, iterations=SIZES, initial_error=REALS),
        True,  # inf only where the true bound overflows
    ),
    "speedup": (ode.speedup, dict(alpha=REALS, num_slices=SIZES, iterations=SIZES), False),
    "heat_contraction_factor": (ode.heat_contraction_factor, dict(substeps=SIZES), False),
    "convergence_factor": (ode.convergence_factor, dict(z=REALS, substeps=SIZES), True),  # inf where |R| >= 1
    "implicit_euler_amplification": (ode.implicit_euler_amplification, dict(z=REALS, substeps=SIZES), True),  # pole
    "TimeGrid.uniform": (TimeGrid.uniform, dict(t_final=REALS, num_slices=SIZES), False),
    # two-level MGRIT: the matrix refuses what overflows; the factors and bounds give inf there
    "mgrit_error_propagator": (
        ode.mgrit_error_propagator,
        dict(lam=REALS, mu=REALS, m=SIZES, num_coarse=SIZES),
        False,
    ),
    "mgrit_convergence_factor": (
        ode.mgrit_convergence_factor,
        dict(lam=REALS, mu=REALS, m=SIZES, num_coarse=SIZES),
        True,
    ),
    "mgrit_dobrev_bound": (ode.mgrit_dobrev_bound, dict(lam=REALS, mu=REALS, m=SIZES, num_coarse=SIZES), True),
    "mgrit_southworth_bound": (ode.mgrit_southworth_bound, dict(lam=REALS, mu=REALS, m=SIZES), True),  # |μ| >= 1
    "mgrit_southworth_estimate": (
        ode.mgrit_southworth_estimate,
        dict(lam=REALS, mu=REALS, m=SIZES, num_coarse=SIZES),
        True,
    ),
    "mgrit_bound": (
        ode.mgrit_bound,
        dict(problem_or_eigenvalues=LISTS, dt=REALS, m=SIZES, num_coarse=SIZES),
        True,  # inf where a step hits a pole or overflows
    ),
}


def _network_functions():
    import parareal_toolkit.layerpipe as lp
    import parareal_toolkit.nn as nn
    import parareal_toolkit.plans as plans

    depths = st.one_of(SIZES, st.sampled_from([11, 20, 29, 1001, 10**7 + 2]))
    return {
        "balanced_sizes": (nn.balanced_sizes, dict(num_blocks=SIZES, num_subnetworks=SIZES), False),
        "parareal_resnet_plan": (
            plans.parareal_resnet_plan,
            dict(depth=depths, num_subnetworks=SIZES, coarse_units=SIZES),
            False,
        ),
        "resnet_unit_specs": (plans.resnet_unit_specs, dict(depth=depths, image_size=SIZES), False),
        "trunk_memory": (plans.trunk_memory, dict(depth=depths), False),
        "balanced_partition": (plans.balanced_partition, dict(costs=LISTS, num_parts=SIZES), False),
        "gpipe_order": (lp.gpipe_order, dict(p=SIZES, m=SIZES), False),
        "one_f_one_b_order": (lp.one_f_one_b_order, dict(p=SIZES, m=SIZES), False),
        "zb_h1_order": (lp.zb_h1_order, dict(p=SIZES, m=SIZES), False),
        "pipedream_delays": (lp.pipedream_delays, dict(num_layers=SIZES), False),
        "profile_from_costs": (
            lp.profile_from_costs,
            dict(forward=LISTS, activation_grad=LISTS, weight_grad=LISTS),
            False,
        ),
    }


FUNCTIONS.update(_network_functions())


def _values(result) -> list:
    if isinstance(result, TimeGrid):
        return [result.times, result.steps]
    if hasattr(result, "ode"):  # a problem: its data
        values = [result.u0, result.t_final]
        matrix = getattr(result.ode, "A", None)
        if matrix is not None:
            values.append(matrix.toarray() if hasattr(matrix, "toarray") else matrix)
        return values
    if hasattr(result, "layers") and hasattr(result, "total"):  # a cost profile: its total
        return [result.total]
    if isinstance(result, (list, tuple)) and result and isinstance(result[0], range):  # a partition
        return [[len(r) for r in result]]
    if isinstance(result, (list, tuple)) and not all(isinstance(x, (int, float, np.number)) for x in result):
        return []  # specs, orders: structure, nothing numeric to check
    if hasattr(result, "__dataclass_fields__"):  # a plan or a memory model: its numbers
        return [v for v in vars(result).values() if isinstance(v, (int, float))]
    return [result]


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_a_public_function_returns_a_finite_result_or_refuses_with_the_project_s_type(name):
    function, arguments, documented_inf = FUNCTIONS[name]

    @settings(max_examples=max(settings().max_examples, 60))
    @given(st.fixed_dictionaries(arguments))
    def check(kwargs):
        # a refusal names the argument; a result's numbers (``_values``) are finite
        _run_case(name, (lambda **kw: _values(function(**kw)), arguments, dict(inf=documented_inf)), kwargs)

    check()


# ---------------------------------------------------------------------------------------------
# Networks, profiles, schedules, plans, training configurations and MGRIT hierarchies.
#
# These functions take objects (a cost profile, a schedule, a trace, a network, a list of
# propagators) besides numbers, so each case draws objects too: valid tiny ones, the wrong
# kind (None, a string, a number) and adversarial ones (a propagator that returns None, the
# wrong shape, a complex or NaN state at its k-th call, or raises; a cost callable returning
# NaN). A refusal must be an InputError/InputTypeError whose message names, in backticks, one
# of the arguments of the call (or a documented alias); a run-time failure must be one of
# the project's documented types; a result must be finite (``inf`` only where documented)
# and pass the case's consistency check. Every call runs under a 10 s alarm: a hang is a bug.
# ---------------------------------------------------------------------------------------------


OUTCOMES: dict = {}  # name -> Counter of how its examples ended, printed by ``_outcomes`` under ``-v``


@pytest.fixture(scope="module", autouse=True)
def _outcomes(request):
    """With ``-v``: one line per function, its number of examples and how they ended."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or request.config.getoption("verbose") < 1:
        return
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        reporter.write_line("")
        for name, counts in OUTCOMES.items():
            ends = ", ".join(f"{count} {outcome}" for outcome, count in counts.most_common())
            reporter.write_line(f"api fuzz: {name}: {sum(counts.values())} examples ({ends})")


class _Adversary(Exception):
    """What an adversarial callable raises: it must reach the caller unchanged (the user's own error)."""


class _Hang(Exception):
    """Raised by the alarm when a call runs for more than its limit."""


def _alarm(signum, frame):
    raise _Hang()


def _numbers(value, depth: int = 0) -> list:
    """Every number in a result, walked through containers and dataclasses (not modules)."""
    import torch

    if depth > 4:
        return []
    if isinstance(value, torch.Tensor):
        return [value.detach().to(torch.complex128).cpu().numpy()] if value.is_floating_point() else []
    if isinstance(value, (bool, np.bool_, str, range)) or value is None:
        return []
    if isinstance(value, (int, float, complex, np.number, np.ndarray)):
        return [value] if not isinstance(value, np.ndarray) or value.dtype.kind in "fciu" else []
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif hasattr(value, "__dataclass_fields__"):
        items = [getattr(value, f) for f in value.__dataclass_fields__]
    else:
        return []
    return [x for item in items[:2000] for x in _numbers(item, depth + 1)]


def _named_arguments(message: str) -> set[str]:
    """The argument names quoted in a message: ```forward[2]``` gives ``forward``, ```layer0.forward``` both parts."""
    import re

    quoted = [re.split(r"[\[( ]", name, maxsplit=1)[0] for name in re.findall(r"`([^`]+)`", message)]
    return {part for name in quoted for part in name.split(".")}


def _run_case(name, case, kwargs):
    import signal

    from hypothesis import event

    from parareal_toolkit.errors import InputError, InputTypeError

    function, _, options = case
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = function(**kwargs)
    except _Hang:
        raise AssertionError(f"{name}({kwargs}) ran for more than 10 s") from None
    except (PararealError, MemoryError, _Adversary, *options.get("raises", ())) as error:
        event(f"refused: {type(error).__name__}")
        OUTCOMES.setdefault(name, Counter())[f"refused: {type(error).__name__}"] += 1
        if isinstance(error, (InputError, InputTypeError)) and not isinstance(error, options.get("raises", ())):
            names = set(kwargs) | set(options.get("aliases", ()))
            assert _named_arguments(str(error)) & names, (
                f"{name}: the refusal names no argument: {error} (arguments {kwargs})"
            )
        return
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    event("returned")
    OUTCOMES.setdefault(name, Counter())["returned"] += 1
    for value in _numbers(result):
        array = np.asarray(value, dtype=complex)
        assert not np.any(np.isnan(array)), f"{name} returned NaN (arguments {kwargs})"
        if not options.get("inf"):
            assert np.all(np.isfinite(array)), f"{name} returned a non-finite value (arguments {kwargs})"
    consistent = options.get("check")
    if consistent is not None:
        assert consistent(result, kwargs), f"{name}: an inconsistent result {result!r} (arguments {kwargs})"


SMALL = st.sampled_from([-1, 0, 1, 2, 3, 10**12, 2**63, 2.5, True, None, "2", np.int64(2)])
OBJECTS = {}  # built once, on first use (torch is imported by then)


def _objects() -> dict:
    """Tiny valid objects of each kind, plus the wrong kinds, keyed by what they stand for."""
    if OBJECTS:
        return OBJECTS
    import parareal_toolkit.layerpipe as lp

    one = lp.profile_from_costs([1.0], [1.0], [1.0])
    three = lp.profile_from_costs([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [0.5, 0.0, 2.0])
    zero = lp.profile_from_costs([0.0, 0.0], [0.0, 0.0], [0.0, 0.0])
    wrong = [None, "vgg16", 3, [1.0, 2.0]]
    schedules = [
        lp.build_schedule("gpipe", three, 2, microbatches=2),
        lp.build_schedule("1f1b", three, 3, microbatches=3),
        lp.build_schedule("pipedream", three, 2, steps=4),
        lp.build_schedule("layerpipe", three, 2, steps=4),
        lp.build_schedule("sequential", zero, 1, microbatches=1),
    ]
    OBJECTS.update(
        profiles=[one, three, zero, *wrong],
        schedules=[*schedules, *wrong],
        traces=[*(lp.simulate(s) for s in schedules), *wrong],
        networks=[lp.Network(), lp.Network(bandwidth=10.0, latency=0.5), *wrong],
    )
    return OBJECTS


def _objects_of(kind: str):
    return st.sampled_from(_objects()[kind])


NAMES_OR_WRONG = lambda names: st.sampled_from([*names, "", "no-such-name", None, 3])
FLAGS = st.sampled_from([True, False, None, "no", 0, np.bool_(True)])
EDGES_LISTS = st.sampled_from(
    [
        [],
        [(0, 1, 1.0, 1), (1, 0, 1.0, 1)],
        [(0, 1, 1.0, 0), (1, 0, 1.0, 0)],
        [(0, 5, 1.0, 1)],
        [(0, 1)],
        [(0, 1, math.nan, 1)],
        [(0, 0, -1.0, 1)],
        [(0, 1, 1.0, -1), (1, 0, 1.0, 1)],
        None,
        "ab",
        [(0.5, 1, 1.0, 1)],
    ]
)
OFFSETS = st.sampled_from([[0, 0], [0, 1], [0, 1, 2], [1], [], [-1, 0], None, "ab", [0.5, 1]])
DELAYS = st.one_of(
    st.none(), st.sampled_from([[0, 0, 0], [1, 2, 3], [1], [-1, 0, 0], "abc", [0.5, 1, 1], [10**12] * 3])
)
COST_ROWS = st.sampled_from(
    [
        [(1, 1, 1, 1, 1)],
        [(1, 1, 1, 1, 1)] * 3,
        [(1, 1, 1, 1)],
        [],
        [(math.nan, 1, 1, 1, 1)],
        [(-1, 1, 1, 1, 1)],
        [(1e308, 1e308, 1, 1, 1)] * 2,
        None,
        "abc",
        [(0, 0, 0, 0, 0)],
    ]
)


def _consistent_trace(trace, kwargs) -> bool:
    return all(trace.end[t] >= trace.start[t] >= 0 for t in trace.start) and trace.makespan >= 0


def _consistent_partition(parts, kwargs) -> bool:
    layers = [i for part in parts for i in (part[0] if isinstance(part, tuple) else part)]
    return layers == list(range(len(kwargs["profile"])))


def _layerpipe_cases() -> dict:
    import parareal_toolkit.layerpipe as lp

    profiles, schedules, traces = _objects_of("profiles"), _objects_of("schedules"), _objects_of("traces")
    networks = _objects_of("networks")
    timing = dict(latency=REALS, bandwidth=REALS)
    return {
        "LayerCost": (
            lp.LayerCost,
            dict(
                name=st.sampled_from(["a", "", None, 3]),
                forward=REALS,
                activation_grad=REALS,
                weight_grad=REALS,
                update=REALS,
                activation_size=REALS,
            ),
            dict(aliases=("a", "", "None", "3")),  # the field is named after the layer: `a.forward`
        ),
        "CostProfile": (
            lp.CostProfile,
            dict(
                name=st.sampled_from(["p", None]),
                layers=st.sampled_from([(), None, (1, 2), "ab"]),
                unit=st.sampled_from(["MAC", None, ""]),
            ),
            {},
        ),
        "build_schedule": (
            lp.build_schedule,
            dict(
                name=NAMES_OR_WRONG(lp.SCHEDULES),
                profile=profiles,
                processors=SMALL,
                microbatches=SMALL,
                steps=st.one_of(st.none(), SMALL),
            ),
            dict(
                valid=dict(
                    name=st.sampled_from(lp.SCHEDULES),
                    profile=st.just(_objects()["profiles"][1]),
                    processors=st.sampled_from([1, 2, 3]),
                    microbatches=st.sampled_from([1, 2, 3]),
                    steps=st.sampled_from([None, 2, 4]),
                ),
                aliases=("schedule",),
            ),
        ),
        "pipedream_schedule": (
            lp.pipedream_schedule,
            dict(
                profile=profiles, processors=SMALL, steps=SMALL, replicated=FLAGS, weight_stashing=FLAGS, delays=DELAYS
            ),
            dict(
                valid=dict(
                    profile=st.just(_objects()["profiles"][1]),
                    processors=st.sampled_from([1, 2, 3]),
                    steps=st.sampled_from([1, 4]),
                    replicated=st.booleans(),
                    delays=st.none(),
                )
            ),
        ),
        "layerpipe_schedule": (
            lp.layerpipe_schedule,
            dict(
                profile=profiles,
                processors=SMALL,
                steps=SMALL,
                delays=DELAYS,
                scheduler=NAMES_OR_WRONG(["list", "periodic"]),
                latency=REALS,
                time_limit=REALS,
            ),
            dict(
                valid=dict(
                    profile=st.just(_objects()["profiles"][1]),
                    processors=st.sampled_from([1, 2, 3]),
                    steps=st.sampled_from([1, 4]),
                    delays=st.none(),
                    scheduler=st.sampled_from(["list", "periodic"]),
                    latency=st.sampled_from([0.0, 1.0]),
                    time_limit=st.just(10.0),
                )
            ),
        ),
        "stage_schedule": (
            lp.stage_schedule,
            dict(name=st.sampled_from(["s", None]), costs=COST_ROWS, microbatches=SMALL, split=FLAGS),
            dict(
                valid=dict(
                    name=st.just("s"),
                    costs=st.sampled_from([[(1, 1, 1, 1, 1)] * 3, [(0, 0, 0, 0, 0)]]),
                    microbatches=st.sampled_from([1, 3]),
                    split=st.booleans(),
                )
            ),
        ),
        "simulate": (  # the trace keeps `bandwidth`, inf by default
            lp.simulate,
            dict(schedule=schedules, **timing),
            dict(check=_consistent_trace, inf=True),
        ),
        "iteration_bound": (lp.iteration_bound, dict(schedule=schedules, **timing), {}),
        "cyclic_period": (lp.cyclic_period, dict(schedule=schedules, **timing), {}),
        "periodic_schedule": (
            lp.periodic_schedule,
            dict(schedule=schedules, latency=REALS, time_limit=REALS, rtol=REALS),
            dict(inf=True),  # `infeasible_below` may be inf
        ),
        "steady_state_period": (lp.steady_state_period, dict(trace=traces), dict(raises=(lp.SteadyStateNotReached,))),
        "cyclic_order": (lp.cyclic_order, dict(schedule=schedules, offset=OFFSETS), {}),
        "max_cycle_ratio": (
            lp.max_cycle_ratio,
            dict(num_nodes=SMALL, edges=EDGES_LISTS, node_time=LISTS, rtol=REALS),
            dict(inf=True),  # a cycle without tokens: an unbounded ratio, documented
        ),
        "partition_contiguous": (
            lp.partition_contiguous,
            dict(profile=profiles, processors=SMALL),
            dict(check=_consistent_partition),
        ),
        "partition_replicated": (
            lp.partition_replicated,
            dict(profile=profiles, processors=SMALL),
            dict(check=_consistent_partition),
        ),
        "partition_layerpipe": (
            lp.partition_layerpipe,
            dict(profile=profiles, processors=SMALL, split_activation=FLAGS, move_weight_gradient=FLAGS),
            {},
        ),
        "pipedream_delays(stages)": (
            lp.pipedream_delays,
            dict(num_layers=SMALL, stages=st.sampled_from([None, [range(1)], [range(2), range(2, 3)], "ab", [0]])),
            {},
        ),
        "timed_profile": (lp.timed_profile, dict(profile=profiles, samples=SMALL, macs_per_second=REALS), {}),
        "Network": (lp.Network, dict(bandwidth=REALS, latency=REALS, bytes_per_element=SMALL), dict(inf=True)),
        "charge_allreduce": (
            lp.charge_allreduce,
            dict(schedule=schedules, profile=profiles, network=networks),
            dict(inf=True),  # a Network's bandwidth may be inf
        ),
        "with_link_tasks": (lp.with_link_tasks, dict(schedule=schedules, network=networks), dict(inf=True)),
        "evaluate": (
            lp.evaluate,
            dict(
                name=NAMES_OR_WRONG(lp.SCHEDULES),
                profile=profiles,
                processors=SMALL,
                microbatches=SMALL,
                steps=st.one_of(st.none(), SMALL),
                **timing,
            ),
            dict(
                valid=dict(
                    name=st.sampled_from(lp.SCHEDULES),
                    profile=st.just(_objects()["profiles"][1]),
                    processors=st.sampled_from([1, 2]),
                    microbatches=st.sampled_from([1, 2]),
                    steps=st.sampled_from([None, 4]),
                ),
                aliases=("schedule",),
                inf=True,
            ),
        ),
        "evaluate_on_network": (
            lp.evaluate_on_network,
            dict(
                name=NAMES_OR_WRONG(lp.SCHEDULES),
                profile=profiles,
                processors=SMALL,
                network=networks,
                samples=SMALL,
                macs_per_second=REALS,
                microbatches=SMALL,
                steps=st.one_of(st.none(), SMALL),
            ),
            dict(
                valid=dict(
                    name=st.sampled_from(lp.SCHEDULES),
                    profile=st.just(_objects()["profiles"][1]),
                    processors=st.sampled_from([1, 2]),
                    network=st.sampled_from(_objects()["networks"][:2]),
                    samples=st.just(2),
                    macs_per_second=st.just(1.0),
                    microbatches=st.just(2),
                    steps=st.sampled_from([None, 8]),
                ),
                aliases=("schedule",),
                inf=True,
            ),
        ),
        "compare": (
            lp.compare,
            dict(
                profile=profiles,
                processors=st.sampled_from([[2], [1, 2], [], [0], None, 2, "2"]),
                schedules=st.sampled_from([["gpipe"], ["gpipe", "layerpipe"], [], ["x"], "gpipe", None]),
                microbatches=SMALL,
            ),
            dict(
                valid=dict(
                    profile=st.just(_objects()["profiles"][1]),
                    processors=st.just([2]),
                    schedules=st.just(["gpipe"]),
                    microbatches=st.just(2),
                ),
                aliases=("schedule",),
                inf=True,
            ),
        ),
        "vgg16_profile": (
            lp.vgg16_profile,
            dict(image_size=st.sampled_from([-1, 0, 1, 16, 32, 31, 10**9, None, 32.0]), num_classes=SMALL),
            {},
        ),
        "resnet_profile": (
            lp.resnet_profile,
            dict(
                depth=st.sampled_from([18, 34, 50, 7, 0, None, "18", 18.0]),
                image_size=st.sampled_from([-1, 0, 1, 32, 10**9, None]),
                num_classes=SMALL,
            ),
            {},
        ),
        "network_profile": (
            lambda name, image_size: lp.network_profile(name, image_size=image_size),
            dict(name=NAMES_OR_WRONG(lp.NETWORKS), image_size=st.sampled_from([32, 0, None, 10**9])),
            dict(aliases=("network",)),
        ),
    }


FUNCTIONS_WITH_OBJECTS = _layerpipe_cases()


class _Level:
    """A propagator that is ``inner`` until its ``at``-th call, then misbehaves as ``how`` from there on."""

    def __init__(self, inner, how: str, at: int, num_slices):
        self.inner, self.how, self.at, self.calls = inner, how, at, 0
        self.num_slices = inner.num_slices if num_slices == "same" else num_slices

    def __call__(self, u, j):
        self.calls += 1
        if self.calls <= self.at or self.how == "none-wrong":
            return self.inner(u, j)
        return {
            "None": lambda: None,
            "shape": lambda: np.zeros(np.size(u) + 1),
            "complex": lambda: u + 1j,
            "NaN": lambda: u * math.nan,
            "float32": lambda: np.asarray(u, dtype=np.float32),
            "list": lambda: list(np.atleast_1d(u)),
            "scalar": lambda: 1.0,
        }.get(self.how, self._raise)()

    def _raise(self):
        raise _Adversary(f"level misbehaving ({self.how}) at call {self.calls}")


MISBEHAVIOURS = ("none-wrong", "None", "shape", "complex", "NaN", "float32", "list", "scalar", "raise")
LEVELS = st.tuples(
    st.sampled_from([0, 1, 2]),
    st.sampled_from(MISBEHAVIOURS),
    st.sampled_from([0, 1, 3, 10]),
    st.sampled_from(["same", "same", 0, -1, 3, "4", None, 2.5]),
)


def _hierarchy(which: int, how: str, at: int, num_slices):
    """Three implicit-Euler levels of dy/dt = -y (8, 4 and 2 slices), level ``which`` made adversarial."""
    levels = ode.time_hierarchy(ode.dahlquist(-1.0), 8, coarsening=2, num_levels=3)
    levels[which] = _Level(levels[which], how, at, num_slices)
    return levels


def _mgrit(levels, u0, coarsening, relax, cycle, iterations, tol, initial, norm):
    from parareal_toolkit import mgrit

    result = mgrit(
        _hierarchy(*levels), u0, coarsening=coarsening, relax=relax, cycle=cycle, iterations=iterations, tol=tol,
        initial=initial, norm=norm, backend="serial",
    )  # fmt: skip
    return {"count": len(result.states), "states": [] if result.stop_reason == "non-finite" else result.states}


def _norms():
    from parareal_toolkit import max_abs

    return st.sampled_from([max_abs, lambda u: -1.0, lambda u: "x", lambda u: math.nan, None, np.linalg.norm])


def _composed(propagator, factor, u, j):
    from parareal_toolkit import ComposedPropagator

    inner = _hierarchy(*propagator)[0] if isinstance(propagator, tuple) else propagator
    return ComposedPropagator(inner, factor)(u, j)


def _mgrit_cases() -> dict:
    states = st.sampled_from(
        [np.array([1.0]), np.array([1.0, 2.0]), np.array([]), np.array([1 + 1j]), np.array([math.nan]), None, 1.0,
         [1.0], np.array(["a"]), np.array([1], dtype=np.int64)]
    )  # fmt: skip
    finite_states = states.filter(
        lambda u: not (isinstance(u, np.ndarray) and u.dtype.kind == "f" and np.isnan(u).any())
    )
    problems = st.sampled_from([ode.dahlquist(-1.0), ode.heat_1d(4), ode.lorenz(), None, "heat", 3])
    two = ode.time_hierarchy(ode.dahlquist(-1.0), 8, coarsening=2, num_levels=2)
    return {
        "mgrit": (
            _mgrit,
            dict(
                levels=LEVELS,
                u0=states,
                coarsening=SMALL,
                relax=NAMES_OR_WRONG(["F", "FCF"]),
                cycle=NAMES_OR_WRONG(["V", "F"]),
                iterations=st.one_of(st.none(), SMALL),
                tol=st.one_of(st.none(), REALS),
                initial=NAMES_OR_WRONG(["coarse", "u0", "nested"]),
                norm=_norms(),
            ),
            dict(
                valid=dict(
                    u0=st.just(np.array([1.0])),
                    coarsening=st.just(2),
                    relax=st.sampled_from(["F", "FCF"]),
                    cycle=st.sampled_from(["V", "F"]),
                    iterations=st.sampled_from([None, 0, 1, 3]),
                    tol=st.sampled_from([None, 1e-8]),
                    initial=st.sampled_from(["coarse", "u0", "nested"]),
                    norm=st.just(__import__("parareal_toolkit").max_abs),
                ),
                check=lambda r, kwargs: r["count"] == 5,
            ),
        ),
        "time_hierarchy": (
            ode.time_hierarchy,
            dict(
                problem=problems,
                steps=st.one_of(SMALL, st.sampled_from([8, 16, TimeGrid.uniform(1.0, 8)])),
                coarsening=SMALL,
                num_levels=SMALL,
                steppers=st.sampled_from(["implicit-euler", "rk4", "exact", "x", None, ["rk4", "exact"], [], 3]),
            ),
            dict(
                valid=dict(
                    problem=st.just(ode.dahlquist(-1.0)),
                    steps=st.sampled_from([8, 16]),
                    coarsening=st.just(2),
                    num_levels=st.sampled_from([2, 3]),
                    steppers=st.sampled_from(["implicit-euler", "rk4", "exact"]),
                ),
                check=lambda levels, kwargs: len(levels) == kwargs["num_levels"],
            ),
        ),
        "parareal_pair": (
            ode.parareal_pair,
            dict(
                levels=st.sampled_from([two, two[:1], two[::-1], [], None, "ab", [two[0], None], [None, two[1]]]),
                coarsening=SMALL,
            ),
            dict(
                valid=dict(coarsening=st.just(2)), check=lambda pair, kwargs: pair[0].num_slices == pair[1].num_slices
            ),
        ),
        "ComposedPropagator": (
            _composed,
            # a NaN state propagates to a NaN state: the driver, not the propagator, stops on it
            dict(propagator=st.one_of(LEVELS, st.sampled_from([None, "x", 3])), factor=SMALL, u=finite_states, j=SMALL),
            dict(
                valid=dict(factor=st.sampled_from([1, 2]), u=st.just(np.array([1.0])), j=st.sampled_from([0, 1, 3])),
                raises=(IndexError,),
            ),  # a slice outside 0..num_slices-1, as every propagator documents,
        ),
    }


FUNCTIONS_WITH_OBJECTS.update(_mgrit_cases())


def _forward(network, shape):
    """``network`` applied to zeros of ``shape`` (float64 where the network is), its output's numbers."""
    import torch

    parameter = next(network.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float64
    with torch.no_grad():
        return network.eval()(torch.zeros(shape, dtype=dtype))


def _module_propagator(modules, first_slice, u, j):
    from parareal_toolkit.nn import ModulePropagator

    return ModulePropagator(modules(), first_slice=first_slice)(u(), j)


def _resnet(depth, num_subnetworks, coarse_units, iterations, form):
    from parareal_toolkit.nn import parareal_resnet

    network = parareal_resnet(depth, num_subnetworks=num_subnetworks, coarse_units=coarse_units,
                              iterations=iterations, form=form)  # fmt: skip
    return _forward(network.double(), (1, 3, 8, 8))


def _linear(kind, num_blocks, width, in_channels, out_features, layers_per_block):
    from parareal_toolkit.nn import linear_network

    network = linear_network(kind, num_blocks=num_blocks, width=width, in_channels=in_channels,
                             out_features=out_features, layers_per_block=layers_per_block)  # fmt: skip
    shape = (2, in_channels) if kind == "dense" else (2, in_channels, 3, 3)
    return _forward(network, shape)


def _to_parareal(num_subnetworks, preprocess_layers, postprocess_layers, sizes, iterations, form):
    import torch
    from torch import nn

    from parareal_toolkit.nn import to_parareal

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), *(nn.Linear(3, 3) for _ in range(4)), nn.Linear(3, 1)).double()
    network = to_parareal(model, num_subnetworks, preprocess_layers=preprocess_layers,
                          postprocess_layers=postprocess_layers, sizes=sizes, iterations=iterations, form=form)  # fmt: skip
    return _forward(network, (2, 2))


def _nn_cases() -> dict:
    import torch
    from torch import nn

    import parareal_toolkit.nn as pnn

    modules = st.sampled_from(
        [lambda: [nn.Linear(2, 2).double()], lambda: [nn.Tanh(), nn.Linear(2, 2)], list, lambda: None,
         lambda: nn.Linear(2, 2), lambda: [3], lambda: "ab", lambda: nn.ModuleList([nn.Tanh()])]
    )  # fmt: skip
    inputs = st.sampled_from(
        [lambda: torch.ones(1, 2, dtype=torch.float64), lambda: torch.ones(1, 2), lambda: np.ones((1, 2)),
         lambda: torch.ones(1, 3, dtype=torch.float64), lambda: torch.ones(0, 2, dtype=torch.float64),
         lambda: None, lambda: [1.0, 2.0], lambda: torch.ones(1, 2, dtype=torch.complex128)]
    )  # fmt: skip
    depths = st.sampled_from([11, 20, 2, 0, -7, 12, 9 * 10**6 + 2, 2**63, None, "11", 11.0, True])
    forms = NAMES_OR_WRONG(["correction", "update"])
    sizes = st.sampled_from([None, [1, 1, 1, 1], [2, 2], [4], [0, 4], [-1, 5], "ab", [1.5, 2.5], [10**12, 1]])
    return {
        # a module's own error on a tensor it cannot take (a matrix product of the wrong
        # width) is the module's: the propagator passes it on unchanged, as the driver does
        "ModulePropagator": (
            _module_propagator,
            dict(modules=modules, first_slice=SMALL, u=inputs, j=st.one_of(st.just(0), SMALL)),
            dict(raises=(IndexError, RuntimeError)),
        ),
        "parareal_resnet": (
            _resnet,
            dict(
                depth=depths,
                num_subnetworks=SMALL,
                coarse_units=st.one_of(st.none(), SMALL),
                iterations=SMALL,
                form=forms,
            ),
            dict(
                valid=dict(
                    depth=st.sampled_from([11, 20]),
                    num_subnetworks=st.sampled_from([1, 2, 3]),
                    coarse_units=st.sampled_from([None, 1]),
                    iterations=st.sampled_from([0, 1, 2]),
                    form=st.sampled_from(["correction", "update"]),
                ),
                check=lambda out, kwargs: tuple(out.shape) == (1, 10),
            ),
        ),
        "preact_resnet": (
            lambda depth, num_classes: _forward(pnn.preact_resnet(depth, num_classes).double(), (1, 3, 8, 8)),
            dict(depth=depths, num_classes=SMALL),
            dict(check=lambda out, kwargs: tuple(out.shape) == (1, kwargs["num_classes"])),
        ),
        "linear_network": (
            _linear,
            dict(
                kind=NAMES_OR_WRONG(pnn.KINDS),
                num_blocks=SMALL,
                width=SMALL,
                in_channels=SMALL,
                out_features=SMALL,
                layers_per_block=SMALL,
            ),
            dict(
                valid=dict(
                    kind=st.sampled_from(pnn.KINDS),
                    num_blocks=st.sampled_from([1, 3]),
                    width=st.sampled_from([1, 2]),
                    in_channels=st.sampled_from([1, 2]),
                    out_features=st.sampled_from([1, 2]),
                    layers_per_block=st.sampled_from([1, 2]),
                ),
                check=lambda out, kwargs: out.shape[0] == 2,
            ),
        ),
        "to_parareal": (
            _to_parareal,
            dict(
                num_subnetworks=SMALL,
                preprocess_layers=SMALL,
                postprocess_layers=SMALL,
                sizes=sizes,
                iterations=SMALL,
                form=forms,
            ),
            dict(
                valid=dict(
                    num_subnetworks=st.sampled_from([1, 2, 4]),
                    preprocess_layers=st.just(1),
                    postprocess_layers=st.just(1),
                    sizes=st.sampled_from([None, [1, 1, 1, 1], [2, 2]]),
                    iterations=st.sampled_from([0, 1, 3]),
                    form=st.sampled_from(["correction", "update"]),
                ),
                check=lambda out, kwargs: tuple(out.shape) == (2, 1),
                aliases=("model",),
            ),
        ),
        "split_blocks": (
            lambda blocks, sizes: pnn.split_blocks([nn.Tanh() for _ in range(blocks)], sizes),
            dict(blocks=st.sampled_from([0, 1, 4]), sizes=sizes),
            dict(check=lambda parts, kwargs: sum(len(p) for p in parts) == kwargs["blocks"]),
        ),
    }


def _plans_cases() -> dict:
    import parareal_toolkit.plans as plans

    spec = plans.resnet_unit_specs(11)[0]
    specs = st.sampled_from([spec, None, "u", 3, (16, 16, 1, 32)])
    costs_calls = st.sampled_from([lambda a, b: float(b - a), lambda a, b: math.nan, lambda a, b: -1.0,
                                   lambda a, b: "x", lambda a, b: None, None, 3])  # fmt: skip
    return {
        "UnitSpec": (
            plans.UnitSpec,
            dict(in_channels=SMALL, out_channels=SMALL, stride=SMALL, resolution=SMALL),
            {},
        ),
        "unit_multiply_adds": (plans.unit_multiply_adds, dict(spec=specs), {}),
        "unit_parameters": (plans.unit_parameters, dict(spec=specs, norm=FLAGS), {}),
        "stage_unit_specs": (plans.stage_unit_specs, dict(depth=SMALL), {}),
        "unit_count_bound": (
            plans.unit_count_bound,
            dict(
                subnetwork_units=st.sampled_from([[3, 3], [], [0], [-1], None, "ab", [10**12]]),
                coarse_units=st.sampled_from([[1], [], [0], [-1, 1], None, [1.5]]),
            ),
            {},
        ),
        "parareal_resnet_table": (
            lambda depth, subnetworks, coarse_units: plans.parareal_resnet_table(
                depth, subnetworks, coarse_units=coarse_units
            ),
            dict(
                depth=st.sampled_from([11, 20, 0, None, 12]),
                subnetworks=st.sampled_from([(1, 3), (), (0,), None, "1", 3]),
                coarse_units=st.one_of(st.none(), SMALL),
            ),
            dict(aliases=("num_subnetworks",)),  # each entry of `subnetworks` is a row's num_subnetworks
        ),
        "virtual_time_partition": (
            plans.virtual_time_partition,
            dict(costs=LISTS, num_parts=SMALL, coarse_cost=costs_calls),
            dict(
                valid=dict(
                    costs=st.lists(st.floats(0.1, 10.0), min_size=1, max_size=6), num_parts=st.sampled_from([1, 2, 3])
                ),
                check=lambda parts, kwargs: [i for p in parts for i in p] == list(range(len(kwargs["costs"]))),
            ),
        ),
    }


def _training_cases() -> dict:
    from parareal_toolkit.training import ClassPatterns, TrainConfig, build_model

    def config(**fields):
        return TrainConfig(**{k: v for k, v in fields.items() if v is not _DEFAULT})

    def model(model, depth, subnetworks, coarse_units, split, norm):
        network = build_model(TrainConfig(model=model, depth=depth, subnetworks=subnetworks,
                                          coarse_units=coarse_units, split=split, norm=norm, device="cpu"))  # fmt: skip
        return _forward(network.double(), (1, 3, 8, 8))

    def default(values):
        return st.one_of(st.just(_DEFAULT), values)

    lists = st.sampled_from([[], [1, 2], [2, 1], [0], None, "ab", [1.5], [0.5, 0.5, 0.5], [math.nan] * 3])
    return {
        "TrainConfig": (
            config,
            dict(
                depth=default(SMALL),
                subnetworks=default(SMALL),
                coarse_units=default(SMALL),
                epochs=default(SMALL),
                batch_size=default(SMALL),
                lr=default(REALS),
                momentum=default(REALS),
                weight_decay=default(REALS),
                gamma=default(REALS),
                milestones=default(lists),
                workers=default(SMALL),
                threads=default(SMALL),
                timeout=default(REALS),
                eval_every=default(SMALL),
                seed=default(SMALL),
                mean=default(lists),
                train_size=default(SMALL),
                image_size=default(SMALL),
                amp=default(NAMES_OR_WRONG(["none", "bf16"])),
                placement=default(NAMES_OR_WRONG(["single", "devices"])),
                download=default(FLAGS),
            ),
            {},
        ),
        "build_model": (
            model,
            dict(
                model=NAMES_OR_WRONG(["resnet", "parareal-resnet"]),
                depth=st.sampled_from([11, 20, 0, 12, None]),
                subnetworks=SMALL,
                coarse_units=st.one_of(st.none(), SMALL),
                split=NAMES_OR_WRONG(["units", "cost"]),
                norm=NAMES_OR_WRONG(["batch", "none"]),
            ),
            dict(
                valid=dict(
                    model=st.sampled_from(["resnet", "parareal-resnet"]),
                    depth=st.just(11),
                    subnetworks=st.sampled_from([1, 3]),
                    coarse_units=st.sampled_from([None, 1]),
                    split=st.sampled_from(["units", "cost"]),
                    norm=st.sampled_from(["batch", "none"]),
                ),
                check=lambda out, kwargs: tuple(out.shape) == (1, 10),
            ),
        ),
        "ClassPatterns": (
            lambda size, num_classes, amplitude, noise, seed, index: ClassPatterns(
                size, num_classes=num_classes, amplitude=amplitude, noise=noise, seed=seed
            )[index][0],
            dict(size=SMALL, num_classes=SMALL, amplitude=REALS, noise=REALS, seed=SMALL, index=SMALL),
            dict(raises=(IndexError,)),  # an index outside the data set, as every sequence documents
        ),
    }


_DEFAULT = object()
FUNCTIONS_WITH_OBJECTS.update(_nn_cases())
FUNCTIONS_WITH_OBJECTS.update(_plans_cases())
FUNCTIONS_WITH_OBJECTS.update(_training_cases())


@pytest.mark.parametrize("name", list(FUNCTIONS_WITH_OBJECTS))
def test_a_function_of_objects_returns_a_finite_consistent_result_or_refuses_naming_the_argument(name):
    case = FUNCTIONS_WITH_OBJECTS[name]
    # where a case names valid values for some arguments, half the examples draw those (the
    # others still hostile), so that results are checked too, not only refusals
    valid = {**case[1], **case[2].get("valid", {})}

    @given(st.one_of(st.fixed_dictionaries(valid), st.fixed_dictionaries(case[1])))
    def check(kwargs):
        _run_case(name, case, kwargs)

    check()
