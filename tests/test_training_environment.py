"""A training run leaves every process-wide setting as it found it, also when it fails."""

import os
import random
import signal

import numpy as np
import pytest
import torch
from tiny_runs import tiny_config
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.training import (
    NonFiniteLossError,
    TrainConfig,
    TrainingInterrupted,
    run_environment,
    train,
)

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def tiny(tmp_path, **overrides):
    one_epoch = {"epochs": 1, "train_size": 16, "test_size": 8, "lr": TrainConfig().lr, "milestones": []}
    return tiny_config(tmp_path, "run", **{**one_epoch, **overrides})


def process_globals():
    """Everything process-wide a run could change, listed here independently of the library."""
    numpy_state = np.random.get_state()
    return {
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "deterministic algorithms": torch.are_deterministic_algorithms_enabled(),
        "deterministic warn only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn.benchmark": torch.backends.cudnn.benchmark,
        "cudnn.deterministic": torch.backends.cudnn.deterministic,
        "torch threads": torch.get_num_threads(),
        "SIGINT handler": signal.getsignal(signal.SIGINT),
        "torch generator": torch.get_rng_state().tolist(),
        "numpy generator": (numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]),
        "python generator": random.getstate(),
    }


@pytest.fixture(params=["unset", "set"])
def unusual_globals(request, monkeypatch):
    """Settings unlike a run's: a CUBLAS value (or none), autotuning on, generators mid-stream."""
    if request.param == "set":
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    else:
        monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    torch.manual_seed(12345)
    torch.rand(3)
    np.random.seed(54321)
    np.random.rand(3)
    random.seed(999)
    random.random()
    before = process_globals()
    yield before


def test_train_restores_every_process_global(tmp_path, unusual_globals):
    train(tiny(tmp_path), progress=False)
    assert process_globals() == unusual_globals


def test_train_restores_every_process_global_after_a_nan_loss(tmp_path, unusual_globals):
    config = tiny(tmp_path, norm="none", lr=1e30, train_size=32)
    with pytest.raises(NonFiniteLossError):
        train(config, progress=False)
    assert process_globals() == unusual_globals


def test_train_restores_every_process_global_after_ctrl_c(tmp_path, unusual_globals):
    def press_ctrl_c(epoch, step, loss):
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        train(tiny(tmp_path), progress=False, on_batch_end=press_ctrl_c)
    assert process_globals() == unusual_globals


def test_run_environment_sets_the_run_settings_inside_the_block(tmp_path, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = process_globals()
    with run_environment(tiny(tmp_path, seed=7)) as environment:
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
        drawn = torch.rand(4), np.random.rand(), random.random()
        torch.manual_seed(7)
        np.random.seed(7)
        random.seed(7)
        assert torch.equal(drawn[0], torch.rand(4))  # every generator seeded from the configuration
        assert drawn[1:] == (np.random.rand(), random.random())
        assert signal.getsignal(signal.SIGINT) != before["SIGINT handler"]
        os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C is a request, not an exception
        assert environment.stop_requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the second one aborts
    assert process_globals() == before


def test_run_environment_restores_after_an_exception(tmp_path):
    before = process_globals()
    with pytest.raises(RuntimeError, match="boom"), run_environment(tiny(tmp_path)):
        torch.rand(5)
        raise RuntimeError("boom")
    assert process_globals() == before


def test_run_environment_refuses_a_non_config():
    with pytest.raises(TypeError, match="`config` must be a TrainConfig; got dict"):
        run_environment({"seed": 0})
