"""ZB-H1's closed form m(f+b+w) + (p-1)(f+b-w) holds exactly when w <= min(f, b).

With p >= 2 stages and m >= p micro-batches, a weight gradient longer than the shorter of
the forward and the activation gradient leaves more bubble than the closed form counts, so
w <= f + b (once written in a docstring) is not enough: p = m = 2, f = b = 2, w = 3 takes 16
cycles, not 15.
"""

from hypothesis import example, given
from hypothesis import strategies as st
from layerpipe_checks import assert_feasible

from parareal_toolkit.layerpipe import build_schedule, profile_from_costs, simulate


def zb_h1_makespan(p, m, f, b, w):
    return simulate(build_schedule("zb-h1", profile_from_costs([f] * p, [b] * p, [w] * p), p, microbatches=m))


@given(
    p=st.integers(2, 6),
    extra=st.integers(0, 5),
    f=st.integers(1, 8),
    b=st.integers(1, 8),
    w=st.integers(1, 17),
)
@example(p=2, extra=0, f=2, b=2, w=2)  # on the boundary: the closed form holds
@example(p=2, extra=0, f=2, b=2, w=3)  # just past it, still w <= f + b: it does not
@example(p=3, extra=1, f=5, b=1, w=2)  # w <= f and w <= f + b, but w > b
@example(p=3, extra=1, f=1, b=5, w=2)  # w <= b, but w > f
def test_zb_h1_closed_form_holds_exactly_when_w_is_at_most_min_f_b(p, extra, f, b, w):
    m = p + extra
    trace = zb_h1_makespan(p, m, f, b, w)
    assert_feasible(trace)
    closed_form = m * (f + b + w) + (p - 1) * (f + b - w)
    if w <= min(f, b):
        assert trace.makespan == closed_form
    else:  # never shorter: the extra weight-gradient time shows as bubble
        assert trace.makespan > closed_form


def test_w_at_most_f_plus_b_is_not_sufficient():
    assert zb_h1_makespan(2, 2, 2, 2, 3).makespan == 16
    assert 2 * (2 + 2 + 3) + (2 - 1) * (2 + 2 - 3) == 15
