"""Checks of what user callables return, at the boundary where it enters the toolkit.

The driver adds and subtracts the states that ``fine`` and ``coarse`` return, so a state of
the wrong kind, shape or dtype does not fail where it was made: numpy broadcasts a scalar or
a ``(1,)`` array over a ``(m,)`` one, adds a list to an array, keeps a complex value where a
real one was meant. Each return is therefore compared, when it comes back, with what the run
expects, and a mismatch is an :class:`~parareal_toolkit.errors.InputError` (or
:class:`~parareal_toolkit.errors.InputTypeError` for a wrong kind: a list, a number, None)
naming the callable, the slice, what was expected and what came back.

What is expected of a state (the *signature* of the run, fixed by ``u0`` and the first
returns):

* its kind: a numpy array when ``u0`` is one, a torch tensor when ``u0`` is one (on the
  first return's device);
* its shape: ``u0``'s for numpy states (an ODE's state never changes shape); for torch
  states the shape of slice ``j``'s first return (a network's blocks may change the shape),
  which both propagators must then return on slice ``j``;
* its dtype: ``u0``'s when that is float64 or complex128 (numpy) or a floating or complex
  tensor; else (an integer or float32 array, which an ODE propagator promotes to float64) the
  first return's; one dtype for every return of the run, numeric, and real unless ``u0`` is
  complex. Inside ``torch.autocast`` each op picks its dtype, so only real/complex is checked.

Finiteness is not checked here: a NaN or an infinity coming back from a propagator is the
driver's non-finite policy (the run stops and reports ``finite=False``), not a refusal.
After the first return the check is a type, shape and dtype comparison: O(1) in the state's
size.

:func:`checked_norm` does the same for a user's norm: it must return a real number that is
non-negative (NaN and +inf are the norms of non-finite states, so they pass).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import InputError, InputTypeError
from .norms import max_abs

__all__ = [
    "StateChecker",
    "check_initial_state",
    "checked_norm",
    "is_torch_tensor",
    "describe_state",
    "autocast_enabled",
]


def is_torch_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor (torch is not imported to find out)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "dtype") and hasattr(value, "shape")


def autocast_enabled(device_type: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device_type`` (then layers return bfloat16 or float32 by op).

    Returns
    -------
    bool
        True inside an enabled autocast region for that device type.
    """
    import torch  # only called for tensors: torch is loaded already

    try:
        return bool(torch.is_autocast_enabled(device_type))
    except TypeError:  # torch before 2.4 takes no device type
        return bool(torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled())


