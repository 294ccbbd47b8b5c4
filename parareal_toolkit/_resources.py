"""What this machine has to give, and how its sizes are written: one home for both.

:func:`available_memory` is the memory a new allocation can get on this host
(``MemAvailable`` from ``/proc/meminfo``, else the free physical pages), the figure the
up-front estimates compare with before a run that could not fit starts. :func:`format_bytes`
writes a byte count with binary prefixes and three significant digits.
"""

from __future__ import annotations

import os

__all__ = ["available_memory", "format_bytes", "require_memory"]


def available_memory() -> int | None:
    """Bytes of host memory available to a new allocation, or ``None`` where the system does not say.

    Returns
    -------
    int or None
        ``MemAvailable`` (Linux), else free physical pages times the page size.

    Examples
    --------
    >>> m = available_memory()
    >>> m is None or m > 0
    True
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(count: float) -> str:
    """``count`` bytes as ``"512 B"``, ``"3.4 GiB"``, ``"1000 KiB"``, ``"7.2 TiB"`` (up to EiB).

    Bytes and values from 100 up are whole; smaller values get three significant digits.

    Returns
    -------
    str
        The size with its unit.

    Examples
    --------
    >>> format_bytes(512), format_bytes(3.4 * 1024**3), format_bytes(1000 * 1024)
    ('512 B', '3.4 GiB', '1000 KiB')
    """
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024 or unit == "EiB":
            # three significant digits, without the exponent .3g gives from 1000 to 1023
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.3g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def require_memory(nbytes: float, what: str) -> None:
    """Refuse, before allocating, what cannot fit in the memory available now.

    Raises ``MemoryError`` naming ``what``, the bytes it needs and the bytes available (the
    command line prints it as one line, exit status 2). Where the system does not say what
    is available, only requests beyond ``2**62`` bytes (no machine has them) are refused.

    Parameters
    ----------
    nbytes : float
        The bytes ``what`` needs (a lower bound: the arrays it must hold at once).
    what : str
        What is being built, with the size that drives it (``"heat_1d(m=10**6), dense"``).

    Returns
    -------
    None

    Examples
    --------
    >>> require_memory(1024, "a small array")
    >>> try:
    ...     require_memory(1e30, "heat_1d(m=10**15), dense")
    ... except MemoryError as exc:
    ...     print(str(exc).split(",")[0])
    heat_1d(m=10**15)
    """
    available = available_memory()
    limit = float(available) if available is not None else 2.0**62
    if nbytes > limit:
        have = f"the {format_bytes(available)} available" if available is not None else "any machine's memory"
        raise MemoryError(f"{what} needs {format_bytes(nbytes)}, more than {have}; use a smaller size.")
