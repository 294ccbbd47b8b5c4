r"""Gradient time of a parareal network, component by component: the seed paper's Table 2.

One training iteration of a parareal network ``f~ = h(z_N)`` (see
:mod:`parareal_toolkit.nn.network`) consists of

* the preprocessings ``x_j = C^j(x)``, ``j = 1..N`` (independent: parallel),
* the subnetworks ``y_j = g^j(x_j)`` (independent: parallel, one device each),
* the coarse chain ``z_1 = y_1``, ``z_{j+1} = y_{j+1} + F^j(z_j - x_{j+1})`` (sequential),
* the postprocessing and loss ``L(h(z_N))``,

each with its backward pass. The seed (Lee, Park & Lee, Table 2) reports a **virtual
wall-clock** time: every part is timed on its own and parallel parts are counted once,

    T_virtual(N) = max_j T(C^j) + max_j T(g^j) + T(chain) + T(h + loss),

the time of one iteration on N ideal devices with free communication. The speedup is
``T_virtual(1) / T_virtual(N)``. Counting every residual unit as one unit of work gives the
**ideal bound**

    S_ideal(N) = U / (max_j u(g^j) + sum_j u(F^j)),

``U = sum_j u(g^j)`` the units of the trunk, ``u`` the number of units of a module, counted in
the model actually built. For the seed's ResNet-1001 (``U = 333``, ``N_c = ceil(12/N)``
units per coarse network) it is ``333 / (ceil(333/N) + (N - 1) ceil(12/N))``: 2.80, 5.05,
8.54, 9.25 and 9.00 for N = 3, 6, 12, 18, 24 (:func:`seed_unit_count_bound`).

How each part is timed: forward and backward of the part alone, on inputs detached from the
rest of the network (``requires_grad=True`` where the real network would send a gradient
back to them) and with a fixed random upstream gradient, so the work is exactly the part's
share of ``loss.backward()``. The coarse chain is computed by :func:`parareal_toolkit.parareal`
itself (one correction-form iteration whose fine values are the precomputed ``y_j``), so
its time includes the driver's bookkeeping exactly as the network's forward does. Clocks:
CUDA events on a CUDA device, ``time.perf_counter`` after a device synchronisation
elsewhere (or, with ``clock="process"``, the process's CPU time, which other processes on a
shared machine do not inflate); one *sample* calls every part once, ``warmup`` samples are
discarded, and each part's time is the median of ``repeats`` samples. :func:`table2`
interleaves the samples of all N round-robin, so slow phases of the machine hit every N alike. The *real* wall-clock
is one full forward + backward of the whole network through a chosen backend
(:func:`forward_on_backend`), synchronised ``perf_counter``, median of ``repeats``.

Timing leaves the model as it was: parameters are never updated, and the gradients,
BatchNorm running statistics and train/eval flags in place before the call are restored
afterwards (the parts run in training mode by default, as in a training iteration).

:data:`SEED_TABLE2` holds the paper's measurements (ResNet-1001, batch 128, NVIDIA Titan
RTX) for side-by-side comparison; they are the paper's numbers, not ours.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ._names import CLOCKS
from .backends import Backend, get_backend
from .driver import parareal
from .nn.network import PararealNetwork
from .nn.propagators import ModulePropagator
from .nn.resnet import PreActBottleneck

__all__ = [
    "SEED_TABLE2",
    "SEED_TABLE2_SOURCE",
    "DEFAULT_SUBNETWORKS",
    "CLOCKS",
    "NetworkTiming",
    "Table2",
    "count_units",
    "unit_count_bound",
    "seed_unit_count_bound",
    "plan_unit_count_bound",
    "forward_on_backend",
    "time_network",
    "table2",
    "compile_modules",
    "format_table2",
    "plot_table2",
]

DEFAULT_SUBNETWORKS = (1, 3, 6, 12, 18, 24)

SEED_TABLE2_SOURCE = (
    "Lee, Park & Lee, 'Parareal neural networks emulating a parallel-in-time algorithm', "
    "Table 2: ResNet-1001 (N = 1) and Parareal ResNet-N, CIFAR input, batch 128, "
    "NVIDIA Titan RTX (Intel Xeon Gold 5515 host); seconds per gradient iteration"
)

# The paper's Table 2, verbatim (seconds). Keys: N. "coarse" is None for N = 1 (no coarse
# network). These are the PAPER's measurements on a Titan RTX, kept for comparison only.
SEED_TABLE2: dict[int, dict[str, float | None]] = {
    1: {"preprocess": 0.0010, "subnetworks": 1.4588, "coarse": None, "postprocess": 0.0009, "total": 1.4607},
    3: {"preprocess": 0.0012, "subnetworks": 0.5966, "coarse": 0.0543, "postprocess": 0.0008, "total": 0.6529},
    6: {"preprocess": 0.0019, "subnetworks": 0.3062, "coarse": 0.0638, "postprocess": 0.0007, "total": 0.3726},
    12: {"preprocess": 0.0023, "subnetworks": 0.1583, "coarse": 0.0797, "postprocess": 0.0009, "total": 0.2412},
    18: {"preprocess": 0.0025, "subnetworks": 0.1067, "coarse": 0.1224, "postprocess": 0.0010, "total": 0.2326},
    24: {"preprocess": 0.0020, "subnetworks": 0.0797, "coarse": 0.1701, "postprocess": 0.0008, "total": 0.2526},
}


# ---------------------------------------------------------------------------------------
# the ideal bound from unit counts


def count_units(module: nn.Module, unit_type: type = PreActBottleneck) -> int:
    """The number of residual units (submodules of type ``unit_type``) in ``module``."""
    return sum(isinstance(m, unit_type) for m in module.modules())


def _check_counts(name: str, counts, *, positive: bool) -> list[int]:
    counts = list(counts)
    for i, c in enumerate(counts):
        if isinstance(c, bool) or not isinstance(c, numbers.Integral) or c < (1 if positive else 0):
            kind = "positive" if positive else "non-negative"
            raise ValueError(f"`{name}[{i}]` must be a {kind} integer; got {c!r}.")
    return [int(c) for c in counts]


def unit_count_bound(subnetwork_units: Sequence[int], coarse_units: Sequence[int]) -> float:
    """``U / (max_j u(g^j) + sum_j u(F^j))``: the virtual speedup if every unit cost the same.

    ``subnetwork_units`` are ``u(g^1)..u(g^N)`` (their sum ``U`` is the sequential work) and
    ``coarse_units`` are ``u(F^1)..u(F^{N-1})``, all run one after the other. Pre- and
    postprocessing are not counted (they are tiny and the same for every N). ``N = 1``
    gives exactly 1; the bound never exceeds ``N``.
    """
    sub = _check_counts("subnetwork_units", subnetwork_units, positive=True)
    coarse = _check_counts("coarse_units", coarse_units, positive=False)
    if not sub:
        raise ValueError("`subnetwork_units` must hold at least one count; got none.")
    if len(coarse) != len(sub) - 1:
        raise ValueError(
            f"`coarse_units` must hold N - 1 = {len(sub) - 1} counts (one per coarse network); got {len(coarse)}."
        )
    return sum(sub) / (max(sub) + sum(coarse))


def seed_unit_count_bound(total_units: int, num_subnetworks: int, coarse_budget: int = 12) -> float:
    """The closed form for the seed's layout: ``U / (ceil(U/N) + (N-1) ceil(budget/N))``.

    Equal to :func:`plan_unit_count_bound` of :func:`~parareal_toolkit.nn.parareal_resnet_plan`
    whenever no coarse network has to be enlarged to hold several shape-changing units
    (always for ResNet-1001). ResNet-1001: 9.25 at N = 18, 9.00 at N = 24.
    """
    for name, value in (
        ("total_units", total_units),
        ("num_subnetworks", num_subnetworks),
        ("coarse_budget", coarse_budget),
    ):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
    n = num_subnetworks
    return total_units / (-(-total_units // n) + (n - 1) * -(-coarse_budget // n))


def plan_unit_count_bound(plan) -> float:
    """:func:`unit_count_bound` of a :class:`~parareal_toolkit.nn.PararealResNetPlan` (no tensors)."""
    return unit_count_bound(plan.units_per_subnetwork, [len(specs) for specs in plan.coarse])


# ---------------------------------------------------------------------------------------
# running a parareal network through a backend


def _check_network(network) -> PararealNetwork:
    if not isinstance(network, PararealNetwork):
        raise TypeError(f"`network` must be a PararealNetwork; got {type(network).__name__}.")
    return network


def _resolve_backend(backend) -> Backend:
    try:
        return get_backend(backend)
    except ImportError as exc:  # a backend listed by name whose module is not installed
        raise ValueError(f"`backend` {backend!r} is not available here ({exc}).") from None


def forward_on_backend(
    network: PararealNetwork,
    x: torch.Tensor,
    *,
    backend: str | Backend = "serial",
    coarse: Sequence[nn.Module] | None = None,
) -> torch.Tensor:
    """``network(x)`` with the parallel sweeps (``C^j`` and ``g^j``) run by ``backend``.

    The same computation as :meth:`PararealNetwork.forward` (the driver with the network's
    iterations and form; identical output with the serial backend, tested), except that the
    preprocessings and the subnetworks go through ``backend.map``. ``coarse`` replaces the
    coarse networks ``F^j`` (for example by compiled wrappers sharing their parameters).
    Placing the modules where the backend wants them (``DevicesBackend.place``) is the
    caller's business.
    """
    network = _check_network(network)
    return network._forward_with(x, _resolve_backend(backend), network.coarse if coarse is None else coarse)


class _Given:
    """A fine "propagator" that returns precomputed subnetwork outputs ``y_{j+1}`` on slice ``j``.

    With it, one correction-form parareal iteration from the guesses ``x_2..x_N`` is exactly
    the coarse chain ``z_{j+1} = y_{j+1} + F^j(z_j - x_{j+1})``, and costs only the chain.
    """

    def __init__(self, outputs: Sequence[torch.Tensor]):
        self.outputs = list(outputs)
        self.num_slices = len(self.outputs)

    def __call__(self, u, j: int):
        return self.outputs[j]


def _coarse_chain(coarse: Sequence[nn.Module], xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor]) -> torch.Tensor:
    """``z_N`` of the chain, computed by the driver (one correction-form iteration)."""
    result = parareal(
        _Given(ys),
        ModulePropagator(coarse, first_slice=1),
        xs[0],
        iterations=1,
        initial=list(xs[1:]),
        form="correction",
        backend="serial",
        monitor=False,
        store_iterates=False,
    )
    return result.final


# ---------------------------------------------------------------------------------------
# clocks


def _device_of(module: nn.Module, default: torch.device) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return default


def _synchronize(devices: Iterable[torch.device]) -> None:
    for device in set(devices):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elif device.type != "cpu":
            module = getattr(torch, device.type, None)
            sync = getattr(module, "synchronize", None)
            if sync is not None:
                sync()


def _check_clock(clock) -> str:
    if clock not in CLOCKS:
        raise ValueError(f"`clock` must be one of {CLOCKS}; got {clock!r}.")
    return clock


def _elapsed(step: Callable[[], None], device: torch.device, clock: str = "wall") -> float:
    """Seconds taken by ``step`` on ``device``: CUDA events there, else synchronised perf_counter.

    ``clock="process"`` counts this process's CPU time instead of perf_counter off CUDA (see
    :func:`time_network`).
    """
    if device.type == "cuda":
        with torch.cuda.device(device):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
    now = time.process_time if clock == "process" else time.perf_counter
    _synchronize([device])
    start = now()
    step()
    _synchronize([device])
    return now() - start


def _wall_elapsed(step: Callable[[], None], devices: Sequence[torch.device]) -> float:
    _synchronize(devices)
    start = time.perf_counter()
    step()
    _synchronize(devices)
    return time.perf_counter() - start


def _backward(outputs: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
    pairs = [(o, g) for o, g in zip(outputs, grads) if o.requires_grad]
    if pairs:
        torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])


def _leaf(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    return t.detach().to(device).requires_grad_(True)


@contextlib.contextmanager
def _preserved(network: nn.Module, *, train: bool):
    """Run in ``train`` mode; afterwards restore grads, buffers and every module's mode."""
    modes = [(m, m.training) for m in network.modules()]
    grads = [(p, p.grad) for p in network.parameters()]
    buffers = [(b, b.detach().clone()) for b in network.buffers()]
    for parameter, _ in grads:
        parameter.grad = None  # or backward would accumulate into the saved tensors in place
    network.train(train)
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        for parameter, grad in grads:
            parameter.grad = grad
        for module, mode in modes:
            module.training = mode


