"""LayerPipe: intra- and inter-layer gradient pipelining, simulated and run.

Backprop of layer l is three tasks: forward F_l, activation gradient A_l
(e_{l-1} = W_l^T delta_l, the critical backward chain) and weight gradient G_l
(dW_l = delta_l a_{l-1}^T). This package builds task graphs from real layer shapes
(counted MACs) or measured times, schedules them (sequential, GPipe, 1F1B, ZB-H1, ZB-H2,
PipeDream with and without stage replication, LayerPipe), simulates them cycle by cycle,
draws Gantt charts, emulates delayed-gradient training exactly, and runs the synchronous
schedules on ``torch.distributed.pipelining``.

Modules: ``costs`` (cost profiles), ``partition`` (placements),
``task_graph`` (tasks, schedules and their :class:`ScheduleInfo`),
``stage_schedules`` (synchronous), ``asynchronous_schedules``,
``schedule_builders`` (every schedule by name), ``engine`` (the discrete-event
simulation), ``cycle_ratio`` (maximum cycle ratio), ``folding`` (a run folded onto
k steps: iteration bound, cyclic period), ``steady_state`` (the exact steady-state
period), ``modulo_scheduling`` (rate-optimal static periodic schedules: modulo scheduling
by MILP), ``comparison`` (metrics and speedups), ``claims`` (the paper's claims against three
readings, as results tables), ``communication`` (links with bandwidth and latency, ring
all-reduce; simulation in seconds), ``gantt``, ``emulator``,
``runtime`` (torch; launched by ``parareal pipeline-run``).

What is exact (tested): GPipe/1F1B makespan (m+p-1)(f+b+w) and bubble (p-1)/(m+p-1);
ZB-H1 makespan m(f+b+w)+(p-1)(f+b-w) exactly when w <= min(f, b) (not w <= f + b); PipeDream's period equals its largest
stage load; the steady-state period is exact for any cyclicity (the critical cycle of the
realized processor order, on the steps a finite run reproduces exactly) and never below the
iteration bound and the load bound; LayerPipe's partition is optimal and its largest load
T* obeys max(tau, M, a/2) <= T* <= max(tau + M, (2 tau + a)/3, a/2) (tau = total/P,
M = largest F or G, a = largest A; proof in ``partition``);
LayerPipe's static periodic schedule has period max(largest processor load, iteration bound)
whenever its status is ``optimal`` (else the gap to that bound is reported), the simulator
starts every task at its static time, and it is never slower than the list schedule then;
the torch runtime's gradients equal single-process backprop; the emulator with zero delay
is plain SGD bit for bit.

**Our reading of LayerPipe** (only the abstract of Unnikrishnan & Parhi 2021 is
available; each point is a parameter):

* Cost model: one MAC = one clock cycle per processor; A_1 = 0 (no gradient for the
  image); parameter-free layers are merged into the preceding weighted layer
  (``elementwise_cost`` per element); updates cost ``update_cost`` per weight (0 by
  default, as the abstract counts only gradient work).
* Intra-layer split (``move_weight_gradient``): G_l may run on a different processor
  than A_l (F_l's processor or the next one) in parallel with A_l.
* Inter-layer split (``split_activation``): A_l is divided by MAC fraction (output
  channels of e_{l-1}) between layer l's processor and the previous one.
* Partition: work line [A_l, F_l, G_l] per layer, cut into P consecutive pieces of
  least maximal load (bisection on an optimal greedy fill), F and G whole, A divisible
  once; so "every processor carries the same load" up to the bound above (one whole F or
  G, or the share a large A_l forces).
* Delays: S(l) = processors after F_l's processor (PipeDream's rule), ``delays`` to
  override; F_l of step t waits for G_l of step t - S(l) - 1.
* Execution: asynchronous steady state, one micro-batch per step; PipeDream runs its
  periodic 1F1B order; LayerPipe runs the "multiprocessor scheduling" of its retimed task
  graph as a rate-optimal static periodic schedule of its placement (``modulo_scheduling``:
  period max(largest processor load, iteration bound) whenever the MILP finds one, else the
  gap is reported), or list-scheduled oldest step first (``scheduler="list"``); by default
  both are simulated and the faster is reported.
* "Clock cycles" = steady-state cycles per step; speedup = PipeDream cycles / LayerPipe
  cycles at the same P (both with free communication unless ``latency``/``bandwidth``).
"""

from .asynchronous_schedules import cyclic_order, layerpipe_schedule, pipedream_schedule
from .claims import claims_rows, claims_schedules, claims_tables
from .communication import Network, charge_allreduce, evaluate_on_network, timed_profile, with_link_tasks
from .comparison import PAPER_AVERAGE_SPEEDUP, PAPER_PEAK_SPEEDUP, compare, evaluate
from .costs import (
    NETWORKS,
    CostProfile,
    LayerCost,
    StageCost,
    measured_profile,
    network_profile,
    profile_from_costs,
    profile_from_sequential,
    resnet_profile,
    vgg16_profile,
)
from .cycle_ratio import max_cycle_ratio
from .emulator import DelayedGradientTrainer, pipedream_delays
from .engine import Trace, simulate
from .folding import cyclic_period, iteration_bound
from .gantt import plot_gantt, plot_gantt_panels
from .modulo_scheduling import (
    PeriodicSchedule,
    PeriodicScheduleInfo,
    certified_schedule,
    periodic_order,
    periodic_schedule,
    simulated_period,
    static_start,
)
from .paper_tables import claims_table, speedup_table
from .partition import LayerPipePlacement, partition_contiguous, partition_layerpipe, partition_replicated
from .schedule_builders import ASYNCHRONOUS, SCHEDULES, SYNCHRONOUS, build_schedule
from .stage_schedules import gpipe_order, one_f_one_b_order, stage_schedule, zb_h1_order
from .steady_state import SteadyStateNotReached, steady_state_period
from .task_graph import Dependency, Schedule, ScheduleInfo, Task

__all__ = [
    "LayerCost",
    "StageCost",
    "CostProfile",
    "profile_from_costs",
    "profile_from_sequential",
    "measured_profile",
    "vgg16_profile",
    "resnet_profile",
    "network_profile",
    "NETWORKS",
    "Task",
    "Dependency",
    "Schedule",
    "ScheduleInfo",
    "partition_contiguous",
    "partition_replicated",
    "partition_layerpipe",
    "LayerPipePlacement",
    "SCHEDULES",
    "SYNCHRONOUS",
    "ASYNCHRONOUS",
    "build_schedule",
    "stage_schedule",
    "pipedream_schedule",
    "layerpipe_schedule",
    "gpipe_order",
    "one_f_one_b_order",
    "zb_h1_order",
    "cyclic_order",
    "Trace",
    "simulate",
    "iteration_bound",
    "cyclic_period",
    "max_cycle_ratio",
    "steady_state_period",
    "PeriodicSchedule",
    "PeriodicScheduleInfo",
    "periodic_schedule",
    "periodic_order",
    "simulated_period",
    "static_start",
    "certified_schedule",
    "claims_rows",
    "claims_tables",
    "claims_schedules",
    "SteadyStateNotReached",
    "evaluate",
    "compare",
    "PAPER_AVERAGE_SPEEDUP",
    "PAPER_PEAK_SPEEDUP",
    "speedup_table",
    "claims_table",
    "plot_gantt",
    "plot_gantt_panels",
    "Network",
    "timed_profile",
    "charge_allreduce",
    "with_link_tasks",
    "evaluate_on_network",
    "DelayedGradientTrainer",
    "pipedream_delays",
]
