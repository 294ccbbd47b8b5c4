"""Fixture: run a test module's small-tensor torch work on one intra-op thread.

On a 2-core machine shared with other processes, OpenMP's second thread spin-waits for a
busy core and a batch-2 forward of a small ResNet can take 100x longer (measured: 2 s
instead of 0.02 s). The tensors in these tests are tiny, so one thread loses nothing.
The previous setting is restored after each test.
"""

import pytest
import torch


@pytest.fixture
def single_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
