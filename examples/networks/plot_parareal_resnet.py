"""
A Parareal ResNet against its sequential twin
=============================================

The seed paper trains Parareal ResNet-``N`` (ResNet-1001 cut into ``N`` subnetworks that run
in parallel, linked by small coarse networks ``F^j``) on CIFAR. The same recipe at teaching
size: a pre-activation ResNet-20 (six bottleneck units; ResNet-11, three units, in the quick
build) and its Parareal version with ``N = 3`` subnetworks and one-unit coarse networks, trained with the toolkit's loop
(:func:`~parareal_toolkit.training.train`) on ``patterns``, a synthetic CIFAR-shaped data
set with one smooth pattern per class plus pixel noise, learnable in a few epochs on a CPU.

Both runs use the same seed, data order and recipe (SGD, momentum 0.9, weight decay 5e-4);
only the model differs. CIFAR itself and the paper's depth need a GPU: see
:doc:`/reproducing`.
"""

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from parareal_toolkit.nn import parareal_resnet_plan, parareal_resnet_table
from parareal_toolkit.training import TrainConfig, plot_training_curves, train

QUICK = os.environ.get("PARAREAL_DOCS_QUICK", "0") not in ("", "0")
DEPTH = 11 if QUICK else 20
N = 3
COARSE_UNITS = 1  # the seed's ceil(12 / N) = 4 units would outweigh subnetworks of 1-2 units
EPOCHS = 3 if QUICK else 5
TRAIN_SIZE, TEST_SIZE = (256, 128) if QUICK else (512, 256)

# %%
# The two models
# --------------
# ``parareal_resnet_plan`` says where every residual unit goes and
# ``parareal_resnet_table`` counts the parameters of each part: the subnetworks
# ``g^j`` share the ResNet's units, each ``C^j`` (``j > 1``) is a strided 1x1 convolution
# of the image, and each ``F^j`` has ``COARSE_UNITS`` units shaped like ``g^{j+1}``'s first
# (the paper uses ``ceil(12 / N)``, small beside its 111-unit subnetworks).
plan = parareal_resnet_plan(DEPTH, num_subnetworks=N, coarse_units=COARSE_UNITS)
print(f"units per subnetwork: {plan.units_per_subnetwork}; coarse units: {plan.coarse_units}")
print(f"{'model':<22} {'parameters':>10} {'largest g^j':>11} {'coarse':>8} {'preprocessing':>13}")
for row in parareal_resnet_table(DEPTH, (N,), coarse_units=COARSE_UNITS):
    name = f"ResNet-{DEPTH}" if row["num_subnetworks"] is None else f"Parareal, N = {row['num_subnetworks']}"
    print(
        f"{name:<22} {row['parameters']:>10,} {row['largest_subnetwork_parameters']:>11,} "
        f"{row['coarse_parameters']:>8,} {row['preprocess_parameters']:>13,}"
    )

# %%
# Training both
# -------------
# ``train`` writes a checkpoint and ``metrics.jsonl`` to ``output_dir`` every epoch; here a
# temporary folder. No learning-rate drops and no augmentation: the runs are short.
runs = {}
with tempfile.TemporaryDirectory() as tmp:
    for name, model in (("resnet", "resnet"), (f"parareal, N = {N}", "parareal-resnet")):
        config = TrainConfig(
            model=model,
            depth=DEPTH,
            subnetworks=N,
            coarse_units=COARSE_UNITS,
            dataset="patterns",
            train_size=TRAIN_SIZE,
            test_size=TEST_SIZE,
            epochs=EPOCHS,
            batch_size=32,
            lr=0.05,
            milestones=[],
            augment=False,
            workers=0,
            device="cpu",
            seed=0,
            output_dir=str(Path(tmp) / model),
        )
        summary = train(config, progress=False)
        runs[name] = Path(config.output_dir)
        print(
            f"{name:<16} final test error {100 * summary['final_test_error']:5.1f}% "
            f"(best {100 * summary['best_test_error']:.1f}%), {summary['wall_time_s']:.1f} s"
        )
    fig = plot_training_curves(list(runs.values()), labels=list(runs))
    fig.suptitle(f"ResNet-{DEPTH} and Parareal ResNet-{DEPTH} (N = {N}) on 'patterns', {EPOCHS} epochs")
    fig.tight_layout()

# %%
# On CIFAR the seed paper reports the Parareal ResNets *below* the error of ResNet-1001
# (e.g. 4.35% against 5.03% on CIFAR-10 with N = 6); a run this small only shows that the
# parareal network trains like its twin, not which one generalises better.
plt.show()
