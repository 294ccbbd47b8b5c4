"""The seed paper's Algorithm 1 read literally: a documented counter-example.

Lee, Park & Lee (Algorithm 1) write the correction step as an implicit-Euler solve with a
source, ``(δ_{j+1} - δ_j)/ΔT_j = A δ_{j+1} + S_j``, i.e.
``δ_{j+1} = (I - ΔT_j A)^{-1} (δ_j + ΔT_j S_j)`` with the jump indexed at ``T_j``, then
``U_{j+1} += δ_{j+1}``. Read literally this does **not** converge: ``S_0`` does not exist
(taken as 0), so ``δ_1 = 0`` and ``U_1`` keeps its coarse error forever; the factor
``ΔT_j`` also shrinks every later jump. On the 1-D heat equation (m = 50, N = 10,
T = 0.1, hat initial value) the error stays at 2.5e-2 while the correct correction form,
``δ_{j+1} = G_j(δ_j) + S_{j+1}`` with ``S_{j+1} = F_j(U_j) - U_{j+1}``, falls
3.2e-3, 6.0e-4, 1.2e-4, ... per iteration (see ``tests/test_seed_algorithm1.py``).

Each of the three departures matters on its own: fixing the index but keeping ``ΔT S``
still stalls; putting the jump inside the implicit solve, ``G_j(δ_j + S_{j+1})``,
converges but far more slowly than parareal. The toolkit's driver implements the correct
form (:func:`parareal_toolkit.parareal` with ``form="correction"``); this module exists
only so the counter-example can be run and tested.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_int
from ..driver import PararealResult
from ..errors import InputError
from ..propagator import TimeGrid, check_propagator, propagate_sequentially

__all__ = ["seed_algorithm1_literal"]


def seed_algorithm1_literal(
    fine, coarse, grid: TimeGrid, u0: np.ndarray, *, iterations: int, reference=None
) -> PararealResult:
    """Run Algorithm 1 of the seed paper exactly as printed (it stalls; see module docs).

    On the 1-D heat equation (m = 50, N = 10) its error never changes where the correct
    correction form's falls every iteration: ``U_1`` keeps its coarse error forever because
    the jump ``S_0`` does not exist.

    Parameters
    ----------
    fine : Propagator
        The fine propagator on ``grid``.
    coarse : Propagator
        Must be the implicit-Euler propagator ``(I - ΔT_j A)^{-1}`` on ``grid``.
    grid : TimeGrid
        The slices (the algorithm scales each jump by ``ΔT_j``).
    u0 : numpy.ndarray
        The initial value.
    iterations : int, keyword-only
        The number of iterations, at least 0.
    reference : sequence of numpy.ndarray, optional
        ``N + 1`` exact states for the per-iteration (max-abs) errors.

    Returns
    -------
    PararealResult
        The iterates of the literal algorithm, so it plots like the real thing;
        ``converged`` is always False and ``form`` is ``"seed-algorithm1-literal"``.

    Examples
    --------
    The literal reading never changes its error; the driver's correction form does:

    >>> from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
    >>> from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, heat_1d, seed_algorithm1_literal
    >>> problem = heat_1d(20)
    >>> grid = TimeGrid.uniform(problem.t_final, 6)
    >>> fine, coarse = ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)
    >>> reference = propagate_sequentially(fine, problem.u0)
    >>> literal = seed_algorithm1_literal(fine, coarse, grid, problem.u0, iterations=3, reference=reference)
    >>> correct = parareal(fine, coarse, problem.u0, iterations=3, form="correction", reference=reference)
    >>> len(set(literal.errors)), correct.errors[3] < correct.errors[0] / 10
    (1, True)
    """
    n = check_propagator(fine, "fine")
    if check_propagator(coarse, "coarse") != n or grid.num_slices != n:
        raise InputError(
            f"`fine`, `coarse` and `grid` must have the same number of slices; got "
            f"{n}, {coarse.num_slices} and {grid.num_slices}."
        )
    iterations = check_int(iterations, "iterations", minimum=0)
    steps = grid.steps
    states = propagate_sequentially(coarse, u0)
    iterates = [states]
    increments = []
    for _ in range(iterations):
        fine_values = [fine(states[j], j) for j in range(n)]
        # jumps[j] is S_j of the paper; S_0 is undefined there and taken as zero.
        jumps = [np.zeros_like(u0)] + [fine_values[j] - states[j + 1] for j in range(n)]
        delta = [np.zeros_like(u0)]
        for j in range(n):
            delta.append(coarse(delta[j] + steps[j] * jumps[j], j))
        new = [u + d for u, d in zip(states, delta)]
        increments.append(max(float(np.abs(d).max()) for d in delta))
        states = new
        iterates.append(states)
    nonfinite = next((k for k, it in enumerate(iterates) if not all(np.all(np.isfinite(u)) for u in it)), None)
    errors = slice_errors = None
    if reference is not None:
        slice_errors = np.array([[float(np.abs(u - r).max()) for u, r in zip(it, reference)] for it in iterates])
        errors = slice_errors.max(axis=1).tolist()
    return PararealResult(
        states=states,
        iterates=iterates,
        increments=increments,
        errors=errors,
        slice_errors=slice_errors,
        converged=False,
        iterations=iterations,
        num_slices=n,
        fine_evaluations=n * iterations,
        coarse_evaluations=n * (iterations + 1),
        form="seed-algorithm1-literal",
        initial="coarse",
        finite=nonfinite is None,
        nonfinite_iteration=nonfinite,
    )
