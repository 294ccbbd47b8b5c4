"""Linear ODEs ``u' = A u``: problems, exact and implicit-Euler propagators, convergence theory."""

from .base import LinearSlicePropagator
from .exact import ExactPropagator
from .implicit_euler import ImplicitEulerPropagator
from .linear import LinearODE, LinearProblem
from .measured_speedup import SpeedupRow, SpeedupStudy, modelled_speedup, plot_speedup_study, speedup_study
from .plotting import plot_convergence_factor
from .problems import PROBLEMS, advection_periodic, dahlquist, damped_oscillator, heat_1d, heat_2d, make_problem
from .seed_algorithm1 import seed_algorithm1_literal
from .theory import (
    convergence_factor,
    error_bounds,
    heat_contraction_factor,
    implicit_euler_amplification,
    modal_decomposition,
    speedup,
    speedup_from_result,
)

__all__ = [
    "LinearODE",
    "LinearProblem",
    "LinearSlicePropagator",
    "ExactPropagator",
    "ImplicitEulerPropagator",
    "PROBLEMS",
    "make_problem",
    "heat_1d",
    "heat_2d",
    "advection_periodic",
    "damped_oscillator",
    "dahlquist",
    "seed_algorithm1_literal",
    "implicit_euler_amplification",
    "convergence_factor",
    "heat_contraction_factor",
    "modal_decomposition",
    "error_bounds",
    "speedup",
    "speedup_from_result",
    "plot_convergence_factor",
    "speedup_study",
    "SpeedupStudy",
    "SpeedupRow",
    "modelled_speedup",
    "plot_speedup_study",
]
