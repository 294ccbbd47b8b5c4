"""
LayerPipe against PipeDream: Gantt charts and cycle counts
==========================================================

LayerPipe (Unnikrishnan & Parhi 2021) splits the backward pass of every layer into the
activation gradient ``A_l`` (on the critical backward chain) and the weight gradient
``G_l`` (off it), runs them on different processors, and balances the load across
processors layer by layer; PipeDream pipelines whole contiguous stages with 1F1B and weight
stashing. Both are asynchronous: every micro-batch is a training step with delayed
gradients.

The toolkit simulates both cycle by cycle on VGG-16's layer shapes (one multiply-add = one
cycle, free communication). Only LayerPipe's abstract is available, so the reading is the
toolkit's (see :mod:`parareal_toolkit.layerpipe`). The abstract claims a speedup of
:value:`.0% parareal_toolkit.layerpipe:PAPER_AVERAGE_SPEEDUP - 1` over PipeDream on average and
upwards of :value:`.0% parareal_toolkit.layerpipe:PAPER_PEAK_SPEEDUP - 1` with 7 to 9 processors;
the last figure puts the simulated speedups beside those claims.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from parareal_toolkit.layerpipe import (
    PAPER_AVERAGE_SPEEDUP,
    PAPER_PEAK_SPEEDUP,
    compare,
    evaluate,
    plot_gantt,
    vgg16_profile,
)
from parareal_toolkit.plotting import show_or_save

QUICK = os.environ.get("PARAREAL_DOCS_QUICK", "0") not in ("", "0")
PROCESSORS = (2, 4, 6, 7, 8, 9) if QUICK else tuple(range(2, 10))
P_GANTT = 7

profile = vgg16_profile()
print(f"{profile.name}: {len(profile)} layers, {profile.total:.4g} {profile.unit}s per sample (F + A + G)")

# %%
# Gantt charts at P = 7
# ---------------------
# One row per processor; colours are task kinds (F forward, A activation gradient, G weight
# gradient, B a whole backward; the legend right of each chart says so), numbers are
# micro-batches, written where they fit. The asynchronous schedules are drawn over their
# first eight steady-state periods; the synchronous 1F1B (PipeDream-Flush) over one step of
# eight micro-batches, bubbles included.
fig, axes = plt.subplots(3, 1, figsize=(10, 10.5))
for ax, name in zip(axes, ("pipedream", "layerpipe", "1f1b")):
    row, trace = evaluate(name, profile, P_GANTT, microbatches=8, return_trace=True)
    span = 8 * row["cycles_per_microbatch"] if row["asynchronous"] else None
    plot_gantt(
        trace,
        ax=ax,
        max_time=span,
        title=f"{name}, P = {P_GANTT}: {row['cycles_per_microbatch']:.3g} cycles per micro-batch, "
        f"utilisation {row['utilisation']:.0%}",
    )
fig.tight_layout()
show_or_save(fig, "plot_layerpipe_gantt_1")

# %%
# Cycles per micro-batch against PipeDream
# ----------------------------------------
# ``compare`` simulates every schedule at every ``P`` and divides PipeDream's cycles by each
# schedule's. The synchronous schedules pay for their flush (bubbles) but have no stale
# gradients; they are shown for scale.
schedules = ("pipedream", "layerpipe", "1f1b", "zb-h1")
rows = compare(profile, PROCESSORS, schedules, microbatches=8)
print(f"{'P':>2}  " + "  ".join(f"{s:>10}" for s in schedules) + "   LayerPipe comm / PipeDream comm")
for p in PROCESSORS:
    at_p = {r["schedule"]: r for r in rows if r["processors"] == p}
    comm = at_p["layerpipe"]["communication_per_microbatch"] / at_p["pipedream"]["communication_per_microbatch"]
    print(f"{p:>2}  " + "  ".join(f"{at_p[s]['speedup']:10.3f}" for s in schedules) + f"   {comm:.2f}")
layerpipe = np.array([r["speedup"] for r in rows if r["schedule"] == "layerpipe"])
peak = max(r["speedup"] for r in rows if r["schedule"] == "layerpipe" and 7 <= r["processors"] <= 9)
print(
    f"LayerPipe over PipeDream: mean {layerpipe.mean():.3f} (claimed {PAPER_AVERAGE_SPEEDUP}), "
    f"max at P = 7..9 {peak:.3f} (claimed >= {PAPER_PEAK_SPEEDUP})"
)

fig, ax = plt.subplots(figsize=(7.5, 4.4))
for name, marker in zip(schedules, "osd^"):
    ax.plot(PROCESSORS, [r["speedup"] for r in rows if r["schedule"] == name], marker + "-", label=name)
ax.axhline(
    PAPER_AVERAGE_SPEEDUP, color="tab:orange", ls="--", lw=1, label=f"claimed average ({PAPER_AVERAGE_SPEEDUP:g})"
)
ax.fill_between(
    [7, 9],
    PAPER_PEAK_SPEEDUP,
    PAPER_PEAK_SPEEDUP + 0.1,
    color="tab:orange",
    alpha=0.3,
    label=f"claimed at P = 7..9 (>= {PAPER_PEAK_SPEEDUP:g})",
)
ax.set(xlabel="processors P", ylabel="speedup over PipeDream (cycles)", title="VGG-16, free communication")
ax.grid(True, alpha=0.3)
ax.legend(fontsize="small")
show_or_save(fig, "plot_layerpipe_gantt_2")
