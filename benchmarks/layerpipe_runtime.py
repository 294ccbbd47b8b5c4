"""Measured step time of synchronous pipeline schedules on torch.distributed.pipelining against the simulator.

A small VGG-like network (four 3x3 conv blocks, 32 and 64 channels, on 3x32x32 inputs, then
two linear layers; float32), a batch of 64 split into M micro-batches. This process times
F, A and G of every layer on one micro-batch (``measured_profile``, one torch thread, median
of repeats), splits the layers into R contiguous stages of least largest load
(``partition_contiguous``) and predicts the step time of each schedule with the simulator
(free communication). Then ``torchrun`` starts R processes (gloo, CPU, one torch thread
each) that run the same stages with torch's ``ScheduleGPipe`` and ``Schedule1F1B`` and, as
custom action lists, our ZB-H1 and ``layerpipe-flush`` orders built from the measured
costs; each step is timed between two barriers, after warm-up steps, median reported.
Ranks 0 and 1 also time a 1-element and a largest-activation message (ping-pong), which
gives the gloo link's latency and bandwidth for a second prediction with communication
(every message a task on its link, ``with_link_tasks``).

The asynchronous LayerPipe order itself is not run: torch's pipelining schedules are
synchronous (one flush per step) and execute an action ``(stage, kind, micro-batch)`` on the
rank owning the stage, so LayerPipe's per-layer staleness, its weight gradients moved to
the next processor and its activation gradients split across two processors have no action
to express them. ``layerpipe-flush`` is its per-stage projection (A first, G into the idle
slots) and is what runs.

    python benchmarks/layerpipe_runtime.py [--ranks 2 4] [--microbatches 4]
                                           [--out DIR | --update-results]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path

BATCH = 64
SCHEDULES = ("gpipe", "1f1b", "zb-h1", "layerpipe-flush")
WARMUP = 2
REPEATS = 5
COMMAND = "python benchmarks/layerpipe_runtime.py"


def vgg_like(seed: int = 0):
    """Six children: four conv blocks (pooling after the second and fourth), two linear layers."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    def block(cin: int, cout: int, pool: bool) -> nn.Sequential:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
        if pool:
            layers.append(nn.MaxPool2d(2))
        return nn.Sequential(*layers)

    return nn.Sequential(
        block(3, 32, False),
        block(32, 32, True),
        block(32, 64, False),
        block(64, 64, True),
        nn.Sequential(nn.Flatten(), nn.Linear(64 * 8 * 8, 256), nn.ReLU()),
        nn.Linear(256, 10),
    )


def example_batch():
    import torch

    gen = torch.Generator().manual_seed(1)
    return torch.randn(BATCH, 3, 32, 32, generator=gen), torch.randint(0, 10, (BATCH,), generator=gen)


def _profile_from_plan(costs, sizes):
    from parareal_toolkit.layerpipe import profile_from_costs

    f, a, g = zip(*costs)
    return profile_from_costs(f, a, g, name="vgg-like (measured)", unit="s", sizes=sizes)


