"""The training pipeline: learning, bit-for-bit resume, Ctrl-C, NaN, checkpoints, CLI, plots."""

import json
import math
import os
import signal

import pytest
import torch
from float_tolerance import approx_metric
from tiny_runs import tiny_config
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.cli import main
from parareal_toolkit.training import (
    CheckpointError,
    NonFiniteLossError,
    TrainConfig,
    TrainingInterrupted,
    load_checkpoint,
    plot_training_curves,
    read_metrics,
    save_checkpoint,
    train,
)

pytestmark = pytest.mark.usefixtures("single_torch_thread")

TIMING_FIELDS = ("images_per_s", "epoch_time_s")


def tiny(tmp_path, name, **overrides):
    """Depth 11 (3 units), 32 augmented FakeData images in batches of 8: 4 steps per epoch."""
    return tiny_config(tmp_path, name, **overrides)


def weights(run_dir):
    return load_checkpoint(os.path.join(run_dir, "checkpoint.pt"))["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def without_timing(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


# ------------------------------------------------------------------ learning


@pytest.mark.parametrize("model", ["resnet", "parareal-resnet"])
def test_short_run_learns_a_synthetic_task(tmp_path, model):
    # 32 steps; measured test errors 0.00-0.01 for seeds 0 and 1, both models (chance 0.9)
    config = TrainConfig(
        model=model,
        subnetworks=3,
        coarse_units=1,
        dataset="patterns",
        depth=11,
        epochs=2,
        batch_size=16,
        train_size=256,
        test_size=100,
        augment=False,
        workers=0,
        lr=0.1,
        milestones=[],
        output_dir=str(tmp_path / model),
    )
    summary = train(config, progress=False)
    rows = read_metrics(tmp_path / model)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["train_loss"] < rows[0]["train_loss"]
    assert rows[1]["train_loss"] < math.log(10) - 0.5  # chance: ln 10 = 2.30
    assert summary["final_test_error"] < 0.5  # chance: 0.9
    assert summary["parameters"] == sum(
        v.numel() for k, v in weights(tmp_path / model).items() if "running" not in k and "num_batches" not in k
    )


# ------------------------------------------------------------------ resume


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("full")
    torch.set_num_threads(1)
    train(tiny(run_dir, "run"), progress=False)
    return run_dir / "run"


def test_resume_after_epoch_1_is_bit_for_bit(tmp_path, uninterrupted):
    train(tiny(tmp_path, "run", epochs=1), progress=False)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"] == 1
    train(tiny(tmp_path, "run", epochs=2), resume=True, progress=False)
    assert not torch.are_deterministic_algorithms_enabled()  # the run's switch is undone
    assert_same_weights(weights(tmp_path / "run"), weights(uninterrupted))
    assert without_timing(read_metrics(tmp_path / "run")) == without_timing(read_metrics(uninterrupted))
    full, resumed = (load_checkpoint(d / "checkpoint.pt") for d in (uninterrupted, tmp_path / "run"))
    assert full["optimizer"]["state"].keys() == resumed["optimizer"]["state"].keys()
    for k in full["optimizer"]["state"]:
        assert torch.equal(
            full["optimizer"]["state"][k]["momentum_buffer"], resumed["optimizer"]["state"][k]["momentum_buffer"]
        )
    assert full["scheduler"] == resumed["scheduler"]


def test_ctrl_c_mid_epoch_saves_and_resumes_bit_for_bit(tmp_path, uninterrupted):
    def press_ctrl_c(epoch, step, loss):
        if (epoch, step) == (1, 2):
            os.kill(os.getpid(), signal.SIGINT)  # the real signal, handled between batches

    handler_before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="epoch 2 after batch 2"):
        train(tiny(tmp_path, "run"), progress=False, on_batch_end=press_ctrl_c)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert (state["epoch"], state["step"]) == (1, 2)
    assert signal.getsignal(signal.SIGINT) == handler_before  # handler restored
    train(tiny(tmp_path, "run"), resume=True, progress=False)
    assert_same_weights(weights(tmp_path / "run"), weights(uninterrupted))
    assert without_timing(read_metrics(tmp_path / "run")) == without_timing(read_metrics(uninterrupted))


