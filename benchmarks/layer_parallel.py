"""Layer-parallel training (MGRIT across the layers) against the serial ResNet and the Parareal ResNet-N.

Three questions, one run (the same network depth, data, recipe and seed for every row):

1. **Accuracy.** :func:`parareal_toolkit.training.train` trains, on two datasets, the serial
   ResNet-DEPTH, the layer-parallel ResNet-DEPTH (``layer_parallel="mgrit"``, two levels,
   coarsening 2, F-relaxation, adjoint backward) with ``K`` MGRIT iterations per forward
   and adjoint solve (``--iterations``, default 1 and 2) and converged
   (``mgrit_iterations=None``), and the seed's Parareal ResNet-N (``model="parareal-resnet"``,
   ``--subnetworks``, default 3). The datasets are the synthetic ``patterns`` and an image
   folder in the on-disk format (``train/<class>/*.png``, ``test/<class>/*.png``) of
   scanned-looking digits 0-9 rendered with PIL (its bundled font at a random size and
   stroke width, a random offset, a small rotation, paper and ink grey levels and pixel
   noise), trained without flips as digits must be. Each row gives the final and best
   test error, the training time and, for the layer-parallel rows, the MGRIT iteration
   counts a forward and its adjoint actually ran (read from ``last_solves`` of the network
   the configuration builds) and whether that is the exact count ``N_1 = N_0 / 2``. The
   default depth 65 has ``N_0 = 6`` equal units per stage, exact at 3 iterations, so
   ``K = 1, 2`` are inexact. The test error is always that of the serial forward of the
   trained weights (what the trainer evaluates).

2. **Speedup per training step** (forward + backward + SGD step of one batch):

   * *virtual*, a critical-path model on ``P`` processors. One unit's residual branch is
     timed per stage (process-time clock, median of ``--repeats``): ``t_f`` a forward
     without graph, ``t_g`` a forward recording the graph, ``t_x`` the vector-Jacobian
     product with respect to its input, ``t_p`` the one with respect to its parameters,
     ``t_b`` the full backward. The sequential remainder ``T_rest`` (stem, each stage's
     first unit and units after its block, head, loss, SGD step) is the timed step of the
     serial network with its blocks' units removed, and the serial step in the same model
     is ``T_serial = T_rest + sum_blocks N_0 (t_g + t_b)`` (the measured full step is
     recorded beside it). A *recording backend* (``map``
     evaluates serially and records ``len(slices)`` of every call) set as the
     layer-parallel network's ``backend`` replays one training step. Every map of ``s``
     slices costs ``ceil(s / P)`` evaluations (``t_f`` on the forward, ``t_x`` on the
     adjoint); evaluations outside the maps (the coarsest level's sequential solve) count
     in full, as does the running-statistics update (``N_0`` evaluations at ``t_f``: every
     rank of the distributed backend repeats it); the adjoint's recomputation of the units
     (``t_g``) and the parameter gradients (``t_p``), split over the ranks by unit, cost
     ``ceil(N_0 / P)`` each (a lower bound for the recomputation: a rank also recomputes the
     units of the adjoint steps it evaluates). Then
     ``T_virtual(P) = T_rest + sum_blocks (those costs)`` and the virtual speedup is
     ``T_serial / T_virtual(P)``, for ``P = 2`` (this machine's ranks) and 4, 8 as
     predictions. Communication is free in this model.
   * *measured*: ``torchrun`` with ``--ranks`` processes (gloo, one torch thread each),
     timed round by round as ``benchmarks/slice_parallel_speedup.py`` does (median of
     ``--repeats`` after ``--warmup``): the serial ResNet's step on rank 0 while the others
     wait, the layer-parallel network's step with a
     :class:`~parareal_toolkit.backends.distributed.DistributedBackend` over all ranks (the
     slowest rank's time) at each ``K`` and converged, the Parareal ResNet-N sliced over the
     ranks, and every rank running its own serial ResNet at once: the machine's *parallel
     capacity* ``ranks * T(alone) / T(at once)``, which bounds any measured speedup.

3. The figure: test errors and speedups against ``K`` (converged its own tick), the serial
   ResNet and the Parareal ResNet as horizontal reference lines.

``python benchmarks/layer_parallel.py --update-results`` writes
``benchmarks/results/layer_parallel_cpu.json`` and ``layer_parallel_cpu.png`` (about twenty
minutes on an idle 2-core CPU at the defaults).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path

from parareal_toolkit.backends.devices import DevicesBackend
from parareal_toolkit.nn import LayerParallelResNet, parareal_resnet_from, preact_resnet
from parareal_toolkit.results import results_record, results_table, write_results
from parareal_toolkit.training import TrainConfig, build_model, train

CONVERGED = "converged"
PROCESSORS = (2, 4, 8)


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=65, help="ResNet depth 9n+2 (default 65: 6 equal units a stage)")
    parser.add_argument("--subnetworks", "-N", type=int, default=3, help="N of the Parareal ResNet-N (default 3)")
    parser.add_argument("--iterations", type=int, nargs="+", default=[1, 2], help="MGRIT iteration counts K")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch (default 32)")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--patterns-train", type=int, default=320, help="patterns training images")
    parser.add_argument("--patterns-test", type=int, default=200, help="patterns test images")
    parser.add_argument("--patterns-epochs", type=int, default=3)
    parser.add_argument("--digits-train", type=int, default=64, help="digit training images per class")
    parser.add_argument("--digits-test", type=int, default=20, help="digit test images per class")
    parser.add_argument("--digits-epochs", type=int, default=6)
    parser.add_argument("--digits-side", type=int, default=28, help="side of the digit images in pixels")
    parser.add_argument("--step-batch", type=int, default=16, help="batch of the timed steps (default 16)")
    parser.add_argument("--ranks", type=int, default=2, help="torchrun processes of the measured speedup")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="the results file (default: in the output folder)")
    parser.add_argument("--plot", default=None, help="the figure (default: in the output folder)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # a torchrun rank: where rank 0 writes
    add_output_options(parser)
    args = parser.parse_args(argv)
    if (args.depth - 2) % 9 or args.depth < 11:
        parser.error(f"--depth must be 9n + 2 with n >= 1; got {args.depth}")
    if args.worker is None:  # the ranks write nothing the parent does not read
        args.json = output_path(parser, args, "layer_parallel_cpu.json", explicit=args.json)
        args.plot = output_path(parser, args, "layer_parallel_cpu.png", explicit=args.plot)
    return args


def iteration_labels(args) -> list[int | str]:
    """The ``K`` of the layer-parallel rows in order: the counts asked for, then ``"converged"``."""
    return [*sorted(set(args.iterations)), CONVERGED]


# --------------------------------------------------------------------------- the digit images


def render_digit(digit: int, rng: np.random.Generator, side: int):
    """One scanned-looking digit: PIL's bundled font, random size, stroke, offset, rotation, grey levels, noise."""
    from PIL import Image, ImageDraw, ImageFont

    scale = 4  # drawn large, rotated, then reduced: anti-aliased strokes as a scanner gives
    big = side * scale
    font = ImageFont.load_default(size=int(big * rng.uniform(0.8, 1.05)))
    stroke = int(rng.integers(0, 3)) * scale // 2
    canvas = Image.new("L", (big, big), color=0)
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font, stroke_width=stroke)
    slack_x, slack_y = max(big - (right - left), 0) / 2, max(big - (bottom - top), 0) / 2
    x = slack_x - left + rng.uniform(-0.6, 0.6) * slack_x
    y = slack_y - top + rng.uniform(-0.6, 0.6) * slack_y
    draw.text((x, y), str(digit), fill=255, font=font, stroke_width=stroke, stroke_fill=255)
    canvas = canvas.rotate(rng.uniform(-12.0, 12.0), resample=Image.Resampling.BILINEAR)
    ink = np.asarray(canvas.resize((side, side), Image.Resampling.LANCZOS), dtype=np.float64) / 255.0
    paper, dark = rng.uniform(0.75, 0.95), rng.uniform(0.0, 0.3)
    pixels = paper - (paper - dark) * ink + rng.normal(0.0, rng.uniform(0.02, 0.08), ink.shape)
    return Image.fromarray(np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8), mode="L")


