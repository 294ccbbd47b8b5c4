"""MGRIT's facts, pinned in float64: two-level F-relaxation is parareal bit for bit; exactness after k iterations
(F: C-points 0..k, FCF: 0..2k) for two to four levels, V- and F-cycles; multilevel convergence on heat;
backends, torch and autograd; nonlinear FAS; the hierarchy builder."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parareal_toolkit import ComposedPropagator, TimeGrid, mgrit, parareal, propagate_sequentially
from parareal_toolkit.ode import (
    ExactPropagator,
    ImplicitEulerPropagator,
    LinearODE,
    LinearProblem,
    NonlinearODE,
    NonlinearProblem,
    heat_1d,
    parareal_pair,
    time_hierarchy,
)
from parareal_toolkit.testing.ode import nonlinear_problems, stable_matrices

STEPPERS = ["exact", "implicit-euler", "rk4", "explicit-euler", "trapezoid"]
NONLINEAR_STEPPERS = ["implicit-euler", "trapezoid", "rk4", "explicit-euler"]


def fine_grid(draw, n0: int) -> TimeGrid:
    """A uniform or random non-uniform grid of ``n0`` steps on ``[0, T]``, steps short enough for explicit steppers."""
    if draw(st.booleans()):
        return TimeGrid.uniform(draw(st.floats(0.05, 1.0)), n0)
    steps = draw(st.lists(st.floats(0.005, 0.05), min_size=n0, max_size=n0))
    return TimeGrid(np.concatenate([[0.0], np.cumsum(steps)]))


@st.composite
def linear_cases(draw, *, max_levels: int = 2):
    """``(problem, levels, m, u0)``: a random stable or unstable ``A``, grid, hierarchy and steppers."""
    A = draw(stable_matrices(max_size=4))
    A = A + draw(st.sampled_from([0.0, 2.0])) * np.eye(A.shape[0])  # unstable half the time
    num_levels = draw(st.integers(2, max_levels))
    m = draw(st.integers(2, 4 if num_levels == 2 else 2))
    n_coarsest = draw(st.integers(1, 5 if num_levels == 2 else 3))
    n0 = n_coarsest * m ** (num_levels - 1)
    grid = fine_grid(draw, n0)
    u0 = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(A.shape[0])
    problem = LinearProblem("random", LinearODE(A), u0, float(grid.times[-1]))
    steppers = [draw(st.sampled_from(STEPPERS)) for _ in range(num_levels)]
    return problem, time_hierarchy(problem, grid, coarsening=m, num_levels=num_levels, steppers=steppers), m


def random_nonlinear_problem(seed: int, size: int) -> NonlinearProblem:
    """``u' = A u + B sin(u) + c t`` with random smooth terms."""
    rng = np.random.default_rng(seed)
    A = -np.eye(size) + 0.5 * rng.standard_normal((size, size))
    B = rng.standard_normal((size, size))
    c = rng.standard_normal(size)

    def rhs(t, u):
        return A @ u + B @ np.sin(u) + c * t

    return NonlinearProblem("random", NonlinearODE(rhs, size), rng.standard_normal(size), 0.5)


def assert_same_iterates(a, b):
    assert len(a.iterates) == len(b.iterates)
    for k, (x, y) in enumerate(zip(a.iterates, b.iterates)):
        for j, (u, v) in enumerate(zip(x, y)):
            np.testing.assert_array_equal(u, v, err_msg=f"k={k}, j={j}")


# --- 1. two-level F-relaxation is parareal -------------------------------------------------


@given(linear_cases(), st.data())
def test_two_level_f_relaxation_is_parareal_bit_for_bit_on_linear_problems(case, data):
    problem, levels, m = case
    n1 = levels[1].num_slices
    iterations = data.draw(st.integers(0, n1))
    initial = "coarse"
    if data.draw(st.booleans()):
        rng = np.random.default_rng(data.draw(st.integers(0, 100)))
        initial = [rng.standard_normal(problem.u0.shape) for _ in range(n1)]
    fine, coarse = parareal_pair(levels, m)
    guesses = None if isinstance(initial, str) else initial
    expected = parareal(fine, coarse, problem.u0, iterations=iterations, initial=guesses, backend="serial")
    result = mgrit(levels, problem.u0, coarsening=m, iterations=iterations, initial=initial, backend="serial")
    assert_same_iterates(result, expected)
    assert result.increments == expected.increments
    assert result.stop_reason == expected.stop_reason and result.converged == expected.converged
    # the same coarse work: N_1 for the sweep, N_1 - 1 per iteration (G(U_0) is never needed)
    assert result.coarse_evaluations == expected.coarse_evaluations
    assert result.fine_evaluations == (iterations + 1) * m * n1  # one F-relaxation more: the final one


