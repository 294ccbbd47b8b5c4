"""Run under torchrun by tests/test_backends_distributed.py: the distributed backend against serial.

Each rank computes the serial reference itself (every rank holds the whole model), runs the
same computation through the distributed backend, and writes what it measured to
``OUT_DIR/rank{r}.json``. Usage: ``torchrun ... distributed_worker.py MODE OUT_DIR``; MODE ``mgrit``
runs MGRIT's cases (tests/mgrit_layers.py) and records every backend map's slices per rank.
"""

import copy
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

from parareal_toolkit import TimeGrid, parareal
from parareal_toolkit.backends.distributed import (
    DistributedBackend,
    DistributedError,
    collective,
    init_distributed,
    process_group,
)
from parareal_toolkit.nn import PararealNetwork
from parareal_toolkit.ode import ImplicitEulerPropagator, heat_1d


def block(width, dtype):
    return nn.Sequential(nn.Linear(width, width, dtype=dtype), nn.Tanh(), nn.Linear(width, width, dtype=dtype))


def small_network(dtype, n=5, width=6, form="correction", iterations=2):
    torch.manual_seed(1234)  # identical on every rank
    pre = [nn.Linear(3, width, dtype=dtype) for _ in range(n)]
    subs = [block(width, dtype) for _ in range(n)]
    coarse = [nn.Linear(width, width, bias=False, dtype=dtype) for _ in range(n - 1)]
    post = nn.Sequential(nn.Tanh(), nn.Linear(width, 2, dtype=dtype))
    return PararealNetwork(pre, subs, coarse, post, iterations=iterations, form=form)


def compare_network(backend, dtype, form):
    serial = small_network(dtype, form=form)
    distributed = copy.deepcopy(serial)
    distributed.backend = backend
    x = torch.randn(4, 3, dtype=dtype, generator=torch.Generator().manual_seed(7))
    out_serial = serial(x)
    out_serial.square().sum().backward()
    out_dist = distributed(x)
    out_dist.square().sum().backward()
    n = serial.num_subnetworks
    owned, replicated, others, grad_scale = [], [], [], 0.0
    for name, p_serial in serial.named_parameters():
        p_dist = dict(distributed.named_parameters())[name]
        part, index = name.split(".")[:2]
        if part in ("coarse", "postprocess"):
            group = replicated
        elif backend.owner(int(index), n) == backend.rank:
            group = owned
        else:
            group = others
        if group is others:
            others.append(p_dist.grad is None)
        else:
            # None and zeros both mean "no influence" (with K >= 2 some C^j drop out)
            g_dist = p_dist.grad if p_dist.grad is not None else torch.zeros_like(p_dist)
            g_serial = p_serial.grad if p_serial.grad is not None else torch.zeros_like(p_serial)
            group.append(float((g_dist - g_serial).abs().max()))
            grad_scale = max(grad_scale, float(g_serial.abs().max()))
    with torch.no_grad():
        eval_diff = float((distributed(x) - serial(x)).abs().max())
    return {
        "output": float((out_dist - out_serial).abs().max()),
        "owned_grads": max(owned, default=0.0),
        "replicated_grads": max(replicated, default=0.0),
        "num_owned": len(owned),
        "others_untouched": all(others),
        "no_grad_output": eval_diff,
        "output_scale": float(out_serial.abs().max()),
        "grad_scale": grad_scale,
    }


def compare_ode(backend):
    problem = heat_1d(16)
    grid = TimeGrid([0.0, 0.01, 0.02, 0.04, 0.05, 0.07, 0.1])
    fine = ImplicitEulerPropagator(problem.ode, grid, substeps=20)
    coarse = ImplicitEulerPropagator(problem.ode, grid)
    result = {}
    for form in ("standard", "correction"):
        serial = parareal(fine, coarse, problem.u0, iterations=3, form=form, backend="serial")
        dist = parareal(fine, coarse, problem.u0, iterations=3, form=form, backend=backend)
        result[form] = max(float(np.abs(a - b).max()) for a, b in zip(serial.states, dist.states))
    return result


def first_error(out_dir):
    """Rank 0 fails inside a process group; the others wait for it in a barrier.

    Rank 0 must report its own error (no barrier or teardown on its way out replaces it), the
    others a DistributedError within the timeout.
    """
    report = {}
    started = time.perf_counter()
    try:
        with process_group("gloo", timeout=float(os.environ["PARAREAL_TEST_TIMEOUT"])) as (rank, world):
            report.update(rank=rank, world_size=world)
            if rank == 0:
                raise ValueError("rank 0's own failure")
            collective(torch.distributed.barrier)
    except Exception as exc:
        report.update(error_type=type(exc).__name__, error=str(exc), seconds=time.perf_counter() - started)
    report["initialized_after"] = torch.distributed.is_initialized()
    with open(os.path.join(out_dir, f"rank{report['rank']}.json"), "w") as fh:
        json.dump(report, fh)
    os._exit(3 if "error" in report else 0)


def main():
    mode, out_dir = sys.argv[1], sys.argv[2]
    if mode == "first-error":
        first_error(out_dir)
    rank, world = init_distributed("gloo", timeout=float(os.environ.get("PARAREAL_TEST_TIMEOUT", "120")))
    torch.set_num_threads(1)
    backend = DistributedBackend()
    report = {"rank": rank, "world_size": world}
    if mode == "equivalence":
        report["ode"] = compare_ode(backend)
        report["float64"] = {form: compare_network(backend, torch.float64, form) for form in ("correction", "standard")}
        report["float32"] = compare_network(backend, torch.float32, "correction")
        # synchronize: after a step on owners only, every rank holds the owners' values
        net = small_network(torch.float64)
        net.backend = backend
        net(torch.ones(2, 3, dtype=torch.float64)).sum().backward()
        with torch.no_grad():
            for p in net.parameters():
                if p.grad is not None:
                    p -= 0.1 * p.grad
        backend.synchronize(net)
        flat = torch.cat([p.detach().flatten() for p in net.parameters()])
        gathered = [torch.empty_like(flat) for _ in range(world)]
        torch.distributed.all_gather(gathered, flat)
        report["synchronized"] = all(torch.equal(gathered[0], g) for g in gathered)
    elif mode == "mgrit":
        from mgrit_layers import distributed_report

        report["mgrit"] = distributed_report()
    elif mode == "silent-rank":
        if rank == world - 1:
            time.sleep(float(os.environ.get("PARAREAL_TEST_SILENCE", "60")))  # never joins the sweep
            return
        problem = heat_1d(8)
        grid = TimeGrid.uniform(0.1, 4)
        fine = ImplicitEulerPropagator(problem.ode, grid, substeps=4)
        started = time.perf_counter()
        try:
            parareal(fine, ImplicitEulerPropagator(problem.ode, grid), problem.u0, iterations=2, backend=backend)
        except DistributedError as exc:
            report["error"] = str(exc)
            report["seconds"] = time.perf_counter() - started
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
            json.dump(report, fh)
        os._exit(3 if "error" in report else 0)  # the process group is broken: no clean shutdown
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
        json.dump(report, fh)
    torch.distributed.barrier()  # leave together: a rank exiting under a live peer aborts in gloo
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
