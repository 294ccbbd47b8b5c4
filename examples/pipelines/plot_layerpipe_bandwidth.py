"""
LayerPipe against PipeDream when communication costs time
=========================================================

With free communication, PipeDream with stage replication turns VGG-16 into pure data
parallelism at 7 to 9 processors and can beat LayerPipe; but its replicas must all-reduce
their gradients, and LayerPipe's split tasks send data too. Here every link has a
bandwidth and a latency (:class:`parareal_toolkit.layerpipe.Network`): activations and
gradients cost ``latency + bytes / bandwidth`` between processors (bytes from the real
tensor shapes, float32, micro-batches of 32 images) and queue on their link behind the
messages sent before them, and a replicated stage pays a ring
all-reduce, ``2 (r - 1) / r`` times its parameter bytes over the bandwidth plus
``2 (r - 1)`` latencies, after every backward pass. Each processor does 10 TMAC/s.
``benchmarks/layerpipe_bandwidth.py`` writes the full tables.
"""

import os

import matplotlib.pyplot as plt

from parareal_toolkit.layerpipe import Network, evaluate_on_network, vgg16_profile
from parareal_toolkit.plotting import show_or_save

QUICK = os.environ.get("PARAREAL_DOCS_QUICK", "0") not in ("", "0")
BANDWIDTHS = (1, 10, 100, 400) if QUICK else (1, 5, 25, 100, 400)
P = 8
SCHEDULES = ("pipedream", "pipedream-replicated", "layerpipe")

profile = vgg16_profile()

# %%
# Time per micro-batch against link bandwidth at P = 8
# -----------------------------------------------------
# ``evaluate_on_network`` simulates the schedule in seconds on the given network and also
# with free links (``compute_seconds_per_microbatch``, the dotted lines). LayerPipe is
# also drawn with messages that never wait for each other (``contention=False``, dashed):
# the gap is the time its messages spend queueing on the busiest links.
times = {name: [] for name in SCHEDULES}
unqueued = []
free = {}
for gbps in BANDWIDTHS:
    net = Network.from_gigabits(gbps, latency_us=5)
    for name in SCHEDULES:
        row = evaluate_on_network(name, profile, P, net, samples=32, macs_per_second=1e13)
        times[name].append(row["seconds_per_microbatch"] * 1e3)
        free[name] = row["compute_seconds_per_microbatch"] * 1e3
    row = evaluate_on_network("layerpipe", profile, P, net, samples=32, macs_per_second=1e13, contention=False)
    unqueued.append(row["seconds_per_microbatch"] * 1e3)
print(f"{'Gb/s':>6}  " + "  ".join(f"{name:>21}" for name in SCHEDULES) + "  (ms per micro-batch)")
for i, gbps in enumerate(BANDWIDTHS):
    print(f"{gbps:>6g}  " + "  ".join(f"{times[name][i]:>21.2f}" for name in SCHEDULES))

fig, ax = plt.subplots(figsize=(7.5, 4.4))
for name, marker in zip(SCHEDULES, "osd"):
    (line,) = ax.loglog(BANDWIDTHS, times[name], marker + "-", label=name)
    ax.axhline(free[name], color=line.get_color(), ls=":", lw=1)
ax.loglog(BANDWIDTHS, unqueued, "d--", color=line.get_color(), alpha=0.5, label="layerpipe, messages not queued")
ax.set(
    xlabel="link bandwidth (Gb/s), 5 us per message",
    ylabel="ms per micro-batch (32 images)",
    title=f"VGG-16, P = {P}; dotted: free communication",
)
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize="small")
show_or_save(fig, "plot_layerpipe_bandwidth_1")
