"""The catalogue of bad inputs and faults: every one gives a clear error or a true result.

Each row is one thing a user can get wrong, through the ``parareal`` command or the Python
API, with the outcome the toolkit promises:

* ``cli(argv, status, fragment)``: ``parareal ARGV`` exits with ``status`` and prints ONE line
  on stderr that contains ``fragment`` (and no traceback);
* ``api(call, exception, fragment)``: ``call()`` raises ``exception`` whose message matches
  the regular expression ``fragment`` (naming the argument and echoing the value);
* ``api_result(call, check)``: ``call()`` returns a result for which ``check(result)`` is
  true (a non-finite or unconverged answer reported as such).

The README's promise about errors points here. Rows run in this process (the CLI through
``parareal_toolkit.cli.main``), each in well under a second unless marked; the slow ones
(real subprocesses, torchrun, training) are marked ``slow`` and still run in CI.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from parareal_toolkit.cli import main

# --- the table's vocabulary ---------------------------------------------------------------


@dataclass(frozen=True)
class Cli:
    argv: tuple[str, ...]
    status: int
    fragment: str


@dataclass(frozen=True)
class Api:
    call: Callable[[], Any]
    exception: type[BaseException] | tuple[type[BaseException], ...]
    fragment: str


@dataclass(frozen=True)
class ApiResult:
    call: Callable[[], Any]
    check: Callable[[Any], bool]


def cli(*argv: str, status: int = 2, fragment: str) -> Cli:
    return Cli(tuple(argv), status, fragment)


def api(call: Callable[[], Any], exception, fragment: str) -> Api:
    return Api(call, exception, fragment)


def api_result(call: Callable[[], Any], check: Callable[[Any], bool]) -> ApiResult:
    return ApiResult(call, check)


# --- shared objects (built lazily: a row's call builds what it needs) ---------------------


def _heat(m: int = 8, n: int = 4):
    from parareal_toolkit import TimeGrid
    from parareal_toolkit.ode import ExactPropagator, ImplicitEulerPropagator, heat_1d

    problem = heat_1d(m)
    grid = TimeGrid.uniform(problem.t_final, n)
    return problem, ExactPropagator(problem.ode, grid), ImplicitEulerPropagator(problem.ode, grid)


def _solve_ivp_nan_rhs(method: str):
    """One slice of solve_ivp on a right-hand side that returns NaN (it used to loop forever)."""
    from parareal_toolkit import TimeGrid
    from parareal_toolkit.ode import NonlinearODE, SolveIVPPropagator

    ode = NonlinearODE(lambda t, u: np.full_like(u, np.nan), 2)
    return SolveIVPPropagator(ode, TimeGrid.uniform(1.0, 4), method=method)(np.ones(2), 0)


def _parareal_solve_ivp_nan_rhs():
    from parareal_toolkit import TimeGrid, parareal
    from parareal_toolkit.ode import NonlinearODE, SolveIVPPropagator

    grid = TimeGrid.uniform(1.0, 4)
    fine = SolveIVPPropagator(NonlinearODE(lambda t, u: np.full_like(u, np.nan), 2), grid)
    coarse = SolveIVPPropagator(NonlinearODE(lambda t, u: -u, 2), grid, rtol=1e-3)
    return parareal(fine, coarse, np.ones(2))


def _driver(**kwargs):
    from parareal_toolkit import parareal

    problem, fine, coarse = _heat()
    args = {"fine": fine, "coarse": coarse, "u0": problem.u0, **kwargs}
    return parareal(args.pop("fine"), args.pop("coarse"), args.pop("u0"), **args)


def _nn():
    import parareal_toolkit.nn as nn

    return nn


def _lp():
    import parareal_toolkit.layerpipe as lp

    return lp


def _small_profile():
    return _lp().profile_from_costs([1.0, 2.0, 3.0], [0.0, 2.0, 3.0], [1.0, 2.0, 3.0])


def _linear_parareal_network():
    import torch

    nn = _nn()
    g = torch.Generator().manual_seed(0)
    model = nn.linear_network("dense", num_blocks=4, width=3, in_channels=2, out_features=2, generator=g)
    return nn.to_parareal(model, 2, coarse_factory=nn.exact_coarse)


def _train_config(**kwargs):
    from parareal_toolkit.training import TrainConfig

    return TrainConfig(**kwargs)


class _Squares:
    """``u -> u*u - u*u/2``: finite for a while, then overflows (a propagator that blows up mid-run)."""

    num_slices = 5

    def __call__(self, u, j):
        with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the point
            return u * u - u * u / 2


class _Identity:
    num_slices = 5

    def __call__(self, u, j):
        return u + 0


def _driver_custom(fine, coarse, u0, **kwargs):
    from parareal_toolkit import parareal

    return parareal(fine, coarse, u0, **kwargs)


def _squares_reference():
    from parareal_toolkit import propagate_sequentially

    return propagate_sequentially(_Squares(), np.array([1e40]))


def _torch_tensor(values, dtype="float64"):
    import torch

    return torch.as_tensor(np.asarray(values), dtype=getattr(torch, dtype))


# the smallest training run: options every `train` row starts from
# an image-folder run of one epoch; each row adds its --data-dir and -o
_IMAGEFOLDER_TINY = ("train", "--dataset", "imagefolder", "--depth", "11", "--epochs", "1", "--workers", "0", "--quiet")
_TRAIN_TINY = (
    "train",
    "--dataset",
    "fake",
    "--depth",
    "11",
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--train-size",
    "16",
    "--test-size",
    "8",
    "--workers",
    "0",
    "--quiet",
)


# --- the catalogue ------------------------------------------------------------------------

CASES: dict[str, Cli | Api | ApiResult] = {
    # ---- parareal ode: options ----
    "ode/slices-0": cli("ode", "--slices", "0", fragment="--slices: expected a positive integer, got '0'"),
    "ode/slices-text": cli("ode", "--slices", "ten", fragment="--slices: expected a positive integer"),
    "ode/slices-float": cli("ode", "--slices", "2.5", fragment="--slices: expected a positive integer"),
    "ode/iterations-negative": cli("ode", "--iterations", "-1", fragment="expected a non-negative integer"),
    "ode/tol-zero": cli("ode", "--tol", "0", fragment="--tol: expected a positive number"),
    "ode/t-final-overflows-the-step": cli(
        "ode",
        "--t-final",
        "1e308",
        fragment="--t-final 1e+308 over 10 slices makes a slice's ΔT·||A|| overflow float64",
    ),
    "ode/tol-nan": cli("ode", "--tol", "nan", fragment="--tol: expected a positive number"),
    "ode/tol-inf": cli("ode", "--tol", "inf", fragment="--tol: expected a positive number"),
    "ode/t-final-negative": cli("ode", "--t-final", "-1", fragment="--t-final: expected a positive number"),
    "ode/t-final-nan": cli("ode", "--t-final", "nan", fragment="--t-final: expected a positive number"),
    "ode/size-0": cli("ode", "--size", "0", fragment="--size: expected a positive integer"),
    "ode/size-on-fixed-problem": cli("ode", "--problem", "dahlquist", "--size", "5", fragment="`size` applies only"),
    "ode/sparse-on-fixed-problem": cli("ode", "--problem", "oscillator", "--sparse", fragment="`sparse` applies only"),
    "ode/size-too-small-advection": cli(
        "ode", "--problem", "advection", "--size", "2", fragment="`m` must be at least 3"
    ),
    "ode/unknown-problem": cli("ode", "--problem", "lorenz96", fragment="invalid choice: 'lorenz96'"),
    "ode/unknown-form": cli("ode", "--form", "literal", fragment="invalid choice: 'literal'"),
    "ode/unknown-backend": cli("ode", "--backend", "gpu", fragment="invalid choice: 'gpu'"),
    "ode/coarse-substeps-0": cli("ode", "--coarse-substeps", "0", fragment="--coarse-substeps: expected a positive"),
    "ode/fine-substeps-0": cli("ode", "--fine-substeps", "0", fragment="--fine-substeps: expected a positive"),
    "ode/workers-without-processes": cli(
        "ode", "--workers", "2", fragment="--workers applies only to --backend processes"
    ),
    "ode/workers-0": cli("ode", "--backend", "processes", "--workers", "0", fragment="--workers: expected a positive"),
    "ode/unknown-option": cli("ode", "--colour", "red", fragment="unrecognized arguments: --colour red"),
    "ode/json-missing-folder": cli("ode", "--json", "/nonexistent-folder/x.json", fragment="does not exist"),
    "ode/unknown-method": cli("ode", "--method", "pfasst", fragment="invalid choice: 'pfasst'"),
    "ode/levels-without-mgrit": cli("ode", "--levels", "3", fragment="--levels applies only to --method mgrit"),
    "ode/levels-1": cli("ode", "--method", "mgrit", "--levels", "1", fragment="--levels must be an integer >= 2"),
    "ode/coarsening-1": cli(
        "ode", "--method", "mgrit", "--coarsening", "1", fragment="--coarsening must be an integer"
    ),
    "ode/unknown-relax": cli("ode", "--method", "mgrit", "--relax", "FF", fragment="invalid choice: 'FF'"),
    "ode/unknown-cycle": cli("ode", "--method", "mgrit", "--cycle", "W", fragment="invalid choice: 'W'"),
    "ode/slices-not-divisible": cli(
        "ode", "--method", "mgrit", "--levels", "3", "--coarsening", "3", "--slices", "10", fragment="divisible by"
    ),
    # ---- parareal verify / models / layerpipe / bench: options ----
    "verify/examples-negative": cli("verify", "--examples", "-3", fragment="examples"),
    "verify/unknown-case": cli("verify", "--case", "sigmoid", fragment="invalid choice: 'sigmoid'"),
    "verify/json-missing-folder": cli(
        "verify", "--examples", "1", "--json", "/nonexistent-folder/v.json", fragment="v.json"
    ),
    "models/depth-not-9n+2": cli("models", "--depth", "21", fragment="`depth` must be 9n + 2"),
    "models/depth-text": cli("models", "--depth", "deep", fragment="--depth"),
    "models/subnetworks-too-many": cli("models", "--depth", "20", "-N", "7", fragment="num_subnetworks"),
    "models/subnetworks-0": cli("models", "--depth", "20", "-N", "0", fragment="num_subnetworks"),
    "models/coarse-units-0": cli("models", "--depth", "20", "--coarse-units", "0", fragment="coarse_units"),
    "layerpipe/processors-0": cli("layerpipe", "--processors", "0", fragment="processors"),
    "layerpipe/processors-too-many": cli(
        "layerpipe", "--processors", "40", "--schedules", "pipedream", fragment="at most 16"
    ),
    "layerpipe/negative-cost": cli("layerpipe", "--costs", "1", "-1", "1", fragment="activation_grad"),
    "layerpipe/costs-not-triples": cli("layerpipe", "--costs", "1", "1", fragment="F A G triples"),
    "layerpipe/unknown-schedule": cli("layerpipe", "--schedules", "magic", fragment="schedules"),
    "layerpipe/unknown-network": cli("layerpipe", "--network", "alexnet", fragment="network"),
    "layerpipe/microbatches-0": cli("layerpipe", "--microbatches", "0", fragment="--microbatches"),
    "layerpipe/latency-negative": cli("layerpipe", "--latency", "-1", fragment="--latency"),
    "layerpipe/latency-nan": cli("layerpipe", "--latency", "nan", fragment="--latency"),
    "layerpipe/latency-inf": cli("layerpipe", "--latency", "inf", fragment="--latency"),
    "layerpipe/unknown-scheduler": cli("layerpipe", "--scheduler", "greedy", fragment="--scheduler"),
    "layerpipe/gantt-missing-folder": cli(
        "layerpipe", "--gantt", "/nonexistent-folder/g.png", fragment="does not exist"
    ),
    "bench/threads-0": cli("bench", "--threads", "0", fragment="threads"),
    "bench/unknown-clock": cli("bench", "--clock", "sundial", fragment="invalid choice: 'sundial'"),
    "bench/json-missing-folder": cli("bench", "--json", "/nonexistent-folder/t.json", fragment="does not exist"),
    "bench/plot-missing-folder": cli("bench", "--plot", "/nonexistent-folder/t.png", fragment="does not exist"),
    "bench/bad-device": cli("bench", "--device", "quantum", "--depth", "20", "-N", "1", fragment="--device"),
    "train/unknown-dataset": cli("train", "--dataset", "mnist", fragment="invalid choice: 'mnist'"),
    "train/unknown-model": cli("train", "--model", "vgg", fragment="invalid choice: 'vgg'"),
    "train/unknown-amp": cli("train", "--amp", "fp8", fragment="invalid choice: 'fp8'"),
    "evaluate/batch-size-0": cli("evaluate", "x.pt", "--batch-size", "0", fragment="--batch-size"),
    "evaluate/missing-checkpoint": cli("evaluate", "/nonexistent-folder/checkpoint.pt", fragment="checkpoint"),
    "cli/unknown-command": cli("integrate", fragment="invalid choice: 'integrate'"),
    "cli/no-command": cli(fragment="COMMAND"),
    # ---- the driver ----
    "driver/negative-iterations": api(
        lambda: _driver(iterations=-1), ValueError, r"`iterations` must be non-negative; got -1"
    ),
    "driver/float-iterations": api(
        lambda: _driver(iterations=2.5), TypeError, r"`iterations` must be an integer; got 2\.5"
    ),
    "driver/bool-iterations": api(lambda: _driver(iterations=True), TypeError, r"`iterations` must be an integer"),
    "driver/zero-tol": api(lambda: _driver(tol=0.0), ValueError, r"`tol` must be positive and finite; got 0\.0"),
    "driver/nan-tol": api(lambda: _driver(tol=math.nan), ValueError, r"`tol` must be positive and finite; got nan"),
    "driver/inf-tol": api(lambda: _driver(tol=math.inf), ValueError, r"`tol` must be positive and finite; got inf"),
    "driver/text-tol": api(lambda: _driver(tol="1e-6"), TypeError, r"`tol` must be a real number"),
    "driver/tol-without-monitor": api(lambda: _driver(tol=1e-6, monitor=False), ValueError, r"monitor"),
    "driver/unknown-form": api(lambda: _driver(form="literal"), ValueError, r"`form` must be one of"),
    "driver/unknown-backend": api(lambda: _driver(backend="gpu-magic"), ValueError, r"`backend` must be one of"),
    "driver/norm-not-callable": api(lambda: _driver(norm=2), TypeError, r"`norm` must be callable; got 2"),
    "driver/callback-not-callable": api(lambda: _driver(callback="print"), TypeError, r"`callback` must be callable"),
    "driver/fine-not-propagator": api(lambda: _driver(fine=42), TypeError, r"`fine` must be a propagator"),
    "driver/coarse-without-num-slices": api(
        lambda: _driver(coarse=lambda u, j: u), TypeError, r"`coarse` must have an integer attribute `num_slices`"
    ),
    "driver/initial-wrong-length": api(
        lambda: _driver(initial=[np.zeros(8)]), ValueError, r"`initial` must hold N - 1 = 3"
    ),
    "driver/initial-not-sequence": api(lambda: _driver(initial=5), TypeError, r"`initial` must be a sequence"),
    "driver/initial-without-end-and-no-iteration": api(
        lambda: _driver(initial=[np.zeros(8)] * 3, iterations=0), ValueError, r"`iterations` must be at least 1 when"
    ),
    "driver/reference-wrong-length": api(
        lambda: _driver(reference=[np.zeros(8)]), ValueError, r"`reference` must hold N \+ 1 = 5"
    ),
    "driver/reference-text": api(lambda: _driver(reference="exact"), TypeError, r"`reference` must be a sequence"),
    "driver/u0-wrong-shape": api(lambda: _driver(u0=np.zeros(3)), ValueError, r"`u0` must have shape \(8,\)"),
    "driver/u0-list": api(lambda: _driver(u0=[0.0] * 8), TypeError, r"`u0` must be a numpy array"),
    "driver/u0-nan": api(lambda: _driver(u0=np.full(8, np.nan)), ValueError, r"`u0` must be finite"),
    "driver/mismatched-slices": api(
        lambda: _driver(coarse=_heat(n=5)[2]), ValueError, r"fine.num_slices=4 and coarse.num_slices=5"
    ),
    # ---- time grids, propagators, problems, theory ----
    "grid/one-boundary": api(lambda: __import__("parareal_toolkit").TimeGrid([0.0]), ValueError, r"at least 2"),
    "grid/decreasing": api(lambda: __import__("parareal_toolkit").TimeGrid([0.0, 1.0, 0.5]), ValueError, r"strictly"),
    "grid/nan": api(lambda: __import__("parareal_toolkit").TimeGrid([0.0, math.nan]), ValueError, r"finite"),
    "grid/2d": api(lambda: __import__("parareal_toolkit").TimeGrid([[0.0, 1.0]]), ValueError, r"1-dimensional"),
    "grid/uniform-zero-slices": api(
        lambda: __import__("parareal_toolkit").TimeGrid.uniform(1.0, 0), ValueError, r"`num_slices` must be at least 1"
    ),
    "grid/uniform-float-slices": api(
        lambda: __import__("parareal_toolkit").TimeGrid.uniform(1.0, 2.0), TypeError, r"`num_slices` must be an integer"
    ),
    "grid/uniform-empty-interval": api(
        lambda: __import__("parareal_toolkit").TimeGrid.uniform(0.0, 3), ValueError, r"`t_final` must be"
    ),
    "grid/uniform-inf": api(
        lambda: __import__("parareal_toolkit").TimeGrid.uniform(math.inf, 3), ValueError, r"t_final"
    ),
    "propagator/slice-out-of-range": api(lambda: _heat()[1](np.zeros(8), 4), IndexError, r"0 <= j < 4; got 4"),
    "propagator/slice-float": api(lambda: _heat()[1](np.zeros(8), 1.0), TypeError, r"`j` must be an integer"),
    "propagator/substeps-0": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).ImplicitEulerPropagator(
            _heat()[0].ode, __import__("parareal_toolkit").TimeGrid.uniform(0.1, 4), substeps=0
        ),
        ValueError,
        r"`substeps` must be at least 1; got 0",
    ),
    "propagator/ode-not-linear-ode": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).ExactPropagator(
            np.eye(2), __import__("parareal_toolkit").TimeGrid.uniform(1.0, 2)
        ),
        TypeError,
        r"`ode` must be a LinearODE",
    ),
    "propagator/grid-not-time-grid": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).ExactPropagator(_heat()[0].ode, [0.0, 1.0]),
        TypeError,
        r"`grid` must be a TimeGrid",
    ),
    "ode/matrix-not-square": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).LinearODE(np.ones((2, 3))), ValueError, r"square"
    ),
    "ode/matrix-nan": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).LinearODE(np.full((2, 2), np.nan)),
        ValueError,
        r"finite",
    ),
    "problems/heat-size-0": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).heat_1d(0), ValueError, r"`m`"
    ),
    "problems/heat-size-float": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).heat_1d(5.0), TypeError, r"`m` must be an integer"
    ),
    "problems/heat-negative-diffusivity": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).heat_1d(5, diffusivity=-1.0),
        ValueError,
        r"`diffusivity` must be positive",
    ),
    "problems/heat-nan-t-final": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).heat_1d(5, t_final=math.nan),
        ValueError,
        r"`t_final` must be positive and finite; got nan",
    ),
    "problems/unknown-name": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).make_problem("lorenz96"), ValueError, r"lorenz96"
    ),
    "theory/speedup-negative-alpha": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).speedup(-0.1, 8, 2), ValueError, r"`alpha`"
    ),
    "theory/speedup-zero-iterations": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).speedup(0.1, 8, 0), ValueError, r"`iterations`"
    ),
    "theory/speedup-zero-workers": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).speedup(0.1, 8, 2, workers=0),
        ValueError,
        r"`workers`",
    ),
    "theory/bound-unknown-kind": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).error_bounds(
            _heat()[0].ode, __import__("parareal_toolkit").TimeGrid.uniform(0.1, 4), [np.zeros(8)] * 5, 2, kind="tight"
        ),
        ValueError,
        r"`kind` must be one of",
    ),
    "theory/mgrit-unknown-relaxation": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).mgrit_convergence_factor(0.5, 0.2, 2, 8, "C"),
        ValueError,
        r"`relax` must be one of \('F', 'FCF'\); got 'C'",
    ),
    "theory/mgrit-too-many-coarse-intervals": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).mgrit_error_propagator(0.5, 0.2, 2, 10**6),
        ValueError,
        r"`num_coarse` must be at most 2048; got 1000000",
    ),
    "theory/mgrit-nan-eigenvalue": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).mgrit_dobrev_bound(0.5, math.nan, 2, 8),
        ValueError,
        r"`mu` must be finite; got nan",
    ),
    "theory/mgrit-propagator-overflows": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).mgrit_error_propagator(1e300, 0.5, 2, 4),
        ValueError,
        r"entries overflow float64",
    ),
    "theory/mgrit-factor-overflows": api_result(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).mgrit_convergence_factor(1e300, 0.5, 2, 4),
        lambda factor: factor == math.inf,
    ),
    "theory/mgrit-bound-not-a-problem": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).mgrit_bound("heat", 1e-3, 4, 8),
        TypeError,
        r"`problem_or_eigenvalues` must be a LinearProblem",
    ),
    "backends/processes-0-workers": api(
        lambda: __import__("parareal_toolkit.backends", fromlist=["x"]).ProcessBackend(0), ValueError, r"`workers`"
    ),
    "backends/processes-bad-start-method": api(
        lambda: __import__("parareal_toolkit.backends", fromlist=["x"]).ProcessBackend(1, start_method="teleport"),
        ValueError,
        r"`start_method` must be one of",
    ),
    # ---- networks ----
    "nn/balanced-sizes-too-many": api(
        lambda: _nn().balanced_sizes(3, 4), ValueError, r"`num_subnetworks` must be at most 3"
    ),
    "nn/balanced-sizes-bool": api(lambda: _nn().balanced_sizes(True, 1), TypeError, r"`num_blocks` must be an integer"),
    "nn/split-sizes-zero": api(lambda: _nn().split_blocks([], [0]), ValueError, r"`sizes\[0\]` must be at least 1"),
    "nn/split-sizes-sum": api(
        lambda: _nn().split_blocks([__import__("torch").nn.Identity()] * 3, [1, 1]), ValueError, r"add up to"
    ),
    "nn/linear-network-unknown-kind": api(
        lambda: _nn().linear_network("conv5x5", num_blocks=2, width=2, in_channels=1, out_features=1),
        ValueError,
        r"`kind` must be one of",
    ),
    "nn/linear-network-width-0": api(
        lambda: _nn().linear_network("dense", num_blocks=2, width=0, in_channels=1, out_features=1),
        ValueError,
        r"`width`",
    ),
    "nn/resnet-depth": api(lambda: _nn().preact_resnet(21), ValueError, r"`depth` must be 9n \+ 2"),
    "nn/resnet-depth-float": api(lambda: _nn().preact_resnet(20.0), TypeError, r"`depth` must be an integer"),
    "nn/resnet-classes-0": api(lambda: _nn().preact_resnet(20, num_classes=0), ValueError, r"`num_classes`"),
    "nn/plan-too-many-subnetworks": api(
        lambda: _nn().parareal_resnet_plan(20, num_subnetworks=10), ValueError, r"num_subnetworks"
    ),
    "nn/plan-coarse-units-float": api(
        lambda: _nn().parareal_resnet_plan(20, num_subnetworks=2, coarse_units=1.5), TypeError, r"`coarse_units`"
    ),
    "nn/network-iterations-0": api(
        lambda: setattr(_linear_parareal_network(), "iterations", 0), ValueError, r"`iterations` must be at least 1"
    ),
    "nn/network-unknown-form": api(
        lambda: setattr(_linear_parareal_network(), "form", "defect"), ValueError, r"`form` must be one of"
    ),
    "nn/network-unknown-backend": api(
        lambda: _nn().PararealNetwork(
            [__import__("torch").nn.Identity()],
            [__import__("torch").nn.Identity()],
            [],
            __import__("torch").nn.Identity(),
            backend="tpu",
        ),
        ValueError,
        r"`backend` must be one of",
    ),
    "nn/network-coarse-count": api(
        lambda: _nn().PararealNetwork(
            [__import__("torch").nn.Identity()] * 2,
            [__import__("torch").nn.Identity()] * 2,
            [],
            __import__("torch").nn.Identity(),
        ),
        ValueError,
        r"`coarse` must hold N - 1 = 1",
    ),
    "nn/to-parareal-too-many": api(
        lambda: _nn().to_parareal(__import__("torch").nn.Sequential(*[__import__("torch").nn.Identity()] * 3), 5),
        ValueError,
        r"num_subnetworks",
    ),
    "verify/api-examples-0": api(
        lambda: __import__("parareal_toolkit.testing.proposition1", fromlist=["x"]).verify_proposition1(examples=0),
        ValueError,
        r"`examples` must be at least 1",
    ),
    "verify/api-rtol-nan": api(
        lambda: __import__("parareal_toolkit.testing.proposition1", fromlist=["x"]).verify_proposition1(rtol=math.nan),
        ValueError,
        r"`rtol` must be positive and finite",
    ),
    # ---- LayerPipe ----
    "layerpipe-api/profile-negative": api(
        lambda: _lp().profile_from_costs([1.0], [-1.0], [1.0]), ValueError, r"activation_grad"
    ),
    "layerpipe-api/profile-lengths": api(lambda: _lp().profile_from_costs([1.0, 2.0], [1.0], [1.0]), ValueError, r""),
    "layerpipe-api/partition-0": api(
        lambda: _lp().partition_contiguous(_small_profile(), 0), ValueError, r"processors"
    ),
    "layerpipe-api/partition-too-many": api(
        lambda: _lp().partition_contiguous(_small_profile(), 4), ValueError, r"at most 3"
    ),
    "layerpipe-api/unknown-schedule": api(
        lambda: _lp().build_schedule("magic", _small_profile(), 2), ValueError, r"magic"
    ),
    "layerpipe-api/microbatches-0": api(
        lambda: _lp().build_schedule("gpipe", _small_profile(), 2, microbatches=0), ValueError, r"microbatches"
    ),
    "layerpipe-api/negative-latency": api(
        lambda: _lp().evaluate("gpipe", _small_profile(), 2, latency=-1.0), ValueError, r"latency"
    ),
    "layerpipe-api/unknown-network": api(lambda: _lp().network_profile("alexnet"), ValueError, r"alexnet"),
    "layerpipe-api/delays-negative": api(lambda: _lp().pipedream_delays(-1), ValueError, r"num_layers"),
    "layerpipe-api/unknown-scheduler": api(
        lambda: _lp().evaluate("layerpipe", _small_profile(), 2, scheduler="greedy"), ValueError, r"scheduler.*greedy"
    ),
    "layerpipe-api/schedule-scheduler-decide": api(
        lambda: _lp().layerpipe_schedule(_small_profile(), 2, steps=4, scheduler="decide"), ValueError, r"scheduler"
    ),
    "layerpipe-api/periodic-time-limit-0": api(
        lambda: _lp().periodic_schedule(_lp().layerpipe_schedule(_small_profile(), 2, steps=4), time_limit=0),
        ValueError,
        r"time_limit",
    ),
    "layerpipe-api/periodic-too-few-steps": api(
        lambda: _lp().layerpipe_schedule(_small_profile(), 3, steps=3, scheduler="periodic"), ValueError, r"steps"
    ),
    "layerpipe-api/periodic-synchronous": api(
        lambda: _lp().periodic_schedule(_lp().build_schedule("gpipe", _small_profile(), 2)), ValueError, r"synchronous"
    ),
    # ---- training ----
    "training/config-epochs-0": api(lambda: _train_config(epochs=0), ValueError, r"`epochs`"),
    "training/config-lr-nan": api(lambda: _train_config(lr=math.nan), ValueError, r"`lr` must be positive and finite"),
    "training/config-lr-0": api(lambda: _train_config(lr=0.0), ValueError, r"`lr`"),
    "training/config-unknown-model": api(lambda: _train_config(model="vgg"), ValueError, r"`model` must be one of"),
    "training/config-unknown-device": api(lambda: _train_config(device="tpu"), ValueError, r"`device` must be one of"),
    "training/config-batch-size-0": api(lambda: _train_config(batch_size=0), ValueError, r"`batch_size`"),
    "training/config-milestone-0": api(lambda: _train_config(milestones=[5, 0]), ValueError, r"milestones"),
    "training/load-missing-checkpoint": api(
        lambda: __import__("parareal_toolkit.training", fromlist=["x"]).load_checkpoint("/nonexistent/ck.pt"),
        (FileNotFoundError, ValueError),
        r"ck\.pt",
    ),
    "training/unknown-dataset": api(
        lambda: __import__("parareal_toolkit.training", fromlist=["x"]).load_dataset("mnist", train=True),
        ValueError,
        r"mnist",
    ),
    "training/cifar-missing": api(
        lambda: __import__("parareal_toolkit.training", fromlist=["x"]).load_dataset(
            "cifar10", train=True, data_dir="/nonexistent-data"
        ),
        Exception,
        r"nonexistent-data",
    ),
    # ---- non-finite results are reported, never hidden (issue: 'max error 0.000e+00 ... converged') ----
    "ode/nonfinite-advection": cli(
        "ode",
        "--problem",
        "advection",
        "--t-final",
        "1e300",
        status=1,
        fragment="non-finite values (NaN or infinity) at iteration 1",
    ),
    "ode/nan-at-iteration-3": cli(
        "ode",
        "--problem",
        "dahlquist",
        "--lam",
        "300",
        "--slices",
        "4",
        "--t-final",
        "4",
        status=1,
        fragment="non-finite values (NaN or infinity) at iteration 3",
    ),
    "ode/lam-nan": cli("ode", "--problem", "dahlquist", "--lam", "nan", fragment="--lam: expected a finite number"),
    "ode/lam-on-heat": cli("ode", "--lam", "2", fragment="`lam` applies only to 'dahlquist'"),
    "ode/nonfinite-heat": cli("ode", "--problem", "heat1d", "--t-final", "1e300", status=1, fragment="at iteration 1"),
    "ode/nonfinite-oscillator": cli(
        "ode", "--problem", "oscillator", "--t-final", "1e300", status=1, fragment="at iteration 1"
    ),
    "driver/nan-at-iteration-3-numpy": api_result(
        lambda: _driver_custom(_Squares(), _Identity(), np.array([1e40])),
        lambda r: (r.nonfinite_iteration, r.iterations, r.finite, r.converged) == (3, 3, False, False),
    ),
    "driver/nan-at-iteration-3-torch": api_result(
        lambda: _driver_custom(_Squares(), _Identity(), _torch_tensor([1e40])),
        lambda r: (r.nonfinite_iteration, r.iterations, r.finite, r.converged) == (3, 3, False, False),
    ),
    "driver/nan-unmonitored": api_result(
        lambda: _driver_custom(_Squares(), _Identity(), np.array([1e40]), monitor=False),
        lambda r: not r.finite and not r.converged,
    ),
    "driver/nan-torch-u0": api_result(
        lambda: _driver_custom(_Identity(), _Identity(), _torch_tensor([math.nan, 1.0])),
        lambda r: (r.nonfinite_iteration, r.iterations, r.converged) == (0, 0, False),
    ),
    "driver/nan-errors-reported": api_result(
        lambda: _driver_custom(_Squares(), _Identity(), np.array([1e40]), reference=_squares_reference()),
        lambda r: all(e != e for e in r.errors),
    ),
    "driver/inf-guess": api_result(
        lambda: _driver_custom(
            _Identity(), _Identity(), np.ones(1), initial=[np.ones(1), np.array([np.inf]), np.ones(1), np.ones(1)]
        ),
        lambda r: r.nonfinite_iteration == 0 and not r.converged,
    ),
    # ---- complex numbers and shapes that would broadcast ----
    "ode/complex-matrix": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).LinearODE(np.array([[-1.0 + 1.0j]])),
        TypeError,
        r"`A` must be real",
    ),
    "ode/complex-sparse-matrix": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).LinearODE(
            __import__("scipy.sparse", fromlist=["x"]).diags([-1.0 + 2.0j, -1.0])
        ),
        TypeError,
        r"`A` must be real",
    ),
    "driver/complex-u0": api(lambda: _driver(u0=_heat()[0].u0 + 0j), TypeError, r"`u0` must be real"),
    "driver/complex-guess": api(
        lambda: _driver(initial=[np.zeros(8), np.zeros(8), np.zeros(8) * 1j]), TypeError, r"`initial\[2\]` must be real"
    ),
    "driver/bool-u0": api(lambda: _driver(u0=np.ones(8, dtype=bool)), TypeError, r"`u0` must be a real array"),
    "propagator/complex-state": api(lambda: _heat()[1](np.zeros(8) * 1j, 0), TypeError, r"`u` must be real"),
    "driver/reference-shape-1": api(
        lambda: _driver(reference=[np.zeros(8)] * 3 + [np.zeros(1), np.zeros(8)]),
        ValueError,
        r"`reference\[3\]` must have shape \(8,\)",
    ),
    "driver/reference-shape-m1": api(
        lambda: _driver(reference=[np.zeros(8)] * 3 + [np.zeros((8, 1)), np.zeros(8)]),
        ValueError,
        r"`reference\[3\]` must have shape \(8,\).*got \(8, 1\)",
    ),
    "driver/reference-none": api(
        lambda: _driver(reference=[np.zeros(8), None, np.zeros(8), np.zeros(8), np.zeros(8)]),
        TypeError,
        r"`reference\[1\]` must be a state",
    ),
    "driver/guess-shape-m1": api(
        lambda: _driver(initial=[np.zeros(8), np.zeros((8, 1)), np.zeros(8)]),
        ValueError,
        r"`initial\[1\]` must have shape \(8,\)",
    ),
    # ---- networks: the input named before torch raises ----
    "nn/numpy-input": api(
        lambda: _linear_parareal_network()(np.ones((4, 2))), TypeError, r"`x` must be a torch.Tensor; got ndarray"
    ),
    "nn/float32-input": api(
        lambda: _linear_parareal_network()(_torch_tensor(np.ones((4, 2)), dtype="float32")),
        TypeError,
        r"`x` must have the network's dtype torch.float64; got torch.float32",
    ),
    "nn/int-input": api(
        lambda: _linear_parareal_network()(_torch_tensor(np.ones((4, 2)), dtype="int64")),
        TypeError,
        r"`x` must have the network's dtype torch.float64; got torch.int64",
    ),
    # ---- memory and time estimated up front (issue: hangs and a 74 GiB MemoryError) ----
    "ode/size-100000": cli("ode", "--size", "100000", fragment="use --sparse or a smaller --size"),
    "ode/heat2d-size-1000": cli(
        "ode", "--problem", "heat2d", "--size", "1000", fragment="use --sparse or a smaller --size"
    ),
    "ode/fine-substeps-1e9": cli("ode", "--fine-substeps", "1000000000", fragment="use fewer --fine-substeps"),
    "ode/advection-sparse-long": cli(
        "ode", "--problem", "advection", "--t-final", "1e8", "--sparse", fragment="estimated run time ~"
    ),
    "ode/time-limit-nan": cli("ode", "--time-limit", "nan", fragment="--time-limit: expected a positive number"),
    "ode/time-limit-0": cli("ode", "--time-limit", "0", fragment="--time-limit: expected a positive number"),
    "ode/distributed-outside-torchrun": cli("ode", "--backend", "distributed", fragment="torchrun"),
    "models/depth-90000002": cli("models", "--depth", "90000002", status=0, fragment="ResNet-90000002"),
    # ---- issue 20, estimates: no run that never ends, no traceback from an estimate ----
    "layerpipe/time-limit-1": cli(
        "layerpipe",
        "--schedules",
        "gpipe",
        "--microbatches",
        "100000",
        "--time-limit",
        "1",
        fragment="(--time-limit 1 s): use fewer",
    ),
    "bench/time-limit-1": cli(
        "bench", "--depth", "20", "-N", "1", "--time-limit", "0.001", fragment="exceeds --time-limit 0.001 s"
    ),
    "train/resnet1001-patterns-time-limit-60": cli(  # ResNet-1001 on a CPU: ~100 s per batch, refused before it
        "train",
        "--dataset",
        "patterns",
        "--epochs",
        "1",
        "--time-limit",
        "60",
        fragment="exceeds --time-limit 60 s; use fewer --epochs, a smaller --depth",
    ),
    "train/time-limit-nan": cli("train", "--time-limit", "nan", fragment="--time-limit: expected a positive number"),
    "ode/burgers-viscosity-1e300": cli(
        "ode", "--problem", "burgers", "--viscosity", "1e300", fragment="the Newton matrix I - h J is singular"
    ),
    "ode/brusselator-size-5000": cli(  # a dense 10000^2 Newton matrix: refused before its first factorisation
        "ode", "--problem", "brusselator", "--size", "5000", fragment="factorises a dense 10000x10000 matrix"
    ),
    "ode/vanderpol-mu-1e6-ivp-rk45": cli(  # the pilot slice itself would take hours: its watchdog stops it
        "ode",
        "--problem",
        "vanderpol",
        "--mu",
        "1e6",
        "--fine",
        "ivp-rk45",
        fragment="(its pilot was stopped by the watchdog)",
    ),
    "speedup/slices-100000": cli(
        "speedup",
        "--slices",
        "100000",
        fragment="exceeds --time-limit 600 s; use fewer --fine-substeps, --slices or --repeats",
    ),
    "speedup/fine-substeps-1000000": cli(
        "speedup", "--fine-substeps", "1000000", fragment="exceeds --time-limit 600 s; use fewer --fine-substeps"
    ),
    "speedup/size-300-time-limit-60": cli(
        "speedup",
        "--size",
        "300",
        "--time-limit",
        "60",
        fragment="exceeds --time-limit 60 s; use fewer --fine-substeps",
    ),
    "speedup/size-3000-memory": cli(
        "speedup", "--size", "3000", fragment="of memory (sparse LU factors of 9000000 unknowns"
    ),
    "speedup/time-limit-0": cli("speedup", "--time-limit", "0", fragment="--time-limit: expected a positive number"),
    "solve-ivp/nan-rhs": api_result(lambda: _solve_ivp_nan_rhs("RK45"), lambda r: bool(np.isnan(r).all())),
    "solve-ivp/nan-rhs-radau": api_result(lambda: _solve_ivp_nan_rhs("Radau"), lambda r: bool(np.isnan(r).all())),
    "driver/solve-ivp-nan-rhs": api_result(
        _parareal_solve_ivp_nan_rhs, lambda r: r.stop_reason == "non-finite" and r.nonfinite_iteration == 1
    ),
    "layerpipe/costs-1e308": cli(  # the sum overflows: refused by the option's declared domain first
        "layerpipe",
        "--processors",
        "2",
        "--costs",
        "1e308",
        "1e308",
        "1",
        "1e308",
        "1",
        "1",
        fragment="--costs: the values must have a finite sum",
    ),
    "layerpipe/costs-1e200": cli(  # a finite sum, but a cost outside the profile's range
        "layerpipe",
        "--processors",
        "2",
        "--costs",
        "1e200",
        "1",
        "1",
        "1",
        "1",
        "1",
        fragment="--costs: `layer0.forward` must be 0 or between 1e-100 and 1e+100",
    ),
    "layerpipe/costs-subnormal": cli(
        "layerpipe",
        "--processors",
        "2",
        "--costs",
        "1e-310",
        "1e-310",
        "1e-310",
        "1e-310",
        "1e-310",
        "1e-310",
        fragment="--costs: `layer0.forward` must be 0 or between 1e-100 and 1e+100",
    ),
    "layerpipe/api-costs-subnormal": api(
        lambda: __import__("parareal_toolkit.layerpipe", fromlist=["x"]).profile_from_costs([1.0], [5e-324], [1.0]),
        ValueError,
        r"`layer0.activation_grad` must be 0 or between 1e-100 and 1e\+100",
    ),
    # ---- output paths checked before the work ----
    "ode/json-is-a-directory": cli("ode", "--json", "{tmp}", fragment="it is a directory"),
    "ode/plot-is-a-directory": cli("ode", "--plot", "{tmp}", fragment="it is a directory"),
    "ode/json-name-too-long": cli("ode", "--json", "{tmp}/" + "x" * 300, fragment="File name too long"),
    "ode/plot-unknown-format": cli("ode", "--plot", "{tmp}/figure.xyz", fragment="unknown extension '.xyz'"),
    "ode/outputs-checked-before-estimate": cli(
        "ode", "--fine-substeps", "1000000000", "--json", "{tmp}", fragment="is a directory"
    ),
    "bench/json-is-a-directory": cli("bench", "--json", "{tmp}", fragment="it is a directory"),
    "layerpipe/json-is-a-directory": cli("layerpipe", "--json", "{tmp}", fragment="is a directory"),
    "verify/json-is-a-directory": cli("verify", "--examples", "1", "--json", "{tmp}", fragment="is a directory"),
    "train/output-is-a-file": cli(*_TRAIN_TINY, "-o", "{tmp}/afile", fragment="is a file, not a directory"),
    "train/output-under-a-file": cli(*_TRAIN_TINY, "-o", "/dev/null/run", fragment="Not a directory"),
    "train/output-name-too-long": cli(*_TRAIN_TINY, "-o", "{tmp}/" + "x" * 300, fragment="File name too long"),
    # ---- training options: the right option named, non-finite refused ----
    "train/lr-nan": cli(*_TRAIN_TINY, "--lr", "nan", fragment="argument --lr: expected a positive number, got 'nan'"),
    "train/lr-inf": cli(*_TRAIN_TINY, "--lr", "inf", fragment="argument --lr: expected a positive number"),
    "train/gamma-nan": cli(*_TRAIN_TINY, "--gamma", "nan", fragment="argument --gamma: expected a positive number"),
    "train/momentum-nan": cli(*_TRAIN_TINY, "--momentum", "nan", fragment="argument --momentum"),
    "train/weight-decay-inf": cli(*_TRAIN_TINY, "--weight-decay", "inf", fragment="argument --weight-decay"),
    "train/epochs-0": cli(*_TRAIN_TINY, "--epochs", "0", fragment="`epochs`"),
    "train/depth-12": cli(*_TRAIN_TINY, "--depth", "12", fragment="`depth` must be 9n + 2"),
    "train/depth-90000002": cli(*_TRAIN_TINY, "--depth", "90000002", fragment="needs at least"),
    "train/seed-negative": cli(*_TRAIN_TINY, "--seed=-1", fragment="`seed` must be non-negative"),
    "train/threads-0": cli(*_TRAIN_TINY, "--threads", "0", fragment="`threads` must be at least 1"),
    "train/deterministic-two-threads": cli(
        *_TRAIN_TINY, "--deterministic", "--threads", "2", "--device", "cpu", fragment="`threads` must be 1"
    ),
    "train/amp-on-cpu": cli(*_TRAIN_TINY, "--amp", "bf16", "--device", "cpu", fragment="need CUDA"),
    "train/train-size-with-cifar": cli("train", "--dataset", "cifar10", "--train-size", "10", fragment="`train_size`"),
    "train/cifar-missing": cli(
        "train",
        "--dataset",
        "cifar10",
        "--data-dir",
        "{tmp}/nowhere",
        "--depth",
        "11",
        "--workers",
        "0",
        "-o",
        "{tmp}/r",
        fragment="pass --download",
    ),
    "train/data-dir-is-a-file": cli(
        "train",
        "--dataset",
        "cifar100",
        "--data-dir",
        "{tmp}/afile",
        "--depth",
        "11",
        "-o",
        "{tmp}/r",
        fragment="is a file, not a directory",
    ),
    "train/timeout-nan": cli("train", "--timeout", "nan", fragment="argument --timeout: expected a positive number"),
    "train/timeout-huge": cli(*_TRAIN_TINY, "--timeout", "1e9", fragment="at most 604800"),
    "train/lr-1e20-diverges": cli(
        "train",
        "--dataset",
        "fake",
        "--depth",
        "11",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--train-size",
        "16",
        "--test-size",
        "16",
        "--workers",
        "0",
        "--quiet",
        "--lr",
        "1e20",
        "-o",
        "{tmp}/lr1e8",
        status=1,
        fragment="Try a smaller --lr",
    ),
    # ---- resume means the same run ----
    "train/resume-different-model": cli(
        "train", "--resume", "--model", "resnet", "--depth", "20", "-o", "{run}", fragment="differ from the run in"
    ),
    "train/resume-different-seed": cli("train", "--resume", "--seed", "4", "-o", "{run}", fragment="--seed 4 differ"),
    "train/resume-and-overwrite": cli("train", "--resume", "--overwrite", "-o", "{run}", fragment="choose one"),
    "train/resume-without-checkpoint": cli("train", "--resume", "-o", "{tmp}", fragment="does not exist"),
    "train/existing-run-without-resume": cli(*_TRAIN_TINY, "-o", "{run}", fragment="already exists; pass --resume"),
    "evaluate/directory": cli("evaluate", "{run}", fragment="is a directory, not a checkpoint file"),
    "evaluate/truncated": cli("evaluate", "{tmp}/trunc.pt", fragment="truncated or corrupt"),
    "evaluate/data-dir-for-synthetic-data": cli(
        "evaluate", "{run}/checkpoint.pt", "--data-dir", "{tmp}", fragment="trained on the synthetic 'fake' set"
    ),
    "evaluate/workers-negative": cli("evaluate", "{run}/checkpoint.pt", "--workers=-1", fragment="--workers"),
    # ---- distributed: fail fast, one line ----
    "distributed/timeout-0": api(
        lambda: __import__("parareal_toolkit.backends.distributed", fromlist=["x"]).init_distributed("gloo", timeout=0),
        ValueError,
        r"`timeout` must be a positive number of seconds",
    ),
    "distributed/timeout-inf": api(
        lambda: __import__("parareal_toolkit.backends.distributed", fromlist=["x"]).init_distributed(
            "gloo", timeout=math.inf
        ),
        ValueError,
        r"at most 604800",
    ),
    "distributed/timeout-bool": api(
        lambda: __import__("parareal_toolkit.backends.distributed", fromlist=["x"]).init_distributed(
            "gloo", timeout=True
        ),
        TypeError,
        r"`timeout` must be a real number",
    ),
    "distributed/outside-torchrun": api(
        lambda: __import__("parareal_toolkit.backends.distributed", fromlist=["x"]).init_distributed(),
        RuntimeError,
        r"torchrun",
    ),
    "training/config-timeout-nan": api(lambda: _train_config(timeout=math.nan), ValueError, r"`timeout`"),
    "pipeline-run/outside-torchrun": cli("pipeline-run", "--out", "{tmp}", fragment="torchrun"),
    "pipeline-run/timeout-0": cli("pipeline-run", "--out", "{tmp}", "--timeout", "0", fragment="--timeout"),
    # ---- more training API ----
    "training/config-gamma-nan": api(lambda: _train_config(gamma=math.nan), ValueError, r"`gamma` must be positive"),
    "training/config-augment-text": api(lambda: _train_config(augment="no"), TypeError, r"`augment` must be a bool"),
    "training/config-train-size-with-cifar": api(
        lambda: _train_config(dataset="cifar10", train_size=100), ValueError, r"`train_size`"
    ),
    "training/load-directory": api(
        lambda: __import__("parareal_toolkit.training", fromlist=["x"]).load_checkpoint("/"),
        ValueError,
        r"is a directory, not a checkpoint file",
    ),
    # ---- tables the documentation computes (LayerPipe against PipeDream) ----
    "layerpipe/speedup-table-network": api(
        lambda: __import__("parareal_toolkit.layerpipe", fromlist=["x"]).speedup_table(network="alexnet"),
        ValueError,
        r"`network`.*alexnet",
    ),
    "layerpipe/speedup-table-processors-0": api(
        lambda: __import__("parareal_toolkit.layerpipe", fromlist=["x"]).speedup_table(processors=[0]),
        ValueError,
        r"`processors\[0\]` must be",
    ),
    "layerpipe/claims-table-processors-text": api(
        lambda: __import__("parareal_toolkit.layerpipe", fromlist=["x"]).claims_table(processors=["7"]),
        TypeError,
        r"`processors\[0\]` must be",
    ),
    # ---- results files (the documentation shows their tables) ----
    "results/table-ragged-row": api(
        lambda: __import__("parareal_toolkit.results", fromlist=["x"]).results_table("t", ["a", "b"], [["1"]]),
        ValueError,
        r"rows\[0\] has 1 cells, expected 2",
    ),
    # ---- LayerPipe communication (links, all-reduce) ----
    "layerpipe/bandwidth-0": cli("layerpipe", "--bandwidth", "0", fragment="--bandwidth"),
    "layerpipe/bandwidth-with-latency": cli(
        "layerpipe", "--bandwidth", "10", "--latency", "5", fragment="exclude each other"
    ),
    "layerpipe/link-latency-negative": cli(
        "layerpipe", "--bandwidth", "10", "--link-latency=-1", fragment="--link-latency"
    ),
    "layerpipe/periodic-with-bandwidth": cli(
        "layerpipe", "--bandwidth", "10", "--scheduler", "periodic", fragment="--scheduler periodic"
    ),
    "layerpipe/samples-0": cli("layerpipe", "--bandwidth", "10", "--samples", "0", fragment="--samples"),
    "layerpipe/tmacs-0": cli("layerpipe", "--bandwidth", "10", "--tmacs", "0", fragment="--tmacs"),
    "layerpipe/network-bandwidth-0": api(
        lambda: __import__("parareal_toolkit.layerpipe.communication", fromlist=["x"]).Network(bandwidth=0),
        ValueError,
        r"`bandwidth` must be .*0",
    ),
    "layerpipe/network-latency-nan": api(
        lambda: __import__("parareal_toolkit.layerpipe.communication", fromlist=["x"]).Network(latency=math.nan),
        ValueError,
        r"`latency`",
    ),
    "layerpipe/allreduce-replicas-0": api(
        lambda: __import__("parareal_toolkit.layerpipe.communication", fromlist=["x"]).Network().allreduce_time(10, 0),
        ValueError,
        r"`replicas`",
    ),
    "layerpipe/timed-profile-samples-text": api(
        lambda: __import__("parareal_toolkit.layerpipe.communication", fromlist=["x"]).timed_profile(
            _small_profile(), samples="32", macs_per_second=1e12
        ),
        TypeError,
        r"`samples` must be an integer; got '32'",
    ),
    "layerpipe/evaluate-on-network-not-a-network": api(
        lambda: __import__("parareal_toolkit.layerpipe.communication", fromlist=["x"]).evaluate_on_network(
            "layerpipe", _small_profile(), 2, 10.0
        ),
        TypeError,
        r"`network` must be a Network; got float",
    ),
    # ---- balanced splits and image folders (issue 13) ----
    "train/split-unknown": cli(*_TRAIN_TINY, "--split", "memory", fragment="invalid choice: 'memory'"),
    "models/split-unknown": cli("models", "--split", "memory", fragment="invalid choice: 'memory'"),
    "bench/split-unknown": cli("bench", "--split", "memory", fragment="invalid choice: 'memory'"),
    "bench/unit-cost-unknown": cli("bench", "--unit-cost", "flops", fragment="invalid choice: 'flops'"),
    "train/imagefolder-missing": cli(
        *_IMAGEFOLDER_TINY, "--data-dir", "{tmp}/nowhere", "-o", "{tmp}/run", fragment="nowhere/train does not exist"
    ),
    "train/imagefolder-data-dir-is-a-file": cli(
        *_IMAGEFOLDER_TINY, "--data-dir", "{tmp}/afile", "-o", "{tmp}/run", fragment="afile/train does not exist"
    ),
    "train/image-size-with-cifar": cli("train", "--dataset", "cifar10", "--image-size", "32", fragment="`image_size`"),
    "train/mean-with-fake": cli(*_TRAIN_TINY, "--mean", "0.5", "0.5", "0.5", fragment="`mean` applies to"),
    "train/std-zero": cli("train", "--dataset", "imagefolder", "--std", "0", "1", "1", fragment="argument --std"),
    "train/mean-nan": cli("train", "--dataset", "imagefolder", "--mean", "nan", "0", "0", fragment="`mean`"),
    "train/image-size-0": cli("train", "--dataset", "imagefolder", "--image-size", "0", fragment="`image_size`"),
    # ---- image folders are sane (issue 20); the folders are written by `bad_folders` ----
    "train/imagefolder-one-class": cli(
        *_IMAGEFOLDER_TINY, "--data-dir", "{folders}/one-class", "-o", "{tmp}/run", fragment="has one class folder"
    ),
    "train/imagefolder-corrupt-test-image": cli(
        *_IMAGEFOLDER_TINY,
        "--data-dir",
        "{folders}/corrupt-test",
        "-o",
        "{tmp}/run",
        fragment="corrupt-test/test/b/bad.png is not a readable image",
    ),
    "train/imagefolder-class-without-images": cli(
        *_IMAGEFOLDER_TINY,
        "--data-dir",
        "{folders}/empty-class",
        "-o",
        "{tmp}/run",
        fragment="no labelled images in the class folder(s) ['c']",
    ),
    "nn/balanced-partition-too-many-parts": api(
        lambda: __import__("parareal_toolkit.nn", fromlist=["x"]).balanced_partition([1.0, 2.0], 3),
        ValueError,
        r"`num_parts` must be at most the number of layers, 2; got 3",
    ),
    "nn/plan-negative-unit-cost": api(
        lambda: __import__("parareal_toolkit.nn", fromlist=["x"]).parareal_resnet_plan(
            20, num_subnetworks=2, split="cost", unit_costs=lambda spec: -1.0
        ),
        ValueError,
        r"`unit_costs` must give finite nonnegative costs; got -1.0",
    ),
    "nn/plan-unknown-split": api(
        lambda: __import__("parareal_toolkit.nn", fromlist=["x"]).parareal_resnet_plan(
            20, num_subnetworks=2, split="x"
        ),
        ValueError,
        r"`split`",
    ),
    "nn/plan-unknown-objective": api(
        lambda: __import__("parareal_toolkit.nn", fromlist=["x"]).parareal_resnet_plan(
            20, num_subnetworks=2, split="cost", objective="x"
        ),
        ValueError,
        r"`objective`",
    ),
    "nn/virtual-partition-negative-coarse": api(
        lambda: __import__("parareal_toolkit.nn", fromlist=["x"]).virtual_time_partition(
            [1.0, 1.0], 2, lambda a, b: -1.0
        ),
        ValueError,
        r"`coarse_cost` must be finite and nonnegative; got -1.0",
    ),
    "bench/fit-unit-costs-rank-deficient": api(
        lambda: __import__("parareal_toolkit.bench.unit_costs", fromlist=["x"]).fit_unit_costs(
            [[1, 1], [2, 2]], [1.0, 2.0]
        ),
        ValueError,
        r"`counts` must have full column rank 2",
    ),
    "bench/fit-unit-costs-negative-time": api(
        lambda: __import__("parareal_toolkit.bench.unit_costs", fromlist=["x"]).fit_unit_costs([[1]], [-1.0]),
        ValueError,
        r"`counts` and `seconds` must be nonnegative",
    ),
    "bench/measure-unit-costs-method": api(
        lambda: __import__("parareal_toolkit.bench.unit_costs", fromlist=["x"]).measure_unit_costs(20, method="x"),
        ValueError,
        r"`method`",
    ),
    # ---- nonlinear ODEs, time steppers, the a-posteriori estimate ----
    "ode/mu-with-heat": cli("ode", "--mu", "3", fragment="--mu applies only to --problem vanderpol"),
    "ode/rtol-without-ivp": cli("ode", "--problem", "lorenz", "--rtol", "1e-6", fragment="--rtol applies only"),
    "ode/initial-on-lorenz": cli("ode", "--problem", "lorenz", "--initial", "sine", fragment="--initial applies only"),
    "ode/exact-fine-on-lorenz": cli("ode", "--problem", "lorenz", "--fine", "exact", fragment="--fine exact applies"),
    "ode/exact-fine-with-substeps": cli(
        "ode", "--fine", "exact", "--fine-substeps", "3", fragment="--fine exact takes"
    ),
    "ode/processes-on-burgers": cli(
        "ode", "--problem", "burgers", "--backend", "processes", fragment="--backend processes applies only"
    ),
    "ode/correction-on-vanderpol": cli(
        "ode", "--problem", "vanderpol", "--form", "correction", fragment="--form correction needs a linear coarse"
    ),
    "ode/sparse-with-stepper": cli("ode", "--coarse", "rk4", "--sparse", fragment="--sparse applies only"),
    "ode/size-on-lorenz": cli("ode", "--problem", "lorenz", "--size", "5", fragment="--size applies only"),
    "ode/negative-mu": cli("ode", "--problem", "vanderpol", "--mu", "-1", fragment="`mu` must be non-negative"),
    "ode/unknown-stepper": cli("ode", "--coarse", "rk5", fragment="--coarse"),
    "ode/explicit-fine-blows-up": cli(
        "ode",
        "--fine",
        "explicit-euler",
        "--fine-substeps",
        "1",
        "--slices",
        "200",
        "--t-final",
        "2",
        "--iterations",
        "1",
        status=1,
        fragment="the sequential fine solution is itself non-finite",
    ),
    "ode/nonlinear-run-too-long": cli(
        "ode", "--problem", "burgers", "--fine-substeps", "100000000", fragment="exceeds --time-limit 600 s"
    ),
    "driver/estimate-without-lipschitz": api(
        lambda: _driver(tol=1e-6, criterion="estimate"), ValueError, r"`criterion='estimate'` needs `fine_lipschitz`"
    ),
    "driver/criterion-unknown": api(lambda: _driver(criterion="error"), ValueError, r"`criterion` must be one of"),
    "driver/lipschitz-negative": api(lambda: _driver(fine_lipschitz=-1.0), ValueError, r"`fine_lipschitz`"),
    "driver/reference-array-wrong-length": api(
        lambda: _driver(reference=np.zeros((3, 8))), ValueError, r"`reference` must hold N \+ 1 = 5 states"
    ),
    "ode/stepper-substeps-0": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).RK4Stepper(
            _heat()[0].ode, _heat()[1].grid, substeps=0
        ),
        ValueError,
        r"`substeps` must be at least 1",
    ),
    "ode/solve-ivp-method": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).SolveIVPPropagator(
            _heat()[0].ode, _heat()[1].grid, method="euler"
        ),
        ValueError,
        r"`method` must be one of",
    ),
    "ode/callable-ambiguous": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).CallablePropagator(lambda u: u, 3),
        TypeError,
        r"`func` must take \(u, j\) or \(t0, t1, u\)",
    ),
    "ode/heat-initial-unknown": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).heat_1d(8, initial="bump"),
        ValueError,
        r"`initial` must be one of",
    ),
    "ode/burgers-initial-shape": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).burgers(8, initial=np.zeros(5)),
        ValueError,
        r"`initial` must have shape \(8,\)",
    ),
    # ---- parareal speedup, the speedup study and the process pool ----
    "speedup/rtol-zero": cli("speedup", "--rtol", "0", fragment="--rtol: expected a positive number"),
    "speedup/workers-0": cli("speedup", "--workers", "1", "0", fragment="--workers: expected a positive integer"),
    "speedup/workers-repeated": cli("speedup", "--workers", "1", "1", fragment="--workers must not repeat"),
    "speedup/unknown-problem": cli("speedup", "--problem", "dahlquist", fragment="invalid choice: 'dahlquist'"),
    "speedup/fine-substeps-0": cli("speedup", "--fine-substeps", "0", fragment="--fine-substeps: expected a positive"),
    "speedup/plot-no-extension": cli("speedup", "--plot", "{tmp}/figure", fragment="--plot"),
    "speedup-study/rtol-negative": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).speedup_study(
            __import__("parareal_toolkit.ode", fromlist=["x"]).heat_1d(5, sparse=True), rtol=-1.0
        ),
        ValueError,
        r"`rtol`",
    ),
    "speedup-study/workers-empty": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).speedup_study(
            __import__("parareal_toolkit.ode", fromlist=["x"]).heat_1d(5, sparse=True), workers=[]
        ),
        ValueError,
        r"`workers`",
    ),
    "speedup-study/problem-not-linear": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).speedup_study("heat2d"), TypeError, r"`problem`"
    ),
    "modelled-speedup/fine-cost-zero": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).modelled_speedup(0.0, 1.0, 4, 2, 2),
        ValueError,
        r"`fine_cost`",
    ),
    "modelled-speedup/core-share-above-1": api(
        lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).modelled_speedup(1.0, 0.1, 4, 2, 2, core_share=1.5),
        ValueError,
        r"`core_share` must be at most 1",
    ),
    "process-pool/threads-0": api(
        lambda: __import__("parareal_toolkit.backends", fromlist=["x"]).ProcessBackend(1, threads_per_worker=0),
        ValueError,
        r"`threads_per_worker`",
    ),
    "auto-backend/min-batched-size-0": api(
        lambda: __import__("parareal_toolkit.backends", fromlist=["x"]).AutoBackend(min_batched_size=0),
        ValueError,
        r"`min_batched_size`",
    ),
    "process-pool/view-too-many": api(
        lambda: __import__("parareal_toolkit.backends", fromlist=["x"]).ProcessBackend(2).view(3),
        ValueError,
        r"`workers`",
    ),
    # ---- slice-parallel training (placement) ----
    "train/placement-unknown": cli("train", "--placement", "gpus", fragment="invalid choice: 'gpus'"),
    "train/devices-meta": cli(
        *_TRAIN_TINY,
        "--model",
        "parareal-resnet",
        "--placement",
        "devices",
        "--devices",
        "meta",
        "meta",
        fragment="not meta",
    ),
    "train/slice-groups-0": cli(*_TRAIN_TINY, "--slice-groups", "0", fragment="expected a positive integer"),
    "train/placement-devices-resnet": cli(
        *_TRAIN_TINY, "--placement", "devices", "-o", "{tmp}/p", fragment="needs model='parareal-resnet'"
    ),
    "train/placement-distributed-outside-torchrun": cli(
        *_TRAIN_TINY, "--model", "parareal-resnet", "--placement", "distributed", "-o", "{tmp}/p", fragment="torchrun"
    ),
    "train/devices-unknown": cli(
        *_TRAIN_TINY,
        "--model",
        "parareal-resnet",
        "--placement",
        "devices",
        "--devices",
        "gpu7",
        "-o",
        "{tmp}/p",
        fragment="`devices` must name torch devices",
    ),
    "training/config-slice-groups-single": api(
        lambda: _train_config(model="parareal-resnet", slice_groups=2), ValueError, r"needs placement='distributed'"
    ),
    "training/config-devices-text": api(
        lambda: _train_config(model="parareal-resnet", placement="devices", devices="cpu"),
        TypeError,
        r"`devices` must be a list of device names",
    ),
}


def _registry_rows() -> dict[str, Cli]:
    """An unknown name for every option backed by a registry: refused, naming every registered choice.

    The names come from the registries themselves (not from this file), so a stepper, split or
    placement added to its registry is checked here without editing the catalogue.
    """
    from parareal_toolkit._iteration import FORM_UPDATES
    from parareal_toolkit.ode import STEPPERS
    from parareal_toolkit.plans import SPLITS
    from parareal_toolkit.training.placement import PLACEMENTS

    options = {
        ("ode", "--form"): FORM_UPDATES,
        ("ode", "--fine"): STEPPERS,
        ("ode", "--coarse"): STEPPERS,
        ("models", "--split"): SPLITS,
        ("bench", "--split"): SPLITS,
        (_TRAIN_TINY, "--split"): SPLITS,
        (("train",), "--placement"): PLACEMENTS,
    }
    rows = {}
    for (command, option), registry in options.items():
        prefix = (command,) if isinstance(command, str) else command
        for name in registry:
            rows[f"{prefix[0]}{option}/unknown-lists-{name}"] = cli(*prefix, option, "no-such-choice", fragment=name)
    return rows


CASES.update(_registry_rows())


# ---- issue 20: user callables checked at the boundary, and the driver's inputs ----------


class _Returns:
    """A propagator over 4 slices that returns ``value(u)``: a user callable whose return is wrong."""

    num_slices = 4

    def __init__(self, value):
        self.value = value

    def __call__(self, u, j):
        return self.value(u)


def _nonlinear_step(rhs=None, jacobian=None, implicit=False):
    from parareal_toolkit import TimeGrid
    from parareal_toolkit.ode import ImplicitEulerStepper, NonlinearODE, RK4Stepper

    ode = NonlinearODE(rhs or (lambda t, u: -u), 3, jacobian=jacobian)
    stepper = (ImplicitEulerStepper if implicit else RK4Stepper)(ode, TimeGrid.uniform(1.0, 2))
    return stepper(np.ones(3), 0)


def _capped_run():
    """``iterations=10**9`` on N = 4 slices: the result, and the warnings it gave."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _driver(iterations=10**9)
    return result, [str(w.message) for w in caught]