@given(linear_cases(), st.sampled_from(["auto", "batched"]))
def test_batching_backends_keep_the_identity(case, backend):
    # parareal's composed fine propagator batches exactly as MGRIT's F-relaxation maps
    problem, levels, m = case
    expected = parareal(*parareal_pair(levels, m), problem.u0, backend=backend)
    assert_same_iterates(mgrit(levels, problem.u0, coarsening=m, backend=backend), expected)


@settings(max_examples=15)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(1, 4), st.integers(2, 3), st.data())
def test_two_level_f_relaxation_is_parareal_on_random_nonlinear_problems(seed, size, n1, m, data):
    problem = random_nonlinear_problem(seed, size)
    steppers = [data.draw(st.sampled_from(NONLINEAR_STEPPERS)) for _ in range(2)]
    levels = time_hierarchy(problem, n1 * m, coarsening=m, num_levels=2, steppers=steppers)
    expected = parareal(*parareal_pair(levels, m), problem.u0, backend="serial")
    assert_same_iterates(mgrit(levels, problem.u0, coarsening=m, backend="serial"), expected)


@settings(max_examples=15)
@given(nonlinear_problems(max_time=0.2), st.sampled_from(NONLINEAR_STEPPERS[:2]), st.integers(1, 3))
def test_two_level_f_relaxation_is_parareal_on_the_catalogue(problem, stepper, n1):
    levels = time_hierarchy(problem, 4 * n1, coarsening=2, num_levels=2, steppers=["rk4", stepper])
    levels = [levels[0], levels[1]]
    expected = parareal(*parareal_pair(levels, 2), problem.u0, backend="serial")
    assert_same_iterates(mgrit(levels, problem.u0, coarsening=2, backend="serial"), expected)


class MatrixPropagator:
    """``u -> M_j u``: a linear map computed as one matrix-vector product, whose rounding is bounded by γ_d."""

    linear = True

    def __init__(self, matrices):
        self.matrices = matrices
        self.num_slices = len(matrices)

    def __call__(self, u, j):
        return self.matrices[j] @ u


def rounding_recursion(n: int, iterations: int, l_fine: float, l_coarse: float, delta: float) -> float:
    """The largest ``e^K_j`` of ``e^{k+1}_{j+1} = L_F e^k_j + L_G (e^{k+1}_j + e^k_j) + Δ``, ``e^k_0 = e^0_j = 0``.

    Two parareal-type iterations whose updates differ only by rounding (at most ``Δ`` per
    update in the max-norm) and whose maps are ``L_F``- and ``L_G``-Lipschitz differ by at
    most ``e^k_j`` at ``U^k_j``: induction on ``k`` and ``j``.
    """
    e = [0.0] * (n + 1)
    worst = 0.0
    for _ in range(iterations):
        new = [0.0] * (n + 1)
        for j in range(n):
            new[j + 1] = l_fine * e[j] + l_coarse * (new[j] + e[j]) + delta
        e = new
        worst = max(worst, max(e))
    return worst


@given(stable_matrices(max_size=4), st.integers(1, 5), st.integers(2, 3), st.floats(0.05, 0.5), st.data())
def test_the_correction_form_agrees_to_rounding_for_linear_coarse(A, n1, m, h, data):
    from tests.rounding import EPS, gamma

    d = A.shape[0]
    step = ExactPropagator(LinearODE(A), TimeGrid.uniform(h, 1))._factor(h)  # expm(h A)
    coarse_matrix = np.linalg.inv(np.eye(d) - m * h * A)  # one implicit Euler step over m h
    fine = MatrixPropagator([step] * (n1 * m))
    coarse = MatrixPropagator([coarse_matrix] * n1)
    u0 = np.random.default_rng(data.draw(st.integers(0, 100))).standard_normal(d)
    iterations = data.draw(st.integers(0, n1))
    result = mgrit([fine, coarse], u0, coarsening=m, iterations=iterations, backend="serial")
    corrected = parareal(ComposedPropagator(fine, m), coarse, u0, iterations=iterations, form="correction")
    # Δ: one update's rounding in either form (two matrix-vector products of d terms, a
    # difference, a sum) plus the m products of each fine map evaluated on states that differ
    l_step, l_coarse = np.abs(step).sum(axis=1).max(), np.abs(coarse_matrix).sum(axis=1).max()
    scale = max(float(np.abs(u).max()) for it in (*result.iterates, *corrected.iterates) for u in it)
    scale = max(scale, *(float(np.abs(u).max()) for u in result.fine_states))
    l_fine = l_step**m
    delta = gamma(d + 3) * scale * (2 * m * l_step * max(1.0, l_step) ** m + 5 * l_coarse + 4) + EPS * scale
    bound = rounding_recursion(n1, iterations, l_fine, l_coarse, delta)
    for x, y in zip(result.states, corrected.states):
        np.testing.assert_allclose(x, y, rtol=0, atol=bound)


