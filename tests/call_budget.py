"""How much Python work a call does, counted in function calls rather than seconds.

"Answers at once" and "refused before the work" are claims about the amount of work, and a
wall-clock limit turns them into claims about the machine: the same check passes on a fast
CPU and fails on a loaded two-core one. Counting the Python function calls a call makes
(``sys.setprofile``; C functions called from Python count too; the module code a first
import runs does not) measures the work itself, the same on every machine: a refusal or a closed-form count makes thousands of calls, building or
enumerating millions of modules makes millions.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def count_calls(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Call ``function(*args, **kwargs)`` and count the function calls it makes, on this thread.

    Returns
    -------
    tuple
        ``(value, calls)``: what ``function`` returned and how many Python and C function calls
        it made, outside imports.
    """
    calls = 0
    importing = 0  # depth of importlib's frames: a first import's module code is not the call's work

    def profile(frame, event, arg):
        nonlocal calls, importing
        bootstrap = frame.f_code.co_filename.startswith("<frozen importlib")
        if event == "call":
            if bootstrap:
                importing += 1
            elif not importing:
                calls += 1
        elif event == "return":
            if bootstrap:
                importing -= 1
        elif event == "c_call" and not importing:
            calls += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        value = function(*args, **kwargs)
    finally:
        sys.setprofile(previous)
    return value, calls
