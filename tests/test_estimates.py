"""Up-front estimates and the runs that used to never end (issue 20, "every long command estimates first").

The estimates are models: their arithmetic is checked exactly (hypothesis), their accuracy
against a measured small run within a stated factor. The refusals are in
``tests/test_bad_inputs.py``.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.integrate
from call_budget import count_calls
from hypothesis import given
from hypothesis import strategies as st
from rounding import gamma

from parareal_toolkit import TimeGrid
from parareal_toolkit.driver import parareal
from parareal_toolkit.errors import InputError
from parareal_toolkit.ode import ImplicitEulerPropagator, NonlinearODE, SolveIVPPropagator, heat_1d, heat_2d
from parareal_toolkit.ode.measured_speedup import speedup_study
from parareal_toolkit.ode.speedup_estimate import estimate_speedup_study
from parareal_toolkit.propagator import propagate_sequentially

# --- parareal speedup --------------------------------------------------------------------

_SMALL = heat_1d(8, sparse=True)


@given(
    slices=st.integers(1, 10**6),
    fine=st.integers(1, 10**6),
    coarse=st.integers(1, 100),
    workers=st.lists(st.integers(1, 64), min_size=1, max_size=4, unique=True),
    repeats=st.integers(1, 9),
    k=st.integers(0, 50),
)
def test_speedup_estimate_counts_every_sweep(slices, fine, coarse, workers, repeats, k):
    """The model's time is the counted substeps times one substep: exact up to float64 rounding."""
    cost = estimate_speedup_study(
        _SMALL, slices=slices, fine_substeps=fine, coarse_substeps=coarse, workers=workers, repeats=repeats, pilot=False
    )
    c = cost.substep_s
    fine_sweep, coarse_sweep = slices * fine * c, slices * coarse * c
    sweeps = (1 + repeats) * fine_sweep + coarse_sweep * (1 + repeats * (3 + len(workers)))
    search = math.ceil(slices / max(workers)) * fine * c + coarse_sweep
    timed = repeats * sum(math.ceil(slices / w) * fine * c + coarse_sweep for w in workers)
    eps = np.finfo(float).eps
    assert cost.seconds - cost.parts["pool start-up"] == pytest.approx(sweeps, rel=64 * eps)
    assert cost.seconds_per_iteration == pytest.approx(search + timed, rel=64 * eps)
    assert cost.total(k) == pytest.approx(cost.seconds + k * (search + timed), rel=64 * eps)
    # more work never costs less
    more = estimate_speedup_study(
        _SMALL,
        slices=slices + 1,
        fine_substeps=fine + 1,
        coarse_substeps=coarse,
        workers=workers,
        repeats=repeats + 1,
        pilot=False,
    )
    assert more.total(k) > cost.total(k) and more.bytes > cost.bytes


@pytest.mark.slow
def test_speedup_estimate_within_a_factor_of_a_measured_study():
    """A small study (about a second, mostly the pool's start) takes 1/3 to 3 times its estimate.

    Measured on the 2-core development machine: 1.18 s for an estimate of 1.55 s (and, for
    heat2d 48 x 48 with 16 slices, 200 substeps, W = 1 2: 11.6 s for 8.1 s).
    """
    problem = heat_2d(16, sparse=True)
    options = {"slices": 4, "fine_substeps": 50, "workers": [1], "repeats": 1}
    cost = estimate_speedup_study(problem, **options)
    assert cost.measured
    start = time.perf_counter()
    study = speedup_study(problem, **options, time_limit=600)
    seconds = time.perf_counter() - start
    # a refusal needs the order of magnitude; a factor ten keeps the check independent of the machine's load
    assert cost.total(study.iterations) / 10 <= seconds <= 10 * cost.total(study.iterations)


def _parareal_errors_2norm(problem, slices, fine_substeps, coarse_substeps):
    """Parareal's relative 2-norm error per iteration against the fine solution, run in full."""
    grid = TimeGrid.uniform(problem.t_final, slices)
    fine = ImplicitEulerPropagator(problem.ode, grid, substeps=fine_substeps)
    coarse = ImplicitEulerPropagator(problem.ode, grid, substeps=coarse_substeps)
    reference = propagate_sequentially(fine, problem.u0)
    scale = max(np.linalg.norm(u) for u in reference)
    errors = []
    parareal(
        fine,
        coarse,
        problem.u0,
        callback=lambda info: errors.append(max(np.linalg.norm(a - b) for a, b in zip(info.states, reference)) / scale),
        store_iterates=False,
    )
    return errors