def write_digits(root: Path, per_class: dict[str, int], side: int, seed: int) -> None:
    """``root/<split>/<digit>/<i>.png`` for ``per_class[split]`` images of each digit 0-9 (different draws per split)."""
    for index, (split, count) in enumerate(per_class.items()):
        rng = np.random.default_rng([seed, index])
        for digit in range(10):
            folder = root / split / str(digit)
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                render_digit(digit, rng, side).save(folder / f"{i:04d}.png")


# --------------------------------------------------------------------------- accuracy


def run_configs(args, dataset: str, data_dir: str, runs_dir: str) -> list[tuple[str, int | str | None, TrainConfig]]:
    """``(network, K, config)`` of every training run on one dataset: one recipe, one seed."""
    common = {
        "depth": args.depth,
        "dataset": dataset,
        "data_dir": data_dir,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "milestones": [],
        "seed": args.seed,
        "deterministic": True,
        "device": "cpu",
        "workers": 0,
        "threads": 1,
        "plot": False,
    }
    if dataset == "patterns":
        common.update(train_size=args.patterns_train, test_size=args.patterns_test, epochs=args.patterns_epochs)
    else:
        common.update(epochs=args.digits_epochs, flip=False)
    rows: list[tuple[str, int | str | None, dict]] = [(f"ResNet-{args.depth}", None, {})]
    for k in iteration_labels(args):
        mgrit = {"layer_parallel": "mgrit", "mgrit_iterations": None if k == CONVERGED else k}
        rows.append((f"layer-parallel ResNet-{args.depth}", k, mgrit))
    rows.append(
        (f"Parareal ResNet-{args.subnetworks}", None, {"model": "parareal-resnet", "subnetworks": args.subnetworks})
    )
    return [
        (name, k, TrainConfig(**common, **extra, output_dir=os.path.join(runs_dir, f"{dataset}-{i}")))
        for i, (name, k, extra) in enumerate(rows)
    ]