# ---------------------------------------------------------------------------------------
# timing one network


@dataclass(frozen=True)
class NetworkTiming:
    """Median forward+backward seconds of each part of one parareal network.

    ``coarse`` is ``None`` for ``N = 1`` (there is no coarse network; it counts as 0 in the
    total). ``wall_clock`` is the real time of one full forward+backward through
    ``backend``, or ``None`` if it was not measured.
    """

    num_subnetworks: int
    preprocess: tuple[float, ...]
    subnetworks: tuple[float, ...]
    coarse: float | None
    postprocess: float
    subnetwork_units: tuple[int, ...]
    coarse_units: tuple[int, ...]
    wall_clock: float | None = None
    backend: str | None = None

    @property
    def preprocess_max(self) -> float:
        return max(self.preprocess)

    @property
    def subnetworks_max(self) -> float:
        return max(self.subnetworks)

    @property
    def subnetworks_sum(self) -> float:
        return math.fsum(self.subnetworks)

    @property
    def virtual_total(self) -> float:
        """``max_j T(C^j) + max_j T(g^j) + T(chain) + T(h + loss)``."""
        return self.preprocess_max + self.subnetworks_max + (self.coarse or 0.0) + self.postprocess

    @property
    def bound(self) -> float | None:
        """:func:`unit_count_bound` of the counted units; ``None`` if no unit was found."""
        if not self.subnetwork_units or min(self.subnetwork_units) < 1:
            return None
        return unit_count_bound(self.subnetwork_units, self.coarse_units)

    def as_dict(self) -> dict:
        return {
            "num_subnetworks": self.num_subnetworks,
            "subnetwork_units": list(self.subnetwork_units),
            "coarse_units": list(self.coarse_units),
            "preprocess": list(self.preprocess),
            "preprocess_max": self.preprocess_max,
            "subnetworks": list(self.subnetworks),
            "subnetworks_max": self.subnetworks_max,
            "subnetworks_sum": self.subnetworks_sum,
            "coarse": self.coarse,
            "postprocess": self.postprocess,
            "virtual_total": self.virtual_total,
            "bound": self.bound,
            "wall_clock": self.wall_clock,
            "backend": self.backend,
        }


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer; got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}; got {value}.")
    return int(value)


