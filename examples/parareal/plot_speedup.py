"""
Speedup: the cost model against a real process pool
====================================================

Parareal trades sequential fine work for parallel fine work plus ``K + 1`` sequential coarse
sweeps. With ``α = c_G / c_F`` (one coarse slice over one fine slice), ``N`` slices, ``W``
workers and ``K`` iterations, the model of :func:`~parareal_toolkit.ode.speedup` is

``S = 1 / ((K + 1) α + K ceil(N / W) / N)``,

never more than ``W / K`` and never more than ``1 / ((K + 1) α)``. With the exact
(``expm``) fine propagator ``α > 1`` and parareal cannot win, so here the fine propagator
is *expensive*: ``M_F`` implicit-Euler substeps per slice, against one coarse substep.

The fine sweeps run on a :class:`~parareal_toolkit.backends.ProcessBackend` with two
workers (the documentation is built on a two-core machine), so the best possible speedup
is ``2 / K``. Measured wall-clock times on a shared machine are noisy; the model is the
curve to read, the dots are what this build measured.
"""

import multiprocessing
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from parareal_toolkit import TimeGrid, parareal, propagate_sequentially
from parareal_toolkit.backends import ProcessBackend
from parareal_toolkit.ode import ImplicitEulerPropagator, heat_1d, speedup
from parareal_toolkit.plotting import show_or_save

QUICK = os.environ.get("PARAREAL_DOCS_QUICK", "0") not in ("", "0")
WORKERS = 2
N = 8
FINE_SUBSTEPS = 300 if QUICK else 1000
ITERATIONS = (1, 2, 3) if QUICK else (1, 2, 3, 4)

problem = heat_1d(200)
grid = TimeGrid.uniform(problem.t_final, N)
fine = ImplicitEulerPropagator(problem.ode, grid, substeps=FINE_SUBSTEPS)
coarse = ImplicitEulerPropagator(problem.ode, grid, substeps=1)


def best_of(function, repeats=3):
    """The shortest of ``repeats`` wall-clock times of ``function()`` (the least disturbed run)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


# Build every cached factorisation before anything is timed.
for j in range(N):
    fine(problem.u0, j), coarse(problem.u0, j)
sequential_s, reference = best_of(lambda: propagate_sequentially(fine, problem.u0))
coarse_s, _ = best_of(lambda: propagate_sequentially(coarse, problem.u0))
alpha = coarse_s / sequential_s
print(
    f"sequential fine solve {sequential_s * 1e3:.1f} ms, coarse sweep {coarse_s * 1e3:.2f} ms, "
    f"alpha = c_G / c_F = {alpha:.4f}"
)

# %%
# Measured against the model
# --------------------------
# The pool is started once, outside the timed region (``ProcessBackend.start``), as the
# ``parareal ode --backend processes`` command does. A script without an
# ``if __name__ == "__main__":`` guard must fork its workers: the default ``"spawn"``
# re-imports the main script in every worker.
START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
rows = []
with ProcessBackend(WORKERS, start_method=START_METHOD) as pool:
    pool.start(fine)
    for k in ITERATIONS:
        seconds, result = best_of(
            lambda k=k: parareal(fine, coarse, problem.u0, iterations=k, backend=pool, reference=reference)
        )
        rows.append((k, result.errors[-1], sequential_s / seconds, speedup(alpha, N, k, workers=WORKERS)))

print(f"{'K':>2}  {'error':>9}  {'measured':>8}  {'model':>6}  {'bound W/K':>9}")
for k, error, measured, model in rows:
    print(f"{k:>2}  {error:9.2e}  {measured:8.2f}  {model:6.2f}  {WORKERS / k:9.2f}")

fig, left = plt.subplots(figsize=(6.4, 4.4))
ks = np.array([r[0] for r in rows])
left.plot(ks, [r[3] for r in rows], "s--", label=f"model, W = {WORKERS}")
left.plot(ks, [r[2] for r in rows], "o", ms=8, label=f"measured, W = {WORKERS} processes")
left.plot(ks, WORKERS / ks, ":", color="grey", label="W / K")
left.axhline(1, color="k", lw=0.8)
left.set(
    xlabel="iterations K",
    ylabel="speedup over the sequential fine solve",
    title=f"heat1d m = 200, N = {N}, fine = {FINE_SUBSTEPS} IE substeps",
)
left.set_xticks(ks)
left.grid(True, alpha=0.3)
left.legend()

# %%
# What more workers would buy
# ---------------------------
# The same model with one worker per slice, for several ``α``: the speedup saturates at
# ``1 / ((K + 1) α)``, so a cheap coarse propagator matters as much as the worker count.
show_or_save(fig, "plot_speedup_1")
fig, right = plt.subplots(figsize=(6.4, 4.4))
slices = np.array([2, 4, 8, 16, 32, 64, 128, 256])
for a in (alpha, 0.01, 0.001):
    right.loglog(slices, [speedup(a, int(n), 2) for n in slices], "o-", ms=3, label=f"K = 2, α = {a:.3g}")
right.loglog(slices, slices / 2, ":", color="grey", label="N / K")
right.set(xlabel="workers W = slices N", ylabel="model speedup", title="the cost model, one worker per slice")
right.grid(True, which="both", alpha=0.3)
right.legend(fontsize="small")
fig.tight_layout()
show_or_save(fig, "plot_speedup_2")