def iterations_used(config: TrainConfig, side: int) -> dict:
    """The MGRIT iterations one training step of ``config``'s network runs, per block: forward and adjoint."""
    torch.manual_seed(0)
    model = build_model(config).train()
    x = torch.randn(2, 3, side, side)
    nn.functional.cross_entropy(model(x), torch.tensor([0, 1])).backward()
    forward = [record["iterations"] for record in model.last_solves]
    adjoint = [record["adjoint_iterations"] for record in model.last_solves]
    return {"units": [record["units"] for record in model.last_solves], "forward": forward, "adjoint": adjoint}


def accuracy(args, digits_dir: str, runs_dir: str) -> list[dict]:
    """Every training run on both datasets: errors, time, and the MGRIT iterations the layer-parallel rows ran."""
    runs = []
    for dataset, data_dir, side in (("patterns", "data", 32), ("imagefolder", digits_dir, args.digits_side)):
        configs = run_configs(args, dataset, data_dir, runs_dir)
        exact = None
        for _, k, config in configs:
            if k == CONVERGED:
                exact = iterations_used(config, side)
        for name, k, config in configs:
            summary = train(config, progress=False, overwrite=True)
            row = {
                "dataset": "patterns" if dataset == "patterns" else "digits (image folder)",
                "network": name,
                "K": k,
                "final_test_error": summary["final_test_error"],
                "best_test_error": summary["best_test_error"],
                "wall_time_s": summary["wall_time_s"],
                "epochs": summary["epochs_completed"],
            }
            if k is not None:
                used = iterations_used(config, side)
                row["mgrit"] = {**used, "exact_iterations": exact["forward"]}
                row["exact"] = used["forward"] == exact["forward"] and used["adjoint"] == exact["adjoint"]
            print(f"{row['dataset']}: {name} K={k}: final error {row['final_test_error']:.4f}", flush=True)
            runs.append(row)
    return runs


