"""Shared pieces of the strategies (no torch)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from ..errors import InputError

__all__ = ["seeds", "as_strategy"]


def as_strategy(value, name: str) -> st.SearchStrategy:
    """A strategy from an option: a strategy as it is, a sequence sampled from, a value as ``just``.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        The strategy that draws the option's values.

    Raises
    ------
    ValueError
        For an empty sequence (naming ``name``).
    """
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        if len(value) == 0:
            raise InputError(f"`{name}` must not be an empty sequence.")
        return st.sampled_from(list(value))
    return st.just(value)


def seeds() -> st.SearchStrategy[int]:
    """Seeds for the ``torch.Generator`` that draws weights and inputs.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of int
        Integers in ``0..2**32 - 1``.
    """
    return st.integers(min_value=0, max_value=2**32 - 1)
