"""``benchmarks/gpu_suite.py --smoke``: the GPU suite's code paths on the CPU, its JSON and figure checked."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_suite.py"


@pytest.mark.slow
def test_smoke_run_writes_sane_json_and_figure(tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "gpu_suite_cpu.json").read_text())
    assert (tmp_path / "gpu_suite_cpu.png").stat().st_size > 0
    for key in ("benchmark", "command", "machine", "date", "tables", "sections"):
        assert key in record
    assert record["benchmark"] == "gpu_suite" and record["smoke"] is True
    sections = record["sections"]
    assert set(sections) == {"table2", "table2_compiled", "throughput", "devices"}
    for name, section in sections.items():
        assert section["seconds"] > 0 and section["budget_s"] > 0
        if "skipped" in section:  # only an overrun may skip a section, and it says so
            assert name == "table2_compiled" and "overran its budget" in section["skipped"]
            assert section["seconds"] < section["budget_s"] + 30

    splits = sections["table2"]["splits"]
    assert set(splits) == {"units", "cost"}
    for report in splits.values():
        rows = report["rows"]
        assert [row["num_subnetworks"] for row in rows] == [1, 2, 3]
        assert rows[0]["speedup"] == 1.0
        for row in rows:
            assert math.isfinite(row["virtual_total"]) and row["virtual_total"] > 0
            assert len(row["activation_bytes"]) == row["num_subnetworks"] and min(row["activation_bytes"]) > 0
            assert 0 < row["bound"] <= row["num_subnetworks"]
            assert row["memory_per_device"] <= 1.0
    assert splits["cost"]["split"] == "cost" and splits["cost"]["cost_model"] == "given"

    throughput = sections["throughput"]["rows"]
    assert [r["model"] for r in throughput] == ["ResNet-20", "Parareal ResNet-3 (units split)"]
    assert all(r["images_per_s"] > 0 and math.isfinite(r["images_per_s"]) for r in throughput)

    devices = sections["devices"]
    assert devices["devices"] == ["cpu"] and devices["forward_backward_s"] > 0
    assert devices["max_abs_difference_from_forward"] == 0.0  # the same computation on the same device

    tables = record["tables"]
    assert {"table2", "throughput", "devices", "sections"} <= set(tables)
    for table in tables.values():
        assert all(isinstance(cell, str) for row in table["rows"] for cell in row)
        assert all(len(row) == len(table["columns"]) for row in table["rows"])


@pytest.mark.slow
def test_without_a_gpu_the_full_run_says_how_to_smoke_test(tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the full suite would run")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2 and "--smoke" in done.stderr
    assert not list(tmp_path.iterdir())
