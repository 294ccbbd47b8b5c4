"""Training and evaluation refuse bad input in one line and never report a non-finite result as fine.

Non-finite losses and metrics stop a run (exit 1, one line, which metric and epoch); every
float option is finite or refused naming it; output directories, downloads, checkpoints and
memory are checked before any work; resuming checks that the checkpoint holds the same run;
a deterministic run is bit-for-bit the same whatever the number of DataLoader workers (also
across a real Ctrl-C) and the thread count.
"""

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from call_budget import count_calls
from launch import free_port
from tiny_runs import tiny_config
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.cli import main
from parareal_toolkit.training import (
    CheckpointError,
    DatasetNotFoundError,
    NonFiniteLossError,
    TrainConfig,
    load_checkpoint,
    read_metrics,
    save_checkpoint,
    train,
)
from parareal_toolkit.training import data as training_data
from parareal_toolkit.training.resources import training_memory_lower_bound

pytestmark = pytest.mark.usefixtures("single_torch_thread")

REPO = Path(__file__).resolve().parents[1]

# depth 11 on 16 FakeData images in batches of 8: two steps an epoch
TINY = ["--dataset", "fake", "--depth", "11", "--batch-size", "8", "--train-size", "16", "--test-size", "8"]
TINY += ["--workers", "0", "--quiet"]
# CIFAR-10 from a folder (no sizes: CIFAR's are fixed)
CIFAR = ["--dataset", "cifar10", "--depth", "11", "--batch-size", "8", "--workers", "0", "--quiet"]


def tiny(tmp_path, name="run", **overrides):
    one_epoch = {"epochs": 1, "train_size": 16, "test_size": 8, "milestones": []}
    return tiny_config(tmp_path, name, **{**one_epoch, **overrides})


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line(err, *fragments):
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def strict_json(text):
    """``json.loads`` that fails on NaN and Infinity (which are not JSON)."""

    def refuse(constant):
        raise AssertionError(f"non-finite {constant} in JSON")

    return json.loads(text, parse_constant=refuse)


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ------------------------------------------------------------------ non-finite results


def test_lr_1e20_stops_on_the_non_finite_test_loss(tmp_path, capsys):
    """One step at lr 1e20 leaves the training loss finite and the test loss NaN: exit 1, no summary.

    (At lr 1e8 the test loss is finite, 1e14: BatchNorm statistics recomputed from the weights
    after the step keep evaluation finite; it was NaN while the running averages lagged.)"""
    run_dir = tmp_path / "run"
    args = ["train", "--dataset", "fake", "--depth", "11", "--epochs", "1", "--batch-size", "16", "--train-size", 16]
    code, out, err = run_cli(capsys, *args, "--test-size", 16, "--workers", 0, "--quiet", "--lr", "1e20", "-o", run_dir)
    assert code == 1 and out == ""
    assert_one_line(err, "test loss became nan", "after epoch 1", "Try a smaller --lr")
    assert not (run_dir / "final.json").exists() and not (run_dir / "checkpoint.pt").exists()
    assert read_metrics(run_dir) == []