@pytest.mark.parametrize("slices, fine, coarse", [(16, 200, 4), (5, 30, 1)])
def test_krylov_parareal_errors_are_parareal_s_own_when_the_space_is_invariant(slices, fine, coarse):
    """m = 8 <= 12 Krylov directions: the space is all of R^m, so the estimate is parareal's error.

    Both sides apply the fine map N M times (SuperLU solves, or powers of the projected
    matrix), each a few rounded operations per entry of an 8-vector: gamma(2 N M m) bounds
    the difference of the relative errors.
    """
    problem = heat_1d(8, sparse=True)
    cost = estimate_speedup_study(problem, slices=slices, fine_substeps=fine, coarse_substeps=coarse, workers=[1])
    measured = _parareal_errors_2norm(problem, slices, fine, coarse)
    assert cost.estimated_errors is not None and len(cost.estimated_errors) == len(measured) == slices + 1
    np.testing.assert_allclose(cost.estimated_errors, measured, rtol=0, atol=gamma(2 * slices * fine * 8))


def test_krylov_parareal_errors_predict_the_iterations_of_a_larger_problem():
    """heat2d 16 x 16 (256 unknowns, 12 directions): each estimated error within 10% of parareal's.

    The slow modes that carry the error lie almost in the shift-invert Krylov space:
    estimated/actual is 0.993 to 1.000 for k = 0..7 (deterministic arithmetic, no timing),
    well inside the margin of ten on rtol that ``least_iterations`` allows.
    """
    problem = heat_2d(16, sparse=True)
    cost = estimate_speedup_study(problem, slices=16, fine_substeps=200, coarse_substeps=4, workers=[1])
    measured = _parareal_errors_2norm(problem, 16, 200, 4)
    assert cost.estimated_errors is not None
    for estimated, actual in zip(cost.estimated_errors[:8], measured[:8]):
        assert 0.9 * actual <= estimated <= 1.1 * actual
    k_needed = next(k for k, error in enumerate(measured) if error <= 1e-6)
    assert cost.least_iterations(1e-6) <= k_needed


def test_speedup_size_300_is_refused_from_the_pilot_before_any_study_work(monkeypatch, capsys):
    """``parareal speedup --size 300`` used to start the study and be stopped ~90 s later, once K >= 1
    showed; now the pilot's Krylov estimate of K refuses it with no fine solve and no pool.

    Counted, not timed: the refusal makes ~2e4 function calls (one 90000-unknown sparse
    factorisation and a dozen solves, each one call); the study's reference solve alone is
    3200 solves and the pool's start far more calls.
    """
    from parareal_toolkit.backends import ProcessBackend
    from parareal_toolkit.cli import main

    def no_pool(*args, **kwargs):
        raise AssertionError("the pool was started")

    monkeypatch.setattr(ProcessBackend, "start", no_pool)
    status, calls = count_calls(main, ["speedup", "--size", "300"])
    err = capsys.readouterr().err
    assert status == 2 and "K >= " in err and "exceeds --time-limit 600 s" in err
    assert calls < 100_000


def test_speedup_study_over_its_time_limit_is_refused_before_any_work():
    problem = heat_1d(8, sparse=True)
    with pytest.raises(InputError, match=r"more than `time_limit`=0.01 s; use fewer slices"):
        speedup_study(problem, slices=4, fine_substeps=10, workers=[1], repeats=1, time_limit=0.01)


# --- solve_ivp on a right-hand side that becomes non-finite ---------------------------------


@given(method=st.sampled_from(["RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA"]), bad=st.integers(0, 30))
def test_solve_ivp_stops_at_the_first_nonfinite_evaluation(method, bad):
    """A NaN from the right-hand side at its ``bad``-th evaluation ends the slice as all NaN, at once."""
    calls = []

    def rhs(t, u):
        calls.append(t)
        return np.full_like(u, np.nan) if len(calls) > bad else -u

    fine = SolveIVPPropagator(NonlinearODE(rhs, 2), TimeGrid.uniform(1.0, 1), method=method)
    out = fine(np.ones(2), 0)
    if len(calls) > bad:  # the bad evaluation was reached
        assert np.isnan(out).all() and len(calls) == bad + 1
    else:  # the slice ended first: the plain integration, bit for bit
        plain = scipy.integrate.solve_ivp(lambda t, u: -u, (0.0, 1.0), np.ones(2), method=method, rtol=1e-8, atol=1e-10)
        np.testing.assert_array_equal(out, plain.y[:, -1])