def describe_state(value: Any) -> str:
    """A short description of what came back: ``"a numpy array of shape (3,) and dtype complex128"``, ``"None"``, ..."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):
        return f"a numpy scalar {value!r} (dtype {value.dtype})"
    if is_torch_tensor(value):
        return f"a torch tensor of shape {tuple(value.shape)}, dtype {value.dtype} on {value.device}"
    if isinstance(value, (bool, numbers.Number)):
        return f"a Python {type(value).__name__} {value!r}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"an object of type {type(value).__name__}"


def _numeric_kind(dtype: Any) -> str | None:
    """``"real"``, ``"complex"`` or None (not a number) for a numpy or torch dtype."""
    if isinstance(dtype, np.dtype):
        return {"f": "real", "i": "real", "u": "real", "c": "complex"}.get(dtype.kind)
    if getattr(dtype, "is_complex", False):
        return "complex"
    if getattr(dtype, "is_floating_point", False) or str(dtype).startswith(("torch.int", "torch.uint")):
        return "real"
    return None


def check_initial_state(u0: Any) -> None:
    """Refuse a ``u0`` that is not a non-empty numeric numpy array or torch tensor.

    A Python number, None, a list or an empty array would reach the propagators (or the
    arithmetic) in a form that broadcasts or fails without naming ``u0``.

    Raises
    ------
    InputTypeError
        For None, a number, a list or any other kind of value, and for a non-numeric dtype.
    InputError
        For an array or tensor with no entries.
    """
    if not (isinstance(u0, np.ndarray) or is_torch_tensor(u0)):
        hint = " (wrap a number as np.array([x]))" if isinstance(u0, numbers.Number) else ""
        raise InputTypeError(f"`u0` must be a numpy array or a torch tensor; got {describe_state(u0)}{hint}.")
    if _numeric_kind(u0.dtype) is None:
        raise InputTypeError(f"`u0` must hold real or complex numbers; got {describe_state(u0)}.")
    size = u0.size if isinstance(u0, np.ndarray) else u0.numel()
    if size == 0:
        raise InputError(f"`u0` must hold at least one entry; got {describe_state(u0)}.")


class _Returned:
    """The opening of a refusal, ```fine`` returned <what> on slice j``, formatted only when one is raised."""

    def __init__(self, name: str, value: Any, j: int):
        self.name, self.value, self.j = name, value, j

    def __format__(self, spec: str) -> str:
        return f"`{self.name}` returned {describe_state(self.value)} on slice {self.j}"


class StateChecker:
    """Compares every state a propagator returns with the run's signature (module docstring).

    Parameters
    ----------
    u0 : numpy.ndarray or torch.Tensor
        The initial value, already accepted by :func:`check_initial_state`.
    """

    def __init__(self, u0: Any):
        self._torch = is_torch_tensor(u0)
        self._u0_shape = tuple(u0.shape)
        self._u0_kind = _numeric_kind(u0.dtype)
        self._type: Any = None  # the first return's type and device
        self._device: Any = None
        # the run's dtype: u0's where no propagator should change it (a float64 or complex128
        # array, a floating tensor), else the first return's (an ODE propagator promotes an
        # integer or float32 array to float64)
        # under torch.autocast each op picks its dtype (bfloat16 or float32): no one dtype to hold
        self._any_dtype = self._torch and autocast_enabled(u0.device.type)
        if self._torch:
            fixed = bool(u0.is_floating_point() or u0.is_complex()) and not self._any_dtype
        else:
            fixed = u0.dtype in (np.float64, np.complex128)
        self._dtype: Any = u0.dtype if fixed else None
        self._dtype_source = "the dtype of `u0`" if fixed else "the dtype of the run's first propagated state"
        self._shapes: dict[int, tuple[int, ...]] = {}

    def check(self, value: Any, name: str, j: int) -> Any:
        """Return ``value`` if it matches the signature, else raise naming ``name`` and slice ``j``.

        Returns
        -------
        state
            ``value`` itself.

        Raises
        ------
        InputTypeError
            ``value`` is not an array (tensor) of ``u0``'s kind: None, a number, a list.
        InputError
            Its shape or dtype differs from the expected one.
        """
        # the fast path after the first return: a type, dtype, shape (and device) comparison;
        # numpy's and torch's built-in dtypes are singletons, so `is` decides the usual case
        if type(value) is self._type and value.dtype is self._dtype:
            if not self._torch:
                if value.shape == self._u0_shape:
                    return value
            elif value.shape == self._shapes.get(j) and value.device == self._device:
                return value
        return self._check_slowly(value, name, j)

    def _expected_kind(self) -> str:
        return "a torch tensor" if self._torch else "a numpy array"

    def _check_slowly(self, value: Any, name: str, j: int) -> Any:
        what = _Returned(name, value, j)
        if self._torch:
            if not is_torch_tensor(value):
                raise InputTypeError(f"{what}; expected {self._expected_kind()}, the kind of `u0`.")
        elif not (isinstance(value, np.ndarray) or (isinstance(value, np.generic) and self._u0_shape == ())):
            raise InputTypeError(f"{what}; expected {self._expected_kind()} of shape {self._u0_shape}, like `u0`.")
        kind = _numeric_kind(value.dtype)
        if kind is None:
            raise InputError(f"{what}; expected real or complex numbers.")
        if kind == "complex" and self._u0_kind != "complex":
            raise InputError(f"{what}; expected a real state, as `u0` is real (a complex `u0` makes a complex run).")
        shape = tuple(value.shape)
        expected_shape = self._u0_shape if not self._torch else self._shapes.get(j, shape)
        if shape != expected_shape:
            raise InputError(
                f"{what}; expected shape {expected_shape}"
                + (", the shape of `u0`" if not self._torch else f", the shape of slice {j}'s earlier state")
                + " (states of different shapes would broadcast into a wrong answer)."
            )
        if self._dtype is None and not self._any_dtype:
            self._dtype = value.dtype
        elif value.dtype != self._dtype and not self._any_dtype:
            raise InputError(f"{what}; expected dtype {self._dtype}, {self._dtype_source}.")
        if self._type is None:
            self._type, self._device = type(value), getattr(value, "device", None)
        elif self._torch and value.device != self._device:
            raise InputError(f"{what}; expected a tensor on {self._device}, where the run's first state was.")
        if self._torch:
            self._shapes.setdefault(j, shape)
        return value


def checked_norm(norm: Callable[[Any], Any]) -> Callable[[Any], float]:
    """``norm`` with its returns checked: a real number, non-negative, NaN or +inf allowed; as a ``float``.

    The built-in :func:`~parareal_toolkit.max_abs` is returned unchanged (it is correct by
    construction and the driver's fast paths recognise it).

    Returns
    -------
    callable
        A function of one state returning its norm as a Python ``float``.
    """
    if norm is max_abs:
        return norm

    def checked(state: Any) -> float:
        value = norm(state)
        if is_torch_tensor(value) and value.numel() == 1:
            value = value.detach().reshape(()).cpu().numpy()[()]
        elif isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(())[()]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InputTypeError(
                f"`norm` must return a real number; got {describe_state(value)} for {describe_state(state)}."
            )
        result = float(value)
        if result < 0 or result == -math.inf:
            raise InputError(
                f"`norm` must return a non-negative number (NaN or infinity for a non-finite state); got {result!r} "
                f"for {describe_state(state)}."
            )
        return result

    return checked
