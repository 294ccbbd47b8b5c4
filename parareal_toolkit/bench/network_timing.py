r"""Timing one parareal network part by part: :func:`time_network` and its :class:`NetworkTiming`.

Each part's time is the median of ``repeats`` samples after ``warmup`` discarded ones (see
:class:`~parareal_toolkit.bench.parts.NetworkParts` for one sample). Several networks are
timed with their samples interleaved round-robin (:func:`time_interleaved`), so the slow
phases of a shared or throttling machine hit every network alike and the ratios between
them (the speedups) stay meaningful.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .._names import CLOCKS
from .._validation import check_choice, check_int
from ..backends import Backend, get_backend
from ..errors import InputError, InputTypeError
from ..nn.network import PararealNetwork
from ..plans.plan import PararealResNetPlan
from .isolation import preserved_state
from .parts import NetworkParts

__all__ = [
    "NetworkTiming",
    "time_network",
    "time_interleaved",
    "resolve_backend",
    "backend_name",
    "check_timing_options",
]


@dataclass(frozen=True)
class NetworkTiming:
    """Median forward+backward seconds of each part of one parareal network.

    ``coarse`` is ``None`` for ``N = 1`` (there is no coarse network; it counts as 0 in the
    total). ``wall_clock`` is the real time of one full forward+backward through
    ``backend``, or ``None`` if it was not measured. ``subnetwork_units``,
    ``coarse_units``, ``bound`` (the plan's ``bound``:
    the unit-count bound of a unit split, the cost-count bound of a cost split), ``split``
    and ``cost_imbalance`` (largest over mean subnetwork cost) come from the network's
    :class:`~parareal_toolkit.nn.PararealResNetPlan` (empty and ``None`` for a network
    without one). ``activation_bytes`` are the bytes each device saves for backward and
    ``chain_activation_bytes`` those of the coarse chain and the postprocessing
    (:func:`~parareal_toolkit.bench.activation_bytes`), empty and ``None`` if not measured.
    """

    num_subnetworks: int
    preprocess: tuple[float, ...]
    subnetworks: tuple[float, ...]
    coarse: float | None
    postprocess: float
    subnetwork_units: tuple[int, ...] = ()
    coarse_units: tuple[int, ...] = ()
    bound: float | None = None
    wall_clock: float | None = None
    backend: str | None = None
    split: str | None = None
    cost_imbalance: float | None = None
    activation_bytes: tuple[int, ...] = ()
    chain_activation_bytes: int | None = None

    @property
    def preprocess_max(self) -> float:
        """``max_j T(C^j)``: the preprocessings run in parallel."""
        return max(self.preprocess)

    @property
    def subnetworks_max(self) -> float:
        """``max_j T(g^j)``: the subnetworks run in parallel."""
        return max(self.subnetworks)

    @property
    def subnetworks_sum(self) -> float:
        """``sum_j T(g^j)``: the subnetworks one after the other."""
        return math.fsum(self.subnetworks)

    @property
    def virtual_total(self) -> float:
        """``max_j T(C^j) + max_j T(g^j) + T(chain) + T(h + loss)``."""
        return self.preprocess_max + self.subnetworks_max + (self.coarse or 0.0) + self.postprocess

    def as_dict(self) -> dict[str, Any]:
        """The timing as plain JSON-ready values, the derived totals included.

        Returns
        -------
        dict
            Every field, plus ``preprocess_max``, ``subnetworks_max``, ``subnetworks_sum``
            and ``virtual_total``.
        """
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
            "split": self.split,
            "cost_imbalance": self.cost_imbalance,
            "activation_bytes": list(self.activation_bytes),
            "chain_activation_bytes": self.chain_activation_bytes,
        }


def backend_name(backend: Backend) -> str:
    """The name a backend reports (its class name if it has no ``name``).

    Returns
    -------
    str
        A label for tables and JSON.
    """
    return str(getattr(backend, "name", type(backend).__name__))


def resolve_backend(backend: str | Backend, *, train: bool = True) -> Backend:
    """:func:`~parareal_toolkit.backends.get_backend` for timing, refusing what cannot time a network.

    A missing optional module, ``"distributed"`` without an initialised process group, and
    ``"processes"`` for a training pass (autograd does not cross process boundaries) are
    refused before anything is built.

    Returns
    -------
    Backend
        The backend object.
    """
    if backend == "distributed":
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise InputError(
                "`backend` 'distributed' needs an initialised torch.distributed process group (launch under "
                "torchrun and call parareal_toolkit.backends.distributed.init_distributed() first); "
                "use 'serial', 'batched' or 'devices' otherwise."
            )
    try:
        resolved = get_backend(backend)
    except ImportError as exc:  # a backend listed by name whose module is not installed
        raise InputError(f"`backend` {backend!r} is not available here ({exc}).") from None
    if train and backend_name(resolved) == "processes":
        raise InputError(
            "`backend` 'processes' cannot time a training pass: autograd does not cross process "
            "boundaries; use 'serial', 'batched' or 'devices'."
        )
    return resolved


def check_timing_options(
    network: object, x: object, *, repeats: object, warmup: object, compile_coarse: bool
) -> tuple[int, int]:
    """Refuse what cannot be timed: a network other than a one-iteration PararealNetwork, bad counts.

    Returns
    -------
    tuple of int
        ``(repeats, warmup)``; ``warmup`` must be at least 1 with ``compile_coarse``
        (compilation happens in the warm-up).
    """
    if not isinstance(network, PararealNetwork):
        raise InputTypeError(f"`network` must be a PararealNetwork; got {type(network).__name__}.")
    if network.iterations != 1:
        raise InputError(
            f"`network.iterations` must be 1 (the seed's network, whose parts Table 2 times); got {network.iterations}."
        )
    if not isinstance(x, torch.Tensor):
        raise InputTypeError(f"`x` must be a torch.Tensor; got {type(x).__name__}.")
    return check_int(repeats, "repeats", minimum=1), check_int(warmup, "warmup", minimum=1 if compile_coarse else 0)


def _summary(parts: NetworkParts, samples: Sequence[dict[str, list[float]]]) -> NetworkTiming:
    """Medians over ``samples``, part by part (and j by j), with the plan's unit counts."""

    def medians(name: str) -> list[float]:
        return [statistics.median(column) for column in zip(*(sample[name] for sample in samples))]

    network = parts.network
    plan = getattr(network, "plan", None)
    units: tuple[int, ...] = ()
    coarse_units: tuple[int, ...] = ()
    bound = imbalance = split = None
    if isinstance(plan, PararealResNetPlan):
        units, coarse_units = tuple(plan.units_per_subnetwork), tuple(plan.units_per_coarse_network)
        bound, split, imbalance = plan.bound, plan.split, plan.cost_imbalance
    coarse, wall = medians("coarse"), medians("wall_clock")
    return NetworkTiming(
        num_subnetworks=network.num_subnetworks,
        preprocess=tuple(medians("preprocess")),
        subnetworks=tuple(medians("subnetworks")),
        coarse=coarse[0] if coarse else None,
        postprocess=medians("postprocess")[0],
        subnetwork_units=units,
        coarse_units=coarse_units,
        bound=bound,
        wall_clock=wall[0] if wall else None,
        backend=None if parts.backend is None else backend_name(parts.backend),
        split=split,
        cost_imbalance=imbalance,
    )


