"""The few array operations the right-hand sides and explicit steppers need, for numpy and torch alike.

torch is never imported here unless a state already is a tensor, so ``parareal_toolkit.ode``
stays torch-free for numpy users.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["is_tensor", "stack_last", "concat_last", "roll_last", "times_transposed", "constant_like"]


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (checked without importing torch)."""
    return type(x).__module__.startswith("torch")


def stack_last(parts: list[Any]) -> Any:
    """``stack(parts, axis=-1)`` in the library of ``parts[0]``."""
    if is_tensor(parts[0]):
        import torch

        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def concat_last(parts: list[Any]) -> Any:
    """``concatenate(parts, axis=-1)`` in the library of ``parts[0]``."""
    if is_tensor(parts[0]):
        import torch

        return torch.cat(parts, dim=-1)
    return np.concatenate(parts, axis=-1)


def roll_last(u: Any, shift: int) -> Any:
    """``roll(u, shift, axis=-1)``."""
    if is_tensor(u):
        import torch

        return torch.roll(u, shift, dims=-1)
    return np.roll(u, shift, axis=-1)


def times_transposed(u: Any, matrix: Any, cache: dict) -> Any:
    """``u @ matrix.T`` (rows of ``u`` are states); a numpy ``matrix`` becomes a tensor like ``u`` once per device and dtype."""
    if is_tensor(u):
        import torch

        key = (u.device, u.dtype)
        if key not in cache:
            dense = matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
            cache[key] = torch.as_tensor(dense, dtype=u.dtype, device=u.device)
        return u @ cache[key].T
    return np.asarray(matrix @ u.T).T


def constant_like(values: np.ndarray, like: Any, cache: dict) -> Any:
    """``values`` (a numpy array) as a tensor like ``like`` (cached per device and dtype), or itself for numpy."""
    if is_tensor(like):
        import torch

        key = (like.device, like.dtype)
        if key not in cache:
            cache[key] = torch.as_tensor(values, dtype=like.dtype, device=like.device)
        return cache[key]
    return values