def _measure_link(rank: int, elements: int, repeats: int = 10) -> tuple[float, float]:
    """One-way time of a 1-element and of an ``elements``-element float32 message between ranks 0 and 1 (median)."""
    import torch
    import torch.distributed as dist

    out = []
    for n in (1, elements):
        buf = torch.zeros(n)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            if rank == 0:
                dist.send(buf, 1)
                dist.recv(buf, 1)
            elif rank == 1:
                dist.recv(buf, 0)
                dist.send(buf, 0)
            times.append((time.perf_counter() - t0) / 2)
        out.append(statistics.median(times))
    return out[0], out[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(plan_path: str, out_path: str) -> None:
    """One torchrun rank: every schedule of the plan on this rank's stage, timed per step."""
    import datetime

    import torch
    import torch.distributed as dist
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe
    from torch.distributed.pipelining.schedules import _Action, _ComputationType, _PipelineScheduleRuntime

    from parareal_toolkit.layerpipe import build_schedule

    torch.set_num_threads(1)
    plan = json.loads(Path(plan_path).read_text())
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))
    rank, world = dist.get_rank(), dist.get_world_size()
    m = plan["microbatches"]
    start, stop = plan["stages"][rank]
    model = vgg_like()
    sub = torch.nn.Sequential(*list(model.children())[start:stop])
    x, y = example_batch()
    profile = _profile_from_plan(plan["costs"], plan["sizes"])
    link = _measure_link(rank, int(max(plan["sizes"])))
    kinds = {
        "F": _ComputationType.FORWARD,
        "A": _ComputationType.BACKWARD_INPUT,
        "G": _ComputationType.BACKWARD_WEIGHT,
        "B": _ComputationType.FULL_BACKWARD,
    }
    times: dict[str, list[float]] = {}
    for name in plan["schedules"]:
        stage = PipelineStage(sub, rank, world, torch.device("cpu"))
        loss_fn = torch.nn.functional.cross_entropy
        if name == "gpipe":
            schedule: Any = ScheduleGPipe(stage, m, loss_fn=loss_fn)
        elif name == "1f1b":
            schedule = Schedule1F1B(stage, m, loss_fn=loss_fn)
        else:
            schedule = _PipelineScheduleRuntime([stage], m, loss_fn=loss_fn)
            order = build_schedule(name, profile, world, microbatches=m).order
            actions = {r: [_Action(t.unit, kinds[t.kind], t.microbatch) for t in row] for r, row in enumerate(order)}
            schedule.pipeline_order = actions
            schedule._prepare_schedule_with_comms(actions)
        steps = []
        for _ in range(WARMUP + REPEATS):
            sub.zero_grad(set_to_none=True)
            dist.barrier()
            t0 = time.perf_counter()
            if rank == 0:
                schedule.step(x)
            elif rank == world - 1:
                schedule.step(target=y)
            else:
                schedule.step()
            dist.barrier()
            steps.append(time.perf_counter() - t0)
        times[name] = steps[WARMUP:]
    if rank == 0:
        small, large = link
        latency, per_second = small, 4 * (max(plan["sizes"]) - 1) / max(large - small, 1e-12)
        Path(out_path).write_text(json.dumps(dict(times=times, link=dict(latency_s=latency, bytes_per_s=per_second))))
    dist.barrier()
    dist.destroy_process_group()


