"""Per-epoch metrics: one JSON object per line (``metrics.jsonl``) and the same rows as CSV.

Rows are written when an epoch ends, as strict JSON (a run stops before it would log a
non-finite number; a NaN in an older file is rewritten as ``null``). On resume the logger
drops rows of epochs later than the checkpoint's (they belong to work that the checkpoint
does not contain), so the files always describe the run that the checkpoint continues.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from .._validation import check_int

__all__ = ["MetricsLogger", "read_metrics", "METRIC_FIELDS"]

METRIC_FIELDS = (
    "epoch",
    "lr",
    "train_loss",
    "train_error",
    "test_loss",
    "test_error",
    "images_per_s",
    "epoch_time_s",
)


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a ``metrics.jsonl`` file, or of the one inside a run directory.

    Raises ``FileNotFoundError`` naming the path when there is no such file.

    Returns
    -------
    list of dict
        One row per logged epoch, in order (fields: ``METRIC_FIELDS``).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file at {str(path)!r}.")
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class MetricsLogger:
    """Appends one row per epoch to ``<run_dir>/metrics.jsonl`` and ``metrics.csv``.

    With ``resume_after_epoch`` the rows of later epochs are dropped first (see the module
    docstring), so the files describe the run a resumed checkpoint continues.
    """

    def __init__(self, run_dir: str | os.PathLike, *, resume_after_epoch: int | None = None):
        if resume_after_epoch is not None:
            resume_after_epoch = check_int(resume_after_epoch, "resume_after_epoch", minimum=0)
        self.run_dir = Path(run_dir)
        self.jsonl = self.run_dir / "metrics.jsonl"
        self.csv = self.run_dir / "metrics.csv"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        rows = []
        if resume_after_epoch is not None and self.jsonl.is_file():
            rows = [r for r in read_metrics(self.jsonl) if r["epoch"] <= resume_after_epoch]
        self.rows: list[dict[str, Any]] = []
        self._rewrite(rows)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        rows = [{k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.items()} for r in rows]
        self.jsonl.write_text("".join(json.dumps(r, allow_nan=False) + "\n" for r in rows))
        with open(self.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        self.rows = list(rows)

    def log(self, row: dict[str, Any]) -> None:
        """Append ``row`` (one epoch's metrics) to both files and to :attr:`rows`.

        Its numbers must be finite (``ValueError`` otherwise: the files are strict JSON).
        """
        line = json.dumps(row, allow_nan=False) + "\n"
        self.rows.append(row)
        with open(self.jsonl, "a") as f:
            f.write(line)
        with open(self.csv, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=METRIC_FIELDS, extrasaction="ignore").writerow(row)
