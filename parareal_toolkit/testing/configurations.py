"""Random parareal-network configurations, importable here as before.

They live in :mod:`parareal_toolkit.verification.configurations`, beside the
``parareal verify`` code that runs them; these are the same objects.
"""

from ..verification.configurations import (
    BLOCKS,
    COARSE,
    PREPROCESSINGS,
    ConfigurationSpec,
    Offset,
    PararealConfiguration,
    RandomMap,
    Residual,
    random_block,
)

__all__ = [
    "BLOCKS",
    "PREPROCESSINGS",
    "COARSE",
    "ConfigurationSpec",
    "PararealConfiguration",
    "Residual",
    "Offset",
    "RandomMap",
    "random_block",
]
