"""How a training run stops early: a non-finite loss or metric, or Ctrl-C (defined in :mod:`parareal_toolkit.errors`)."""

from __future__ import annotations

from ..errors import NonFiniteLossError, TrainingInterrupted

__all__ = ["NonFiniteLossError", "TrainingInterrupted"]
