"""ODEs: linear ``u' = A u`` and general ``u' = f(t, u)``; problems, propagators, time steppers, theory."""

import importlib

from .._names import STEPPER_CLASSES
from ..propagator import ODE, ODEWithJacobian
from .base import LinearSlicePropagator, SlicePropagator
from .callable_propagator import CALLABLE_SIGNATURES, CallablePropagator
from .exact import ExactPropagator
from .hierarchy import HIERARCHY_STEPPERS, parareal_pair, time_hierarchy
from .implicit_euler import ImplicitEulerPropagator
from .implicit_steppers import ImplicitEulerStepper, NewtonConvergenceError, TrapezoidStepper
from .linear import LinearODE, LinearProblem
from .measured_speedup import SpeedupRow, SpeedupStudy, modelled_speedup, plot_speedup_study, speedup_study
from .mgrit_theory import (
    MGRIT_STEPPERS,
    mgrit_bound,
    mgrit_convergence_factor,
    mgrit_dobrev_bound,
    mgrit_error_propagator,
    mgrit_southworth_bound,
    mgrit_southworth_estimate,
)
from .nonlinear import NonlinearODE, NonlinearProblem
from .nonlinear_problems import NONLINEAR_PROBLEMS, allen_cahn, brusselator, burgers, lorenz, van_der_pol
from .nonlinear_theory import (
    fine_lipschitz,
    fine_lipschitz_estimate,
    gander_hairer_bound,
    lipschitz_constants,
    logarithmic_norm,
)
from .plotting import plot_convergence_factor, plot_mgrit_convergence_factor
from .problems import (
    INITIAL_NAMES,
    PROBLEMS,
    advection_periodic,
    dahlquist,
    damped_oscillator,
    heat_1d,
    heat_2d,
    initial_profile,
    make_problem,
)
from .seed_algorithm1 import seed_algorithm1_literal
from .solve_ivp_propagator import SOLVE_IVP_METHODS, SolveIVPPropagator
from .steppers import ExplicitEulerStepper, RK4Stepper, TimeStepper
from .theory import (
    convergence_factor,
    error_bounds,
    heat_contraction_factor,
    implicit_euler_amplification,
    modal_decomposition,
    speedup,
    speedup_from_result,
)


def _stepper_class(target: str) -> type[TimeStepper]:
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


# The time steppers by the name `parareal ode --fine/--coarse` gives them: name -> class.
# Built from _names.STEPPER_CLASSES (name -> "module:class"), the torch-free list the CLI's
# parser reads: a new stepper is its class plus one line there.
STEPPERS: dict[str, type[TimeStepper]] = {name: _stepper_class(target) for name, target in STEPPER_CLASSES.items()}

__all__ = [
    "ODE",
    "ODEWithJacobian",
    "SlicePropagator",
    "STEPPERS",
    "LinearODE",
    "LinearProblem",
    "LinearSlicePropagator",
    "ExactPropagator",
    "ImplicitEulerPropagator",
    "PROBLEMS",
    "make_problem",
    "initial_profile",
    "INITIAL_NAMES",
    "heat_1d",
    "heat_2d",
    "advection_periodic",
    "damped_oscillator",
    "dahlquist",
    "seed_algorithm1_literal",
    "NonlinearODE",
    "NonlinearProblem",
    "NONLINEAR_PROBLEMS",
    "lorenz",
    "van_der_pol",
    "brusselator",
    "burgers",
    "allen_cahn",
    "CallablePropagator",
    "CALLABLE_SIGNATURES",
    "TimeStepper",
    "ExplicitEulerStepper",
    "RK4Stepper",
    "ImplicitEulerStepper",
    "TrapezoidStepper",
    "NewtonConvergenceError",
    "SolveIVPPropagator",
    "SOLVE_IVP_METHODS",
    "gander_hairer_bound",
    "lipschitz_constants",
    "logarithmic_norm",
    "fine_lipschitz",
    "fine_lipschitz_estimate",
    "implicit_euler_amplification",
    "convergence_factor",
    "heat_contraction_factor",
    "modal_decomposition",
    "error_bounds",
    "speedup",
    "speedup_from_result",
    "plot_convergence_factor",
    "mgrit_error_propagator",
    "mgrit_convergence_factor",
    "mgrit_dobrev_bound",
    "mgrit_southworth_bound",
    "mgrit_southworth_estimate",
    "mgrit_bound",
    "MGRIT_STEPPERS",
    "plot_mgrit_convergence_factor",
    "speedup_study",
    "SpeedupStudy",
    "SpeedupRow",
    "modelled_speedup",
    "plot_speedup_study",
    "time_hierarchy",
    "parareal_pair",
    "HIERARCHY_STEPPERS",
]
