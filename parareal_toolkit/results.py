"""Benchmark results as files: one record format for every measured or simulated table.

Every file under ``benchmarks/results/`` is a strict-JSON object written by
:func:`write_results`. Besides its raw data it carries

* ``benchmark``: the benchmark's name; ``command``: the command line that produced it;
* ``machine``: where it ran, in words (CPU model and core count, or the GPU's name);
* ``date``: the ISO date of the run;
* ``tables``: ``{name: {"title": str, "columns": [str, ...], "rows": [[cell, ...], ...]}}``,
  each cell a string formatted by the benchmark itself.

The documentation and the README show ``tables`` verbatim (the cells are never retyped),
so a page can only disagree with its source when the source changes. Only the standard
library is imported here.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._io import write_json_atomic
from .errors import InputError, InputTypeError

__all__ = ["machine_description", "results_record", "results_table", "write_results", "read_results"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description(device: str | None = None) -> str:
    """Where a benchmark runs, in words: the CPU model and core count, or ``device`` first.

    Parameters
    ----------
    device : str, optional
        A GPU's name (``torch.cuda.get_device_name()``), put before the CPU.

    Returns
    -------
    str
        For example ``"AMD EPYC, 2 cores (x86_64), Linux"``.

    Examples
    --------
    >>> "cores" in machine_description()
    True
    """
    cpu = f"{_cpu_model()}, {os.cpu_count()} cores ({platform.machine()}), {platform.system()}"
    return f"{device}; host {cpu}" if device else cpu


def results_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """One table of a results file: every cell turned into the string a page will show.

    Parameters
    ----------
    title : str
        What the table shows, in one line.
    columns : sequence of str
        Column headings.
    rows : sequence of sequences
        The cells, already formatted by the caller (anything else is passed through ``str``).

    Returns
    -------
    dict
        ``{"title": ..., "columns": [...], "rows": [[str, ...], ...]}``.

    Examples
    --------
    >>> results_table("speedup", ["W", "speedup"], [[1, "0.98"]])["rows"]
    [['1', '0.98']]
    """
    if isinstance(columns, (str, bytes)):  # a string is a sequence of one-letter headings
        raise InputTypeError(f"`columns` must be a sequence of headings, not one string; got {columns!r}.")
    columns = [str(c) for c in columns]
    cells = [[str(c) for c in row] for row in rows]
    for i, row in enumerate(cells):
        if len(row) != len(columns):
            raise InputError(f"rows[{i}] has {len(row)} cells, expected {len(columns)} (one per column)")
    return {"title": str(title), "columns": columns, "rows": cells}


def results_record(benchmark: str, command: str, *, device: str | None = None, **data: Any) -> dict[str, Any]:
    """The header every results file starts with, followed by ``data``.

    Parameters
    ----------
    benchmark : str
        The benchmark's name.
    command : str
        The command line that reproduces the file.
    device : str, optional
        A GPU's name (see :func:`machine_description`).
    **data
        The raw results and ``tables=`` (a dict of :func:`results_table`).

    Returns
    -------
    dict
        ``benchmark``, ``command``, ``machine``, ``date``, ``python`` and then ``data``.

    Examples
    --------
    >>> record = results_record("demo", "python demo.py", tables={})
    >>> sorted(record)[:3]
    ['benchmark', 'command', 'date']
    """
    for name, value in (("benchmark", benchmark), ("command", command)):
        if not isinstance(value, str):
            raise InputTypeError(f"`{name}` must be a string; got {value!r}.")
    header = {
        "benchmark": benchmark,
        "command": command,
        "machine": machine_description(device),
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
    }
    return {**header, **data}


def write_results(path: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write ``record`` to ``path`` as strict JSON, atomically (temporary file + ``os.replace``).

    Non-finite floats become ``null``: ``NaN`` is not JSON.

    Parameters
    ----------
    path : str or path-like
        The target file; its folder is created.
    record : dict
        Usually from :func:`results_record`.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if Path(path).is_dir():
        raise InputError(f"`path` {str(path)!r} is a directory; give a file name.")
    return write_json_atomic(path, record)


def read_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a results file and check it carries the fields every page relies on.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`write_results`.

    Returns
    -------
    dict
        The record.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:  # missing, a folder, not JSON
        raise InputError(f"`path` {str(path)!r} is not a readable results file: {exc}") from None
    if not isinstance(record, dict):
        raise InputError(f"`path` {str(path)!r} is not a results file: it holds a {type(record).__name__}.")
    missing = [k for k in ("benchmark", "machine", "date", "tables") if k not in record]
    if missing:
        raise InputError(f"results file {str(path)!r} lacks {', '.join(missing)}")
    return record
