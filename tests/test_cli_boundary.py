"""The ``parareal`` error boundary: expected failures are one line and exit 2, bugs keep their traceback.

Every case runs through the real dispatcher (:func:`parareal_toolkit.cli.main`), in this
process or as a real ``python -m parareal_toolkit.cli`` process; the faults that no real
command has (a bug, Ctrl-C at a chosen moment) come from ``cli_fault_command``, a command
registered for the test.
"""

import errno
import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from call_budget import count_calls

from parareal_toolkit import cli
from parareal_toolkit._validation import check_int
from parareal_toolkit.cli import expected_failure
from parareal_toolkit.cli._common import check_output_path, write_json
from parareal_toolkit.nn.resnet import ceil_div
from parareal_toolkit.training.checkpoint import CheckpointError

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
PARAREAL = [sys.executable, "-m", "parareal_toolkit.cli"]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]), OMP_NUM_THREADS="1")


def _caught(function, *args):
    try:
        function(*args)
    except BaseException as exc:  # the tests classify whatever was raised
        return exc
    raise AssertionError("no exception")


# ---- the rule, on real exceptions raised by real code ---------------------------------


def test_a_refusal_raised_by_the_library_is_expected():
    exc = _caught(lambda: check_int(0, "num_slices", minimum=1))
    assert expected_failure(exc) == "`num_slices` must be at least 1; got 0."
    exc = _caught(lambda: check_int(2.5, "num_slices"))
    assert isinstance(exc, TypeError) and expected_failure(exc) == "`num_slices` must be an integer; got 2.5."


def test_value_and_type_errors_raised_inside_numpy_or_by_an_operator_are_bugs():
    assert expected_failure(_caught(lambda: np.ones(2) + np.ones(3))) is None  # broadcast ValueError in numpy
    assert expected_failure(_caught(ceil_div, "seven", 2)) is None  # TypeError in the library's code, no raise
    assert expected_failure(_caught(int, "seven")) is None
    assert expected_failure(_caught(lambda: 1 / 0)) is None
    assert expected_failure(_caught(lambda: torch.ones(2) @ torch.ones(3))) is None  # torch's RuntimeError


def test_the_project_s_own_exception_types_are_expected():
    assert expected_failure(CheckpointError("checkpoint 'x.pt' does not exist.")) == "checkpoint 'x.pt' does not exist."
    assert expected_failure(cli.CliError("two\nlines")) == "two lines"


def test_os_errors_name_the_file_and_network_errors_the_reason():
    exc = _caught(open, "/nonexistent-folder/x.json", "w")
    assert expected_failure(exc) == "No such file or directory: '/nonexistent-folder/x.json'"
    exc = _caught(open, "/tmp/" + "a" * 300 + ".json", "w")
    assert expected_failure(exc).startswith("File name too long: '/tmp/aaa")
    reason = OSError(errno.ENETUNREACH, "Network is unreachable")
    assert expected_failure(urllib.error.URLError(reason)) == "network error: [Errno 101] Network is unreachable"


def test_running_out_of_memory_is_expected():
    assert expected_failure(MemoryError("needs 74.5 GiB; use --sparse")) == "needs 74.5 GiB; use --sparse"
    assert expected_failure(MemoryError()) == "out of memory; try a smaller size."
    exc = _caught(lambda: np.empty(2**40))  # 8 TiB: numpy refuses before touching memory
    assert "Unable to allocate" in expected_failure(exc)
    exc = _caught(lambda: torch.empty(2**62, dtype=torch.uint8))  # torch's CPU allocator: a RuntimeError
    assert isinstance(exc, RuntimeError) and expected_failure(exc).startswith("out of memory: ")
    cuda = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB.\nOf the allocated ...")
    assert expected_failure(cuda) == "out of memory: CUDA out of memory. Tried to allocate 20.00 GiB."


# ---- through the dispatcher ------------------------------------------------------------


@pytest.fixture
def fault_command(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setitem(cli.COMMANDS, "fault", "cli_fault_command")


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("zero-division", ZeroDivisionError),
        ("numpy-broadcast", ValueError),
        ("operator-in-library", TypeError),
        ("assertion", AssertionError),
    ],
)
def test_a_bug_propagates_out_of_main(fault_command, capsys, fault, error):
    with pytest.raises(error):
        cli.main(["fault", "--fault", fault])
    assert capsys.readouterr().err == ""


def test_expected_faults_in_process(fault_command, capsys):
    assert cli.main(["fault", "--fault", "interrupt"]) == 130
    assert capsys.readouterr().err == "parareal fault: interrupted\n"
    assert cli.main(["fault", "--fault", "memory"]) == 2
    assert capsys.readouterr().err == "parareal fault: error: out of memory; try a smaller size.\n"


