"""What a ``parareal ode`` run costs, known before it runs, and the refusal of a run that cannot fit.

Linear problems are estimated from the options and a sparse probe of ``A`` (:func:`estimate`),
before anything large is built: the memory of the stored states and dense matrices against
:func:`~parareal_toolkit._resources.available_memory`, the seconds against ``--time-limit``.
The time steppers are estimated from one timed step of each (:func:`refuse_slow_stepper_run`).
A run over either limit is a :class:`~parareal_toolkit.errors.CliError` (exit status 2) whose
message names the estimate, its main cause and the option that lowers it.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .._resources import available_memory, format_bytes
from ._common import CliError

__all__ = [
    "BOUND_MAX_SIZE",
    "Estimate",
    "estimate",
    "duration",
    "announce",
    "refuse_what_does_not_fit",
    "refuse_slow_stepper_run",
    "computes_fine_lipschitz",
    "slice_evaluations",
    "OPTIONAL_LIPSCHITZ_SIZE",
]

BOUND_MAX_SIZE = 2500  # the linear error bound needs a dense eigendecomposition of A
_ANNOUNCE_SECONDS = 5.0  # runs estimated longer than this say so on stderr
OPTIONAL_LIPSCHITZ_SIZE = 16  # an increment run differences an implicit or solve_ivp fine stepper up to this m


@dataclass
class Estimate:
    """What a ``parareal ode`` run needs, estimated before anything large is built.

    Attributes
    ----------
    size : int
        ``m``, the state dimension.
    bytes : float
        Peak memory: dense matrices (the exponential, the factorisations, the
        eigendecomposition of the bound), sparse factors, and every stored state.
    seconds : float
        Run time on this machine: dense factorisations at a measured matrix-product rate,
        fine and coarse slices from per-substep (or per-``expm_multiply``-step) costs.
    parts : dict
        ``seconds`` split by cause (``"dense matrix functions"``, ``"fine slices"``, ...).
    dense_matrices : int
        How many dense ``m x m`` float64 matrices the memory estimate counts (0 for sparse).
    """

    size: int
    bytes: float
    seconds: float
    parts: dict[str, float] = field(default_factory=dict)
    dense_matrices: int = 0


def estimate(
    args: argparse.Namespace,
    probe: Any,
    size: int,
    iterations: int,
    *,
    per_iteration: tuple[float, float] | None = None,
) -> Estimate:
    """The memory and run time of ``parareal ode`` with options ``args``, before the run.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.
    probe : LinearProblem
        The problem with a *sparse* ``A`` when it has a size (cheap to build whatever the
        size), used for norms and fill-in.
    size : int
        ``m``, the state dimension.
    iterations : int
        ``K``, the number of parareal iterations (the cap with ``--tol``).
    per_iteration : tuple of float, optional
        ``(fine slices, coarse calls)`` of one iteration when it is not parareal's ``(N, N - 1)``:
        MGRIT's counts (``parareal_toolkit.ode.mgrit_cost``), its fine steps expressed in
        fine slices of ``M`` steps.

    Returns
    -------
    Estimate
        Peak bytes and seconds, with the seconds split by cause: an implicit-Euler substep
        costs about ``2 µs + 2e-10 s x m^2`` per state (dense; sparse: ``3 µs + 5e-9 s``
        per entry of the LU factors), dense factorisations run at a measured matrix-product
        rate, ``expm_multiply`` takes about ``5.6 ||ΔT A||_1`` steps per slice. Calibrated
        on an idle 2-core machine: a loaded one is slower. Meant to be right within a small
        factor, enough to refuse runs of hours.
    """
    import numpy as np
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    n, slices, k = size, args.slices, iterations
    A = probe.ode.A
    nnz = A.nnz if sp.issparse(A) else n * n
    step = probe.t_final / slices
    step_norm = float(spla.norm(A, 1) if sp.issparse(A) else np.abs(A).sum(axis=0).max()) * step
    if not math.isfinite(step_norm):
        raise CliError(
            f"--t-final {probe.t_final:g} over {slices} slices makes a slice's ΔT·||A|| overflow float64 "
            f"({step_norm}); use a smaller --t-final or more --slices."
        )
    fine_substeps = args.fine_substeps
    exact_fine = fine_substeps is None
    implicit_propagators = 1 if exact_fine else 2
    workers = {"batched": 1, "serial": 1, "processes": args.workers or os.cpu_count() or 1}.get(
        args.backend, int(os.environ.get("WORLD_SIZE", "1"))
    )
    # fine slices: the sequential reference (N calls), then K sweeps, each N calls spread
    # over the workers, or one batched call of N states
    batched = args.backend == "batched"
    sweep_calls = 1 if batched else math.ceil(slices / workers)
    coarse_evaluations = slices + slices + k * max(slices - 1, 0)  # timing sweep, initial sweep, K sweeps
    if per_iteration is not None:  # MGRIT: its fine sweeps per iteration as K' parareal sweeps, its coarse calls
        k = math.ceil(iterations * per_iteration[0] / slices)
        coarse_evaluations = slices + slices + math.ceil(iterations * per_iteration[1])
    parts: dict[str, float] = {}
    states_bytes = 8.0 * n * (slices + 1) * (k + 4)  # stored iterates, reference, batches in flight
    if args.sparse:
        fill = 0.7 * n**1.5 if probe.name == "heat2d" else 4.0 * nnz
        matrix_bytes = 12.0 * (3 * nnz + implicit_propagators * fill)
        dense = 0
        parts["sparse factorisations"] = 1e-7 * fill * implicit_propagators
        single = 3e-6 + 5e-9 * fill  # one splu solve (per substep)
        batch = 3e-6 + 5e-9 * fill * slices
        if exact_fine:
            steps = 5.6 * step_norm + 10  # expm_multiply: ~5.6 matrix-vector steps per unit of ||ΔT A||_1
            per_slice = steps * (1.5e-5 + 2e-9 * nnz)
            parts["fine slices"] = per_slice * (slices + k * sweep_calls * (slices if batched else 1))
    else:
        dense = (9 if exact_fine else 5) + (6 if n <= BOUND_MAX_SIZE else 0)
        matrix_bytes = 8.0 * n * n * dense
        rate = _matmul_rate() if n >= 1000 else 1e10
        flops = implicit_propagators * (2 / 3) * n**3
        if exact_fine:
            squarings = math.ceil(math.log2(step_norm / 5.37)) if step_norm > 5.37 else 0
            flops += 2.0 * n**3 * (7 + min(squarings, 2000))
            parts["fine slices"] = (2e-6 + 2e-10 * n * n) * (slices + k * slices)
        parts["dense matrix functions"] = flops / rate
        single = 2e-6 + 2e-10 * n * n  # one LAPACK getrs (per substep)
        batch = 2e-6 + 2e-10 * n * n * slices
    if not exact_fine:
        parts["fine slices"] = fine_substeps * (slices * single + k * (batch if batched else sweep_calls * single))
    parts["coarse slices"] = coarse_evaluations * args.coarse_substeps * single
    if n <= BOUND_MAX_SIZE:
        symmetric = probe.name in ("heat1d", "heat2d", "dahlquist")
        parts["error bound"] = (22 if symmetric else 62) * n**3 / (_matmul_rate() if n >= 1000 else 1e10)
    if args.backend == "processes":
        parts["process pool start"] = 1.5 * workers
    return Estimate(
        size=n,
        bytes=states_bytes + matrix_bytes,
        seconds=sum(parts.values()),
        parts=parts,
        dense_matrices=dense,
    )


_RATE: list[float] = []


def _matmul_rate() -> float:
    """Dense float64 matrix-product rate of this machine in flop/s (measured once, ~0.1 s)."""
    if not _RATE:
        import numpy as np

        a = np.ones((1024, 1024))
        a @ a  # warm the BLAS threads
        start = time.perf_counter()
        a @ a
        _RATE.append(2 * 1024**3 / max(time.perf_counter() - start, 1e-9))
    return _RATE[0]


def duration(seconds: float) -> str:
    """``seconds`` in the unit a reader grasps: seconds below two minutes, then min, h, days, years.

    Returns
    -------
    str
        Three significant digits and the unit, e.g. ``"42 s"``, ``"3.5 min"``, ``"1.2e+05 years"``.
    """
    if seconds < 120:
        return f"{seconds:.3g} s"
    for unit, length in (("min", 60), ("h", 3600), ("days", 86400), ("years", 3.15576e7)):
        if seconds < 120 * length or unit == "years":
            value = seconds / length
            if unit == "years" and value >= 1e4:
                return f"{value:.1e} years"
            return f"{value:.3g} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def _problem_size(args: argparse.Namespace) -> int:
    """``m``, the state dimension, computed without building anything."""
    from ..ode.problems import PROBLEMS

    if args.problem == "oscillator":
        return 2
    if args.problem == "dahlquist":
        return 1
    m = args.size if args.size is not None else inspect.signature(PROBLEMS[args.problem]).parameters["m"].default
    return int(m) ** 2 if args.problem == "heat2d" else int(m)


def refuse_what_does_not_fit(
    args: argparse.Namespace, iterations: int, per_iteration: tuple[float, float] | None = None
) -> Estimate:
    """Estimate a linear run and refuse it (exit 2, with the estimate and a way out) when it cannot fit.

    ``per_iteration`` is MGRIT's ``(fine slices, coarse calls)`` per iteration (see :func:`estimate`).

    Returns
    -------
    Estimate
        The estimate of a run that fits the available memory and ``--time-limit``.
    """
    from ..ode.problems import make_problem

    n = _problem_size(args)
    available = available_memory()
    states_bytes = 8.0 * n * (args.slices + 1) * (iterations + 4)
    if available is not None and states_bytes > available:
        raise CliError(
            f"storing the {iterations + 4} x {args.slices + 1} states of size {n} needs ~{format_bytes(states_bytes)}, "
            f"more than the {format_bytes(available)} available; use a smaller --size or fewer --slices or --iterations."
        )
    if not args.sparse and available is not None:
        per_matrix = 8.0 * n * n
        dense = 9 if args.fine_substeps is None else 5
        if per_matrix * dense > available:
            raise CliError(
                f"a dense {n}x{n} A needs ~{format_bytes(per_matrix * dense)} ({dense} dense float64 matrices of "
                f"{format_bytes(per_matrix)} for the matrix exponential and the factorisations), more than the "
                f"{format_bytes(available)} available; use --sparse or a smaller --size."
            )
    sized = args.problem in ("heat1d", "heat2d", "advection")
    if args.sparse and not sized:
        make_problem(
            args.problem, size=args.size, t_final=args.t_final, sparse=True, lam=args.lam
        )  # raises the message
    # a sparse A is cheap to build whatever the size, and gives the norms the estimate needs
    probe = make_problem(args.problem, size=args.size, t_final=args.t_final, sparse=sized, lam=args.lam)
    cost = estimate(args, probe, n, iterations, per_iteration=per_iteration)
    if available is not None and cost.bytes > available:
        raise CliError(
            f"this run needs ~{format_bytes(cost.bytes)} of memory, more than the {format_bytes(available)} available; "
            f"use {'a smaller --size' if args.sparse else '--sparse or a smaller --size'}."
        )
    _refuse_over_time_limit(args, cost)
    return cost


def _refuse_over_time_limit(args: argparse.Namespace, cost: Estimate) -> None:
    """Refuse a run estimated over ``--time-limit``, naming its costliest part and the option that shrinks it."""
    if cost.seconds <= args.time_limit:
        return
    cause = max(cost.parts, key=lambda part: cost.parts[part])
    ways = {
        "dense matrix functions": "use --sparse or a smaller --size",
        "error bound": "use --sparse or a smaller --size",
        "sparse factorisations": "use a smaller --size",
        "fine slices": (
            "use fewer --fine-substeps, fewer --slices or --iterations"
            if args.fine_substeps is not None
            else "use a smaller --t-final or more --slices (expm_multiply costs ~||ΔT A||_1 steps), or --fine-substeps"
        ),
        "coarse slices": "use fewer --coarse-substeps, --slices or --iterations",
        "process pool start": "use fewer --workers",
    }
    raise CliError(
        f"estimated run time ~{duration(cost.seconds)} ({cause}: ~{duration(cost.parts[cause])}) exceeds "
        f"--time-limit {args.time_limit:g} s; {ways[cause]}, or raise --time-limit."
    )


def announce(seconds: float) -> None:
    """Say on stderr how long the run will take, when that is more than a few seconds.

    Returns
    -------
    None
    """
    if seconds > _ANNOUNCE_SECONDS:
        print(f"parareal ode: estimated run time ~{duration(seconds)}", file=sys.stderr, flush=True)


def refuse_slow_stepper_run(run: Any, time_limit: float, evaluations: tuple[int, int] | None = None) -> None:
    """Refuse a time-stepper run estimated to exceed ``time_limit`` seconds; announce a long one.

    Slice evaluations counted by :func:`slice_evaluations` (the reference, ``K`` sweeps, the
    Gander–Hairer constants and, where the run computes it, the fine Lipschitz constant's
    ``N (m + 1)`` fine slices); a slice costs one timed step times the substeps (a solve_ivp
    slice is timed whole). Each pilot has
    a watchdog: before it, the memory and time of a dense Newton step (``4 m^2`` float64
    numbers, ``(2/3) m^3`` flops per iteration, when the Jacobian is dense) are compared
    with the available memory and the time budget; while it runs, it is stopped once it
    has taken longer than its share of ``time_limit`` (or 1 s, whichever is longer), which
    alone shows the run cannot fit. Evaluating the propagators can raise their own
    failures (Newton's method, solve_ivp); a singular Newton matrix or a non-finite
    Jacobian at the initial state is refused in one line.

    Parameters
    ----------
    run : OdeRun
        The built run (problem, grid, fine and coarse steppers, iterations ``K``).
    time_limit : float
        ``--time-limit``, in seconds.
    evaluations : tuple of int, optional
        ``(fine, coarse)`` slice evaluations of the whole run when they are not parareal's
        ``N (K + 4)`` each: MGRIT's counts (``parareal_toolkit.ode.mgrit_cost``).

    Returns
    -------
    None
    """
    if evaluations is not None:
        counts = {"fine": evaluations[0], "coarse": evaluations[1]}
    else:
        counts = slice_evaluations(run)
    seconds = 0.0
    for role, propagator in (("fine", run.fine), ("coarse", run.coarse)):
        count = counts[role]
        per_slice, stopped = _seconds_per_slice(propagator, run.problem, run.grid, role, time_limit / max(count, 1))
        seconds += per_slice * count
        if stopped:
            name = getattr(propagator, "name", type(propagator).__name__)
            raise CliError(
                f"the {role} propagator ({name}) takes more than ~{duration(per_slice)} per slice (its pilot was "
                f"stopped by the watchdog), and the run evaluates {count} slices: more than ~{duration(seconds)}, "
                f"over --time-limit {time_limit:g} s; use a {'stiff ' if role == 'fine' else ''}--{role} stepper "
                "suited to the problem, fewer --slices or --iterations, or raise --time-limit."
            )
    if seconds > time_limit:
        raise CliError(
            f"estimated run time ~{duration(seconds)} exceeds --time-limit {time_limit:g} s; use "
            "fewer --fine-substeps, --slices or --iterations, or raise --time-limit."
        )
    announce(seconds)


def computes_fine_lipschitz(run: Any) -> bool:
    """Whether the run differences the fine slice maps for ``L`` (``N (m + 1)`` fine slice evaluations).

    ``--criterion estimate`` needs ``L``; an increment run computes it for its table with an
    explicit fine stepper, or up to ``m = 16`` with an implicit or ``solve_ivp`` one. Never
    above ``m = 512`` (``FINE_LIPSCHITZ_MAX_SIZE``). A non-finite reference skips it too,
    which is known only after the reference: counted as computed.

    Returns
    -------
    bool
        True when the run will evaluate the ``N (m + 1)`` fine slices.
    """
    from ..ode import ExplicitEulerStepper, RK4Stepper
    from ..ode.nonlinear_theory import FINE_LIPSCHITZ_MAX_SIZE

    size = run.problem.ode.size
    if size > FINE_LIPSCHITZ_MAX_SIZE:
        return False
    explicit = isinstance(run.fine, (ExplicitEulerStepper, RK4Stepper))
    return run.criterion == "estimate" or size <= OPTIONAL_LIPSCHITZ_SIZE or explicit


def slice_evaluations(run: Any) -> dict[str, int]:
    """Slice evaluations of a time-stepper run, per propagator: what its time estimate multiplies.

    Each propagator: the reference or initial sweep (``N``), ``K`` sweeps (``N`` each, an
    upper bound: parareal skips the converged slices), and ``3N`` for the Gander–Hairer
    constants (two directions and the centre per slice); the fine one also ``N (m + 1)``
    for the Lipschitz constant ``L`` where :func:`computes_fine_lipschitz`.

    Returns
    -------
    dict
        ``{"fine": ..., "coarse": ...}``.
    """
    n, k = run.grid.num_slices, run.iterations
    base = n * (k + 4)
    lipschitz = n * (run.problem.ode.size + 1) if computes_fine_lipschitz(run) else 0
    return {"fine": base + lipschitz, "coarse": base}


# the watchdog's signal: TimeoutError(_PILOT_TIMEOUT), told apart from any other TimeoutError
_PILOT_TIMEOUT = "parareal ode: the pilot step ran past its watchdog"


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    """Raise ``TimeoutError(_PILOT_TIMEOUT)`` in this (main) thread after ``seconds``; elsewhere, no watchdog."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(_PILOT_TIMEOUT)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _seconds_per_slice(
    propagator: Any, problem: Any, grid: Any, role: str = "fine", budget: float = math.inf
) -> tuple[float, bool]:
    """One slice of ``propagator``, from one timed step of the real length ``h = ΔT_0 / M``.

    A step of length ``ΔT_0`` could fail where ``M`` steps do not; a solve_ivp slice, whose
    steps are its own, is timed whole. ``budget`` is the seconds one slice may take for the
    run to fit: a pilot stopped by its watchdog (after ``max(budget, 1 s)``) took longer
    than the budget, so the run cannot fit.

    Returns
    -------
    tuple of (float, bool)
        Seconds per slice (a lower bound when stopped), and whether the watchdog stopped the pilot.
    """
    import numpy as np

    from ..ode.solve_ivp_propagator import SolveIVPPropagator
    from ..propagator import TimeGrid

    name = getattr(propagator, "name", type(propagator).__name__)
    if isinstance(propagator, SolveIVPPropagator):
        pilot, steps = propagator, 1
    else:
        t0, t1 = float(grid.times[0]), float(grid.times[1])
        pilot = type(propagator)(propagator.ode, TimeGrid([t0, t0 + (t1 - t0) / propagator.substeps]))
        steps = propagator.substeps
        if getattr(propagator, "needs_jacobian", False):
            _refuse_dense_newton(propagator, problem, role, name, budget / steps)
    allowed = max(budget / steps, 1.0)
    start = time.perf_counter()
    try:
        with _watchdog(allowed):
            pilot(problem.u0, 0)  # the first call pays for imports and caches
            if pilot is not propagator:
                start = time.perf_counter()
                pilot(problem.u0, 0)
    except TimeoutError as exc:
        if exc.args != (_PILOT_TIMEOUT,):
            raise
        return max(allowed, time.perf_counter() - start) * steps, True
    except np.linalg.LinAlgError as exc:
        raise CliError(
            f"the {role} propagator ({name}) failed on its first step: {exc} (the Newton matrix I - h J is singular "
            "at the initial state); check the problem's parameters."
        ) from None
    return (time.perf_counter() - start) * steps, False


