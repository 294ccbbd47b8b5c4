"""Layer-parallel training (``layer_parallel="mgrit"``): the plain ResNet, its forward and backward solved by MGRIT.

At the exact iteration count one epoch equals serial training to rounding (the tolerance is
``float_tolerance``'s, derived from float32 and the sums of a step); fewer iterations train
another, inexact, computation whose checkpoint is still the plain ResNet, evaluated layer by
layer. Resume, the command line and DDP under torchrun are checked on real runs.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from float_tolerance import assert_states_agree, reordering_tolerance
from launch import torchrun_command
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit.cli import main
from parareal_toolkit.errors import InputError
from parareal_toolkit.nn import LayerParallelResNet, preact_resnet
from parareal_toolkit.training import TrainConfig, evaluate_checkpoint, load_checkpoint, train
from parareal_toolkit.training.models import build_model

pytestmark = pytest.mark.usefixtures("single_torch_thread")

REPO = Path(__file__).resolve().parents[1]

# ResNet-47: 5 units per stage, the last 4 of equal shape, so each stage has an MGRIT block of
# N_0 = 4 units (2 coarse steps with m = 2; exact at 2 iterations with F-relaxation). BatchNorm in
# training mode, SGD with momentum and weight decay, 4 steps of 8 images.
RUN = dict(
    model="resnet",
    depth=47,
    dataset="patterns",
    train_size=32,
    test_size=16,
    batch_size=8,
    epochs=1,
    augment=True,
    lr=0.05,
    momentum=0.9,
    weight_decay=5e-4,
    seed=3,
    workers=0,
    device="cpu",
    deterministic=True,
)


def run_config(directory, **overrides):
    return {**RUN, "output_dir": str(directory), **overrides}


def budget(config):
    """What two roundings of the same training may differ by (``float_tolerance``)."""
    steps = config["epochs"] * config["train_size"] // config["batch_size"]
    return dict(terms=config["batch_size"] * 32 * 32, steps=steps, momentum=config["momentum"])


def trained(directory, **overrides):
    config = run_config(directory, **overrides)
    summary = train(TrainConfig(**config), progress=False)
    return load_checkpoint(Path(directory) / "checkpoint.pt"), summary, config


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("serial"))


@pytest.mark.parametrize(
    "options",
    [
        dict(mgrit_backward="adjoint"),
        dict(mgrit_backward="adjoint", mgrit_levels=3),
    ],
    ids=["2-levels", "3-levels"],
)
def test_one_epoch_of_exact_layer_parallel_training_equals_serial_training(tmp_path, serial, options):
    """With the adjoint backward (the default), whose forward and backward at the exact count are the serial recursions.

    Autograd through the iterations is exact too, but it differentiates ``a + (Φ(w) - b)``
    corrections whose two coarse terms cancel only up to rounding; in float32 that rounding
    (of the size of the coarse steps' derivatives) reaches the weights, and a deep BatchNorm
    network at these learning rates amplifies a one-ulp change of its weights by orders of
    magnitude within a few steps. Both backward modes equal serial SGD in float64:
    ``tests/test_layer_parallel.py::test_an_epoch_of_layer_parallel_training_at_convergence_is_serial_training``.
    """
    reference, reference_summary, config = serial
    state, summary, _ = trained(tmp_path, layer_parallel="mgrit", **options)
    assert_states_agree(state["model"], reference["model"], **budget(config))
    momenta = [{str(i): s["momentum_buffer"] for i, s in c["optimizer"]["state"].items()} for c in (state, reference)]
    assert_states_agree(*momenta, **budget(config))
    assert summary["epochs_completed"] == reference_summary["epochs_completed"] == 1


def test_one_inexact_iteration_trains_another_network_whose_checkpoint_is_the_plain_resnet(tmp_path, serial):
    reference, _, config = serial
    state, summary, _ = trained(tmp_path, layer_parallel="mgrit", mgrit_iterations=1)
    # final.json says what MGRIT did: one iteration forward and adjoint in each stage's block of 4 units
    solves = summary["mgrit_solves"]
    assert [(r["stage"], r["units"], r["iterations"], r["adjoint_iterations"]) for r in solves] == [
        (0, 4, 1, 1),
        (1, 4, 1, 1),
        (2, 4, 1, 1),
    ]
    assert serial[1]["mgrit_solves"] is None
    # the inexact solve changes the updates by far more than rounding (so the test above can fail)
    key = "layer1.1.conv2.weight"
    atol = reordering_tolerance(torch.float32, scale=float(reference["model"][key].abs().max()), **budget(config))
    assert float((state["model"][key] - reference["model"][key]).abs().max()) > 100 * atol
    # the checkpoint is the plain ResNet's, key for key, and is evaluated layer by layer
    plain = preact_resnet(47, 10)  # the patterns set has 10 classes
    assert plain.load_state_dict(state["model"], strict=True).missing_keys == []
    evaluated = evaluate_checkpoint(Path(tmp_path) / "checkpoint.pt")
    assert evaluated["error"] == pytest.approx(summary["final_test_error"], abs=1e-12)


def test_build_model_gives_the_layer_parallel_network_for_training_and_the_plain_one_for_evaluation(tmp_path):
    config = TrainConfig(**run_config(tmp_path, layer_parallel="mgrit", mgrit_iterations=1, mgrit_levels=3))
    torch.manual_seed(0)
    model = build_model(config)
    torch.manual_seed(0)
    plain = build_model(config, serial=True)
    assert isinstance(model, LayerParallelResNet) and not isinstance(plain, LayerParallelResNet)
    assert model.options["iterations"] == model.options["adjoint_iterations"] == 1
    assert model.options["levels"] == 3 and model.options["backward"] == "adjoint"
    # the same parameters, drawn in the same order
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain.state_dict().values()))
    x = torch.randn(2, 3, 32, 32)
    model.eval(), plain.eval()
    with torch.no_grad():
        assert not torch.equal(model(x), plain(x))  # one iteration is inexact
        with model.serial():
            assert torch.equal(model(x), plain(x))


def test_resume_of_a_layer_parallel_run_is_bit_for_bit_and_keeps_its_mgrit_options(tmp_path, capsys):
    straight = run_config(tmp_path / "straight", layer_parallel="mgrit", mgrit_iterations=1, epochs=2)
    train(TrainConfig(**straight), progress=False)
    first = {**straight, "output_dir": str(tmp_path / "resumed"), "epochs": 1}
    train(TrainConfig(**first), progress=False)
    train(TrainConfig(**{**first, "epochs": 2}), resume=True, progress=False)
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the MGRIT options define the run: resuming with others is refused, naming them
    code = main(["train", "--resume", "-o", str(tmp_path / "resumed"), "--mgrit-iterations", "2", "--epochs", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "--mgrit-iterations 2" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (dict(layer_parallel="parareal"), "`layer_parallel`"),
        (dict(model="parareal-resnet", layer_parallel="mgrit"), "needs model='resnet'"),
        (dict(mgrit_iterations=2), "with layer_parallel='none'"),
        (dict(mgrit_backward="adjoint"), "with layer_parallel='none'"),
        (dict(layer_parallel="mgrit", mgrit_iterations=0), "`mgrit_iterations`"),
        (dict(layer_parallel="mgrit", mgrit_levels=1), "`mgrit_levels`"),
        (dict(layer_parallel="mgrit", mgrit_coarsening=1), "`mgrit_coarsening`"),
        (dict(layer_parallel="mgrit", mgrit_backward="reverse"), "`mgrit_backward`"),
        (dict(placement="devices"), "layer_parallel='mgrit'"),
    ],
)
def test_layer_parallel_options_are_checked_naming_the_field(tmp_path, overrides, fragment):
    with pytest.raises(InputError, match=None) as caught:
        TrainConfig(**run_config(tmp_path, **overrides))
    assert fragment in str(caught.value)


def test_a_layer_parallel_config_allows_the_placements_that_split_the_work(tmp_path):
    for placement, extra in (("devices", {"devices": ["cpu", "cpu"]}), ("distributed", {})):
        config = TrainConfig(**run_config(tmp_path, layer_parallel="mgrit", placement=placement, **extra))
        assert config.placement == placement


def test_cli_says_what_mgrit_solves_and_refuses_mgrit_options_without_it(tmp_path, capsys):
    base = ["train", "--dataset", "patterns", "--train-size", "16", "--test-size", "8", "--batch-size", "8"]
    base += ["--epochs", "1", "--workers", "0", "--no-augment"]
    assert main([*base, "--depth", "47", "--mgrit-levels", "3", "-o", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--mgrit-levels" in err and "--layer-parallel mgrit" in err and len(err.splitlines()) == 1
    lp_run = ["--depth", "47", "--layer-parallel", "mgrit", "--mgrit-iterations", "1", "-o", str(tmp_path / "b")]
    assert main([*base, *lp_run]) == 0
    out = capsys.readouterr().out
    assert "4 of 4 equal-shape units on 2 levels" in out and "1 iteration(s)" in out and "inexact; exact at 2" in out
    # ResNet-20 has one equal-shape unit per stage: nothing to solve across, said so, trained serially
    assert main([*base, "--depth", "20", "--layer-parallel", "mgrit", "-o", str(tmp_path / "c")]) == 0
    assert "every stage runs layer by layer" in capsys.readouterr().out
    assert (
        "mgrit"
        in subprocess.run(
            [sys.executable, "-m", "parareal_toolkit.cli", "train", "--help"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=True,
        ).stdout
    )


def torchrun_training(config):
    command = [*torchrun_command(2), str(REPO / "tests" / "slice_parallel_worker.py"), json.dumps(config)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return load_checkpoint(Path(config["output_dir"]) / "checkpoint.pt")


@pytest.mark.slow
def test_ddp_of_exact_layer_parallel_resnets_equals_ddp_of_serial_resnets(tmp_path):
    """Two torchrun ranks, placement single: DDP replicas of the layer-parallel ResNet, each on half the batch.

    BatchNorm normalises per replica under DDP, so the reference is DDP of the serial ResNet
    with the same shards (not one process).
    """
    parallel = torchrun_training(run_config(tmp_path / "ddp_lp", layer_parallel="mgrit"))
    serial = torchrun_training(run_config(tmp_path / "ddp_serial"))
    config = run_config(tmp_path)
    assert_states_agree(parallel["model"], serial["model"], **budget(config))


@pytest.mark.slow
def test_distributed_placement_of_a_layer_parallel_resnet_trains_as_one_process(tmp_path):
    """Two ranks share each MGRIT block's maps (one inexact iteration: the same inexact computation as one process)."""
    options = dict(layer_parallel="mgrit", mgrit_iterations=1)
    distributed = torchrun_training(run_config(tmp_path / "dist", placement="distributed", **options))
    one, _, config = trained(tmp_path / "one", **options)
    assert_states_agree(distributed["model"], one["model"], **budget(config))
    assert evaluate_checkpoint(tmp_path / "dist" / "checkpoint.pt")["error"] == pytest.approx(
        evaluate_checkpoint(tmp_path / "one" / "checkpoint.pt")["error"], abs=1 / RUN["test_size"]
    )


def test_the_backward_choices_of_the_command_line_are_the_networks():
    from parareal_toolkit._names import LAYER_PARALLEL_BACKWARD_NAMES
    from parareal_toolkit.nn.layer_parallel import BACKWARD_MODES

    assert set(LAYER_PARALLEL_BACKWARD_NAMES) == set(BACKWARD_MODES)