def _run_fault(fault: str) -> subprocess.CompletedProcess:
    code = (
        "import sys; from parareal_toolkit import cli; cli.COMMANDS['fault'] = 'cli_fault_command'; "
        f"sys.exit(cli.main(['fault', '--fault', {fault!r}]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_a_bug_shows_its_traceback_and_exits_1():
    done = _run_fault("zero-division")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and "ZeroDivisionError" in done.stderr
    done = _run_fault("numpy-broadcast")
    assert done.returncode == 1 and "operands could not be broadcast" in done.stderr and "Traceback" in done.stderr


def test_ctrl_c_is_one_line_and_exit_130_in_a_process():
    done = _run_fault("interrupt")
    assert done.returncode == 130 and done.stderr == "parareal fault: interrupted\n"


def test_a_closed_pipe_ends_quietly_with_141():
    done = _run_fault("broken-pipe")
    assert done.returncode == 141 and done.stderr == ""


def test_a_reader_closing_the_pipe_early_leaves_no_traceback():
    # ~100 kB of JSON into `head -c 1`: the pipe closes while `models` is still writing
    command = " ".join([*PARAREAL, "models", "--depth", "9000002", "--json", "-N", *map(str, range(1, 334))])
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command} | head -c 1 >/dev/null"],
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 141 and done.stderr == ""


def test_usage_errors_and_help_keep_argparse_statuses(capsys):
    assert cli.main(["models", "--depth", "many"]) == 2
    assert capsys.readouterr().err == "parareal models: error: argument --depth: invalid int value: 'many'\n"
    assert cli.main(["nonsense"]) == 2
    assert cli.main(["--help"]) == 0
    assert "Exit status: 0 success; 1 a failed check" in " ".join(capsys.readouterr().out.split())


# ---- Ctrl-C during long work, on a terminal ---------------------------------------------