def compile_modules(modules: Sequence[nn.Module], *, device: torch.device) -> list[nn.Module]:
    """``torch.compile`` wrappers of ``modules`` (sharing their parameters; the modules are untouched).

    On CUDA the mode is ``"reduce-overhead"`` (CUDA graphs: one launch per graph instead of
    one per kernel, the cost that dominates small coarse networks); elsewhere the default mode.
    """
    mode = "reduce-overhead" if device.type == "cuda" else None
    return [torch.compile(m, mode=mode) for m in modules]


class _PartSampler:
    """One sample of every part of one network per :meth:`sample` call.

    Built inside :func:`_preserved` (it runs the network once, without gradients, to get the
    interface tensors ``x_j``, ``y_j``, ``z_N`` that the parts are timed on).
    """

    def __init__(self, network, x, *, targets, backend, compile_coarse, unit_type, seed, clock):
        self.network = network
        self.clock = clock
        self.backend = backend
        home = x.device
        n = network.num_subnetworks
        pre_devices = [_device_of(c, home) for c in network.preprocess]
        sub_devices = [_device_of(g, home) for g in network.subnetworks]
        coarse_device = _device_of(network.coarse, sub_devices[-1]) if n > 1 else sub_devices[-1]
        post_device = _device_of(network.postprocess, sub_devices[-1])
        generator = torch.Generator(device="cpu").manual_seed(seed)

        def fixed_like(t: torch.Tensor) -> torch.Tensor:
            return torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device)

        self.parameters = list(network.parameters())
        coarse = list(network.coarse)
        if compile_coarse and n > 1:
            coarse = compile_modules(coarse, device=coarse_device)
        with torch.no_grad():
            xs = [c(x.to(d)) for c, d in zip(network.preprocess, pre_devices)]
            ys = [g(xj.to(d)) for g, xj, d in zip(network.subnetworks, xs, sub_devices)]
            z = _coarse_chain(network.coarse, [t.to(coarse_device) for t in xs], [t.to(coarse_device) for t in ys])
            logits = network.postprocess(z.to(post_device))
        if targets is None:
            targets = torch.randint(logits.shape[-1], (logits.shape[0],), generator=generator)
        targets = targets.to(post_device)

        # (part, device, step, leaves whose .grad the step fills)
        self.steps: list[tuple[str, torch.device, Callable[[], None], list[torch.Tensor]]] = []
        for c, xj, d in zip(network.preprocess, xs, pre_devices):
            grad, image = fixed_like(xj), x.to(d)
            self.steps.append(("preprocess", d, lambda c=c, image=image, grad=grad: _backward([c(image)], [grad]), []))
        for g, xj, yj, d in zip(network.subnetworks, xs, ys, sub_devices):
            leaf, grad = _leaf(xj, d), fixed_like(yj)
            self.steps.append(
                ("subnetworks", d, lambda g=g, leaf=leaf, grad=grad: _backward([g(leaf)], [grad]), [leaf])
            )
        if n > 1:
            x_leaves = [_leaf(t, coarse_device) for t in xs]
            y_leaves = [_leaf(t, coarse_device) for t in ys]
            grad = fixed_like(z)
            mark_step = getattr(torch.compiler, "cudagraph_mark_step_begin", None)
            graphs = compile_coarse and coarse_device.type == "cuda" and mark_step is not None

            def chain_step():
                if graphs:
                    mark_step()  # a new training step for CUDA-graph trees
                _backward([_coarse_chain(coarse, x_leaves, y_leaves)], [grad])

            self.steps.append(("coarse", coarse_device, chain_step, x_leaves + y_leaves))
        z_leaf = _leaf(z, post_device)

        def post_step():
            nn.functional.cross_entropy(network.postprocess(z_leaf), targets).backward()

        self.steps.append(("postprocess", post_device, post_step, [z_leaf]))
        self.wall_devices = sorted({home, *pre_devices, *sub_devices, coarse_device, post_device}, key=str)

        def full_step():
            out = forward_on_backend(network, x, backend=backend, coarse=coarse)
            nn.functional.cross_entropy(out, targets.to(out.device)).backward()

        self.full_step = full_step
        self.subnetwork_units = tuple(count_units(g, unit_type) for g in network.subnetworks)
        self.coarse_units = tuple(count_units(f, unit_type) for f in network.coarse)

    def _clear(self, leaves) -> None:
        for p in self.parameters:
            p.grad = None
        for leaf in leaves:
            leaf.grad = None

    def sample(self) -> dict[str, list[float]]:
        """Seconds of each part (``preprocess`` and ``subnetworks``: one per j) and of the full step."""
        times: dict[str, list[float]] = {
            "preprocess": [],
            "subnetworks": [],
            "coarse": [],
            "postprocess": [],
            "wall_clock": [],
        }
        # One untimed call of the first (tiny) part absorbs the allocator's clean-up after
        # whatever ran before (measured: +1.7 ms on C^1 after a full step of a ResNet-218).
        _, _, first, leaves = self.steps[0]
        first()
        self._clear(leaves)
        for part, device, step, leaves in self.steps:
            times[part].append(_elapsed(step, device, self.clock))
            self._clear(leaves)
        if self.backend is not None:
            times["wall_clock"].append(_wall_elapsed(self.full_step, self.wall_devices))
            self._clear([])
        return times

    def result(self, samples: Sequence[dict[str, list[float]]]) -> NetworkTiming:
        """Medians over ``samples``, part by part (and j by j)."""

        def medians(part: str) -> list[float]:
            return [statistics.median(column) for column in zip(*(s[part] for s in samples))]

        coarse, wall = medians("coarse"), medians("wall_clock")
        return NetworkTiming(
            num_subnetworks=self.network.num_subnetworks,
            preprocess=tuple(medians("preprocess")),
            subnetworks=tuple(medians("subnetworks")),
            coarse=coarse[0] if coarse else None,
            postprocess=medians("postprocess")[0],
            subnetwork_units=self.subnetwork_units,
            coarse_units=self.coarse_units,
            wall_clock=wall[0] if wall else None,
            backend=None if self.backend is None else getattr(self.backend, "name", type(self.backend).__name__),
        )