def test_ctrl_c_through_the_cli_exits_cleanly(tmp_path, capsys, monkeypatch):
    from parareal_toolkit.training import run

    real_train = run.train

    def train_with_ctrl_c(config, **kwargs):
        return real_train(config, **kwargs, on_batch_end=lambda e, s, l: os.kill(os.getpid(), signal.SIGINT))

    monkeypatch.setattr(run, "train", train_with_ctrl_c)
    code = main(
        [
            "train",
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
            "--workers",
            "0",
            "--quiet",
            "-o",
            str(tmp_path / "run"),
        ]
    )
    assert code == 130
    err = capsys.readouterr().err
    assert "checkpoint saved" in err and "--resume" in err and "Traceback" not in err
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 1


# ------------------------------------------------------------------ failures


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    """Epoch 1 trains normally; at the milestone the learning rate jumps to 5e10 and diverges."""
    path = tmp_path / "run" / "checkpoint.pt"
    saved = {}

    def remember_checkpoint(epoch, step, loss):
        if (epoch, step) == (1, 1):
            saved["bytes"] = path.read_bytes()

    config = tiny(tmp_path, "run", norm="none", gamma=1e12, epochs=3)
    with pytest.raises(NonFiniteLossError, match=r"loss became (nan|inf) in epoch 2, batch \d.*kept unchanged"):
        train(config, progress=False, on_batch_end=remember_checkpoint)
    assert path.read_bytes() == saved["bytes"]
    assert load_checkpoint(path)["epoch"] == 1
    assert len(read_metrics(tmp_path / "run")) == 1


