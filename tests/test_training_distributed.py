"""Data-parallel training with ``torchrun --nproc-per-node 2`` on the CPU (gloo)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.training import TrainConfig, load_checkpoint, read_metrics, train

pytestmark = pytest.mark.usefixtures("single_torch_thread")

REPO = Path(__file__).resolve().parents[1]

# BatchNorm would normalise each process's half batch with its own statistics
# (SyncBatchNorm is CUDA-only in PyTorch), so the exact comparison uses --norm none.
COMMON = dict(
    model="parareal-resnet",
    subnetworks=2,
    coarse_units=1,
    norm="none",
    dataset="patterns",
    depth=11,
    epochs=2,
    batch_size=8,
    train_size=32,
    test_size=12,
    augment=False,
    lr=0.02,
    milestones=[1],
    seed=3,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args, *, nproc=2, timeout=240):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(nproc),
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(free_port()),
        "-m",
        "parareal_toolkit.cli",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def cli_args(config: dict, output_dir) -> list[str]:
    args = ["train", "--quiet", "--workers", "0", "--device", "cpu", "-o", str(output_dir)]
    for key, value in config.items():
        flag = "--" + key.replace("_", "-")
        if key == "augment":
            args += [] if value else ["--no-augment"]
        elif key == "milestones":
            args += [flag, *map(str, value)]
        else:
            args += [flag, str(value)]
    return args


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tmp_path):
    result = torchrun(cli_args(COMMON, tmp_path / "ddp"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained 2 epochs") == 1  # only rank 0 reports

    train(TrainConfig(**COMMON, workers=0, output_dir=str(tmp_path / "single")), progress=False)

    ddp, single = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in ("ddp", "single"))
    assert ddp["epoch"] == single["epoch"] == 2
    assert ddp["model"].keys() == single["model"].keys()
    for key in single["model"]:
        # the same global batches and the averaged gradient: equal up to reduction order
        torch.testing.assert_close(ddp["model"][key], single["model"][key], rtol=1e-5, atol=1e-6)
    rows = {d: read_metrics(tmp_path / d) for d in ("ddp", "single")}
    for a, b in zip(rows["ddp"], rows["single"]):
        for field in ("train_loss", "train_error", "test_loss", "test_error"):
            assert a[field] == pytest.approx(b[field], rel=1e-5, abs=1e-6), field
    summary_ddp = (tmp_path / "ddp" / "final.json").read_text()
    assert '"world_size": 2' in summary_ddp


@pytest.mark.slow
def test_torchrun_smoke_with_batchnorm(tmp_path):
    """The default model (BatchNorm, per-process statistics on the CPU) trains under torchrun."""
    result = torchrun(
        [
            "train",
            "--quiet",
            "--workers",
            "0",
            "--device",
            "cpu",
            "--dataset",
            "fake",
            "--depth",
            "11",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--train-size",
            "16",
            "--test-size",
            "6",
            "-o",
            str(tmp_path / "bn"),
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    state = load_checkpoint(tmp_path / "bn" / "checkpoint.pt")
    assert state["epoch"] == 1 and state["config"]["norm"] == "batch"
    rows = read_metrics(tmp_path / "bn")
    assert len(rows) == 1 and rows[0]["test_error"] in {k / 6 for k in range(7)}  # 6 test images over 2 shards