def _check_timing_options(network, x, *, repeats, warmup, compile_coarse) -> tuple[int, int]:
    _check_network(network)
    if network.iterations != 1:
        raise ValueError(
            f"`network.iterations` must be 1 (the seed's network, whose parts Table 2 times); got {network.iterations}."
        )
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"`x` must be a torch.Tensor; got {type(x).__name__}.")
    return _check_int("repeats", repeats, 1), _check_int("warmup", warmup, 1 if compile_coarse else 0)


def _time_interleaved(networks, x, *, targets, repeats, warmup, backend, train, compile_coarse, unit_type, seed, clock):
    """Time several networks with their samples interleaved round-robin.

    Interleaving spreads slow phases of a shared or throttling machine over every network
    alike, so the ratios between networks (the speedups) stay meaningful.
    """
    with contextlib.ExitStack() as stack:
        samplers = []
        for network in networks:
            stack.enter_context(_preserved(network, train=train))
            samplers.append(
                _PartSampler(
                    network,
                    x,
                    targets=targets,
                    backend=backend,
                    compile_coarse=compile_coarse,
                    unit_type=unit_type,
                    seed=seed,
                    clock=clock,
                )
            )
        for sampler in samplers:
            for _ in range(warmup):
                sampler.sample()
        samples = [[] for _ in samplers]
        for _ in range(repeats):
            for sampler, bucket in zip(samplers, samples):
                bucket.append(sampler.sample())
        return [sampler.result(bucket) for sampler, bucket in zip(samplers, samples)]