# --------------------------------------------------------------------------- virtual speedup


class RecordingBackend(DevicesBackend):
    """Evaluates every map serially in this process and records ``(phase, propagator id, len(slices))``.

    A :class:`~parareal_toolkit.backends.devices.DevicesBackend` on the one CPU device
    (what :attr:`LayerParallelResNet.backend <parareal_toolkit.nn.LayerParallelResNet.backend>`
    accepts) whose ``map`` is the serial loop.
    """

    name = "recording"

    def __init__(self):
        super().__init__(["cpu"])
        self.phase = "forward"
        self.calls: list[tuple[str, int, int]] = []
        self.propagators: list = []  # kept alive: an id is not reused by the next block's propagator

    def map(self, propagator, states, slices):
        if not any(p is propagator for p in self.propagators):
            self.propagators.append(propagator)
        self.calls.append((self.phase, id(propagator), len(slices)))
        return [propagator(u, j) for u, j in zip(states, slices)]


def median_seconds(fn, repeats: int) -> float:
    """Median process time of ``fn()`` over ``repeats`` calls after one warm-up call (one thread: CPU time)."""
    fn()
    samples = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        samples.append(time.process_time() - start)
    return statistics.median(samples)


def unit_costs(resnet: nn.Module, x: torch.Tensor, repeats: int) -> list[dict[str, float]]:
    """Per stage, the seconds of one equal-shape unit's residual branch: ``t_f, t_g, t_x, t_p, t_b``."""
    costs = []
    with torch.no_grad():
        h = resnet.stem(x)
    for layer in (resnet.layer1, resnet.layer2, resnet.layer3):
        with torch.no_grad():
            h = layer[0](h)
        if len(layer) < 2:
            costs.append({})
            continue
        unit = layer[1]
        params = [p for p in unit.parameters() if p.requires_grad]
        inp = h.detach().requires_grad_()
        with torch.no_grad():
            grad = torch.randn_like(unit(inp))

        def forward(unit=unit, inp=inp):
            with torch.no_grad():
                unit(inp) - inp

        def recorded(unit=unit, inp=inp):
            return unit(inp) - inp  # the residual branch, as the MGRIT steps evaluate it

        def input_vjp(out, inp=inp, grad=grad):
            torch.autograd.grad(out, inp, grad, retain_graph=True)

        def param_vjp(out, params=params, grad=grad):
            torch.autograd.grad(out, params, grad, retain_graph=True)

        def full_backward(out, inp=inp, params=params, grad=grad):
            torch.autograd.grad(out, [inp, *params], grad, retain_graph=True)

        out = recorded()
        costs.append(
            {
                "t_f": median_seconds(forward, repeats),
                "t_g": median_seconds(recorded, repeats),
                "t_x": median_seconds(lambda out=out: input_vjp(out), repeats),
                "t_p": median_seconds(lambda out=out: param_vjp(out), repeats),
                "t_b": median_seconds(lambda out=out: full_backward(out), repeats),
            }
        )
        with torch.no_grad():
            h = layer[1:](h)
    return costs


def serial_step_seconds(resnet: nn.Module, x, targets, repeats: int) -> float:
    """Median process time of the serial ResNet's forward + backward + SGD step."""
    model = copy.deepcopy(resnet).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step():
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), targets).backward()
        optimizer.step()

    return median_seconds(step, repeats)