def _module_propagator_call(u):
    import torch

    from parareal_toolkit.nn import ModulePropagator

    return ModulePropagator([torch.nn.Linear(2, 2)])(u, 0)


CASES.update(
    {
        "callables/f-scalar": api(lambda: _nonlinear_step(lambda t, u: 1.0), ValueError, r"`f` .*got shape \(\)"),
        "callables/f-wrong-shape": api(
            lambda: _nonlinear_step(lambda t, u: -u[:2]), ValueError, r"`f` .*shape \(3,\).*got shape \(2,\)"
        ),
        "callables/f-none": api(lambda: _nonlinear_step(lambda t, u: None), TypeError, r"`f` .*got None"),
        "callables/f-complex": api(
            lambda: _nonlinear_step(lambda t, u: -u + 1j), ValueError, r"`f` .*must return real values"
        ),
        "callables/jacobian-wrong-shape": api(
            lambda: _nonlinear_step(jacobian=lambda t, u: -np.eye(2), implicit=True),
            ValueError,
            r"`jacobian` .*shape \(3, 3\).*got shape \(2, 2\)",
        ),
        "callables/jacobian-nan": api(
            lambda: _nonlinear_step(jacobian=lambda t, u: np.full((3, 3), np.nan), implicit=True),
            ValueError,
            r"`jacobian` .*must be finite at a finite state",
        ),
        "callables/fine-list": api(
            lambda: _driver(fine=_Returns(list)), TypeError, r"`fine` returned a list of length 8 on slice 0"
        ),
        "callables/fine-float": api(
            lambda: _driver(fine=_Returns(lambda u: 1.0)), TypeError, r"`fine` returned a Python float 1.0"
        ),
        "callables/coarse-float32": api(
            lambda: _driver(coarse=_Returns(lambda u: u.astype(np.float32))),
            ValueError,
            r"`coarse` returned .*float32 on slice 0; expected dtype float64",
        ),
        "callables/coarse-wrong-shape": api(
            lambda: _driver(coarse=_Returns(lambda u: u[:1])), ValueError, r"`coarse` returned .*expected shape \(8,\)"
        ),
        "callables/fine-complex": api(
            lambda: _driver(fine=_Returns(lambda u: u + 0j)), ValueError, r"`fine` returned .*expected a real state"
        ),
        "callables/fine-nan-reported": api_result(
            lambda: _driver(fine=_Returns(lambda u: u * np.nan), coarse=_Returns(lambda u: u)),
            lambda r: (r.finite, r.nonfinite_iteration, r.stop_reason) == (False, 1, "non-finite"),
        ),
        "driver/u0-float": api(
            lambda: _driver_custom(_Identity(), _Identity(), 1.0), TypeError, r"`u0` must be a numpy array or a torch"
        ),
        "driver/u0-none": api(lambda: _driver_custom(_Identity(), _Identity(), None), TypeError, r"`u0` .*got None"),
        "driver/u0-empty": api(
            lambda: _driver_custom(_Identity(), _Identity(), np.array([])), ValueError, r"`u0` must hold at least one"
        ),
        "driver/reference-torch-for-numpy": api(
            lambda: _driver(reference=[_torch_tensor(np.zeros(8))] * 5),
            TypeError,
            r"`reference\[0\]` must be a numpy array, the kind of `u0`",
        ),
        "driver/negative-norm": api(
            lambda: _driver(norm=lambda x: -1.0), ValueError, r"`norm` must return a non-negative number.*got -1.0"
        ),
        "driver/iterations-1e9-capped": api_result(
            _capped_run,
            lambda run: (
                (run[0].iterations, run[0].stop_reason) == (4, "exact")
                and any("`iterations` capped at N = 4: got 1000000000" in message for message in run[1])
            ),
        ),
        "grid/infinite-step": api(
            lambda: __import__("parareal_toolkit").TimeGrid([-1e308, 1e308]),
            ValueError,
            r"`times` must have finite steps",
        ),
        "ode/nonlinear-negative-t-final": api(
            lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).NonlinearProblem(
                "decay",
                __import__("parareal_toolkit.ode", fromlist=["x"]).NonlinearODE(lambda t, u: -u, 1),
                [1.0],
                -1.0,
            ),
            ValueError,
            r"`t_final` must be positive and finite; got -1.0",
        ),
        "nn/module-propagator-numpy": api(
            lambda: _module_propagator_call(np.ones(2, dtype=np.float32)),
            TypeError,
            r"must be a torch tensor; got ndarray",
        ),
        "nn/module-propagator-float64": api(
            lambda: _module_propagator_call(_torch_tensor([1.0, 2.0])),
            TypeError,
            r"must be a torch.float32 tensor on cpu.*got torch.float64",
        ),
    }
)