# --- 2. exactness ------------------------------------------------------------------------


@settings(max_examples=20)
@given(
    linear_cases(max_levels=4),
    st.sampled_from(["F", "FCF"]),
    st.sampled_from(["V", "F"]),
    st.sampled_from(["coarse", "nested"]),
)
def test_after_k_iterations_c_points_up_to_k_f_or_2k_fcf_are_exact(case, relax, cycle, initial):
    problem, levels, m = case
    reference = propagate_sequentially(levels[0], problem.u0)
    result = mgrit(levels, problem.u0, coarsening=m, relax=relax, cycle=cycle, initial=initial, backend="serial")
    n1 = levels[1].num_slices
    per_iteration = 1 if relax == "F" else 2
    assert result.iterations == math.ceil(n1 / per_iteration) and result.stop_reason == "exact"
    for k, iterate in enumerate(result.iterates):
        for c in range(min(per_iteration * k, n1) + 1):  # the same operations on the same inputs: bit for bit
            np.testing.assert_array_equal(iterate[c], reference[c * m], err_msg=f"k={k}, c={c}")
    for u, r in zip(result.fine_states, reference):  # and the final F-relaxation gives every fine point
        np.testing.assert_array_equal(u, r)
    assert result.residuals[-1] == 0.0


@settings(max_examples=10)
@given(linear_cases(max_levels=3))
def test_the_fine_solution_is_a_fixed_point(case):
    problem, levels, m = case
    reference = propagate_sequentially(levels[0], problem.u0)
    result = mgrit(levels, problem.u0, coarsening=m, initial=reference[m::m], relax="FCF", backend="serial")
    assert result.increments == [0.0] * result.iterations and set(result.residuals) == {0.0}


def test_iterations_beyond_exactness_are_capped_with_a_warning():
    problem = heat_1d(6)
    levels = time_hierarchy(problem, 16, coarsening=2, num_levels=3)
    with pytest.warns(UserWarning, match="capped at 4"):
        result = mgrit(levels, problem.u0, coarsening=2, relax="FCF", iterations=9)
    assert result.iterations == 4 and result.stop_reason == "exact" and result.converged


# --- 2b. PyMGRIT's iterates -------------------------------------------------------------


