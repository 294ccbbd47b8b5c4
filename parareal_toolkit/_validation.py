"""One set of argument checks for every public entry point, with one message style.

Every check takes ``(value, name)`` in that order, then keyword-only bounds, and returns the
value converted to the plain Python type it promises (``int``, ``float``, ``str``), so
numpy scalars are accepted wherever Python numbers are (``np.int64(3)`` is an integer,
``np.float32(0.5)`` a real) and callers never see numpy scalar types leak through. ``bool``
is never a number here (``True`` is not a count). Messages name the argument in backticks
and echo the value: ``"`num_slices` must be at least 1; got 0."``.

``TypeError`` when the kind of value is wrong, ``ValueError`` when its value is.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from .errors import InputError, InputTypeError

__all__ = [
    "check_int",
    "check_ints",
    "check_real",
    "check_real_array",
    "check_choice",
    "check_callable",
    "check_bool",
    "check_timeout",
]

# One week: longer than any collective should wait, and far inside what a timedelta and
# torch's millisecond timeouts can hold.
_MAX_TIMEOUT_S = 7 * 24 * 3600.0


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` (Python or numpy integer, not ``bool``), within ``[minimum, maximum]``.

    Returns
    -------
    int
        The value as a Python ``int``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"`{name}` must be an integer; got {value!r}.")
    value = int(value)
    if minimum is not None and value < minimum:
        if minimum == 0:
            raise InputError(f"`{name}` must be non-negative; got {value}.")
        raise InputError(f"`{name}` must be at least {minimum}; got {value}.")
    if maximum is not None and value > maximum:
        raise InputError(f"`{name}` must be at most {maximum}; got {value}.")
    return value


def check_ints(values: Any, name: str, *, minimum: int | None = None, nonempty: bool = True) -> list[int]:
    """Every entry of ``values`` checked by :func:`check_int`; ``name[i]`` in the message.

    Returns
    -------
    list of int
        The entries as Python ``int``.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InputTypeError(f"`{name}` must be a sequence of integers; got {values!r}.")
    out = [check_int(v, f"{name}[{i}]", minimum=minimum) for i, v in enumerate(values)]
    if nonempty and not out:
        raise InputError(f"`{name}` must not be empty; got {values!r}.")
    return out


def check_real(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict: bool = False,
    finite: bool = True,
) -> float:
    """``value`` as a ``float`` (any real number type, not ``bool``), finite unless ``finite=False``.

    ``minimum``/``maximum`` bound it inclusively, or exclusively with ``strict=True``
    (``check_real(x, "tol", minimum=0, strict=True)`` means ``tol > 0``). NaN is always
    refused.

    Returns
    -------
    float
        The value as a Python ``float``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"`{name}` must be a real number; got {value!r}.")
    value = float(value)
    ok = not math.isnan(value) and (math.isfinite(value) or not finite)
    if minimum is not None:
        ok = ok and (value > minimum if strict else value >= minimum)
    if maximum is not None:
        ok = ok and (value < maximum if strict else value <= maximum)
    if not ok:
        raise InputError(f"`{name}` must be {_describe(minimum, maximum, strict, finite)}; got {value!r}.")
    return value


def _describe(minimum: float | None, maximum: float | None, strict: bool, finite: bool) -> str:
    """``"positive and finite"``, ``"at least 1 and at most 2"``, ``"a finite number"``, ..."""
    parts = []
    if minimum is not None:
        if minimum == 0:
            parts.append("positive" if strict else "non-negative")
        else:
            parts.append(f"{'greater than' if strict else 'at least'} {minimum!r}")
    if maximum is not None:
        parts.append(f"{'less than' if strict else 'at most'} {maximum!r}")
    if finite:
        parts.append("finite")
    if not parts:
        return "a number (not NaN)"
    return " and ".join(parts) if minimum is not None or maximum is not None else "a finite number"


def check_real_array(value: Any, name: str, *, shape: tuple[int, ...] | None = None, finite: bool = True) -> np.ndarray:
    """``value`` as a float64 numpy array: real (integer or floating entries, never complex), of ``shape``.

    Complex input is refused rather than cut to its real part (numpy's conversion drops the
    imaginary part with only a ``ComplexWarning``). Non-finite entries are refused unless
    ``finite=False``.

    Returns
    -------
    numpy.ndarray
        The value as a float64 array (``value`` itself when it already is one).
    """
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged nested sequences
        raise InputTypeError(f"`{name}` must be a real array; got {type(value).__name__}.") from None
    if array.dtype.kind == "c":
        raise InputTypeError(
            f"`{name}` must be real; got a {array.dtype} array (complex values are not supported: write "
            "the real and imaginary parts as a real system of twice the size)."
        )
    if array.dtype.kind not in "fiu":
        raise InputTypeError(f"`{name}` must be a real array; got dtype {array.dtype} ({type(value).__name__}).")
    if shape is not None and array.shape != tuple(shape):
        raise InputError(f"`{name}` must have shape {tuple(shape)}; got {array.shape}.")
    array = array.astype(float, copy=False)
    if finite:
        bad = ~np.isfinite(array)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            where = "" if not first else f" at index {first[0] if len(first) == 1 else first}"
            raise InputError(
                f"`{name}` must be finite; got {int(bad.sum())} non-finite "
                f"{'entry' if bad.sum() == 1 else 'entries'} (the first{where}: {float(array[first])!r})."
            )
    return array


def check_choice(value: Any, name: str, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices`` (strings), else ``ValueError`` listing them.

    Returns
    -------
    str
        The value.
    """
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"`{name}` must be one of {tuple(choices)}; got {value!r}.")
    return value


def check_callable(value: Any, name: str) -> Any:
    """``value`` if it is callable, else ``TypeError``.

    Returns
    -------
    callable
        The value.
    """
    if not callable(value):
        raise InputTypeError(f"`{name}` must be callable; got {value!r}.")
    return value


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a ``bool`` (or a numpy bool), else ``TypeError``.

    A flag given as a string or a number is refused rather than read by its truth value
    (``"no"`` and ``"False"`` are true).

    Returns
    -------
    bool
        The value as a Python ``bool``.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"`{name}` must be True or False; got {value!r}.")
    return bool(value)


def check_timeout(value: Any, name: str = "timeout") -> float:
    """``value`` as a ``float`` number of seconds: positive, finite and at most one week (604800).

    Returns
    -------
    float
        The value as a Python ``float``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"`{name}` must be a real number; got {value!r}.")
    seconds = float(value)
    if not 0 < seconds <= _MAX_TIMEOUT_S:  # NaN fails the comparison too
        raise InputError(
            f"`{name}` must be a positive number of seconds, at most {_MAX_TIMEOUT_S:.0f} (one week); got {value!r}."
        )
    return seconds


__all__ += ["check_instance"]


def check_instance(value: Any, name: str, kind: type | tuple[type, ...], what: str | None = None) -> Any:
    """``value`` if it is an instance of ``kind``, else ``TypeError`` naming ``name`` and the type received.

    ``what`` describes the expected kind in the message (default: the class name, as in
    ``"`profile` must be a CostProfile; got str."``).

    Returns
    -------
    object
        The value.
    """
    if not isinstance(value, kind):
        if what is None:
            kinds = kind if isinstance(kind, tuple) else (kind,)
            what = " or ".join(f"a {k.__name__}" for k in kinds)
        raise InputTypeError(f"`{name}` must be {what}; got {type(value).__name__}.")
    return value