def _mgrit(levels=None, u0=None, **kwargs):
    """MGRIT on a two-level heat hierarchy (16 fine steps, m = 2) with one argument replaced."""
    from parareal_toolkit import mgrit
    from parareal_toolkit.ode import heat_1d, time_hierarchy

    problem = heat_1d(6)
    if levels is None:
        levels = time_hierarchy(problem, 16, coarsening=2, num_levels=2)
    kwargs.setdefault("coarsening", 2)
    return mgrit(levels, problem.u0 if u0 is None else u0, **kwargs)


def _hierarchy(problem=None, steps=16, **kwargs):
    from parareal_toolkit.ode import heat_1d, time_hierarchy

    kwargs = {"coarsening": 2, "num_levels": 2, **kwargs}
    return time_hierarchy(heat_1d(6) if problem is None else problem, steps, **kwargs)


def _heat_levels(n0: int, n1: int):
    from parareal_toolkit import TimeGrid
    from parareal_toolkit.ode import ImplicitEulerPropagator, heat_1d

    ode = heat_1d(6).ode
    return [ImplicitEulerPropagator(ode, TimeGrid.uniform(1.0, n)) for n in (n0, n1)]


def _squares_levels():
    class Squaring:
        def __init__(self, n):
            self.num_slices = n

        def __call__(self, u, j):
            return u * u

    return [Squaring(8), Squaring(4)]