def test_solve_ivp_nonfinite_start_is_nonfinite_without_a_step():
    calls = []
    fine = SolveIVPPropagator(NonlinearODE(lambda t, u: calls.append(t) or -u, 2), TimeGrid.uniform(1.0, 1))
    assert np.isnan(fine(np.array([1.0, np.inf]), 0)).all() and not calls


# --- parareal ode: the pilot steps' watchdog -------------------------------------------------


def test_pilot_watchdog_stops_a_pilot_that_would_never_end():
    """A pilot slice that never returns is stopped after max(budget, 1 s) and reported as stopped."""
    from parareal_toolkit.cli._ode_estimate import _seconds_per_slice

    def endless(t, u):
        while True:
            time.sleep(0.01)

    problem = type("P", (), {"u0": np.ones(2), "ode": NonlinearODE(endless, 2)})()
    grid = TimeGrid.uniform(1.0, 2)
    start = time.perf_counter()
    seconds, stopped = _seconds_per_slice(SolveIVPPropagator(problem.ode, grid), problem, grid, "fine", 0.01)
    assert stopped and seconds >= 1.0 and time.perf_counter() - start >= 1.0


def test_pilot_watchdog_leaves_no_alarm_behind():
    import signal

    from parareal_toolkit.cli._ode_estimate import _watchdog

    before = signal.getsignal(signal.SIGALRM)
    with _watchdog(30.0):
        pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) is before


# --- parareal train: the pilot of each unit shape -------------------------------------------


def test_training_estimate_counts_batches_epochs_and_evaluations():
    """batch = per image x images; epoch = batches x batch; total adds a third per test image evaluated."""
    from parareal_toolkit.training.resources import estimate_training_seconds

    cost = estimate_training_seconds(
        11, images_per_batch=16, batches_per_epoch=3, test_images=8, epochs=4, eval_every=2, threads=1
    )
    per_image = cost["batch"] / 16
    eps = np.finfo(float).eps
    assert cost["epoch"] == pytest.approx(3 * cost["batch"], rel=8 * eps)
    assert cost["total"] == pytest.approx(4 * cost["epoch"] + 2 * 8 * per_image / 3, rel=8 * eps)


@pytest.mark.slow
def test_training_estimate_is_a_lower_bound_within_a_factor_of_a_measured_step():
    """One SGD step of ResNet-20 on 64 images takes 1/1.5 to 5 times the pilot's estimate (it omits the stem,
    the head and the optimiser, so it is low rather than high)."""
    import torch

    from parareal_toolkit.training import TrainConfig
    from parareal_toolkit.training.models import build_model
    from parareal_toolkit.training.resources import estimate_training_seconds

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cost = estimate_training_seconds(
            20, images_per_batch=64, batches_per_epoch=1, test_images=0, epochs=1, pilot_images=8
        )
        model = build_model(TrainConfig(depth=20, dataset="patterns"))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
        samples = []
        for _ in range(3):  # the first is a warm-up
            start = time.perf_counter()
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            samples.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    measured = min(samples[1:])
    # the order of magnitude, as above: a factor ten either way whatever else the machine runs
    assert cost["batch"] / 10 <= measured <= 10 * cost["batch"], (measured, cost["batch"])


# --- parareal ode: the time-stepper estimate counts every slice the run evaluates ---------------