def time_network(
    network: PararealNetwork,
    x: torch.Tensor,
    *,
    targets: torch.Tensor | None = None,
    repeats: int = 5,
    warmup: int = 1,
    backend: str | Backend | None = "serial",
    train: bool = True,
    compile_coarse: bool = False,
    unit_type: type = PreActBottleneck,
    seed: int = 0,
    clock: str = "wall",
) -> NetworkTiming:
    """Time each part of ``network`` (forward+backward, median of ``repeats``) on input ``x``.

    Each call of a part is followed by one of every other part (one *sample*); ``warmup``
    samples are discarded. ``targets`` are the class labels of the cross-entropy loss
    (default: random, fixed by ``seed``, as are the upstream gradients). ``backend`` runs the
    real wall-clock measurement (``None`` skips it). Each part runs on the device of its
    parameters; ``x`` is moved there. ``compile_coarse`` times the chain (and the
    wall-clock) with :func:`compile_modules` applied to the coarse networks; compilation
    happens in the warm-up, so it needs ``warmup >= 1``. The network must have
    ``iterations == 1`` (the seed's network, whose parts these are).

    ``clock``: ``"wall"`` (default) times parts off CUDA with ``perf_counter``;
    ``"process"`` with ``time.process_time``, the CPU time of this process, which other
    processes on a shared machine do not inflate. It equals elapsed time only for
    single-threaded work (``torch.set_num_threads(1)``); with more threads it is their sum.
    CUDA parts always use CUDA events; the real wall-clock always uses ``perf_counter``.
    """
    clock = _check_clock(clock)
    repeats, warmup = _check_timing_options(network, x, repeats=repeats, warmup=warmup, compile_coarse=compile_coarse)
    resolved = None if backend is None else _resolve_backend(backend)
    return _time_interleaved(
        [network],
        x,
        targets=targets,
        repeats=repeats,
        warmup=warmup,
        backend=resolved,
        train=train,
        compile_coarse=compile_coarse,
        unit_type=unit_type,
        seed=seed,
        clock=clock,
    )[0]


