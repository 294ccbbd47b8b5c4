"""Bad input gets a ValueError/TypeError at the public entry point, naming the argument and echoing the value."""

import re

import numpy as np
import pytest

from parareal_toolkit import TimeGrid, parareal
from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, LinearODE, heat_1d


@pytest.fixture
def heat():
    problem = heat_1d(6)
    grid = TimeGrid.uniform(0.1, 4)
    return problem, ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)


def test_non_square_matrix():
    with pytest.raises(ValueError, match=r"`A` must be a square matrix; got shape \(2, 3\)"):
        LinearODE(np.ones((2, 3)))


def test_non_finite_matrix():
    with pytest.raises(ValueError, match="`A` must be finite"):
        LinearODE(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="`A` must be finite"):
        LinearODE(np.array([[np.inf]]))


def test_non_numeric_matrix():
    with pytest.raises(TypeError, match="`A` must be a real matrix"):
        LinearODE([["a", "b"], ["c", "d"]])


def test_u0_of_the_wrong_shape(heat):
    problem, fine, coarse = heat
    with pytest.raises(ValueError, match=r"`u0` must have shape \(6,\); got \(5,\)"):
        parareal(fine, coarse, np.ones(5))
    with pytest.raises(ValueError, match=r"`initial\[1\]` must have shape \(6,\)"):
        parareal(fine, coarse, problem.u0, initial=[np.ones(6), np.ones(2), np.ones(6)])
    with pytest.raises(ValueError, match="`u0` must be finite"):
        parareal(fine, coarse, np.full(6, np.nan))