def replay(resnet: nn.Module, k, x, targets) -> list[dict]:
    """One training step of the layer-parallel network (``K = k``) under a recording backend: the maps per block."""
    model = LayerParallelResNet(
        resnet.depth,
        resnet.num_classes,
        iterations=None if k == CONVERGED else k,
        adjoint_iterations=None if k == CONVERGED else k,
        backward="adjoint",
    )
    model.load_state_dict(resnet.state_dict())
    model.train()
    recorder = RecordingBackend()
    model.backend = recorder
    loss = nn.functional.cross_entropy(model(x), targets)
    recorder.phase = "adjoint"
    loss.backward()
    blocks = []
    order = {
        phase: list(dict.fromkeys(pid for p, pid, _ in recorder.calls if p == phase))
        for phase in ("forward", "adjoint")
    }
    adjoint_order = list(reversed(order["adjoint"]))  # the backward runs the stages last to first
    for i, record in enumerate(model.last_solves):
        maps = {
            "forward": [s for p, pid, s in recorder.calls if p == "forward" and pid == order["forward"][i]],
            "adjoint": [s for p, pid, s in recorder.calls if p == "adjoint" and pid == adjoint_order[i]],
        }
        blocks.append(
            {
                "stage": record["stage"],
                "units": record["units"],
                "iterations": record["iterations"],
                "adjoint_iterations": record["adjoint_iterations"],
                "evaluations": sum(record["evaluations"]),
                "adjoint_evaluations": sum(record["adjoint_evaluations"]),
                "statistics_evaluations": record["statistics_evaluations"],
                "maps": maps,
            }
        )
    return blocks


def critical_path(blocks: list[dict], costs: list[dict[str, float]], rest: float, p: int) -> float:
    """``T_virtual(P)``: the sequential remainder plus every block's maps at ``ceil(s / P)`` (module docstring)."""
    total = rest
    for block in blocks:
        c, n = costs[block["stage"]], block["units"]
        for phase, evaluations, t in (
            ("forward", "evaluations", c["t_f"]),
            ("adjoint", "adjoint_evaluations", c["t_x"]),
        ):
            mapped = block["maps"][phase]
            sequential = block[evaluations] - sum(mapped)  # the coarsest level's solve, outside the maps
            total += t * (sum(math.ceil(s / p) for s in mapped) + sequential)
        parallel_units = math.ceil(n / p)  # the recomputation and the parameter gradients, by the units' owners
        total += block["statistics_evaluations"] * c["t_f"] + parallel_units * (c["t_g"] + c["t_p"])
    return total


def virtual(args) -> dict:
    """The virtual speedups per ``K`` and ``P`` from the unit costs and the recorded maps."""
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    resnet = preact_resnet(args.depth).train()
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(args.step_batch, 3, 32, 32, generator=generator)
    targets = torch.randint(0, 10, (args.step_batch,), generator=generator)
    costs = unit_costs(resnet, x, max(args.repeats, 5))  # a few milliseconds each: more samples
    replays = {str(k): replay(resnet, k, x, targets) for k in iteration_labels(args)}
    block_units = {b["stage"]: b["units"] for b in replays[CONVERGED]}  # the same blocks for every K
    trimmed = copy.deepcopy(resnet)
    for stage, count in block_units.items():
        name = f"layer{stage + 1}"
        layer = getattr(trimmed, name)
        setattr(trimmed, name, nn.Sequential(layer[0], *layer[1 + count :]))
    rest = serial_step_seconds(trimmed, x, targets, max(args.repeats, 5))
    units_time = sum(n * (costs[stage]["t_g"] + costs[stage]["t_b"]) for stage, n in block_units.items())
    t_serial = rest + units_time
    rows = {}
    for k, blocks in replays.items():
        times = {p: critical_path(blocks, costs, rest, p) for p in (1, *PROCESSORS)}
        rows[k] = {
            "blocks": blocks,
            "virtual_seconds": {str(p): t for p, t in times.items()},
            "speedup": {str(p): t_serial / t for p, t in times.items()},
        }
    return {
        "unit_costs": costs,
        "rest_seconds": rest,
        "serial_model_seconds": t_serial,
        "serial_step_seconds": serial_step_seconds(resnet, x, targets, args.repeats),
        "by_K": rows,
    }


# --------------------------------------------------------------------------- measured speedup (torchrun ranks)


