"""`backend="auto"` (the default) picks batched or serial from the problem and gives the serial
iterates; the driver's concatenated default-norm path gives exactly the per-state norms."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from parareal_toolkit import TimeGrid, max_abs, parareal, propagate_sequentially
from parareal_toolkit.backends import AutoBackend, get_backend
from parareal_toolkit.norms import slice_norms
from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, heat_1d


def _heat(m, slices, fine_class=ExactPropagator):
    problem = heat_1d(m)
    grid = TimeGrid.uniform(problem.t_final, slices)
    return problem, fine_class(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)


@pytest.mark.parametrize(
    ("m", "slices", "fine_class", "choice"),
    [
        (20, 8, ExactPropagator, "serial"),  # small states: the per-call overhead batching saves is smaller
        (63, 4, ImplicitEulerPropagator, "serial"),
        (64, 4, ImplicitEulerPropagator, "batched"),
        (100, 8, ExactPropagator, "batched"),
    ],
)
def test_auto_chooses_from_the_problem_and_gives_the_serial_iterates(m, slices, fine_class, choice):
    problem, fine, coarse = _heat(m, slices, fine_class)
    auto = get_backend("auto")
    assert isinstance(auto, AutoBackend)
    result = parareal(fine, coarse, problem.u0, iterations=3, backend=auto)
    assert auto.choice == choice
    serial = parareal(fine, coarse, problem.u0, iterations=3, backend="serial")
    for k, (a_iterate, s_iterate) in enumerate(zip(result.iterates, serial.iterates)):
        for a, s in zip(a_iterate, s_iterate):
            if choice == "serial":
                np.testing.assert_array_equal(a, s)  # the very same calls
            else:  # a matrix-matrix product sums in another order
                np.testing.assert_allclose(a, s, rtol=0, atol=1e-14 * (k + 1))


def test_auto_is_the_default_backend():
    problem, fine, coarse = _heat(100, 8)
    default = parareal(fine, coarse, problem.u0, iterations=2)
    auto = parareal(fine, coarse, problem.u0, iterations=2, backend="auto")
    for a, b in zip(default.states, auto.states):
        np.testing.assert_array_equal(a, b)


def test_auto_runs_serially_without_propagate_batch_or_with_one_slice():
    problem, fine, _ = _heat(100, 4)
    auto = AutoBackend()
    plain = lambda u, j: fine(u, j)  # a callable without propagate_batch
    assert not auto.chooses_batched(plain, [problem.u0] * 4)
    assert not auto.chooses_batched(fine, [problem.u0])
    assert auto.chooses_batched(fine, [problem.u0] * 2)
    assert not AutoBackend(min_batched_size=101).chooses_batched(fine, [problem.u0] * 2)


def test_auto_counts_torch_entries():
    torch = pytest.importorskip("torch")
    _, fine, _ = _heat(100, 4)
    states = [torch.zeros(2, 32), torch.zeros(2, 32)]  # 64 entries: numel(), not len()
    assert AutoBackend().chooses_batched(fine, states)
    assert not AutoBackend().chooses_batched(fine, [torch.zeros(2, 31)] * 2)


finite_or_not = st.one_of(st.floats(-1e300, 1e300), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0]))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda n: st.tuples(
            *(arrays(np.float64, (3, 2), elements=finite_or_not) for _ in range(2 * n)),
        )
    )
)
def test_concatenated_default_norm_equals_the_per_state_norms(pairs):
    half = len(pairs) // 2
    states, others = list(pairs[:half]), list(pairs[half:])
    with np.errstate(all="ignore"):
        fast = slice_norms(max_abs, states, others)
        slow = [float(max_abs(a - b)) for a, b in zip(states, others)]
    assert len(fast) == len(slow)
    for f, s in zip(fast, slow):
        assert (math.isnan(f) and math.isnan(s)) or f == s


def test_default_norm_path_and_a_generic_norm_give_the_same_increments_and_errors():
    problem, fine, coarse = _heat(30, 6)
    reference = propagate_sequentially(fine, problem.u0)
    fast = parareal(fine, coarse, problem.u0, reference=reference)
    generic = parareal(fine, coarse, problem.u0, reference=reference, norm=lambda x: max_abs(x))
    assert fast.increments == generic.increments
    assert fast.errors == generic.errors
    np.testing.assert_array_equal(fast.slice_errors, generic.slice_errors)


def test_complex_and_mixed_states_take_the_generic_path_with_the_same_values():
    a = [np.array([1 + 1j, 2.0]), np.array([0.5j, -1.0])]
    b = [np.zeros(2, complex), np.ones(2, complex)]
    assert slice_norms(max_abs, a, b) == [float(max_abs(x - y)) for x, y in zip(a, b)]
    mixed = [np.array([1.0, 2.0]), np.array([1, 2], dtype=np.int64)]
    assert slice_norms(max_abs, mixed, [np.zeros(2), np.zeros(2)]) == [2.0, 2.0]