def test_a_test_loss_that_turns_nan_in_epoch_2_is_reported_there(tmp_path):
    """One batch an epoch; at the milestone after epoch 1 the rate jumps to 5e10: epoch 2's test loss is NaN."""
    config = tiny(tmp_path, epochs=3, train_size=8, milestones=[1], gamma=1e12)
    with pytest.raises(NonFiniteLossError, match="test loss became nan when evaluating after epoch 2") as info:
        train(config, progress=False)
    assert (info.value.metric, info.value.epoch, info.value.step) == ("test_loss", 2, None)
    assert info.value.value != info.value.value  # NaN
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] == 1  # the last good one
    rows = [strict_json(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1]
    assert not (tmp_path / "run" / "final.json").exists()


def test_a_nan_training_loss_names_epoch_and_batch(tmp_path):
    config = tiny(tmp_path, norm="none", lr=1e30, train_size=32)
    with pytest.raises(NonFiniteLossError) as info:
        train(config, progress=False)
    assert info.value.metric == "train_loss" and info.value.epoch == 1 and info.value.step >= 1
    assert f"in epoch 1, batch {info.value.step}" in str(info.value)
    assert "no checkpoint was saved" in str(info.value)


def test_summary_and_metrics_are_strict_json(tmp_path):
    summary = train(tiny(tmp_path, epochs=2), progress=False)
    assert strict_json((tmp_path / "run" / "final.json").read_text()) == json.loads(json.dumps(summary))
    for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines():
        strict_json(line)


def test_evaluate_reports_a_non_finite_loss_and_exits_1(tmp_path, capsys):
    train(tiny(tmp_path), progress=False)
    path = tmp_path / "run" / "checkpoint.pt"
    state = load_checkpoint(path)
    state["model"] = {
        k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state["model"].items()
    }
    save_checkpoint(path, {k: v for k, v in state.items() if k != "format"})
    code, out, err = run_cli(capsys, "evaluate", path, "--json", "--workers", 0)
    assert code == 1
    result = strict_json(out)
    assert result["loss"] is None and result["finite"] is False and result["images"] == 8
    assert_one_line(err, "test loss", "is nan", "not finite")
    code, out, err = run_cli(capsys, "evaluate", path, "--workers", 0, "--quiet")
    assert code == 1 and "loss nan" in out


# ------------------------------------------------------------------ options


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("--lr", "nan", "a positive number"),
        ("--lr", "inf", "a positive number"),
        ("--lr", "0", "a positive number"),
        ("--lr", "-0.1", "a positive number"),
        ("--gamma", "nan", "a positive number"),
        ("--gamma", "inf", "a positive number"),
        ("--gamma", "0", "a positive number"),
        ("--momentum", "nan", "a non-negative number"),
        ("--momentum", "-inf", "a non-negative number"),
        ("--momentum", "-0.5", "a non-negative number"),
        ("--weight-decay", "nan", "a non-negative number"),
        ("--weight-decay", "inf", "a non-negative number"),
        ("--weight-decay", "-1e-4", "a non-negative number"),
    ],
)
def test_every_float_option_refuses_non_finite_and_out_of_range_values(tmp_path, capsys, option, value, expected):
    code, _, err = run_cli(capsys, "train", *TINY, f"{option}={value}", "-o", tmp_path / "run")
    assert code == 2
    assert_one_line(err, f"argument {option}: expected {expected}, got {value!r}")
    assert not (tmp_path / "run").exists()  # refused before anything was made


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (dict(seed=2**63), ValueError, "`seed` must be at most 9223372036854775807"),
        (dict(dataset="cifar10", train_size=100), ValueError, "`train_size` sets the size of the synthetic"),
        (dict(dataset="cifar100", test_size=5), ValueError, "`test_size` sets the size of the synthetic"),
        (dict(threads=0), ValueError, "`threads` must be at least 1; got 0"),
        (dict(augment="no"), TypeError, "`augment` must be a bool; got 'no'"),
        (dict(deterministic=1), TypeError, "`deterministic` must be a bool; got 1"),
        (dict(output_dir=3), TypeError, "`output_dir` must be a path"),
        (dict(gamma=float("nan")), ValueError, "`gamma` must be positive and finite; got nan"),
        (dict(weight_decay=float("inf")), ValueError, "`weight_decay` must be non-negative and finite; got inf"),
    ],
)
def test_train_config_refuses_more_bad_values(overrides, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(")):
        TrainConfig(**overrides)


def test_train_config_stores_paths_as_strings(tmp_path):
    config = TrainConfig(output_dir=tmp_path / "run", data_dir=Path("data"))
    assert config.output_dir == str(tmp_path / "run") and config.data_dir == "data"


def test_a_huge_depth_is_refused_with_the_memory_it_needs(tmp_path, capsys):
    (code, _, err), calls = count_calls(run_cli, capsys, "train", *TINY, "--depth", "90000002", "-o", tmp_path / "run")
    assert code == 2 and calls < 200_000  # refused from the count, nothing built (calls, not seconds)
    assert_one_line(err, "depth 90000002 (30,000,000 residual units)", "needs at least", "GiB", "smaller --depth")


@pytest.mark.parametrize("depth", [11, 20, 29])
def test_the_memory_bound_is_below_the_real_parameters_and_unit_outputs(depth):
    from parareal_toolkit.nn import preact_resnet

    bound = training_memory_lower_bound(depth, images_per_batch=1)
    model = preact_resnet(depth)
    assert bound["units"] == len(model.units)
    parameters = sum(p.numel() for p in model.parameters())
    assert bound["state"] <= 3 * 4 * parameters  # weight, gradient, momentum in float32
    outputs = []
    for unit in model.units:
        unit.register_forward_hook(lambda module, args, out: outputs.append(out.numel()))
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 32, 32))
    assert bound["activations"] == 4 * sum(outputs)  # exactly the units' outputs, the bound's only term


# ------------------------------------------------------------------ output directory, download, checkpoints


