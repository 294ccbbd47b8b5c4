"""Writing files so that nothing is lost: atomic replacement and strict JSON, in one place.

* :func:`atomic_write` gives a temporary file in the target's folder and moves it over the
  target with :func:`os.replace` (atomic on POSIX and Windows) only once it is complete: a
  crash or Ctrl-C leaves the old file or the new one, never half of either.
* :func:`strict_json` replaces every non-finite float (also inside lists, tuples and dicts)
  by ``None``, since ``NaN`` and ``Infinity`` are not JSON and strict parsers refuse them.
  :func:`dumps_strict` and :func:`write_json_atomic` apply it exactly once.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import InputError

__all__ = ["atomic_write", "strict_json", "dumps_strict", "write_json_atomic"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", *, fsync: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path`` atomically.

    The parent folder is created. On any exception (Ctrl-C included) the temporary file is
    removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    mode : {"w", "wb"}
        Text (UTF-8) or binary.
    fsync : bool
        Flush the data to the disk before the rename (for checkpoints that must survive a
        power cut, not only a crash of the process).

    Returns
    -------
    contextlib.AbstractContextManager
        Yields the open temporary file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a" / "b.txt"
    >>> with atomic_write(target) as fh:
    ...     _ = fh.write("done")
    >>> target.read_text()
    'done'
    """
    if mode not in ("w", "wb"):
        raise InputError(f"`mode` must be 'w' or 'wb'; got {mode!r}.")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        encoding = "utf-8" if mode == "w" else None
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def strict_json(value: Any) -> Any:
    """``value`` with every NaN or infinity (also inside lists, tuples and dicts) replaced by ``None``.

    Returns
    -------
    Any
        A structure ``json.dumps(..., allow_nan=False)`` accepts wherever the input held only
        JSON types; tuples become lists.

    Examples
    --------
    >>> strict_json({"error": float("nan"), "rates": (0.5, float("inf"))})
    {'error': None, 'rates': [0.5, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def dumps_strict(value: Any, *, indent: int | None = 2) -> str:
    """``value`` as strict JSON text (non-finite floats as ``null``; other objects by ``str``).

    Returns
    -------
    str
        The JSON text, without a trailing newline.

    Examples
    --------
    >>> dumps_strict([1.0, float("-inf")], indent=None)
    '[1.0, null]'
    """
    return json.dumps(strict_json(value), indent=indent, allow_nan=False, default=str)


def write_json_atomic(path: str | os.PathLike[str], value: Any, *, indent: int | None = 2) -> Path:
    """Write ``value`` to ``path`` as strict JSON (see :func:`dumps_strict`), atomically.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    text = dumps_strict(value, indent=indent) + "\n"
    with atomic_write(path) as fh:
        fh.write(text)
    return Path(path)
