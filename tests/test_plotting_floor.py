"""One floor for every log plot of errors: exact zeros are marked on it, and it sits at most
two decades under the smallest nonzero value drawn (never at the smallest float)."""

import matplotlib

matplotlib.use("Agg")

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parareal_toolkit.plotting import NONFINITE_LABEL, ZERO_LABEL, semilogy_errors

SERIES, ZEROS, NONFINITE = "parareal-log-errors", "parareal-exact-zeros", "parareal-nonfinite"

# errors as the driver reports them: normal positive floats over most of float64's range,
# exact zeros (the fine solution reproduced), NaN and infinity (a diverged iterate)
value = st.one_of(
    st.floats(min_value=1e-290, max_value=1e290, allow_nan=False, allow_infinity=False),
    st.just(0.0),
    st.just(math.nan),
    st.just(math.inf),
)
series = st.lists(value, min_size=1, max_size=12)


def _markers(ax, gid):
    return [line for line in ax.get_lines() if line.get_gid() == gid]


def _legend(ax):
    return [t.get_text() for t in ax.legend().get_texts()]


@given(st.lists(series, min_size=1, max_size=4))
def test_floor_and_markers_on_random_series(all_series):
    fig, ax = plt.subplots()
    try:
        lines = [semilogy_errors(ax, np.arange(len(y)), y, label=f"s{i}") for i, y in enumerate(all_series)]
        data = np.concatenate([np.asarray(y, dtype=float) for y in all_series])
        positive = data[np.isfinite(data) & (data > 0)]
        floor, top = ax.get_ylim()
        assert ax.get_yscale() == "log"
        if positive.size:
            # never below min / 100, and low enough that every nonzero value is above the floor
            assert positive.min() / 100 <= floor <= positive.min() / 10
            assert top >= positive.max()
        # the lines carry the data unchanged
        for line, y in zip(lines, all_series):
            np.testing.assert_array_equal(line.get_ydata(), np.asarray(y, dtype=float))
        # one marker per exact zero, on the floor; one per NaN or infinity, on the top edge
        zeros, nonfinite = _markers(ax, ZEROS), _markers(ax, NONFINITE)
        assert sum(len(m.get_xdata()) for m in zeros) == int((data == 0).sum())
        assert sum(len(m.get_xdata()) for m in nonfinite) == int((~np.isfinite(data)).sum())
        assert all(np.all(m.get_ydata() == floor) for m in zeros)
        assert all(np.all(m.get_ydata() == top) for m in nonfinite)
        # each kind of marker has exactly one legend entry, present exactly when it is drawn
        legend = _legend(ax)
        assert legend.count(ZERO_LABEL) == (1 if (data == 0).any() else 0)
        assert legend.count(NONFINITE_LABEL) == (1 if (~np.isfinite(data)).any() else 0)
    finally:
        plt.close(fig)


@given(st.floats(min_value=1e-290, max_value=1e290))
def test_single_point(y):
    fig, ax = plt.subplots()
    try:
        semilogy_errors(ax, [0], [y])
        floor, top = ax.get_ylim()
        assert y / 100 <= floor <= y / 10 and top >= y
        assert not _markers(ax, ZEROS)
    finally:
        plt.close(fig)


def test_all_zero_series_is_marked_on_a_finite_floor():
    fig, ax = plt.subplots()
    semilogy_errors(ax, [0, 1, 2], [0.0, 0.0, 0.0], label="G = F")
    floor, top = ax.get_ylim()
    assert 0 < floor < top < 1  # a round-off-sized axis, not 1e-308
    assert _legend(ax) == ["G = F", ZERO_LABEL]
    (markers,) = _markers(ax, ZEROS)
    np.testing.assert_array_equal(markers.get_xdata(), [0, 1, 2])
    plt.close(fig)


def test_a_later_series_moves_the_floor_and_the_markers():
    fig, ax = plt.subplots()
    semilogy_errors(ax, [0, 1], [1e-3, 0.0])
    assert ax.get_ylim()[0] == pytest.approx(1e-4)
    semilogy_errors(ax, [0, 1, 2], [1e-2, 1e-9, 1e-12])
    floor = ax.get_ylim()[0]
    assert floor == pytest.approx(1e-13)
    (markers,) = _markers(ax, ZEROS)
    assert markers.get_ydata()[0] == floor
    plt.close(fig)


def test_bad_inputs_are_refused():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="`y` must be nonnegative"):
        semilogy_errors(ax, [0, 1], [1e-3, -1e-9])
    with pytest.raises(ValueError, match="same length"):
        semilogy_errors(ax, [0, 1, 2], [1e-3, 1e-9])
    plt.close(fig)