def test_non_increasing_grid():
    with pytest.raises(ValueError, match=r"`times` must be strictly increasing; got \[0.0, 0.5, 0.5, 1.0\]"):
        TimeGrid([0.0, 0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        TimeGrid([0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="`times` must be finite"):
        TimeGrid([0.0, np.inf])


def test_zero_slices():
    with pytest.raises(ValueError, match="`num_slices` must be at least 1; got 0"):
        TimeGrid.uniform(1.0, 0)
    with pytest.raises(ValueError, match="at least 2 boundaries"):
        TimeGrid([0.0])

    class Empty:
        num_slices = 0

        def __call__(self, u, j):
            return u

    with pytest.raises(ValueError, match="`fine.num_slices` must be at least 1; got 0"):
        parareal(Empty(), Empty(), np.ones(1))


def test_negative_iterations(heat):
    problem, fine, coarse = heat
    with pytest.raises(ValueError, match="`iterations` must be non-negative; got -1"):
        parareal(fine, coarse, problem.u0, iterations=-1)
    with pytest.raises(TypeError, match="`iterations` must be an integer; got 2.5"):
        parareal(fine, coarse, problem.u0, iterations=2.5)


def test_non_positive_tolerance(heat):
    problem, fine, coarse = heat
    for bad in (0.0, -1e-8, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="`tol` must be positive and finite"):
            parareal(fine, coarse, problem.u0, tol=bad)
    with pytest.raises(ValueError, match="monitor"):
        parareal(fine, coarse, problem.u0, tol=1e-3, monitor=False)


def test_mismatched_slice_counts(heat):
    problem, fine, _ = heat
    other = ImplicitEulerPropagator(problem.ode, TimeGrid.uniform(0.1, 5))
    with pytest.raises(ValueError, match="fine.num_slices=4 and coarse.num_slices=5"):
        parareal(fine, other, problem.u0)


def test_other_bad_arguments(heat):
    problem, fine, coarse = heat
    with pytest.raises(ValueError, match="`form` must be one of"):
        parareal(fine, coarse, problem.u0, form="literal")
    with pytest.raises(ValueError, match="`backend` must be one of"):
        parareal(fine, coarse, problem.u0, backend="gpu-magic")
    with pytest.raises(TypeError, match="`fine` must be a propagator"):
        parareal(42, coarse, problem.u0)
    with pytest.raises(TypeError, match="`coarse` must have an integer attribute `num_slices`"):
        parareal(fine, lambda u, j: u, problem.u0)
    with pytest.raises(ValueError, match="`initial` must hold N - 1 = 3"):
        parareal(fine, coarse, problem.u0, initial=[problem.u0])
    with pytest.raises(
        ValueError, match="`iterations` must be at least 1 when `initial` holds no guess of the end state"
    ):
        parareal(fine, coarse, problem.u0, initial=[problem.u0] * 3, iterations=0)
    assert parareal(fine, coarse, problem.u0, initial=[problem.u0] * 4, iterations=0).final is not None
    with pytest.raises(ValueError, match="`reference` must hold N \\+ 1 = 5"):
        parareal(fine, coarse, problem.u0, reference=[problem.u0])
    with pytest.raises(ValueError, match="`substeps` must be at least 1; got 0"):
        ImplicitEulerPropagator(problem.ode, TimeGrid.uniform(0.1, 4), substeps=0)
    with pytest.raises(IndexError, match="0 <= j < 4; got 4"):
        fine(problem.u0, 4)
    with pytest.raises(TypeError, match="`ode` must be a LinearODE"):
        ExactPropagator(np.eye(2), TimeGrid.uniform(1.0, 2))


# --- complex values, shapes that would broadcast, network inputs ----------------------------


def test_complex_matrices_and_states_are_refused_not_cut_to_their_real_part(heat):
    import warnings

    import scipy.sparse as sp

    from parareal_toolkit.ode import LinearProblem

    problem, fine, coarse = heat
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning would be an error here: none is raised
        with pytest.raises(TypeError, match=r"`A` must be real; got a complex128 matrix .*\[\[Re A, -Im A\]"):
            LinearODE(np.array([[-1.0 + 1.0j]]))
        with pytest.raises(TypeError, match="`A` must be real; got a complex128 matrix"):
            LinearODE(sp.diags([-1.0 + 2.0j, -1.0]))
        with pytest.raises(TypeError, match="`A` must be real"):
            LinearODE([[1j]])
        with pytest.raises(TypeError, match="`u0` must be real; got a complex128 array"):
            LinearProblem("c", LinearODE([[-1.0]]), np.array([1.0 + 1.0j]), 1.0)
        with pytest.raises(TypeError, match="`u0` must be real; got a complex128 array"):
            parareal(fine, coarse, problem.u0 + 0j)
        with pytest.raises(TypeError, match=r"`initial\[2\]` must be real"):
            parareal(fine, coarse, problem.u0, initial=[problem.u0, problem.u0, problem.u0 * 1j])
        with pytest.raises(TypeError, match="`u` must be real"):
            fine(problem.u0 * 1j, 0)
        with pytest.raises(TypeError, match=r"`states\[1\]` must be real"):
            coarse.propagate_batch([problem.u0, problem.u0 * 1j], [0, 1])
    with pytest.raises(TypeError, match="`u0` must be a real array; got dtype bool"):
        parareal(fine, coarse, np.ones(6, dtype=bool))
    with pytest.raises(ValueError, match=r"`u0` must be finite; got 1 non-finite entry \(the first at index 2: inf\)"):
        parareal(fine, coarse, np.array([0, 0, np.inf, 0, 0, 0.0]))


@pytest.mark.parametrize("bad_shape", [(1,), (6, 1), (1, 6)])
def test_a_reference_that_would_broadcast_is_refused_naming_its_index(heat, bad_shape):
    problem, fine, coarse = heat
    reference = [problem.u0] * 5
    reference[3] = np.zeros(bad_shape)
    message = (
        rf"`reference\[3\]` must have shape \(6,\), the shape of the iterate's state U_3; got {re_shape(bad_shape)}"
    )
    with pytest.raises(ValueError, match=message):
        parareal(fine, coarse, problem.u0, reference=reference)
    reference = [np.zeros(bad_shape)] + [problem.u0] * 4
    with pytest.raises(ValueError, match=r"`reference\[0\]` must have shape \(6,\), the shape of `u0`"):
        parareal(fine, coarse, problem.u0, reference=reference)
    with pytest.raises(TypeError, match=r"`reference\[1\]` must be a state; got None"):
        parareal(fine, coarse, problem.u0, reference=[problem.u0, None, *[problem.u0] * 3])


def re_shape(shape):
    return re.escape(str(tuple(shape)))


def test_a_guess_that_would_broadcast_is_refused_for_any_state_type():
    import torch

    class Scale:
        num_slices = 3

        def __call__(self, u, j):
            return 0.5 * u

    for make in (lambda *s: np.ones(s), lambda *s: torch.ones(*s, dtype=torch.float64)):
        with pytest.raises(
            ValueError, match=r"`initial\[1\]` must have shape \(4,\), the shape of the fine state F_1\(U_1\)"
        ):
            parareal(Scale(), Scale(), make(4), initial=[make(4), make(4, 1)], form="correction")
        with pytest.raises(TypeError, match=r"`initial\[0\]` must be a state; got None"):
            parareal(Scale(), Scale(), make(4), initial=[None, make(4)])


def test_network_inputs_of_the_wrong_kind_dtype_or_device_are_named_before_torch_raises():
    import torch
    from torch import nn

    from parareal_toolkit.nn import PararealNetwork

    dense = lambda i, o: nn.Linear(i, o, bias=False, dtype=torch.float64)
    net = PararealNetwork([dense(3, 2), dense(3, 2)], [dense(2, 2), dense(2, 2)], [dense(2, 2)], dense(2, 1))
    with pytest.raises(TypeError, match=r"`x` must be a torch.Tensor; got ndarray \(convert it with torch.as_tensor\)"):
        net(np.ones((4, 3)))
    with pytest.raises(TypeError, match="`x` must have the network's dtype torch.float64; got torch.float32"):
        net(torch.ones(4, 3))
    with pytest.raises(TypeError, match="`x` must have the network's dtype torch.float64; got torch.int64"):
        net(torch.ones(4, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="`x` must be on the device of the network's first module, cpu; got meta"):
        net(torch.ones(4, 3, dtype=torch.float64, device="meta"))
    assert net(torch.ones(4, 3, dtype=torch.float64)).shape == (4, 1)
