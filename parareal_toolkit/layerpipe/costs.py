"""Per-layer cost profiles: forward F, activation gradient A, weight gradient G, update U.

Counted costs are exact multiply-accumulate (MAC) counts of the real layer shapes, for one
sample (batch 1):

* ``Conv2d``: F = A = G = (output elements) x (in_channels / groups) x kh x kw. The
  activation gradient is the transposed convolution (same MACs), the weight gradient the
  correlation of input and output gradient (same MACs).
* ``Linear``: F = A = G = in_features x out_features (per sample and position).
* The first weighted layer has A = 0: nobody needs the gradient with respect to the input
  image (``first_layer_activation_gradient=False``, the default).
* Parameter-free layers (ReLU, pooling, BatchNorm, dropout, flatten) are merged into the
  preceding weighted layer; their cost is ``elementwise_cost`` per output element added to
  that layer's F and A (BatchNorm's affine parameters add the same to G).
* The optimiser update U costs ``update_cost`` per weight (SGD: one multiply-add).

Sizes (``activation_size``, ``input_size``, ``weight_size``) are element counts: the
volumes of the schedules' dependencies, which the engine divides by a ``bandwidth`` in
elements per cycle.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from .._names import NETWORK_NAMES
from .._validation import check_choice, check_int, check_real, check_real_array
from ..errors import InputError, InputTypeError

__all__ = [
    "LayerCost",
    "StageCost",
    "CostProfile",
    "profile_from_costs",
    "profile_from_sequential",
    "measured_profile",
    "vgg16_profile",
    "resnet_profile",
    "NETWORKS",
    "network_profile",
    "COST_RANGE",
]

# The domain of a nonzero cost. Within it a product of up to three costs (a cost over a
# rate over a period, say) is a normal float, 1e-300 > 2.2e-308, and a sum of up to 1e8 such
# products stays finite, 1e8 x 1e300 < 1.8e308: no cost is subnormal, none overflows a schedule's sums.
COST_RANGE = (1e-100, 1e100)


_COSTS = ("forward", "activation_grad", "weight_grad", "update")


@dataclass(frozen=True)
class LayerCost:
    """Costs of one (weighted) layer for one sample, in MACs or in seconds.

    Every cost is finite and either 0 or within ``COST_RANGE`` (``1e-100`` to ``1e100``),
    where the schedules' products and sums neither underflow to subnormals nor overflow;
    sizes are finite and non-negative. Anything else raises ``InputError`` naming the layer.
    """

    name: str
    forward: float
    activation_grad: float
    weight_grad: float
    update: float = 0.0
    input_size: float = 0.0  # elements of the layer's input a_{l-1}
    activation_size: float = 0.0  # elements of the layer's output a_l (= size of e_l)
    weight_size: float = 0.0  # number of weights

    def __post_init__(self):
        for attr in (
            "forward",
            "activation_grad",
            "weight_grad",
            "update",
            "input_size",
            "activation_size",
            "weight_size",
        ):
            value = check_real(getattr(self, attr), f"{self.name}.{attr}", minimum=0)
            if attr in _COSTS and value != 0 and not COST_RANGE[0] <= value <= COST_RANGE[1]:
                raise InputError(
                    f"`{self.name}.{attr}` must be 0 or between {COST_RANGE[0]:g} and {COST_RANGE[1]:g} (a cost "
                    f"outside that range underflows or overflows the schedules' sums; rescale the costs); got {value!r}."
                )

    @property
    def backward(self) -> float:
        """A + G: the single backward task that PipeDream, GPipe and 1F1B schedule."""
        return self.activation_grad + self.weight_grad

    @property
    def total(self) -> float:
        """F + A + G + U: the layer's work in one training step."""
        return self.forward + self.activation_grad + self.weight_grad + self.update


class StageCost(NamedTuple):
    """Costs of one pipeline stage for one sample: sums over its layers (a plain 5-tuple too)."""

    forward: float
    activation_grad: float
    weight_grad: float
    update: float
    boundary_volume: float  # elements of the stage's output, sent to the next stage


