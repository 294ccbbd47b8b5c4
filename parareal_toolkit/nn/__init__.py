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
or ``form="standard"``. Details and the BatchNorm convention: ``parareal_toolkit.nn.network``.
Property tests of it with your own networks: :mod:`parareal_toolkit.testing.nn`.

CIFAR models: :func:`preact_resnet` / :func:`resnet1001` (pre-activation bottleneck ResNets,
10,327,706 parameters at depth 1001) and :func:`parareal_resnet` (Parareal ResNet-N built on
:class:`PararealNetwork`). :class:`LayerParallelResNet` is the plain ResNet with each stage's
equal-shape units solved across layers by :func:`parareal_toolkit.mgrit`, forward and (adjoint)
backward: the serial network's output and gradients to rounding at convergence.
"""

from .conversion import balanced_sizes, copy_preprocess, exact_coarse, first_block_coarse, split_blocks, to_parareal
from .layer_parallel import BACKWARD_MODES, LayerParallelResNet, layer_parallel_step_cost, mgrit_block_work
from .linear import KINDS, linear_layer, linear_network
from .network import PararealNetwork
from .parareal_resnets import (
    PararealResNet,
    PararealResNetPlan,
    parareal_resnet,
    parareal_resnet_from,
    parareal_resnet_plan,
    parareal_resnet_table,
    unit_multiply_adds,
)
from .propagators import ModulePropagator
from .resnet import PreActBottleneck, PreActResNet, UnitSpec, preact_resnet, resnet1001, resnet_unit_specs
from .splits import balanced_partition, virtual_time_partition

__all__ = [
    "layer_parallel_step_cost",
    "mgrit_block_work",
    "ModulePropagator",
    "PararealNetwork",
    "to_parareal",
    "balanced_sizes",
    "split_blocks",
    "exact_coarse",
    "first_block_coarse",
    "copy_preprocess",
    "KINDS",
    "linear_layer",
    "linear_network",
    "PreActBottleneck",
    "PreActResNet",
    "UnitSpec",
    "preact_resnet",
    "resnet1001",
    "resnet_unit_specs",
    "LayerParallelResNet",
    "BACKWARD_MODES",
    "PararealResNet",
    "PararealResNetPlan",
    "parareal_resnet",
    "parareal_resnet_from",
    "parareal_resnet_plan",
    "parareal_resnet_table",
    "unit_multiply_adds",
    "balanced_partition",
    "virtual_time_partition",
]