@pytest.mark.parametrize("kind", ["file", "under a file", "name too long"])
def test_a_bad_output_dir_exits_2_before_any_work(tmp_path, capsys, kind):
    (tmp_path / "a-file").write_text("not a directory")
    output = {
        "file": tmp_path / "a-file",
        "under a file": tmp_path / "a-file" / "run",
        "name too long": tmp_path / ("x" * 300),
    }[kind]
    # a missing dataset would fail later: the output directory is checked first
    code, _, err = run_cli(capsys, "train", *CIFAR, "--data-dir", tmp_path / "nowhere", "-o", output)
    assert code == 2
    assert_one_line(err, "--output-dir", str(output)[:40])
    assert "CIFAR" not in err
    reason = {"file": "is a file, not a directory", "under a file": "Not a directory", "name too long": "too long"}
    assert reason[kind] in err


def closed_port():
    return free_port()  # nothing listens there once its probing socket is closed


def test_download_without_network_exits_2_naming_the_url(tmp_path, capsys, monkeypatch):
    from torchvision import datasets

    url = f"http://127.0.0.1:{closed_port()}/cifar-10-python.tar.gz"
    monkeypatch.setattr(datasets.CIFAR10, "url", url)
    code, _, err = run_cli(
        capsys, "train", *CIFAR, "--data-dir", tmp_path / "data", "--download", "--yes", "-o", tmp_path / "run"
    )  # --yes: 200 epochs of CIFAR exceed the default --time-limit, refused before any download otherwise
    assert code == 2
    assert_one_line(err, f"could not download CIFAR-10 from {url}", "Connection refused", "check the network")


def test_a_stalled_download_times_out(tmp_path, monkeypatch):
    """A server that accepts the connection and never answers: the download gives up after the timeout."""
    from torchvision import datasets

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    accepted = []
    stop = threading.Event()

    def accept_and_stay_silent():
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):  # no connection within 0.2 s: look at `stop` again
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept_and_stay_silent, daemon=True)
    thread.start()
    monkeypatch.setattr(datasets.CIFAR10, "url", f"http://127.0.0.1:{server.getsockname()[1]}/cifar-10-python.tar.gz")
    monkeypatch.setattr(training_data, "DOWNLOAD_TIMEOUT_S", 1.0)
    before = socket.getdefaulttimeout()
    started = time.perf_counter()
    try:
        with pytest.raises(DatasetNotFoundError, match="could not download CIFAR-10 from http://127.0.0.1.*timed out"):
            training_data.load_dataset("cifar10", train=False, data_dir=tmp_path, download=True)
    finally:
        stop.set()
        thread.join()
        server.close()
        for connection in accepted:
            connection.close()
    assert time.perf_counter() - started < 15 and accepted
    assert socket.getdefaulttimeout() == before  # the process-wide timeout is put back


def test_a_data_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "data").write_text("")
    with pytest.raises(DatasetNotFoundError, match="is a file, not a directory"):
        training_data.load_dataset("cifar10", train=False, data_dir=tmp_path / "data", download=True)


def test_evaluate_refuses_bad_checkpoints_in_one_line(tmp_path, capsys):
    train(tiny(tmp_path), progress=False)
    good = tmp_path / "run" / "checkpoint.pt"
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "run")
    assert code == 2
    assert_one_line(err, "is a directory, not a checkpoint file")
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "missing.pt")
    assert code == 2
    assert_one_line(err, "does not exist")
    # weights of ResNet-11 under a configuration that names ResNet-20
    state = load_checkpoint(good)
    state["config"]["depth"] = 20
    save_checkpoint(tmp_path / "mixed.pt", {k: v for k, v in state.items() if k != "format"})
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "mixed.pt", "--workers", 0)
    assert code == 2
    assert_one_line(err, "mixed.pt", "weights do not fit the resnet-20")
    # a configuration this version refuses
    state["config"]["depth"], state["config"]["lr"] = 11, -1.0
    save_checkpoint(tmp_path / "badconfig.pt", {k: v for k, v in state.items() if k != "format"})
    with pytest.raises(
        CheckpointError, match="badconfig.pt' does not hold a valid training state: `lr` must be positive"
    ):
        from parareal_toolkit.training import evaluate_checkpoint

        evaluate_checkpoint(tmp_path / "badconfig.pt", workers=0)


# ------------------------------------------------------------------ resume means the same run


@pytest.fixture
def parareal_resnet_11(tmp_path, capsys):
    run_dir = tmp_path / "pr11"
    code, _, err = run_cli(capsys, "train", *TINY, "--model", "parareal-resnet", "--epochs", "1", "-o", run_dir)
    assert code == 0, err
    return run_dir