def worker(args) -> None:
    """One torchrun rank: every row timed round by round; rank 0 writes the medians to ``args.worker``."""
    import torch.distributed as dist
    from slice_parallel_speedup import TimedBackend, max_over_ranks, step_function, timed

    from parareal_toolkit.backends.distributed import init_distributed

    torch.set_num_threads(1)
    rank, world = init_distributed("gloo")
    torch.manual_seed(args.seed)
    resnet = preact_resnet(args.depth).train()
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(args.step_batch, 3, 32, 32, generator=generator)
    targets = torch.randint(0, 10, (args.step_batch,), generator=generator)
    lr = 1e-4  # the weights change a little from step to step; the work does not

    def sgd_step(model):
        return step_function(model, x, targets, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9))

    serial = copy.deepcopy(resnet)
    distributed = {}  # name: (model, its timed backend)
    for k in iteration_labels(args):
        model = LayerParallelResNet(
            args.depth,
            iterations=None if k == CONVERGED else k,
            adjoint_iterations=None if k == CONVERGED else k,
            backward="adjoint",
        )
        model.load_state_dict(resnet.state_dict())
        distributed[f"layer-parallel K={k}"] = (model.train(), TimedBackend())
    sliced = parareal_resnet_from(copy.deepcopy(resnet), num_subnetworks=args.subnetworks).train()
    distributed[f"Parareal ResNet-{args.subnetworks}"] = (sliced, TimedBackend())
    for model, backend in distributed.values():
        model.backend = backend

    samples: dict[str, list[float]] = {name: [] for name in ["ResNet, 1 rank", *distributed, "ResNet, every rank"]}
    collectives: dict[str, list[float]] = {name: [] for name in distributed}

    def one_rank(name, fn, keep):
        dist.barrier()
        seconds = timed(fn) if rank == 0 else 0.0  # the other ranks wait in the barrier
        dist.barrier()
        if keep:
            samples[name].append(seconds)

    def all_ranks(name, fn, keep):
        backend = distributed[name][1]
        dist.barrier()
        backend.seconds = 0.0
        seconds = max_over_ranks(timed(fn))
        spent = max_over_ranks(backend.seconds)
        if keep:
            samples[name].append(seconds)
            collectives[name].append(spent)

    def every_rank(name, fn, keep):
        dist.barrier()
        seconds = max_over_ranks(timed(fn))  # every rank runs its own copy at the same time
        if keep:
            samples[name].append(seconds)

    own = copy.deepcopy(resnet)
    measurements = [
        (one_rank, "ResNet, 1 rank", sgd_step(serial)),
        *((all_ranks, name, sgd_step(model)) for name, (model, _) in distributed.items()),
        (every_rank, "ResNet, every rank", sgd_step(own)),
    ]
    for round_index in range(args.warmup + args.repeats):
        shift = round_index % len(measurements)  # a different row goes first in each round
        for run, name, fn in measurements[shift:] + measurements[:shift]:
            run(name, fn, round_index >= args.warmup)
    dist.barrier()
    if rank == 0:
        result = {"ranks": world, "seconds": samples, "collective_seconds": collectives}
        Path(args.worker).write_text(json.dumps(result))
    dist.barrier()  # leave together (see slice_parallel_speedup.py)
    dist.destroy_process_group()


