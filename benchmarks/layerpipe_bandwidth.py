"""LayerPipe against PipeDream with and without stage replication when communication costs time.

Simulated, hence deterministic: VGG-16 at 224x224, micro-batches of 32 samples, every
processor doing 10 TMAC/s (about 20 TFLOP/s, float32), float32 tensors, every link with the
same bandwidth and 5 us per message (``parareal_toolkit.layerpipe.communication``):
activations and gradients at stage boundaries, LayerPipe's split activation gradients and
moved weight gradients as tasks on their links (messages on one link queue), and each
replicated stage's ring all-reduce charged to its replicas' backward passes. LayerPipe is
also shown with messages that never queue (edge latencies), the optimistic model.

Tables: the schedules at a stated network (25 Gb/s) for P = 2..9, and a sweep over link
bandwidth (1..400 Gb/s) at P = 4 and 8 showing which schedule wins where.

    python benchmarks/layerpipe_bandwidth.py [--out DIR | --update-results]   # --update-results: benchmarks/results/
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any

from parareal_toolkit.layerpipe import vgg16_profile
from parareal_toolkit.layerpipe.communication import Network, evaluate_on_network
from parareal_toolkit.results import results_record, results_table, write_results

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path

SAMPLES = 32
MACS_PER_SECOND = 1e13
LATENCY_US = 5.0
STATED_GBPS = 25.0
STATED_PROCESSORS = tuple(range(2, 10))
SWEEP_GBPS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 400.0)
SWEEP_PROCESSORS = (4, 8)
SCHEDULES = ("pipedream", "pipedream-replicated", "layerpipe")
COMMAND = "python benchmarks/layerpipe_bandwidth.py"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def _winner(rows: dict[str, dict[str, Any]]) -> str:
    return min(SCHEDULES, key=lambda s: rows[s]["seconds_per_microbatch"])


def _layerpipe_over_best_pipedream(rows: dict[str, dict[str, Any]]) -> float:
    best = min(rows[s]["seconds_per_microbatch"] for s in ("pipedream", "pipedream-replicated"))
    return best / rows["layerpipe"]["seconds_per_microbatch"]


def _replicas(row: dict[str, Any]) -> str:
    return "x".join(map(str, row["replicas"]))


def simulate_all() -> dict[str, Any]:
    """Every run of the benchmark: the raw rows and the tables (no header)."""
    profile = vgg16_profile()
    kwargs = dict(samples=SAMPLES, macs_per_second=MACS_PER_SECOND)
    stated = Network.from_gigabits(STATED_GBPS, latency_us=LATENCY_US)
    free = Network()
    raw: list[dict[str, Any]] = []
    stated_rows = []
    for p in STATED_PROCESSORS:
        at = {s: evaluate_on_network(s, profile, p, stated, **kwargs) for s in SCHEDULES}
        free_at = {s: evaluate_on_network(s, profile, p, free, **kwargs) for s in SCHEDULES}
        unqueued = evaluate_on_network("layerpipe", profile, p, stated, contention=False, **kwargs)
        raw += [dict(r, gbps=STATED_GBPS, contention=True) for r in at.values()]
        raw.append(dict(unqueued, gbps=STATED_GBPS, contention=False))
        stated_rows.append(
            [
                p,
                *(_ms(at[s]["seconds_per_microbatch"]) for s in SCHEDULES),
                _ms(unqueued["seconds_per_microbatch"]),
                _replicas(at["pipedream-replicated"]),
                f"{at['pipedream-replicated']['allreduce_seconds'] * 1e3:.3f}",
                f"{at['pipedream']['bytes_per_microbatch'] / 1e6:.0f}",
                f"{at['pipedream-replicated']['bytes_per_microbatch'] / 1e6:.0f}",
                f"{at['layerpipe']['bytes_per_microbatch'] / 1e6:.0f}",
                f"{_layerpipe_over_best_pipedream(at):.3f}",
                f"{_layerpipe_over_best_pipedream(free_at):.3f}",
                _winner(at),
            ]
        )
    sweep_rows = []
    for p in SWEEP_PROCESSORS:
        for gbps in (*SWEEP_GBPS, math.inf):
            net = free if gbps == math.inf else Network.from_gigabits(gbps, latency_us=LATENCY_US)
            at = {s: evaluate_on_network(s, profile, p, net, **kwargs) for s in SCHEDULES}
            unqueued = evaluate_on_network("layerpipe", profile, p, net, contention=False, **kwargs)
            speed = None if gbps == math.inf else gbps
            raw += [dict(r, gbps=speed, contention=True) for r in at.values()]
            raw.append(dict(unqueued, gbps=speed, contention=False))
            sweep_rows.append(
                [
                    p,
                    "free" if gbps == math.inf else f"{gbps:g}",
                    *(_ms(at[s]["seconds_per_microbatch"]) for s in SCHEDULES),
                    _ms(unqueued["seconds_per_microbatch"]),
                    f"{_layerpipe_over_best_pipedream(at):.3f}",
                    _winner(at),
                ]
            )
    per_mb = "ms per micro-batch"
    tables = {
        "stated_network": results_table(
            f"VGG-16, {SAMPLES} samples per micro-batch, {MACS_PER_SECOND / 1e12:g} TMAC/s per processor, "
            f"{STATED_GBPS:g} Gb/s links with {LATENCY_US:g} us latency: steady-state time per micro-batch; "
            "LayerPipe's speedup over the better PipeDream plan, with this network and with free communication",
            [
                "P",
                f"PipeDream {per_mb}",
                f"PipeDream replicated {per_mb}",
                f"LayerPipe {per_mb}",
                f"LayerPipe, messages not queued, {per_mb}",
                "replicas",
                "all-reduce ms",
                "PipeDream MB/mb",
                "replicated MB/mb",
                "LayerPipe MB/mb",
                "LayerPipe speedup",
                "speedup, free comm.",
                "fastest",
            ],
            stated_rows,
        ),
        "bandwidth_sweep": results_table(
            f"VGG-16, {SAMPLES} samples per micro-batch, {MACS_PER_SECOND / 1e12:g} TMAC/s per processor, "
            f"{LATENCY_US:g} us latency: time per micro-batch against link bandwidth, messages queued on "
            "their links (LayerPipe also without queueing); free = infinite bandwidth, no latency",
            [
                "P",
                "Gb/s",
                f"PipeDream {per_mb}",
                f"PipeDream replicated {per_mb}",
                f"LayerPipe {per_mb}",
                f"LayerPipe, messages not queued, {per_mb}",
                "LayerPipe speedup",
                "fastest",
            ],
            sweep_rows,
        ),
    }
    setup = dict(
        network="vgg16",
        samples_per_microbatch=SAMPLES,
        macs_per_second=MACS_PER_SECOND,
        latency_us=LATENCY_US,
        bytes_per_element=4,
        stated_gbps=STATED_GBPS,
    )
    return dict(setup=setup, runs=raw, tables=tables)


def plot(result: dict[str, Any], path: str) -> None:
    """Time per micro-batch against bandwidth, one panel per P of the sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SWEEP_PROCESSORS), figsize=(11, 4.2), sharey=False)
    for ax, p in zip(axes, SWEEP_PROCESSORS):
        for name, marker in zip(SCHEDULES, "osd"):
            points = [
                (r["gbps"], r["seconds_per_microbatch"] * 1e3)
                for r in result["runs"]
                if r["processors"] == p and r["schedule"] == name and r["gbps"] in SWEEP_GBPS and r["contention"]
            ]
            points.sort()
            ax.loglog(*zip(*points), marker + "-", label=name)
            free = next(
                r["seconds_per_microbatch"] * 1e3
                for r in result["runs"]
                if r["processors"] == p and r["schedule"] == name and r["gbps"] is None and r["contention"]
            )
            ax.axhline(free, color=ax.lines[-1].get_color(), ls=":", lw=1)
        unqueued = sorted(
            (r["gbps"], r["seconds_per_microbatch"] * 1e3)
            for r in result["runs"]
            if r["processors"] == p and r["gbps"] in SWEEP_GBPS and not r["contention"]
        )
        ax.loglog(*zip(*unqueued), "d--", color=ax.lines[-2].get_color(), alpha=0.5, label="layerpipe, not queued")
        ax.set(xlabel="link bandwidth (Gb/s)", ylabel="ms per micro-batch", title=f"VGG-16, P = {p}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small", title="dotted: free communication", title_fontsize="small")
    fig.suptitle("messages queue on their links; dashed: LayerPipe if they did not", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="the results file (default: in the output folder)")
    parser.add_argument("--figure", default=None, help="the figure (default: in the output folder)")
    add_output_options(parser)
    args = parser.parse_args(argv)
    json_path = output_path(parser, args, "layerpipe_bandwidth.json", explicit=args.json)
    figure = output_path(parser, args, "layerpipe_bandwidth.png", explicit=args.figure)
    result = simulate_all()
    for table in result["tables"].values():
        print(table["title"])
        print(" | ".join(table["columns"]))
        for row in table["rows"]:
            print(" | ".join(row))
        print()
    write_results(json_path, results_record("layerpipe_bandwidth", COMMAND, **result))
    plot(result, str(figure))
    finish(args, json_path, figure)


if __name__ == "__main__":
    main()
