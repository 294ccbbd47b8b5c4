"""The public API against drawn arguments: a result that is finite, or a refusal of the project's type.

Every public function of the ODE half that takes numbers is called with arguments drawn from
inside, at the edge of and outside its domain (NaN, ±inf, 1e308, the smallest subnormal,
zero, negatives, sizes no machine can hold, wrong types, numpy scalars). Each call must
either return a finite result (where the function documents ``inf``, at a pole or where a
factor is unbounded, that ``inf`` is allowed) or raise a
:class:`~parareal_toolkit.errors.PararealError` (a refusal naming the argument) or a
``MemoryError`` (a request that cannot fit, refused before allocating). A plain
``ValueError``/``TypeError`` from numpy, an ``IndexError`` or an ``OverflowError`` is a bug.
"""

from __future__ import annotations

import math
import warnings

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
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = function(**kwargs)
        except (PararealError, MemoryError):
            return
        for value in _values(result):
            array = np.asarray(value, dtype=complex)
            assert not np.any(np.isnan(array)), f"{name}({kwargs}) returned NaN"
            if not documented_inf:
                assert np.all(np.isfinite(array)), f"{name}({kwargs}) returned a non-finite value"

    check()