CASES.update(
    {
        "mgrit/one-level": api(
            lambda: _mgrit(levels=_heat_levels(16, 8)[:1]), ValueError, r"`levels` must hold at least 2"
        ),
        "mgrit/levels-not-a-sequence": api(lambda: _mgrit(levels=3), TypeError, r"`levels` must be a sequence"),
        "mgrit/level-sizes": api(
            lambda: _mgrit(levels=_heat_levels(16, 6)), ValueError, r"`levels` must shrink by `coarsening` = 2"
        ),
        "mgrit/coarsening-1": api(lambda: _mgrit(coarsening=1), ValueError, r"`coarsening` must be at least 2; got 1"),
        "mgrit/coarsening-float": api(lambda: _mgrit(coarsening=2.0), TypeError, r"`coarsening` must be an integer"),
        "mgrit/unknown-relax": api(lambda: _mgrit(relax="FF"), ValueError, r"`relax` must be one of .*got 'FF'"),
        "mgrit/unknown-cycle": api(lambda: _mgrit(cycle="W"), ValueError, r"`cycle` must be one of .*got 'W'"),
        "mgrit/unknown-criterion": api(
            lambda: _mgrit(criterion="estimate"), ValueError, r"`criterion` must be one of .*got 'estimate'"
        ),
        "mgrit/unknown-initial": api(lambda: _mgrit(initial="zero"), ValueError, r"`initial` must be one of"),
        "mgrit/initial-length": api(
            lambda: _mgrit(initial=[np.zeros(6)] * 3), ValueError, r"`initial` must hold N_1 = 8 states"
        ),
        "mgrit/initial-shape": api(
            lambda: _mgrit(levels=_squares_levels(), u0=np.ones(2), initial=[np.ones(3)] * 4),
            ValueError,
            r"`initial\[0\]` must have shape \(2,\)",
        ),
        "mgrit/u0-shape": api(lambda: _mgrit(u0=np.zeros(5)), ValueError, r"`u0` must have shape \(6,\)"),
        "mgrit/tol-without-monitor": api(lambda: _mgrit(tol=1e-6, monitor=False), ValueError, r"`tol` needs"),
        "mgrit/reference-length": api(
            lambda: _mgrit(reference=[np.zeros(6)] * 3), ValueError, r"`reference` must hold N \+ 1 = 9 states"
        ),
        "hierarchy/indivisible-steps": api(
            lambda: _hierarchy(steps=18, num_levels=3), ValueError, r"`steps` must be divisible by .* = 4"
        ),
        "hierarchy/exact-for-nonlinear": api(
            lambda: _hierarchy(problem=__import__("parareal_toolkit.ode", fromlist=["x"]).lorenz(), steppers="exact"),
            ValueError,
            r"`steppers\[0\]` = 'exact' needs a LinearProblem",
        ),
        "hierarchy/unknown-stepper": api(
            lambda: _hierarchy(steppers="euler"), ValueError, r"`steppers\[0\]` must be one of"
        ),
        "hierarchy/stepper-count": api(
            lambda: _hierarchy(steppers=["rk4"] * 3), ValueError, r"`steppers` must hold one name per level \(2\)"
        ),
    }
)