def test_resume_with_another_model_exits_2_naming_the_options(parareal_resnet_11, capsys):
    before = (parareal_resnet_11 / "checkpoint.pt").read_bytes()
    code, _, err = run_cli(capsys, "train", "--resume", "--model", "resnet", "--depth", "20", "-o", parareal_resnet_11)
    assert code == 2
    assert_one_line(err, "--model resnet, --depth 20 differ", "(--model parareal-resnet, --depth 11)", "--overwrite")
    code, _, err = run_cli(
        capsys,
        "train",
        "--resume",
        "--lr",
        "0.5",
        "--no-augment",
        "--milestones",
        "--seed",
        "4",
        "-o",
        parareal_resnet_11,
    )
    assert code == 2
    assert_one_line(err, "--no-augment, --seed 4, --lr 0.5, --milestones (none) differ", "augmentation on, --seed 0")
    assert (parareal_resnet_11 / "checkpoint.pt").read_bytes() == before


def test_resume_takes_what_is_not_given_from_the_checkpoint(parareal_resnet_11, capsys):
    # same values as the checkpoint's, and run settings that may change
    code, _, err = run_cli(
        capsys,
        "train",
        "--resume",
        "--depth",
        "11",
        "--epochs",
        "2",
        "--workers",
        "1",
        "--quiet",
        "-o",
        parareal_resnet_11,
    )
    assert code == 0, err
    final = strict_json((parareal_resnet_11 / "final.json").read_text())
    assert final["config"]["model"] == "parareal-resnet" and final["config"]["dataset"] == "fake"
    assert final["epochs_completed"] == 2 and final["config"]["workers"] == 1


def test_a_moved_run_resumes_where_its_checkpoint_is(parareal_resnet_11, capsys, monkeypatch, tmp_path):
    (tmp_path / "runs").mkdir()
    parareal_resnet_11.rename(tmp_path / "runs" / "default")  # the default --output-dir
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "train", "--resume", "--epochs", "2", "--quiet")
    assert code == 0, err
    final = strict_json((tmp_path / "runs" / "default" / "final.json").read_text())
    assert final["config"]["output_dir"] == "runs/default" and final["epochs_completed"] == 2
    assert not parareal_resnet_11.exists()


def test_resume_help_lists_what_may_change(capsys):
    from dataclasses import fields

    from parareal_toolkit.cli import build_parser
    from parareal_toolkit.cli.train import resume_settings
    from parareal_toolkit.training.config import RUN_DEFINING, RUN_SETTINGS

    assert set(RUN_DEFINING) | set(RUN_SETTINGS) == {f.name for f in fields(TrainConfig)}
    assert not set(RUN_DEFINING) & set(RUN_SETTINGS)
    # the listed options are exactly the run settings (less the output directory), --quiet, --time-limit and --yes
    command = build_parser()._subparsers._group_actions[0].choices["train"]
    expected = {"--" + name.replace("_", "-") for name in RUN_SETTINGS if name != "output_dir"} | {
        "--quiet",
        "--time-limit",
        "--yes",
    }
    assert set(resume_settings(command)) == expected
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "May change: --data-dir, --download, --workers, --epochs, --deterministic, --device, --threads" in text


def test_resume_and_overwrite_together_exit_2(parareal_resnet_11, capsys):
    code, _, err = run_cli(capsys, "train", "--resume", "--overwrite", "-o", parareal_resnet_11)
    assert code == 2
    assert_one_line(err, "--resume", "--overwrite", "choose one")


def test_api_resume_with_another_configuration_names_the_fields(tmp_path):
    train(tiny(tmp_path), progress=False)
    with pytest.raises(ValueError, match=r"`depth` 20 \(checkpoint: 11\), `lr` 0.1 \(checkpoint: 0.05\) differ"):
        train(tiny(tmp_path, depth=20, lr=0.1, epochs=2), resume=True, progress=False)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] == 1
    train(tiny(tmp_path, epochs=2, workers=1, eval_every=2), resume=True, progress=False)  # run settings may change
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] == 2


# ------------------------------------------------------------------ determinism: workers, threads, Ctrl-C


RECIPE = ["--dataset", "fake", "--depth", "11", "--epochs", "3", "--batch-size", "4", "--train-size", "96"]
RECIPE += ["--test-size", "8", "--lr", "0.05", "--milestones", "2", "--deterministic", "--device", "cpu"]


