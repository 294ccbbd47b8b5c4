"""Run under torchrun: train the configuration given as JSON on the command line.

``python -m torch.distributed.run --nproc-per-node R tests/slice_parallel_worker.py CONFIG``
where CONFIG is a JSON object of :class:`~parareal_toolkit.training.TrainConfig` fields
(a list, JSON, which the command line of ``parareal train`` would need quoting for).
"""

import json
import sys

import torch

from parareal_toolkit.training import TrainConfig, train

if __name__ == "__main__":
    torch.set_num_threads(1)
    (text,) = sys.argv[1:]
    train(TrainConfig(**json.loads(text)), progress=False)