class PyMGRITReference:
    """PyMGRIT 1.0.6's FAS MGRIT on one process, written from its definition (``pymgrit/core/mgrit.py``).

    ``Mgrit(problem, cf_iter, cycle_type, nested_iteration=True, weight_c=1)`` with injection
    (``GridTransferCopy``): the same statements in the same order on lists of states, level
    ``l``'s step ``levels[l](u, j)``; level 0 has no ``g``, coarser levels add ``g`` in F- and
    C-relaxation and in the coarsest forward solve. ``iterates[k]`` is ``u[0]`` after
    iteration ``k`` (after the nested iteration for ``k = 0``), as PyMGRIT's ``output_fcn``
    sees it with ``output_lvl=2``. ``peak`` is the largest magnitude of any state computed.
    """

    def __init__(self, levels, u0, m, cf_iter, cycle):
        self.levels, self.m, self.cf_iter, self.cycle = levels, m, cf_iter, cycle
        self.top = len(levels) - 1
        self.u = [[u0] + [np.zeros_like(u0)] * p.num_slices for p in levels]
        self.v = [None] + [[np.zeros_like(u0)] * (p.num_slices + 1) for p in levels[1:]]
        self.g = [None] + [[np.zeros_like(u0)] * (p.num_slices + 1) for p in levels[1:]]
        self.peak = float(np.abs(u0).max())
        self.forward_solve(self.top)  # nested iteration
        for lvl in range(self.top - 1, -1, -1):
            for i, value in enumerate(self.u[lvl + 1]):
                self.u[lvl][i * m] = value.copy()
            if lvl > 0:
                self.iteration(lvl, "V", 0, first_f=True)
        self.iterates = [list(self.u[0])]

    def seen(self, x):
        self.peak = max(self.peak, float(np.abs(x).max()))
        return x

    def step(self, lvl, i):
        y = self.seen(self.levels[lvl](self.u[lvl][i - 1], i - 1))
        return y if lvl == 0 else self.seen(self.g[lvl][i] + y)

    def f_relax(self, lvl):
        for i in range(1, len(self.u[lvl])):
            if i % self.m:
                self.u[lvl][i] = self.step(lvl, i)

    def c_relax(self, lvl):
        for i in range(self.m, len(self.u[lvl]), self.m):
            self.u[lvl][i] = self.step(lvl, i)

    def fas_residual(self, lvl):
        m, coarse = self.m, self.levels[lvl + 1]
        self.v[lvl + 1] = [self.u[lvl][c * m].copy() for c in range(coarse.num_slices + 1)]
        self.u[lvl + 1] = [x.copy() for x in self.v[lvl + 1]]
        v = self.v[lvl + 1]
        for c in range(1, len(v)):
            r = self.seen(self.step(lvl, c * m) - self.u[lvl][c * m])
            self.g[lvl + 1][c] = self.seen(self.seen(r + v[c]) - self.seen(coarse(v[c - 1], c - 1)))

    def forward_solve(self, lvl):
        for i in range(1, len(self.u[lvl])):
            self.u[lvl][i] = self.step(lvl, i)

    def error_correction(self, lvl):
        for c, (w, v) in enumerate(zip(self.u[lvl + 1], self.v[lvl + 1])):
            self.u[lvl][c * self.m] = self.seen(self.u[lvl][c * self.m] + self.seen(w - v))

    def iteration(self, lvl, cycle, iteration, first_f):
        if lvl == self.top:
            self.forward_solve(lvl)
            return
        if (lvl > 0 or iteration == 0) and first_f:
            self.f_relax(lvl)
        for _ in range(self.cf_iter):
            self.c_relax(lvl)
            self.f_relax(lvl)
        self.fas_residual(lvl)
        self.iteration(lvl + 1, cycle, iteration, first_f=True)
        self.error_correction(lvl)
        self.f_relax(lvl)
        if lvl != 0 and cycle == "F":
            self.iteration(lvl, "V", iteration, first_f=False)

    def solve(self, iterations):
        for k in range(iterations):
            self.iteration(0, self.cycle, k, first_f=True)
            self.iterates.append(list(self.u[0]))
        return self


