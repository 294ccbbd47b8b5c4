r"""Tools for property-testing parareal: hypothesis strategies.

The toolkit's own tests prove its claims with these; they are public so that you can
property-test your own propagators and networks. Each submodule imports only what it needs:

:mod:`parareal_toolkit.testing.ode`
    Strategies for linear ODEs ``u' = A u`` (numpy; **does not import torch**): random
    stable matrices (symmetric or non-normal), uniform and non-uniform time grids,
    ``(LinearODE, TimeGrid, u0)`` problems. Needs ``hypothesis``.
:mod:`parareal_toolkit.testing.nn`
    Strategies for parareal networks: splits, bias-free linear networks, preprocessings,
    configuration specs and built configurations. Needs ``hypothesis`` and torch.
:mod:`parareal_toolkit.testing.configurations`, :mod:`parareal_toolkit.testing.proposition1`
    The random network configurations and the Proposition 1 check that ``parareal verify``
    runs, importable here as before; they live in :mod:`parareal_toolkit.verification`
    (torch only, no hypothesis).

Example, Proposition 1 as a property test::

    from hypothesis import given
    from parareal_toolkit.testing.nn import parareal_configurations

    @given(parareal_configurations(blocks="linear", coarse="exact"))
    def test_proposition_1(config):
        absolute, relative = config.gap()   # max |f~(x) - f(x)| and that / max |f(x)|
        assert relative <= 1e-10
"""

__all__: list[str] = []
