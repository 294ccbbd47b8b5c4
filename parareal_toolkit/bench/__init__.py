r"""Gradient time of a parareal network, part by part: the seed paper's Table 2.

One training iteration of a parareal network ``f~ = h(z_N)`` (see
``parareal_toolkit.nn.network``) consists of

* the preprocessings ``x_j = C^j(x)``, ``j = 1..N`` (independent: parallel),
* the subnetworks ``y_j = g^j(x_j)`` (independent: parallel, one device each),
* the coarse chain ``z_1 = y_1``, ``z_{j+1} = y_{j+1} + F^j(z_j - x_{j+1})`` (sequential),
* the postprocessing and loss ``L(h(z_N))``,

each with its backward pass. The seed (Lee, Park & Lee, Table 2) reports a **virtual
wall-clock** time: every part is timed on its own and parallel parts are counted once,

    T_virtual(N) = max_j T(C^j) + max_j T(g^j) + T(chain) + T(h + loss),

the time of one iteration on N ideal devices with free communication. The speedup is
``T_virtual(1) / T_virtual(N)``. Counting every residual unit as one unit of work gives the
**unit-count bound** ``U / (max_j u(g^j) + sum_j u(F^j))``, a property of the network's
plan (``PararealResNetPlan.unit_count_bound``): for the seed's
ResNet-1001 (``U = 333``, ``ceil(12/N)`` units per coarse network) 2.80, 5.05, 8.54, 9.25
and 9.00 for N = 3, 6, 12, 18, 24.

Each part runs forward and backward alone, on detached inputs with a fixed random upstream
gradient (``parareal_toolkit.bench.parts``); the coarse chain is computed by the
parareal driver itself (``parareal_toolkit.bench.chain``). Clocks
(``parareal_toolkit.bench.clocks``): CUDA events on a CUDA device, ``perf_counter``
after a device synchronisation elsewhere, or, with ``clock="process"``, the process's CPU
time. Each part's time is the median of ``repeats`` samples after ``warmup`` discarded
ones, the samples of all N interleaved round-robin
(``parareal_toolkit.bench.network_timing``). The *real* wall-clock is one full forward
+ backward of the whole network through a chosen backend
(``PararealNetwork.forward_on()``). A cost split of the units balances the unit times
:func:`measure_unit_costs` measures (or :func:`fit_unit_costs_to_timings` fits to timed subnetworks); :func:`activation_bytes` gives each device's activation
memory (bytes saved for backward). Timing leaves the model as it
was (``parareal_toolkit.bench.isolation``). :data:`SEED_TABLE2` holds the paper's
measurements (ResNet-1001, batch 128, NVIDIA Titan RTX) for comparison, :data:`SEED_TABLE1`
its test errors; they are the paper's numbers, not ours.
"""

from .._names import CLOCKS
from .chain import compile_modules
from .figure import plot_table2
from .formatting import format_table2
from .memory import activation_bytes, saved_tensor_bytes
from .network_timing import NetworkTiming, time_network
from .reference import SEED_TABLE1, SEED_TABLE1_SOURCE, SEED_TABLE2, SEED_TABLE2_SOURCE
from .table import DEFAULT_SUBNETWORKS, Table2, table2
from .unit_costs import fit_unit_costs, fit_unit_costs_to_timings, measure_unit_costs

__all__ = [
    "SEED_TABLE1",
    "SEED_TABLE1_SOURCE",
    "SEED_TABLE2",
    "SEED_TABLE2_SOURCE",
    "DEFAULT_SUBNETWORKS",
    "CLOCKS",
    "NetworkTiming",
    "Table2",
    "time_network",
    "table2",
    "compile_modules",
    "format_table2",
    "plot_table2",
    "measure_unit_costs",
    "fit_unit_costs",
    "fit_unit_costs_to_timings",
    "saved_tensor_bytes",
    "activation_bytes",
]
