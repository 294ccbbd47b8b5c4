"""`parareal verify`: table, JSON, exit codes; in-process through cli.main and once as a process."""

import json
import subprocess
import sys

import pytest

from parareal_toolkit import cli


def test_verify_is_registered():
    assert cli.COMMANDS["verify"] == "parareal_toolkit.cli.verify"


def test_table_and_json(capsys, tmp_path):
    path = tmp_path / "verify.json"
    assert cli.main(["verify", "--examples", "4", "--seed", "7", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("case"))
    for column in ("configuration", "max |f~ - f|", "holds?"):
        assert column in header
    rows = {
        line.split()[0]: line
        for line in lines
        if line.split() and line.split()[0] in ("linear", "linear+bias", "relu", "batchnorm")
    }
    assert set(rows) == {"linear", "linear+bias", "relu", "batchnorm"}
    assert "yes (4/4)" in rows["linear"]
    for name in ("linear+bias", "relu", "batchnorm"):
        assert "no (" in rows[name] and "violate" in rows[name]
    report = json.loads(path.read_text())
    assert report["ok"] is True and report["seed"] == 7 and report["examples"] == 4
    cases = {c["case"]: c for c in report["cases"]}
    assert cases["linear"]["holds"] and cases["linear"]["max_relative_gap"] <= 1e-10
    for name in ("linear+bias", "relu", "batchnorm"):
        assert not cases[name]["expected_to_hold"] and cases[name]["violations"] >= 1
        assert cases[name]["max_abs_gap"] > 1e-6  # the size of the failure, far above roundoff
        assert cases[name]["as_expected"]
    assert all(len(c["examples"]) == 4 for c in cases.values())
    # the numbers in the table are the ones in the file
    assert f"{cases['relu']['max_abs_gap']:.3e}" in rows["relu"]


def test_same_seed_same_numbers(tmp_path):
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for p in paths:
        assert cli.main(["verify", "--examples", "2", "--case", "relu", "--json", str(p)]) == 0
    assert json.loads(paths[0].read_text()) == json.loads(paths[1].read_text())


def test_exit_1_when_a_case_expected_to_hold_does_not(capsys):
    # With a tolerance below float64 roundoff the linear case cannot hold on these examples.
    assert (
        cli.main(["verify", "--examples", "8", "--seed", "3", "--case", "linear", "--rtol", "1e-300", "--details"]) == 1
    )
    out = capsys.readouterr().out
    assert "FAILED: Proposition 1 does not hold in linear" in out
    assert "C=" in out  # --details lists each configuration


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--examples", "0"], "`--examples` must be at least 1; got 0."),
        (["--seed", "-1"], "`--seed` must be non-negative; got -1."),
        (["--rtol", "0"], "`--rtol` must be positive and finite; got 0.0."),
        (["--examples", "many"], "argument --examples: invalid int value: 'many'"),
        (["--case", "sigmoid"], "argument --case: invalid choice: 'sigmoid'"),
        (["--json", "/nonexistent-dir/x.json", "--examples", "1", "--case", "linear"], "cannot write --json file"),
    ],
)
def test_bad_options_exit_2_with_one_line(capsys, argv, message):
    try:
        code = cli.main(["verify", *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_verify_command_module_does_not_import_torch():
    code = "import sys, parareal_toolkit.cli.verify; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_verify_runs_without_hypothesis_and_the_old_testing_names_are_the_same_objects():
    # what `parareal verify` runs lives in parareal_toolkit.verification; the strategies stay in testing
    code = (
        "import sys, parareal_toolkit.verification.proposition1, parareal_toolkit.testing.proposition1, "
        "parareal_toolkit.testing.configurations; assert 'hypothesis' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    from parareal_toolkit.testing import configurations as old_configurations
    from parareal_toolkit.testing import proposition1 as old_proposition1
    from parareal_toolkit.verification import configurations, proposition1

    for old, new in ((old_configurations, configurations), (old_proposition1, proposition1)):
        assert old.__all__ == new.__all__
        assert all(getattr(old, name) is getattr(new, name) for name in new.__all__)


def test_verify_as_a_process(tmp_path):
    # Real process, real exit status, the real command table.
    command = [sys.executable, "-m", "parareal_toolkit.cli"]
    path = tmp_path / "v.json"
    done = subprocess.run(
        [*command, "verify", "--examples", "2", "--json", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "linear+bias" in done.stdout and json.loads(path.read_text())["ok"] is True
    bad = subprocess.run([*command, "verify", "--examples", "-3"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--rtol", "nan"], "`--rtol` must be positive and finite; got nan."),
        (["--rtol", "inf"], "`--rtol` must be positive and finite; got inf."),
        (["--rtol=-1e-3"], "`--rtol` must be positive and finite; got -0.001."),
        (["--examples", "100001"], "`--examples` must be at most 100000 (about 4 minutes per case here); got 100001."),
        (
            ["--examples", "1000000000"],
            "`--examples` must be at most 100000 (about 4 minutes per case here); got 1000000000.",
        ),
    ],
)
def test_nonsense_numbers_are_refused_before_any_example(capsys, argv, message):
    assert cli.main(["verify", *argv]) == 2
    err = capsys.readouterr().err
    assert err == f"parareal verify: error: {message}\n"


def test_progress_is_reported_once_per_example():
    from parareal_toolkit.testing.proposition1 import verify_proposition1

    calls = []
    results = verify_proposition1(examples=3, cases=("linear", "relu"), progress=lambda: calls.append(1))
    assert len(calls) == 6 == sum(len(r.examples) for r in results)
    with pytest.raises(TypeError, match="`progress` must be callable"):
        verify_proposition1(examples=1, progress="bar")
