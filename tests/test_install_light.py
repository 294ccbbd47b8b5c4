"""The ODE-only install (no ``nn`` extra): what runs without PyTorch, and the one line the rest prints.

PyTorch is made unimportable in a fresh interpreter by a meta-path finder that refuses
``torch`` and ``torchvision`` (as on a machine where they were never installed), then the
real ``parareal`` entry point runs each command.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from parareal_toolkit import __version__
from parareal_toolkit.cli import main, version

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Runs in a child interpreter: block torch, then call main() on each argv given as JSON and
# print one JSON record per command (exit status, stderr, whether torch got imported).
_CHILD = r"""
import contextlib, io, json, sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "torchvision"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoTorch())

if __name__ == "__main__":  # the process pool of `parareal speedup` re-imports this as __mp_main__
    import parareal_toolkit, parareal_toolkit.ode, parareal_toolkit.testing.ode  # noqa: F401
    from parareal_toolkit.cli import main

    for argv in json.loads(sys.argv[1]):
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            status = main(argv)
        print(json.dumps({"argv": argv, "status": status, "stderr": err.getvalue(), "stdout": out.getvalue()}))
    print(json.dumps({"torch_imported": any(m.partition(".")[0] in ("torch", "torchvision") for m in sys.modules)}))
"""


def _run_without_torch(argvs, tmp_path, **env):
    script = tmp_path / "no_torch.py"
    script.write_text(_CHILD)
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(argvs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **env},
    )
    assert done.returncode == 0, done.stderr
    *records, last = [json.loads(line) for line in done.stdout.splitlines()]
    return records, last["torch_imported"]


@pytest.mark.slow
def test_the_ode_commands_run_without_torch(tmp_path):
    out = tmp_path / "ode.json"
    argvs = [
        ["ode"],  # the README's first command, on the built-in default
        ["ode", "--problem", "lorenz", "--slices", "4", "--json", str(out)],
        ["models"],
        ["layerpipe", "--costs", "1", "1", "1", "2", "2", "2", "1", "1", "1", "--processors", "2"],
        ["speedup", "--size", "6", "--slices", "4", "--fine-substeps", "4", "--workers", "1", "--repeats", "1"],
    ]
    records, torch_imported = _run_without_torch(argvs, tmp_path)
    for record in records:
        assert record["status"] == 0, record
    assert "converged after" in records[0]["stdout"]
    assert json.loads(out.read_text())["problem"] == "lorenz"
    assert not torch_imported


def test_network_commands_without_torch_exit_2_with_one_line_naming_the_extra(tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(b"")
    argvs = [
        ["train", "--dataset", "patterns", "--depth", "20", "--epochs", "1", "-o", str(tmp_path / "run")],
        ["evaluate", str(checkpoint)],
        ["bench", "--depth", "20", "-N", "1"],
        ["verify", "--examples", "1"],
        ["pipeline-run", "--schedule", "1f1b", "--out", str(tmp_path)],
        ["layerpipe", "--network", "vgg16", "--processors", "2"],  # counting real layer shapes needs torch
    ]
    # as under torchrun (rank 0 of 2), so that pipeline-run gets past its launcher check
    torchrun = dict(RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT="29500")
    records, _ = _run_without_torch(argvs, tmp_path, **torchrun)
    assert [r["argv"] for r in records] == argvs
    for record in records:
        command = record["argv"][0]
        assert record["status"] == 2, record
        assert record["stderr"].count("\n") == 1, record["stderr"]
        assert record["stderr"].startswith(f"parareal {command}: error: needs PyTorch ("), record["stderr"]
        assert 'pip install "parareal-toolkit[nn]"' in record["stderr"]


def test_the_nn_extra_holds_torch_and_the_core_does_not():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = lambda reqs: {r.split(">")[0].split("=")[0].split("[")[0].strip() for r in reqs}
    assert not names(project["dependencies"]) & {"torch", "torchvision"}
    extras = project["optional-dependencies"]
    assert names(extras["nn"]) == {"torch", "torchvision"}
    # the tests and the docs' gallery run the network half: their extras carry torch as well
    assert {"torch", "torchvision"} <= names(extras["test"]) & names(extras["docs"])


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"parareal {version()}\n"
    # the installed metadata (pyproject) and the package's __version__ are one number
    declared = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), flags=re.M)
    assert declared and version() == __version__ == declared.group(1)
