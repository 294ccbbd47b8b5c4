"""What a first ``parareal train`` on a CPU meets: the time estimate and its refusal, settled
BatchNorm statistics, visible one-epoch curves, flips that can be turned off alone."""

from __future__ import annotations

import copy

import pytest
import torch
from float_tolerance import reordering_tolerance
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from tiny_runs import tiny_config
from torch import nn
from torch_threads import single_torch_thread  # noqa: F401  (fixture)
from torchvision import transforms

from parareal_toolkit.cli import main
from parareal_toolkit.cli.train import CPU_RECIPE
from parareal_toolkit.training import (
    load_checkpoint,
    recompute_batchnorm_statistics,
    train,
    train_transform,
)


class _Started(Exception):
    """Raised instead of training: the command got past its checks."""


@pytest.fixture
def no_training(monkeypatch):
    def refuse_to_train(*args, **kwargs):
        raise _Started

    monkeypatch.setattr("parareal_toolkit.training.run.train", refuse_to_train)


def _cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except _Started:
        code = "started"
    out, err = capsys.readouterr()
    return code, out, err


# ---- the time estimate ---------------------------------------------------------------------

# ResNet-1001 on 1024 patterns for 5 epochs: 1.49e9 multiply-adds per image, x 6 x 1024 x 5 at
# 1e11 flop/s is 458 s at the least; 10 epochs 916 s, over the default 600 s on any CPU
_LONG = ("train", "--dataset", "patterns", "--epochs", "10", "--device", "cpu", "--workers", "0")


def test_a_cpu_run_over_the_default_time_limit_is_refused_naming_a_cpu_recipe(tmp_path, capsys, no_training):
    code, _, err = _cli(capsys, *_LONG, "-o", tmp_path / "run")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "exceeds --time-limit 600 s" in err and CPU_RECIPE in err and "--yes" in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_yes_or_a_larger_time_limit_lets_it_start(tmp_path, capsys, no_training, monkeypatch):
    # the pilot's measurement is machine-dependent: with --yes nothing is refused whatever it says
    monkeypatch.setattr(
        "parareal_toolkit.training.resources.estimate_training_seconds",
        lambda *a, **k: {"batch": 1e3, "epoch": 1e4, "total": 1e5, "pilot": 0.0},
    )
    assert _cli(capsys, *_LONG, "--yes", "-o", tmp_path / "a")[0] == "started"
    code, out, _ = _cli(capsys, *_LONG, "--time-limit", "1e6", "-o", tmp_path / "b")
    assert code == "started" and "estimated training time at least" in out


def test_the_pilot_estimate_is_refused_over_the_limit(tmp_path, capsys, no_training, monkeypatch):
    monkeypatch.setattr(
        "parareal_toolkit.training.resources.estimate_training_seconds",
        lambda *a, **k: {"batch": 1.0, "epoch": 8.0, "total": 601.0, "pilot": 0.0},
    )
    argv = ("train", "--dataset", "patterns", "--epochs", "1", "--device", "cpu", "-o", tmp_path / "run")
    code, _, err = _cli(capsys, *argv)
    assert code == 2 and "from a pilot of each residual unit shape on cpu" in err and CPU_RECIPE in err


def test_image_folders_are_estimated_from_their_images_and_side(tmp_path, capsys, no_training):
    for split in ("train", "test"):
        for label in ("a", "b"):
            (tmp_path / "d" / split / label).mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (64, 64), (40 * i, 90, 200)).save(tmp_path / "d" / split / label / f"{i}.png")
    # ResNet-1001 on 4 images of 64 x 64 pixels (4 x the 32-pixel cost) for 250 epochs: counted
    # 6 x 1.49e9 x 4 x 4 x 250 / 1e11 = 358 s; 500 epochs 715 s, refused (the 32-pixel count, 179 s, is not)
    argv = ["train", "--dataset", "imagefolder", "--data-dir", tmp_path / "d", "--device", "cpu", "--workers", "0"]
    code, _, err = _cli(capsys, *argv, "--epochs", "500", "-o", tmp_path / "run")
    assert code == 2 and "4 images per epoch" in err and "exceeds --time-limit 600 s" in err


def test_under_torchrun_the_pilot_is_skipped_with_a_note_and_the_count_still_refuses(
    tmp_path, capsys, no_training, monkeypatch
):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    # 2 processes, each on 64 images of each of the 8 batches: counted 45.8 s per epoch and process, 30 epochs 1374 s
    code, _, err = _cli(capsys, *_LONG[:4], "30", *_LONG[5:], "-o", tmp_path / "a")
    assert code == 2 and "per process" in err and "exceeds --time-limit 600 s" in err
    # ResNet-20 on 2048 images per process: counted 4 s, long enough to be estimated, far under the limit
    small = ("train", "--dataset", "patterns", "--depth", "20", "--epochs", "1", "--device", "cpu", "--workers", "0")
    code, out, _ = _cli(capsys, *small, "--train-size", "4096", "-o", tmp_path / "b")
    assert code == "started" and "no pilot time estimate under torchrun" in out