def measured(args, argv) -> dict:
    """Launch ``--ranks`` torchrun processes of this script and read rank 0's medians."""
    with tempfile.TemporaryDirectory(prefix="layer-parallel-ranks-") as folder:
        part = os.path.join(folder, "ranks.json")
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            str(args.ranks),
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(free_port()),
            os.path.abspath(__file__),
            *[a for a in argv if a != "--update-results"],
            "--worker",
            part,
        ]
        done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode != 0:
            raise SystemExit(f"the {args.ranks} torchrun ranks failed (exit status {done.returncode})")
        raw = json.loads(Path(part).read_text())
    median = {name: statistics.median(values) for name, values in raw["seconds"].items()}
    alone = median["ResNet, 1 rank"]
    return {
        "ranks": raw["ranks"],
        "raw": raw,
        "median_seconds": median,
        "median_collective_seconds": {n: statistics.median(v) for n, v in raw["collective_seconds"].items()},
        "speedup": {
            name: alone / t for name, t in median.items() if name not in ("ResNet, 1 rank", "ResNet, every rank")
        },
        "parallel_capacity": raw["ranks"] * alone / median["ResNet, every rank"],
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- tables, figure, main


def percent(value) -> str:
    return f"{100 * value:.1f}%"


def tables(args, runs: list[dict], speed: dict, timing: dict) -> dict:
    """The results tables: accuracy per run, speedup per ``K``, the measured steps."""
    accuracy_rows = []
    for run in runs:
        mgrit = run.get("mgrit")
        used = (
            "-"
            if mgrit is None
            else f"{max(mgrit['forward'])} / {max(mgrit['adjoint'])} of {max(mgrit['exact_iterations'])}"
        )
        accuracy_rows.append(
            [
                run["dataset"],
                run["network"],
                "-" if run["K"] is None else str(run["K"]),
                used,
                "-" if mgrit is None else ("yes" if run["exact"] else "no"),
                percent(run["final_test_error"]),
                percent(run["best_test_error"]),
                f"{run['wall_time_s']:.1f}",
            ]
        )
    ranks = speed["ranks"]
    speedup_rows = []
    for k in iteration_labels(args):
        v = timing["by_K"][str(k)]["speedup"]
        speedup_rows.append(
            [
                str(k),
                *(f"{v[str(p)]:.2f}" for p in (1, *PROCESSORS)),
                f"{speed['speedup'][f'layer-parallel K={k}']:.2f}",
            ]
        )
    parareal = f"Parareal ResNet-{args.subnetworks}"
    speedup_rows.append([parareal, "-", "-", "-", "-", f"{speed['speedup'][parareal]:.2f}"])
    median, spent = speed["median_seconds"], speed["median_collective_seconds"]
    measured_rows = [[f"ResNet-{args.depth}", "1", f"{median['ResNet, 1 rank']:.4f}", "1.00", "-"]]
    for name in [*(f"layer-parallel K={k}" for k in iteration_labels(args)), parareal]:
        measured_rows.append(
            [name, str(ranks), f"{median[name]:.4f}", f"{speed['speedup'][name]:.2f}", f"{spent[name]:.4f}"]
        )
    measured_rows.append(
        [f"ResNet-{args.depth} on every rank at once", str(ranks), f"{median['ResNet, every rank']:.4f}", "-", "-"]
    )
    recipe = f"batch {args.batch_size}, lr {args.lr}, seed {args.seed}"
    return {
        "accuracy": results_table(
            f"ResNet-{args.depth} trained serially, layer-parallel (MGRIT, 2 levels, m = 2, F-relaxation, adjoint) "
            f"and as Parareal ResNet-{args.subnetworks}: test error ({recipe}; patterns {args.patterns_epochs} epochs, "
            f"{args.patterns_train} images; digits {args.digits_epochs} epochs, {10 * args.digits_train} images, no flips)",
            [
                "dataset",
                "network",
                "K",
                "MGRIT iterations (forward / adjoint of exact)",
                "exact",
                "final test error",
                "best test error",
                "training time (s)",
            ],
            accuracy_rows,
        ),
        "speedup": results_table(
            f"Speedup of a training step of layer-parallel ResNet-{args.depth} over the serial one (batch "
            f"{args.step_batch}): virtual on P processors (critical path of the MGRIT maps) and measured on {ranks} "
            f"torchrun ranks (parallel capacity of the machine {speed['parallel_capacity']:.2f} of {ranks})",
            ["K", "virtual P = 1", "virtual P = 2", "virtual P = 4", "virtual P = 8", f"measured on {ranks} ranks"],
            speedup_rows,
        ),
        "measured": results_table(
            f"Seconds per training step (forward + backward + SGD, batch {args.step_batch}; median of {args.repeats}; "
            "gloo, one torch thread per rank)",
            ["network", "ranks", "step (s)", "speedup", "in collectives (s)"],
            measured_rows,
        ),
    }


def plot(args, runs: list[dict], speed: dict, timing: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = iteration_labels(args)
    ticks = range(len(labels))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for color, dataset in zip(("C0", "C1"), dict.fromkeys(run["dataset"] for run in runs)):
        rows = [run for run in runs if run["dataset"] == dataset]
        by_k = {str(run["K"]): run for run in rows if run["K"] is not None}
        left.plot(
            ticks,
            [100 * by_k[str(k)]["final_test_error"] for k in labels],
            "o-",
            color=color,
            label=f"{dataset}: layer-parallel, final",
        )
        left.plot(
            ticks,
            [100 * by_k[str(k)]["best_test_error"] for k in labels],
            "x:",
            color=color,
            label=f"{dataset}: layer-parallel, best",
        )
        serial, parareal = rows[0], rows[-1]
        left.axhline(
            100 * serial["final_test_error"], color=color, ls="--", lw=1, label=f"{dataset}: {serial['network']}"
        )
        left.axhline(
            100 * parareal["final_test_error"], color=color, ls="-.", lw=1, label=f"{dataset}: {parareal['network']}"
        )
    left.set(
        xticks=list(ticks),
        xticklabels=[str(k) for k in labels],
        xlabel="MGRIT iterations K",
        ylabel="test error (%)",
        title="Accuracy (final unless marked best)",
    )
    left.legend(fontsize=7)
    for p in PROCESSORS:
        right.plot(
            ticks,
            [timing["by_K"][str(k)]["speedup"][str(p)] for k in labels],
            "o-",
            label=f"virtual, P = {p}" + (" (prediction)" if p > speed["ranks"] else ""),
        )
    right.plot(
        ticks,
        [speed["speedup"][f"layer-parallel K={k}"] for k in labels],
        "s-",
        color="k",
        label=f"measured, {speed['ranks']} ranks",
    )
    right.axhline(1.0, color="grey", ls="--", lw=1, label=f"ResNet-{args.depth}, serial")
    parareal = f"Parareal ResNet-{args.subnetworks}"
    right.axhline(
        speed["speedup"][parareal], color="C3", ls="-.", lw=1, label=f"{parareal}, measured on {speed['ranks']} ranks"
    )
    right.set(
        xticks=list(ticks),
        xticklabels=[str(k) for k in labels],
        xlabel="MGRIT iterations K",
        ylabel="speedup per training step",
        title=f"Layer-parallel ResNet-{args.depth} over the serial one",
    )
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    if args.worker is not None:
        worker(args)
        return 0
    speed = measured(args, argv)
    timing = virtual(args)
    with tempfile.TemporaryDirectory(prefix="layer-parallel-") as folder:
        digits = Path(folder) / "digits"
        write_digits(digits, {"train": args.digits_train, "test": args.digits_test}, args.digits_side, args.seed)
        runs = accuracy(args, str(digits), str(Path(folder) / "runs"))
    command = "python benchmarks/layer_parallel.py " + " ".join(
        a if a != args.json.as_posix() else os.path.relpath(a) for a in argv
    )
    record = results_record(
        "layer_parallel",
        command.strip(),
        depth=args.depth,
        subnetworks=args.subnetworks,
        iterations=iteration_labels(args),
        recipe={
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": args.seed,
            "patterns": {"train": args.patterns_train, "test": args.patterns_test, "epochs": args.patterns_epochs},
            "digits": {
                "train_per_class": args.digits_train,
                "test_per_class": args.digits_test,
                "epochs": args.digits_epochs,
                "side": args.digits_side,
                "flip": False,
            },
        },
        step_batch=args.step_batch,
        repeats=args.repeats,
        runs=runs,
        virtual=timing,
        measured=speed,
        load_average=list(os.getloadavg()),
        tables=tables(args, runs, speed, timing),
    )
    written = write_results(args.json, record)
    plot(args, runs, speed, timing)
    finish(args, written, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