def test_truncated_checkpoint_gives_a_clear_error(tmp_path, uninterrupted, capsys):
    data = (uninterrupted / "checkpoint.pt").read_bytes()
    broken = tmp_path / "run" / "checkpoint.pt"
    broken.parent.mkdir()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(broken)
    assert main(["evaluate", str(broken)]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err
    code = main(
        [
            "train",
            "--dataset",
            "fake",
            "--depth",
            "11",
            "--workers",
            "0",
            "--resume",
            "--quiet",
            "-o",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "truncated or corrupt" in err and "Traceback" not in err


def test_checkpoints_load_with_weights_only_and_are_written_atomically(tmp_path, uninterrupted):
    state = torch.load(uninterrupted / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and state["config"]["depth"] == 11
    assert sorted(p.name for p in uninterrupted.iterdir()) == [
        "checkpoint.pt",
        "final.json",
        "metrics.csv",
        "metrics.jsonl",
    ]  # no temporary left behind
    with pytest.raises(CheckpointError, match="not a parareal_toolkit training checkpoint"):
        torch.save({"weights": torch.ones(1)}, tmp_path / "other.pt")
        load_checkpoint(tmp_path / "other.pt")

    class Boom(Exception):
        pass

    class Exploding:
        def __reduce__(self):
            raise Boom

    target = tmp_path / "keep.pt"
    save_checkpoint(target, {"config": {}, "model": {}, "epoch": 3})
    before = target.read_bytes()
    with pytest.raises(Boom):
        save_checkpoint(target, {"config": {}, "model": {}, "epoch": 4, "bad": Exploding()})
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_existing_run_is_not_overwritten_by_accident(tmp_path, uninterrupted, capsys):
    # --yes: the default 200 epochs exceed the default --time-limit, refused first otherwise
    args = [
        "train",
        "--dataset",
        "fake",
        "--depth",
        "11",
        "--workers",
        "0",
        "--quiet",
        "--yes",
        "-o",
        str(uninterrupted),
    ]
    assert main(args) == 2
    assert "already exists; pass --resume" in capsys.readouterr().err
    assert load_checkpoint(uninterrupted / "checkpoint.pt")["epoch"] == 2


def test_cuda_only_options_are_refused_on_cpu(tmp_path, capsys):
    for flag in (["--amp", "bf16"], ["--channels-last"]):
        code = main(
            [
                "train",
                "--dataset",
                "fake",
                "--depth",
                "11",
                "--device",
                "cpu",
                "--workers",
                "0",
                "--quiet",
                "--yes",  # 200 epochs: past the time estimate to the device check
                "-o",
                str(tmp_path / "run"),
                *flag,
            ]
        )
        assert code == 2 and "need CUDA" in capsys.readouterr().err


def test_bad_options_exit_2(tmp_path, capsys):
    assert main(["train", "--depth", "12", "--dataset", "fake", "-o", str(tmp_path)]) == 2
    assert "`depth` must be 9n + 2" in capsys.readouterr().err
    assert main(["train", "--epochs", "0", "-o", str(tmp_path)]) == 2
    assert "`epochs` must be a positive int" in capsys.readouterr().err


# ------------------------------------------------------------------ CLI, metrics, plots


def test_train_and_evaluate_commands(tmp_path, capsys):
    run_dir = tmp_path / "cli"
    code = main(
        [
            "train",
            "--model",
            "parareal-resnet",
            "-N",
            "2",
            "--dataset",
            "patterns",
            "--depth",
            "11",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--train-size",
            "64",
            "--test-size",
            "40",
            "--workers",
            "0",
            "--no-augment",
            "--plot",
            "-o",
            str(run_dir),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "epoch 1:" in captured.out or "epoch 1:" in captured.err
    final = json.loads((run_dir / "final.json").read_text())
    assert final["epochs_completed"] == 1 and final["config"]["model"] == "parareal-resnet"
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["epoch", "lr", "train_loss", "train_error", "test_loss", "test_error"]
    assert (run_dir / "curves.png").stat().st_size > 0

    assert main(["evaluate", str(run_dir / "checkpoint.pt"), "--json", "--device", "cpu", "--workers", "0"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 40
    assert result["error"] == pytest.approx(final["final_test_error"])
    # the same float32 forward run again by `evaluate`, with its own batching: sums over 40 test
    # images x 32 x 32 pixels in another order (it was rel 1e-6, about 8 eps, tuned on one CPU)
    assert result["loss"] == approx_metric(final["final_test_loss"], terms=40 * 32 * 32, steps=1)
    assert main(["evaluate", str(run_dir / "checkpoint.pt"), "--workers", "0"]) == 0
    line = capsys.readouterr().out
    assert "error" in line and f"{100 * final['final_test_error']:.2f}%" in line and "loss" in line


def test_train_and_evaluate_on_cifar10_files(tmp_path, monkeypatch, capsys):
    """End to end on files in the real CIFAR-10 format, read by torchvision's loader."""
    from cifar_files import accept_checksums, write_cifar10

    write_cifar10(tmp_path / "data", per_batch=4, test=6)
    accept_checksums(monkeypatch, tmp_path / "data")
    run_dir = tmp_path / "c10"
    code = main(
        [
            "train",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path / "data"),
            "--depth",
            "11",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--workers",
            "0",
            "--yes",  # estimated as CIFAR-10's 50,000 images, whatever these files hold
            "--quiet",
            "-o",
            str(run_dir),
        ]
    )
    assert code == 0
    final = json.loads((run_dir / "final.json").read_text())
    assert final["config"]["dataset"] == "cifar10" and final["epochs_completed"] == 1
    assert main(["evaluate", str(run_dir / "checkpoint.pt"), "--json", "--workers", "0"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["images"] == 6 and result["error"] == pytest.approx(final["final_test_error"])


def test_seed_recipe_defaults():
    config = TrainConfig()
    assert (config.batch_size, config.epochs, config.lr, config.momentum, config.weight_decay) == (
        128,
        200,
        0.1,
        0.9,
        5e-4,
    )
    assert (config.milestones, config.gamma, config.depth, config.dataset) == ([80, 120], 0.1, 1001, "cifar10")


def test_learning_rate_schedule_is_multistep(tmp_path):
    train(tiny(tmp_path, "lr", epochs=3, milestones=[1, 2], train_size=8), progress=False)
    assert [r["lr"] for r in read_metrics(tmp_path / "lr")] == pytest.approx([0.05, 0.005, 0.0005])


def test_plot_several_runs(tmp_path, uninterrupted):
    rows = read_metrics(uninterrupted)
    figure = plot_training_curves([uninterrupted, rows], labels=["a", "b"], path=tmp_path / "c.png")
    loss_axis, error_axis = figure.axes
    assert len(loss_axis.lines) == len(error_axis.lines) == 4  # train + test per run
    assert list(error_axis.lines[1].get_ydata()) == pytest.approx([100 * r["test_error"] for r in rows])
    assert (tmp_path / "c.png").stat().st_size > 0
    with pytest.raises(ValueError, match="`labels` must have one entry per run"):
        plot_training_curves([rows], labels=["a", "b"])
