"""Everything GPU-specific in one short run: Table 2, peak memory, bf16 throughput, the devices placement.

GPU time comes in short windows, so this one script measures, on one GPU, in under 8 minutes:

1. ``table2``: the seed's Table 2 for Parareal ResNet-1001 at N = 1, 3, 6, 12, 18, 24, batch
   128, CUDA events, for the seed's unit split and the balanced cost split, with the coarse
   chain run eagerly (``table2``) and compiled (``table2_compiled``: ``torch.compile`` with
   CUDA graphs, the cheap coarse chain that the seed's collapse at N = 24 asks for); each row
   with the activation memory of every device (bytes saved for backward) and the GPU's peak
   allocated memory of the whole table;
2. ``throughput``: training throughput (images/s of full SGD steps) of ResNet-1001 against
   Parareal ResNet-18 in bf16 autocast, channels-last, on CIFAR-shaped synthetic data, with
   the peak memory of each;
3. ``devices``: a forward+backward of Parareal ResNet-N through ``DevicesBackend(["cuda:0"])``
   (the placement ``parareal train --placement devices`` uses), timed, and its output
   compared with the network's own forward.

Each section has a time budget; one that overruns is stopped (``SIGALRM``) and recorded as
skipped with the reason, so the whole suite fits its window. It writes
``gpu_suite_<device-slug>.json`` (results format, ``machine`` naming the GPU) and
``gpu_suite_<device-slug>.png`` into ``--out``. ``--smoke`` runs the same code on the CPU at
tiny sizes (depth 20, batch 2, N = 1, 2, 3) in a few seconds; the test suite runs it.

    python benchmarks/gpu_suite.py --update-results      # on the GPU machine, writes benchmarks/results/
    python benchmarks/gpu_suite.py --smoke --out /tmp/x  # anywhere
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shlex
import signal
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch._inductor.config as inductor_config
from torch import nn

from parareal_toolkit.backends.devices import DevicesBackend
from parareal_toolkit.bench import table2
from parareal_toolkit.bench.unit_costs import fit_unit_costs_to_timings, measure_unit_costs
from parareal_toolkit.nn import parareal_resnet, preact_resnet
from parareal_toolkit.results import results_record, results_table, write_results

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path

FULL = {
    "depth": 1001,
    "batch_size": 128,
    "subnetworks": [1, 3, 6, 12, 18, 24],
    "repeats": 5,
    "warmup": 3,
    "throughput_subnetworks": 18,
    "throughput_steps": 10,
    "devices_subnetworks": 6,
    # seconds; together under 8 minutes with the start-up
    "budgets": {"table2": 110, "table2_compiled": 170, "throughput": 90, "devices": 40},
}
SMOKE = {
    "depth": 20,
    "batch_size": 2,
    "subnetworks": [1, 2, 3],
    "repeats": 1,
    "warmup": 1,
    "throughput_subnetworks": 3,
    "throughput_steps": 2,
    "devices_subnetworks": 3,
    # torch.compile on a CPU takes minutes on a busy machine: the compiled table usually overruns
    # here and is recorded as skipped, which is what the smoke test checks it can do
    "budgets": {"table2": 60, "table2_compiled": 8, "throughput": 60, "devices": 60},
}


class SectionTimeout(Exception):
    """A section ran past its budget."""


@contextlib.contextmanager
def budget(seconds: float, expired: list[bool]) -> Iterator[None]:
    """Raise :class:`SectionTimeout` in this thread after ``seconds`` of wall time (and set ``expired[0]``).

    The flag tells an overrun from a failure when a library wraps the exception in its own
    (``torch.compile`` turns it into an ``InductorError``).
    """

    def expire(signum, frame):
        expired[0] = True
        raise SectionTimeout(f"overran its budget of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    # again every second after the first: a library that swallows the exception (torch.compile
    # falls back to eager on errors while compiling) gets it again until the section ends
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_section(name: str, seconds: float, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``work()``'s result with its wall time, or ``{"skipped": reason}`` if it overran or failed."""
    print(f"[{name}] budget {seconds:g} s ...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    expired = [False]
    try:
        with budget(seconds, expired):
            result = work()
        if expired[0]:  # finished only after a swallowed timeout: over budget, and maybe not what was asked
            raise SectionTimeout(f"overran its budget of {seconds:g} s")
    except Exception as exc:  # one broken section must not cost the window of the others
        if expired[0]:
            result = {"skipped": f"overran its budget of {seconds:g} s"}
        else:
            result = {"skipped": f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
            traceback.print_exc()
    result["seconds"] = time.perf_counter() - began
    result["budget_s"] = seconds
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    print(f"[{name}] {result.get('skipped', 'done')} in {result['seconds']:.1f} s", file=sys.stderr, flush=True)
    return result


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: torch.device) -> int | None:
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None


def table2_section(sizes: dict, device: torch.device, *, compile_coarse: bool) -> dict[str, Any]:
    """Table 2 for both splits, with the peak memory of each.

    Unit costs: measured first (:func:`measure_unit_costs`); the cost split's are refitted to
    the units split's timed subnetworks where those determine every shape (as
    ``benchmarks/table2.py`` does).
    """
    unit_costs = measure_unit_costs(
        sizes["depth"], batch_size=sizes["batch_size"], device=device, repeats=sizes["repeats"], warmup=sizes["warmup"]
    )
    splits: dict[str, Any] = {}
    units_rows: tuple = ()
    source = "measured apart (measure_unit_costs)"
    for split in ("units", "cost"):
        if split == "cost":
            try:
                unit_costs = fit_unit_costs_to_timings(sizes["depth"], units_rows)
                source = "fitted to the units split's timed subnetworks"
            except ValueError:  # too few N to determine every shape
                pass
        _peak_reset(device)
        table = table2(
            sizes["subnetworks"],
            depth=sizes["depth"],
            batch_size=sizes["batch_size"],
            device=device,
            repeats=sizes["repeats"],
            warmup=sizes["warmup"],
            compile_coarse=compile_coarse,
            split=split,
            unit_costs=unit_costs,
            clock="wall",
        )
        report = table.as_dict()
        report["peak_allocated_bytes"] = _peak(device)
        splits[split] = report
        units_rows = table.rows
    return {"splits": splits, "cost_split_unit_costs": source}


def _sgd_step_seconds(model: nn.Module, images, labels, *, steps: int, warmup: int, device: torch.device) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for step in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        began = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= warmup:
            times.append(time.perf_counter() - began)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"non-finite loss {loss.item()} at step {step}")
    return statistics.median(times)


