"""Checkpoints: written atomically, read with ``torch.load(..., weights_only=True)``.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and dictionaries
(no pickled classes), so it loads under ``weights_only=True``. Writing goes to a
temporary file in the same directory, which is flushed, fsynced and then renamed over the
target with :func:`os.replace` (atomic on POSIX and Windows): a crash or Ctrl-C while
saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write
from ..errors import CheckpointError

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT", "REQUIRED_KEYS"]

CHECKPOINT_FORMAT = "parareal_toolkit.training/1"
REQUIRED_KEYS = ("format", "config", "model", "epoch")


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file + ``os.replace``).

    ``state`` must hold only tensors, numbers, strings, ``None``, lists and dictionaries (what
    ``weights_only=True`` loads); the format tag ``CHECKPOINT_FORMAT`` is added. The
    parent folder is created if needed.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    state = {"format": CHECKPOINT_FORMAT, **state}
    with atomic_write(path, "wb", fsync=True) as f:
        torch.save(state, f)
    return path


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, with ``weights_only=True``.

    Raises :class:`CheckpointError` (a ``ValueError``) with the file name when the file
    does not exist, is a directory, is truncated or corrupt, or lacks the expected entries.

    Returns
    -------
    dict
        The saved state, with its ``"format"`` entry; tensors on ``map_location``.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a directory, not a checkpoint file.")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for damaged files
        size = path.stat().st_size
        raise CheckpointError(
            f"checkpoint {str(path)!r} ({size} bytes) is truncated or corrupt and cannot be read "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}); "
            "use an earlier copy or start without --resume."
        ) from exc
    if not isinstance(state, dict) or any(key not in state for key in REQUIRED_KEYS):
        raise CheckpointError(
            f"{str(path)!r} is not a parareal_toolkit training checkpoint "
            f"(expected a dictionary with keys {list(REQUIRED_KEYS)})."
        )
    if state["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format {state['format']!r}; expected {CHECKPOINT_FORMAT!r}."
        )
    return state