# ---------------------------------------------------------------------------------------
# the table over N


@dataclass(frozen=True)
class Table2:
    """Timings of Parareal ResNet-N for several N, with speedups against N = 1."""

    rows: tuple[NetworkTiming, ...]
    settings: dict = field(default_factory=dict)
    skipped: tuple[int, ...] = ()

    @property
    def reference(self) -> NetworkTiming:
        """The N = 1 row (the plain network), against which speedups are measured."""
        for row in self.rows:
            if row.num_subnetworks == 1:
                return row
        raise ValueError("the table has no N = 1 row to measure speedups against.")

    def speedup(self, row: NetworkTiming) -> float:
        """Virtual speedup ``T_virtual(1) / T_virtual(N)``."""
        return self.reference.virtual_total / row.virtual_total

    def wall_clock_speedup(self, row: NetworkTiming) -> float | None:
        ref = self.reference.wall_clock
        return None if ref is None or row.wall_clock is None else ref / row.wall_clock

    def as_dict(self) -> dict:
        rows = []
        for row in self.rows:
            d = row.as_dict()
            speedup = self.speedup(row)
            d["speedup"] = speedup
            d["fraction_of_bound"] = None if row.bound is None else speedup / row.bound
            d["wall_clock_speedup"] = self.wall_clock_speedup(row)
            rows.append(d)
        return {
            **self.settings,
            "skipped_subnetworks": list(self.skipped),
            "rows": rows,
            "paper_table2": {"source": SEED_TABLE2_SOURCE, "rows": {str(k): v for k, v in SEED_TABLE2.items()}},
        }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU ({os.cpu_count()} cores), torch threads: {torch.get_num_threads()}"


def _valid_subnetworks(depth: int, subnetworks: Sequence[int] | None) -> tuple[list[int], list[int]]:
    from .nn.parareal_resnets import parareal_resnet_plan
    from .nn.resnet import num_units

    num_units(depth)  # validates the depth, so that only N can make a plan fail below
    explicit = subnetworks is not None
    requested = list(DEFAULT_SUBNETWORKS if subnetworks is None else subnetworks)
    if not requested:
        raise ValueError("`subnetworks` must hold at least one N; got none.")
    valid, skipped = [], []
    for n in dict.fromkeys([1, *requested]):  # N = 1 is the reference; order kept, duplicates dropped
        try:
            parareal_resnet_plan(depth, num_subnetworks=n)
        except ValueError:
            if explicit:
                raise
            skipped.append(n)
        else:
            valid.append(n)
    return valid, skipped


