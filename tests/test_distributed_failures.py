"""Distributed runs fail fast: every process group has a timeout, and the first error is the one reported.

The slow tests launch real processes on 127.0.0.1 with gloo: two hand-launched ``parareal
train`` ranks (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` set
by hand, as a user without torchrun would), one of which is stopped (``SIGSTOP``) or killed
(``SIGKILL``) once training is under way; the other must end with one line on stderr, exit
status 2, within the configured timeout.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from launch import free_port, torchrun_command

from parareal_toolkit.backends.distributed import (
    DEFAULT_TIMEOUT_S,
    DistributedError,
    collective,
    init_distributed,
    is_communication_failure,
    process_group,
)
from parareal_toolkit.cli import main
from parareal_toolkit.training import TrainConfig
from parareal_toolkit.training.data_parallel import data_parallel_group

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("distributed_worker.py")
TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")

# tiny, but long enough (many epochs) to be still training when a rank is stopped
TRAIN = [
    "train",
    "--quiet",
    "--dataset",
    "patterns",
    "--depth",
    "11",
    "--train-size",
    "64",
    "--test-size",
    "16",
    "--batch-size",
    "16",
    "--epochs",
    "1000",
    "--workers",
    "0",
    "--device",
    "cpu",
]


@pytest.fixture
def no_torchrun(monkeypatch):
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def world_of_one(monkeypatch):
    """The variables torchrun sets, for a world of one process (gloo, in this process)."""
    for name, value in dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_PORT", str(free_port()))


def launch_two_ranks(args: list[str], tmp_path: Path) -> list[subprocess.Popen]:
    port = str(free_port())
    ranks = []
    for rank in range(2):
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO),
        }
        with open(tmp_path / f"out{rank}.txt", "w") as stdout, open(tmp_path / f"err{rank}.txt", "w") as stderr:
            command = [sys.executable, "-m", "parareal_toolkit.cli", *args]
            ranks.append(subprocess.Popen(command, cwd=tmp_path, env=env, stdout=stdout, stderr=stderr))
    return ranks


def end_all(ranks: list[subprocess.Popen]) -> None:
    """Leave no process behind: wake stopped ones, kill, reap."""
    for process in ranks:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
        process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize(
    "victim,sig",
    [(1, signal.SIGSTOP), (0, signal.SIGSTOP), (1, signal.SIGKILL)],
    ids=["stop-rank1", "stop-rank0-the-store", "kill-rank1"],
)
def test_a_stopped_or_killed_training_rank_ends_the_other_within_the_timeout(tmp_path, victim, sig):
    timeout = 6
    ranks = launch_two_ranks([*TRAIN, "--timeout", str(timeout), "-o", str(tmp_path / "run")], tmp_path)
    survivor = 1 - victim
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run" / "checkpoint.pt").exists():  # an epoch is done: training is under way
            assert all(p.poll() is None for p in ranks), (tmp_path / "err0.txt").read_text()[-2000:]
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.1)
        ranks[victim].send_signal(sig)
        signalled = time.monotonic()
        returncode = ranks[survivor].wait(timeout=timeout + 60)
        elapsed = time.monotonic() - signalled
    finally:
        end_all(ranks)
    stderr = (tmp_path / f"err{survivor}.txt").read_text()
    assert returncode == 2, stderr[-3000:]
    assert "Traceback" not in stderr
    (line,) = stderr.strip().splitlines()
    assert line.startswith(f"parareal train: error: rank {survivor} of 2: ")
    assert f"rank {victim} died, stopped or did not answer within the process group's timeout ({timeout} s)" in line
    if sig == signal.SIGSTOP:  # silence is only detected by the timeout, and then at once
        assert timeout - 2 <= elapsed < timeout + 15, elapsed
        # gloo's words: the wait that timed out, or a later use of the connection it closed
        assert "Timed out waiting" in line or "Application timeout caused pair closure" in line
    else:  # a dead peer closes its connections: no need to wait for the timeout
        assert elapsed < timeout + 15, elapsed
        assert "Connection" in line


@pytest.mark.slow
def test_the_rank_that_fails_first_reports_its_own_error(tmp_path):
    command = [
        *torchrun_command(2),
        str(WORKER),
        "first-error",
        str(tmp_path),
    ]
    env = {**os.environ, "PARAREAL_TEST_TIMEOUT": "20", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode != 0
    first, other = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    # rank 0 leaves its failing block without a barrier; its teardown raises nothing over it
    assert (first["error_type"], first["error"]) == ("ValueError", "rank 0's own failure")
    assert not first["initialized_after"]
    # rank 1, waiting in a barrier, learns at once that rank 0 is gone (it does not wait 20 s)
    assert other["error_type"] == "DistributedError"
    assert other["error"].startswith("rank 1 of 2: barrier failed: rank 0 died, stopped or did not answer")
    assert other["seconds"] < 15
    assert not other["initialized_after"]


def test_a_process_group_gets_the_timeout_it_is_given(world_of_one):
    from parareal_toolkit.backends.distributed import _group_timeout

    with process_group("gloo", timeout=7.5) as (rank, world_size):
        assert (rank, world_size) == (0, 1)
        assert _group_timeout() == 7.5  # the gloo backend's own option: it bounds every collective
        tensor = torch.ones(2)
        assert collective(torch.distributed.all_reduce, tensor) is None and tensor.tolist() == [1.0, 1.0]
    assert not torch.distributed.is_initialized()
    with process_group("gloo") as _:
        assert _group_timeout() == DEFAULT_TIMEOUT_S == 300.0  # not gloo's 30 minutes
    assert not torch.distributed.is_initialized()


def test_an_error_inside_a_process_group_is_not_replaced(world_of_one):
    with pytest.raises(RuntimeError, match="cannot be multiplied") as caught, process_group("gloo", timeout=5):
        _ = torch.ones(2, 3) @ torch.ones(2, 3)  # a bug keeps its type and traceback; the group is torn down
    assert not isinstance(caught.value, DistributedError)
    assert not torch.distributed.is_initialized()


def test_a_collective_error_that_is_not_about_peers_keeps_its_traceback(world_of_one):
    with process_group("gloo", timeout=5):
        with pytest.raises(RuntimeError) as caught:
            collective(torch.distributed.broadcast, torch.ones(1), src=3)  # no rank 3: a bug
        assert not isinstance(caught.value, DistributedError)


def test_communication_failures_are_told_from_other_errors():
    gloo_timeout = RuntimeError(
        "[/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 5000ms for recv"
    )
    lost_peer = RuntimeError("Connection reset by peer")
    closed_after_timeout = RuntimeError("Application timeout caused pair closure")  # seen from DDP's buffer broadcast
    assert is_communication_failure(gloo_timeout) and is_communication_failure(lost_peer)
    assert is_communication_failure(closed_after_timeout)
    assert is_communication_failure(torch.distributed.DistStoreError("Timed out after 4 seconds waiting for clients"))
    assert is_communication_failure(DistributedError("rank 0 of 2: barrier failed"))
    assert not is_communication_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_communication_failure(RuntimeError("DataLoader timed out after 5 seconds"))
    assert not is_communication_failure(ValueError("gloo"))


@pytest.mark.parametrize(
    "timeout,error,message",
    [
        (0, ValueError, "`timeout` must be a positive number of seconds, at most 604800 (one week); got 0."),
        (-1.0, ValueError, "`timeout` must be a positive number"),
        (float("nan"), ValueError, "got nan."),
        (float("inf"), ValueError, "got inf."),
        (1e300, ValueError, "at most 604800"),
        (True, TypeError, "`timeout` must be a real number; got True."),
        ("5", TypeError, "`timeout` must be a real number; got '5'."),
    ],
)
def test_a_bad_timeout_is_refused_everywhere_it_enters(timeout, error, message, world_of_one):
    for enter in (
        lambda: init_distributed("gloo", timeout=timeout),
        lambda: process_group("gloo", timeout=timeout).__enter__(),
        lambda: data_parallel_group("cpu", timeout=timeout).__enter__(),
        lambda: TrainConfig(timeout=timeout),
    ):
        with pytest.raises(error) as caught:
            enter()
        assert message in str(caught.value)
    assert not torch.distributed.is_initialized()


def test_the_timeout_may_change_on_resume():
    saved = TrainConfig(timeout=300)
    assert TrainConfig(timeout=20).continuing(saved).timeout == 20.0
    assert TrainConfig(timeout=12).timeout == 12.0 and TrainConfig().timeout == DEFAULT_TIMEOUT_S


def test_torchrun_variables_are_checked(world_of_one, monkeypatch, tmp_path, capsys):
    enters = (lambda: init_distributed("gloo"), lambda: data_parallel_group("cpu").__enter__())
    monkeypatch.setenv("RANK", "two")
    for enter in enters:
        with pytest.raises(ValueError, match="environment variable RANK must be an integer; got 'two'"):
            enter()
    assert main([*TRAIN, "-o", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (
        "parareal train: error: environment variable RANK must be an integer; got 'two'.\n"
    )
    for rank, world_size in (("2", "2"), ("-1", "2"), ("0", "0")):
        monkeypatch.setenv("RANK", rank)
        monkeypatch.setenv("WORLD_SIZE", world_size)
        for enter in enters:
            with pytest.raises(
                ValueError, match=rf"RANK={rank} and WORLD_SIZE={world_size}: need 0 <= RANK < WORLD_SIZE"
            ):
                enter()
    assert not torch.distributed.is_initialized()
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_rank_whose_peer_never_comes_fails_within_the_timeout(tmp_path):
    """Rank 0 of 2 alone: the group cannot be set up; one line, exit 2, after the timeout."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "MASTER_ADDR": "127.0.0.1"}
    env.update(MASTER_PORT=str(free_port()), RANK="0", LOCAL_RANK="0", WORLD_SIZE="2")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "parareal_toolkit.cli", *TRAIN, "--timeout", "3", "-o", str(tmp_path / "run")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("parareal train: error: rank 0 of 2: could not set up the process group at 127.0.0.1:")
    assert "not every rank joined within the timeout (3 s)" in line
    assert elapsed < 60


def test_cli_timeout_options_are_checked(no_torchrun, tmp_path, capsys):
    for argv in (
        [*TRAIN, "--timeout", "nan"],
        [*TRAIN, "--timeout", "inf"],
        [*TRAIN, "--timeout", "0"],
        ["pipeline-run", "--out", str(tmp_path), "--timeout", "-5"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--timeout: expected a positive number" in err, err
    # finite and positive but absurd: refused by TrainConfig, before anything runs
    assert main([*TRAIN, "--timeout", "1e9", "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err == (
        "parareal train: error: `timeout` must be a positive number of seconds, at most 604800 (one week); "
        "got 1000000000.0.\n"
    )
    assert not (tmp_path / "run").exists()


def test_pipeline_run_outside_torchrun_is_one_line(no_torchrun, tmp_path, capsys):
    assert main(["pipeline-run", "--out", str(tmp_path), "--timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "parareal pipeline-run: error: pipeline-run must be started by torchrun"
    )
    assert "torchrun --nproc-per-node 2 -m parareal_toolkit.cli pipeline-run" in err
    assert not torch.distributed.is_initialized()
