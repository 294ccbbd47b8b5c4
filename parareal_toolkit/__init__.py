"""parareal_toolkit: one parareal driver for ODEs (linear and nonlinear) and deep neural networks.

A deep network is a time-stepping scheme, and parareal parallelises time stepping. A
*propagator* advances a state across one slice (a time interval or a block of layers);
:func:`parareal` runs the iteration on any pair of propagators, numpy or torch.

Subpackages: :mod:`parareal_toolkit.ode` (linear and nonlinear problems, exact and
implicit-Euler propagators, time steppers, solve_ivp and callable propagators, convergence
theory). Importing the top level does not import torch.
"""

from .backends import BACKENDS, BatchedBackend, SerialBackend, get_backend
from .driver import FORMS, IterationInfo, PararealResult, max_abs, parareal
from .mgrit_driver import ComposedPropagator, MGRITIterationInfo, MGRITResult, mgrit
from .propagator import BatchPropagator, Propagator, TimeGrid, check_propagator, propagate_sequentially

__version__ = "0.1.0"

__all__ = [
    "parareal",
    "PararealResult",
    "IterationInfo",
    "mgrit",
    "MGRITResult",
    "MGRITIterationInfo",
    "ComposedPropagator",
    "FORMS",
    "max_abs",
    "Propagator",
    "BatchPropagator",
    "TimeGrid",
    "check_propagator",
    "propagate_sequentially",
    "BACKENDS",
    "SerialBackend",
    "BatchedBackend",
    "get_backend",
    "__version__",
]