def _counted_stepper_run(options):
    """Build ``parareal ode --problem brusselator`` with ``options``; count slices and f/J calls per role.

    Returns the predicted slice evaluations, the pilot's f and J calls per slice (one step at
    ``u0`` times the substeps, as the estimate times it), the measured slice evaluations and
    the measured f and J calls (one per row of ``rhs_rows``, one per ``jacobian``).
    """
    from parareal_toolkit.cli import build_parser
    from parareal_toolkit.cli._ode_build import build_steppers
    from parareal_toolkit.cli._ode_estimate import slice_evaluations
    from parareal_toolkit.cli._ode_execute import execute_steppers

    args = build_parser().parse_args(["ode", "--problem", "brusselator", *options])
    args.coarse_substeps_given = args.coarse_substeps is not None
    args.coarse_substeps = args.coarse_substeps or 1
    run = build_steppers(args)
    ode = run.problem.ode
    role = ["pilot"]
    calls = {"pilot": 0, "fine": 0, "coarse": 0}
    rows = {"fine": 0, "coarse": 0}
    rhs_rows, jacobian = ode.rhs_rows, ode.jacobian

    def counted_rhs(t, U):
        calls[role[0]] += np.shape(U)[0]
        return rhs_rows(t, U)

    def counted_jacobian(t, u):
        calls[role[0]] += 1
        return jacobian(t, u)

    ode.rhs_rows, ode.jacobian = counted_rhs, counted_jacobian
    per_slice = {}
    for name, stepper in (("fine", run.fine), ("coarse", run.coarse)):
        t0, t1 = (float(t) for t in run.grid.times[:2])
        before = calls["pilot"]
        type(stepper)(ode, TimeGrid([t0, t0 + (t1 - t0) / stepper.substeps]))(run.problem.u0, 0)
        per_slice[name] = (calls["pilot"] - before) * stepper.substeps

        def advance(U, slices, advance=stepper._advance, name=name):
            rows[name] += len(slices)
            outer, role[0] = role[0], name
            try:
                return advance(U, slices)
            finally:
                role[0] = outer

        stepper._advance = advance
    outcome = execute_steppers(run)
    return slice_evaluations(run), per_slice, rows, calls, outcome.result.iterations


@pytest.mark.parametrize(
    "options",
    [
        ["--size", "4", "--slices", "4", "--t-final", "1"],  # m = 8 <= 16: an increment run computes L too
        [
            "--size",
            "12",
            "--slices",
            "3",
            "--t-final",
            "1",
            "--criterion",
            "estimate",
            "--tol",
            "1e-9",
        ],  # L for the criterion
        ["--size", "12", "--slices", "3", "--t-final", "1"],  # m = 24 > 16 with Newton: no L
    ],
)
def test_stepper_estimate_counts_the_slices_and_calls_the_run_makes(options):
    """The Brusselator's stepper estimate used to leave out the ``N (m + 1)`` fine slices of ``L``
    (about 3x low at the default size with ``--criterion estimate``): now the counted fine
    slices are exactly the run's, the coarse ones at most ``K`` more (parareal's sweeps
    skip the slice already exact), and the f and J calls from the pilot's per-step count
    within a factor two of the run's (Newton's iterations per step vary along the
    trajectory: measured 0.75 to 1.0 of the pilot's; counted, not timed).
    """
    predicted, per_slice, rows, calls, iterations = _counted_stepper_run(options)
    assert rows["fine"] == predicted["fine"]
    assert predicted["coarse"] - iterations <= rows["coarse"] <= predicted["coarse"]
    for role in ("fine", "coarse"):
        modelled = per_slice[role] * predicted[role]
        assert modelled / 2 <= calls[role] <= 2 * modelled


# --- parareal layerpipe: memory before work ----------------------------------------------------


def test_layerpipe_memory_estimate_bounds_a_simulated_run():
    """One GPipe run of 16 layers on P = 8 for 400 micro-batches: the traced peak (Python objects,
    deterministic for a Python version) is at most the estimate and at least a quarter of it."""
    import tracemalloc

    from parareal_toolkit.cli.layerpipe import _estimated_bytes
    from parareal_toolkit.layerpipe import build_schedule, profile_from_costs, simulate

    profile = profile_from_costs([1.0] * 16, [1.0] * 16, [1.0] * 16)
    simulate(build_schedule("gpipe", profile, 2, microbatches=2))  # first-call caches, not the run's memory
    tracemalloc.start()
    try:
        simulate(build_schedule("gpipe", profile, 8, microbatches=400))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = _estimated_bytes([8], ["gpipe"], 400, "decide")
    assert estimate / 4 <= peak <= estimate


def test_layerpipe_over_the_memory_is_refused_before_any_simulation(capsys):
    """10^8 micro-batches of GPipe: terabytes of tasks, refused from the counts (few calls, no task built)."""
    from parareal_toolkit.cli import main

    argv = ["layerpipe", "--schedules", "gpipe", "--microbatches", "100000000", "--time-limit", "1e15"]
    status, calls = count_calls(main, argv)
    assert status == 2 and "micro-batches) needs" in capsys.readouterr().err
    assert calls < 200_000