def throughput_section(sizes: dict, device: torch.device) -> dict[str, Any]:
    """images/s of SGD steps, bf16 autocast and channels-last, ResNet against Parareal ResNet-N."""
    generator = torch.Generator().manual_seed(0)
    batch = sizes["batch_size"]
    images = torch.randn(batch, 3, 32, 32, generator=generator).to(device, memory_format=torch.channels_last)
    labels = torch.randint(10, (batch,), generator=generator).to(device)
    n = sizes["throughput_subnetworks"]
    models = {
        f"ResNet-{sizes['depth']}": lambda: preact_resnet(sizes["depth"]),
        f"Parareal ResNet-{n} (units split)": lambda: parareal_resnet(sizes["depth"], num_subnetworks=n),
    }
    rows = []
    for name, build in models.items():
        torch.manual_seed(0)
        model = build().to(device, memory_format=torch.channels_last).train()
        _peak_reset(device)
        seconds = _sgd_step_seconds(
            model, images, labels, steps=sizes["throughput_steps"], warmup=sizes["warmup"], device=device
        )
        rows.append(
            {"model": name, "step_s": seconds, "images_per_s": batch / seconds, "peak_allocated_bytes": _peak(device)}
        )
        del model
    return {"batch_size": batch, "precision": "bf16 autocast", "memory_format": "channels_last", "rows": rows}