@dataclass(frozen=True)
class CostProfile:
    """An ordered list of layer costs (one training step of one sample)."""

    name: str
    layers: tuple[LayerCost, ...]
    unit: str = "MAC"

    def __post_init__(self):
        if not isinstance(self.layers, tuple) or not all(isinstance(layer, LayerCost) for layer in self.layers):
            raise InputTypeError(f"`layers` must be a tuple of LayerCost; got {self.layers!r}.")
        if len(self.layers) == 0:
            raise InputError(f"`layers` of cost profile {self.name!r} must hold at least one layer; got 0.")

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def total(self) -> float:
        """Work of one training step of one sample: the sum of every layer's F + A + G + U."""
        return sum(layer.total for layer in self.layers)

    def scaled(self, factor: float) -> CostProfile:
        """All costs multiplied by ``factor`` (sizes unchanged): a batch of ``factor`` samples.

        Returns
        -------
        CostProfile
            A new profile with F, A and G scaled; the update cost and sizes unchanged.
        """
        factor = check_real(factor, "factor", minimum=0, strict=True)
        return replace(
            self,
            layers=tuple(
                replace(
                    layer,
                    forward=layer.forward * factor,
                    activation_grad=layer.activation_grad * factor,
                    weight_grad=layer.weight_grad * factor,
                    update=layer.update,
                )
                for layer in self.layers
            ),
        )


def profile_from_costs(
    forward: Sequence[float],
    activation_grad: Sequence[float],
    weight_grad: Sequence[float],
    *,
    update: Sequence[float] | None = None,
    name: str = "custom",
    unit: str = "cycle",
    sizes: Sequence[float] | None = None,
) -> CostProfile:
    """A profile from plain lists of costs (e.g. measured times or hand-set cycle counts).

    ``sizes[l]`` is the element count of layer l's output activation (default 1), which is
    also taken as its input size for layer l+1 and as its weight count.

    Returns
    -------
    CostProfile
        One :class:`LayerCost` per entry of ``forward``, in unit ``unit``.

    Examples
    --------
    >>> from parareal_toolkit.layerpipe import profile_from_costs
    >>> profile = profile_from_costs([2.0, 3.0], [0.0, 3.0], [2.0, 3.0], name="two layers")
    >>> profile.name, len(profile), profile.total
    ('two layers', 2, 13.0)
    """
    forward = _flat_numbers(forward, "forward")
    activation_grad = _flat_numbers(activation_grad, "activation_grad")
    weight_grad = _flat_numbers(weight_grad, "weight_grad")
    update = None if update is None else _flat_numbers(update, "update")
    sizes = None if sizes is None else _flat_numbers(sizes, "sizes")
    n = len(forward)
    if n == 0:
        raise InputError("`forward` must hold one cost per layer, at least one; got none.")
    for arg, seq in (
        ("activation_grad", activation_grad),
        ("weight_grad", weight_grad),
        ("update", update),
        ("sizes", sizes),
    ):
        if seq is not None and len(seq) != n:
            raise InputError(f"`{arg}` must have {n} entries (one per layer, like `forward`); got {len(seq)}.")
    update = [0.0] * n if update is None else list(update)
    sizes = [1.0] * n if sizes is None else list(sizes)
    layers = tuple(
        LayerCost(
            f"layer{l}",
            float(forward[l]),
            float(activation_grad[l]),
            float(weight_grad[l]),
            float(update[l]),
            input_size=float(sizes[l - 1] if l else sizes[0]),
            activation_size=float(sizes[l]),
            weight_size=float(sizes[l]),
        )
        for l in range(n)
    )
    return CostProfile(name, layers, unit)


def _flat_numbers(values, name: str) -> list[float]:
    """``values`` as a list of floats, refusing what is not a flat sequence of real numbers (domains are checked later)."""
    array = check_real_array(values, name, finite=False)
    if array.ndim != 1:
        raise InputError(f"`{name}` must be a flat sequence of numbers, one per layer; got shape {array.shape}.")
    return array.tolist()


_ELEMENTWISE = (
    "ReLU",
    "ReLU6",
    "GELU",
    "SiLU",
    "Tanh",
    "Sigmoid",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "BatchNorm2d",
    "BatchNorm1d",
    "Dropout",
    "Flatten",
    "Identity",
    "LeakyReLU",
)


