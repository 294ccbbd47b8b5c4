"""Running a built ``parareal ode`` run: the sequential fine reference, parareal, the error bounds.

The reference is :func:`parareal_toolkit.propagate_sequentially` of the fine propagator
(``N`` sequential fine slices, timed: the measured speedup divides by it). Parareal then runs
``K`` iterations against it, stopping early at ``--tol``; a NaN or an infinity is a result
(``finite=False``), reported, not raised. The bounds are Gander-Vandewalle's (linear, exact,
for ``m <= 2500``) or the worst case of Gander-Hairer's recurrence with constants estimated
by finite differences (time steppers). ``L`` of the a-posteriori estimate is that of the
fine maps run: the slice matrices' max-norm (linear runs, up to ``m = 512``; the
logarithmic norm's bound above) or the fine stepper's own Jacobians at the reference times
a safety factor; where there is none, ``--criterion estimate`` is refused with the reason.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..driver import IterationInfo, PararealResult, parareal
from ..errors import CliError, DistributedError
from ..ode.nonlinear_theory import FINE_LIPSCHITZ_MAX_SIZE
from ..propagator import propagate_sequentially
from ._ode_build import OdeRun, propagator_failures_refused, quiet_numerics
from ._ode_estimate import BOUND_MAX_SIZE, computes_fine_lipschitz

_LOG_NORM_INFINITE = "the logarithmic norm's bound is infinite: use more --fine-substeps or --slices"

__all__ = ["OdeOutcome", "linear_run_boundary", "execute_linear", "execute_steppers", "check_estimate_possible"]


@dataclass(frozen=True)
class OdeOutcome:
    """What a ``parareal ode`` run produced, ready to report.

    Attributes
    ----------
    result : PararealResult
        The driver's result, with iterates and errors against ``reference``.
    infos : list of IterationInfo
        One per iteration ``k = 0, ..., K`` (evaluation counts, finiteness).
    reference : list
        The sequential fine solution at the ``N + 1`` slice boundaries.
    first_nonfinite_reference : int or None
        The first boundary at which ``reference`` holds a NaN or an infinity (``None``: none).
    fine_lipschitz : float
        ``L`` of the a-posteriori estimate (``inf`` where none can be given).
    bounds : ndarray or None
        The error bound per iteration, where one applies.
    sequential_seconds, parareal_seconds : float
        Wall-clock seconds of the reference and of parareal.
    coarse_sweep_seconds : float or None
        Seconds of one sequential coarse sweep (linear runs: ``alpha = c_G / c_F``).
    gander_hairer : tuple of float or None
        ``(α, β)`` estimated for the Gander-Hairer bound (time-stepper runs; NaN when not computed).
    no_lipschitz_reason : str
        Why ``fine_lipschitz`` is ``inf`` (empty when it is finite).
    """

    result: PararealResult
    infos: list[IterationInfo]
    reference: list[Any]
    first_nonfinite_reference: int | None
    fine_lipschitz: float
    bounds: Any
    sequential_seconds: float
    parareal_seconds: float
    coarse_sweep_seconds: float | None = None
    gander_hairer: tuple[float, float] | None = None
    no_lipschitz_reason: str = ""


def check_estimate_possible(criterion: str, lipschitz: float, reason: str) -> None:
    """Refuse ``--criterion estimate`` when no Lipschitz constant of the fine propagator can be given.

    The a-posteriori estimate is a multiple of that constant, so without it the estimate
    certifies nothing: the run is refused, never continued on a number that cannot be backed.
    ``reason`` (why there is none, and what to do) ends the one-line message.

    Returns
    -------
    None
    """
    if criterion == "estimate" and not math.isfinite(lipschitz):
        raise CliError(
            f"--criterion estimate needs a finite Lipschitz constant of the fine propagator; there is none here ({reason})."
        )


@contextlib.contextmanager
def linear_run_boundary(distributed: bool) -> Iterator[None]:
    """Run out of memory and a failed process group as one line; leave the process group at the end.

    Yields
    ------
    None
    """
    clean = False
    try:
        yield
        clean = True
    except MemoryError:
        raise CliError(
            "out of memory while running (the estimate did not foresee it); use --sparse or a smaller --size."
        ) from None
    except DistributedError as exc:
        if distributed:
            raise CliError(f"the distributed run failed: {exc}") from None
        raise
    finally:
        if distributed:
            _leave_process_group(clean)


def _leave_process_group(clean: bool) -> None:
    """Leave torch.distributed: together after a clean run, at once after an error (whose report must stay first)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return
    if not clean:
        # No barrier: a rank that failed must not wait for peers that may be gone, and a
        # second error from the barrier would replace the first one.
        with contextlib.suppress(Exception):  # teardown after a failure: the first error is reported
            dist.destroy_process_group()
        return
    try:
        # Every rank waits for rank 0's report, then all leave together: a rank that exits
        # while its peers still talk to it aborts in gloo's teardown.
        dist.barrier()
    except RuntimeError as exc:
        raise CliError(f"a peer rank failed at the end of the run: {exc}") from None
    finally:
        dist.destroy_process_group()


