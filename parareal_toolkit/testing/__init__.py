r"""Tools for property-testing parareal: hypothesis strategies and random network configurations.

The toolkit's own tests prove its claims with these; they are public so that you can
property-test your own propagators and networks. Each submodule imports only what it needs:

:mod:`parareal_toolkit.testing.ode`
    Strategies for linear ODEs ``u' = A u`` (numpy; **does not import torch**): random
    stable matrices (symmetric or non-normal), uniform and non-uniform time grids,
    ``(LinearODE, TimeGrid, u0)`` problems. Needs ``hypothesis``.
:mod:`parareal_toolkit.testing.nn`
    Strategies for parareal networks: splits, bias-free linear networks, preprocessings,
    configuration specs and built configurations. Needs ``hypothesis`` and torch.
:mod:`parareal_toolkit.testing.configurations`
    :class:`~parareal_toolkit.testing.configurations.ConfigurationSpec`: plain data that
    builds a sequential network and its parareal network from the same modules, and the
    fixture modules it uses (``Offset``, ``RandomMap``, ...). Needs torch only.
:mod:`parareal_toolkit.testing.proposition1`
    :func:`~parareal_toolkit.testing.proposition1.verify_proposition1`, what
    ``parareal verify`` runs: Proposition 1 measured on random configurations, with the
    cases where it must fail. Needs torch only.

Example, Proposition 1 as a property test::

    from hypothesis import given
    from parareal_toolkit.testing.nn import parareal_configurations

    @given(parareal_configurations(blocks="linear", coarse="exact"))
    def test_proposition_1(config):
        absolute, relative = config.gap()   # max |f~(x) - f(x)| and that / max |f(x)|
        assert relative <= 1e-10
"""

__all__: list[str] = []
