"""Contiguous min-max partitions of a chain of layers; they live in the torch-free
``parareal_toolkit.plans.partition`` (a Parareal ResNet plan needs them without torch)."""

from __future__ import annotations

from ..plans.partition import balanced_partition, virtual_time_partition

__all__ = ["balanced_partition", "virtual_time_partition"]
