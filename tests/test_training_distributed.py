"""Data-parallel training with ``torchrun --nproc-per-node 2`` on the CPU (gloo)."""

import contextlib
import os
import subprocess
from pathlib import Path

import pytest
import torch
from float_tolerance import approx_metric, assert_states_agree
from launch import free_port, torchrun_command
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.backends.distributed import process_group
from parareal_toolkit.training import TrainConfig, load_checkpoint, read_metrics, train
from parareal_toolkit.training.data_parallel import data_parallel_group

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


def torchrun(args, *, nproc=2, timeout=240):
    command = [
        *torchrun_command(nproc),
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
    # The same global batches and the averaged gradient: equal up to the order of the sums
    # (two half-batch gradients all-reduced; per-process convolution reductions over
    # batch x 32 x 32 pixels). float32, 8 SGD steps with momentum 0.9: the tolerance of
    # float_tolerance.py, about 7e3 eps of each tensor's scale (a missing average would be off
    # by a whole update). It was rtol 1e-5 / atol 1e-6, tuned on one CPU and exceeded
    # (2.09e-6) on another.
    steps = COMMON["epochs"] * COMMON["train_size"] // COMMON["batch_size"]
    budget = dict(terms=COMMON["batch_size"] * 32 * 32, steps=steps, momentum=single["config"]["momentum"])
    assert_states_agree(ddp["model"], single["model"], **budget)
    rows = {d: read_metrics(tmp_path / d) for d in ("ddp", "single")}
    for a, b in zip(rows["ddp"], rows["single"]):
        for field in ("train_loss", "train_error", "test_loss", "test_error"):
            assert a[field] == approx_metric(b[field], **budget), field
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


@pytest.fixture
def torchrun_environment(monkeypatch):
    """The variables torchrun sets, for a world of one process (gloo, in this process)."""
    for name, value in dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_PORT", str(free_port()))


def test_process_group_is_torn_down_by_the_block_that_set_it_up(torchrun_environment):
    assert not torch.distributed.is_initialized()
    with pytest.raises(RuntimeError, match="inside"), process_group("gloo", timeout=30) as (rank, world_size):
        assert (rank, world_size) == (0, 1) and torch.distributed.is_initialized()
        with process_group("gloo") as inner:  # an existing group is used and left alone
            assert inner == (0, 1)
        assert torch.distributed.is_initialized()
        raise RuntimeError("inside")
    assert not torch.distributed.is_initialized()


def test_training_sets_up_no_group_for_one_process(torchrun_environment):
    with data_parallel_group("cpu") as group:
        assert (group.rank, group.world_size, group.enabled) == (0, 1, False)
        assert not torch.distributed.is_initialized()
        assert group.sum([1.0, 2.0]) == [1.0, 2.0] and group.all_true(True) and not group.all_true(False)


def test_several_processes_get_their_group_from_the_backends(monkeypatch):
    """WORLD_SIZE > 1: the group comes from backends.distributed.process_group, entered and left once."""
    import parareal_toolkit.training.data_parallel as data_parallel

    events = []

    @contextlib.contextmanager
    def fake_process_group(backend, *, timeout):
        events.append(("set up", backend))
        yield 1, 2
        events.append("torn down")

    monkeypatch.setattr(data_parallel, "process_group", fake_process_group)
    for name, value in dict(RANK="1", LOCAL_RANK="1", WORLD_SIZE="2").items():
        monkeypatch.setenv(name, value)
    with data_parallel_group("cpu") as group:
        assert (group.rank, group.world_size, group.enabled, group.is_main) == (1, 2, True, False)
        assert events == [("set up", "gloo")]
    assert events == [("set up", "gloo"), "torn down"]
    sources = (REPO / "parareal_toolkit" / "training").glob("*.py")
    assert not [p.name for p in sources if "_process_group(" in p.read_text()]  # no second set-up