def devices_section(sizes: dict, device: torch.device) -> dict[str, Any]:
    """Forward+backward of Parareal ResNet-N through ``DevicesBackend([device])``, and its output checked."""
    n = sizes["devices_subnetworks"]
    torch.manual_seed(0)
    network = parareal_resnet(sizes["depth"], num_subnetworks=n)
    backend = DevicesBackend([device])
    backend.place(network)
    x = torch.randn(sizes["batch_size"], 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
    network.eval()
    with torch.no_grad():
        difference = (network.forward_on(x, backend) - network(x)).abs().max().item()
    network.train()
    times = []
    for step in range(sizes["warmup"] + sizes["repeats"]):
        network.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        began = time.perf_counter()
        network.forward_on(x, backend).sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= sizes["warmup"]:
            times.append(time.perf_counter() - began)
    return {
        "num_subnetworks": n,
        "devices": [str(d) for d in backend.devices],
        "forward_backward_s": statistics.median(times),
        "max_abs_difference_from_forward": difference,
    }


def device_slug(name: str) -> str:
    """``"NVIDIA H200"`` -> ``"nvidia-h200"``: the device's name as a file-name part."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "device"


def _tables(sections: dict[str, Any], what: str) -> dict[str, Any]:
    tables = {}
    for key in ("table2", "table2_compiled"):
        section = sections[key]
        if "splits" not in section:
            continue
        rows = []
        for split, report in section["splits"].items():
            for row in report["rows"]:
                memory = row.get("memory_per_device")
                rows.append(
                    [
                        str(row["num_subnetworks"]),
                        split,
                        f"{row['preprocess_max']:.5f}",
                        f"{row['subnetworks_max']:.5f}",
                        "-" if row["coarse"] is None else f"{row['coarse']:.5f}",
                        f"{row['postprocess']:.5f}",
                        f"{row['virtual_total']:.5f}",
                        f"{row['speedup']:.2f}x",
                        f"{row['bound']:.2f}",
                        f"{row['fraction_of_bound']:.0%}",
                        "-" if memory is None else f"{memory * row['num_subnetworks']:.2f}",
                        f"{max(row['activation_bytes']) / 2**20:.1f}" if row["activation_bytes"] else "-",
                        "-"
                        if row["chain_activation_bytes"] is None
                        else f"{row['chain_activation_bytes'] / 2**20:.1f}",
                    ]
                )
        compiled = "coarse chain compiled (torch.compile, CUDA graphs)" if key.endswith("compiled") else "eager"
        tables[key] = results_table(
            f"{what}: Table 2, forward+backward seconds per part, {compiled}; memory x N: N times the largest "
            "device's saved-for-backward bytes over the sequential network's; MiB: saved for backward",
            [
                "N",
                "split",
                "Preprocessing",
                "Parallel subnetworks",
                "Coarse network",
                "Postprocessing",
                "Total",
                "speedup",
                "bound",
                "of bound",
                "memory x N",
                "largest device MiB",
                "chain + post MiB",
            ],
            rows,
        )
    if "rows" in sections["throughput"]:
        tables["throughput"] = results_table(
            f"{what}: training throughput, bf16 autocast, channels-last, synthetic CIFAR-shaped data",
            ["model", "step s", "images/s", "peak MiB"],
            [
                [
                    r["model"],
                    f"{r['step_s']:.4f}",
                    f"{r['images_per_s']:.1f}",
                    "-" if r["peak_allocated_bytes"] is None else f"{r['peak_allocated_bytes'] / 2**20:.0f}",
                ]
                for r in sections["throughput"]["rows"]
            ],
        )
    if "forward_backward_s" in sections["devices"]:
        d = sections["devices"]
        tables["devices"] = results_table(
            f"{what}: Parareal ResNet-{d['num_subnetworks']} through DevicesBackend({d['devices']})",
            ["forward+backward s", "max |devices - forward|"],
            [[f"{d['forward_backward_s']:.4f}", f"{d['max_abs_difference_from_forward']:.1e}"]],
        )
    tables["sections"] = results_table(
        f"{what}: sections, their budgets and what happened",
        ["section", "budget s", "seconds", "outcome"],
        [[name, f"{s['budget_s']:g}", f"{s['seconds']:.1f}", s.get("skipped", "done")] for name, s in sections.items()],
    )
    return tables


def plot(sections: dict[str, Any], title: str, path: str) -> None:
    """Virtual speedup against N (eager, compiled, bound) and the training throughputs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (speed, through) = plt.subplots(1, 2, figsize=(11, 4))
    for key, style in (("table2", "-"), ("table2_compiled", "--")):
        for split, report in sections[key].get("splits", {}).items():
            ns = [row["num_subnetworks"] for row in report["rows"]]
            speed.plot(
                ns,
                [row["speedup"] for row in report["rows"]],
                "o" + style,
                label=f"{split}, {key.replace('table2_', '') if key != 'table2' else 'eager'}",
            )
            if key == "table2":
                speed.plot(ns, [row["bound"] for row in report["rows"]], ":", color="grey", label=f"bound ({split})")
    speed.set(xlabel="N (subnetworks)", ylabel="virtual speedup", title="Table 2")
    speed.legend(fontsize=7)
    rows = sections["throughput"].get("rows", [])
    through.bar([r["model"] for r in rows], [r["images_per_s"] for r in rows])
    through.set(ylabel="images/s", title="training throughput (bf16, channels-last)")
    through.tick_params(axis="x", labelsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (the test suite runs this)")
    add_output_options(parser)
    parser.add_argument("--budget-scale", type=float, default=1.0, help="multiply every section's budget")
    args = parser.parse_args(argv)
    if not args.budget_scale > 0:
        parser.error(f"--budget-scale must be positive; got {args.budget_scale}")

    if args.smoke:
        sizes, device = SMOKE, torch.device("cpu")
        torch.set_num_threads(1)
        # compile in this process: a pool of compile workers would outlive an overrun section
        # and hold up the exit
        inductor_config.compile_threads = 1
        name = "cpu"
    else:
        if not torch.cuda.is_available():
            print("gpu_suite: no CUDA device here; use --smoke to run the same code on the CPU.", file=sys.stderr)
            return 2
        sizes, device = FULL, torch.device("cuda:0")
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    budgets = {k: v * args.budget_scale for k, v in sizes["budgets"].items()}
    began = time.perf_counter()
    sections = {
        "table2": run_section("table2", budgets["table2"], lambda: table2_section(sizes, device, compile_coarse=False)),
        "table2_compiled": run_section(
            "table2_compiled", budgets["table2_compiled"], lambda: table2_section(sizes, device, compile_coarse=True)
        ),
        "throughput": run_section("throughput", budgets["throughput"], lambda: throughput_section(sizes, device)),
        "devices": run_section("devices", budgets["devices"], lambda: devices_section(sizes, device)),
    }
    what = f"{'smoke run, ' if args.smoke else ''}ResNet-{sizes['depth']}, batch {sizes['batch_size']}, {name}"
    slug = device_slug(name)
    record = results_record(
        "gpu_suite",
        "python "
        + " ".join(shlex.quote(a) for a in ["benchmarks/gpu_suite.py", *(sys.argv[1:] if argv is None else argv)]),
        device=None if args.smoke else name,
        smoke=args.smoke,
        torch=torch.__version__,
        sizes={k: v for k, v in sizes.items() if k != "budgets"},
        total_seconds=time.perf_counter() - began,
        sections=sections,
        tables=_tables(sections, what),
    )
    json_path = output_path(parser, args, f"gpu_suite_{slug}.json")
    figure = output_path(parser, args, f"gpu_suite_{slug}.png")
    write_results(json_path, record)
    plot(sections, what, str(figure))
    print(f"ran in {record['total_seconds']:.0f} s")
    finish(args, json_path, figure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
