"""
Proposition 1: where it holds and where it fails
================================================

The parareal network of Lee, Park & Lee replaces ``f = h ∘ g^N ∘ ... ∘ g^1 ∘ C`` by

``z_1 = g^1(C(x))``, ``z_{j+1} = g^{j+1}(C^{j+1}(x)) + F^j(z_j - C^{j+1}(x))``, ``f~(x) = h(z_N)``,

one correction-form parareal iteration. **Proposition 1**: if ``F^j = g^{j+1}`` and
``g^2..g^N`` are linear (bias-free), then ``f~ = f`` for *every* choice of the guesses
``C^j``, because ``g(a) + g(b - a) = g(b)``. This script checks it on random networks and
shows the three ways it fails: biases (counted twice), nonlinear blocks, and coarse
networks with ``F(0) != 0`` (BatchNorm in evaluation mode), even though ``F^j = g^{j+1}``
in every case. It closes with the toolkit's extension: ``iterations = N`` recovers ``f``.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
import torch

from parareal_toolkit.nn import exact_coarse, linear_network, to_parareal
from parareal_toolkit.plotting import semilogy_errors, show_or_save
from parareal_toolkit.verification.configurations import ConfigurationSpec
from parareal_toolkit.verification.proposition1 import verify_proposition1

QUICK = os.environ.get("PARAREAL_DOCS_QUICK", "0") not in ("", "0")
EXAMPLES = 10 if QUICK else 50

# %%
# One linear network, split three ways
# ------------------------------------
# ``to_parareal`` cuts an ``nn.Sequential`` into subnetworks; ``exact_coarse`` makes
# ``F^j`` a copy of ``g^{j+1}``; the guesses ``C^j`` default to copies of ``C``, which are
# wrong guesses of the states ``z_{j-1}``, and still the output is exact.
g = torch.Generator().manual_seed(0)
model = linear_network("dense", num_blocks=6, width=8, in_channels=3, out_features=2, generator=g).eval()
x = torch.randn(16, 3, dtype=torch.float64, generator=g)
for n in (2, 3, 6):
    net = to_parareal(model, n, coarse_factory=exact_coarse).eval()
    with torch.no_grad():
        print(f"N = {n}: max |f~(x) - f(x)| = {(net(x) - model(x)).abs().max().item():.1e}")

# %%
# Random configurations of each case
# ----------------------------------
# :func:`~parareal_toolkit.verification.proposition1.verify_proposition1` draws random configurations (dense,
# 1x1 and 3x3 convolutions, random splits and guesses, float64) and measures the relative
# gap ``max|f~ - f| / max(max|f|, max|f~|)``; it is what ``parareal verify`` prints.
results = verify_proposition1(examples=EXAMPLES, seed=0)
print(f"{'case':<12} {'expected':>8}  {'max relative gap':>16}  violations")
for r in results:
    expected = "holds" if r.case.expected_to_hold else "fails"
    print(f"{r.case.name:<12} {expected:>8}  {r.worst.relative_gap:16.2e}  {r.violations}/{len(r.examples)}")

fig, ax = plt.subplots(figsize=(7.5, 4.4))
for i, r in enumerate(results):
    gaps = np.array([e.relative_gap for e in r.examples])
    jitter = np.random.default_rng(i).uniform(-0.15, 0.15, gaps.size)
    semilogy_errors(
        ax, i + jitter, gaps, "o", ms=4, alpha=0.7, color="tab:green" if r.case.expected_to_hold else "tab:red"
    )
ax.axhline(1e-10, color="k", ls="--", lw=0.8, label="rtol = 1e-10")
ax.set_xticks(range(len(results)), [r.case.name for r in results])
ax.set(
    ylabel="relative gap |f~ - f| (exact 0 on the axis floor)",
    title=f"Proposition 1 on {EXAMPLES} random networks per case",
)
ax.grid(True, axis="y", which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
show_or_save(fig, "plot_proposition1_1")

# %%
# More iterations recover f
# -------------------------
# Running the driver for ``K`` iterations re-runs the subnetworks from corrected states; after
# ``K = N`` iterations the output is exact for any subnetworks when every ``F^j(0) = 0``
# (ReLU blocks with ``F^j = g^{j+1}``), and with the standard form even when
# ``F^j(0) != 0`` (BatchNorm). The gap per iteration:
cases = {
    "ReLU, correction form": dict(block="relu", form="correction"),
    "BatchNorm, correction form": dict(block="linear", batchnorm=True, form="correction"),
    "BatchNorm, standard form": dict(block="linear", batchnorm=True, form="standard"),
}
n = 4


def gaps_per_iteration(options, n=4, seed=3):
    """The relative gap ``|f~ - f|`` of one random dense network after ``K = 1..n`` iterations.

    Returns
    -------
    list of float
        One gap per ``K``.
    """
    gaps = []
    for k in range(1, n + 1):
        spec = ConfigurationSpec(
            kind="dense", width=4, sizes=(1,) * n, preprocessing="random", iterations=k, seed=seed, **options
        )
        gaps.append(spec.build().gap()[1])
    return gaps


fig, ax = plt.subplots(figsize=(6.4, 4.4))
for label, options in cases.items():
    gaps = gaps_per_iteration(options)
    print(f"{label:<28}: " + "  ".join(f"K={k}: {gap:.1e}" for k, gap in enumerate(gaps, start=1)))
    semilogy_errors(ax, range(1, n + 1), gaps, "o-", label=label)
ax.set(xlabel="parareal iterations K", ylabel="relative gap |f~ - f|", title=f"N = {n} subnetworks")
ax.set_xticks(range(1, n + 1))
ax.grid(True, which="both", alpha=0.3)
ax.legend()
show_or_save(fig, "plot_proposition1_2")
