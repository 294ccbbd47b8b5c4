"""Wall-clock speedup of parareal on 2 workers, measured against the cost model's prediction.

The fine propagator is expensive (M implicit-Euler substeps per slice) and the coarse one
cheap (one substep), the regime in which parareal can win. One iteration on N = 2 slices
with W = 2 workers: the model predicts ``1 / ((K + 1) α + K ceil(N/W)/N)`` with the measured
``α = c_G / c_F``, at most 2. Both process-based backends are measured through the
``parareal ode`` command, each in the same run as its own sequential fine solve:

* ``processes``: a concurrent.futures pool of 2 workers;
* ``distributed``: ``torchrun --nproc-per-node 2`` with gloo.

    python benchmarks/ode_speedup.py [--substeps 20000] [--repeats 3] [--json benchmarks/results/ode_speedup_cpu.json]
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(backend, substeps, size):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.json")
        args = [
            "ode",
            "--size",
            str(size),
            "--slices",
            "2",
            "--iterations",
            "1",
            "--fine-substeps",
            str(substeps),
            "--backend",
            backend,
            "--json",
            path,
        ]
        if backend == "processes":
            command = [sys.executable, "-m", "parareal_toolkit.cli", *args, "--workers", "2"]
        else:
            command = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nproc-per-node",
                "2",
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                str(free_port()),
                "-m",
                "parareal_toolkit.cli",
                *args,
            ]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
        with open(path) as fh:
            return json.load(fh)["timing"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--substeps", type=int, default=20000)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--machine", default=f"{platform.machine()} CPU, {os.cpu_count()} cores")
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "results", "ode_speedup_cpu.json"))
    args = parser.parse_args()
    rows = []
    print(f"{'backend':>12} {'seq fine s':>10} {'parareal s':>10} {'measured':>9} {'model':>7} {'measured/model':>14}")
    for backend in ("processes", "distributed"):
        timings = [run(backend, args.substeps, args.size) for _ in range(args.repeats)]
        measured = statistics.median(t["measured_speedup"] for t in timings)
        model = statistics.median(t["model_speedup"] for t in timings)
        row = {
            "backend": backend,
            "workers": 2,
            "sequential_fine_s": statistics.median(t["sequential_fine_s"] for t in timings),
            "parareal_s": statistics.median(t["parareal_s"] for t in timings),
            "alpha": statistics.median(t["alpha"] for t in timings),
            "measured_speedup": measured,
            "model_speedup": model,
            "measured_over_model": measured / model,
            "runs": timings,
        }
        rows.append(row)
        print(
            f"{backend:>12} {row['sequential_fine_s']:>10.3f} {row['parareal_s']:>10.3f} {measured:>8.2f}x {model:>6.2f}x {measured / model:>14.2f}"
        )
    payload = {
        "benchmark": "ode_speedup",
        "machine": args.machine,
        "size": args.size,
        "slices": 2,
        "iterations": 1,
        "fine_substeps": args.substeps,
        "repeats": args.repeats,
        "rows": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(payload, fh, indent=2)
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
