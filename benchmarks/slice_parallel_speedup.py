"""Measured, not virtual: Parareal ResNet-N on N torchrun ranks against the sequential ResNet on one.

Every other speedup in the repository is *virtual* (the seed's Table 2: each part timed
alone, parallel parts counted once). This benchmark runs the real thing on the CPU: N
processes (``torchrun``, gloo, one torch thread each), slice ``j`` of the parareal network
on rank ``j`` through :class:`~parareal_toolkit.backends.distributed.DistributedBackend`,
the interface tensors and their gradients travelling by broadcast. It times, interleaved
round by round (so a busy phase of the machine hits every row alike), median of
``--repeats`` rounds after ``--warmup``:

* ``resnet, 1 rank``: forward + backward (and a full SGD step) of the sequential
  ResNet-DEPTH (the parareal network's own stem, units and head) on rank 0 while the
  other ranks wait;
* ``parareal, 1 rank``: the same for Parareal ResNet-N with all slices on rank 0;
* ``parareal, N ranks``: the same network sliced over the N ranks (the slowest rank's time);
  the time spent inside collectives (broadcasts of interface tensors and gradients,
  *including* waiting for a slower rank), the bytes broadcast per step, and the time the
  same bytes take in one broadcast once the ranks are together (the pure transfer), and each
  rank's time outside collectives (its share of the work: an imbalance shows here);
* ``resnet, every rank at once``: every rank runs its own copy of the ResNet at the same
  time. ``N * T(alone) / T(at once)`` is the machine's *parallel capacity*, the number of
  ranks' worth of work it really runs at once (``N`` on ``N`` idle cores; less when other
  processes share them). No slice-parallel speedup can exceed it.

Beside it the virtual prediction of the Table 2 harness
(:func:`parareal_toolkit.bench.time_network`, process-time clock, on rank 0 while the others
wait) for the same model and batch: ``T_virtual(1) / T_virtual(N)``. The ratio
``measured / virtual`` is how much of the predicted speedup real processes deliver (goal at
N = 2 on a 2-core CPU, at a depth where compute dominates: at least 0.8). The script launches
torchrun itself:

    python benchmarks/slice_parallel_speedup.py --update-results   # benchmarks/results/slice_parallel_cpu.json

(default ResNet-164, batch 16, N = 2, the seed's ``ceil(12/N)`` coarse units: about two
minutes on an idle 2-core CPU). The ranks share
the machine with everything else on it; a loaded machine lowers the measured speedup.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.distributed as dist
from torch import nn

from parareal_toolkit.backends.distributed import DistributedBackend, init_distributed
from parareal_toolkit.bench import time_network
from parareal_toolkit.nn import parareal_resnet_from, preact_resnet
from parareal_toolkit.results import results_record, results_table, write_results

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path


class TimedBackend(DistributedBackend):
    """The distributed backend, counting seconds and bytes spent in its collectives."""

    def __init__(self, group=None):
        super().__init__(group)
        self.seconds, self.bytes = 0.0, 0

    def _collective(self, operation, *args, **kwargs):
        started = time.perf_counter()
        try:
            return super()._collective(operation, *args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            if args and isinstance(args[0], torch.Tensor):
                self.bytes += args[0].numel() * args[0].element_size()


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=164, help="ResNet depth 9n+2 (default 164: 54 units)")
    parser.add_argument("--subnetworks", "-N", type=int, default=2, help="N, also the number of ranks (default 2)")
    parser.add_argument("--coarse-units", type=int, default=None, help="units per coarse network (ceil(12/N))")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--json", default=None, help="the results file (default: in the output folder)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    add_output_options(parser)
    args = parser.parse_args(argv)
    args.json = output_path(
        parser, args, "slice_parallel_cpu.json", explicit=args.json
    )  # checked before the ranks start
    return args


def max_over_ranks(seconds: float) -> float:
    t = torch.tensor([seconds], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def step_function(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, optimizer=None):
    """One forward + backward (+ SGD step when ``optimizer``): the work of one training step."""

    def step() -> None:
        model.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), targets)
        loss.backward()
        if optimizer is not None:
            optimizer.step()

    return step


def timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def worker(args) -> None:
    torch.set_num_threads(1)
    rank, world = init_distributed("gloo")
    n = args.subnetworks
    torch.manual_seed(0)
    resnet = preact_resnet(args.depth).train()
    network = parareal_resnet_from(
        resnet, num_subnetworks=n, coarse_units=args.coarse_units
    ).train()  # shares resnet's modules
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch_size, 3, 32, 32, generator=generator)
    targets = torch.randint(0, 10, (args.batch_size,), generator=generator)

    # three independent copies with equal weights: sequential, parareal on one rank, sliced
    sequential = copy.deepcopy(network).to_sequential()
    serial = copy.deepcopy(network)
    sliced = copy.deepcopy(network)
    backend = TimedBackend()
    sliced.backend = backend
    lr = 1e-4  # the weights change a little from step to step; the work does not
    rows = {
        "resnet, 1 rank": (
            step_function(sequential, x, targets),
            step_function(sequential, x, targets, torch.optim.SGD(sequential.parameters(), lr=lr, momentum=0.9)),
        ),
        "parareal, 1 rank": (
            step_function(serial, x, targets),
            step_function(serial, x, targets, torch.optim.SGD(serial.parameters(), lr=lr, momentum=0.9)),
        ),
    }
    sliced_pass = step_function(sliced, x, targets)
    sliced_step = step_function(sliced, x, targets, torch.optim.SGD(sliced.parameters(), lr=lr, momentum=0.9))

    samples: dict[str, list[float]] = {f"{name}/{kind}": [] for name in [*rows, "sliced"] for kind in ("fb", "step")}
    samples["resnet, every rank at once/fb"] = []
    communication: dict[str, list[float]] = {"seconds": [], "bytes": []}
    compute: list[list[float]] = []  # per sample, per rank

    def one_rank(name: str, kind: str, fn, keep: bool) -> None:
        dist.barrier()
        seconds = timed(fn) if rank == 0 else 0.0  # the other ranks wait in the barrier
        dist.barrier()
        if keep:
            samples[f"{name}/{kind}"].append(seconds)

    def all_ranks(name: str, kind: str, fn, keep: bool) -> None:
        dist.barrier()
        backend.seconds, backend.bytes = 0.0, 0
        elapsed = timed(fn)
        seconds = max_over_ranks(elapsed)
        if keep:
            samples[f"{name}/{kind}"].append(seconds)
            if kind == "fb":
                communication["seconds"].append(max_over_ranks(backend.seconds))
                communication["bytes"].append(backend.bytes)
                # each rank's time outside the collectives: its own share of the work
                outside = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
                dist.all_gather(outside, torch.tensor([elapsed - backend.seconds], dtype=torch.float64))
                compute.append([float(t.item()) for t in outside])

    def every_rank(name: str, kind: str, fn, keep: bool) -> None:
        dist.barrier()
        seconds = max_over_ranks(timed(fn))  # every rank runs its own copy at the same time
        if keep:
            samples[f"{name}/{kind}"].append(seconds)

    measurements = [
        (one_rank, name, kind, fn)
        for name, (forward_backward, train_step) in rows.items()
        for kind, fn in (("fb", forward_backward), ("step", train_step))
    ] + [
        (all_ranks, "sliced", "fb", sliced_pass),
        (all_ranks, "sliced", "step", sliced_step),
        (every_rank, "resnet, every rank at once", "fb", rows["resnet, 1 rank"][0]),
    ]
    for round_index in range(args.warmup + args.repeats):
        keep = round_index >= args.warmup
        # a different row goes first in each round: none always follows the same neighbour
        shift = round_index % len(measurements)
        for run, name, kind, fn in measurements[shift:] + measurements[:shift]:
            run(name, kind, fn, keep)

    # how much of that is moving the bytes: the same payload in one broadcast, ranks already together
    payload = torch.zeros(max(1, int(statistics.median(communication["bytes"])) // 4))
    communication["transfer_seconds"] = []
    for _ in range(args.repeats):
        dist.barrier()
        communication["transfer_seconds"].append(max_over_ranks(timed(lambda: dist.broadcast(payload, src=0))))

    # the virtual prediction: the Table 2 harness on the same model and batch, on rank 0
    virtual = None
    if rank == 0:
        single = parareal_resnet_from(resnet, num_subnetworks=1)  # the ResNet itself, as the harness's N = 1
        timings = [
            time_network(model, x, targets=targets, repeats=args.repeats, warmup=1, backend=None, clock="process")
            for model in (single, network)
        ]
        virtual = (timings[0].virtual_total, timings[1].virtual_total)
    dist.barrier()
    if rank == 0:
        report(args, world, samples, communication, compute, virtual)
    # leave together: a rank that tears its gloo group down while rank 0 still writes the
    # report can abort ("terminate called without an active exception")
    dist.barrier()
    dist.destroy_process_group()


def network_coarse_units(args) -> int:
    return args.coarse_units or -(-12 // args.subnetworks)


def report(args, world, samples, communication, compute, virtual) -> None:
    median = {key: statistics.median(values) for key, values in samples.items()}
    t_seq, t_serial, t_sliced = (median[f"{k}/fb"] for k in ("resnet, 1 rank", "parareal, 1 rank", "sliced"))
    s_seq, s_serial, s_sliced = (median[f"{k}/step"] for k in ("resnet, 1 rank", "parareal, 1 rank", "sliced"))
    comm_s = statistics.median(communication["seconds"])
    comm_bytes = statistics.median(communication["bytes"])
    transfer_s = statistics.median(communication["transfer_seconds"])
    per_rank = [statistics.median(sample[r] for sample in compute) for r in range(world)]
    # how many ranks' worth of work the machine really runs at once: N for N idle cores
    capacity = world * t_seq / median["resnet, every rank at once/fb"]
    virtual_speedup = virtual[0] / virtual[1]
    measured = t_seq / t_sliced
    ratio = measured / virtual_speedup
    n = args.subnetworks
    print(f"ResNet-{args.depth}, batch {args.batch_size}, Parareal ResNet-{n} on {world} ranks (gloo, 1 thread each)")
    print(f"forward+backward: resnet {t_seq:.4f} s, parareal 1 rank {t_serial:.4f} s, {world} ranks {t_sliced:.4f} s")
    print(f"measured speedup {measured:.3f}x, virtual (Table 2 harness) {virtual_speedup:.3f}x, ratio {ratio:.3f}")
    print(
        f"communication per step (inside collectives, waiting included) {comm_s:.4f} s, {comm_bytes / 1e6:.2f} MB; "
        f"moving those bytes in one broadcast takes {transfer_s:.4f} s"
    )
    print(
        f"parallel capacity: {world} ranks each running the ResNet at once deliver {capacity:.2f} ranks' worth "
        f"({median['resnet, every rank at once/fb']:.4f} s each, {t_seq:.4f} s alone)"
    )
    print("work outside collectives per rank: " + ", ".join(f"rank {r} {t:.4f} s" for r, t in enumerate(per_rank)))
    command = (
        f"python benchmarks/slice_parallel_speedup.py --depth {args.depth} -N {n} --batch-size {args.batch_size} "
        + (f"--coarse-units {args.coarse_units} " if args.coarse_units else "")
        + f"--repeats {args.repeats} --warmup {args.warmup} "
        + ("--update-results" if args.update_results else f"--json {os.path.relpath(args.json)}")
    )
    timing = results_table(
        f"ResNet-{args.depth}, batch {args.batch_size}: seconds per forward+backward and per SGD step "
        f"(median of {args.repeats}; gloo, one torch thread per rank)",
        ["network", "ranks", "forward+backward (s)", "training step (s)", "speedup (forward+backward)"],
        [
            [f"ResNet-{args.depth}", "1", f"{t_seq:.4f}", f"{s_seq:.4f}", "1.00"],
            [f"Parareal ResNet-{n}", "1", f"{t_serial:.4f}", f"{s_serial:.4f}", f"{t_seq / t_serial:.2f}"],
            [f"Parareal ResNet-{n}", str(world), f"{t_sliced:.4f}", f"{s_sliced:.4f}", f"{measured:.2f}"],
        ],
    )
    comparison = results_table(
        f"Measured against virtual speedup of Parareal ResNet-{n} over ResNet-{args.depth}",
        [
            "measured speedup",
            "virtual speedup (Table 2 harness)",
            "measured / virtual",
            "training-step speedup",
            "time in collectives per step (s)",
            "share of the step",
            "of which moving the bytes (s)",
            "work outside collectives per rank (s)",
            f"parallel capacity of the machine (of {world})",
            "bytes broadcast per step",
        ],
        [
            [
                f"{measured:.2f}",
                f"{virtual_speedup:.2f}",
                f"{ratio:.2f}",
                f"{s_seq / s_sliced:.2f}",
                f"{comm_s:.4f}",
                f"{comm_s / t_sliced:.1%}",
                f"{transfer_s:.4f}",
                " / ".join(f"{t:.4f}" for t in per_rank),
                f"{capacity:.2f}",
                f"{comm_bytes / 1e6:.1f} MB",
            ]
        ],
    )
    record = results_record(
        "slice_parallel_speedup",
        command,
        depth=args.depth,
        subnetworks=n,
        coarse_units=network_coarse_units(args),
        ranks=world,
        batch_size=args.batch_size,
        repeats=args.repeats,
        seconds=samples,
        communication=communication,
        compute_per_rank=compute,
        parallel_capacity=capacity,
        virtual_total=list(virtual),
        measured_speedup=measured,
        virtual_speedup=virtual_speedup,
        ratio=ratio,
        load_average=list(os.getloadavg()),  # other processes on the machine slow the ranks down
        tables={"timing": timing, "comparison": comparison},
    )
    finish(args, write_results(args.json, record))


def main(argv=None) -> int:
    args = parse(argv)
    if args.worker:
        worker(args)
        return 0
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        str(args.subnetworks),
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        os.path.abspath(__file__),
        "--worker",
        *(argv if argv is not None else sys.argv[1:]),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, env=env).returncode


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