def time_interleaved(
    networks: Sequence[PararealNetwork],
    x: torch.Tensor,
    *,
    targets: torch.Tensor | None,
    repeats: int,
    warmup: int,
    backend: Backend | None,
    train: bool,
    compile_coarse: bool,
    seed: int,
    clock: str,
    on_sample: Callable[[int, int], None] | None = None,
) -> list[NetworkTiming]:
    """Time several networks (already checked) with their samples interleaved round-robin.

    Every network is restored afterwards (:func:`~parareal_toolkit.bench.isolation.preserved_state`).
    ``on_sample(done, total)`` is called after each sample of one network (warm-up included).

    Returns
    -------
    list of NetworkTiming
        One per network, in order.
    """
    with contextlib.ExitStack() as stack:
        all_parts = []
        for network in networks:
            stack.enter_context(preserved_state(network, train=train))
            all_parts.append(
                NetworkParts(
                    network,
                    x,
                    targets=targets,
                    backend=backend,
                    compile_coarse=compile_coarse,
                    seed=seed,
                    clock=clock,
                )
            )
        total, done = len(all_parts) * (warmup + repeats), 0

        def sampled() -> None:
            nonlocal done
            done += 1
            if on_sample is not None:
                on_sample(done, total)

        for parts in all_parts:
            for _ in range(warmup):
                parts.sample()
                sampled()
        samples: list[list[dict[str, list[float]]]] = [[] for _ in all_parts]
        for _ in range(repeats):
            for parts, bucket in zip(all_parts, samples):
                bucket.append(parts.sample())
                sampled()
        return [_summary(parts, bucket) for parts, bucket in zip(all_parts, samples)]


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
    seed: int = 0,
    clock: str = "wall",
) -> NetworkTiming:
    """Time each part of ``network`` (forward+backward, median of ``repeats``) on input ``x``.

    Each call of a part is followed by one of every other part (one *sample*); ``warmup``
    samples are discarded. ``targets`` are the class labels of the cross-entropy loss
    (default: random, fixed by ``seed``, as are the upstream gradients). ``backend`` runs the
    real wall-clock measurement (``None`` skips it). Each part runs on the device of its
    parameters; ``x`` is moved there. ``compile_coarse`` times the chain (and the
    wall-clock) with :func:`~parareal_toolkit.bench.compile_modules` applied to the coarse
    networks; compilation happens in the warm-up, so it needs ``warmup >= 1``. The network
    must have ``iterations == 1`` (the seed's network, whose parts these are). The model is
    left as it was: gradients, buffers and train/eval flags are restored, parameters are
    never updated.

    ``clock``: ``"wall"`` (default) times parts off CUDA with ``perf_counter``;
    ``"process"`` with ``time.process_time``, the CPU time of this process, which other
    processes on a shared machine do not inflate. It equals elapsed time only for
    single-threaded work (``torch.set_num_threads(1)``); with more threads it is their sum.
    CUDA parts always use CUDA events; the real wall-clock always uses ``perf_counter``.

    Returns
    -------
    NetworkTiming
        The median seconds of every part, the real wall-clock (if ``backend``) and, for a
        Parareal ResNet, its unit counts and unit-count bound.
    """
    clock = check_choice(clock, "clock", CLOCKS)
    repeats, warmup = check_timing_options(network, x, repeats=repeats, warmup=warmup, compile_coarse=compile_coarse)
    seed = check_int(seed, "seed", minimum=0, maximum=2**64 - 1)
    resolved = None if backend is None else resolve_backend(backend, train=train)
    return time_interleaved(
        [network],
        x,
        targets=targets,
        repeats=repeats,
        warmup=warmup,
        backend=resolved,
        train=train,
        compile_coarse=compile_coarse,
        seed=seed,
        clock=clock,
    )[0]