@st.composite
def integer_hierarchies(draw):
    """``(levels, u0, m)``: random matrices with entries in {-1, 0, 1}, at most one non-zero per row, per slice.

    Every step is exact in float64 (``|M u| <= |u|`` entrywise in max, integers), and so is
    every sum and difference while the states stay below ``2^40``: both algorithms then compute
    exactly, so equal algorithms give equal bits.
    """
    num_levels, m = draw(st.integers(2, 4)), draw(st.integers(2, 3))
    d, n_coarsest = draw(st.integers(1, 3)), draw(st.integers(1, 3 if num_levels < 4 else 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    levels = []
    for l in range(num_levels):
        n = n_coarsest * m ** (num_levels - 1 - l)
        matrices = np.zeros((n, d, d))
        columns, signs = rng.integers(0, d, size=(n, d)), rng.integers(-1, 2, size=(n, d))
        for j in range(n):
            matrices[j, np.arange(d), columns[j]] = signs[j]
        levels.append(MatrixPropagator(list(matrices)))
    return levels, rng.integers(-3, 4, size=d).astype(float), m


@given(integer_hierarchies(), st.sampled_from(["F", "FCF"]), st.sampled_from(["V", "F"]), st.data())
def test_initial_nested_gives_pymgrits_iterates(hierarchy, relax, cycle, data):
    # PyMGRIT's defaults (nested iteration, cf_iter=1) and cf_iter=0: the same iteration, so
    # in exact arithmetic (integer states, see integer_hierarchies) the same bits
    levels, u0, m = hierarchy
    iterations = data.draw(st.integers(0, math.ceil(levels[1].num_slices / (1 if relax == "F" else 2))))
    expected = PyMGRITReference(levels, u0, m, 0 if relax == "F" else 1, cycle).solve(iterations)
    result = mgrit(levels, u0, coarsening=m, relax=relax, cycle=cycle, iterations=iterations, initial="nested")
    assert expected.peak < 2.0**40  # every operation of either algorithm was exact
    assert result.initial == "nested" and len(result.iterates) == iterations + 1
    for k, (ours, theirs) in enumerate(zip(result.iterates, expected.iterates)):
        for c, (u, v) in enumerate(zip(ours, theirs[::m])):
            np.testing.assert_array_equal(u, v, err_msg=f"k={k}, c={c}")
    if iterations:  # u[0] after the last iteration's final F-relaxation, F-points included
        for i, (u, v) in enumerate(zip(result.fine_states, expected.iterates[-1])):
            np.testing.assert_array_equal(u, v, err_msg=f"fine point {i}")


def test_initial_nested_is_the_coarse_sweep_on_two_levels_and_a_v_cycle_on_three():
    problem = heat_1d(8)
    two = time_hierarchy(problem, 16, coarsening=2, num_levels=2)
    nested = mgrit(two, problem.u0, coarsening=2, relax="FCF", iterations=2, initial="nested")
    assert_same_iterates(nested, mgrit(two, problem.u0, coarsening=2, relax="FCF", iterations=2))
    three = time_hierarchy(problem, 16, coarsening=2, num_levels=3)
    nested = mgrit(three, problem.u0, coarsening=2, relax="FCF", iterations=0, initial="nested")
    # level 1 (8 slices, g = 0) from the level-2 sweep: one two-level FCF V-cycle of mgrit on levels 1 and 2
    inner = mgrit(three[1:], problem.u0, coarsening=2, relax="FCF", iterations=1)
    assert all(np.array_equal(u, v) for u, v in zip(nested.states, inner.fine_states, strict=True))
    # its cost: 2 sweep calls of level 2, then level 1's cycle, and no call of level 0 before its F-relaxation
    assert nested.level_evaluations[0] == 16 and nested.level_evaluations[2] == inner.level_evaluations[1]


# --- 3. multilevel convergence on heat ----------------------------------------------------


@pytest.mark.parametrize("num_levels", [3, 4])
@pytest.mark.parametrize("cycle", ["V", "F"])
def test_multilevel_fcf_converges_on_heat_and_needs_fewer_iterations_than_f(num_levels, cycle):
    problem = heat_1d(16)
    levels = time_hierarchy(problem, 128, coarsening=4 if num_levels == 3 else 2, num_levels=num_levels)
    m = 4 if num_levels == 3 else 2
    reference = propagate_sequentially(levels[0], problem.u0)[::m]
    runs = {
        relax: mgrit(levels, problem.u0, coarsening=m, relax=relax, cycle=cycle, tol=1e-8, criterion="residual")
        for relax in ("F", "FCF")
    }
    fcf = runs["FCF"]
    assert fcf.stop_reason == "tolerance" and fcf.residuals[-1] <= 1e-8
    assert fcf.iterations < runs["F"].iterations
    assert fcf.iterations <= 8  # of the 16 (FCF) after which it would be exact by the count alone
    # the residual bounds the error: e_c = sum of the propagated residuals, |Φ_0| <= 1 here (implicit Euler, heat)
    error = max(float(np.abs(u - r).max()) for u, r in zip(fcf.states, reference))
    assert error <= levels[0].num_slices * fcf.residuals[-1]


# --- 4. backends, torch, autograd ---------------------------------------------------------


@pytest.mark.slow
def test_processes_give_the_serial_iterates():
    problem = heat_1d(8)
    levels = time_hierarchy(problem, 24, coarsening=2, num_levels=3, steppers="implicit-euler")
    serial = mgrit(levels, problem.u0, coarsening=2, relax="FCF", cycle="F", backend="serial")
    from parareal_toolkit.backends import ProcessBackend

    with ProcessBackend(workers=2) as pool:
        processes = mgrit(levels, problem.u0, coarsening=2, relax="FCF", cycle="F", backend=pool)
        assert pool.startup_seconds is not None
    assert_same_iterates(processes, serial)  # the same code on the same inputs


def test_torch_tensors_run_and_gradients_flow():
    torch = pytest.importorskip("torch")
    from parareal_toolkit.ode import RK4Stepper

    problem = random_nonlinear_problem(3, 2)

    def rhs(t, u):  # the same equation on tensors
        A = torch.tensor(np.eye(2) * -1.0, dtype=u.dtype)
        return A @ u + torch.sin(u)

    ode = NonlinearODE(rhs, 2)
    grid = TimeGrid.uniform(problem.t_final, 12)
    levels = [RK4Stepper(ode, TimeGrid(grid.times[:: 2**l])) for l in range(3)]
    u0 = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    result = mgrit(levels, u0, coarsening=2, relax="FCF", cycle="V")  # exact after ceil(3 / 2) iterations
    assert result.stop_reason == "exact"
    (gradient,) = torch.autograd.grad(result.final.sum(), u0)
    sequential = propagate_sequentially(levels[0], u0)
    (expected,) = torch.autograd.grad(sequential[-1].sum(), u0)
    torch.testing.assert_close(result.final, sequential[-1], rtol=0, atol=0)
    # the graph differs (the coarse corrections add terms that cancel exactly), so rounding may differ
    from tests.rounding import gamma

    assert float((gradient - expected).abs().max()) <= gamma(64) * float(expected.abs().max()) * 12


# --- 5. nonlinear FAS ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "problem",
    ["lorenz", "vanderpol", "brusselator"],
)
def test_nonlinear_fas_converges_on_three_levels(problem):
    from parareal_toolkit.ode import brusselator, lorenz, van_der_pol

    made = {
        "lorenz": lambda: lorenz(t_final=0.4),
        "vanderpol": lambda: van_der_pol(2.0, t_final=1.0),
        "brusselator": lambda: brusselator(3, t_final=1.0),
    }[problem]()
    levels = time_hierarchy(made, 64, coarsening=4, num_levels=3, steppers=["rk4", "implicit-euler", "implicit-euler"])
    reference = propagate_sequentially(levels[0], made.u0)[::4]
    result = mgrit(levels, made.u0, coarsening=4, relax="FCF", tol=1e-9, criterion="residual", reference=reference)
    assert result.stop_reason == "tolerance" and result.iterations < 8
    assert result.errors[-1] <= 1e-6 * max(1.0, float(np.abs(np.asarray(reference)).max()))
    assert result.errors[-1] < result.errors[0] * 1e-3


# --- the hierarchy --------------------------------------------------------------------------


def test_time_hierarchy_coarsens_the_fine_grid():
    problem = heat_1d(5)
    grid = TimeGrid(np.cumsum([0.0, 0.1, 0.2, 0.1, 0.3, 0.05, 0.05, 0.1, 0.1]))
    levels = time_hierarchy(problem, grid, coarsening=2, num_levels=3, steppers=["exact", "implicit-euler", "rk4"])
    assert [p.grid.times.tolist() for p in levels] == [
        grid.times.tolist(),
        grid.times[::2].tolist(),
        grid.times[::4].tolist(),
    ]
    assert [type(p).__name__ for p in levels] == ["ExactPropagator", "ImplicitEulerPropagator", "RK4Stepper"]
    assert isinstance(levels[1], ImplicitEulerPropagator)


def test_callback_sees_every_iterate_and_can_stop():
    problem = heat_1d(6)
    levels = time_hierarchy(problem, 16, coarsening=2, num_levels=2)
    seen = []

    def callback(info):
        seen.append((info.k, info.residual))
        if info.k == 2:
            raise StopIteration

    result = mgrit(levels, problem.u0, coarsening=2, callback=callback)
    assert [k for k, _ in seen] == [0, 1, 2] and result.stop_reason == "callback"
    assert [r for _, r in seen] == result.residuals


def test_initial_u0_copies_and_nonfinite_states_are_reported():
    problem = heat_1d(6)
    levels = time_hierarchy(problem, 16, coarsening=2, num_levels=2)
    result = mgrit(levels, problem.u0, coarsening=2, initial="u0", iterations=2)
    assert result.initial == "u0" and all(np.array_equal(u, problem.u0) for u in result.iterates[0])

    class Overflowing:  # slice 5 overflows to infinity
        num_slices = 8

        def __call__(self, u, j):
            return u * (np.inf if j == 5 else 0.5)

    class Halving:
        num_slices = 4

        def __call__(self, u, j):
            return u * 0.25

    result = mgrit([Overflowing(), Halving()], np.ones(3), coarsening=2)
    # U^0 is finite; iteration 1 carries the infinity from fine point 6 into C-point 3
    assert not result.finite and result.stop_reason == "non-finite" and result.nonfinite_iteration == 1
    assert result.iterations == 1 and not result.converged