def _layer_parallel(**options):
    """A layer-parallel ResNet-11 with one option replaced (refused before any module is built)."""
    return _nn().LayerParallelResNet(11, **options)


CASES.update(
    {
        "layer-parallel/iterations-0": api(
            lambda: _layer_parallel(iterations=0), ValueError, r"`iterations` must be at least 1; got 0"
        ),
        "layer-parallel/iterations-float": api(
            lambda: _layer_parallel(iterations=2.0), TypeError, r"`iterations` must be an integer; got 2.0"
        ),
        "layer-parallel/levels-1": api(
            lambda: _layer_parallel(levels=1), ValueError, r"`levels` must be at least 2; got 1"
        ),
        "layer-parallel/coarsening-1": api(
            lambda: _layer_parallel(coarsening=1), ValueError, r"`coarsening` must be at least 2; got 1"
        ),
        "layer-parallel/unknown-relax": api(
            lambda: _layer_parallel(relax="FF"), ValueError, r"`relax` must be one of .*got 'FF'"
        ),
        "layer-parallel/unknown-backward": api(
            lambda: _layer_parallel(backward="reverse"), ValueError, r"`backward` must be one of .*got 'reverse'"
        ),
        "layer-parallel/adjoint-iterations-0": api(
            lambda: _layer_parallel(adjoint_iterations=0), ValueError, r"`adjoint_iterations` must be at least 1; got 0"
        ),
        "layer-parallel/configure-unknown-option": api(
            lambda: _layer_parallel().configure(iteration=3), ValueError, r"`configure` takes the options .*'iteration'"
        ),
        "layer-parallel/configure-iterations-0": api(
            lambda: _layer_parallel().configure(iterations=0), ValueError, r"`iterations` must be at least 1; got 0"
        ),
    }
)