class _CountedSlices:
    """``propagator``, advancing ``progress`` by one for each slice it propagates."""

    def __init__(self, propagator: Any, progress: Any):
        self._propagator = propagator
        self._progress = progress
        self.num_slices = propagator.num_slices

    def __call__(self, u: Any, j: int) -> Any:
        state = self._propagator(u, j)
        self._progress.update(1)
        return state


def _first_nonfinite(states: list[Any]) -> int | None:
    return next((j for j, state in enumerate(states) if not np.all(np.isfinite(state))), None)


def execute_linear(run: OdeRun) -> OdeOutcome:
    """The linear run, with a progress bar of fine slices on stderr (rank 0; runs over a second).

    Every factorisation is built before anything is timed; the coarse sweep is timed too
    (``alpha = c_G / c_F`` of the speedup model). A process pool starts, and ranks meet,
    before parareal's clock starts.

    Returns
    -------
    OdeOutcome
        With the Gander-Vandewalle bounds when ``m <= 2500``.
    """
    problem, grid = run.problem, run.grid
    progress = _progress_bar(run)
    infos: list[IterationInfo] = []

    def record(info: IterationInfo) -> None:
        infos.append(info)
        if info.k > 0:
            progress.update(grid.num_slices)

    with progress, quiet_numerics():
        run.fine.prepare()
        run.coarse.prepare()
        start = time.perf_counter()
        reference = propagate_sequentially(_CountedSlices(run.fine, progress), problem.u0)
        sequential_seconds = time.perf_counter() - start
        start = time.perf_counter()
        propagate_sequentially(run.coarse, problem.u0)
        coarse_sweep_seconds = time.perf_counter() - start
        with _fine_sweeps_ready(run):
            lipschitz = _linear_fine_lipschitz(run)
            why_none = "" if math.isfinite(lipschitz) else _LOG_NORM_INFINITE
            check_estimate_possible(run.criterion, lipschitz, why_none)
            result, parareal_seconds = _timed_parareal(run, reference, lipschitz, record)
        bounds = _gander_vandewalle_bounds(run, result, reference)
    return OdeOutcome(
        result=result,
        infos=infos,
        reference=reference,
        first_nonfinite_reference=_first_nonfinite(reference),
        fine_lipschitz=lipschitz,
        bounds=bounds,
        sequential_seconds=sequential_seconds,
        parareal_seconds=parareal_seconds,
        coarse_sweep_seconds=coarse_sweep_seconds,
        no_lipschitz_reason=why_none,
    )


def _progress_bar(run: OdeRun) -> Any:
    """A bar of the ``N (1 + K)`` fine slices on stderr, on rank 0, shown once the run passes a second."""
    from tqdm import tqdm

    return tqdm(
        total=run.grid.num_slices * (1 + run.iterations),
        desc="parareal ode: fine slices",
        unit="slice",
        file=sys.stderr,
        delay=1.0,  # runs shorter than a second show nothing
        leave=False,
        disable=not run.leader,
    )