@pytest.mark.slow
def test_ctrl_c_then_resume_with_other_workers_is_bit_identical(tmp_path, capsys):
    """Interrupted with 2 DataLoader workers by a real Ctrl-C, resumed with none: the uninterrupted run's weights."""
    assert main(["train", *RECIPE, "--workers", "1", "--quiet", "-o", str(tmp_path / "full")]) == 0
    run_dir = tmp_path / "interrupted"
    command = [sys.executable, "-m", "parareal_toolkit.cli", "train", *RECIPE, "--workers", "2", "-o", str(run_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    # its own process group, as a terminal's: Ctrl-C reaches the main process and its workers
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    seen, deadline = b"", time.monotonic() + 120
    while b"epoch 2/3" not in seen and time.monotonic() < deadline:
        chunk = os.read(proc.stderr.fileno(), 4096)  # the progress bar
        if not chunk:
            break
        seen += chunk
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    err = (seen + err).decode()
    assert proc.returncode == 130, err[-2000:]
    assert "checkpoint saved" in err and "Traceback" not in err
    state = load_checkpoint(run_dir / "checkpoint.pt")
    assert 1 <= state["epoch"] < 3 and state["config"]["workers"] == 2
    assert main(["train", "--resume", "--workers", "0", "--quiet", "-o", str(run_dir)]) == 0
    assert_same_weights(
        load_checkpoint(run_dir / "checkpoint.pt")["model"],
        load_checkpoint(tmp_path / "full" / "checkpoint.pt")["model"],
    )
    untimed = [{k: v for k, v in r.items() if k not in ("images_per_s", "epoch_time_s")} for r in read_metrics(run_dir)]
    reference = [
        {k: v for k, v in r.items() if k not in ("images_per_s", "epoch_time_s")}
        for r in read_metrics(tmp_path / "full")
    ]
    assert untimed == reference


def test_workers_do_not_change_a_deterministic_run(tmp_path):
    """Augmentation is seeded per image: 0 and 2 DataLoader workers train the same weights."""
    for workers in (0, 2):
        train(tiny(tmp_path, f"w{workers}", epochs=2, train_size=24, milestones=[1], workers=workers), progress=False)
    assert_same_weights(*(load_checkpoint(tmp_path / f"w{w}" / "checkpoint.pt")["model"] for w in (0, 2)))


def test_train_pins_one_thread_on_the_cpu_and_restores_the_count(tmp_path):
    seen = []
    torch.set_num_threads(2)  # the fixture restores the count after the test
    train(tiny(tmp_path, "a"), progress=False, on_batch_end=lambda *_: seen.append(torch.get_num_threads()))
    assert set(seen) == {1} and torch.get_num_threads() == 2
    torch.set_num_threads(1)
    train(tiny(tmp_path, "b"), progress=False)
    # a deterministic run does not depend on the caller's thread count
    assert_same_weights(*(load_checkpoint(tmp_path / d / "checkpoint.pt")["model"] for d in ("a", "b")))
    seen.clear()
    train(
        tiny(tmp_path, "c", deterministic=False, threads=2),
        progress=False,
        on_batch_end=lambda *_: seen.append(torch.get_num_threads()),
    )
    assert set(seen) == {2} and torch.get_num_threads() == 1


def test_deterministic_cpu_runs_refuse_several_threads(tmp_path, capsys):
    with pytest.raises(ValueError, match="`threads` must be 1 for a deterministic run on the CPU"):
        train(tiny(tmp_path, threads=2, device="cpu"), progress=False)
    code, _, err = run_cli(
        capsys,
        "train",
        *TINY,
        "--epochs",
        "1",
        "--deterministic",
        "--threads",
        "2",
        "--device",
        "cpu",
        "-o",
        tmp_path / "r",
    )
    assert code == 2
    assert_one_line(err, "`threads` must be 1 for a deterministic run on the CPU", "got threads=2")


def test_the_memory_check_compares_the_fullest_devices_share():
    # slices spread over several devices: the fullest holds at least 1/devices of the whole
    from parareal_toolkit.training.resources import check_memory, device_memory

    cpu = torch.device("cpu")
    have, _ = device_memory(cpu)
    if have is None:
        pytest.skip("this machine does not say how much memory it has")
    one = training_memory_lower_bound(1001, images_per_batch=1)
    per_image = one["activations"]
    images = math.ceil((1.5 * have - one["state"]) / per_image)  # the whole: about 1.5x the memory
    with pytest.raises(ValueError, match="needs at least .* GiB") as refused:
        check_memory(1001, images, cpu)
    assert "over" not in str(refused.value)
    check_memory(1001, images, cpu, devices=2)  # about 0.75x on the fullest device: fits
    with pytest.raises(ValueError, match=r"over 2 devices at least .* GiB on one"):
        check_memory(1001, 2 * images, cpu, devices=2)
