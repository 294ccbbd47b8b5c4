"""What ``parareal verify`` runs: Proposition 1 checked on random network configurations.

Runtime code (torch, no hypothesis), used by the ``parareal verify`` command and by the
hypothesis strategies of :mod:`parareal_toolkit.testing.nn`:

:mod:`parareal_toolkit.verification.configurations`
    :class:`~parareal_toolkit.verification.configurations.ConfigurationSpec`: plain data that
    builds a sequential network and its parareal network from the same modules, and the
    fixture modules it uses (``Offset``, ``RandomMap``, ...).
:mod:`parareal_toolkit.verification.proposition1`
    :func:`~parareal_toolkit.verification.proposition1.verify_proposition1`: Proposition 1
    measured on random configurations, with the cases where it must fail.

Both stay importable from their first home, ``parareal_toolkit.testing.configurations``
and ``parareal_toolkit.testing.proposition1``.
"""

__all__: list[str] = []
