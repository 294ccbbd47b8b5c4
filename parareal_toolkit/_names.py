"""The names users choose from, in one torch-free place.

The library's registries are built from these tuples (and a test checks that each registry
holds exactly these names), and the ``parareal`` command's parser offers them as
``choices`` without importing torch or scipy.
"""

from __future__ import annotations

__all__ = [
    "FORMS",
    "BACKEND_NAMES",
    "PROBLEM_NAMES",
    "LINEAR_PROBLEM_NAMES",
    "NONLINEAR_PROBLEM_NAMES",
    "STEPPER_NAMES",
    "STEPPER_CLASSES",
    "CRITERIA",
    "RELAX_NAMES",
    "METHOD_NAMES",
    "CYCLE_NAMES",
    "MGRIT_CRITERIA",
    "MGRIT_INITIAL_NAMES",
    "HIERARCHY_STEPPERS",
    "STOP_REASONS",
    "CONVERGED_STOP_REASONS",
    "SOLVE_IVP_NAMES",
    "INITIAL_NAMES",
    "VERIFY_CASES",
    "DATASET_NAMES",
    "MODEL_NAMES",
    "SPLIT_NAMES",
    "COST_MODELS",
    "SPLIT_OBJECTIVES",
    "NORM_NAMES",
    "DEVICE_NAMES",
    "AMP_NAMES",
    "PLACEMENT_NAMES",
    "LAYER_PARALLEL_NAMES",
    "LAYER_PARALLEL_BACKWARD_NAMES",
    "RUN_DEFINING_FIELDS",
    "CLOCKS",
    "NETWORK_NAMES",
    "SYNCHRONOUS_SCHEDULES",
    "ASYNCHRONOUS_SCHEDULES",
    "SCHEDULE_NAMES",
    "RUNTIME_SCHEDULES",
    "LAYERPIPE_SCHEDULERS",
]

# the driver
FORMS = ("standard", "correction")
BACKEND_NAMES = ("serial", "batched", "auto", "processes", "devices", "distributed")

# ODEs
LINEAR_PROBLEM_NAMES = ("heat1d", "heat2d", "advection", "oscillator", "dahlquist")
NONLINEAR_PROBLEM_NAMES = ("lorenz", "vanderpol", "brusselator", "burgers", "allencahn")
PROBLEM_NAMES = LINEAR_PROBLEM_NAMES + NONLINEAR_PROBLEM_NAMES
# named initial values of the linear PDE problems (heat1d, heat2d, advection)
INITIAL_NAMES = ("hat", "sine", "gaussian", "square")
# the time steppers of `parareal ode --fine/--coarse` (solve_ivp methods as "ivp-<method>"):
# name -> "module:class", the one list a new stepper joins; parareal_toolkit.ode.STEPPERS
# imports the classes, the CLI's parser only reads the names
STEPPER_CLASSES = {
    "explicit-euler": "parareal_toolkit.ode.steppers:ExplicitEulerStepper",
    "rk4": "parareal_toolkit.ode.steppers:RK4Stepper",
    "implicit-euler": "parareal_toolkit.ode.implicit_steppers:ImplicitEulerStepper",
    "trapezoid": "parareal_toolkit.ode.implicit_steppers:TrapezoidStepper",
}
STEPPER_NAMES = tuple(STEPPER_CLASSES)
# what each level of an MGRIT hierarchy (parareal_toolkit.ode.time_hierarchy) can step with:
# the time steppers, and "exact" (the matrix exponential) for linear problems
HIERARCHY_STEPPERS = (*STEPPER_NAMES, "exact")
# scipy's solve_ivp methods as `parareal ode --fine ivp-<method>`, in the order of
# parareal_toolkit.ode.SOLVE_IVP_METHODS (a test holds them equal)
SOLVE_IVP_NAMES = ("ivp-rk45", "ivp-rk23", "ivp-dop853", "ivp-radau", "ivp-bdf", "ivp-lsoda")
# what `tol` is compared with: the increment, or the a-posteriori error estimate
CRITERIA = ("increment", "estimate")
# MGRIT (parareal_toolkit.mgrit): the relaxation on each level (F: the F-points of each coarse
# interval from its C-point; FCF: F, then the C-points from their predecessors, then F again),
# the cycle (V: one coarse cycle per level; F: an F-cycle then a V-cycle on the coarse level),
# what `tol` is compared with (the C-point increment, or the FAS residual at the C-points) and
# the initial C-point values without given guesses (a coarse sweep, copies of u0, or PyMGRIT's
# nested iteration: a sweep of the coarsest level refined by one V-cycle per intermediate level)
RELAX_NAMES = ("F", "FCF")
# what `parareal ode --method` and `parareal speedup --method` run: parareal, or MGRIT on its discretisation
METHOD_NAMES = ("parareal", "mgrit")
CYCLE_NAMES = ("V", "F")
MGRIT_CRITERIA = ("increment", "residual")
MGRIT_INITIAL_NAMES = ("coarse", "u0", "nested")
# why a parareal run stopped (PararealResult.stop_reason): the criterion met ``tol``; K
# reached N where the result is the fine solution by theorem; K reached N where it is not
# (the correction form with a coarse propagator not declared linear); the `iterations` cap
# before N; a NaN or an infinity; the callback raised StopIteration
STOP_REASONS = ("tolerance", "exact", "all-slices", "iteration-cap", "non-finite", "callback")
# the stop reasons for which PararealResult.converged is True
CONVERGED_STOP_REASONS = ("tolerance", "exact")

