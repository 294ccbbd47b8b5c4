"""Trainer (one epoch at a time), RunState (checkpoint form) and TrainConfig validation."""

import numpy as np
import pytest
import torch
from tiny_runs import tiny_config
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.training import (
    EpochTotals,
    RunState,
    TrainConfig,
    Trainer,
    load_checkpoint,
    read_metrics,
    run_environment,
    save_checkpoint,
    train,
)

pytestmark = pytest.mark.usefixtures("single_torch_thread")

TIMING_FIELDS = ("images_per_s", "epoch_time_s")


def tiny(tmp_path, name, **overrides):
    return tiny_config(tmp_path, name, **{"train_size": 24, "test_size": 8, **overrides})


def test_trainer_epochs_reproduce_train_bit_for_bit(tmp_path):
    summary = train(tiny(tmp_path, "train"), progress=False)
    config = tiny(tmp_path, "trainer")
    with run_environment(config):
        trainer = Trainer(config)
        rows = []
        for epoch in (1, 2):
            row = trainer.train_epoch()
            assert (row["epoch"], trainer.epoch, trainer.step) == (epoch, epoch, 0)
            row.update(trainer.evaluate())
            rows.append(row)
        state = trainer.run_state()
    reference = load_checkpoint(tmp_path / "train" / "checkpoint.pt")
    assert state.model.keys() == reference["model"].keys()
    for key, value in state.model.items():
        assert torch.equal(value, reference["model"][key]), key
    assert state.scheduler == reference["scheduler"]
    untimed = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]
    assert untimed == [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in read_metrics(tmp_path / "train")]
    assert trainer.best_test_error == summary["best_test_error"] == min(r["test_error"] for r in rows)
    assert [r["lr"] for r in rows] == pytest.approx([0.05, 0.005])


def test_trainer_continues_a_saved_state(tmp_path):
    config = tiny(tmp_path, "run", epochs=1)
    with run_environment(config):
        first = Trainer(config)
        first.train_epoch()
        saved = first.save_checkpoint()
    assert saved == tmp_path / "run" / "checkpoint.pt"
    state = RunState.from_checkpoint(load_checkpoint(saved))
    assert (state.epoch, state.step, state.partial) == (1, 0, None)
    with run_environment(config):
        resumed = Trainer(config, state=state)
    assert (resumed.epoch, resumed.step) == (1, 0)
    for key, value in resumed.model.state_dict().items():
        assert torch.equal(value, first.model.state_dict()[key]), key
    assert resumed.optimizer.state_dict()["state"].keys() == first.optimizer.state_dict()["state"].keys()


def test_run_state_round_trips_through_a_checkpoint(tmp_path):
    config = tiny(tmp_path, "run", milestones=[3, 1])
    state = RunState(
        config=config,
        model={"w": torch.arange(3.0)},
        optimizer={"state": {}, "param_groups": []},
        scheduler={"last_epoch": 4},
        epoch=4,
        step=2,
        partial=EpochTotals(loss_sum=3.5, wrong=2, count=16, time=0.25),
        best_test_error=0.125,
    )
    path = save_checkpoint(tmp_path / "state.pt", state.to_checkpoint())
    loaded = RunState.from_checkpoint(torch.load(path, weights_only=True))
    assert loaded.config == config and loaded.config.milestones == [1, 3]
    assert torch.equal(loaded.model["w"], state.model["w"])
    assert (loaded.optimizer, loaded.scheduler) == (state.optimizer, state.scheduler)
    assert (loaded.epoch, loaded.step, loaded.partial, loaded.best_test_error) == (4, 2, state.partial, 0.125)
    # an epoch-boundary state written by other code needs only the required entries
    minimal = RunState.from_checkpoint({"config": {"depth": 11}, "model": {}, "epoch": 3})
    assert (minimal.epoch, minimal.step, minimal.partial, minimal.optimizer) == (3, 0, None, None)


def test_epoch_totals_add_batches():
    totals = EpochTotals()
    totals.add(2.0, 3, 8)
    totals.add(1.0, 1, 4)
    assert totals.to_dict() == {"loss_sum": 20.0, "wrong": 4, "count": 12, "time": 0.0}


@pytest.mark.parametrize(
    "field, value, error, message",
    [
        ("epochs", 0, ValueError, "`epochs` must be a positive int; got 0"),
        ("depth", 2.5, TypeError, "`depth` must be an integer; got 2.5"),
        ("workers", -1, ValueError, "`workers` must be non-negative; got -1"),
        ("lr", 0.0, ValueError, "`lr` must be positive and finite; got 0.0"),
        ("lr", float("inf"), ValueError, "`lr` must be positive and finite; got inf"),
        ("momentum", -0.1, ValueError, "`momentum` must be non-negative"),
        ("milestones", [5, 0], ValueError, r"`milestones\[1\]` must be at least 1; got 0"),
        ("coarse_units", 0, ValueError, "`coarse_units` must be at least 1; got 0"),
        ("model", "vgg", ValueError, r"`model` must be one of \('resnet', 'parareal-resnet'\); got 'vgg'"),
        ("dataset", "mnist", ValueError, "`dataset` must be one of"),
        ("seed", -1, ValueError, "`seed` must be non-negative; got -1"),
    ],
)
def test_train_config_rejects_bad_values(field, value, error, message):
    with pytest.raises(error, match=message):
        TrainConfig(**{field: value})


def test_train_config_accepts_numpy_integers_and_continues_a_saved_one(tmp_path):
    config = TrainConfig(epochs=np.int64(3), lr=np.float32(0.5))
    assert type(config.epochs) is int and type(config.lr) is float
    saved = TrainConfig(depth=20, lr=0.2, epochs=4, output_dir="old", workers=2)
    requested = TrainConfig(depth=11, lr=0.9, epochs=9, output_dir="new", workers=0)
    resumed = requested.continuing(saved)
    assert (resumed.depth, resumed.lr) == (20, 0.2)  # what the run computes: the checkpoint's
    assert (resumed.epochs, resumed.output_dir, resumed.workers) == (9, "new", 0)  # how it runs: the caller's


def test_evaluate_checkpoint_and_metrics_logger_check_their_arguments(tmp_path):
    from parareal_toolkit.training import MetricsLogger, evaluate_checkpoint

    path = tmp_path / "any.pt"
    with pytest.raises(ValueError, match="`batch_size` must be at least 1; got 0"):
        evaluate_checkpoint(path, batch_size=0)
    with pytest.raises(TypeError, match="`workers` must be an integer; got 1.5"):
        evaluate_checkpoint(path, workers=1.5)
    with pytest.raises(ValueError, match=r"`device` must be one of \('auto', 'cpu', 'cuda'\); got 'tpu'"):
        evaluate_checkpoint(path, device="tpu")
    with pytest.raises(ValueError, match="`resume_after_epoch` must be non-negative; got -1"):
        MetricsLogger(tmp_path, resume_after_epoch=-1)
