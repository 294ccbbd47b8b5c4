"""Parareal ResNet-N (Lee, Park, Lee; seed paper §4) built: a pre-activation ResNet torn into N
parallel subnetworks linked by small coarse networks, on :class:`PararealNetwork`.

Where every unit goes is a :class:`PararealResNetPlan` (torch-free, ``parareal_toolkit.plans``:
the split, the coarse networks' units, the cost model and the ``parareal models`` table,
re-exported here); this module builds the modules of a plan.

With ``N = 1`` the network is the ResNet itself: :func:`parareal_resnet_from` with one
subnetwork reproduces :class:`~parareal_toolkit.nn.resnet.PreActResNet` output for output
(tested), and for any N the composition ``g^N ∘ ... ∘ g^1`` is the ResNet's trunk.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from .._names import SPLIT_NAMES
from ..errors import InputTypeError
from ..plans.coarse import SEED_COARSE_BUDGET
from ..plans.costs import UnitCosts
from ..plans.plan import PararealResNetPlan, parareal_resnet_plan, unit_count_bound
from ..plans.table import parareal_resnet_table
from ..plans.units import stage_unit_specs, unit_multiply_adds, unit_parameters
from .bottleneck import NormLayer
from .network import PararealNetwork
from .resnet import PreActResNet, init_weights, preact_resnet

__all__ = [
    "PararealResNet",
    "PararealResNetPlan",
    "parareal_resnet_plan",
    "parareal_resnet",
    "parareal_resnet_from",
    "parareal_resnet_table",
    "unit_parameters",
    "stage_unit_specs",
    "SEED_COARSE_BUDGET",
    "unit_count_bound",
    "unit_multiply_adds",
    "SPLIT_NAMES",
]


def _preprocessing(channels: int, resolution: int, image_size: int = 32) -> nn.Conv2d:
    stride = image_size // resolution
    return nn.Conv2d(3, channels, 1, stride=stride, bias=False)


class PararealResNet(PararealNetwork):
    """A Parareal ResNet-N: a :class:`PararealNetwork` that keeps the plan it was built from.

    The forward pass is :class:`PararealNetwork`'s; ``plan`` holds the split (units per
    subnetwork and per coarse network, interface shapes) and its unit-count bounds, which the
    Table 2 harness reads instead of re-deriving them from the modules.
    """

    plan: PararealResNetPlan

    def __init__(
        self,
        plan: PararealResNetPlan,
        preprocess: Iterable[nn.Module],
        subnetworks: Iterable[nn.Module],
        coarse: Iterable[nn.Module],
        postprocess: nn.Module,
        *,
        iterations: int = 1,
        form: str = "correction",
    ):
        super().__init__(preprocess, subnetworks, coarse, postprocess, iterations=iterations, form=form)
        if not isinstance(plan, PararealResNetPlan):
            raise InputTypeError(f"`plan` must be a PararealResNetPlan; got {type(plan).__name__}.")
        self.plan = plan


def parareal_resnet_from(
    resnet: PreActResNet,
    *,
    num_subnetworks: int,
    coarse_units: int | None = None,
    split: str = "units",
    unit_costs: UnitCosts | None = None,
    objective: str = "largest",
    iterations: int = 1,
    form: str = "correction",
    norm_layer: NormLayer | None = None,
):
    """A parareal network that *shares* ``resnet``'s stem, units and head (not copies).

    New modules: ``C^j`` for j > 1 and the coarse networks, freshly initialised. With
    ``num_subnetworks=1`` the result computes exactly ``resnet(x)``.

    Parameters
    ----------
    resnet : PreActResNet
        The network to cut; its modules become the parareal network's (training one trains
        the other).
    num_subnetworks, coarse_units, split, unit_costs, objective : keyword-only
        As in :func:`parareal_resnet_plan`.
    iterations, form : keyword-only
        As in :class:`~parareal_toolkit.nn.PararealNetwork`.
    norm_layer : callable, keyword-only, optional
        Normalisation of the coarse networks' units (default ``nn.BatchNorm2d``).

    Returns
    -------
    PararealNetwork
        The Parareal ResNet-``N``; its ``plan`` attribute is the :class:`PararealResNetPlan`.

    Examples
    --------
    >>> import torch
    >>> from parareal_toolkit.nn import parareal_resnet_from, preact_resnet
    >>> resnet = preact_resnet(20).double().eval()
    >>> network = parareal_resnet_from(resnet, num_subnetworks=1)
    >>> x = torch.randn(1, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> torch.equal(network(x), resnet(x))
    True
    """
    if not isinstance(resnet, PreActResNet):
        raise InputTypeError(f"`resnet` must be a PreActResNet; got {type(resnet).__name__}.")
    plan = parareal_resnet_plan(
        resnet.depth,
        num_subnetworks=num_subnetworks,
        coarse_units=coarse_units,
        split=split,
        unit_costs=unit_costs,
        objective=objective,
    )
    trunk = resnet.units
    preprocess = [resnet.stem] + [_preprocessing(c, r) for c, r in plan.input_shapes[1:]]
    subnetworks = [nn.Sequential(*trunk[r.start : r.stop]) for r in plan.ranges]
    coarse = [nn.Sequential(*(s.build(norm_layer) for s in specs)) for specs in plan.coarse]
    for module in preprocess[1:] + coarse:
        init_weights(module)
    return PararealResNet(plan, preprocess, subnetworks, coarse, resnet.head, iterations=iterations, form=form)


def parareal_resnet(
    depth: int = 1001,
    *,
    num_subnetworks: int,
    coarse_units: int | None = None,
    num_classes: int = 10,
    split: str = "units",
    unit_costs: UnitCosts | None = None,
    objective: str = "largest",
    iterations: int = 1,
    form: str = "correction",
    norm_layer: NormLayer | None = None,
):
    """Parareal ResNet-``N`` of a pre-activation ResNet-``depth`` (seed paper, §4).

    Lee, Park, Lee, "Parareal neural networks emulating a parallel-in-time algorithm".
    With ``num_subnetworks=1`` the network computes its ResNet exactly (bit for bit).

    Parameters
    ----------
    depth : int
        ``9n + 2`` (default 1001).
    num_subnetworks : int, keyword-only
        ``N``; it must leave the last subnetwork at least one unit.
    coarse_units : int, keyword-only, optional
        Units per coarse network; default the seed paper's ``ceil(12 / N)``.
    num_classes : int, keyword-only
        Outputs of the classifier (default 10).
    split, unit_costs, objective : keyword-only
        As in :func:`parareal_resnet_plan` (default: the seed's unit-count split).
    iterations, form : keyword-only
        As in :class:`~parareal_toolkit.nn.PararealNetwork`.
    norm_layer : callable, keyword-only, optional
        ``norm_layer(channels) -> nn.Module`` (default ``nn.BatchNorm2d``).

    Returns
    -------
    PararealNetwork
        A new network (ResNet and coarse networks freshly initialised) whose ``plan``
        attribute is the :class:`PararealResNetPlan`.

    Examples
    --------
    Parareal ResNet-3 of ResNet-20 (6 units, 2 per subnetwork, ``ceil(12/3) = 4`` units per
    coarse network), and ResNet-20 itself for ``N = 1``:

    >>> import torch
    >>> from parareal_toolkit.nn import parareal_resnet
    >>> x = torch.randn(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> network = parareal_resnet(20, num_subnetworks=3).double().eval()
    >>> network(x).shape, network.plan.units_per_subnetwork, network.plan.coarse_units
    (torch.Size([2, 10]), [2, 2, 2], 4)
    >>> single = parareal_resnet(20, num_subnetworks=1).double().eval()
    >>> torch.equal(single(x), single.to_sequential()(x))
    True
    """
    resnet = preact_resnet(depth, num_classes, norm_layer=norm_layer)
    return parareal_resnet_from(
        resnet,
        num_subnetworks=num_subnetworks,
        coarse_units=coarse_units,
        split=split,
        unit_costs=unit_costs,
        objective=objective,
        iterations=iterations,
        form=form,
        norm_layer=norm_layer,
    )
