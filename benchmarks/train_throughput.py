"""Training throughput and memory of ResNet-DEPTH and Parareal ResNet-N at batch 128.

For each model, in one process and on one device:

* ``images_per_s``: batch size / median time of a full SGD step (forward, backward,
  momentum update) over ``--steps`` timed steps after ``--warmup`` steps. On one device the
  parareal network runs its subnetworks one after another, so this is the *serial* cost
  (the parareal model does more work: preprocessing and coarse networks); the parallel
  speed-up needs one device per subnetwork.
* memory per device: what one device of a data-layout with one subnetwork per device holds,
  for the largest subnetwork ``g^j``: its parameters (x3 with SGD momentum: weights,
  gradients, momentum buffers) plus the activations it saves for backward, counted
  exactly as the unique storages that autograd saves (``torch.autograd.graph.
  saved_tensors_hooks``) while ``g^j`` runs forward on its batch-128 input. The plain
  ResNet is one device holding everything. The seed paper's claim to check: memory per
  device falls roughly as 1/N. Measured: it falls as c/N with c about 1.5-1.7, because the
  largest device is always g^1, whose units work on the 32x32 maps of stage 1 (4x the
  activations per unit of stage 3); an activation-balanced split would bring c towards 1.
* on CUDA also ``peak_allocated_bytes`` (``torch.cuda.max_memory_allocated``) of the whole
  training step.

CPU numbers need no GPU; the GPU numbers need a CUDA device (none on the 2-core dev box).

    python benchmarks/train_throughput.py [--depth 56] [--subnetworks 1 3 6 9] [--batch-size 128]
        [--device cpu] [--threads 1] [--out DIR | --update-results]
"""

import argparse
import os
import platform
import statistics
import sys
import time

import torch
from torch import nn

from parareal_toolkit.nn import parareal_resnet_from, preact_resnet
from parareal_toolkit.results import results_record, results_table, write_results

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path


def saved_activation_bytes(fn, *args) -> int:
    """Bytes of the distinct storages autograd saves for backward while ``fn(*args)`` runs."""
    storages = {}

    def pack(t):
        storage = t.untyped_storage()
        storages[(storage.data_ptr(), t.device)] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return sum(storages.values())


def parameter_bytes(module: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def time_steps(model, images, labels, *, warmup, steps, device):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train()
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return statistics.median(times), peak


def measure(name, model, parts, images, labels, args, device):
    seconds, peak = time_steps(model, images, labels, warmup=args.warmup, steps=args.steps, device=device)
    devices = []
    for part, inputs in parts:
        activations = saved_activation_bytes(part, inputs)
        devices.append(
            {
                "parameter_bytes": parameter_bytes(part),
                "activation_bytes": activations,
                "device_bytes": 3 * parameter_bytes(part) + activations,
            }
        )
    largest = max(devices, key=lambda d: d["device_bytes"])
    row = {
        "model": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "step_s": seconds,
        "images_per_s": args.batch_size / seconds,
        "largest_device_bytes": largest["device_bytes"],
        "largest_device": largest,
        "peak_allocated_bytes": peak,
    }
    print(
        f"{name:>24}: {row['images_per_s']:8.1f} images/s   step {seconds:7.3f} s   "
        f"largest device {largest['device_bytes'] / 2**20:8.1f} MiB "
        f"(activations {largest['activation_bytes'] / 2**20:.1f} MiB)"
    )
    return row


def results_tables(rows, batch_size):
    """The ``tables`` of the results file: every number a reader sees, formatted once, here."""
    cells = [
        [
            row["model"],
            f"{row['parameters']:,}",
            f"{row['images_per_s']:.1f}",
            f"{row['throughput_ratio']:.2f}",
            f"{row['largest_device_bytes'] / 2**20:.0f}",
            f"{row['device_memory_ratio']:.3f}",
        ]
        for row in rows
    ]
    return {
        "throughput": results_table(
            f"Serial training throughput (batch {batch_size}, one device) and memory of the largest device",
            ["model", "parameters", "images/s", "throughput / ResNet", "largest device MiB", "memory / ResNet"],
            cells,
        )
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=56)
    parser.add_argument("--subnetworks", type=int, nargs="+", default=[1, 3, 6, 9])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--machine", default=None, help="machine description for the JSON (default: detected)")
    parser.add_argument(
        "--json", default=None, help="the results file (default: train_throughput_cpu.json in the output folder)"
    )
    add_output_options(parser)
    args = parser.parse_args(argv)
    json_path = output_path(parser, args, "train_throughput_cpu.json", explicit=args.json)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    images = torch.randn(args.batch_size, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (args.batch_size,), device=device)

    rows = []
    resnet = preact_resnet(args.depth).to(device)
    rows.append(measure(f"ResNet-{args.depth}", resnet, [(resnet, images)], images, labels, args, device))
    for n in args.subnetworks:
        torch.manual_seed(0)
        network = parareal_resnet_from(preact_resnet(args.depth), num_subnetworks=n).to(device)
        with torch.no_grad():
            inputs = [c(images) for c in network.preprocess]
        parts = [(g, x.requires_grad_()) for g, x in zip(network.subnetworks, inputs)]
        rows.append(measure(f"Parareal ResNet-{args.depth}, N={n}", network, parts, images, labels, args, device))

    base = rows[0]["largest_device_bytes"]
    for row in rows:
        row["device_memory_ratio"] = row["largest_device_bytes"] / base
        row["throughput_ratio"] = row["images_per_s"] / rows[0]["images_per_s"]
    print("\nlargest-device memory relative to the ResNet (1/N would be):")
    for row, n in zip(rows[1:], args.subnetworks):
        print(
            f"  N={n:>2}: {row['device_memory_ratio']:.3f}  (1/N = {1 / n:.3f}, N x ratio = "
            f"{n * row['device_memory_ratio']:.2f}); "
            f"serial throughput ratio {row['throughput_ratio']:.2f}"
        )
    machine = args.machine or (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads"
    )
    report = results_record(
        "train_throughput",
        " ".join(["python", "benchmarks/train_throughput.py", *sys.argv[1:]]),
        machine=machine,
        note="serial throughput on one device (the parareal model does extra work); "
        "memory: largest device = 3 x parameters + saved activations of the largest subnetwork",
        device=str(device),
        torch=torch.__version__,
        depth=args.depth,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        rows=rows,
        tables=results_tables(rows, args.batch_size),
    )
    finish(args, write_results(json_path, report))


if __name__ == "__main__":
    main()