class _Huge:
    """A propagator that claims 10**12 slices: the run would store 10**12 states (it used to run for ever)."""

    num_slices = 10**12

    def __call__(self, u, j):
        return u + 0


class _Doubling:
    num_slices = 6

    def __call__(self, u, j):  # no check of `j`: ComposedPropagator must check its own
        return 2 * u


def _composed():
    from parareal_toolkit import ComposedPropagator

    return ComposedPropagator(_Doubling(), 3)


def _ode_api():
    import parareal_toolkit.ode as ode

    return ode


# the hostile sweep (issue "Robust by construction"): each row was a traceback, a hang or a
# silently wrong or ignored answer before
CASES.update(
    {
        "driver/store-iterates-text": api(
            lambda: _driver(store_iterates="no"), TypeError, r"`store_iterates` must be True or False; got 'no'"
        ),
        "driver/monitor-text": api(lambda: _driver(monitor="no"), TypeError, r"`monitor` must be True or False"),
        "driver/criterion-without-tol": api(
            lambda: _driver(criterion="estimate", fine_lipschitz=0.5),
            ValueError,
            r"`criterion` = 'estimate' applies only with `tol`",
        ),
        "driver/10**12-slices": api(
            lambda: _driver(fine=_Huge(), coarse=_Huge(), iterations=1), MemoryError, r"states"
        ),
        "mgrit/store-iterates-text": api(
            lambda: _mgrit(store_iterates="no"), TypeError, r"`store_iterates` must be True or False"
        ),
        "mgrit/criterion-without-tol": api(
            lambda: _mgrit(criterion="residual"), ValueError, r"`criterion` = 'residual' applies only with `tol`"
        ),
        "hierarchy/10**8-levels": api(
            lambda: _hierarchy(coarsening=3, num_levels=10**8), ValueError, r"exceeds N_0 = 16"
        ),
        "hierarchy/huge-coarsening-many-levels": api(
            lambda: _hierarchy(coarsening=10**9, num_levels=10**6), ValueError, r"exceeds N_0 = 16"
        ),
        "hierarchy/steppers-int": api(lambda: _hierarchy(steppers=5), TypeError, r"`steppers` must be a stepper name"),
        "pair/level-1-none": api(
            lambda: _ode_api().parareal_pair([_hierarchy()[0], None], 2),
            TypeError,
            r"`levels\[1\]` must be a propagator",
        ),
        "pair/levels-none": api(lambda: _ode_api().parareal_pair(None, 2), TypeError, r"`levels` must be a sequence"),
        "composed/slice-out-of-range": api(lambda: _composed()(np.ones(1), 5), IndexError, r"0 <= j < 2; got 5"),
        "composed/slice-negative": api(lambda: _composed()(np.ones(1), -1), IndexError, r"0 <= j < 2; got -1"),
        "composed/batch-lengths": api(
            lambda: _composed().propagate_batch([np.ones(1)] * 2, [0]), ValueError, r"equal lengths; got 2 and 1"
        ),
        "solve-ivp/rtol-1": api(
            lambda: _ode_api().SolveIVPPropagator(_ode_api().lorenz().ode, _heat()[1].grid, rtol=1.0),
            ValueError,
            r"`rtol` must be positive and less than 1",
        ),
        "solve-ivp/rtol-subnormal": api(
            lambda: _ode_api().SolveIVPPropagator(_ode_api().lorenz().ode, _heat()[1].grid, rtol=5e-324),
            ValueError,
            r"`rtol` must be at least 100 eps",
        ),
        "theory/logarithmic-norm-not-square": api(
            lambda: _ode_api().logarithmic_norm(np.ones((2, 3))), ValueError, r"`J` must be a non-empty square matrix"
        ),
        "theory/logarithmic-norm-nan": api(
            lambda: _ode_api().logarithmic_norm(np.full((2, 2), np.nan)), ValueError, r"`J` must be finite"
        ),
        "theory/logarithmic-norm-empty": api(
            lambda: _ode_api().logarithmic_norm(np.zeros((0, 0))), ValueError, r"non-empty square matrix"
        ),
        "theory/modal-decomposition-too-large": api(
            lambda: _ode_api().mgrit_bound(_ode_api().heat_2d(70, sparse=True), 0.01, 2, 4),
            ValueError,
            r"at most 4096 unknowns",
        ),
        "theory/speedup-from-result-text": api(
            lambda: _ode_api().speedup_from_result("x", fine_cost=1.0, coarse_cost=0.1),
            TypeError,
            r"`result` must be a PararealResult",
        ),
        "problems/initial-profile-nan": api(
            lambda: _ode_api().initial_profile("hat", np.array([np.nan, 0.5])), ValueError, r"`x` must be finite"
        ),
        "grid/text-times": api(
            lambda: __import__("parareal_toolkit").TimeGrid(["a", "b"]), TypeError, r"`times` must be a real array"
        ),
        "backends/processes-10**6-workers": api(
            lambda: __import__("parareal_toolkit").backends.ProcessBackend(workers=10**6),
            ValueError,
            r"`workers` must be at most",
        ),
        "backends/serial-lengths": api(
            lambda: __import__("parareal_toolkit").SerialBackend().map(_heat()[1], [np.zeros(8)] * 2, [0]),
            ValueError,
            r"equal lengths; got 2 and 1",
        ),
        "norms/max-abs-none": api(lambda: __import__("parareal_toolkit").max_abs(None), TypeError, r"`x` must be"),
        "nn/empty-batch": api(
            lambda: _linear_parareal_network()(_torch_tensor(np.zeros((0, 2)))), ValueError, r"at least one sample"
        ),
        "nn/slice-modules-out-of-range": api(
            lambda: _linear_parareal_network().slice_modules(5), IndexError, r"0 <= j < 2; got 5"
        ),
        "nn/linear-network-10**9-blocks": api(
            lambda: _nn().linear_network("dense", num_blocks=10**9, width=3, in_channels=2, out_features=2),
            MemoryError,
            r"linear_network\(num_blocks=1000000000",
        ),
        "plans/unit-multiply-adds-none": api(
            lambda: __import__("parareal_toolkit.plans", fromlist=["x"]).unit_multiply_adds(None),
            TypeError,
            r"`spec` must be a UnitSpec",
        ),
        "nn/preact-resnet-10**9-units": api(
            lambda: _nn().preact_resnet(9 * 10**8 + 2), MemoryError, r"preact_resnet\(depth=900000002\)"
        ),
        "layerpipe/simulate-none": api(lambda: _lp().simulate(None), TypeError, r"`schedule` must be a Schedule"),
        "layerpipe/measured-profile-none": api(
            lambda: _lp().measured_profile(None, None), TypeError, r"`model` must be an nn.Sequential"
        ),
        "bench/saved-tensor-bytes-none": api(
            lambda: __import__("parareal_toolkit.bench", fromlist=["x"]).saved_tensor_bytes(None),
            TypeError,
            r"`forward` must be callable",
        ),
        "results/read-missing": api(
            lambda: __import__("parareal_toolkit.results", fromlist=["x"]).read_results("/nonexistent-folder/r.json"),
            ValueError,
            r"not a readable results file",
        ),
        "results/columns-one-string": api(
            lambda: __import__("parareal_toolkit.results", fromlist=["x"]).results_table("t", "abc", [[1, 2, 3]]),
            TypeError,
            r"`columns` must be a sequence of headings",
        ),
        "results/benchmark-not-text": api(
            lambda: __import__("parareal_toolkit.results", fromlist=["x"]).results_record(5, "c"),
            TypeError,
            r"`benchmark` must be a string",
        ),
        "plotting/convergence-of-text": api(
            lambda: __import__("parareal_toolkit.plotting", fromlist=["x"]).plot_convergence("x"),
            TypeError,
            r"`result` must be a PararealResult",
        ),
        "layerpipe/microbatches-without-synchronous": cli(
            "layerpipe",
            "--schedules",
            "pipedream",
            "--microbatches",
            "4",
            fragment="--microbatches applies only to runs whose --schedules include a synchronous schedule",
        ),
        "bench/compile-coarse-with-N-1": cli(
            "bench", "--depth", "11", "-N", "1", "--compile-coarse", fragment="--compile-coarse applies only to runs"
        ),
        "propagator/implicit-euler-step-overflows": api(
            lambda: __import__("parareal_toolkit.ode", fromlist=["x"]).ImplicitEulerPropagator(
                _heat()[0].ode, __import__("parareal_toolkit").TimeGrid.uniform(1e308, 2)
            )(np.ones(8), 0),
            ValueError,
            r"implicit-Euler step .* overflows float64",
        ),
        "speedup/t-final-1e308": cli("speedup", "--t-final", "1e308", fragment="overflows float64"),
        "models/coarse-units-with-N-1": cli(
            "models",
            "--depth",
            "20",
            "-N",
            "1",
            "--coarse-units",
            "2",
            fragment="`coarse_units` applies only to N >= 2",
        ),
    }
)