def _weighted_cost(module, inp_shape, out_shape):
    import torch.nn as nn

    out_numel = math.prod(out_shape[1:])
    if isinstance(module, nn.Conv2d):
        k = (module.in_channels // module.groups) * math.prod(module.kernel_size)
        return out_numel * k, module.weight.numel() + (0 if module.bias is None else module.bias.numel())
    if isinstance(module, nn.Linear):
        positions = math.prod(out_shape[1:-1]) if len(out_shape) > 2 else 1
        return positions * module.in_features * module.out_features, module.weight.numel() + (
            0 if module.bias is None else module.bias.numel()
        )
    return None


def profile_from_sequential(
    model,
    input_shape: Sequence[int],
    *,
    name: str = "sequential",
    elementwise_cost: float = 1.0,
    update_cost: float = 0.0,
    first_layer_activation_gradient: bool = False,
    group_children: bool = False,
) -> CostProfile:
    """Count MACs of an ``nn.Sequential`` layer by layer from the real tensor shapes.

    The model may live on the ``meta`` device (no memory is allocated). ``input_shape``
    excludes the batch dimension. With ``group_children=True`` each direct child (e.g. a
    residual block) is one "layer" whose costs are the sums over its weighted submodules
    (elementwise work included); otherwise leaves are walked in order and parameter-free
    leaves are merged into the preceding weighted one. Unknown parametrised leaves raise
    ``TypeError``.

    Returns
    -------
    CostProfile
        One :class:`LayerCost` per weighted layer (or per child), in MACs per sample.
    """
    import torch
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise InputTypeError(f"`model` must be a torch.nn.Module; got {type(model).__name__}.")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    records: list[tuple[nn.Module, tuple, tuple]] = []
    hooks = []
    for module in model.modules():
        if len(list(module.children())) == 0:
            hooks.append(
                module.register_forward_hook(lambda m, i, o: records.append((m, tuple(i[0].shape), tuple(o.shape))))
            )
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for hook in hooks:
            hook.remove()

    owner: dict[int, int] = {}
    if group_children:
        for index, child in enumerate(model.children()):
            for sub in child.modules():
                owner[id(sub)] = index

    groups: list[dict] = []
    for module, in_shape, out_shape in records:
        weighted = _weighted_cost(module, in_shape, out_shape)
        out_numel = math.prod(out_shape[1:])
        group_key = owner.get(id(module)) if group_children else None
        start_new = (weighted is not None and not group_children) or (
            group_children and (not groups or groups[-1]["key"] != group_key)
        )
        if (
            weighted is None
            and type(module).__name__ not in _ELEMENTWISE
            and any(True for _ in module.parameters(recurse=False))
        ):
            raise InputTypeError(f"cannot count MACs of parametrised layer {type(module).__name__}.")
        if start_new:
            groups.append(
                dict(
                    key=group_key,
                    name=type(module).__name__,
                    F=0.0,
                    A=0.0,
                    G=0.0,
                    W=0.0,
                    input=math.prod(in_shape[1:]),
                    output=out_numel,
                )
            )
        if not groups:  # elementwise work before the first weighted layer
            groups.append(
                dict(
                    key=None,
                    name=type(module).__name__,
                    F=0.0,
                    A=0.0,
                    G=0.0,
                    W=0.0,
                    input=math.prod(in_shape[1:]),
                    output=out_numel,
                )
            )
        group = groups[-1]
        group["output"] = out_numel
        if weighted is not None:
            macs, weights = weighted
            group["F"] += macs
            group["A"] += macs
            group["G"] += macs
            group["W"] += weights
        else:
            n_params = sum(p.numel() for p in module.parameters(recurse=False))
            group["F"] += elementwise_cost * out_numel
            group["A"] += elementwise_cost * out_numel
            group["G"] += elementwise_cost * n_params
            group["W"] += n_params
    layers = []
    for index, group in enumerate(groups):
        a = group["A"]
        if index == 0 and not first_layer_activation_gradient:
            a = 0.0
        layers.append(
            LayerCost(
                f"{index}:{group['name']}",
                group["F"],
                a,
                group["G"],
                update_cost * group["W"],
                input_size=group["input"],
                activation_size=group["output"],
                weight_size=group["W"],
            )
        )
    return CostProfile(name, tuple(layers), "MAC")


def measured_profile(model, example_input, *, repeats: int = 3, name: str = "measured") -> CostProfile:
    """Time F, A and G of each child of an ``nn.Sequential`` (seconds, median of ``repeats``).

    A is ``torch.autograd.grad`` with respect to the child's input only, G with respect to
    its parameters only, both from the same upstream gradient (ones).

    Returns
    -------
    CostProfile
        One :class:`LayerCost` per child, in seconds (unit ``"s"``).
    """
    import time

    import torch

    repeats = check_int(repeats, "repeats", minimum=1)
    if not isinstance(model, torch.nn.Module):
        raise InputTypeError(f"`model` must be an nn.Sequential (an nn.Module); got {type(model).__name__}.")
    if not isinstance(example_input, torch.Tensor):
        raise InputTypeError(f"`example_input` must be a torch.Tensor; got {type(example_input).__name__}.")
    layers = []
    x = example_input
    for index, child in enumerate(model.children()):
        params = [p for p in child.parameters() if p.requires_grad]
        times: dict[str, list[float]] = {"F": [], "A": [], "G": []}
        for _ in range(repeats):
            inp = x.detach().requires_grad_(index > 0)
            t0 = time.perf_counter()
            out = child(inp)
            times["F"].append(time.perf_counter() - t0)
            seed = torch.ones_like(out)
            if index > 0:
                t0 = time.perf_counter()
                torch.autograd.grad(out, inp, seed, retain_graph=True)
                times["A"].append(time.perf_counter() - t0)
            if params:
                t0 = time.perf_counter()
                torch.autograd.grad(out, params, seed, retain_graph=False)
                times["G"].append(time.perf_counter() - t0)
        med = {k: (sorted(v)[len(v) // 2] if v else 0.0) for k, v in times.items()}
        layers.append(
            LayerCost(
                f"{index}:{type(child).__name__}",
                med["F"],
                med["A"],
                med["G"],
                input_size=float(x[0].numel()),
                activation_size=float(out[0].numel()),
                weight_size=float(sum(p.numel() for p in params)),
            )
        )
        x = out.detach()
    return CostProfile(name, tuple(layers), "s")


@functools.lru_cache(maxsize=16)
def vgg16_profile(*, image_size: int = 224, num_classes: int = 1000, **kwargs) -> CostProfile:
    """VGG-16 (Simonyan & Zisserman 2015; torchvision ``vgg16``): 13 conv + 3 FC layers.

    Built on the ``meta`` device, so nothing is allocated; 15.47 GMAC forward per 224x224 image.

    Returns
    -------
    CostProfile
        16 layers, in MACs per sample (``kwargs`` go to :func:`profile_from_sequential`).
    """
    import torch
    import torchvision

    image_size, num_classes = _image_and_classes(image_size, num_classes)
    with torch.device("meta"):
        model = torchvision.models.vgg16(num_classes=num_classes)
    seq = torch.nn.Sequential(*model.features, model.avgpool, torch.nn.Flatten(), *model.classifier)
    return profile_from_sequential(seq, (3, image_size, image_size), name="vgg16", **kwargs)


@functools.lru_cache(maxsize=16)
def resnet_profile(depth: int = 18, *, image_size: int = 224, num_classes: int = 1000, **kwargs) -> CostProfile:
    """A torchvision ResNet (He et al. 2016) with one "layer" per residual block.

    The stem (conv-bn-relu-maxpool) is one layer, each BasicBlock/Bottleneck one layer and the
    head (avgpool + fc) one layer: ResNet-18 has 10, ResNet-50 18.

    Returns
    -------
    CostProfile
        One layer per block, in MACs per sample (``kwargs`` go to
        :func:`profile_from_sequential`).
    """
    import torch
    import torchvision

    builders = {
        18: torchvision.models.resnet18,
        34: torchvision.models.resnet34,
        50: torchvision.models.resnet50,
        101: torchvision.models.resnet101,
    }
    if isinstance(depth, bool) or depth not in builders:
        raise InputError(f"`depth` must be one of {sorted(builders)}; got {depth!r}.")
    image_size, num_classes = _image_and_classes(image_size, num_classes)
    with torch.device("meta"):
        model = builders[depth](num_classes=num_classes)

    class _Block(torch.nn.Module):  # residual block as written by torchvision, kept whole
        def __init__(self, *mods):
            super().__init__()
            self.mods = torch.nn.Sequential(*mods)

        def forward(self, x):
            return self.mods(x)

    blocks = [_Block(model.conv1, model.bn1, model.relu, model.maxpool)]
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        blocks.extend(stage)
    blocks.append(_Block(model.avgpool, torch.nn.Flatten(), model.fc))
    seq = torch.nn.Sequential(*blocks).eval()  # batch norm of one sample at 1 x 1 (image_size 32)
    return profile_from_sequential(
        seq, (3, image_size, image_size), name=f"resnet{depth}", group_children=True, **kwargs
    )


NETWORKS = NETWORK_NAMES

# an image side below 32 leaves VGG-16's five poolings (ResNet's five halvings) nothing to
# pool; one above 2**16 holds more than 2**32 pixels per channel, where the shapes overflow
_IMAGE_SIZES = (32, 2**16)


def _image_and_classes(image_size: int, num_classes: int) -> tuple[int, int]:
    """``image_size`` and ``num_classes`` checked for the networks of :data:`NETWORKS`."""
    image_size = check_int(image_size, "image_size", minimum=_IMAGE_SIZES[0], maximum=_IMAGE_SIZES[1])
    return image_size, check_int(num_classes, "num_classes", minimum=1, maximum=2**31 - 1)


def network_profile(name: str, **kwargs) -> CostProfile:
    """The profile of a named network: one of :data:`NETWORKS`.

    Returns
    -------
    CostProfile
        :func:`vgg16_profile` or :func:`resnet_profile` of that depth.
    """
    name = check_choice(name, "network", NETWORKS)
    if name == "vgg16":
        return vgg16_profile(**kwargs)
    return resnet_profile(int(name[len("resnet") :]), **kwargs)