def measure_profile(microbatches: int, repeats: int = 7):
    """F, A, G of every child on one micro-batch, seconds, one torch thread."""
    import torch

    from parareal_toolkit.layerpipe import measured_profile

    torch.set_num_threads(1)
    model = vgg_like()
    x, _ = example_batch()
    with torch.no_grad():
        model(x[: BATCH // microbatches])  # warm the allocator and kernels
    return measured_profile(model, x[: BATCH // microbatches], repeats=repeats, name="vgg-like (measured)")


def run(ranks: list[int], microbatches: int) -> dict[str, Any]:
    from parareal_toolkit.layerpipe import Network, build_schedule, partition_contiguous, simulate, with_link_tasks
    from parareal_toolkit.results import results_table

    profile = measure_profile(microbatches)
    costs = [[layer.forward, layer.activation_grad, layer.weight_grad] for layer in profile.layers]
    # elements a layer's output holds for one micro-batch: what crosses a stage boundary
    sizes = [layer.activation_size * (BATCH // microbatches) for layer in profile.layers]
    timed = _profile_from_plan(costs, sizes)
    rows, raw = [], []
    for r in ranks:
        stages = [[st.start, st.stop] for st in partition_contiguous(timed, r)]
        plan = dict(microbatches=microbatches, stages=stages, costs=costs, sizes=sizes, schedules=list(SCHEDULES))
        with tempfile.TemporaryDirectory() as tmp:
            plan_path, out_path = os.path.join(tmp, "plan.json"), os.path.join(tmp, "times.json")
            Path(plan_path).write_text(json.dumps(plan))
            cmd = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nproc-per-node",
                str(r),
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                str(_free_port()),
                str(Path(__file__).resolve()),
                "--worker",
                plan_path,
                out_path,
            ]
            env = dict(os.environ, OMP_NUM_THREADS="1")
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
            if proc.returncode != 0:
                raise RuntimeError(f"torchrun with {r} ranks failed:\n{proc.stderr[-3000:]}")
            measured_all = json.loads(Path(out_path).read_text())
        measured, link = measured_all["times"], measured_all["link"]
        for name in SCHEDULES:
            sched = build_schedule(name, timed, r, microbatches=microbatches)
            simulated = simulate(sched).makespan
            gloo = Network(bandwidth=link["bytes_per_s"], latency=link["latency_s"], bytes_per_element=4)
            with_link = simulate(with_link_tasks(sched, gloo)[0]).makespan
            step = statistics.median(measured[name])
            raw.append(
                dict(
                    schedule=name,
                    ranks=r,
                    microbatches=microbatches,
                    stages=stages,
                    measured_steps_s=measured[name],
                    measured_s=step,
                    simulated_s=simulated,
                    link=link,
                    simulated_with_link_s=with_link,
                )
            )
            rows.append(
                [
                    name,
                    r,
                    microbatches,
                    f"{step:.4f}",
                    f"{simulated:.4f}",
                    f"{step / simulated:.3f}",
                    f"{with_link:.4f}",
                    f"{step / with_link:.3f}",
                ]
            )
            print(
                f"{name:16s} ranks {r}  M {microbatches}  measured {step:.4f} s  simulated {simulated:.4f} s  "
                f"ratio {step / simulated:.3f}  with the gloo link {with_link:.4f} s  ratio {step / with_link:.3f}"
            )
    layers = [
        [
            layer.name,
            f"{layer.forward * 1e3:.3f}",
            f"{layer.activation_grad * 1e3:.3f}",
            f"{layer.weight_grad * 1e3:.3f}",
        ]
        for layer in profile.layers
    ]
    tables = {
        "runtime_vs_simulation": results_table(
            f"Step time of a VGG-like network (batch {BATCH}, {microbatches} micro-batches) on "
            "torch.distributed.pipelining (gloo, CPU, one torch thread per rank; median of "
            f"{REPEATS} steps) against the simulator fed with the per-layer times below, with free "
            "communication and with the gloo link's latency and bandwidth measured between ranks 0 and 1; "
            f"{os.cpu_count()} CPU cores: where the ranks outnumber the cores they share them, which the "
            "simulator (one processor per rank) does not model",
            [
                "schedule",
                "ranks",
                "microbatches",
                "measured s",
                "simulated s",
                "measured/simulated",
                "simulated with link s",
                "measured/simulated with link",
            ],
            rows,
        ),
        "layer_costs": results_table(
            f"Per-layer costs measured on one micro-batch of {BATCH // microbatches} samples (ms; one torch thread)",
            ["layer", "F ms", "A ms", "G ms"],
            layers,
        ),
    }
    return dict(
        batch=BATCH,
        warmup_steps=WARMUP,
        timed_steps=REPEATS,
        layer_costs_s=costs,
        boundary_elements=sizes,
        runs=raw,
        tables=tables,
    )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--microbatches", type=int, default=4)
    parser.add_argument("--json", default=None, help="the results file (default: in the output folder)")
    add_output_options(parser)
    args = parser.parse_args()
    json_path = output_path(parser, args, "layerpipe_runtime_cpu.json", explicit=args.json)
    if BATCH % args.microbatches:
        parser.error(f"--microbatches must divide the batch of {BATCH}; got {args.microbatches}")
    from parareal_toolkit.results import results_record, write_results

    started = time.perf_counter()
    result = run(args.ranks, args.microbatches)
    command = COMMAND + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    write_results(json_path, results_record("layerpipe_runtime", command, **result))
    print(f"ran in {time.perf_counter() - started:.0f} s")
    finish(args, json_path)


if __name__ == "__main__":
    main()