def _gander_vandewalle_bounds(run: OdeRun, result: PararealResult, reference: list[Any]) -> Any:
    """The exact linear error bound per iteration, from the initial coarse error; ``None`` above ``m = 2500``."""
    from ..ode.theory import error_bounds

    if run.problem.ode.size > BOUND_MAX_SIZE or result.iterates is None:
        return None
    initial_error = [u - r for u, r in zip(result.iterates[0], reference)]
    return error_bounds(
        run.problem.ode,
        run.grid,
        initial_error,
        result.iterations,
        substeps=run.coarse_substeps,
        fine_substeps=run.fine_substeps,
    )


@contextlib.contextmanager
def _fine_sweeps_ready(run: OdeRun) -> Iterator[None]:
    """Start the process pool and meet the other ranks before parareal's clock starts; stop the pool after.

    Pool start-up is not part of the parareal time. After Ctrl-C or an error the pool is
    terminated (no waiting for the workers' chunks), else closed.
    """
    from ..backends import ProcessBackend

    pool = run.backend if isinstance(run.backend, ProcessBackend) else None
    try:
        if pool is not None:
            pool.start(run.fine)
        if run.backend_name == "distributed":
            _barrier()  # every rank starts the clock together
        yield
    except BaseException:
        if pool is not None:
            pool.terminate()
            pool = None
        raise
    finally:
        if pool is not None:
            pool.close()


def _barrier() -> None:
    """``dist.barrier()``, a failure of which is the distributed backend's clear error."""
    import torch.distributed as dist

    try:
        dist.barrier()
    except RuntimeError as exc:
        raise DistributedError(f"a rank did not reach the start of the run: {exc}") from None


def _timed_parareal(run: OdeRun, reference: list[Any], lipschitz: float, record: Any) -> tuple[PararealResult, float]:
    """Parareal on ``run`` against ``reference``, stopping at ``--tol`` on ``--criterion``; and its seconds."""
    start = time.perf_counter()
    result = parareal(
        run.fine,
        run.coarse,
        run.problem.u0,
        iterations=run.iterations,
        tol=run.tol,
        form=run.form,
        reference=reference,
        backend=run.backend,
        callback=record,
        criterion=run.criterion,
        fine_lipschitz=lipschitz if math.isfinite(lipschitz) else None,
    )
    return result, time.perf_counter() - start


def execute_steppers(run: OdeRun) -> OdeOutcome:
    """The time-stepper run; a stepper's failure (Newton, solve_ivp) is refused in one line.

    ``L`` is the max-norm of the Jacobian of the fine slice maps themselves (the stepper and
    substeps run), at the reference, times a safety factor
    (:func:`parareal_toolkit.ode.fine_lipschitz`: ``m + 1`` fine evaluations per slice); above
    ``m = 512`` or with a non-finite reference there is none (``inf``), and ``--criterion
    estimate`` is refused. The Gander-Hairer constants ``α`` (of ``F - G``) and ``β`` (of ``G``) are estimated by finite
    differences around it (two directions per slice: ``3N`` extra evaluations of each
    propagator), only when the reference and the run are finite.

    Returns
    -------
    OdeOutcome
        With the Gander-Hairer bounds where they could be estimated.
    """
    from ..ode.nonlinear_theory import gander_hairer_bound, lipschitz_constants

    problem, grid = run.problem, run.grid
    infos: list[IterationInfo] = []
    if problem.ode.size > FINE_LIPSCHITZ_MAX_SIZE:  # refused before the reference is computed
        check_estimate_possible(run.criterion, math.inf, _too_large(problem.ode.size))
    with propagator_failures_refused():
        start = time.perf_counter()
        reference = propagate_sequentially(run.fine, problem.u0)
        sequential_seconds = time.perf_counter() - start
        first_nonfinite = _first_nonfinite(reference)
        finite_reference = first_nonfinite is None
        lipschitz, why_none = _stepper_fine_lipschitz(run, reference, finite_reference)
        check_estimate_possible(run.criterion, lipschitz, why_none)
        result, parareal_seconds = _timed_parareal(run, reference, lipschitz, infos.append)
        alpha = beta = math.nan
        bounds = None
        if finite_reference and result.finite and result.errors is not None:
            alpha, beta = lipschitz_constants(run.fine, run.coarse, reference, directions=2)
            bounds = gander_hairer_bound(alpha, beta, grid.num_slices, result.iterations, result.errors[0])
    return OdeOutcome(
        result=result,
        infos=infos,
        reference=reference,
        first_nonfinite_reference=first_nonfinite,
        fine_lipschitz=lipschitz,
        bounds=bounds,
        sequential_seconds=sequential_seconds,
        parareal_seconds=parareal_seconds,
        gander_hairer=(alpha, beta),
        no_lipschitz_reason=why_none,
    )


