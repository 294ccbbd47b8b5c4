r"""Parareal neural networks: neural blocks as propagators of the one parareal driver.

A feed-forward network is a time-stepping scheme whose slices are blocks of layers.
:class:`ModulePropagator` makes a list of modules a propagator, and
:class:`PararealNetwork` computes the seed paper's parareal network (Lee, Park & Lee) by
calling :func:`parareal_toolkit.parareal`, the same driver the ODE propagators use.

**Proposition 1.** Let ``f = h ∘ g^N ∘ ... ∘ g^1 ∘ C`` and ``f~`` its parareal network with
preprocessing ``C^1 = C, C^2, ..., C^N`` and coarse networks ``F^j``. If ``F^j = g^{j+1}``
(``j = 1..N-1``) and ``g^2..g^N`` are linear (bias-free dense / convolution layers), then
``f~(x) = f(x)`` for every ``x`` and every ``C^2..C^N`` (exactly, up to roundoff), and so are
the gradients. It fails with biases (counted twice), with nonlinear subnetworks, and with
coarse networks with ``F(0) != 0`` (BatchNorm in evaluation mode), even for perfect guesses.
With ``iterations = N`` the output equals ``f`` for any subnetworks if every ``F^j(0) = 0``
or ``form="standard"``. Details and the BatchNorm convention: :mod:`parareal_toolkit.nn.network`.

CIFAR models: :func:`preact_resnet` / :func:`resnet1001` (pre-activation bottleneck ResNets,
10,327,706 parameters at depth 1001) and :func:`parareal_resnet` (Parareal ResNet-N built on
:class:`PararealNetwork`).

Names are imported lazily (PEP 562): ``import parareal_toolkit.nn`` and the ``parareal``
command's parser do not import torch; the first use of a name does.
"""

import importlib
from typing import TYPE_CHECKING

# public name -> private module defining it; imported on first access so that importing
# this subpackage (as the `parareal` command's parser does) does not import torch.
_EXPORTS = {
    "ModulePropagator": ".propagators",
    "PararealNetwork": ".network",
    "to_parareal": ".conversion",
    "balanced_sizes": ".conversion",
    "split_blocks": ".conversion",
    "exact_coarse": ".conversion",
    "first_block_coarse": ".conversion",
    "copy_preprocess": ".conversion",
    "KINDS": ".linear",
    "linear_layer": ".linear",
    "linear_network": ".linear",
    "randomize_": ".linear",
    "random_input": ".linear",
    "state_shape": ".linear",
    "BLOCKS": ".configurations",
    "PREPROCESSINGS": ".configurations",
    "COARSE": ".configurations",
    "ConfigurationSpec": ".configurations",
    "PararealConfiguration": ".configurations",
    "Residual": ".configurations",
    "Offset": ".configurations",
    "RandomMap": ".configurations",
    "random_block": ".configurations",
    "verify_proposition1": ".verify",
    "CASES": ".verify",
    "PreActBottleneck": ".resnet",
    "PreActResNet": ".resnet",
    "UnitSpec": ".resnet",
    "preact_resnet": ".resnet",
    "resnet1001": ".resnet",
    "resnet_unit_specs": ".resnet",
    "PararealResNetPlan": ".parareal_resnet",
    "parareal_resnet": ".parareal_resnet",
    "parareal_resnet_from": ".parareal_resnet",
    "parareal_resnet_plan": ".parareal_resnet",
    "parareal_resnet_table": ".parareal_resnet",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    imported = importlib.import_module(module, __name__)
    # Importing a submodule binds it as an attribute of this package, shadowing a function
    # of the same name (parareal_resnet): rebind every name that submodule exports.
    for exported, source in _EXPORTS.items():
        if source == module:
            globals()[exported] = getattr(imported, exported)
    return globals()[name]


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static analysers see the eager imports
    from .propagators import ModulePropagator
    from .network import PararealNetwork
    from .conversion import to_parareal, balanced_sizes, split_blocks, exact_coarse, first_block_coarse, copy_preprocess
    from .linear import KINDS, linear_layer, linear_network, randomize_, random_input, state_shape
    from .configurations import BLOCKS, PREPROCESSINGS, COARSE, ConfigurationSpec, PararealConfiguration, Residual, Offset, RandomMap, random_block
    from .verify import verify_proposition1, CASES
    from .resnet import PreActBottleneck, PreActResNet, UnitSpec, preact_resnet, resnet1001, resnet_unit_specs
    from .parareal_resnet import (
        PararealResNetPlan, parareal_resnet, parareal_resnet_from, parareal_resnet_plan, parareal_resnet_table,
    )
