"""Benchmarks write to a scratch folder; only ``--update-results`` rewrites the committed results.

``benchmarks/_output.py`` is the one place that decides where a benchmark writes; every
script goes through it.
"""

import argparse
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))
# the cheapest benchmark at tiny sizes: a persistent pool of one worker, 6x6 heat equation
TINY_SPEEDUP = ["--size", "6", "--slices", "4", "--fine-substeps", "4", "--workers", "1", "--repeats", "1"]


def _committed() -> dict[str, str]:
    """Digest of every committed results file, certificate and result beside a script."""
    files = [*BENCHMARKS.glob("results/*"), *BENCHMARKS.glob("certificates/*"), *BENCHMARKS.glob("*.json")]
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}


def _run(script: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _output_module():
    spec = importlib.util.spec_from_file_location("benchmarks_output", BENCHMARKS / "_output.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_default_run_writes_the_scratch_folder_and_leaves_the_committed_results_alone(tmp_path):
    before = _committed()
    done = _run("ode_speedup.py", *TINY_SPEEDUP, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    scratch = tmp_path / "benchmark-output"
    assert sorted(p.name for p in scratch.iterdir()) == ["ode_speedup_cpu.json", "ode_speedup_cpu.png"]
    assert (scratch / "ode_speedup_cpu.png").stat().st_size > 0
    assert _committed() == before


def test_an_explicit_path_into_the_committed_results_is_refused_before_the_work(tmp_path):
    before = _committed()
    committed = BENCHMARKS / "results" / "ode_speedup_cpu.json"
    done = _run("ode_speedup.py", *TINY_SPEEDUP, "--json", str(committed), cwd=tmp_path)
    assert done.returncode == 2
    assert "only --update-results rewrites benchmarks/results/" in done.stderr
    assert not (tmp_path / "benchmark-output").exists()
    assert _committed() == before


def test_the_output_place_follows_the_options(tmp_path):
    output = _output_module()
    parser = argparse.ArgumentParser(prog="bench")
    output.add_output_options(parser)
    parse = parser.parse_args

    os.chdir(tmp_path)  # the scratch folder is relative to the working directory
    assert output.output_path(parser, parse([]), "a.json").resolve() == tmp_path / "benchmark-output" / "a.json"
    assert output.output_path(parser, parse(["--out", "x/y"]), "a.json").resolve() == tmp_path / "x" / "y" / "a.json"
    assert (tmp_path / "x" / "y").is_dir()
    args = parse(["--update-results"])
    assert output.output_path(parser, args, "a.json") == BENCHMARKS / "results" / "a.json"
    assert (
        output.output_path(parser, args, "c.json", committed=output.CERTIFICATES)
        == BENCHMARKS / "certificates" / "c.json"
    )
    assert output.output_path(parser, parse([]), "a.json", explicit="mine.json") == Path("mine.json")
    for argv, explicit in ((["--out", "d", "--update-results"], None), ([], BENCHMARKS / "certificates" / "c.json")):
        with pytest.raises(SystemExit) as refused:
            output.output_path(parser, parse(argv), "a.json", explicit=explicit)
        assert refused.value.code == 2


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_writes_through_the_shared_helper(script):
    source = script.read_text()
    assert "from _output import add_output_options, finish, output_path" in source
    assert "add_output_options(parser)" in source
    assert re.search(r"output_path\(\s*parser, args,", source) and "finish(args," in source
    # no path of its own into the committed results
    assert not re.search(r"""["']results["']""", source), "a path into benchmarks/results/ outside _output.py"
