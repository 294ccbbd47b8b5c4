r"""The seed's Table 2 over N: :func:`table2` times Parareal ResNet-N for several N.

Every network is built with the seed's ``N_c = ceil(12/N)`` coarse units and timed on the
same random batch of CIFAR-sized images; N = 1 (the plain ResNet) is the reference of the
virtual speedups ``T_virtual(1) / T_virtual(N)``, which :class:`Table2` computes next to
each row's unit-count bound.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .._names import CLOCKS, COST_MODELS, SPLIT_NAMES
from .._resources import available_memory, format_bytes
from .._validation import check_callable, check_choice, check_int, check_ints
from ..backends import Backend
from ..errors import InputError
from ..nn.parareal_resnets import parareal_resnet
from ..plans.memory import trunk_memory
from ..plans.splits import SPLITS
from ..plans.table import parareal_resnet_table
from ..plans.units import UnitSpec, num_units
from .memory import activation_bytes
from .network_timing import NetworkTiming, backend_name, resolve_backend, time_interleaved
from .reference import SEED_TABLE2, SEED_TABLE2_SOURCE
from .unit_costs import measure_unit_costs

__all__ = ["DEFAULT_SUBNETWORKS", "Table2", "table2"]

DEFAULT_SUBNETWORKS = (1, 3, 6, 12, 18, 24)  # the seed's N

# the clock each setting reports in the table's settings (CUDA parts always use CUDA events)
_CLOCK_NAMES = {"wall": "perf_counter", "process": "process_time"}


@dataclass(frozen=True)
class Table2:
    """Timings of Parareal ResNet-N for several N, with speedups against N = 1.

    ``rows`` are the timings (N = 1 first), ``settings`` what was timed and how (model,
    batch, device, clock, versions), ``skipped`` the default N the depth could not hold.
    """

    rows: tuple[NetworkTiming, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    skipped: tuple[int, ...] = ()

    @property
    def reference(self) -> NetworkTiming:
        """The N = 1 row (the plain network), against which speedups are measured."""
        for row in self.rows:
            if row.num_subnetworks == 1:
                return row
        raise InputError("the table has no N = 1 row to measure speedups against.")

    def speedup(self, row: NetworkTiming) -> float:
        """Virtual speedup ``T_virtual(1) / T_virtual(N)`` of ``row``.

        Returns
        -------
        float
            The ratio of the reference's virtual total to the row's.
        """
        return self.reference.virtual_total / row.virtual_total

    def wall_clock_speedup(self, row: NetworkTiming) -> float | None:
        """Real wall-clock speedup of ``row`` against N = 1.

        Returns
        -------
        float or None
            The ratio of wall-clock times; ``None`` if either was not measured.
        """
        ref = self.reference.wall_clock
        return None if ref is None or row.wall_clock is None else ref / row.wall_clock

    def memory_per_device(self, row: NetworkTiming) -> float | None:
        """``max_j M(C^j + g^j) / M(sequential)``: the largest device's share of the activation memory.

        ``1 / N`` for a perfect split; the goal of a balanced split is at most ``1.2 / N``.

        Returns
        -------
        float or None
            The ratio of saved-for-backward bytes; ``None`` if memory was not measured.
        """
        reference = self.reference.activation_bytes
        if not row.activation_bytes or not reference:
            return None
        return max(row.activation_bytes) / sum(reference)

    def as_dict(self) -> dict[str, Any]:
        """The table as plain JSON-ready values, with the paper's Table 2 beside it.

        Returns
        -------
        dict
            The settings, ``skipped_subnetworks``, ``rows`` (each row's
            :meth:`NetworkTiming.as_dict` plus ``speedup``, ``fraction_of_bound``,
            ``wall_clock_speedup`` and ``memory_per_device``) and ``paper_table2``.
        """
        rows = []
        for row in self.rows:
            entry = row.as_dict()
            speedup = self.speedup(row)
            entry["speedup"] = speedup
            entry["fraction_of_bound"] = None if row.bound is None else speedup / row.bound
            entry["wall_clock_speedup"] = self.wall_clock_speedup(row)
            entry["memory_per_device"] = self.memory_per_device(row)
            rows.append(entry)
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


def _check_device(device: str | torch.device) -> torch.device:
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"`device` must name a torch device; got {device!r} ({exc}).") from None
    if resolved.type not in ("cpu", "cuda"):
        raise InputError(f"`device` must be a CPU or CUDA device; got {str(resolved)!r}.")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"`device` {str(resolved)!r} needs CUDA, which is not available here.")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise InputError(
            f"`device` {str(resolved)!r} does not exist: CUDA devices here are cuda:0..cuda:{torch.cuda.device_count() - 1}."
        )
    return resolved


def _memory_needed(depth: int, subnetworks: Sequence[int], batch_size: int) -> tuple[int, int, int]:
    """A lower bound of the bytes :func:`table2` holds at once: ``(total, parameters, activations)``.

    Every network stays built, with its gradients, until the table is done (float32: 8
    bytes per parameter, counted by :func:`~parareal_toolkit.nn.parareal_resnet_table`); one
    forward+backward of the trunk keeps what the ResNet memory model
    (``parareal_toolkit.plans.memory.trunk_memory``) says it saves, 4 bytes a float,
    and the input images. Coarse networks, interface tensors and allocator slack come on top.
    """
    rows = parareal_resnet_table(depth, subnetworks)[1:]
    parameters = 8 * sum(row["parameters"] for row in rows)
    activations = 4 * batch_size * (trunk_memory(depth).saved_per_image + 3 * 32 * 32)
    return parameters + activations, parameters, activations


def _available_memory(device: torch.device, backend: Backend | None) -> int | None:
    """Bytes free for the run: MemAvailable on CPU, free memory of the CUDA device(s); ``None`` if unknown."""
    if device.type == "cuda":
        spread = callable(getattr(backend, "place", None))  # `devices` spreads the networks over the GPUs
        indices = (
            range(torch.cuda.device_count())
            if spread
            else [torch.cuda.current_device() if device.index is None else device.index]
        )
        return sum(torch.cuda.mem_get_info(i)[0] for i in indices)
    if device.type != "cpu":
        return None
    return available_memory()


def _check_memory(
    depth: int, subnetworks: Sequence[int], batch_size: int, device: torch.device, backend: Backend | None
) -> None:
    """``MemoryError`` with the estimate and a way out when the run cannot fit (before building anything)."""
    needed, parameters, activations = _memory_needed(depth, subnetworks, batch_size)
    available = _available_memory(device, backend)
    if available is None or needed <= available:
        return
    raise MemoryError(
        f"Table 2 of Parareal ResNet-{depth} at batch {batch_size} on {device} needs at least "
        f"{format_bytes(needed)} ({format_bytes(parameters)} of weights and gradients for N = "
        f"{', '.join(map(str, subnetworks))}, {format_bytes(activations)} of activations) and "
        f"{format_bytes(available)} are available; use a smaller `depth` or `batch_size`, or fewer `subnetworks`."
    )


def _valid_subnetworks(depth: int, subnetworks: Sequence[int] | None) -> tuple[list[int], list[int]]:
    """The N to time (1 first, duplicates dropped) and the default N the depth cannot hold."""
    num_units(depth)  # validates the depth, so that only N can make a plan fail below
    explicit = subnetworks is not None
    requested = list(DEFAULT_SUBNETWORKS) if subnetworks is None else check_ints(subnetworks, "subnetworks")
    valid, skipped = [], []
    for n in dict.fromkeys([1, *requested]):  # N = 1 is the reference; order kept
        try:
            SPLITS["units"].check_num_subnetworks(n, num_units(depth))  # arithmetic: no unit list at any depth
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
    split: str = "units",
    cost_model: str = "time",
    unit_costs: dict[UnitSpec, float] | None = None,
    memory: bool = True,
    progress: Callable[[int], None] | None = None,
    sample_progress: Callable[[int, int], None] | None = None,
) -> Table2:
    """Time Parareal ResNet-N (:func:`~parareal_toolkit.nn.parareal_resnet`) for each N.

    ``subnetworks`` defaults to the seed's 1, 3, 6, 12, 18, 24 minus the N that the depth's
    units cannot accommodate (listed in ``Table2.skipped``); explicitly requested N must all
    be valid. N = 1 is always timed first: it is the reference of the speedups. Every network
    is built with the seed's ``N_c = ceil(12/N)`` and the same random input batch of
    ``batch_size`` CIFAR-sized images. All networks are built first and their samples
    interleaved round-robin (see :func:`~parareal_toolkit.bench.time_network` for one
    sample), so that a machine's slow phases hit every N alike. A backend with a ``place``
    method (``devices``) places each network before it is timed. ``progress(N)`` is called
    as each network is built, ``sample_progress(done, total)`` after each timed or warm-up
    sample of one network (after the rounds of :func:`~parareal_toolkit.bench.measure_unit_costs` first, when the
    unit costs are measured).

    ``split`` cuts the units as the seed does (``"units"``) or by cost (``"cost"``, see
    :func:`~parareal_toolkit.nn.parareal_resnet_plan`); the costs are ``unit_costs`` if
    given, else measured forward+backward seconds of each unit shape on this device and
    batch (``cost_model="time"``, :func:`~parareal_toolkit.bench.measure_unit_costs`) or
    counted multiply-adds (``"macs"``). Either split's rows report its cost balance with
    these costs; a cost split's ``bound`` is the cost-count bound. With ``memory``, each
    device's activation memory (bytes saved for backward) is measured too
    (:func:`~parareal_toolkit.bench.activation_bytes`).

    Before anything is built, the memory the run needs at least (weights and gradients of
    every network, activations of one forward+backward) is compared with the memory
    available on the device: ``MemoryError`` with the estimate and a way out when it cannot
    fit (a ResNet-90000002 needs about 7 TiB).

    Returns
    -------
    Table2
        One row per N, N = 1 first, and the settings of the run.
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    clock = check_choice(clock, "clock", CLOCKS)
    repeats = check_int(repeats, "repeats", minimum=1)
    warmup = check_int(warmup, "warmup", minimum=1 if compile_coarse else 0)
    seed = check_int(seed, "seed", minimum=0, maximum=2**64 - 1)  # what a torch.Generator accepts
    split = check_choice(split, "split", SPLIT_NAMES)
    cost_model = check_choice(cost_model, "cost_model", COST_MODELS)
    if progress is not None:
        check_callable(progress, "progress")
    if sample_progress is not None:
        check_callable(sample_progress, "sample_progress")
    resolved_device = _check_device(device)
    resolved = None if backend is None else resolve_backend(backend)
    valid, skipped = _valid_subnetworks(depth, subnetworks)
    _check_memory(depth, valid, batch_size, resolved_device, resolved)
    given = unit_costs is not None
    # the unit costs are timed first: their rounds count in the same progress as the samples
    unit_rounds = 0
    if unit_costs is None and cost_model == "time":
        unit_rounds = max(warmup, 1) + repeats
        unit_costs = measure_unit_costs(
            depth,
            batch_size=batch_size,
            device=resolved_device,
            repeats=repeats,
            warmup=max(warmup, 1),
            clock=clock,
            seed=seed,
            on_sample=None
            if sample_progress is None
            else lambda done, _: sample_progress(done, unit_rounds + len(valid) * (warmup + repeats)),
        )
    generator = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(batch_size, 3, 32, 32, generator=generator).to(resolved_device)
    targets = torch.randint(10, (batch_size,), generator=generator).to(resolved_device)
    networks = []
    for n in valid:
        if progress is not None:
            progress(n)
        network = parareal_resnet(depth, num_subnetworks=n, split=split, unit_costs=unit_costs).to(resolved_device)
        place = getattr(resolved, "place", None)
        if callable(place):
            place(network)
        networks.append(network)
    rows = time_interleaved(
        networks,
        x,
        targets=targets,
        repeats=repeats,
        warmup=warmup,
        backend=resolved,
        train=True,
        compile_coarse=compile_coarse,
        seed=seed,
        clock=clock,
        on_sample=None
        if sample_progress is None
        else lambda done, total: sample_progress(unit_rounds + done, unit_rounds + total),
    )
    if memory:
        measured = [activation_bytes(network, x) for network in networks]
        rows = [
            dataclasses.replace(
                row,
                activation_bytes=tuple(m["devices"]),
                chain_activation_bytes=m["coarse"] + m["postprocess"],
            )
            for row, m in zip(rows, measured)
        ]
    costs = networks[0].plan.unit_costs
    settings = {
        "model": f"Parareal ResNet-{depth}",
        "depth": depth,
        "batch_size": batch_size,
        "device": str(resolved_device),
        "device_name": _device_name(resolved_device),
        "repeats": repeats,
        "warmup": warmup,
        "backend": None if resolved is None else backend_name(resolved),
        "compile_coarse": compile_coarse,
        "split": split,
        "cost_model": "given" if given else cost_model,
        "unit_costs": [
            {
                "in_channels": s.in_channels,
                "out_channels": s.out_channels,
                "stride": s.stride,
                "resolution": s.resolution,
                "cost": c,
            }
            for s, c in costs
        ],
        "torch": torch.__version__,
        "clock": "cuda events" if resolved_device.type == "cuda" else _CLOCK_NAMES[clock],
        "torch_threads": torch.get_num_threads(),
        "timing": (
            "median forward+backward seconds of each part; samples interleaved round-robin over N; "
            "CUDA events on GPU, synchronised perf_counter (or process CPU time, see 'clock') otherwise; "
            "wall_clock: perf_counter of one full forward+backward through 'backend'"
        ),
    }
    return Table2(tuple(rows), settings, tuple(skipped))