# ---- BatchNorm statistics --------------------------------------------------------------------


@settings(deadline=None)
@given(
    batches=st.integers(1, 4),
    size=st.integers(2, 5),
    limit=st.one_of(st.none(), st.integers(1, 4)),
    seed=st.integers(0, 2**16),
)
def test_recomputed_statistics_are_update_bn_on_the_same_batches(batches, size, limit, seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=0.3), nn.ReLU(), nn.BatchNorm2d(4))
    data = [(torch.randn(size, 3, 5, 5), torch.zeros(size, dtype=torch.long)) for _ in range(batches)]
    model.eval()
    reference = copy.deepcopy(model)
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    used = recompute_batchnorm_statistics(model, data, max_batches=limit)
    ours = {k: v.clone() for k, v in model.state_dict().items()}
    assert used == min(batches, limit or batches)
    torch.optim.swa_utils.update_bn([x for x, _ in data[:used]], reference)
    assert all(torch.equal(ours[k], v) for k, v in reference.state_dict().items())
    assert all(torch.equal(ours[k], v) for k, v in weights.items())  # the weights are untouched
    assert not model.training and model[1].momentum == 0.3 and model[3].momentum == 0.1


def test_a_model_without_batchnorm_is_left_alone():
    model = nn.Sequential(nn.Linear(3, 2))
    assert recompute_batchnorm_statistics(model, [(torch.ones(2, 3), torch.zeros(2))]) == 0


@pytest.mark.usefixtures("single_torch_thread")
def test_a_checkpoint_holds_the_statistics_of_its_final_weights(tmp_path):
    # one epoch of 4 batches, no augmentation: the running mean of the first BatchNorm is the
    # mean over the epoch's 32 images of its input (equal batches: the mean of the batch means)
    config = tiny_config(tmp_path, epochs=1, augment=False)
    train(config, progress=False)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    from parareal_toolkit.training import build_model, load_dataset

    model = build_model(config)
    model.load_state_dict(state["model"])
    images = torch.stack([x for x, _ in load_dataset("fake", train=True, size=32, augment=False, seed=0)])
    first = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    name = next(n for n, m in model.named_modules() if m is first)
    inputs = []
    first.register_forward_hook(lambda module, args, output: inputs.append(args[0].detach()))
    model.eval()
    with torch.no_grad():
        model(images)
    expected = inputs[0].mean((0, 2, 3))
    # the same float32 values summed in another order (32 x H x W at once, or 4 batches of 8): the
    # exponential average of the training steps would be about a third of it (1 - 0.9^4 = 0.34)
    tolerance = reordering_tolerance(torch.float32, scale=inputs[0].abs().max().item(), terms=inputs[0][:, 0].numel())
    assert torch.allclose(state["model"][f"{name}.running_mean"], expected, rtol=0, atol=tolerance)


# ---- flips --------------------------------------------------------------------------------------


def test_no_flip_keeps_the_crops_and_drops_the_flip():
    kinds = [type(t) for t in train_transform("cifar10", flip=False).transforms]
    assert transforms.RandomCrop in kinds and transforms.RandomHorizontalFlip not in kinds
    kinds = [type(t) for t in train_transform("cifar10").transforms]
    assert transforms.RandomCrop in kinds and transforms.RandomHorizontalFlip in kinds


def test_no_flip_reaches_the_run_and_help_states_the_augmentation(tmp_path, capsys, monkeypatch):
    seen = []

    def record(config, **kwargs):
        seen.append(config)
        raise _Started

    monkeypatch.setattr("parareal_toolkit.training.run.train", record)
    argv = ["train", "--dataset", "fake", "--depth", "11", "--epochs", "1", "--workers", "0", "--quiet"]
    assert _cli(capsys, *argv, "--no-flip", "-o", tmp_path / "r")[0] == "started"
    assert seen[0].flip is False and seen[0].augment is True
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "mirrored left-right with probability 1/2" in text and "--no-flip" in text


# ---- curves ---------------------------------------------------------------------------------------


def test_one_epoch_curves_are_visible_markers():
    import matplotlib

    matplotlib.use("Agg")
    from parareal_toolkit.training import plot_training_curves

    rows = [{"epoch": 1, "train_loss": 2.0, "train_error": 0.6, "test_loss": 1.5, "test_error": 0.4}]
    fig = plot_training_curves([rows])
    lines = [line for ax in fig.axes for line in ax.get_lines()]
    assert len(lines) == 4  # train and test, loss and error
    for line in lines:
        assert len(line.get_xdata()) == 1 and line.get_marker() not in ("None", None, "", " ")
        assert line.get_markersize() > 0


def test_the_users_guide_gives_the_recipe_the_refusal_names():
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "users" / "training.md").read_text()
    assert f"`{CPU_RECIPE}`" in guide
