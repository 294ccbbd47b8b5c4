"""LayerPipe's partition, schedules and cycle ratios do not depend on the unit of the costs.

Multiplying every cost by ``2**k`` is exact in float64 (inside ``COST_RANGE``, away from
subnormals and overflow), and so is every sum, halving and comparison built from them. A
result that depends only on the costs must therefore be the same placement and the same
order, with every time multiplied by ``2**k`` exactly. Absolute tolerances (``1e-12`` added
to a load, ``+ 1`` on a bisection bound) broke this for costs far from 1: costs of
``1e-40`` all "fitted" in the tolerance of one processor.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from parareal_toolkit.layerpipe import (
    build_schedule,
    iteration_bound,
    max_cycle_ratio,
    partition_layerpipe,
    profile_from_costs,
    simulate,
)


@st.composite
def _costs_over_many_magnitudes(draw):
    """Layer costs ``m 2**e``: a common exponent anywhere in ``2**±250`` (1e±75), each layer up to
    ``2**±40`` (1e±12) around it, a few zeros; and a scale ``2**k``, ``|k| <= 60``."""
    layers = draw(st.integers(2, 6))
    centre = draw(st.integers(-250, 250))

    def cost():
        return draw(
            st.one_of(
                st.just(0.0),
                st.builds(lambda m, e: m * 2.0 ** (centre + e), st.floats(1.0, 2.0), st.integers(-40, 40)),
            )
        )

    forward = [cost() for _ in range(layers)]
    forward[0] = forward[0] or 2.0**centre  # some work
    triples = (forward, [cost() for _ in range(layers)], [cost() for _ in range(layers)])
    return triples, draw(st.integers(-60, 60))


def _scaled(triples, k):
    return tuple([c * 2.0**k for c in costs] for costs in triples)


@given(_costs_over_many_magnitudes(), st.integers(1, 6))
def test_partition_is_invariant_under_scaling_the_costs(drawn, processors):
    triples, k = drawn
    processors = min(processors, 3 * len(triples[0]))
    place = partition_layerpipe(profile_from_costs(*triples), processors)
    scaled = partition_layerpipe(profile_from_costs(*_scaled(triples, k)), processors)
    assert (scaled.forward, scaled.weight, scaled.activation) == (place.forward, place.weight, place.activation)
    assert scaled.target == place.target * 2.0**k


@given(_costs_over_many_magnitudes(), st.integers(1, 4))
def test_layerpipe_schedule_and_its_bound_are_invariant_under_scaling(drawn, processors):
    """The list-scheduled LayerPipe run: the same tasks start in the same order, at times x 2**k."""
    triples, k = drawn
    processors = min(processors, len(triples[0]), 3)
    runs = []
    for costs in (triples, _scaled(triples, k)):
        schedule = build_schedule("layerpipe", profile_from_costs(*costs), processors, steps=8)
        runs.append((simulate(schedule), iteration_bound(schedule)))
    (trace, bound), (scaled_trace, scaled_bound) = runs
    assert scaled_trace.start.keys() == trace.start.keys()
    assert all(scaled_trace.start[t] == trace.start[t] * 2.0**k for t in trace.start)
    assert scaled_trace.makespan == trace.makespan * 2.0**k
    assert scaled_bound == bound * 2.0**k


@given(
    st.lists(st.tuples(st.floats(1.0, 2.0), st.integers(-40, 40)), min_size=3, max_size=3),
    st.integers(-250, 250),
    st.integers(-60, 60),
)
def test_max_cycle_ratio_is_invariant_under_scaling(times, centre, k):
    """A triangle with one delay: its ratio is the sum of its times, for times of any one scale."""
    node_time = [m * 2.0 ** (centre + e) for m, e in times]
    edges = [(0, 1, 0, 0.0), (1, 2, 0, 0.0), (2, 0, 1, 0.0)]
    ratio = max_cycle_ratio(3, edges, node_time)
    scaled = max_cycle_ratio(3, edges, [t * 2.0**k for t in node_time])
    assert scaled == ratio * 2.0**k
    assert abs(ratio - sum(node_time)) <= 1e-12 * sum(node_time) + 4 * 2.0**-52 * sum(node_time)