def _interrupt_on_a_terminal(argv: list[str], ready: bytes) -> tuple[int, str]:
    """Run ``parareal argv`` with stderr on a pseudo-terminal, Ctrl-C once ``ready`` shows there."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # tqdm draws nothing in 0 columns
    proc = subprocess.Popen(
        [*PARAREAL, *argv],
        env=_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        # a shell's background job inherits SIGINT ignored, and so would the child: Ctrl-C must reach it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 90
    try:
        while ready not in seen and time.monotonic() < deadline and proc.poll() is None:
            if select.select([leader], [], [], 1)[0]:
                try:
                    seen += os.read(leader, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
        assert ready in seen, seen.decode(errors="replace")
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 60  # a child that ignored Ctrl-C fails the test instead of hanging it
        while time.monotonic() < deadline:
            if select.select([leader], [], [], 1)[0]:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=30), seen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "ready"),
    [
        (["verify", "--examples", "100000"], b"parareal verify:"),
        # long on purpose: --time-limit lets it start (its estimate, ~1 day, is refused by default)
        (
            [
                "bench",
                "--depth",
                "20",
                "--batch-size",
                "2",
                "--repeats",
                "100000",
                "--device",
                "cpu",
                "--time-limit",
                "1e9",
            ],
            b"samples",
        ),
        (["layerpipe", "--processors", "16", "--microbatches", "2000", "--schedules", "gpipe", "zb-h2"], b"runs"),
    ],
)
def test_ctrl_c_during_long_work_ends_with_one_line(argv, ready):
    code, text = _interrupt_on_a_terminal(argv, ready)
    assert code == 130
    assert f"parareal {argv[0]}: interrupted" in text and "Traceback" not in text


# ---- output paths are checked before the work starts ------------------------------------

# (command line, the file option); each command's work would take seconds to minutes
WRITERS = [
    (["verify", "--examples", "100000"], "--json"),
    (["bench", "--depth", "20", "--repeats", "100000"], "--json"),
    (["bench", "--depth", "20", "--repeats", "100000"], "--plot"),
    (["layerpipe", "--processors", "16", "--microbatches", "2000", "--schedules", "gpipe", "layerpipe"], "--json"),
    (["layerpipe", "--processors", "16", "--microbatches", "2000", "--schedules", "gpipe", "layerpipe"], "--gantt"),
]


def _bad_paths(tmp_path: Path) -> dict[str, tuple[str, str]]:
    (tmp_path / "a-file").write_text("")
    return {
        "directory": (str(tmp_path), "it is a directory"),
        "missing folder": (str(tmp_path / "missing" / "out.png"), "does not exist"),
        "file as folder": (str(tmp_path / "a-file" / "out.png"), "is not a directory"),
        "name too long": (str(tmp_path / ("x" * 300 + ".png")), "File name too long"),
        "empty name": ("", "the name is empty"),
    }


@pytest.mark.parametrize(("argv", "option"), WRITERS, ids=lambda v: v if isinstance(v, str) else v[0])
@pytest.mark.parametrize("case", ["directory", "missing folder", "file as folder", "name too long", "empty name"])
def test_unwritable_output_is_refused_before_the_work(capsys, tmp_path, argv, option, case):
    path, message = _bad_paths(tmp_path)[case]
    code, calls = count_calls(cli.main, [*argv, option, path])
    assert code == 2 and calls < 200_000  # refused up front, not after the work (calls, not seconds)
    err = capsys.readouterr().err
    assert err.startswith(f"parareal {argv[0]}: error: cannot write {option} file {path!r}: ") and message in err
    assert err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["a-file"]  # the check leaves nothing behind


def test_a_folder_the_user_cannot_write_is_refused(capsys):
    if _can_create("/sys/x.json"):
        pytest.skip("/sys is writable here")
    assert cli.main(["verify", "--json", "/sys/x.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("parareal verify: error: cannot write --json file '/sys/x.json': ") and err.count("\n") == 1


def _can_create(path: str) -> bool:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError:
        return False
    os.unlink(path)
    return True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--plot", "t2.xyz"], "cannot write --plot file 't2.xyz': unknown extension '.xyz'; use one of"),
        (["bench", "--plot", "t2"], "cannot write --plot file 't2': no extension; use one of .avif"),
        (["layerpipe", "--gantt", "g.txt"], "cannot write --gantt file 'g.txt': unknown extension '.txt'"),
        (["bench", "--json", "same.png", "--plot", "same.png"], "--json and --plot name the same file 'same.png'."),
        (["layerpipe", "--gantt", "g.png", "--json", "g.png"], "--gantt and --json name the same file 'g.png'."),
    ],
)
def test_figure_names_and_clashing_outputs_are_refused(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert os.listdir(tmp_path) == []


def test_an_existing_output_file_is_overwritten(tmp_path, capsys):
    path = tmp_path / "verify.json"
    path.write_text("old contents")
    assert cli.main(["verify", "--examples", "1", "--case", "linear", "--json", str(path)]) == 0
    assert json.loads(path.read_text())["examples"] == 1


def test_check_output_path_passes_stdout_only_where_allowed(tmp_path):
    check_output_path("--json", "-", stdout=True)
    check_output_path("--json", str(tmp_path / "new.json"))
    assert not (tmp_path / "new.json").exists()  # the probe file is removed again
    with pytest.raises(cli.CliError, match="directory"):
        check_output_path("--json", str(tmp_path))


def test_json_files_are_strict_json_even_with_non_finite_numbers(tmp_path):
    path = tmp_path / "out.json"
    write_json("--json", str(path), {"error": float("nan"), "rows": [1.5, float("inf"), {"x": -float("inf")}]})

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    assert json.loads(path.read_text(), parse_constant=refuse) == {"error": None, "rows": [1.5, None, {"x": None}]}


# ---- one exception tree: the rule tested both ways --------------------------------------


def test_every_refusal_in_the_package_is_an_input_error_and_every_defined_exception_is_under_the_root():
    import ast
    import inspect

    from parareal_toolkit import errors

    package = ROOT / "parareal_toolkit"
    plain = []
    defined = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            call = node.exc if isinstance(node, ast.Raise) else None
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in ("ValueError", "TypeError")
            ):
                plain.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.ClassDef) and path.name != "errors.py":
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                if bases & {"Exception", "ValueError", "TypeError", "RuntimeError", "OSError"}:
                    defined.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert plain == [], "a refusal must raise InputError/InputTypeError, not a plain builtin"
    assert defined == [], "every exception class lives in parareal_toolkit/errors.py"
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert inspect.isclass(cls) and issubclass(cls, errors.PararealError), name


def test_the_boundary_classifies_by_type_not_by_where_the_exception_was_raised():
    from parareal_toolkit.errors import InputError, InputTypeError, NewtonConvergenceError, PararealError

    # raised from the project's own code, but a plain builtin: a bug
    assert expected_failure(ValueError("`x` must be positive; got -1.")) is None
    assert expected_failure(TypeError("`x` must be a number")) is None
    # raised from anywhere (here, this test file), but one of the project's types: expected
    assert expected_failure(InputError("`x` must be positive; got -1.")) == "`x` must be positive; got -1."
    assert expected_failure(InputTypeError("`x` must be a number")) == "`x` must be a number"
    assert expected_failure(NewtonConvergenceError("Newton did not\nconverge")) == "Newton did not converge"
    assert expected_failure(PararealError()) == "PararealError"
    # the refusals stay catchable as the builtins users already catch
    assert issubclass(InputError, ValueError) and issubclass(InputTypeError, TypeError)
    assert issubclass(cli.CliError, InputError)


def test_every_check_in_validation_raises_the_project_s_types():
    from parareal_toolkit import _validation as v
    from parareal_toolkit.errors import InputError, InputTypeError

    assert isinstance(_caught(lambda: v.check_int(0, "n", minimum=1)), InputError)
    assert isinstance(_caught(v.check_int, "3", "n"), InputTypeError)
    assert isinstance(_caught(v.check_real, float("nan"), "x"), InputError)
    assert isinstance(_caught(v.check_choice, "x", "form", ("a", "b")), InputError)
    assert isinstance(_caught(v.check_callable, 3, "norm"), InputTypeError)
