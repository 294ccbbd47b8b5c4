"""``parareal bench``: table rows per N, JSON, PNG, and one-line errors for bad options."""

import json
import subprocess
import sys

import pytest
from call_budget import count_calls
from torch_threads import single_torch_thread  # noqa: F401  (fixture)

from parareal_toolkit import cli

pytestmark = pytest.mark.usefixtures("single_torch_thread")

FAST = ["--depth", "20", "--batch-size", "2", "--repeats", "1", "--warmup", "1", "--threads", "1", "--device", "cpu"]


def test_table_json_and_plot(capsys, tmp_path):
    out_json, out_png = tmp_path / "t2.json", tmp_path / "t2.png"
    code = cli.main(["bench", *FAST, "-N", "1", "3", "6", "--json", str(out_json), "--plot", str(out_png)])
    assert code == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert "Parareal ResNet-20, batch 2" in lines[0]
    header = lines[1].split()
    for column in ("Preprocessing", "Coarse", "Postprocessing", "Total", "speedup", "bound"):
        assert column in header
    rows = [line.split() for line in lines[3:6]]
    assert [r[0] for r in rows] == ["1", "3", "6"]
    assert rows[0][6] == "-"  # no coarse network for N = 1
    assert rows[0][9] == "1.00x"
    assert "N = 3" in captured.err  # progress on stderr

    report = json.loads(out_json.read_text())
    for key in (
        "depth",
        "batch_size",
        "device",
        "device_name",
        "repeats",
        "warmup",
        "backend",
        "torch",
        "rows",
        "paper_table2",
    ):
        assert key in report
    assert [r["num_subnetworks"] for r in report["rows"]] == [1, 3, 6]
    for row in report["rows"]:
        for key in (
            "preprocess_max",
            "subnetworks_max",
            "subnetworks_sum",
            "coarse",
            "postprocess",
            "virtual_total",
            "speedup",
            "bound",
            "fraction_of_bound",
            "wall_clock",
            "subnetwork_units",
            "coarse_units",
        ):
            assert key in row
        parts = row["preprocess_max"] + row["subnetworks_max"] + (row["coarse"] or 0) + row["postprocess"]
        assert row["virtual_total"] == pytest.approx(parts, rel=1e-12)
        assert row["fraction_of_bound"] == pytest.approx(row["speedup"] / row["bound"])
        assert sum(row["subnetwork_units"]) == 6
    assert report["rows"][2]["bound"] == 6 / (1 + 5 * 2)
    assert report["paper_table2"]["rows"]["18"]["total"] == 0.2326
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_to_stdout_only(capsys):
    assert cli.main(["bench", *FAST, "-N", "1", "2", "--clock", "process", "--json", "-"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["clock"] == "process_time"
    assert [r["num_subnetworks"] for r in report["rows"]] == [1, 2]
    assert captured.err == ""


def test_n1_is_always_the_reference(capsys):
    assert cli.main(["bench", *FAST, "-N", "3", "--json", "-"]) == 0
    assert [r["num_subnetworks"] for r in json.loads(capsys.readouterr().out)["rows"]] == [1, 3]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--depth", "12"], "`depth` must be 9n + 2"),
        (["--depth", "20", "-N", "1", "5"], "`num_subnetworks`"),
        (["--depth", "20", "-N", "0"], "`num_subnetworks`"),
        (["--repeats", "0"], "`repeats` must be at least 1"),
        (["--warmup", "-1"], "`warmup`"),
        (["--batch-size", "0"], "`batch_size`"),
        (["--device", "nonsense"], "`--device`"),
        (["--backend", "nope"], "`backend`"),
        (["--threads", "0"], "`--threads`"),
        (["--compile-coarse", "--warmup", "0"], "`warmup` must be at least 1"),
        (["--plot", "/no/such/dir/t.png"], "--plot"),
        (["--json", "/no/such/dir/t.json"], "--json"),
        (["--repeats", "many"], "invalid int value"),
        (["--clock", "cpu"], "invalid choice"),
    ],
)
def test_bad_options_exit_2_with_one_line(capsys, argv, message):
    try:
        code = cli.main(["bench", "--depth", "20", *argv])
    except SystemExit as exc:  # argparse type errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_a_clean_error(capsys):
    assert cli.main(["bench", "--depth", "20", "--device", "cuda:0"]) == 2
    err = capsys.readouterr().err
    assert "needs CUDA" in err and len(err.strip().splitlines()) == 1


def test_parser_does_not_import_torch():
    code = "import sys; from parareal_toolkit.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--depth", "90000002"], "Table 2 of Parareal ResNet-90000002 at batch 8 on cpu needs at least 141 TiB"),
        (
            ["--depth", "20", "-N", "1", "--batch-size", "100000000"],
            "needs at least 278 TiB (1.67 MiB of weights and gradients for N = 1, 278 TiB of activations)",
        ),
        (["--threads", "100000"], "`--threads` must be at most"),
        (["--device", "meta"], "`device` must be a CPU or CUDA device; got 'meta'."),
        (["--backend", "distributed"], "`backend` 'distributed' needs an initialised torch.distributed process group"),
        (["--backend", "processes"], "`backend` 'processes' cannot time a training pass"),
        (["--seed", "99999999999999999999999"], "`seed` must be at most 18446744073709551615"),
        (["--seed", "-1"], "`seed` must be non-negative; got -1."),
    ],
)
def test_what_cannot_run_is_refused_before_building_anything(capsys, argv, message):
    code, calls = count_calls(cli.main, ["bench", "--device", "cpu", *argv])
    assert code == 2 and calls < 200_000  # refused before building the network or timing anything
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "timing" not in err


def test_the_memory_refusal_names_a_way_out(capsys):
    assert cli.main(["bench", "--device", "cpu", "--depth", "90000002"]) == 2
    err = capsys.readouterr().err
    assert "are available; use a smaller `depth` or `batch_size`, or fewer `subnetworks`." in err


def test_memory_estimate_is_a_lower_bound_of_what_the_weights_take():
    from parareal_toolkit.bench.table import _memory_needed
    from parareal_toolkit.nn import parareal_resnet

    total, weights, activations = _memory_needed(20, [1, 3], batch_size=4)
    built = sum(p.numel() for n in (1, 3) for p in parareal_resnet(20, num_subnetworks=n).parameters())
    assert weights == 8 * built  # float32 weights and their gradients
    assert total == weights + activations and activations > 4 * 4 * 3 * 32 * 32


def test_sample_progress_counts_every_sample():
    from parareal_toolkit.bench import table2

    calls = []
    table2(
        [3],
        depth=20,
        batch_size=1,
        repeats=2,
        warmup=1,
        sample_progress=lambda done, total: calls.append((done, total)),
    )
    # the unit costs' rounds first (one warm-up, two timed), then N = 1 and 3, one warm-up and
    # two timed samples each: one count of 9
    assert calls == [(k, 9) for k in range(1, 10)]
