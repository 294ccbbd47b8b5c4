"""The synchronous schedules run for real (torchrun, 2 processes, gloo, CPU) and give the
gradients of single-process backprop."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from launch import torchrun_command

from parareal_toolkit import cli
from parareal_toolkit.layerpipe.runtime import RUNTIME_SCHEDULES, build_model, example_batch, torch_actions

ROOT = Path(__file__).resolve().parents[1]


def _reference_grads():
    model = build_model()
    x, y = example_batch()
    torch.nn.functional.mse_loss(model(x), y).backward()
    return {name: p.grad for name, p in model.named_parameters()}


@pytest.mark.slow
@pytest.mark.parametrize("schedule", RUNTIME_SCHEDULES)
def test_torchrun_gradients_equal_single_process_backprop(schedule, tmp_path):
    cmd = [
        *torchrun_command(2),
        "-m",
        "parareal_toolkit.cli",
        "pipeline-run",
        "--schedule",
        schedule,
        "--microbatches",
        "4",
        "--out",
        str(tmp_path),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    grads = {}
    for rank in range(2):
        # each rank says what it wrote and where: one line, ending with the file's path
        written = re.findall(rf"rank {rank}: wrote [^\n]*? to (\S+grads_rank{rank}\.pt)", proc.stdout)
        assert written == [str(tmp_path / f"grads_rank{rank}.pt")], proc.stdout
        grads.update(torch.load(tmp_path / f"grads_rank{rank}.pt")["grads"])
    ref = _reference_grads()
    assert set(grads) == set(ref)
    for name in ref:
        torch.testing.assert_close(grads[name], ref[name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--out", "MISSING"], "--out"),
        (["--schedule", "zb-h2", "--out", "."], "--schedule"),
        (["--microbatches", "0", "--out", "."], "--microbatches"),
        (["--microbatches", "3", "--out", "."], "`microbatches` must divide the example batch of 8 samples"),
        (["--microbatches", "1000000000", "--out", "."], "(1, 2, 4, 8); got 1000000000."),
    ],
)
def test_pipeline_run_bad_input_exits_2_with_one_line(capsys, tmp_path, argv, match):
    argv = [str(tmp_path / "missing") if a == "MISSING" else a for a in argv]
    assert cli.main(["pipeline-run", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err


def test_custom_action_lists_split_backward_per_stage():
    actions = torch_actions("layerpipe-flush", 2, 4)
    kinds = {str(a.computation_type.value) for row in actions.values() for a in row}
    assert kinds == {"F", "I", "W"}
    for rank, row in actions.items():
        assert all(a.stage_index == rank for a in row)
        for mb in range(4):  # W of a micro-batch comes after its I on the same rank
            names = [str(a) for a in row]
            assert names.index(f"{rank}I{mb}") < names.index(f"{rank}W{mb}")


def _without_torchrun_variables(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)


def test_pipeline_run_outside_torchrun_is_one_line_at_once(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "parareal_toolkit.cli", "pipeline-run", "--out", str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (
        "parareal pipeline-run: error: pipeline-run must be started by torchrun (environment variable RANK is not "
        "set): torchrun --nproc-per-node 2 -m parareal_toolkit.cli pipeline-run --out DIR.\n"
    )
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "environment,match",
    [
        ({"RANK": "0", "WORLD_SIZE": "3"}, "pipeline-run runs two pipeline stages: launch two processes"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "`RANK` must be 0 or 1 for WORLD_SIZE=2; got '2'."),
    ],
)
def test_pipeline_run_needs_exactly_two_ranks(capsys, monkeypatch, tmp_path, environment, match):
    _without_torchrun_variables(monkeypatch)
    for key, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", **environment}.items():
        monkeypatch.setenv(key, value)
    assert cli.main(["pipeline-run", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_pipeline_run_out_must_be_a_folder(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    assert cli.main(["pipeline-run", "--out", str(tmp_path / "file")]) == 2
    assert "--out: " in capsys.readouterr().err