def _stepper_fine_lipschitz(run: OdeRun, reference: list[Any], finite_reference: bool) -> tuple[float, str]:
    """``L`` of the fine stepper from its own Jacobians at the reference, or ``inf`` and why there is none.

    It costs ``m + 1`` fine evaluations per slice: cheap for the explicit steppers, which
    advance them as the rows of one array, about ``m + 1`` sequential fine solves for Newton
    and ``solve_ivp``. ``--criterion estimate`` needs it and pays that; an increment run
    computes it (for the table's estimate column) with an implicit or ``solve_ivp`` fine
    stepper only up to ``m = 16`` (``computes_fine_lipschitz``). The rule depends on the run, never on the machine's speed.
    """
    from ..errors import InputError
    from ..ode.nonlinear_theory import fine_lipschitz

    if not finite_reference:
        return math.inf, "the sequential fine solution is not finite: use more --fine-substeps"
    size = run.problem.ode.size
    if size > FINE_LIPSCHITZ_MAX_SIZE:
        return math.inf, _too_large(size)
    if not computes_fine_lipschitz(run):
        return math.inf, (
            f"not computed: the fine slices' Jacobians cost about {size + 1} sequential fine solves; "
            "--criterion estimate computes them"
        )
    try:
        return fine_lipschitz(run.fine, reference), ""
    except InputError as exc:  # a non-finite fine value near the reference
        return math.inf, f"{exc} Use more --fine-substeps or --criterion increment"


def _linear_fine_lipschitz(run: OdeRun) -> float:
    """``L`` of a linear run's fine propagator (exact or implicit Euler on ``u' = A u``): a true Lipschitz constant.

    The logarithmic max-norm's bound (:func:`parareal_toolkit.ode.fine_lipschitz_estimate`,
    cheap at any size), and, up to ``m = 512``, the smaller ``max_j ||P_j||_∞`` of the slice
    matrices themselves: the fine map is linear, so its columns ``P_j e_i = F_j(s e_i) / s`` are
    exact up to ``m`` rounding errors, which the factor ``1 + 64 m eps`` covers.
    """
    import numpy as np

    from ..errors import InputError
    from ..ode.nonlinear_theory import fine_lipschitz, fine_lipschitz_estimate

    problem, grid = run.problem, run.grid
    lipschitz = fine_lipschitz_estimate(problem.ode, grid, [problem.u0], substeps=run.fine_substeps)
    size = problem.ode.size
    if size <= FINE_LIPSCHITZ_MAX_SIZE:
        zero = np.zeros(size)
        safety = 1.0 + 64 * size * float(np.finfo(float).eps)
        with contextlib.suppress(InputError):  # a slice matrix that overflows: only the logarithmic bound is left
            lipschitz = min(lipschitz, fine_lipschitz(run.fine, [zero] * grid.num_slices, safety=safety))
    return lipschitz


def _too_large(size: int) -> str:
    return (
        f"the state has {size} > {FINE_LIPSCHITZ_MAX_SIZE} components, too many for the fine slices' Jacobians: "
        "use a smaller --size or --criterion increment"
    )