def table2(
    subnetworks: Sequence[int] | None = None,
    *,
    depth: int = 1001,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    repeats: int = 5,
    warmup: int = 1,
    backend: str | Backend | None = "serial",
    compile_coarse: bool = False,
    seed: int = 0,
    clock: str = "wall",
    progress: Callable[[int], None] | None = None,
) -> Table2:
    """Time Parareal ResNet-N (:func:`~parareal_toolkit.nn.parareal_resnet`) for each N.

    ``subnetworks`` defaults to the seed's 1, 3, 6, 12, 18, 24 minus the N that the depth's
    units cannot accommodate (listed in ``Table2.skipped``); explicitly requested N must all
    be valid. N = 1 is always timed first: it is the reference of the speedups. Every network
    is built with the seed's ``N_c = ceil(12/N)`` and the same random input batch of
    ``batch_size`` CIFAR-sized images. All networks are built first and their samples
    interleaved round-robin (see :func:`time_network` for one sample), so that a machine's
    slow phases hit every N alike. A backend with a ``place`` method (``devices``) places
    each network before it is timed. ``progress(N)`` is called as each network is built.
    """
    from .nn.parareal_resnets import parareal_resnet

    batch_size = _check_int("batch_size", batch_size, 1)
    clock = _check_clock(clock)
    _check_int("repeats", repeats, 1)
    _check_int("warmup", warmup, 1 if compile_coarse else 0)
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"`device` must name a torch device; got {device!r} ({exc}).") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`device` {str(device)!r} needs CUDA, which is not available here.")
    resolved = None if backend is None else _resolve_backend(backend)
    valid, skipped = _valid_subnetworks(depth, subnetworks)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(batch_size, 3, 32, 32, generator=generator).to(device)
    targets = torch.randint(10, (batch_size,), generator=generator).to(device)
    networks = []
    for n in valid:
        if progress is not None:
            progress(n)
        network = parareal_resnet(depth, num_subnetworks=n).to(device)
        if resolved is not None and callable(getattr(resolved, "place", None)):
            resolved.place(network)
        networks.append(network)
    for network in networks:
        _check_timing_options(network, x, repeats=repeats, warmup=warmup, compile_coarse=compile_coarse)
    rows = _time_interleaved(
        networks,
        x,
        targets=targets,
        repeats=repeats,
        warmup=warmup,
        backend=resolved,
        train=True,
        compile_coarse=compile_coarse,
        unit_type=PreActBottleneck,
        seed=seed,
        clock=clock,
    )
    settings = {
        "model": f"Parareal ResNet-{depth}",
        "depth": depth,
        "batch_size": batch_size,
        "device": str(device),
        "device_name": _device_name(device),
        "repeats": repeats,
        "warmup": warmup,
        "backend": None if resolved is None else getattr(resolved, "name", type(resolved).__name__),
        "compile_coarse": compile_coarse,
        "torch": torch.__version__,
        "clock": "cuda events" if device.type == "cuda" else {"wall": "perf_counter", "process": "process_time"}[clock],
        "torch_threads": torch.get_num_threads(),
        "timing": (
            "median forward+backward seconds of each part; samples interleaved round-robin over N; "
            "CUDA events on GPU, synchronised perf_counter (or process CPU time, see 'clock') otherwise; "
            "wall_clock: perf_counter of one full forward+backward through 'backend'"
        ),
    }
    return Table2(tuple(rows), settings, tuple(skipped))


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_table2(table: Table2) -> str:
    """The table as text, columns as in the seed's Table 2 plus speedups and the bound.

    Times in seconds (medians); "paper" is the seed's virtual speedup on a Titan RTX for
    ResNet-1001 at the same N (only comparable in ratio, and only at depth 1001).
    """
    backend = table.settings.get("backend") or "-"
    header = (
        "N",
        "units",
        "coarse",
        "Preprocessing",
        "Parallel subnetworks",
        "(sum)",
        "Coarse network",
        "Postprocessing",
        "Total",
        "speedup",
        "bound",
        "of bound",
        f"wall-clock [{backend}]",
        "wall speedup",
        "paper speedup",
    )
    lines = [header]
    for row in table.rows:
        speedup = table.speedup(row)
        seed = SEED_TABLE2.get(row.num_subnetworks)
        lines.append(
            (
                str(row.num_subnetworks),
                str(max(row.subnetwork_units)) if row.subnetwork_units else "-",
                str(sum(row.coarse_units)),
                f"{row.preprocess_max:.5f}",
                f"{row.subnetworks_max:.5f}",
                f"{row.subnetworks_sum:.5f}",
                _cell(row.coarse, ".5f"),
                f"{row.postprocess:.5f}",
                f"{row.virtual_total:.5f}",
                f"{speedup:.2f}x",
                _cell(row.bound, ".2f"),
                "-" if row.bound is None else f"{speedup / row.bound:.0%}",
                _cell(row.wall_clock, ".5f"),
                _cell(table.wall_clock_speedup(row), ".2f"),
                "-" if seed is None else f"{SEED_TABLE2[1]['total'] / seed['total']:.2f}x",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    s = table.settings
    title = (
        f"{s.get('model', 'parareal network')}, batch {s.get('batch_size', '?')}, {s.get('device_name', '')}: "
        f"forward+backward seconds ({s.get('clock', '?')}), median of {s.get('repeats', '?')} after "
        f"{s.get('warmup', '?')} warm-up" + (", coarse chain compiled" if s.get("compile_coarse") else "")
    )
    notes = []
    if table.skipped:
        notes.append(
            f"skipped N = {', '.join(map(str, table.skipped))}: too many subnetworks for the units of this depth"
        )
    notes.append(
        "units: largest subnetwork; coarse: units along the coarse chain; Total = pre max + subnetworks max + coarse + post"
    )
    return "\n".join([title, *text, *notes])


# ---------------------------------------------------------------------------------------
# the figure

_PARTS = (
    ("preprocess_max", "Preprocessing (max over j)"),
    ("subnetworks_max", "Parallel subnetworks (max over j)"),
    ("coarse", "Coarse network (chain)"),
    ("postprocess", "Postprocessing + loss"),
)


def _stacked_bars(ax, ns, parts: dict[str, list[float]], title: str) -> None:
    import numpy as np

    positions = np.arange(len(ns))
    bottom = np.zeros(len(ns))
    for key, label in _PARTS:
        values = np.array([v or 0.0 for v in parts[key]], dtype=float)
        ax.bar(positions, values, bottom=bottom, label=label)
        bottom += values
    for p, total in zip(positions, bottom):
        ax.annotate(f"{total:.3g}", (p, total), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(positions, [str(n) for n in ns])
    ax.set_xlabel("N (subnetworks)")
    ax.set_ylabel("seconds per gradient iteration (virtual)")
    ax.set_title(title, fontsize=9)


def plot_table2(table: Table2, path=None, *, compare_seed: bool = True):
    """Stacked bars of the virtual time per N (as in the seed's Table 2) and the speedups.

    Panels: this run; the paper's Titan RTX numbers (``compare_seed``); speedup against N
    with the unit-count bound, this run and the paper. Saves to ``path`` if given; returns
    the figure.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ns = [r.num_subnetworks for r in table.rows]
    panels = 3 if compare_seed else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.4), constrained_layout=True)
    settings = table.settings
    ours = {key: [getattr(r, key) for r in table.rows] for key, _ in _PARTS}
    _stacked_bars(
        axes[0],
        ns,
        ours,
        f"this run: {settings.get('model', '')}, batch {settings.get('batch_size', '?')}\n"
        f"{settings.get('device_name', '')}, clock: {settings.get('clock', '?')}",
    )
    axes[0].legend(fontsize=7)
    speed_ax = axes[-1]
    if compare_seed:
        seed_ns = sorted(SEED_TABLE2)
        seed = {
            "preprocess_max": [SEED_TABLE2[n]["preprocess"] for n in seed_ns],
            "subnetworks_max": [SEED_TABLE2[n]["subnetworks"] for n in seed_ns],
            "coarse": [SEED_TABLE2[n]["coarse"] for n in seed_ns],
            "postprocess": [SEED_TABLE2[n]["postprocess"] for n in seed_ns],
        }
        _stacked_bars(axes[1], seed_ns, seed, "paper (Lee, Park & Lee, Table 2):\nResNet-1001, batch 128, Titan RTX")
        seed_speedup = [SEED_TABLE2[1]["total"] / SEED_TABLE2[n]["total"] for n in seed_ns]
        speed_ax.plot(seed_ns, seed_speedup, "s--", label="paper, virtual (Titan RTX)")
        bounds_1001 = [seed_unit_count_bound(333, n) for n in seed_ns]
        speed_ax.plot(seed_ns, bounds_1001, ":", color="gray", label="unit-count bound, ResNet-1001")
    speed_ax.plot(ns, [table.speedup(r) for r in table.rows], "o-", label="this run, virtual")
    bounds = [r.bound for r in table.rows]
    if all(b is not None for b in bounds):
        speed_ax.plot(ns, bounds, "x-", label=f"unit-count bound, depth {settings.get('depth', '?')}")
    wall = [table.wall_clock_speedup(r) for r in table.rows]
    if all(w is not None for w in wall):
        speed_ax.plot(ns, wall, "^-", label=f"this run, real wall-clock ({settings.get('backend')})")
    speed_ax.set_xlabel("N (subnetworks)")
    speed_ax.set_ylabel("speedup against N = 1")
    speed_ax.grid(True, alpha=0.3)
    speed_ax.legend(fontsize=7)
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