def _refuse_dense_newton(propagator: Any, problem: Any, role: str, name: str, budget: float) -> None:
    """Before a Newton pilot: refuse a dense Jacobian that cannot fit, cannot be solved in time, or is not finite.

    The Jacobian at the initial state is formed only when its ``8 m^2`` bytes are at most a
    quarter of the available memory; else it is taken as dense (the unknown case).
    """
    import numpy as np
    import scipy.sparse as sp

    m = int(problem.ode.size)
    dense_bytes = 8.0 * m * m
    available = available_memory()
    J: Any = None
    if available is None or 4 * dense_bytes <= available:
        J = problem.ode.jacobian(float(problem.t_final) * 0.0, problem.u0)
        values = J.data if sp.issparse(J) else np.asarray(J)
        if not np.all(np.isfinite(values)):
            raise CliError(
                f"the Jacobian of {problem.name} at the initial state has non-finite entries (a parameter overflows "
                f"float64): the {role} propagator ({name}) cannot take a Newton step; check the problem's parameters."
            )
        if sp.issparse(J):
            return
    if available is not None and 4 * dense_bytes > available:
        raise CliError(
            f"the {role} propagator ({name}) needs a dense {m}x{m} Newton matrix: ~{format_bytes(4 * dense_bytes)} "
            f"(4 float64 matrices of {format_bytes(dense_bytes)}), more than the {format_bytes(available)} available; "
            "use a smaller --size or an explicit stepper."
        )
    step = (2 / 3) * m**3 / (_matmul_rate() if m >= 1000 else 1e10)  # one Newton iteration's LU, at least
    if step > max(budget, 1.0):
        raise CliError(
            f"one Newton iteration of the {role} propagator ({name}) factorises a dense {m}x{m} matrix: "
            f"~{duration(step)} at this machine's rate, more than the run's share of --time-limit; use a smaller "
            "--size, an explicit stepper, or raise --time-limit."
        )