# networks and training
VERIFY_CASES = ("linear", "linear+bias", "relu", "batchnorm")
DATASET_NAMES = ("cifar10", "cifar100", "fake", "patterns", "imagefolder")
MODEL_NAMES = ("resnet", "parareal-resnet")
# how Parareal ResNet-N cuts its residual units: the seed's equal unit counts, or balanced cost
SPLIT_NAMES = ("units", "cost")
# what a cost split balances: counted multiply-adds, or forward+backward time measured per unit shape
COST_MODELS = ("macs", "time")
# what a cost split minimises: the largest subnetwork's cost, or the virtual time (largest
# subnetwork plus the coarse chain)
SPLIT_OBJECTIVES = ("largest", "virtual")
NORM_NAMES = ("batch", "none")
DEVICE_NAMES = ("auto", "cpu", "cuda")
AMP_NAMES = ("none", "bf16")
# where a parareal network's slices run while it trains: one device, one device per slice in
# one process, or one group of slices per torchrun rank
PLACEMENT_NAMES = ("single", "devices", "distributed")
# how a plain ResNet's forward runs while it trains: layer by layer, or each stage's equal-shape
# units solved across the layers by MGRIT (nn.LayerParallelResNet); and how its gradient is formed
LAYER_PARALLEL_NAMES = ("none", "mgrit")
LAYER_PARALLEL_BACKWARD_NAMES = ("adjoint", "autograd")
# the TrainConfig fields (and `parareal train` options) that define a run: model, data,
# optimisation; a resumed run must agree with its checkpoint on these, the rest may change
RUN_DEFINING_FIELDS = (
    "model",
    "depth",
    "subnetworks",
    "coarse_units",
    "split",
    "norm",
    "layer_parallel",
    "mgrit_iterations",
    "mgrit_levels",
    "mgrit_coarsening",
    "mgrit_backward",
    "dataset",
    "image_size",
    "mean",
    "std",
    "augment",
    "flip",
    "train_size",
    "test_size",
    "seed",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "milestones",
    "gamma",
)

# timing (Table 2)
CLOCKS = ("wall", "process")

# LayerPipe
NETWORK_NAMES = ("vgg16", "resnet18", "resnet34", "resnet50")
SYNCHRONOUS_SCHEDULES = ("sequential", "gpipe", "1f1b", "zb-h1", "zb-h2", "layerpipe-flush")
ASYNCHRONOUS_SCHEDULES = ("pipedream", "pipedream-replicated", "layerpipe")
SCHEDULE_NAMES = SYNCHRONOUS_SCHEDULES + ASYNCHRONOUS_SCHEDULES
RUNTIME_SCHEDULES = ("gpipe", "1f1b", "zb-h1", "layerpipe-flush")
# how LayerPipe's placement is executed: a rate-optimal static periodic schedule, list
# scheduling oldest step first, or the faster of the two ("decide")
LAYERPIPE_SCHEDULERS = ("decide", "periodic", "list")
