"""Every backend returns exactly what the serial backend returns."""

import numpy as np
import pytest

from parareal_toolkit import TimeGrid, parareal
from parareal_toolkit.backends import ProcessBackend, get_backend
from parareal_toolkit.ode import ImplicitEulerPropagator, heat_1d


@pytest.fixture(scope="module")
def expensive_heat():
    problem = heat_1d(30)
    grid = TimeGrid([0.0, 0.01, 0.03, 0.05, 0.06, 0.1])  # non-uniform: several factorisations
    fine = ImplicitEulerPropagator(problem.ode, grid, substeps=50)
    coarse = ImplicitEulerPropagator(problem.ode, grid)
    return problem, fine, coarse


@pytest.mark.slow
@pytest.mark.parametrize("form", ["standard", "correction"])
def test_process_pool_equals_serial_bit_for_bit(expensive_heat, form):
    problem, fine, coarse = expensive_heat
    serial = parareal(fine, coarse, problem.u0, iterations=3, form=form, backend="serial")
    with ProcessBackend(2) as pool:
        pooled = parareal(fine, coarse, problem.u0, iterations=3, form=form, backend=pool)
        assert pool._pool is not None  # a pool passed in stays open for reuse
    assert pool._pool is None
    for a, b in zip(serial.states, pooled.states):
        np.testing.assert_array_equal(a, b)
    assert pooled.fine_evaluations == serial.fine_evaluations == 15


@pytest.mark.slow
def test_a_pool_created_by_name_is_closed_by_the_driver(expensive_heat, monkeypatch):
    problem, fine, coarse = expensive_heat
    created = []
    original_close = ProcessBackend.close

    def tracking_close(self):
        created.append(self._pool is not None)
        original_close(self)

    monkeypatch.setattr(ProcessBackend, "close", tracking_close)
    result = parareal(fine, coarse, problem.u0, iterations=1, backend="processes")
    assert result.iterations == 1 and created and created[-1] is True


def test_backend_validation():
    with pytest.raises(ValueError, match="`workers` must be at least 1; got 0"):
        ProcessBackend(0)
    with pytest.raises(TypeError, match="`workers` must be an integer"):
        ProcessBackend(1.5)
    with pytest.raises(ValueError, match="`start_method` must be one of"):
        ProcessBackend(1, start_method="teleport")
    with pytest.raises(TypeError, match="`backend` must be a name or an object"):
        get_backend(object())
    assert get_backend("serial").name == "serial"