# --- running a row ------------------------------------------------------------------------


def _run(case: Cli | Api | ApiResult, capsys, places: dict[str, str]) -> None:
    if isinstance(case, Cli):
        try:
            status = main([arg.format(**places) for arg in case.argv])
        except SystemExit as exc:  # pragma: no cover - main returns; kept so a regression reads well
            status = exc.code
        out, err = capsys.readouterr()
        assert status == case.status, f"exit status {status}, expected {case.status}; stderr: {err!r}"
        assert "Traceback" not in err, err
        if case.status == 0:  # a true result where a hang or a traceback used to be
            assert "error" not in err and case.fragment in out, (out, err)
            return
        if case.status == 2:  # refused: one line and nothing else
            assert err.count("\n") == 1, f"expected one line on stderr, got: {err!r}"
        else:  # ran, but the answer is not usable: said once, last
            said = [line for line in err.splitlines() if "error" in line or "non-finite" in line or "nan" in line]
            assert said and err.strip().splitlines()[-1] == said[-1], f"no closing diagnosis on stderr: {err!r}"
        assert case.fragment in err, f"{case.fragment!r} not in {err!r}"
    elif isinstance(case, Api):
        with pytest.raises(case.exception) as info:
            case.call()
        assert re.search(case.fragment, str(info.value)), f"{case.fragment!r} does not match {str(info.value)!r}"
    else:
        result = case.call()
        assert case.check(result), result


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A finished one-epoch Parareal ResNet-11 run, and a truncated copy of its checkpoint."""
    folder = tmp_path_factory.mktemp("run")
    run = folder / "pr11"
    argv = [*_TRAIN_TINY, "--model", "parareal-resnet", "-o", str(run)]
    assert main(argv) == 0
    data = (run / "checkpoint.pt").read_bytes()
    (folder / "trunc.pt").write_bytes(data[: len(data) // 2])
    return run, folder / "trunc.pt"


@pytest.fixture(scope="module")
def bad_folders(tmp_path_factory):
    """Image folders (8x8 PNGs written with PIL) that `train` must refuse before any epoch."""
    from PIL import Image

    root = tmp_path_factory.mktemp("folders")

    def images(folder, count):
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(folder / f"{i}.png")

    for split in ("train", "test"):
        images(root / "one-class" / split / "a", 2)
        for name in ("a", "b"):
            images(root / "corrupt-test" / split / name, 2)
            images(root / "empty-class" / split / name, 2)
        (root / "empty-class" / split / "c").mkdir()
    (root / "corrupt-test" / "test" / "b" / "bad.png").write_bytes(b"not a PNG")
    return root


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, capsys, monkeypatch, tmp_path, request):
    monkeypatch.chdir(tmp_path)  # nothing a row writes lands in the checkout
    for variable in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(variable, raising=False)  # the rows run outside torchrun
    (tmp_path / "afile").write_text("not a folder")
    places = {"tmp": str(tmp_path)}
    case = CASES[name]
    if isinstance(case, Cli) and any("{run}" in arg for arg in case.argv):
        run, truncated = request.getfixturevalue("trained_run")
        places["run"] = str(run)
    if isinstance(case, Cli) and any("{folders}" in arg for arg in case.argv):
        places["folders"] = str(request.getfixturevalue("bad_folders"))
    if isinstance(case, Cli) and any("trunc.pt" in arg for arg in case.argv):
        run, truncated = request.getfixturevalue("trained_run")
        (tmp_path / "trunc.pt").write_bytes(truncated.read_bytes())
    capsys.readouterr()  # the fixture's own output is not the row's
    _run(case, capsys, places)


def test_the_catalogue_is_large_and_covers_every_command():
    from parareal_toolkit.cli import COMMANDS

    assert len(CASES) >= 120
    commands = {case.argv[0] for case in CASES.values() if isinstance(case, Cli) and case.argv}
    assert set(COMMANDS) - {"pipeline-run"} <= commands
