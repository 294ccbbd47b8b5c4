"""The erratum: the seed's Algorithm 1 read literally stalls; the correction form converges."""

import numpy as np

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, heat_1d, seed_algorithm1_literal


def heat_setup(m=50, n=10, t_final=0.1):
    problem = heat_1d(m, t_final=t_final)
    grid = TimeGrid.uniform(t_final, n)
    fine = ExactPropagator(problem.ode, grid)
    coarse = ImplicitEulerPropagator(problem.ode, grid)
    return problem, grid, fine, coarse, propagate_sequentially(fine, problem.u0)


def test_literal_algorithm1_stalls_while_the_correction_form_converges():
    problem, grid, fine, coarse, reference = heat_setup()
    literal = seed_algorithm1_literal(fine, coarse, grid, problem.u0, iterations=6, reference=reference)
    correct = parareal(fine, coarse, problem.u0, iterations=6, form="correction", reference=reference)
    assert literal.errors[0] == correct.errors[0]  # same coarse start
    # stalls: the error at T_1 is never corrected (S_0 does not exist, so δ_1 = 0)
    np.testing.assert_allclose(literal.errors, literal.errors[0], rtol=1e-12)
    np.testing.assert_allclose(literal.slice_errors[:, 1], literal.slice_errors[0, 1], rtol=0, atol=0)
    # converges: at least a factor 3 per iteration (theory: at most 0.2984 per iteration)
    ratios = np.array(correct.errors[1:]) / np.array(correct.errors[:-1])
    assert np.all(ratios < 1 / 3)
    assert correct.errors[-1] < 1e-4 * literal.errors[-1]


def test_literal_algorithm1_stalls_on_other_grids_too():
    for m, n in ((20, 5), (80, 16)):
        problem, grid, fine, coarse, reference = heat_setup(m, n)
        literal = seed_algorithm1_literal(fine, coarse, grid, problem.u0, iterations=4, reference=reference)
        assert min(literal.errors) >= 0.99 * literal.errors[0]
