"""Accuracy cost of delayed gradients (PipeDream/LayerPipe staleness) on a small task.

Three-class spirals, a 6-weight-layer tanh MLP, SGD lr 0.5, batch 32, 400 steps, 3 seeds.
Delays S(l) = layers after l (one pipeline stage per layer: the largest staleness).
Prints held-out accuracy per mode and writes layerpipe_staleness.json into ./benchmark-output/
(with --update-results: the committed benchmarks/layerpipe_staleness.json).
"""

import argparse
import json
import math
import os
import sys
from pathlib import Path

import torch

from parareal_toolkit.layerpipe import DelayedGradientTrainer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/_output.py, also when loaded by path
from _output import add_output_options, finish, output_path


def spirals(n, gen):
    t = torch.rand(n, generator=gen) * 3 * math.pi
    k = torch.randint(0, 3, (n,), generator=gen)
    angle = t + k * 2 * math.pi / 3
    x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], 1) / (3 * math.pi)
    return x + 0.02 * torch.randn(x.shape, generator=gen), k


def model(seed):
    torch.manual_seed(seed)
    widths = [2, 32, 32, 32, 32, 32, 3]
    layers = []
    for i in range(6):
        layers.append(
            torch.nn.Sequential(torch.nn.Linear(widths[i], widths[i + 1]), *([torch.nn.Tanh()] if i < 5 else []))
        )
    return torch.nn.Sequential(*layers)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_output_options(parser)
    args = parser.parse_args(argv)
    # the committed copy sits beside this script
    path = output_path(parser, args, "layerpipe_staleness.json", committed=Path(__file__).resolve().parent)
    results = {}
    for mode in ("zero delay (SGD)", "delayed, weight stashing", "delayed, no stashing"):
        accs = []
        for seed in range(3):
            gen = torch.Generator().manual_seed(seed)
            xs, ys = spirals(400 * 32, gen)
            xt, yt = spirals(2000, gen)
            net = model(seed)
            delays = [0] * 6 if mode.startswith("zero") else [5 - l for l in range(6)]
            trainer = DelayedGradientTrainer(
                net, delays, 0.5, torch.nn.functional.cross_entropy, weight_stashing="no stashing" not in mode
            )
            trainer.fit((xs[i : i + 32], ys[i : i + 32]) for i in range(0, len(xs), 32))
            with torch.no_grad():
                accs.append(float((net(xt).argmax(1) == yt).float().mean()))
        results[mode] = accs
        print(f"{mode:28s} accuracy {sum(accs) / 3:.3f}  (seeds: {', '.join(f'{a:.3f}' for a in accs)})")
    path.write_text(json.dumps(results, indent=1))
    finish(args, path)


if __name__ == "__main__":
    main()
